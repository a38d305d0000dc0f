#!/bin/bash
# Host unit test of bsnap-stamp: the integrity tools must be able to fail.
# Every check that corrupts data expects verify/compare to fail and to name the
# right sector and the right kind of damage; a tool that always says OK fails
# this test. Usage: test-bsnap-stamp.sh <bsnap-stamp> <work dir>
set -u
S=${1:?usage: $0 <bsnap-stamp> <work dir>}
W=${2:?usage: $0 <bsnap-stamp> <work dir>}
S=$(readlink -f "$S")
rm -rf "$W" && mkdir -p "$W" || exit 1
cd "$W" || exit 1

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
bad() { failed=$((failed + 1)); echo "not ok - $*"; }

# expect RC PATTERN... -- CMD...: CMD exits RC and its output matches every
# PATTERN (grep -E).
expect() {
	local want=$1 pats=() out rc p
	shift
	while [ "$1" != -- ]; do pats+=("$1"); shift; done
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" != "$want" ]; then
		bad "$* -> exit $rc, expected $want"; printf '%s\n' "$out" | head -8 | sed 's/^/    /'
		return
	fi
	for p in "${pats[@]}"; do
		if ! grep -Eq -- "$p" <<<"$out"; then
			bad "$* -> output lacks /$p/"; printf '%s\n' "$out" | head -8 | sed 's/^/    /'
			return
		fi
	done
	ok "$* -> $rc"
}

