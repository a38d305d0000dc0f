"""Which kernel to boot, and which of its modules the initramfs needs."""
import glob
import os
import re
import subprocess

from . import HarnessError

# What the initramfs must load before it can mount the host root over 9p and
# see the test disks. Their dependencies come from modinfo, never a fixed list.
INITRAMFS_MODULES = ["virtio_pci", "virtio_blk", "9pnet_virtio", "9p"]
# With --root-image the initramfs also mounts the guest's ext4 root; ext4
# asks for crc32c through the crypto API, and there is no modprobe in the
# initramfs to load it (optional: newer kernels have no such module).
ROOT_IMAGE_MODULES = ["ext4"]
ROOT_IMAGE_OPTIONAL = ["crc32c_generic"]


def _version_key(release):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", release)]


def installed_kernels(root="/"):
    """Releases with both <root>/boot/vmlinuz-<rel> and <root>/lib/modules/<rel>."""
    rels = []
    prefix = os.path.join(root, "boot", "vmlinuz-")
    for path in glob.glob(prefix + "*"):
        rel = path[len(prefix):]
        if os.path.isdir(os.path.join(root, "lib", "modules", rel)):
            rels.append(rel)
    return sorted(rels, key=_version_key)


def find_kernel(release=None, root="/"):
    """Return (release, path of the kernel image). root: where the kernel is
    installed, / or a directory a kernel package was unpacked into."""
    if release is None:
        rels = installed_kernels(root)
        if not rels:
            raise HarnessError(
                f"no kernel to boot: need {root.rstrip('/')}/boot/vmlinuz-<rel> and "
                f"{root.rstrip('/')}/lib/modules/<rel> (apt-get install linux-image-amd64, "
                "or scripts/install-deps.sh)")
        release = rels[-1]
    image = os.path.join(root, "boot", f"vmlinuz-{release}")
    modules = os.path.join(root, "lib", "modules", release)
    if not os.path.isfile(image):
        raise HarnessError(f"kernel {release}: {image} does not exist")
    if not os.access(image, os.R_OK):
        raise HarnessError(f"kernel {release}: {image} is not readable")
    if not os.path.isdir(modules):
        raise HarnessError(f"kernel {release}: {modules} does not exist")
    if not os.path.isfile(os.path.join(modules, "modules.dep")):
        raise HarnessError(f"kernel {release}: no {modules}/modules.dep "
                           f"(run depmod -b {root} {release})")
    return release, image


def _modinfo(release, field, module, root="/"):
    args = ["modinfo", "-k", release] + (["-b", root] if root != "/" else [])
    args += ["-n"] if field == "filename" else ["-F", field]
    try:
        res = subprocess.run(args + [module], capture_output=True, text=True)
    except FileNotFoundError:
        raise HarnessError("modinfo not found (apt-get install kmod)")
    if res.returncode != 0:
        raise HarnessError(f"modinfo {module} for {release}: {res.stderr.strip()}")
    return res.stdout.strip()


def module_load_order(release, root="/", wanted=INITRAMFS_MODULES, optional=()):
    """[(name, file)] for the wanted modules and their dependencies, each after
    what it depends on; built-in ones are left out, and so are the optional
    ones this kernel does not have at all."""
    order, seen = [], set()

    def visit(name, chain):
        name = name.replace("-", "_")
        if name in seen:
            return
        if name in chain:
            raise HarnessError(f"module dependency loop: {' -> '.join(chain + [name])}")
        filename = _modinfo(release, "filename", name, root)
        if filename and not filename.startswith("(builtin)"):
            for dep in filter(None, _modinfo(release, "depends", name, root).split(",")):
                visit(dep, chain + [name])
            order.append((name, filename))
        seen.add(name)

    for name in wanted:
        visit(name, [])
    for name in optional:
        try:
            visit(name, [])
        except HarnessError:
            if _modinfo_exists(release, name, root):
                raise
    return order


def _modinfo_exists(release, module, root="/"):
    args = ["modinfo", "-k", release] + (["-b", root] if root != "/" else [])
    return subprocess.run(args + ["-n", module], capture_output=True).returncode == 0


def module_vermagic_release(ko):
    """The kernel release a .ko was built for."""
    try:
        res = subprocess.run(["modinfo", "-F", "vermagic", ko], capture_output=True, text=True)
    except FileNotFoundError:
        raise HarnessError("modinfo not found (apt-get install kmod)")
    if res.returncode != 0 or not res.stdout.strip():
        raise HarnessError(f"{ko} is not a kernel module: {res.stderr.strip()}")
    return res.stdout.split()[0]
