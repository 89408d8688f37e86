#!/usr/bin/env bash
# Builds the node agent's container image from Debian packages and the project's tarball, with no registry:
#   1. a root filesystem from Debian bookworm (mmdebstrap --variant=essential: no apt, no shell tools beyond the
#      Essential set) with the packages listed in packaging/image/packages, at the versions of packaging/image/packages.lock
#      when it exists (a rebuild from the same lock installs the same versions, or fails saying the mirror moved);
#      no documentation but the copyright files, no manual pages, locales, apt lists or caches;
#   2. the tarball (mvn -Ppackage package) unpacked to /opt/ambientctl: its Java 17 runtime (the jlink module list of
#      packaging/pom.xml), the jar, the launcher bin/ambientctl and cds.sh, the same as the tarball's; the class-data
#      archive and jffi's stub made now, in the image (its root file system is read-only at run time);
#   3. podman import, with the entrypoint, OCI labels (version, revision, created, source, licences) and the package
#      list as a label (io.ambientctl.image.packages) and as /opt/ambientctl/packages.lock.
# Tags: localhost/ambientctl:VERSION (and :latest with --latest). Push it where the DaemonSet's image points.
# usage: packaging/image/build.sh [--update-lock] [--tarball FILE] [--name NAME] [--latest]
#   --update-lock  take the mirror's current versions and rewrite packages.lock (then commit it)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
name=localhost/ambientctl
update=false latest=false tarball=
while [ $# -gt 0 ]; do
  case "$1" in
    --update-lock) update=true ;;
    --tarball) tarball=$2; shift ;;
    --name) name=$2; shift ;;
    --latest) latest=true ;;
    *) echo "usage: $0 [--update-lock] [--tarball FILE] [--name NAME] [--latest]" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$tarball" ]; then
  tarball=$(ls "$root"/packaging/target/ambientctl-*-linux-x86_64.tar.gz 2>/dev/null | head -n 1 || true)
fi
if [ -z "$tarball" ] || [ ! -f "$tarball" ]; then
  echo "build.sh: no tarball; build it first: mvn -B -Ppackage -DskipTests package" >&2
  exit 1
