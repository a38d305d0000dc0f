"""QEMU invocation: the machine, its shares and disks, KVM detection."""
import ctypes
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from . import HarnessError

QEMU = "qemu-system-x86_64"
KVM_PROBE_TIMEOUT = 20


def find_qemu():
    path = shutil.which(QEMU)
    if not path:
        raise HarnessError(f"{QEMU} not found (apt-get install qemu-system-x86)")
    return path


def image_format(path):
    """'qcow2' or 'raw', from the file's first bytes (QEMU must be told)."""
    with open(path, "rb") as f:
        return "qcow2" if f.read(4) == b"QFI\xfb" else "raw"


def command(qemu, kernel, initrd, accel, smp, mem, console_log, share=None,
            disks=(), append="", discard="ignore", root_image=None, root_cmdline=None):
    """root_cmdline: with root_image, what the kernel command line says about
    the root instead of bsnapvm.root (booting the image's own initramfs)."""
    cmd = [qemu, "-nodefaults", "-no-user-config", "-display", "none",
           "-no-reboot", "-machine", "q35", "-m", str(mem), "-smp", str(smp),
           "-kernel", kernel, "-initrd", initrd,
           "-serial", f"file:{console_log}", "-monitor", "none"]
    if accel.startswith("kvm"):
        cmd += ["-accel", "kvm", "-cpu", accel.partition(":")[2] or "host"]
    else:
        cmd += ["-accel", "tcg,thread=multi", "-cpu", os.environ.get("BSNAP_VM_CPU", "max")]
    cmd += ["-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,"
            "readonly=on,multidevs=remap"]
    if share:
        cmd += ["-virtfs", f"local,path={share},mount_tag=results,security_model=none"]
    for i, disk in enumerate(disks):
        cmd += ["-drive", f"file={disk},if=none,id=disk{i},format=raw,cache=unsafe,"
                f"discard={discard}",
                "-device", f"virtio-blk-pci,drive=disk{i},serial=bsnap-disk{i}"]
    if root_image:
        # After the test disks, so that they keep their names (vda, ...);
        # guest/init finds it by its serial.
        cmd += ["-drive", f"file={root_image},if=none,id=root,format={image_format(root_image)},"
                "cache=unsafe,discard=unmap",
                "-device", "virtio-blk-pci,drive=root,serial=bsnap-root"]
        append = ((root_cmdline or "bsnapvm.root=bsnap-root") + " " + append).strip()
    cmd += ["-append", "console=ttyS0 panic=-1 loglevel=5 " + append]
    return cmd


def _die_with_parent():
    """In the child: QEMU gets SIGKILL when bsnap-vm dies, however it dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run(cmd, deadline, log_path, poll=None, wedged=None):
    """Run QEMU until it exits or the monotonic deadline passes; then kill it.
    QEMU's own output goes to log_path; poll() is called a few times a second,
    and so is wedged(), which returns a reason to kill QEMU at once (a kernel
    that hangs would otherwise hold the run until its deadline).
    Returns (exit status, timed out)."""
    with open(os.devnull, "rb") as devnull, open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=devnull, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=_die_with_parent)
    try:
        while True:
            try:
                proc.wait(timeout=0.25)
                break
            except subprocess.TimeoutExpired:
                pass
            if poll:
                poll()
            if (wedged and wedged()) or time.monotonic() > deadline:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                return proc.returncode, time.monotonic() > deadline
        return proc.returncode, False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if poll:
            poll()


def choose_accel(qemu, kernel, release, initrd, cache_dir, log=print):
    """'kvm:<cpu model>' only if a guest really boots with it here, else 'tcg'.
    The answer is cached per host boot, QEMU and guest kernel.
    BSNAP_VM_ACCEL=tcg|kvm|kvm:<cpu model> overrides."""
    forced = os.environ.get("BSNAP_VM_ACCEL")
    if forced and (forced == "tcg" or forced.startswith("kvm")):
        return forced
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot_id = f.read().strip()
    except OSError:
        boot_id = ""
    st = os.stat(qemu)
    key = f"{boot_id} {os.uname().release} {qemu}:{st.st_size}:{st.st_mtime_ns} {release}"
    cache = os.path.join(cache_dir, "kvm-probe.json")
    try:
        with open(cache) as f:
            known = json.load(f)
    except (OSError, ValueError):
        known = {}
    if key in known:
        return known[key]
    log(f"bsnap-vm: probing whether a guest boots with KVM (up to {KVM_PROBE_TIMEOUT} s, once)")
    accel = "tcg"
    with tempfile.TemporaryDirectory() as tmp:
        for cpu in ("host", "max"):
            console = os.path.join(tmp, f"console-{cpu}.log")
            cmd = command(qemu, kernel, initrd, f"kvm:{cpu}", 1, 256, console,
                          append="bsnapvm.probe")
            run(cmd, time.monotonic() + KVM_PROBE_TIMEOUT, os.path.join(tmp, "qemu.log"))
            with open(console, "a+", errors="replace") as f:
                f.seek(0)
                if "BSNAPVM-PROBE-OK" in f.read():
                    accel = f"kvm:{cpu}"
                    break
    log(f"bsnap-vm: KVM {'works' if accel != 'tcg' else 'does not boot a guest here'}; "
        f"using {accel}")
    known[key] = accel
    fd, tmp = tempfile.mkstemp(dir=cache_dir)
    with os.fdopen(fd, "w") as f:
        json.dump(known, f)
    os.replace(tmp, cache)
    return accel
