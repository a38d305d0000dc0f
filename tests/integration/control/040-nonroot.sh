#!/bin/bash
# A process without CAP_SYS_ADMIN can neither open the control device nor use
# a descriptor that root opened for it. Nor can another user read
# /proc/bsnap-info (it names every CoW file), so bsnapctl status fails too.
. "$(dirname "$0")/../lib.sh"

# Copies nobody can run wherever the build directory is.
install -m 0755 "$BSNAP_TOOLS/ioctl-probe" "$BSNAP_BIN/bsnapctl" .
load_module
out=$(as_nobody ./ioctl-probe VERSION buf) || true
log "nobody, mode 0600: $out"
assert_match "$out" "^open (EACCES|EPERM)\$" "open as nobody"

# Even with the file mode opened up, the module itself refuses.
chmod 0666 "$BSNAP_CTL"
out=$(as_nobody ./ioctl-probe VERSION buf) || true
chmod 0600 "$BSNAP_CTL"
log "nobody, mode 0666: $out"
assert_match "$out" "^open (EACCES|EPERM)\$" "open as nobody with mode 0666"

# A descriptor opened by root, used after dropping to nobody.
out=$(./ioctl-probe -u 65534 VERSION buf) || true
log "root's fd used by nobody: $out"
assert_match "$out" "^ioctl (EACCES|EPERM)\$" "ioctl as nobody on root's descriptor"

expect_errno "EACCES|EPERM" as_nobody ./bsnapctl version

assert_eq "$(stat -c %a "$BSNAP_PROC")" 400 "mode of $BSNAP_PROC"
if out=$(as_nobody cat "$BSNAP_PROC" 2>&1); then
	fail "nobody read $BSNAP_PROC: ${out:0:200}"
fi
log "nobody reads $BSNAP_PROC: $out"
expect_errno "EACCES" as_nobody ./bsnapctl status
unload_module
