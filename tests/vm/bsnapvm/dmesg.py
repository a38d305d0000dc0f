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


# A kernel that reports these is stuck (and a test may then never end):
# the harness gives it GRACE seconds to print the rest of its report, then
# kills the guest; the running test fails, the next ones get a new boot.
HUNG = re.compile(r"BUG: soft lockup|rcu: INFO: rcu_\w+ (self-)?detected stall|"
                  r"INFO: task .* blocked for more than|Kernel panic")
GRACE = 30


class HangWatch:
    """Reads a console log as it grows; hung() gives the first line of a
    hang report once GRACE seconds have passed since it appeared."""

    def __init__(self, path, clock):
        self.path, self.clock, self.offset = path, clock, 0
        self.line, self.seen_at, self.partial = None, None, ""

    def hung(self):
        if self.line is None:
            try:
                with open(self.path, errors="replace") as f:
                    f.seek(self.offset)
                    text = f.read()
                    self.offset = f.tell()
            except OSError:
                return None
            text, self.partial = self.partial + text, ""
            lines = text.split("\n")
            self.partial = lines.pop()
            for line in lines:
                if HUNG.search(line):
                    self.line, self.seen_at = line.strip(), self.clock()
                    break
        if self.line is not None and self.clock() - self.seen_at >= GRACE:
            return self.line
        return None
