"""One run: its directory, disks and boots; progress and the final report."""
import os
import shutil
import sys
import time

from . import HarnessError, bootimage, dmesg, initramfs, plan, qemu, results

KEEP_RUNS = 30


def _log(msg=""):
    print(msg, flush=True)


def make_run_dir(out, label):
    os.makedirs(out, exist_ok=True)
    name = time.strftime("%Y%m%d-%H%M%S") + f"-{label}-{os.getpid()}"
    run_dir = os.path.join(os.path.abspath(out), name)
    if "," in run_dir:
        raise HarnessError(f"run directory {run_dir} has a comma, which QEMU options cannot take")
    os.makedirs(os.path.join(run_dir, "share", "results"))
    open(os.path.join(run_dir, ".bsnap-vm-run"), "w").close()
    latest = os.path.join(out, "latest")
    try:
        if os.path.islink(latest):
            os.unlink(latest)
        os.symlink(name, latest)
    except OSError:
        pass
    _prune(out)
    return run_dir


def _prune(out):
    """Keep the newest KEEP_RUNS run directories in out."""
    runs = sorted(d for d in os.listdir(out)
                  if os.path.isfile(os.path.join(out, d, ".bsnap-vm-run")))
    for d in runs[:-KEEP_RUNS]:
        shutil.rmtree(os.path.join(out, d), ignore_errors=True)


def make_disks(run_dir, sizes):
    paths = []
    for i, size in enumerate(sizes):
        path = os.path.join(run_dir, f"disk{i}.img")
        with open(path, "wb") as f:
            f.truncate(size)
        paths.append(path)
    return paths


