#!/usr/bin/env bash
# CI: builds the node agent's image (packaging/image/build.sh, from the tarball in packaging/target) and runs it as the
# DaemonSet would: the options come from packaging/kubernetes/daemonset.yaml (packaging/image/podman-args.py: host
# network and PID namespace, drop ALL + the listed capabilities, read-only root, the hostPath mounts, the env). Against
# a lab on the host (network namespaces; the container sees them through the /var/run/netns and /sys/fs/bpf mounts):
#   * preflight passes inside the container (exit 0);
#   * from inside, ztunnel set and enroll a lab Pod; traffic sent on the host from that Pod is captured by the
#     lab's ztunnel stand-in (lab status on the host); unenroll and uninstall from inside, nothing left;
#   * the agent, from the image's launcher with its class-data archive, against fabric8's API server for tests run
#     as a process beside it (AGENT_PODS Pods, default 1,000, on a lab of as many pods): all enrolled and annotated,
#     /readyz 200, traffic captured, its RSS and peak RSS under the DaemonSet's memory limit reported; stopped with
#     SIGTERM it leaves every workload redirected (status verified on the host).
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
api= work=
cleanup() {
  "${engine[@]}" rm -f -t 0 "$agent" >/dev/null 2>&1 || true
  [ -z "$api" ] || kill "$api" 2>/dev/null || true
  host --lab "$lab" uninstall >/dev/null 2>&1 || true
  host lab down --name "$lab" >/dev/null 2>&1 || true
  [ -z "$work" ] || rm -rf "$work"
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

# The agent against an API server: fabric8's API server for tests as a process of its own (MockApiServer, from the
# test classes: CRUD with watches) holding an ambient namespace with one Pod per pod of a lab of AGENT_PODS pods on
# the host; the image's agent, with the DaemonSet's context and args (plus --lab and a kubeconfig for that server),
# enrolls and annotates them all. Its peak RSS with that many workloads is what sizes the DaemonSet's memory limit
# (the container runs under that limit: an agent that outgrows it is killed and this step fails).
agent_pods=${AGENT_PODS:-1000}
echo "ci: image: the agent against fabric8's API server for tests, $agent_pods Pods (the DaemonSet's args: ${args[*]})"
port=$(printf '%s\n' "${args[@]}" | sed -n '/--health-port/{n;p}')
if ss -Hltn "sport = :$port" | grep -q .; then
  echo "ci: image: port $port is taken on this host; cannot run the agent with the DaemonSet's port" >&2; exit 1
fi
t_lab=$(date +%s)
host lab up --name "$lab" --pods "$agent_pods" >/dev/null
echo "ci: image: lab $lab with $agent_pods pods up in $(( $(date +%s) - t_lab )) s"
work=$(mktemp -d)
# core's test classpath, as the build wrote it (core/pom.xml: target/test-classpath.txt)
[ -f core/target/test-classpath.txt ] || { echo "ci: image: no core/target/test-classpath.txt: run mvn verify (or test-compile) first" >&2; exit 1; }
java -cp "core/target/test-classes:core/target/classes:$(cat core/target/test-classpath.txt)" \
  io.ambientctl.testing.MockApiServer "$lab" "$agent_pods" "$work/kubeconfig" >"$work/api.log" 2>&1 &
api=$!
for _ in $(seq 1 240); do grep -q '^mock API server' "$work/api.log" && break; kill -0 $api || break; sleep 0.5; done
grep '^mock API server' "$work/api.log" || { cat "$work/api.log" >&2; echo "ci: image: the API server did not start" >&2; exit 1; }
chmod 0644 "$work/kubeconfig"
t_agent=$(date +%s)
"${engine[@]}" run -d --name "$agent" "${limits[@]}" "${opts[@]}" --volume "$work/kubeconfig:/etc/ambientctl-ci/kubeconfig:ro" \
  "$img" --lab "$lab" --kubeconfig /etc/ambientctl-ci/kubeconfig "${args[@]}" >/dev/null
pid=$("${engine[@]}" inspect --format '{{.State.Pid}}' "$agent")
for _ in $(seq 1 600); do
  grep -q '^all annotated' "$work/api.log" && break
  [ "$("${engine[@]}" inspect --format '{{.State.Status}}' "$agent")" = running ] || break
  sleep 0.5
done
t_all=$(( $(date +%s) - t_agent ))
state=$("${engine[@]}" inspect --format '{{.State.Status}} (OOM killed: {{.State.OOMKilled}})' "$agent")
if ! grep -q '^all annotated' "$work/api.log"; then
  "${engine[@]}" logs "$agent" 2>&1 | tail -20; grep '^annotated' "$work/api.log" | tail -3
  echo "ci: image: the agent did not enroll and annotate all $agent_pods Pods within 5 min; agent $state" >&2; exit 1
fi
# ready: listed, reconciled once and its first kernel check of the 1,000 done (the agent's own pace)
code=000
for _ in $(seq 1 240); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)
  [ "$code" = 200 ] && break
  sleep 0.5
