#!/usr/bin/env bash
# CI: builds the node agent's image (packaging/image/build.sh, from the tarball in packaging/target) and runs it as the
# DaemonSet would: the options come from packaging/kubernetes/daemonset.yaml (packaging/image/podman-args.py: host
# network and PID namespace, drop ALL + the listed capabilities, read-only root, the hostPath mounts, the env). Against
# a lab on the host (network namespaces; the container sees them through the /var/run/netns and /sys/fs/bpf mounts):
#   * preflight passes inside the container (exit 0);
#   * from inside, ztunnel set and enroll a lab Pod; traffic sent on the host from that Pod is captured by the
#     lab's ztunnel stand-in (lab status on the host); unenroll and uninstall from inside, nothing left;
#   * the agent starts from the image's launcher with its class-data archive, its health server answers on the
#     DaemonSet's port (503 "not live": there is no API server here, so it never lists; it exits after its sync
#     timeout); its RSS is reported.
# The podman invocation (runc, cgroupfs, ulimits) is this machine's, not part of the translation.
# usage: .ci/image.sh [--no-build | build.sh options]
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
if [ "${1:-}" = --no-build ]; then
  # the image built before, of this tarball's version
  img=localhost/ambientctl:$(ls packaging/target/ambientctl-*-linux-x86_64.tar.gz | sed -e 's/.*ambientctl-//' -e 's/-linux-x86_64.tar.gz$//')
else
  img=$(bash packaging/image/build.sh "$@")
fi
t_build=$(( $(date +%s) - t0 ))
size=$(podman image inspect --format '{{.Size}}' "$img")
echo "ci: image: $img, $((size / 1000000)) MB, built in ${t_build} s"

opts=() args=() after=false
while IFS= read -r l; do
  if $after; then args+=("$l"); continue; fi
  case "$l" in
    --) after=true ;;
    "#mkdir "*) mkdir -p "${l#\#mkdir }" ;;
    "#touch "*) touch "${l#\#touch }" ;;
    *) opts+=("$l") ;;
  esac
done < <(python3 packaging/image/podman-args.py packaging/kubernetes/daemonset.yaml)
echo "ci: image: the DaemonSet's context as podman options: ${opts[*]}"
engine=(podman --runtime runc --cgroup-manager cgroupfs)
limits=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
run() { "${engine[@]}" run --rm "${limits[@]}" "${opts[@]}" "$img" "$@"; }
host() { java -jar cli/target/ambientctl.jar "$@"; }

lab=ci$$
agent=ambientctl-ci-agent-$$
cleanup() {
  "${engine[@]}" rm -f -t 0 "$agent" >/dev/null 2>&1 || true
  host lab down --name "$lab" >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "ci: image: preflight inside the container"
run preflight

echo "ci: image: lab $lab on the host; ztunnel set and enroll from inside the container"
host lab up --name "$lab" --pods 2 >/dev/null
run --lab "$lab" ztunnel set --netns "$lab-zt"
run --lab "$lab" enroll --netns "$lab-p1"
# a connection from lab Pod 1 to Pod 2, on the host: the redirection installed from the container captures it
reply=$(nsenter --net="/var/run/netns/$lab-p1" timeout 5 bash -c \
  'exec 3<>/dev/tcp/10.77.0.12/8080; echo ci >&3; IFS= read -r -t 3 line <&3; printf "%s" "$line"' || true)
echo "ci: image: $lab-p1 -> 10.77.0.12:8080 answered: $reply"
captures=$(host lab status --name "$lab" -o json)
echo "$captures" | grep -q '"originalDestination" *: *"10.77.0.12:8080"' \
  || { echo "ci: image: the ztunnel stand-in captured nothing: $captures" >&2; exit 1; }
host lab status --name "$lab"
run --lab "$lab" status
run --lab "$lab" unenroll --netns "$lab-p1"
run --lab "$lab" uninstall
left=$(ls "/sys/fs/bpf/ambientctl-lab-$lab" 2>/dev/null || true)
[ -z "$left" ] || { echo "ci: image: left under /sys/fs/bpf/ambientctl-lab-$lab: $left" >&2; exit 1; }
host lab down --name "$lab" >/dev/null

echo "ci: image: the agent (the DaemonSet's args: ${args[*]})"
port=$(printf '%s\n' "${args[@]}" | sed -n '/--health-port/{n;p}')
if ss -Hltn "sport = :$port" | grep -q .; then
  echo "ci: image: port $port is taken on this host; cannot run the agent with the DaemonSet's port" >&2; exit 1
fi
"${engine[@]}" run -d --name "$agent" "${limits[@]}" "${opts[@]}" "$img" "${args[@]}" >/dev/null
code=000
for _ in $(seq 1 40); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz" || true)
  [ "$code" = 000 ] || break
  sleep 0.5
done
body=$(curl -s "http://127.0.0.1:$port/healthz" || true)
state=$("${engine[@]}" inspect --format '{{.State.Status}}' "$agent")
pid=$("${engine[@]}" inspect --format '{{.State.Pid}}' "$agent")
rss=$(ps -o rss= --ppid "$pid" -p "$pid" | awk '{s+=$1} END {print int(s/1024)}')
echo "ci: image: agent $state; GET 127.0.0.1:$port/healthz -> $code $body; RSS ${rss} MB"
"${engine[@]}" logs "$agent" 2>&1 | tail -5
[ "$state" = running ] && [ "$code" != 000 ] || { echo "ci: image: the agent did not start or answer" >&2; exit 1; }
"${engine[@]}" rm -f -t 10 "$agent" >/dev/null
echo "ci: image: ok ($img, $((size / 1000000)) MB; build ${t_build} s; all $(( $(date +%s) - t0 )) s)"
