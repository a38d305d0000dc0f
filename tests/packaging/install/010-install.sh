#!/bin/bash
# bsnap-vm: timeout=900
# Installing the .debs builds bsnap with DKMS for the running kernel, puts the
# tools, man pages, both units (enabled; bsnapd started), the state
# directory and the initramfs-tools hook in place, rebuilds the initramfs
# with bsnap in it, and the module works. libbsnap-dev is complete: a C
# program built with pkg-config against it sets up a snapshot, reads its
# info and lists the changed runs of a CoW file.
# shellcheck source=tests/packaging/lib.sh
. "$(dirname "$0")/../lib.sh"
rel=$(uname -r)
assert_eq "$rel" "$BSNAP_FIRST_KERNEL" "running kernel"
debs=("$BSNAP_DEBS"/bsnap-dkms_*_all.deb "$BSNAP_DEBS"/bsnap-utils_*_amd64.deb
	"$BSNAP_DEBS"/libbsnap0_*_amd64.deb "$BSNAP_DEBS"/libbsnap-dev_*_amd64.deb)
log "installing ${debs[*]##*/}"
apt_get install "${debs[@]}"
dkms_installed "$rel"
[ -f "/usr/src/bsnap-$BSNAP_VERSION/dkms.conf" ] || fail "no /usr/src/bsnap-$BSNAP_VERSION/dkms.conf"
grep -q "^PACKAGE_VERSION=\"$BSNAP_VERSION\"" "/usr/src/bsnap-$BSNAP_VERSION/dkms.conf" ||
	fail "dkms.conf does not say PACKAGE_VERSION=\"$BSNAP_VERSION\""

for tool in bsnapctl update-img bsnapd; do
	[ -x "/usr/sbin/$tool" ] || fail "/usr/sbin/$tool is not installed"
	[ -f "/usr/share/man/man8/$tool.8.gz" ] || fail "no man page $tool(8)"
done
assert_match "$(bsnapctl --version)" "^bsnapctl $BSNAP_VERSION " "bsnapctl --version"
assert_match "$(update-img --version)" "$BSNAP_VERSION" "update-img --version"
assert_match "$(bsnapd --version)" "^bsnapd $BSNAP_VERSION " "bsnapd --version"
for unit in bsnapd.service bsnap-reload.service; do
	[ -f "/lib/systemd/system/$unit" ] || fail "no $unit"
	systemctl cat "$unit" >/dev/null
	assert_eq "$(systemctl is-enabled "$unit" || true)" enabled "systemctl is-enabled $unit"
done
# systemd is PID 1 here: the postinst started the daemon (Type=notify: it
# is active once it has synced the state file with the module).
assert_eq "$(systemctl is-active bsnapd.service || true)" active "systemctl is-active bsnapd.service"
[ -d /var/lib/bsnap ] || fail "no state directory /var/lib/bsnap"

# The update-initramfs trigger rebuilt the initramfs of the running (and
# only) kernel with the hook: bsnapd, the local-premount script and the
# module DKMS built.
assert_bsnap_in_initramfs "$rel"

modprobe bsnap
trap cleanup_scratch EXIT
for ((i = 0; i < 50; i++)); do [ -c /dev/bsnap-ctl ] && break; sleep 0.1; done
[ -c /dev/bsnap-ctl ] || fail "/dev/bsnap-ctl did not appear after modprobe bsnap"
assert_prefix "$(modinfo -n bsnap)" "/lib/modules/$rel/updates/dkms/bsnap.ko" "the module modprobe loads"
bsnapctl version
scratch_fs
snapshot_roundtrip

# libbsnap-dev: headers, pkg-config, and a C program built against them.
for f in /usr/include/bsnap/libbsnap.h /usr/include/bsnap/uapi/bsnap.h /usr/include/bsnap/uapi/bsnap_cow.h; do
	[ -f "$f" ] || fail "libbsnap-dev: no $f"
done
assert_eq "$(pkg-config --modversion bsnap)" "$BSNAP_VERSION" "pkg-config --modversion bsnap"
example=/usr/share/doc/libbsnap-dev/examples/bsnap-example.c
[ -f "$example" ] || fail "libbsnap-dev: no $example"
# shellcheck disable=SC2046 # pkg-config's words are the compiler's arguments
cc -std=c11 -Wall -Werror -o /tmp/bsnap-example "$example" $(pkg-config --cflags --libs bsnap) ||
	fail "cannot build $example with pkg-config bsnap"
ldd /tmp/bsnap-example | grep -q 'libbsnap\.so\.0 => /usr/lib/' || fail "bsnap-example does not use the installed libbsnap.so.0"
/tmp/bsnap-example setup /dev/vda /mnt/scratch/cow-c1 1 || fail "bsnap-example setup failed"
info=$(/tmp/bsnap-example info 1) || fail "bsnap-example info failed"
log "bsnap-example info 1: $info"
assert_match "$info" '^minor=1 state=3 error=0 bdev=/dev/vda cow=/mnt/scratch/cow-c1 seqid=1 ' "bsnap-example info"
dd if=/dev/urandom of=/mnt/scratch/more bs=1M count=2 conv=fsync status=none
/tmp/bsnap-example transition-incr 1 || fail "bsnap-example transition-incr failed"
/tmp/bsnap-example transition-snap /mnt/scratch/cow-c2 1 || fail "bsnap-example transition-snap failed"
/tmp/bsnap-example runs /mnt/scratch/cow-c1 >/tmp/runs || fail "bsnap-example runs failed"
log "runs of cow-c1: $(head -1 /tmp/runs); $(($(wc -l </tmp/runs) - 1)) runs"
total=$(tail -n +2 /tmp/runs | awk '{ n += $2 } END { print n + 0 }')
[ "$total" -ge 512 ] || fail "cow-c1 lists $total changed blocks, expected >= 512 after 2 MiB"
/tmp/bsnap-example destroy 1 || fail "bsnap-example destroy failed"