done
t_ready=$(( $(date +%s) - t_agent ))
# the JVM: the container's main process or its child (the launcher may exec it)
jpid=$(ps -o pid=,comm= --ppid "$pid" -p "$pid" | awk '$2 == "java" {print $1; exit}')
hwm=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$jpid/status")
rss=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$jpid/status")
limit=$(printf '%s\n' "${opts[@]}" | sed -n 's/^--memory=//p')
echo "ci: image: agent $state: $agent_pods Pods enrolled and annotated ${t_all} s after its start; GET /readyz -> $code" \
  "(${t_ready} s);"\
  "RSS ${rss} MB, peak ${hwm} MB (limit ${limit:-none})"
[ "$code" = 200 ] || { "${engine[@]}" logs "$agent" 2>&1 | tail -20; echo "ci: image: the agent is not ready" >&2; exit 1; }
# its metrics, on the DaemonSet's --metrics-address, as Prometheus scrapes them: promtool accepts them, and they count
# the 1,000 workloads
maddr=$(printf '%s\n' "${args[@]}" | sed -n '/--metrics-address/{n;p}')
curl -sf "http://127.0.0.1:${maddr##*:}/metrics" >"$work/metrics" || { echo "ci: image: no metrics on $maddr" >&2; exit 1; }
promtool check metrics <"$work/metrics" || { echo "ci: image: promtool rejects the agent's metrics" >&2; exit 1; }
enrolled=$(awk '$1 == "ambientctl_workloads_enrolled" {print int($2)}' "$work/metrics")
echo "ci: image: metrics on $maddr: promtool ok, ambientctl_workloads_enrolled $enrolled, $(wc -l <"$work/metrics") lines"
[ "$enrolled" = "$agent_pods" ] || { echo "ci: image: the metrics count $enrolled workloads, not $agent_pods" >&2; exit 1; }
# traffic between two of those Pods goes through the lab's ztunnel stand-in
reply=$(nsenter --net="/var/run/netns/$lab-p1" timeout 5 bash -c \
  'exec 3<>/dev/tcp/10.77.0.12/8080; echo ci >&3; IFS= read -r -t 3 line <&3; printf "%s" "$line"' || true)
host lab status --name "$lab" -o json | grep -q '"originalDestination" *: *"10.77.0.12:8080"' \
  || { echo "ci: image: the agent's enrollment captured nothing (answer: $reply)" >&2; exit 1; }
# SIGTERM (a rolling update, a node drain): the agent stops and leaves the redirection in place
"${engine[@]}" stop -t 20 "$agent" >/dev/null
"${engine[@]}" logs "$agent" 2>&1 | tail -2
verified=$(host --lab "$lab" status -o json | grep -o '"verified" *: *true' | wc -l)
echo "ci: image: after the agent stopped, $verified workloads verified by the host's status"
[ "$verified" -ge "$agent_pods" ] || { echo "ci: image: the agent's stop changed the redirection" >&2; exit 1; }
"${engine[@]}" rm -f "$agent" >/dev/null
kill $api; wait $api 2>/dev/null || true
api=
host --lab "$lab" uninstall >/dev/null
host lab down --name "$lab" >/dev/null
echo "ci: image: ok ($img, $((size / 1000000)) MB; build ${t_build} s; all $(( $(date +%s) - t0 )) s)"
