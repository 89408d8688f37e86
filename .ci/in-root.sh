#!/bin/sh
# Runs inside a fresh Debian root file system made by .ci/packages.sh (as a hook of mmdebstrap): "deb" installs
# /ci/ambientctl.deb with apt, "tarball" tries the tarball unpacked read-only at /opt/ambientctl. Both try the
# commands an operator meets first, remove the package, and list what it left (nothing may be left).
set -eu
fail() { echo "ci: in-root: FAILED: $*" >&2; exit 1; }
say() { echo "ci: in-root: $*" >&2; }
snapshot() {
  find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /ci -o -path /tmp -o -path /var/lib/dpkg \
    -o -path /var/lib/apt -o -path /var/cache/apt -o -path /var/cache/debconf -o -path /var/log -o -path /opt/ambientctl \
    -o -path /etc/ld.so.cache -o -path /run \) -prune -o -print | LC_ALL=C sort
}
common() {  # $1: the command
  amb=$1
  out=$("$amb" version) || fail "version"
  echo "$out"
  echo "$out" | grep -q '^libbpf *v1' || fail "version does not show libbpf: $out"
  rc=0; out=$("$amb" preflight 2>&1) || rc=$?
  echo "$out" | tail -n 4
  # in a chroot some checks fail (exit 3); a crash (exit 1, a Java exception) is what must not happen
  [ "$rc" = 0 ] || [ "$rc" = 3 ] || fail "preflight exit $rc: $out"
  echo "$out" | grep -q '^CHECK' || fail "preflight printed no report"
  ! echo "$out" | grep -q 'Exception' || fail "preflight: $out"
  "$amb" agent --help | grep -q -- '--health-port' || fail "agent --help"
  "$amb" uninstall --dry-run >/dev/null || fail "uninstall --dry-run"
  say "version, preflight (exit $rc), agent --help, uninstall --dry-run: ok"
}

case "$1" in
deb)
  export DEBIAN_FRONTEND=noninteractive
  # the dependencies first, so that what the package itself leaves can be listed
  deps=$(dpkg-deb -f /ci/ambientctl.deb Depends Recommends | sed -e 's/^[A-Za-z]*: //' | tr ',\n' '  ')
  # shellcheck disable=SC2086
  apt-get install -y -qq $deps >/dev/null
  before=$(snapshot)
  apt-get install -y -qq /ci/ambientctl.deb >/dev/null
  [ -f /var/cache/ambientctl/ambientctl.jsa ] || fail "postinst made no class-data archive"
  common ambientctl
  zcat /usr/share/man/man1/ambientctl-agent.1.gz | grep -q '^\.TH' || fail "man page"
  bash -c '. /usr/share/bash-completion/completions/ambientctl && complete -p ambientctl' || fail "bash completion"
  test -f /usr/share/zsh/vendor-completions/_ambientctl || fail "zsh completion"
  test -f /usr/share/doc/ambientctl/copyright && test -f /usr/share/doc/ambientctl/changelog.gz || fail "doc files"
  say "man page, completions, copyright, changelog: ok"
  # prerm refuses to remove the package while a workload is enrolled, and says what to do
  mkdir -p /var/lib/ambientctl
  printf '{"mode":"ebpf","workloads":[{"name":"p","netns":"/var/run/netns/p"}]}' > /var/lib/ambientctl/state.json
  if out=$(dpkg -r ambientctl 2>&1); then fail "dpkg -r removed the package while a workload is enrolled"; fi
  echo "$out" | grep -q 'ambientctl unenroll --all' || fail "prerm did not say what to do: $out"
  echo "$out" | grep 'ambientctl:' | head -n 4
  dpkg -s ambientctl >/dev/null || fail "the package is gone after the refusal"
  # an upgrade (here: the same version again; prerm is called with "upgrade") never refuses
  dpkg -i /ci/ambientctl.deb >/dev/null 2>&1 || fail "dpkg -i over an installed package refused while enrolled"
  rm /var/lib/ambientctl/state.json
  say "prerm refused removal while enrolled, with the way out, and let an upgrade through: ok"
  dpkg --purge ambientctl >/dev/null
  ;;
