#!/usr/bin/env bash
# The kernel's floor of the control plane (see tc_floor.c): N veth pairs in a throw-away namespace, both
# hooks of each host side attached and detached as tc filters and as TCX links by one C process.
# Usage (root): bench/floor/floor.sh [N]   (default 200); prints one JSON line; leaves nothing behind.
set -euo pipefail
n=${1:-200}
here=$(cd "$(dirname "$0")" && pwd)
bin=$(mktemp -d)
ns=floor-$$
trap 'ip netns del "$ns" 2>/dev/null || true; rm -rf "$bin"' EXIT
cc -O2 -o "$bin/tc_floor" "$here/tc_floor.c" -lbpf
ip netns add "$ns"
{
  for i in $(seq 1 "$n"); do echo "link add fh$i type veth peer name fp$i"; echo "link set fh$i up"; done
} | ip -n "$ns" -batch -
ifs=$(seq -f 'fh%g' 1 "$n")
# shellcheck disable=SC2086
ip netns exec "$ns" "$bin/tc_floor" $ifs
