#!/usr/bin/env bash
# Builds bsnap's distro packages from this source tree and lints them:
#   Debian (packaging/deb): bsnap-dkms, bsnap-utils   -> build-packages/deb/
#   RPM (packaging/rpm/bsnap.spec): dkms-bsnap, bsnap-utils -> build-packages/rpm/
# Installs its own build dependencies with apt-get (run as root, or with sudo).
# The version is BSNAP_VERSION of module/version.h.
#
#   scripts/build-packages.sh [--deb] [--rpm] [--no-lint] [--worktree] [--out DIR]
#
# With neither --deb nor --rpm it builds both. The source is the commit HEAD
# (git archive); --worktree takes the working tree instead (tracked files as
# they are now, plus new files that are not ignored). Exits nonzero if a build
# fails or lintian/rpmlint report an error or a warning not overridden.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

want_deb=0 want_rpm=0 lint=1 worktree=0
out=${BSNAP_PKG_OUT:-$src/build-packages}
while [ $# -gt 0 ]; do
	case "$1" in
	--deb) want_deb=1 ;;
	--rpm) want_rpm=1 ;;
	--no-lint) lint=0 ;;
	--worktree) worktree=1 ;;
	--out) out=$2; shift ;;
	-h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "build-packages: unknown argument '$1' (see --help)" >&2; exit 64 ;;
	esac
	shift
done
if [ $want_deb -eq 0 ] && [ $want_rpm -eq 0 ]; then want_deb=1 want_rpm=1; fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

if [ $worktree -eq 1 ]; then
	version_h=$(cat module/version.h)
else
	version_h=$(git show HEAD:module/version.h)
fi
version=$(sed -n 's/^#define BSNAP_VERSION "\(.*\)"$/\1/p' <<<"$version_h")
[ -n "$version" ] || { echo "build-packages: no BSNAP_VERSION in module/version.h" >&2; exit 1; }

# --- build dependencies ------------------------------------------------------
deps=(build-essential cmake pkg-config libblkid-dev libboost-program-options-dev libmount-dev
	libsystemd-dev nlohmann-json3-dev zlib1g-dev git)
[ $want_deb -eq 1 ] && deps+=(debhelper dh-dkms dpkg-dev fakeroot)
[ $want_rpm -eq 1 ] && deps+=(rpm)
if [ $lint -eq 1 ]; then
	[ $want_deb -eq 1 ] && deps+=(lintian)
	[ $want_rpm -eq 1 ] && deps+=(rpmlint)
fi
missing=()
for p in "${deps[@]}"; do
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "build-packages: installing ${missing[*]}"
	sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q update
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 \
		install --no-install-recommends "${missing[@]}"
fi

# --- the source, as a clean copy ---------------------------------------------
# HEAD, or with --worktree the files git knows or would add: never build
# directories or editor leftovers, and by default nothing uncommitted.
stage() { # DIR: copy the source tree into DIR
	rm -rf "$1"
	mkdir -p "$1"
	if [ $worktree -eq 0 ]; then
		# (tar.umask 0022: git archive's default 0002 leaves files
		# group-writable, which rpmlint reports as strange-permission)
		git -C "$src" -c tar.umask=0022 archive --format=tar HEAD | tar -C "$1" -xf -
		return
	fi
	git -C "$src" ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do [ -e "$src/$f" ] && printf '%s\0' "$f"; done |
		tar -C "$src" --null -T - -cf - | tar -C "$1" -xf -
}

failed=()
lint_problems=()

# --- Debian -------------------------------------------------------------------
if [ $want_deb -eq 1 ]; then
	echo "=== deb: bsnap $version"
	deb_out=$out/deb
	rm -rf "$deb_out"
	mkdir -p "$deb_out"
	tree=$deb_out/bsnap-$version
	stage "$tree"
	cp -r "$tree/packaging/deb" "$tree/debian"
	DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}"
	export DEB_BUILD_OPTIONS
	if (cd "$tree" && dpkg-buildpackage -us -uc -b) >"$deb_out/build.log" 2>&1; then
		rm -rf "$tree"
		ls -1 "$deb_out"/*.deb
		if [ $lint -eq 1 ]; then
			echo "=== lintian"
			if ! lintian --fail-on error,warning --info --display-info "$deb_out"/*.changes; then
				lint_problems+=(lintian)
			fi
		fi
	else
		tail -n 40 "$deb_out/build.log" >&2
		echo "build-packages: the Debian build failed; its log: $deb_out/build.log" >&2
		failed+=(deb)
	fi
fi

# --- RPM ----------------------------------------------------------------------
if [ $want_rpm -eq 1 ]; then
	echo "=== rpm: bsnap $version"
	rpm_top=$out/rpmbuild
	rm -rf "$rpm_top" "$out/rpm"
	mkdir -p "$rpm_top/SOURCES" "$out/rpm"
	stage "$rpm_top/bsnap-$version"
	spec_version=$(sed -n 's/^Version:[[:space:]]*//p' "$rpm_top/bsnap-$version/packaging/rpm/bsnap.spec")
	if [ "$spec_version" != "$version" ]; then
		echo "build-packages: bsnap.spec says Version: $spec_version but module/version.h $version" >&2
		exit 1
	fi
	tar -C "$rpm_top" -czf "$rpm_top/SOURCES/bsnap-$version.tar.gz" "bsnap-$version"
	# --nodeps: the spec's BuildRequires name Fedora/RHEL packages, which the
	# rpm database of a Debian machine does not have; the same libraries are
	# installed above as Debian packages.
	if rpmbuild --nodeps -ba --define "_topdir $rpm_top" "$rpm_top/bsnap-$version/packaging/rpm/bsnap.spec" >"$out/rpm/build.log" 2>&1; then
		find "$rpm_top/RPMS" "$rpm_top/SRPMS" -name '*.rpm' -exec mv -t "$out/rpm" {} +
		ls -1 "$out/rpm"/*.rpm
		if [ $lint -eq 1 ]; then
			echo "=== rpmlint"
			rpm_dir=$rpm_top/bsnap-$version/packaging/rpm
			# rpmlint exits 0 on warnings: they fail the build too. (Not
			# --strict: it reports every message as E:, so the filters,
			# which name the level, would no longer match.)
			rc=0
			rpmlint -c "$rpm_dir/rpmlint.toml" -r "$rpm_dir/bsnap.rpmlintrc" \
				"$out/rpm"/*.rpm "$rpm_top/bsnap-$version/packaging/rpm/bsnap.spec" >"$out/rpm/rpmlint.log" 2>&1 || rc=$?
			cat "$out/rpm/rpmlint.log"
			if [ $rc -ne 0 ] || grep -q ': W: ' "$out/rpm/rpmlint.log"; then
				lint_problems+=(rpmlint)
			fi
		fi
	else
		tail -n 40 "$out/rpm/build.log" >&2
		echo "build-packages: the RPM build failed; its log: $out/rpm/build.log" >&2
		failed+=(rpm)
	fi
fi

if [ ${#failed[@]} -gt 0 ] || [ ${#lint_problems[@]} -gt 0 ]; then
	echo "build-packages: FAILED:${failed[*]:+ build: ${failed[*]}}${lint_problems[*]:+ lint: ${lint_problems[*]}}" >&2
	exit 1
fi
echo "build-packages: packages in $out"