fi
tarball=$(readlink -f "$tarball")
version=$(basename "$tarball" | sed -e 's/^ambientctl-//' -e 's/-linux-x86_64\.tar\.gz$//')
for tool in mmdebstrap podman; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool missing: apt-get install mmdebstrap podman runc" >&2; exit 1; }
done
revision=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
# the root filesystem's time stamps: the commit's, so the same commit and lock give the same files
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
lock=$here/packages.lock
# in memory where there is some: unpacking ~100 packages on a busy disk (fsync, discard) takes minutes, not seconds
if [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=${TMPDIR:-/dev/shm}; fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ambientctl-image.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

wanted=$(grep -v '^#' "$here/packages" | xargs | tr ' ' ',')
if [ -f "$lock" ] && [ "$update" = false ]; then
  # every package at its locked version (apt takes name=version)
  include=$(grep -v '^#' "$lock" | xargs | tr ' ' ',')
else
  include=$wanted
fi
start=$(date +%s)
echo "build.sh: root filesystem (mmdebstrap bookworm, essential + $wanted) ..." >&2
# merged /usr made by mmdebstrap's hook, not by the usrmerge package (which pulls perl into the image)
mmdebstrap --quiet --variant=essential --include="$include" --format=tar \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --customize-hook="mkdir -p \"\$1/opt/ambientctl\" && tar -xzf '$tarball' -C \"\$1/opt/ambientctl\" --strip-components=1 --no-same-owner" \
  --customize-hook='ln -s /opt/ambientctl/bin/ambientctl "$1/usr/local/bin/ambientctl"' \
  --customize-hook='chroot "$1" /opt/ambientctl/bin/ambientctl --help >/dev/null' \
  --customize-hook='test -f "$1/opt/ambientctl/lib/ambientctl/ambientctl.jsa"' \
  --customize-hook="chroot \"\$1\" dpkg-query -W -f '\${Package}=\${Version}\n' | LC_ALL=C sort > '$tmp/packages.lock'" \
  --customize-hook="cp '$tmp/packages.lock' \"\$1/opt/ambientctl/packages.lock\"" \
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log "$1"/var/cache/ldconfig/aux-cache "$1"/tmp/* "$1"/root/.cache' \
  bookworm "$tmp/rootfs.tar" >&2
echo "build.sh: root filesystem made in $(( $(date +%s) - start )) s" >&2

if [ -f "$lock" ] && [ "$update" = false ]; then
  if ! diff -u <(grep -v '^#' "$lock") "$tmp/packages.lock" >&2; then
    echo "build.sh: the image's packages differ from packages.lock (above): the mirror no longer has the locked" \
      "versions. Rebuild with --update-lock to take the new ones, and commit packages.lock." >&2
    exit 1
  fi
else
  { echo "# The Debian packages (name=version) in the image, written by packaging/image/build.sh --update-lock;"
    echo "# build.sh installs exactly these and fails when the mirror no longer has them."
    cat "$tmp/packages.lock"; } > "$lock"
  echo "build.sh: wrote $lock ($(grep -vc '^#' "$lock") packages)" >&2
fi
pkgs=$(tr '\n' ' ' < "$tmp/packages.lock" | sed 's/ $//')
lockhash=$(sha256sum "$tmp/packages.lock" | cut -d' ' -f1)
# the file system's digest: every entry's name, type, mode, owner, time and content, but the class-data archive's
# content (Java 17 does not dump it the same twice); the same commit, tarball and lock give the same digest
rootfshash=$(python3 - "$tmp/rootfs.tar" <<'PY'
import hashlib, sys, tarfile
h = hashlib.sha256()
with tarfile.open(sys.argv[1]) as t:
    for m in sorted(t.getmembers(), key=lambda m: m.name):
        h.update(f'{m.name}|{m.type}|{m.mode}|{m.uid}|{m.gid}|{m.mtime}|{m.linkname}\n'.encode())
        if m.isfile() and not m.name.endswith('/ambientctl.jsa'):
            h.update(hashlib.sha256(t.extractfile(m).read()).digest())
print(h.hexdigest())
PY
)

old=$(podman image inspect --format '{{.Id}}' "$name:$version" 2>/dev/null || true)
podman import --quiet \
  --change 'ENTRYPOINT ["/opt/ambientctl/bin/ambientctl"]' \
  --change 'CMD ["agent"]' \
  --change 'ENV PATH=/opt/ambientctl/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'WORKDIR /' \
  --change "LABEL org.opencontainers.image.title=ambientctl" \
  --change "LABEL org.opencontainers.image.description=\"Istio ambient node redirection with eBPF or iptables: the node agent (ambientctl agent)\"" \
  --change "LABEL org.opencontainers.image.version=$version" \
  --change "LABEL org.opencontainers.image.revision=$revision" \
  --change "LABEL org.opencontainers.image.created=$created" \
  --change "LABEL org.opencontainers.image.source=https://github.com/ambientctl/ambientctl" \
  --change "LABEL org.opencontainers.image.licenses=Apache-2.0" \
  --change "LABEL org.opencontainers.image.base.name=debian:bookworm" \
  --change "LABEL io.ambientctl.image.packages.sha256=$lockhash" \
  --change "LABEL io.ambientctl.image.rootfs.sha256=$rootfshash" \
  --change "LABEL io.ambientctl.image.packages=\"$pkgs\"" \
  "$tmp/rootfs.tar" "$name:$version" >/dev/null
[ "$latest" = false ] || podman tag "$name:$version" "$name:latest"
new=$(podman image inspect --format '{{.Id}}' "$name:$version")
if [ -n "$old" ] && [ "$old" != "$new" ]; then
  podman rmi "$old" >/dev/null 2>&1 || true
fi
size=$(podman image inspect --format '{{.Size}}' "$name:$version")
echo "build.sh: $name:$version ($((size / 1000000)) MB, $(wc -l < "$tmp/packages.lock") Debian packages, root file system digest $rootfshash) in $(( $(date +%s) - start )) s" >&2
echo "$name:$version"
