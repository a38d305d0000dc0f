"""Kernel log checks: any of these lines fails the test or the run."""
import re

# Case-sensitive on purpose: "EXT4-fs warning" is not a kernel WARN.
BAD = [
    r"WARNING:",                          # WARN_ON(), lockdep and RCU reports
    r"BUG:",                              # BUG(), KASAN, sleeping in atomic, soft lockup
    r"\bOops\b",
    r"KASAN",
    r"UBSAN",
    r"KFENCE",
    r"kmemleak: \d+ new suspected memory leak",  # not its start-up lines
    r"possible circular locking",
    r"possible recursive locking",
    r"inconsistent lock state",
    r"INFO: task .* blocked",
    r"detected stalls? on CPU",           # RCU stalls
    r"general protection fault",
    r"Kernel panic",
    r"Call Trace:",                       # a backtrace for any other reason
]
_BAD = re.compile("|".join(f"(?:{p})" for p in BAD))


def problems(text, allow=()):
    """Lines of the kernel log that show a kernel problem. allow: regexes of
    lines a test declared as expected (# bsnap-vm: allow-dmesg=REGEX)."""
    allowed = [re.compile(a) for a in allow]
    hits = []
    for line in text.splitlines():
        if _BAD.search(line) and not any(a.search(line) for a in allowed):
            hits.append(line.strip())
    return hits
