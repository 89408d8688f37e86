#!/usr/bin/env bash
# CI, packages: builds the .deb and the tarball (mvn -Ppackage), runs lintian on the .deb (no errors allowed), then
# installs each into a fresh Debian bookworm root file system (mmdebstrap, in memory) and tries it there:
#   * the .deb with apt (its dependencies from the mirror): version, preflight (no crash; exit 0 or 3 in a chroot),
#     agent --help, the man page, the bash completion; prerm refuses while a workload is recorded as enrolled;
#     dpkg --purge; then lists what the package left behind (nothing);
#   * the tarball, with no Java installed (libbpf1 only), unpacked into a READ-ONLY directory: the class-data archive
#     goes to ~/.cache/ambientctl and the launcher says so; with no writable tmpdir the error names jffi's stub, not
#     libbpf; version, preflight, agent --help, the man page, the completion; removed, nothing left.
# usage: .ci/packages.sh [--no-build] [--only deb|tarball]
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
build=true only=
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=false ;;
    --only) only=$2; shift ;;
    *) echo "usage: $0 [--no-build] [--only deb|tarball]" >&2; exit 2 ;;
  esac
  shift
done
t_deb=- t_tar=-
if $build; then
  mvn -B -q -Ppackage -DskipTests package
fi
deb=$(ls packaging/target/ambientctl_*_amd64.deb)
tarball=$(ls packaging/target/ambientctl-*-linux-x86_64.tar.gz)
t_build=$(( $(date +%s) - t0 ))
echo "ci: packages: built $(basename "$deb") ($(( $(stat -c %s "$deb") / 1000000 )) MB), $(basename "$tarball") ($(( $(stat -c %s "$tarball") / 1000000 )) MB) in ${t_build} s"

t=$(date +%s)
echo "ci: packages: lintian $(basename "$deb")"
lintian --fail-on error "$deb"   # warnings are shown, errors fail
t_lintian=$(( $(date +%s) - t ))

if [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=${TMPDIR:-/dev/shm}; fi
work=$(mktemp -d "${TMPDIR:-/tmp}/ambientctl-ci.XXXXXX")
cleanup() {
  # anything a failed step left mounted in the root file systems, then the files
  awk -v w="$work/" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cp "$deb" "$work/ambientctl.deb"
cp "$tarball" "$work/ambientctl.tar.gz"
cp .ci/in-root.sh "$work/in-root.sh"

# every check runs inside the root file system, as a hook of mmdebstrap (which mounts /proc, /sys and /dev for it);
# the file system itself is thrown away (--format=null would keep nothing either; a directory lets us list leftovers)
if [ "$only" != tarball ]; then
t=$(date +%s)
echo "ci: packages: the .deb in a fresh Debian (mmdebstrap minbase, apt install ./ambientctl.deb)"
mmdebstrap --quiet --variant=minbase --include=ca-certificates --format=directory \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --customize-hook="mkdir -p \"\$1/ci\" && cp '$work/ambientctl.deb' '$work/in-root.sh' \"\$1/ci/\"" \
  --customize-hook='chroot "$1" sh /ci/in-root.sh deb' \
  bookworm "$work/deb-root" >&2
rm -rf "$work/deb-root"
t_deb=$(( $(date +%s) - t ))
fi

if [ "$only" != deb ]; then
t=$(date +%s)
echo "ci: packages: the tarball in a fresh Debian without Java (mmdebstrap minbase + libbpf1), read-only"
mmdebstrap --quiet --variant=minbase --include=libbpf1,iproute2 --format=directory \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --customize-hook="mkdir -p \"\$1/ci\" && cp '$work/ambientctl.tar.gz' '$work/in-root.sh' \"\$1/ci/\"" \
  --customize-hook='mkdir -p "$1/opt/ambientctl" && mount --bind "$1/opt/ambientctl" "$1/opt/ambientctl"' \
  --customize-hook='tar -xzf "$1/ci/ambientctl.tar.gz" -C "$1/opt/ambientctl" --strip-components=1 --no-same-owner' \
  --customize-hook='mount -o remount,bind,ro "$1/opt/ambientctl"' \
  --customize-hook='rc=0; chroot "$1" sh /ci/in-root.sh tarball || rc=$?; umount "$1/opt/ambientctl"; exit $rc' \
  bookworm "$work/tar-root" >&2
rm -rf "$work/tar-root"
t_tar=$(( $(date +%s) - t ))
fi
echo "ci: packages: ok (build ${t_build} s, lintian ${t_lintian} s, .deb in Debian ${t_deb} s, tarball in Debian ${t_tar} s;" \
  "all $(( $(date +%s) - t0 )) s)"
