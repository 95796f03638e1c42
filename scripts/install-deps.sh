#!/bin/sh
# Installs the Debian packages the build and the tests need, when any is missing.
# Run as root it installs; as another user it only names what is missing.
# prometheus: promtool and the server tests/integration/metrics.sh starts (on a host with systemd
# the package also enables its own prometheus.service on :9090; the test uses neither).
set -e
pkgs="gcc make clang clang-format python3 zstd binutils pkg-config libcmocka-dev libxml2-dev libsqlite3-dev libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev curl openssl jq python3-yaml acpica-tools libseccomp-dev libssl-dev libzstd-dev nfdump tshark busybox-static qemu-system-x86 iproute2 prometheus $*"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing Debian packages:$missing (run as root to install them)" >&2
    exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends $missing >/dev/null
