#!/bin/bash
# Bad user pointers give EFAULT, not an oops; a struct that ends right before
# an unmapped page is read no further than its size.
. "$(dirname "$0")/../lib.sh"

load_module
for arg in none ptr:1 ptr:0xfff unmapped ptr:0xffffffff81000000 ptr:0xfffffffffffff000; do
	out=$(ioctl_probe VERSION "$arg") || true
	log "VERSION $arg: $out"
	assert_eq "$out" "ioctl EFAULT" "VERSION with $arg"
done
# Readable but not writable: the answer cannot be copied out.
out=$(ioctl_probe VERSION ro) || true
log "VERSION ro: $out"
assert_eq "$out" "ioctl EFAULT" "VERSION into a read-only buffer"
# Exactly the struct, followed by an inaccessible page.
assert_match "$(ioctl_probe VERSION buf)" "^OK 0 " "VERSION into a guarded buffer"
unload_module
