#!/usr/bin/env bash
# Usage: provision.sh CACHE_DIR
# Resolves the Kafka broker jars (see pom.xml) from Maven Central into CACHE_DIR/libs.
# Maven's local repository is CACHE_DIR/m2, so nothing is written under $HOME. Idempotent.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 CACHE_DIR" >&2; exit 2; }
for tool in java mvn; do
  command -v "$tool" >/dev/null 2>&1 || { echo "provision.sh: '$tool' not found on PATH (need Java 17+ and Maven 3.8+)" >&2; exit 1; }
done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$1"
cache="$(cd "$1" && pwd)"
libs="$cache/libs"
marker="$libs/.provisioned"
stamp="$(sha256sum "$here/pom.xml" | cut -d' ' -f1)"

count_jars() { find "$libs" -maxdepth 1 -name '*.jar' 2>/dev/null | wc -l; }

# marker holds "<pom sha256> <jar count>": skip when the pom is unchanged and every jar is still there
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$stamp $(count_jars)" ]; then
  exit 0
fi

rm -rf "$libs"
# maven 3.8's jansi emits stray ESC[0m even with -B; strip it and keep stdout clean
mvn -q -B -f "$here/pom.xml" -Dmaven.repo.local="$cache/m2" -Dkafka.cache="$cache" package 2>&1 \
  | sed 's/\x1b\[0m//g' >&2
n="$(count_jars)"
[ -n "$(find "$libs" -maxdepth 1 -name 'kafka_2.13-*.jar')" ] || { echo "provision.sh: kafka_2.13 jar missing from $libs" >&2; exit 1; }
echo "$stamp $n" > "$marker"
echo "provision.sh: $n jars in $libs" >&2
