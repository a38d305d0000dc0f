"""Verdicts, read from the share (never from the console), and the report."""
import glob
import os
import re

from . import dmesg

EXIT_SKIP, EXIT_REBOOT = 77, 75


def _read(path, default=None):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return default


def _boots(d, prefix):
    """{boot: text} of the per-boot files <prefix>.<boot> in d."""
    out = {}
    for path in glob.glob(os.path.join(d, prefix + ".*")):
        suffix = path.rsplit(".", 1)[1]
        if suffix.isdigit():
            out[int(suffix)] = _read(path, "")
    return out


def _last_line(text):
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.startswith("=== boot")]
    return lines[-1] if lines else ""


def short(text, limit=160):
    """A reason cut to fit a line of the report (the whole is in the run dir)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


class Result:
    def __init__(self, test, status, seconds, reason="", rc=None):
        self.test, self.status, self.seconds, self.reason, self.rc = test, status, seconds, reason, rc


def finished(share, test):
    """The boots in which the test has finished (its rc is written last)."""
    rcs = _boots(os.path.join(share, "results", test.id), "rc")
    return sorted(b for b, text in rcs.items() if text.strip())


def running(share, tests, boot):
    """1-based index of the test that started in this boot and did not finish."""
    for n, t in enumerate(tests, 1):
        d = os.path.join(share, "results", t.id)
        started = (_read(os.path.join(d, "started"), "") or "").strip()
        if started == str(boot) and boot not in finished(share, t):
            return n
    return None


def crash_requested(share, test, boot):
    """The test reset the guest on purpose in this boot (lib.sh's
    crash_and_continue writes crash.<boot> on the share first)."""
    return os.path.exists(os.path.join(share, "results", test.id, f"crash.{boot}"))


def record_crash(share, test, boot):
    """What the runner would have written had the test exited 75: the guest
    reset before it could. The test saved its kernel log as dmesg.<boot>."""
    d = os.path.join(share, "results", test.id)
    ms = (_read(os.path.join(d, f"crash.{boot}"), "") or "").strip()
    with open(os.path.join(d, f"ms.{boot}"), "w") as f:
        f.write((ms if ms.isdigit() else "0") + "\n")
    with open(os.path.join(d, f"rc.{boot}"), "w") as f:
        f.write(f"{EXIT_REBOOT}\n")


def verdict(share, test, mode="suite", note=None):
    """note: what the harness knows beyond the share (the test asked for too
    many reboots; the guest died while it ran)."""
    d = os.path.join(share, "results", test.id)
    rcs = {b: int(t) for b, t in _boots(d, "rc").items() if t.strip()}
    seconds = sum(int(t.strip() or 0) for t in _boots(d, "ms").values()) / 1000
    if not os.path.exists(os.path.join(d, "started")):
        return Result(test, "NOTRUN", 0, "not run: the guest stopped before it")
    output = _read(os.path.join(d, "output"), "")
    reason = (_read(os.path.join(d, "reason"), "") or "").strip() or _last_line(output)
    started = int((_read(os.path.join(d, "started"), "0") or "0").strip() or 0)
    kernel = []
    for boot, text in sorted(_boots(d, "dmesg").items()):
        kernel += dmesg.problems(text, test.allow)
    if started not in rcs:
        if os.path.exists(os.path.join(d, "unkillable")):
            note = (f"timed out after {_read(os.path.join(d, 'unkillable')).strip()} s and "
                    "could not be killed (stuck in the kernel); the guest was powered off")
        return Result(test, "FAIL", seconds, note or "did not finish: the guest hung or crashed")
    rc = rcs[started]
    timed_out = _read(os.path.join(d, "timedout"))
    if timed_out is not None:
        return Result(test, "FAIL", seconds, f"timed out after {timed_out.strip()} s", rc)
    if kernel:
        return Result(test, "FAIL", seconds, "kernel: " + kernel[0], rc)
    if mode == "cmd":
        return Result(test, "PASS" if rc == 0 else "FAIL", seconds,
                      "" if rc == 0 else f"exit status {rc}", rc)
    if rc == EXIT_REBOOT and note:
        return Result(test, "FAIL", seconds, note, rc)
    if rc == 0:
        return Result(test, "PASS", seconds, "", rc)
    if rc == EXIT_SKIP:
        return Result(test, "SKIP", seconds, reason or "(no reason given)", rc)
    return Result(test, "FAIL", seconds, f"exit {rc}" + (f": {reason}" if reason else ""), rc)


def guest_problems(share):
    """Kernel problems logged outside any test (boot, between tests, end)."""
    hits = []
    for boot, text in sorted(_boots(share, "dmesg-other").items()):
        hits += [f"boot {boot}: {line}" for line in dmesg.problems(text)]
    return hits


def table(results):
    width = max([len(r.test.id) for r in results] + [4])
    lines = [f"{'TEST':<{width}}  RESULT  SECONDS  REASON"]
    for r in results:
        lines.append(f"{r.test.id:<{width}}  {r.status:<6}  {r.seconds:7.1f}  {short(r.reason)}")
    counts = {s: sum(1 for r in results if r.status == s) for s in ("PASS", "FAIL", "SKIP", "NOTRUN")}
    lines.append(f"total: {len(results)}  passed: {counts['PASS']}  failed: {counts['FAIL']}  "
                 f"skipped: {counts['SKIP']}  not run: {counts['NOTRUN']}")
    return lines


def tail(path, n=40):
    text = _read(path, "") or ""
    return text.splitlines()[-n:]


def hang_report(console, limit=40):
    """The kernel's report of a hang in the console log: from its first line
    on, the lines that locate it (RIP, Code, the call trace), at most limit."""
    lines = (_read(console, "") or "").splitlines()
    keep, started = [], False
    for line in lines:
        if not started and re.search(r"soft lockup|detected stall|blocked for more than|"
                                     r"Kernel panic", line):
            started = True
        if started and re.search(r"lockup|stall|blocked|panic|RIP:|Code:|Call Trace|"
                                 r"^\S*\s*\[\s*[\d.]+\]\s+[\w.]+\+0x", line):
            keep.append(line.strip())
        if len(keep) >= limit:
            break
    return keep
