"""The harness's hang watch (bsnapvm/dmesg.py HangWatch, results.hang_report):
a stuck guest kernel is killed after the grace time, with its report kept."""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bsnapvm import dmesg, results  # noqa: E402

LOCKUP = [
    "[    5.0] bsnap: version 0.4 loaded",
    "[   77.011] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [kworker/1:2:88]",
    "[   77.012] Modules linked in: bsnap(OE)",
    "[   77.013] RIP: 0010:submit_bio_noacct+0x0/0x4e0",
    "[   77.014] Code: 90 90 90 90 cc 1f 44 00 00 41 57",
    "[   77.015] Call Trace:",
    "[   77.016]  submit_bh_wbc+0x160/0x190",
    "[   77.017] CR2: 00007f8edaed0400 CR3: 0000000006ec2000",
]


class HangWatchTest(unittest.TestCase):
    def setUp(self):
        fd, self.path = tempfile.mkstemp()
        os.close(fd)
        self.now = 0.0
        self.watch = dmesg.HangWatch(self.path, lambda: self.now)

    def tearDown(self):
        os.unlink(self.path)

    def append(self, text):
        with open(self.path, "a") as f:
            f.write(text)

    def test_a_quiet_console_is_not_a_hang(self):
        self.append("[ 1.0] EXT4-fs (vda): mounted\n[ 2.0] WARNING: not a hang\n")
        self.now = 1000
        self.assertIsNone(self.watch.hung())

    def test_a_lockup_is_a_hang_after_the_grace_only(self):
        self.append("\n".join(LOCKUP[:2]))  # the line is not complete yet
        self.assertIsNone(self.watch.hung())
        self.append("\n" + "\n".join(LOCKUP[2:]) + "\n")
        self.assertIsNone(self.watch.hung())
        self.now = dmesg.GRACE - 1
        self.assertIsNone(self.watch.hung())
        self.now = dmesg.GRACE
        self.assertIn("soft lockup - CPU#1", self.watch.hung())

    def test_an_rcu_stall_is_a_hang(self):
        self.append("[ 9.0] rcu: INFO: rcu_preempt self-detected stall on CPU\n")
        self.assertIsNone(self.watch.hung())
        self.now = dmesg.GRACE
        self.assertIn("self-detected stall", self.watch.hung())

    def test_the_report_keeps_where_it_hung(self):
        self.append("\n".join(LOCKUP) + "\n")
        report = results.hang_report(self.path)
        self.assertIn("soft lockup", report[0])
        self.assertTrue(any("RIP: 0010:submit_bio_noacct+0x0" in r for r in report))
        self.assertTrue(any(r.endswith("Code: 90 90 90 90 cc 1f 44 00 00 41 57") for r in report))
        self.assertTrue(any("submit_bh_wbc+0x160" in r for r in report))
        self.assertFalse(any("bsnap: version" in r for r in report))


if __name__ == "__main__":
    unittest.main()
