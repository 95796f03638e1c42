#!/bin/sh
# Installs the Debian packages the build and the tests need, when any is missing.
# Run as root it installs; as another user it only names what is missing.
# prometheus: promtool and the server tests/integration/metrics.sh starts (on a host with systemd
# the package also enables its own prometheus.service on :9090; the test uses neither).
set -e
pkgs="gcc make clang clang-format python3 zstd binutils pkg-config libcmocka-dev libxml2-dev libsqlite3-dev sqlite3 libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev curl openssl jq python3-yaml acpica-tools libseccomp-dev libssl-dev nettle-dev libzstd-dev prometheus strace nfdump tshark busybox-static qemu-system-x86 qemu-utils iproute2 chromium libnss3-tools etcd-server etcd-client liburing-dev fio e2fsprogs qemu-system-common $*"
# Node and npm for the browser test's puppeteer-core (tests/browser): Debian's nodejs and npm
# unless a node with npm is there already (e.g. NodeSource's, which bundles npm).
command -v npm >/dev/null 2>&1 || pkgs="$pkgs nodejs npm"
# tests/browser/node_modules from the committed package-lock.json (npm ci: exact versions);
# Debian's chromium is the browser, so puppeteer downloads none.
npm_ci() {
    lock=tests/browser/package-lock.json
    dir=$(dirname "$0")/../tests/browser
    [ -f "$dir/node_modules/.package-lock.json" ] && [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ] && return 0
    command -v npm >/dev/null 2>&1 || { echo "install-deps: no npm: $lock not installed" >&2; return 1; }
    echo "install-deps: npm ci in tests/browser"
    (cd "$dir" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    npm_ci
    exit
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing Debian packages:$missing (run as root to install them)" >&2
    exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends $missing >/dev/null
npm_ci
