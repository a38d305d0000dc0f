#!/usr/bin/env bash
# The packaging test (ctest guest.packages): the .debs from
# scripts/build-packages.sh installed in a real Debian 12 system booted in a
# QEMU guest (the cached debootstrap image of tests/vm/make-debroot).
#
#   tests/packaging/run.sh [--out DIR]
#
# 1. the image (built once, cached outside the repo), the .debs (built and
#    linted now), and a second kernel's .debs (linux-image/headers-6.12-amd64
#    of bookworm-security, downloaded on the host: the guest has no network);
# 2. suite install/ in the image's own kernel: install the .debs, DKMS builds
#    bsnap for that kernel; removal refused while a device is traced; install
#    the second kernel, DKMS builds bsnap for it by itself;
# 3. suite newkernel/ in the second kernel (same disk): load the module DKMS
#    built, take a snapshot and read it; purge, nothing left.
# Exits 0 only if everything passed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$repo/build/packages-test
while [ $# -gt 0 ]; do
	case "$1" in
	--out) out=$2; shift ;;
	*) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
cache=${BSNAP_VM_CACHE:-/var/tmp/bsnap-vm}
second_kernel_meta=${BSNAP_SECOND_KERNEL_META:-6.12-amd64}

t0=$SECONDS
timings=()
step() { # NAME: the time since the previous step goes to NAME
	timings+=("$(printf '%-28s %4d s' "$1" $((SECONDS - t_step)))")
	t_step=$SECONDS
}
report() {
	echo
	echo "=== packaging test timings"
	printf '%s\n' "${timings[@]}"
	printf '%-28s %4d s\n' total $((SECONDS - t0))
}
trap report EXIT
t_step=$SECONDS

# What this test needs beyond scripts/install-deps.sh (build-packages.sh
# installs its own build dependencies).
missing=()
for p in debootstrap qemu-utils e2fsprogs; do
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "=== installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 install --no-install-recommends "${missing[@]}"
fi

echo "=== the Debian image (tests/vm/make-debroot)"
debroot=$("$repo/tests/vm/make-debroot")
release_a=$(cat "$debroot/release")
step "image (make-debroot)"

echo "=== the packages (scripts/build-packages.sh --deb)"
"$repo/scripts/build-packages.sh" --deb --out "$out/packages"
debs=$out/packages/deb
step "build + lint .debs"

echo "=== the second kernel: linux-image-$second_kernel_meta and its headers"
# Resolved against the image's own package database, so that exactly what
# the image lacks is downloaded (the kernel, its headers, kbuild, their
# dependencies). The host's apt lists are used as they are.
kdebs=$cache/second-kernel-debs
mkdir -p "$kdebs/partial"
apt_image=(apt-get -q -y -o Debug::NoLocking=1 -o APT::Install-Recommends=false
	-o Dir::State::status="$debroot/tree/var/lib/dpkg/status" -o Dir::Cache::archives="$kdebs")
metas=("linux-image-$second_kernel_meta" "linux-headers-$second_kernel_meta")
if ! "${apt_image[@]}" install --download-only "${metas[@]}" >"$out/second-kernel-download.log" 2>&1; then
	cat "$out/second-kernel-download.log" >&2
	echo "run.sh: cannot download the second kernel (apt-get update first?)" >&2
	exit 1
fi
# The guest installs exactly this set: what a simulated install into the
# image would unpack ("Inst NAME (VERSION SUITE [ARCH])").
selected=$out/second-kernel
rm -rf "$selected"
mkdir -p "$selected"
release_b=
while read -r name ver arch; do
	f=${name}_${ver/:/%3a}_$arch.deb
	[ -f "$kdebs/$f" ] || { echo "run.sh: $f was not downloaded" >&2; exit 1; }
	ln -f "$kdebs/$f" "$selected/$f" 2>/dev/null || cp "$kdebs/$f" "$selected/$f"
	# (linux-image-6.12-amd64 is the metapackage; the image is 6.12.N+...)
	case "$name" in linux-image-[0-9]*.*.*) release_b=${name#linux-image-} image_deb=$f ;; esac
done < <("${apt_image[@]}" -s install "${metas[@]}" |
	sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*\[\([^]]*\)\])$/\1 \2 \3/p')
if [ -z "$release_b" ]; then
	echo "run.sh: linux-image-$second_kernel_meta names no kernel image the image lacks" >&2
	exit 1
fi
# The host boots that kernel from an unpacked copy; the guest uses its own
# installed copy of the modules (and the bsnap.ko DKMS builds there).
kroot=$cache/second-kernel-root/$release_b
if [ ! -f "$kroot/lib/modules/$release_b/modules.dep" ]; then
	rm -rf "$kroot"
	mkdir -p "$kroot"
	dpkg-deb -x "$kdebs/$image_deb" "$kroot"
	depmod -b "$kroot" "$release_b"
fi
echo "second kernel: $release_b ($(find "$selected" -name '*.deb' | wc -l) packages)"
step "second kernel download"

overlay=$out/root.qcow2
rm -f "$overlay"
qemu-img create -q -f qcow2 -F raw -b "$debroot/root.img" "$overlay"
# The packages are built from HEAD (build-packages.sh without --worktree).
version=$(git -C "$repo" show HEAD:module/version.h | sed -n 's/^#define BSNAP_VERSION "\(.*\)"$/\1/p')
common=(--root-image "$overlay" --out "$out/guest-runs"
	--env "BSNAP_VERSION=$version" --env "BSNAP_FIRST_KERNEL=$release_a"
	--env "BSNAP_SECOND_KERNEL=$release_b"
	--env-path "BSNAP_DEBS=$debs" --env-path "BSNAP_KERNEL_DEBS=$selected")

echo "=== guest, kernel $release_a: install, refuse removal, second kernel"
"$repo/tests/vm/bsnap-vm" "${common[@]}" --kernel-root "$debroot/tree" --kernel "$release_a" \
	--suite "$repo/tests/packaging/install"
step "guest: install suite"

echo "=== guest, kernel $release_b: load, snapshot, purge"
"$repo/tests/vm/bsnap-vm" "${common[@]}" --kernel-root "$kroot" --kernel "$release_b" \
	--suite "$repo/tests/packaging/newkernel"
step "guest: newkernel suite"
rm -f "$overlay"
echo "packaging test: passed"
