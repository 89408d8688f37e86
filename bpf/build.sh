#!/usr/bin/env bash
# Compiles every bpf/src/*.bpf.c into a BPF object with BTF: clang -O2 -g -target bpf.
# Usage: build.sh SRC_DIR OUT_DIR
set -euo pipefail
src=$1 out=$2
if ! command -v clang >/dev/null 2>&1; then
  echo "ERROR: clang is not installed; the eBPF programs cannot be compiled." >&2
  echo "       Install it with: apt-get install clang llvm libbpf-dev linux-libc-dev" >&2
  exit 1
fi
if [ ! -f /usr/include/bpf/bpf_helpers.h ]; then
  echo "ERROR: /usr/include/bpf/bpf_helpers.h is missing. Install it with: apt-get install libbpf-dev" >&2
  exit 1
fi
arch_inc=/usr/include/$(uname -m)-linux-gnu
mkdir -p "$out"
for c in "$src"/*.bpf.c; do
  o="$out/$(basename "${c%.c}").o"
  if [ "$o" -nt "$c" ] && [ "$o" -nt "$src/ambient.h" ]; then continue; fi
  clang -O2 -g -target bpf -Wall -Werror -I"$src" -I"$arch_inc" -c "$c" -o "$o"
  # keep the object deterministic in size: strip nothing, BTF is needed for maps and CO-RE
done
# The redirection without the monitor (no ring buffer: kernels < 5.8); the loader picks by a probe.
c="$src/redirect.bpf.c" o="$out/redirect-nomonitor.bpf.o"
if ! { [ "$o" -nt "$c" ] && [ "$o" -nt "$src/ambient.h" ]; }; then
  clang -O2 -g -target bpf -Wall -Werror -DAMBIENT_NO_MONITOR -I"$src" -I"$arch_inc" -c "$c" -o "$o"
fi