tarball)
  ! command -v java >/dev/null && [ ! -d /usr/lib/jvm ] || fail "Java is installed: the tarball must not need it"
  ! touch /opt/ambientctl/probe 2>/dev/null || fail "/opt/ambientctl is writable"
  before=$(snapshot)
  rt=/opt/ambientctl/lib/ambientctl/runtime
  grep -q '^JAVA_VERSION="17' $rt/release || fail "the runtime is not Java 17: $(grep JAVA_VERSION $rt/release)"
  grep '^MODULES=' $rt/release | grep -q 'jdk.httpserver' || fail "the runtime lacks jdk.httpserver"
  export HOME=/root
  cd /
  err=$(/opt/ambientctl/bin/ambientctl version 2>&1 >/dev/null) || fail "first run: $err"
  echo "$err"
  echo "$err" | grep -q "in /root/.cache/ambientctl/" || fail "the first run did not say where it made the archive"
  # the archive is used: -Xshare:on fails when it cannot be mapped
  AMBIENTCTL_JAVA_OPTS=-Xshare:on /opt/ambientctl/bin/ambientctl version >/dev/null 2>&1 || fail "archive not usable"
  # the heap on transparent huge pages where the kernel offers them, and not with AMBIENTCTL_THP=off
  thp_flag() { AMBIENTCTL_JAVA_OPTS=-XX:+PrintFlagsFinal "$@" /opt/ambientctl/bin/ambientctl version 2>/dev/null \
    | awk '$2 == "UseTransparentHugePages" { print $4 }'; }
  if grep -qE '\[(always|madvise)\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null; then
    [ "$(thp_flag env)" = true ] || fail "the launcher did not put the heap on transparent huge pages"
  fi
  [ "$(thp_flag env AMBIENTCTL_THP=off)" = false ] || fail "AMBIENTCTL_THP=off did not leave huge pages out"
  common /opt/ambientctl/bin/ambientctl
  # nowhere to put jffi's stub: the error names it, not libbpf
  out=$(cd /opt/ambientctl && HOME=/nonexistent XDG_CACHE_HOME=/nonexistent AMBIENTCTL_CDS=off \
        AMBIENTCTL_JAVA_OPTS=-Djava.io.tmpdir=/nonexistent /opt/ambientctl/bin/ambientctl version 2>&1 || true)
  echo "$out" | grep -q "jnr-ffi's native stub" || fail "no writable tmpdir: $out"
  ! echo "$out" | grep -q 'apt-get install libbpf1' || fail "no writable tmpdir blamed on libbpf: $out"
  rc=0; out=$(cd /opt/ambientctl && HOME=/nonexistent XDG_CACHE_HOME=/nonexistent AMBIENTCTL_CDS=off \
        AMBIENTCTL_JAVA_OPTS=-Djava.io.tmpdir=/nonexistent /opt/ambientctl/bin/ambientctl preflight 2>&1) || rc=$?
  ! echo "$out" | grep -q 'UnsatisfiedLinkError\|Exception in' || fail "preflight without a tmpdir: $out"
  say "no writable tmpdir: version and preflight (exit $rc) name jffi's stub: ok"
  # the agent's health server (jdk.httpserver) starts in this runtime
  out=$(timeout 6 /opt/ambientctl/bin/ambientctl agent --health-port 0 --node ci 2>&1 || true)
  ! echo "$out" | grep -q 'NoClassDefFoundError' || fail "agent: $out"
  zcat /opt/ambientctl/share/man/man1/ambientctl-agent.1.gz | grep -q '^\.TH' || fail "man page"
  bash -c '. /opt/ambientctl/share/bash-completion/completions/ambientctl && complete -p ambientctl' || fail "completion"
  test -f /opt/ambientctl/share/doc/ambientctl/copyright || fail "copyright"
  say "agent starts (no NoClassDefFoundError), man page, completion, copyright: ok"
  # removing it (packaging/README.md): uninstall, then the directory, the state and the cache
  /opt/ambientctl/bin/ambientctl uninstall >/dev/null || fail "uninstall"
  rm -rf /var/lib/ambientctl /root/.cache/ambientctl
  rmdir /root/.cache 2>/dev/null || true
  ;;
*) fail "usage: in-root.sh deb|tarball" ;;
esac
# preflight's throw-away namespace made iproute2 mount /run/netns (a tmpfs, shared) in this root: not ours to keep
while umount /run/netns 2>/dev/null; do :; done
after=$(snapshot)
left=$(printf '%s\n' "$before" "$before" "$after" | LC_ALL=C sort | uniq -u)
[ -z "$left" ] || fail "left behind after removal: $left"
say "$1: removed, nothing left behind"
