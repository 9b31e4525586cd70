#!/usr/bin/env bash
# Installs Trino Gateway (trinodb/trino-gateway), the benchmark peer, and the
# PostgreSQL server it keeps its state in. Idempotent and quick when
# everything is there; called from deploy/setup.sh.
#
#   Trino Gateway    Maven Central io.trino.gateway:gateway-ha:<v>, classifier
#                    jar-with-dependencies -> .cache/gateway-ha-<v>.jar
#   PostgreSQL       Debian postgresql (apt-get, needs root or sudo)
#   Java 25+         Trino Gateway 21 is built for Java 25: Temurin 25 under
#                    /usr/lib/jvm (found by deploy/setup.sh, .cache/java_home)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# The pin: deploy/versions.env's TRINO_GATEWAY_VERSION when set, else this.
TRINO_GATEWAY_VERSION_DEFAULT=21
if [ -f "$root/deploy/versions.env" ]; then
  # shellcheck source=versions.env
  . "$root/deploy/versions.env"
fi
v=${TRINO_GATEWAY_VERSION:-$TRINO_GATEWAY_VERSION_DEFAULT}
cache=${SWITCHYARD_CACHE:-$root/.cache}
maven=${MAVEN_REPO_URL:-https://repo.maven.apache.org/maven2}
mkdir -p "$cache/dl"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

# --- PostgreSQL server --------------------------------------------------------
# The harness runs initdb/postgres itself from Debian's versioned bin folder.
pg_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && [ -x "$d/pg_isready" ]; then
      echo "$d"; return 0
    fi
  done
  return 1
}
if ! pgb=$(pg_bin); then
  say "installing postgresql from Debian"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null \
      || die "PostgreSQL is not installed and installing it needs root or passwordless sudo: run 'apt-get install -y postgresql' as root"
    sudo="sudo -n"
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! { $sudo apt-get install -y -q postgresql >/dev/null 2>&1 \
         || { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q postgresql >/dev/null; }; }; then
    die "cannot install postgresql with apt-get"
  fi
  pgb=$(pg_bin) || die "postgresql was installed but no /usr/lib/postgresql/*/bin/{initdb,postgres,pg_isready} was found"
fi
# When root, PostgreSQL runs as the 'postgres' OS user (it refuses root);
# Debian's package creates that user.
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  die "running as root but there is no 'postgres' OS user to run PostgreSQL as (reinstall the postgresql package)"
fi
say "postgresql: $("$pgb/postgres" --version | awk '{print $3}') in $pgb"

# --- Trino Gateway jar --------------------------------------------------------
jar="$cache/gateway-ha-$v.jar"
url="$maven/io/trino/gateway/gateway-ha/$v/gateway-ha-$v-jar-with-dependencies.jar"
# The .sha1 is kept next to the jar so a re-run checks without the network.
if [ -s "$jar" ] && [ -s "$jar.sha1" ] && [ "$(cat "$jar.sha1")" = "$(sha1sum "$jar" | awk '{print $1}')" ]; then
  :
else
  command -v curl >/dev/null 2>&1 || die "curl is needed to download $url"
  say "downloading $url"
  want=$(curl -fsSL --retry 3 --retry-delay 2 "$url.sha1" | awk '{print $1}') || die "cannot download $url.sha1"
  [ ${#want} -eq 40 ] || die "bad checksum file $url.sha1: '$want'"
  curl -fsSL --retry 3 --retry-delay 2 -o "$cache/dl/gateway-ha-$v.jar.part" "$url" || die "cannot download $url"
  got=$(sha1sum "$cache/dl/gateway-ha-$v.jar.part" | awk '{print $1}')
  if [ "$want" != "$got" ]; then
    rm -f "$cache/dl/gateway-ha-$v.jar.part"
    die "checksum mismatch for $url (want $want, got $got)"
  fi
  mv "$cache/dl/gateway-ha-$v.jar.part" "$jar"
  echo "$want" > "$jar.sha1"
fi
say "trino gateway: $jar"

# --- Java ---------------------------------------------------------------------
# deploy/setup.sh records the JDK in .cache/java_home; Trino Gateway $v is
# built for Java 25 (its manifest says Java-Version: 25), so check that one.
jh=$(cat "$cache/java_home" 2>/dev/null || true)
[ -n "$jh" ] && [ -x "$jh/bin/java" ] || die "no JDK recorded in $cache/java_home: run deploy/setup.sh (make setup) first"
jv=$("$jh/bin/java" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')
[ "${jv%%.*}" -ge 25 ] 2>/dev/null || die "Trino Gateway $v needs Java 25+, but $jh is Java $jv: install Temurin 25 under /usr/lib/jvm and re-run deploy/setup.sh"
say "java for Trino Gateway: $jh (Java $jv)"
say "ok"