# poke FILE BYTE_OFFSET HEXBYTE: overwrite one byte in place
poke() { printf "\\x$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
# copy_sector FILE FROM TO: copy one 512-byte sector over another
copy_sector() { dd if="$1" of="$1" bs=512 skip="$2" seek="$3" count=1 conv=notrunc status=none; }

N=0x5eed
expect 0 'selftest ok' -- "$S" selftest
expect 2 'unknown command' -- "$S" frobnicate x
expect 2 'gen is required' -- "$S" fill x.img --size 1M --nonce 1
expect 2 'nonce is required' -- env -u BSNAP_STAMP_NONCE "$S" verify x.img --gen 1

# --- a device-like image: fill, verify, then damage it in every way
expect 0 'filled' -- "$S" fill dev.img --size 8M --gen 1 --nonce $N --threads 3
expect 0 '^OK dev.img: 16384 sectors' -- "$S" verify dev.img --gen 1 --nonce $N
expect 1 'wrong generation' 'found stamp lba=0 gen=1' 'FAIL dev.img: 16384 of 16384' -- \
	"$S" verify dev.img --gen 2 --nonce $N --max-report 1
expect 1 'wrong nonce' -- "$S" verify dev.img --gen 1 --nonce 0x5eee --max-report 1
expect 1 'wrong id' -- "$S" verify dev.img --gen 1 --nonce $N --id 9 --max-report 1
BSNAP_STAMP_NONCE=$N expect 0 '^OK' -- "$S" verify dev.img --gen 1

cp dev.img flip.img
poke flip.img $((1234 * 512 + 100)) ff
expect 1 'MISMATCH flip.img: lba 1234 \(byte 631808\): bad crc' 'FAIL flip.img: 1 of 16384' \
	'first lba 1234, last lba 1234' -- "$S" verify flip.img --gen 1 --nonce $N
# a byte of the header: the crc catches it as well
cp dev.img flip2.img
poke flip2.img $((77 * 512 + 17)) 01
expect 1 'lba 77 .*bad crc' 'FAIL flip2.img: 1 of' -- "$S" verify flip2.img --gen 1 --nonce $N
# the crc itself
cp dev.img flip3.img
poke flip3.img $((4000 * 512 + 510)) 00
expect 1 'lba 4000 .*bad crc' -- "$S" verify flip3.img --gen 1 --nonce $N

cp dev.img moved.img
copy_sector moved.img 10 20
expect 1 'lba 20 .*wrong lba.*found stamp lba=10 ' 'FAIL moved.img: 1 of' -- \
	"$S" verify moved.img --gen 1 --nonce $N

cp dev.img zero.img
dd if=/dev/zero of=zero.img bs=512 seek=300 count=1 conv=notrunc status=none
expect 1 'lba 300 .*: zero;' 'zero 1;' -- "$S" verify zero.img --gen 1 --nonce $N
printf '# cow extents\n300 1\n' >zr.ok
printf '299 1\n301 5\n' >zr.bad
expect 0 '1 allowed zero' -- "$S" verify zero.img --gen 1 --nonce $N --allow-zero-ranges zr.ok
expect 1 'lba 300' -- "$S" verify zero.img --gen 1 --nonce $N --allow-zero-ranges zr.bad
expect 0 '^OK' -- "$S" verify zero.img --gen 1 --nonce $N --allow-zero

cp dev.img junk.img
head -c 512 /dev/urandom | dd of=junk.img bs=512 seek=5000 conv=notrunc status=none
expect 1 'lba 5000 .*not a stamp' -- "$S" verify junk.img --gen 1 --nonce $N

# a block of an older generation (a copy-before-write that was never done)
"$S" fill old.img --size 8M --gen 1 --nonce $N --quiet
"$S" fill new.img --size 8M --gen 2 --nonce $N --quiet
dd if=old.img of=new.img bs=4096 skip=100 seek=100 count=1 conv=notrunc status=none
expect 1 'lba 800 .*wrong generation.*expected lba=800 gen=2.*found stamp lba=800 gen=1' \
	'FAIL new.img: 8 of 16384' -- "$S" verify new.img --gen 2 --nonce $N

# --- compare and checksum
expect 0 'identical' -- "$S" compare dev.img dev.img
expect 1 'DIFFER lba 1234 \(byte 631808, 4k block 154\): flip.img has stamp lba=1234 gen=1.* crc=BAD; dev.img has stamp lba=1234 gen=1.*crc=ok' \
	'differ in 1 of 16384 sectors \(1 ranges\)' -- "$S" compare flip.img dev.img
expect 1 'DIFFER lba 20 .*moved.img has stamp lba=10' -- "$S" compare moved.img dev.img
expect 1 'zeros' -- "$S" compare zero.img dev.img
head -c 4M dev.img >half.img
expect 1 'DIFFER sizes' -- "$S" compare half.img dev.img
expect 0 'identical' -- "$S" compare half.img dev.img --length 4M
expect 1 'differ in 1 of 8192' -- "$S" compare flip.img half.img --length 4M
: >empty.img
expect 0 '^xxh64:ef46db3751d8e999 0 empty.img' -- "$S" checksum empty.img
a=$("$S" checksum dev.img | cut -d' ' -f1)
b=$("$S" checksum flip.img | cut -d' ' -f1)
c=$(cp dev.img dev2.img && "$S" checksum dev2.img | cut -d' ' -f1)
if [ "$a" = "$c" ] && [ "$a" != "$b" ] && [ -n "$a" ]; then ok "checksum: copies equal, one flipped byte differs"
else bad "checksum: dev=$a copy=$c flipped=$b"; fi
if command -v xxhsum >/dev/null; then
	x=$(xxhsum -H1 dev.img 2>/dev/null | cut -d' ' -f1)
	[ "xxh64:$x" = "$a" ] && ok "checksum matches xxhsum -H1" || bad "checksum $a, xxhsum $x"
fi

# --- zero-extents with a ranges list, then verify with the same list
cp dev.img ref.img
printf '8 8\n1000 24\n' >cow.ranges
expect 0 'zeroed 2 ranges, 32 sectors' -- "$S" zero-extents ref.img --ranges cow.ranges
expect 1 'zero 32;' -- "$S" verify ref.img --gen 1 --nonce $N
expect 0 '32 allowed zero' -- "$S" verify ref.img --gen 1 --nonce $N --allow-zero-ranges cow.ranges
expect 1 'beyond its end' -- "$S" zero-extents half.img --ranges <(echo "8190 4")

# compare as the snapshot test uses it: the image must hold zeros in the CoW
# file's sectors, and only metadata-vs-metadata differences are tolerated
expect 0 'identical \(32 sectors zero as required\)' -- "$S" compare ref.img dev.img --zero-ranges cow.ranges
expect 1 'DIFFER lba 8 .*expected zeros' 'differ in 32 of' -- "$S" compare dev.img ref.img --zero-ranges cow.ranges
cp dev.img meta1.img
cp dev.img meta2.img
head -c 512 /dev/urandom | dd of=meta1.img bs=512 seek=5000 conv=notrunc status=none
head -c 512 /dev/urandom | dd of=meta2.img bs=512 seek=5000 conv=notrunc status=none
head -c 512 /dev/urandom | dd of=meta1.img bs=512 seek=6000 conv=notrunc status=none
head -c 512 /dev/urandom | dd of=meta2.img bs=512 seek=6000 conv=notrunc status=none
expect 1 'differ in 2 of' -- "$S" compare meta1.img meta2.img
expect 0 'TOLERATED lba 5000' 'except 2 tolerated metadata sectors' -- \
	"$S" compare meta1.img meta2.img --tolerate-nonstamp 2
expect 1 'differ in 1 of .*beyond the tolerated' -- "$S" compare meta1.img meta2.img --tolerate-nonstamp 1
# a stamp on one side is never tolerated
expect 1 'DIFFER lba 5000 .*junk.img has not a stamp.*dev.img has stamp' -- \
	"$S" compare junk.img dev.img --tolerate-nonstamp 100

# per-block digests: stability of an image over time
expect 0 '^xxh64:' -- "$S" checksum dev.img --blocks-out dev.digests
expect 0 'OK dev.img: all 2048 4k blocks unchanged' -- "$S" checksum dev.img --blocks-check dev.digests
expect 1 'CHANGED flip.img: 4k block 154 \(lba 1232..1239\)' 'lba 1234: stamp lba=1234 gen=1 .*crc=BAD' \
	'FAIL flip.img: 1 of 2048 4k blocks changed' -- "$S" checksum flip.img --blocks-check dev.digests
expect 1 'digests of 8388608 bytes' -- "$S" checksum half.img --blocks-check dev.digests
d1=$("$S" checksum dev.img --blocks-check dev.digests | grep '^xxh64:' | cut -d' ' -f1)
[ "$d1" = "$a" ] && ok "whole digest unchanged by --blocks-check" || bad "whole digest $d1 != $a"

# --- FIEMAP of a real file (skipped where the filesystem has no FIEMAP)
if fallocate -l 1M falloc.dat 2>/dev/null && sync && "$S" extents falloc.dat >ext.out 2>&1; then
	total=$(awk '!/^#/ { s += $2 } END { print s + 0 }' ext.out)
	[ "$total" = 2048 ] && ok "extents of a 1 MiB fallocated file: 2048 sectors" ||
		bad "extents of a 1 MiB file: $total sectors: $(cat ext.out)"
	if command -v filefrag >/dev/null; then
		ff=$(filefrag -v -b512 falloc.dat | awk '$1 ~ /^[0-9]+:$/ { gsub(/\.\./, " "); print $4 }' | head -1)
		mine=$(awk '!/^#/ { print $1; exit }' ext.out)
		[ -n "$ff" ] && [ "$ff" = "$mine" ] && ok "extents agree with filefrag ($mine)" ||
			bad "first extent: filefrag '$ff', bsnap-stamp '$mine'"
	fi
else
	echo "skip - FIEMAP not available here: $(cat ext.out 2>/dev/null)"
fi

# --- files: the id comes from the basename, so a block of another file fails
expect 0 'id 0x' -- "$S" fill-file a.dat --size 3M --gen 4 --nonce $N
expect 0 '^OK a.dat: 6144 sectors' -- "$S" verify-file a.dat --gen 4 --nonce $N
cp a.dat b.dat
expect 1 'wrong id' -- "$S" verify-file b.dat --gen 4 --nonce $N
expect 1 'wrong id' -- "$S" verify a.dat --gen 4 --nonce $N
expect 2 'size is required' -- "$S" fill-file new.dat --gen 1 --nonce $N

# --- overwrite: the map records what must be new, and a lost write shows
direct=--direct
if ! "$S" overwrite dev.img --gen 2 --nonce $N --seed 1 --ops 1 --threads 1 --direct \
	--map probe.map --quiet 2>/dev/null; then
	echo "skip - O_DIRECT not supported in $W: overwrite tests run buffered only"
	direct=
fi
"$S" fill dev.img --gen 1 --nonce $N --map dev.map --quiet
cp dev.img before.img
expect 0 'overwrote dev.img: 300 writes' -- "$S" overwrite dev.img --gen 2 --nonce $N --seed 11 \
	--ops 300 --threads 4 $direct --max-io 2M --map dev.map
expect 0 '^OK dev.img.*\+ map' -- "$S" verify dev.img --gen 1 --nonce $N --map dev.map
expect 1 'wrong generation' -- "$S" verify dev.img --gen 1 --nonce $N --max-report 1
# undo one overwritten 4 KiB block: the image of a write that was lost
lost_write() {
	local blk
	cp dev.img lost.img
	blk=$(od -v -An -tu4 -w4 -j16 dev.map | awk '$1 == 2 { print int((NR - 1) / 8); exit }')
	dd if=before.img of=lost.img bs=4096 skip="$blk" seek="$blk" count=1 conv=notrunc status=none
	"$S" verify lost.img --gen 1 --nonce $N --map dev.map --max-report 1
}
expect 1 'expected lba=[0-9]+ gen=2.*found stamp lba=[0-9]+ gen=1' -- lost_write
# the final state depends on the seed and thread count only, not on scheduling
cp before.img again.img
"$S" overwrite again.img --gen 2 --nonce $N --seed 11 --ops 300 --threads 4 $direct \
	--max-io 2M --map again.map --quiet
expect 0 identical -- "$S" compare dev.img again.img
cmp -s <(tail -c +17 dev.map) <(tail -c +17 again.map) && ok "maps of equal seeds agree" ||
	bad "maps of equal seeds differ"
# a map accumulates over phases
expect 0 overwrote -- "$S" overwrite dev.img --gen 3 --nonce $N --seed 12 --seconds 1 \
	--threads 3 --map dev.map --max-io 64K
expect 0 '^OK' -- "$S" verify dev.img --gen 1 --nonce $N --map dev.map
# a signal stops the writers and still saves the map
"$S" overwrite dev.img --gen 4 --nonce $N --seed 13 --seconds 60 --threads 2 $direct \
	--map dev.map --quiet &
pid=$!
sleep 1
kill -TERM $pid
wait $pid
rc=$?
[ $rc = 0 ] && ok "overwrite stops cleanly on SIGTERM" || bad "overwrite after SIGTERM: exit $rc"
expect 0 '^OK' -- "$S" verify dev.img --gen 1 --nonce $N --map dev.map
expect 1 'map of 16384 sectors, target has 8192' -- "$S" verify half.img --gen 1 --nonce $N --map dev.map
expect 2 'seed is required' -- "$S" overwrite dev.img --gen 2 --nonce $N --ops 1
expect 0 '^5: stamp lba=5 gen=' -- "$S" dump dev.img 5 2

echo "bsnap-stamp unit test: $passed passed, $failed failed"
[ "$failed" = 0 ]
