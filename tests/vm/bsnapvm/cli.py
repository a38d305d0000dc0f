"""Command line of bsnap-vm."""
import argparse
import os
import re
import signal
import sys

from . import HarnessError, kernel, plan, qemu, run

REPO = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))


def _size(text):
    m = re.fullmatch(r"(\d+)([KMGT]?)i?B?", text.strip(), re.I)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size '{text}' (e.g. 256M, 2G)")
    return int(m.group(1)) << (10 * " KMGT".index((m.group(2) or " ").upper()))


def parse(argv):
    p = argparse.ArgumentParser(
        prog="bsnap-vm",
        usage="bsnap-vm [options] (--suite DIR | -- CMD ARGS...)",
        description="Boot a Debian kernel under QEMU with the host root shared read-only "
                    "and run guest tests or one command in it.")
    p.add_argument("--kernel", metavar="RELEASE",
                   help="kernel release to boot (default: the newest /boot/vmlinuz-* "
                        "with /lib/modules/<release>)")
    p.add_argument("--kernel-root", metavar="DIR", default="/",
                   help="where the kernel is installed (default /); a directory a kernel "
                        "package was unpacked into (dpkg-deb -x, then depmod -b DIR RELEASE) "
                        "boots too, its modules replacing the guest's /lib/modules")
    p.add_argument("--root-image", metavar="FILE",
                   help="boot FILE (raw or qcow2 ext4 image of a Debian system, e.g. from "
                        "tests/vm/make-debroot) as the guest's root, read-write, with its own "
                        "systemd as PID 1; the tests run as a service. The host root is at "
                        f"{plan.HOSTROOT_VIEW}. Writes persist in FILE: give an overlay. "
                        "--kernel-root then only supplies the kernel and the initramfs modules")
    p.add_argument("--image-initramfs", action="store_true",
                   help="with --root-image: from the second boot on, boot the kernel and the "
                        "initramfs installed in the image (/boot/vmlinuz-RELEASE, "
                        "/boot/initrd.img-RELEASE, copied out by the guest at each clean "
                        "reboot) with root=UUID=... on the command line, so that the image's "
                        "own initramfs mounts its root; the first boot goes through the "
                        "harness's initramfs")
    p.add_argument("--env", metavar="NAME=VALUE", action="append", default=[],
                   help="set NAME in the tests' environment; repeatable")
    p.add_argument("--env-path", metavar="NAME=PATH", action="append", default=[],
                   help="set NAME to where the host's PATH is seen in the guest; repeatable")
    p.add_argument("--module", metavar="PATH.ko", default=os.environ.get("BSNAP_MODULE"),
                   help="module the tests load, as $BSNAP_MODULE (default: $BSNAP_MODULE)")
    p.add_argument("--disk", metavar="SIZE", action="append", type=_size,
                   help="add a virtio disk (sparse file) of SIZE; repeatable (default: one 256M)")
    p.add_argument("--discard", choices=("ignore", "unmap"),
                   help="what the disks do with discards (default ignore)")
    p.add_argument("--smp", type=int, metavar="N", help="guest CPUs (default 2)")
    p.add_argument("--mem", type=int, metavar="MB", help="guest memory (default 2048)")
    p.add_argument("--timeout", type=int, metavar="SEC",
                   help="limit for the whole run, all boots (default 900)")
    p.add_argument("--test-timeout", type=int, metavar="SEC",
                   help="default limit for one test (default 300; a test may set "
                        "'# bsnap-vm: timeout=N')")
    p.add_argument("--timeout-scale", type=float, metavar="X", default=1.0,
                   help="multiply every test's time limit and the run's by X (a debug "
                        "kernel with KASAN and lockdep runs 3-5 times slower under TCG)")
    p.add_argument("--out", metavar="DIR",
                   default=os.environ.get("BSNAP_VM_OUT") or os.path.join(
                       os.environ.get("BSNAP_VM_CACHE", "/var/tmp/bsnap-vm"), "runs"),
                   help="where run directories go (default $BSNAP_VM_CACHE/runs)")
    p.add_argument("--keep", action="store_true", help="keep the disk images of a passing run")
    p.add_argument("--suite", metavar="DIR", help="run every DIR/*.sh in one boot")
    p.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    if bool(args.suite) == bool(args.command):
        p.error("give either --suite DIR or -- CMD ARGS...")
    return args


DEFAULTS = {"disk": [256 << 20], "timeout": 900, "test_timeout": 300, "smp": 2,
            "mem": 2048, "discard": "ignore"}


