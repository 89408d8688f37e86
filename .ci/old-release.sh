#!/usr/bin/env bash
# Builds the previous release (git tag v0.1.0 by default, or $1) into a directory of its own, once per commit
# (cached under ${TMPDIR:-/tmp}), for the upgrade test (UpgradeKernelTest); prints the path of its CLI jar.
# Fails with what to do when the tag is not in this checkout (a shallow or tagless clone).
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-v0.1.0}
# v0.1.0 is main's commit 4faf078: a clone without tags still has it in its history
declare -A known=([v0.1.0]=4faf078ccbf147e71749c557a628e34dab67388b)
if ! commit=$(git rev-parse -q --verify "$tag^{commit}") && ! commit=$(git rev-parse -q --verify "${known[$tag]:-none}^{commit}"); then
  echo "old-release: the previous release's tag $tag is not in this checkout; the upgrade test installs it first." >&2
  echo "old-release: fetch it (git fetch --tags origin, or clone without --depth) and run again." >&2
  exit 1
fi
dir=${TMPDIR:-/tmp}/ambientctl-release-$commit
jar=$dir/cli/target/ambientctl.jar
if [ ! -f "$jar" ]; then
  work=$(mktemp -d "${TMPDIR:-/tmp}/ambientctl-release-build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  git archive "$commit" | tar -x -C "$work"
  echo "old-release: building $tag ($commit) in $work" >&2
  # offline first (the dependencies are this build's too); online when something is missing
  if ! (cd "$work" && mvn -B -q -o -DskipTests package >&2); then
    (cd "$work" && mvn -B -q -DskipTests package >&2)
  fi
  rm -rf "$dir"
  mv "$work" "$dir"
  trap - EXIT
fi
echo "$jar"
