"""The kernel image QEMU loads. A bzImage makes the guest decompress itself,
which takes seconds under emulation; when the kernel has a PVH entry point its
uncompressed ELF (extracted once and cached) boots directly instead."""
import hashlib
import lzma
import os
import struct
import subprocess
import tempfile
import zlib

XEN_ELFNOTE_PHYS32_ENTRY = 18


def _decompressors(data):
    """(offset, decompress) candidates for the payload inside a bzImage."""
    for magic, fn in ((b"\xfd7zXZ\x00", lambda b: lzma.LZMADecompressor().decompress(b)),
                      (b"\x1f\x8b\x08", lambda b: zlib.decompressobj(31).decompress(b)),
                      (b"\x28\xb5\x2f\xfd", _unzstd)):
        pos = data.find(magic)
        while pos >= 0:
            yield pos, fn
            pos = data.find(magic, pos + 1)


def _unzstd(blob):
    res = subprocess.run(["zstd", "-dcq"], input=blob, capture_output=True)
    return res.stdout


def _has_pvh_note(elf):
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        return False
    phoff, = struct.unpack_from("<Q", elf, 32)
    phentsize, phnum = struct.unpack_from("<HH", elf, 54)
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", elf, phoff + i * phentsize)
        if p_type != 4:  # PT_NOTE
            continue
        pos, end = p_offset, p_offset + p_filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", elf, pos)
            name = elf[pos + 12:pos + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and ntype == XEN_ELFNOTE_PHYS32_ENTRY:
                return True
            pos += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3)
    return False


def get(release, image, cache_dir):
    """Path of the image to boot: a cached uncompressed vmlinux if possible."""
    if os.environ.get("BSNAP_VM_PVH") == "0":
        return image
    st = os.stat(image)
    key = hashlib.sha256(f"{image}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()
    rel_dir = os.path.join(cache_dir, release)
    vmlinux, key_file = os.path.join(rel_dir, "vmlinux"), os.path.join(rel_dir, "vmlinux.key")
    try:
        with open(key_file) as f:
            cached = f.read().strip()
        if cached == key and os.path.isfile(vmlinux):
            return vmlinux
        if cached == "none " + key:
            return image
    except FileNotFoundError:
        pass
    with open(image, "rb") as f:
        data = f.read()
    elf = None
    for pos, fn in _decompressors(data):
        try:
            out = fn(data[pos:])
        except (lzma.LZMAError, zlib.error, OSError, EOFError):
            continue
        if out[:4] == b"\x7fELF" and _has_pvh_note(out):
            elf = out
            break
    os.makedirs(rel_dir, exist_ok=True)
    if elf:
        fd, tmp = tempfile.mkstemp(dir=rel_dir)
        with os.fdopen(fd, "wb") as f:
            f.write(elf)
        os.chmod(tmp, 0o644)
        os.replace(tmp, vmlinux)
    fd, tmp = tempfile.mkstemp(dir=rel_dir)
    with os.fdopen(fd, "w") as f:
        f.write(("" if elf else "none ") + key + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, key_file)
    return vmlinux if elf else image