class Progress:
    """Reports tests as they finish, and streams a command's output."""

    def __init__(self, share, tests, mode):
        self.share, self.tests, self.mode = share, tests, mode
        self.seen, self.offset, self.booted_at = set(), 0, {}

    def poll(self, boot, t0):
        if boot not in self.booted_at and os.path.exists(os.path.join(self.share, f"booted.{boot}")):
            self.booted_at[boot] = time.monotonic() - t0
        if self.mode == "cmd":
            self._stream()
            return
        for n, t in enumerate(self.tests, 1):
            for b in results.finished(self.share, t):
                if (t.id, b) in self.seen:
                    continue
                self.seen.add((t.id, b))
                r = results.verdict(self.share, t)
                reboot = r.rc == results.EXIT_REBOOT and b == max(results.finished(self.share, t))
                status, reason = ("REBOOT", "reboot requested") if reboot else (r.status, r.reason)
                _log(f"[{n:>3}/{len(self.tests)}] {status:<6} {t.id} ({r.seconds:.1f} s)"
                     + (f"  {results.short(reason)}" if reason and status != "PASS" else ""))

    def _stream(self):
        try:
            with open(os.path.join(self.share, "results", "cmd", "output"), "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return
        if data:
            self.offset += len(data)
            sys.stdout.buffer.write(data)
            sys.stdout.flush()


def execute(args, tests, mode, env, release, kernel_image, run_dir, cache_dir):
    """Boot as often as the tests ask; return the exit status of bsnap-vm."""
    t_start = time.monotonic()
    share = os.path.join(run_dir, "share")
    initrd = initramfs.get(release, cache_dir, args.kernel_root, bool(args.root_image))
    boot_image = bootimage.get(release, kernel_image, cache_dir)
    qemu_bin = qemu.find_qemu()
    accel = qemu.choose_accel(qemu_bin, boot_image, release, initrd, cache_dir, _log)
    disks = make_disks(run_dir, args.disk)
    _log(f"bsnap-vm: kernel {release}, {accel}, {args.smp} CPUs, {args.mem} MiB, "
         f"disks {env['BSNAP_DISKS'] or '(none)'}"
         + (" (discard=unmap)" if args.discard == "unmap" else "")
         + (f"; root image {args.root_image}" if args.root_image else "") + f"; run dir {run_dir}")
    deadline = t_start + args.timeout
    progress = Progress(share, tests, mode)
    boot, start, reboots, notes = 1, 1, {}, {}
    problems = []
    while start <= len(tests):
        kernel_now, initrd_now, root_cmdline, which = boot_image, initrd, None, "harness"
        if args.image_initramfs and boot > 1:
            try:
                own = _image_boot(share, run_dir, release, boot)
            except HarnessError as e:
                problems.append(str(e))
                break
            if own:
                kernel_now, initrd_now, root_cmdline = own
                which = "image"
        plan.write(share, tests, mode, boot, start, dict(env, BSNAPVM_BOOT_INITRAMFS=which))
        console = os.path.join(run_dir, f"console.{boot}.log")
        cmd = qemu.command(qemu_bin, kernel_now, initrd_now, accel, args.smp, args.mem,
                           console, share, disks, discard=args.discard,
                           root_image=args.root_image, root_cmdline=root_cmdline)
        t_boot = time.monotonic()
        watch = dmesg.HangWatch(console, time.monotonic)
        rc, timed_out = qemu.run(cmd, deadline, os.path.join(run_dir, "qemu.log"),
                                 lambda: progress.poll(boot, t_boot), watch.hung)
        if watch.hung():
            problems.append(f"boot {boot}: the guest kernel hung ({watch.line}); QEMU was "
                            f"killed {dmesg.GRACE} s later; its report, from {console}:")
            problems += ["  " + line for line in results.hang_report(console)]
        state_file = os.path.join(share, "state")
        state = (results._read(state_file, "") or "").split()
        if os.path.exists(state_file):
            os.rename(state_file, f"{state_file}.{boot}")
        if timed_out:
            problems.append(f"the run's time limit ({args.timeout} s) passed; QEMU was killed "
                            f"(boot {boot}); last lines of {console}:")
            problems += ["  " + line for line in results.tail(console, 15)]
            break
        if state[:1] == ["done"]:
            break
        if state[:1] == ["reboot"] and len(state) == 2:
            index = int(state[1])
            test = tests[index - 1]
            reboots[test.id] = reboots.get(test.id, 0) + 1
            if reboots[test.id] > test.reboots:
                notes[test.id] = f"asked for more than {test.reboots} reboots"
                start = index + 1
            else:
                start = index
            boot += 1
            continue
        # The test that was running fails; the others still get their verdict.
        crashed = results.running(share, tests, boot)
        if crashed and results.crash_requested(share, tests[crashed - 1], boot):
            # The test reset the guest on purpose (lib.sh's crash_and_continue:
            # no sync, no clean shutdown): a reboot it asked for, like exit 75.
            test = tests[crashed - 1]
            results.record_crash(share, test, boot)
            progress.poll(boot, t_boot)
            reboots[test.id] = reboots.get(test.id, 0) + 1
            if reboots[test.id] > test.reboots:
                notes[test.id] = f"asked for more than {test.reboots} reboots"
                start = crashed + 1
            else:
                start = crashed
            boot += 1
            continue
        if crashed and os.path.exists(os.path.join(share, "results", tests[crashed - 1].id,
                                                   "unkillable")):
            problems.append(f"boot {boot}: {tests[crashed - 1].id} could not be killed; "
                            "the guest was powered off")
        else:
            problems.append(f"the guest stopped without finishing (boot {boot}, QEMU exit {rc}):"
                            f" kernel panic, crash or QEMU error; last lines of {console}:")
            problems += ["  " + line for line in results.tail(console, 15)]
            problems += ["qemu: " + line
                         for line in results.tail(os.path.join(run_dir, "qemu.log"), 5)]
        if crashed is None:
            break
        hits = dmesg.problems("\n".join(results.tail(console, 200)))
        notes[tests[crashed - 1].id] = "the guest died during the test" + (
            f": {hits[0]}" if hits else "")
        if crashed >= len(tests):
            break
        start, boot = crashed + 1, boot + 1
    total = time.monotonic() - t_start
    problems += results.guest_problems(share)
    _concat_dmesg(run_dir, share)
    verdicts = [results.verdict(share, t, mode, notes.get(t.id)) for t in tests]
    return _report(args, run_dir, mode, verdicts, problems, progress, total, disks)


def _image_boot(share, run_dir, release, boot):
    """--image-initramfs: (kernel, initramfs, kernel command line) for this
    boot, from what the guest copied out of its /boot at its last clean
    reboot (guest/runner.sh); None when it never did (a crash in boot 1):
    then the harness's initramfs boots it again."""
    d = os.path.join(share, "image-boot")
    error = results._read(os.path.join(d, "error"))
    if error:
        raise HarnessError(f"--image-initramfs: {error.strip()}")
    vmlinuz, initrd = os.path.join(d, "vmlinuz"), os.path.join(d, "initrd.img")
    cmdline = (results._read(os.path.join(d, "cmdline"), "") or "").strip()
    if not (os.path.isfile(vmlinuz) and os.path.isfile(initrd) and cmdline):
        _log(f"bsnap-vm: boot {boot}: the guest copied no kernel and initramfs out of its "
             "image yet; booting the harness's initramfs")
        return None
    saved = (results._read(os.path.join(d, "boot"), "?") or "?").strip()
    _log(f"bsnap-vm: boot {boot}: the image's own kernel and initramfs (its /boot/*-{release} "
         f"at the end of boot {saved}), {cmdline}")
    # The extracted ELF is cached in the run, not under the release's cache:
    # it is the image's kernel, not the one the harness found.
    kernel_image = bootimage.get(release, vmlinuz, os.path.join(run_dir, "image-boot"))
    return kernel_image, initrd, f"{cmdline} bsnapvm.imageboot"


def _concat_dmesg(run_dir, share):
    with open(os.path.join(run_dir, "dmesg.txt"), "w") as out:
        for boot, text in sorted(results._boots(share, "dmesg").items()):
            out.write(f"===== boot {boot} =====\n{text}")


def _report(args, run_dir, mode, verdicts, problems, progress, total, disks):
    lines = []
    if mode == "suite":
        lines += [""] + results.table(verdicts)
        for r in verdicts:
            if r.status == "FAIL":
                out = os.path.join(run_dir, "share", "results", r.test.id, "output")
                lines += ["", f"--- {r.test.id}: last lines of its output ({out}) ---"]
                lines += [results.short(line, 300) for line in results.tail(out, 25)]
    elif verdicts[0].status != "PASS" and verdicts[0].reason:
        lines.append(f"bsnap-vm: {results.short(verdicts[0].reason)}")
    if problems:
        lines += ["", "guest problems:"] + ["  " + p for p in problems]
    boots = ", ".join(f"{t:.1f} s" for _, t in sorted(progress.booted_at.items()))
    lines += ["", f"boot time (QEMU start to test runner): {boots or 'never booted'}",
              f"total time: {total:.1f} s; logs: {run_dir}"]
    failed = bool(problems) or any(r.status in ("FAIL", "NOTRUN") for r in verdicts)
    if mode == "cmd":
        status = verdicts[0].rc if verdicts[0].rc not in (None, 0) else (1 if failed else 0)
    else:
        ran = [r for r in verdicts if r.status in ("PASS", "FAIL")]
        if not failed and not ran:
            lines.append("bsnap-vm: FAIL: no test ran" + (" (all skipped)" if verdicts else ""))
            failed = True
        status = 1 if failed else 0
    lines.append(f"bsnap-vm: {'FAILED' if failed else 'passed'}")
    for line in lines:
        _log(line)
    with open(os.path.join(run_dir, "summary.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    if not failed and not args.keep:
        for d in disks:
            os.unlink(d)
    return status
