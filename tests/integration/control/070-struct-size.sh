#!/bin/bash
# The size field: too small is EINVAL, a larger struct with a zero tail is
# accepted, a nonzero unknown tail is E2BIG, a size past the buffer faults.
. "$(dirname "$0")/../lib.sh"

load_module
want=$(modinfo -F version "$BSNAP_MODULE")
for size in 0 1 4 39; do
	out=$(ioctl_probe VERSION "buf:64:$size") || true
	log "size $size: $out"
	assert_eq "$out" "ioctl EINVAL" "VERSION with size $size"
done
out=$(ioctl_probe VERSION buf:40:40)
log "size 40: $out"
assert_match "$out" "^OK 0 size=40 abi=[0-9]+ version=$want\$" "VERSION with its own size"

out=$(ioctl_probe VERSION buf:4096:4096)
log "size 4096, zero tail: $out"
assert_match "$out" "^OK 0 size=(40|4096) abi=[0-9]+ version=$want\$" "VERSION, newer caller"
for poke in 40 47 4095; do
	out=$(ioctl_probe VERSION "buf:4096:4096:$poke=1") || true
	log "size 4096, byte $poke set: $out"
	assert_eq "$out" "ioctl E2BIG" "VERSION with a nonzero byte at $poke of the tail"
done
for size in 1048576 4294967295; do
	out=$(ioctl_probe VERSION "buf:64:$size") || true
	log "size $size: $out"
	assert_match "$out" "^ioctl (E2BIG|EFAULT|EINVAL)\$" "VERSION with size $size"
done
# The size says more than the caller mapped: the kernel must fault, not read on.
out=$(ioctl_probe VERSION buf:64:8192) || true
log "size 8192 in a 64-byte buffer: $out"
assert_eq "$out" "ioctl EFAULT" "VERSION with a size past the buffer"
unload_module
