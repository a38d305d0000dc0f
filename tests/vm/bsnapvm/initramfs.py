"""Builds the guest's initramfs (static busybox, the virtio and 9p modules and
guest/init) and caches it per kernel release, rebuilt when an input changes."""
import gzip
import hashlib
import json
import lzma
import os
import shutil
import stat
import struct
import subprocess
import tempfile

from . import HarnessError
from .kernel import (INITRAMFS_MODULES, ROOT_IMAGE_MODULES, ROOT_IMAGE_OPTIONAL,
                     module_load_order)

FORMAT = 2  # bump when the layout below changes
INIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "guest", "init")
BUSYBOX_APPLETS = ["sh", "mount", "insmod", "mkdir", "cat", "chmod", "echo",
                   "switch_root", "poweroff", "sleep", "ln"]


def find_busybox():
    for path in ("/bin/busybox", "/usr/bin/busybox", shutil.which("busybox")):
        if path and os.path.isfile(path) and _is_static(path):
            return path
    raise HarnessError("no static busybox found (apt-get install busybox-static)")


def _is_static(path):
    """True if the ELF file has no PT_INTERP program header."""
    with open(path, "rb") as f:
        hdr = f.read(64)
        if hdr[:4] != b"\x7fELF" or hdr[4] != 2:
            return False
        phoff, = struct.unpack_from("<Q", hdr, 32)
        phentsize, phnum = struct.unpack_from("<HH", hdr, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != 3 for i in range(phnum))


def _read_module(path):
    """Module bytes, uncompressed (busybox insmod cannot read .xz/.zst/.gz)."""
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".xz"):
        return lzma.decompress(data)
    if path.endswith(".gz"):
        return gzip.decompress(data)
    if path.endswith(".zst"):
        try:
            return subprocess.run(["zstd", "-dc", path], capture_output=True, check=True).stdout
        except (FileNotFoundError, subprocess.CalledProcessError) as e:
            raise HarnessError(f"cannot decompress {path} (apt-get install zstd): {e}")
    return data


class _Cpio:
    """A minimal writer of the newc cpio format the kernel unpacks."""

    def __init__(self):
        self.out, self.ino = bytearray(), 1

    def _entry(self, name, mode, data=b""):
        name_b = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_b), 0))
        self.ino += 1
        self.out += hdr.encode() + name_b
        self.out += b"\0" * (-len(self.out) % 4) + data
        self.out += b"\0" * (-len(self.out) % 4)

    def dir(self, name):
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name, data, mode=0o644):
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name, target):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return bytes(self.out)


def _inputs(release, root, root_image):
    busybox = find_busybox()
    if root_image:
        modules = module_load_order(release, root, INITRAMFS_MODULES + ROOT_IMAGE_MODULES,
                                    ROOT_IMAGE_OPTIONAL)
    else:
        modules = module_load_order(release, root)
    files = [busybox, INIT] + [path for _, path in modules]
    stamp = []
    for path in files:
        st = os.stat(path)
        stamp.append([path, st.st_size, st.st_mtime_ns])
    key = hashlib.sha256(json.dumps([FORMAT, release, root, root_image, stamp]).encode()).hexdigest()
    return busybox, modules, key


def _build(busybox, modules):
    c = _Cpio()
    for d in ("bin", "dev", "proc", "sys", "modules"):
        c.dir(d)
    with open(busybox, "rb") as f:
        c.file("bin/busybox", f.read(), 0o755)
    for applet in BUSYBOX_APPLETS:
        c.symlink(f"bin/{applet}", "busybox")
    with open(INIT, "rb") as f:
        c.file("init", f.read(), 0o755)
    for name, path in modules:
        c.file(f"modules/{name}.ko", _read_module(path))
    c.file("modules/order", "".join(f"{name}\n" for name, _ in modules).encode())
    return c.finish()


def get(release, cache_dir, root="/", root_image=False):
    """Path of an up-to-date initramfs for the release, building it if needed.
    root_image: for --root-image (it can also mount an ext4 root); cached
    apart from the other so that runs of both kinds never replace each other's."""
    busybox, modules, key = _inputs(release, root, root_image)
    rel_dir = os.path.join(cache_dir, release)
    name = "initrd-rootimage" if root_image else "initrd"
    image, key_file = os.path.join(rel_dir, name + ".cpio"), os.path.join(rel_dir, name + ".key")
    try:
        with open(key_file) as f:
            if f.read().strip() == key and os.path.isfile(image):
                return image
    except FileNotFoundError:
        pass
    os.makedirs(rel_dir, exist_ok=True)
    data = _build(busybox, modules)
    # Write then rename, so that concurrent runs never see half an image.
    for path, content in ((image, data), (key_file, key.encode() + b"\n")):
        fd, tmp = tempfile.mkstemp(dir=rel_dir)
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    return image
