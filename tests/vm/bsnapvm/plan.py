"""What the guest runs: the test list, their settings, and the environment,
written to the share as tests.list and plan.env for guest/runner.sh."""
import glob
import os
import re
import shlex

from . import HarnessError

# Directories the guest covers with tmpfs; host paths below them are reached
# through a bind mount of the bare host root (see guest/init).
GUEST_TMPFS = ("/tmp", "/run", "/mnt", "/media", "/var/tmp")
HOSTROOT_VIEW = "/run/bsnap-vm-hostroot"
SHARE = "/run/bsnap-vm"
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "guest", "runner.sh")


# With --root-image the guest runs its own root file system: every host path
# is seen under HOSTROOT_VIEW (set by cli before any path is mapped).
root_image_mode = False


def guest_path(path):
    """Where a host path is seen from inside the guest."""
    path = os.path.realpath(path)
    if root_image_mode:
        return HOSTROOT_VIEW + path
    for d in GUEST_TMPFS:
        if path == d or path.startswith(d + "/"):
            return HOSTROOT_VIEW + path
    return path


# Reboots (exit 75 or crash_and_continue) a test may ask for, unless it says
# '# bsnap-vm: reboots=N' (a power-cut test cuts power many times).
DEFAULT_REBOOTS = 5


class Test:
    def __init__(self, test_id, script, guest_script, timeout, allow=(),
                 reboots=DEFAULT_REBOOTS):
        self.id, self.script, self.guest_script = test_id, script, guest_script
        self.timeout, self.allow, self.reboots = timeout, list(allow), reboots


def _settings(script):
    """'# bsnap-vm: key=value' lines in the comment block at the top of a
    test script (up to its first line that is not a comment or blank)."""
    out = {"allow-dmesg": []}
    with open(script, errors="replace") as f:
        for line in f:
            if line.strip() and not line.lstrip().startswith("#"):
                break
            m = re.match(r"#\s*bsnap-vm:\s*([\w-]+)=(.*)$", line.rstrip("\n"))
            if not m:
                continue
            key, value = m.group(1), m.group(2).strip()
            if key in ("timeout", "reboots"):
                out[key] = int(value)
            elif key == "allow-dmesg":
                re.compile(value)
                out[key].append(value)
            else:
                raise HarnessError(f"{script}: unknown setting '{key}'")
    return out


SUITE_CONF_KEYS = ("disks", "timeout", "test-timeout", "smp", "mem", "discard", "initramfs")


def suite_conf(directory):
    """Settings of DIR/suite.conf ('key=value' lines, '#' comments): what the
    suite needs from the guest; options given on the command line win."""
    path = os.path.join(directory, "suite.conf")
    conf = {}
    if not os.path.exists(path):
        return conf
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            key, eq, value = (part.strip() for part in line.partition("="))
            if not eq or key not in SUITE_CONF_KEYS:
                raise HarnessError(f"{path}:{n}: expected one of "
                                   f"{', '.join(SUITE_CONF_KEYS)} as key=value")
            conf[key] = value
    return conf


def suite(directory, default_timeout):
    if not os.path.isdir(directory):
        raise HarnessError(f"suite {directory} is not a directory")
    tests = []
    for script in sorted(glob.glob(os.path.join(directory, "*.sh"))):
        test_id = os.path.basename(script)[:-3]
        if not re.fullmatch(r"[\w.+-]+", test_id):
            raise HarnessError(f"test name '{test_id}' has characters the runner cannot take")
        s = _settings(script)
        tests.append(Test(test_id, script, guest_path(script),
                          s.get("timeout", default_timeout), s["allow-dmesg"],
                          s.get("reboots", DEFAULT_REBOOTS)))
    return tests


def command(argv, share_dir):
    """A one-test plan running argv; its script lives on the share."""
    script = os.path.join(share_dir, "cmd.sh")
    with open(script, "w") as f:
        f.write("exec " + shlex.join(argv) + "\n")
    return [Test("cmd", script, SHARE + "/cmd.sh", 0)]


def write(share_dir, tests, mode, boot, start, env):
    with open(os.path.join(share_dir, "tests.list"), "w") as f:
        for t in tests:
            f.write(f"{t.id}\t{t.guest_script}\t{t.timeout}\n")
            os.makedirs(os.path.join(share_dir, "results", t.id), exist_ok=True)
    env = dict(env, BSNAPVM_RUNNER=guest_path(RUNNER), BSNAPVM_MODE=mode,
               BSNAPVM_START=str(start), BSNAP_BOOT=str(boot), BSNAP_RESULTS=SHARE)
    with open(os.path.join(share_dir, "plan.env"), "w") as f:
        for k, v in sorted(env.items()):
            f.write(f"export {k}={shlex.quote(v)}\n")
