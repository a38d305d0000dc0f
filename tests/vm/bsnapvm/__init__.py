"""bsnap-vm: boot a Debian kernel under QEMU and run guest tests in it."""


class HarnessError(Exception):
    """A problem of the harness or the host (missing QEMU, kernel, ...).

    It never means that a test passed or was skipped: the run fails."""