def _apply_defaults(args):
    """Command line first, then the suite's suite.conf, then DEFAULTS."""
    conf = plan.suite_conf(args.suite) if args.suite else {}
    try:
        from_conf = {"disk": [_size(s) for s in conf["disks"].split()] if "disks" in conf else None,
                     "timeout": int(conf["timeout"]) if "timeout" in conf else None,
                     "test_timeout": int(conf["test-timeout"]) if "test-timeout" in conf else None,
                     "smp": int(conf["smp"]) if "smp" in conf else None,
                     "mem": int(conf["mem"]) if "mem" in conf else None,
                     "discard": conf.get("discard")}
    except (ValueError, argparse.ArgumentTypeError) as e:
        raise HarnessError(f"{args.suite}/suite.conf: {e}")
    if from_conf["discard"] not in (None, "ignore", "unmap"):
        raise HarnessError(f"{args.suite}/suite.conf: discard is ignore or unmap")
    if conf.get("initramfs", "harness") not in ("harness", "image"):
        raise HarnessError(f"{args.suite}/suite.conf: initramfs is harness or image")
    if conf.get("initramfs") == "image":
        args.image_initramfs = True
    for key, default in DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, from_conf[key] if from_conf[key] is not None else default)


def _terminated(signum, _frame):
    raise SystemExit(128 + signum)  # unwinds, so QEMU is stopped on the way out


def main(argv=None):
    signal.signal(signal.SIGTERM, _terminated)
    signal.signal(signal.SIGHUP, _terminated)
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        return _main(args)
    except HarnessError as e:
        print(f"bsnap-vm: error: {e}", file=sys.stderr)
        return 2


def _main(args):
    _apply_defaults(args)
    cache_dir = os.environ.get("BSNAP_VM_CACHE", "/var/tmp/bsnap-vm")
    os.makedirs(cache_dir, exist_ok=True)
    args.kernel_root = os.path.abspath(args.kernel_root)
    if args.root_image:
        if not os.path.isfile(args.root_image):
            raise HarnessError(f"root image {args.root_image} does not exist")
        args.root_image = os.path.abspath(args.root_image)
        plan.root_image_mode = True
    qemu.find_qemu()
    release, image = kernel.find_kernel(args.kernel, args.kernel_root)
    env = {"BSNAP_SRC": plan.guest_path(REPO),
           "BSNAP_BIN": plan.guest_path(os.environ.get("BSNAP_BIN") or os.path.join(REPO, "build", "cli")),
           "BSNAP_DISKS": " ".join("vd" + chr(ord("a") + i) for i in range(len(args.disk))),
           "BSNAP_KERNEL_RELEASE": release}
    if args.kernel_root != "/" and not args.root_image:
        env["BSNAPVM_MODROOT"] = plan.guest_path(args.kernel_root)
    if args.root_image:
        env["BSNAPVM_ROOT_IMAGE"] = "1"
    if args.image_initramfs:
        if not args.root_image:
            raise HarnessError("--image-initramfs needs --root-image")
        env["BSNAPVM_IMAGE_INITRAMFS"] = "1"
    for item, is_path in [(e, False) for e in args.env] + [(e, True) for e in args.env_path]:
        name, eq, value = item.partition("=")
        if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise HarnessError(f"--env{'-path' if is_path else ''} {item}: expected NAME=VALUE")
        env[name] = plan.guest_path(value) if is_path else value
    if os.environ.get("BSNAP_TOOLS"):
        env["BSNAP_TOOLS"] = plan.guest_path(os.environ["BSNAP_TOOLS"])
    if args.module:
        if not os.path.isfile(args.module):
            raise HarnessError(f"module {args.module} does not exist (build it first)")
        built_for = kernel.module_vermagic_release(args.module)
        if built_for != release:
            raise HarnessError(f"{args.module} was built for {built_for}, not for the "
                               f"kernel booted ({release})")
        env["BSNAP_MODULE"] = plan.guest_path(args.module)
    if len(args.disk) > 26:
        raise HarnessError("at most 26 disks")
    if args.suite:
        tests, mode = plan.suite(args.suite, args.test_timeout), "suite"
        for t in tests:
            t.timeout = int(t.timeout * args.timeout_scale)
        args.timeout = int(args.timeout * args.timeout_scale)
        label = os.path.basename(os.path.normpath(args.suite))
    else:
        mode, label = "cmd", "cmd"
    run_dir = run.make_run_dir(args.out, label)
    if mode == "cmd":
        tests = plan.command(args.command, os.path.join(run_dir, "share"))
    return run.execute(args, tests, mode, env, release, image, run_dir, cache_dir)
