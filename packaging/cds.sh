#!/bin/sh
# Creates the class-data sharing (AppCDS) archive of ambientctl's CLI: runs local commands once to list the
# classes they load, then dumps a static archive of them (JDK and application classes) that later runs
# map instead of loading and verifying each class again. An archive belongs to one Java runtime and one
# jar: make it again when either changes (the launchers do; a mismatched archive is ignored).
# It also leaves jffi's native stub (libjffi-1.2.so, the JNI half of jnr-ffi, extracted from this jar) next to
# the archive, replacing an older one, so that the launchers load it from there (-Djffi.boot.library.path)
# instead of jffi extracting it from the jar into a temporary file and checking its digest on every start.
# usage: cds.sh JAVA JAR ARCHIVE
set -eu
java=$1 jar=$2 archive=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dir=$(dirname "$archive")
mkdir -p "$dir" "$tmp/native"
opts="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
n=0
for args in "--help" "version -o json" "version" "status -o json" "mode show -o yaml" "status" "completion bash" \
            "enroll --help" "inspect maps -o json"; do
  n=$((n + 1))
  # shellcheck disable=SC2086 # opts and args are words
  "$java" $opts -Djffi.extract.dir="$tmp/native" -Djffi.extract.name=libjffi-1.2.so -Xshare:off \
    -XX:DumpLoadedClassList="$tmp/$n.lst" -jar "$jar" --state-dir "$tmp/state" $args >/dev/null 2>"$tmp/$n.err" || true
done
if ! ls "$tmp"/*.lst >/dev/null 2>&1; then
  echo "cds.sh: $java could not run $jar:" >&2
  tail -n 3 "$tmp/1.err" >&2
  exit 1
fi
cat "$tmp"/*.lst > "$tmp/classes.lst"
# the stub of this jar, or none: a launcher must never load an older one
if [ -f "$tmp/native/libjffi-1.2.so" ]; then
  cp "$tmp/native/libjffi-1.2.so" "$dir/.libjffi-1.2.so.new" && mv -f "$dir/.libjffi-1.2.so.new" "$dir/libjffi-1.2.so"
else
  rm -f "$dir/libjffi-1.2.so"
fi
# shellcheck disable=SC2086
"$java" $opts -Xshare:dump -XX:SharedClassListFile="$tmp/classes.lst" -XX:SharedArchiveFile="$tmp/archive.jsa" \
  -cp "$jar" >"$tmp/dump.log" 2>&1 || { tail -5 "$tmp/dump.log" >&2; exit 1; }
mv -f "$tmp/archive.jsa" "$archive"
