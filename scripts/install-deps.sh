#!/usr/bin/env bash
# install-deps.sh -- install the Debian packages ashiato needs, only those missing.
#   scripts/install-deps.sh          build + run dependencies
#   scripts/install-deps.sh --test   also what the test suite and benchmarks use
# Runs apt-get as root (or through sudo). Safe to run again: it installs nothing twice.
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libpcap-dev libzmq3-dev protobuf-c-compiler
  libprotobuf-c-dev libcurl4-openssl-dev libsqlite3-dev libmicrohttpd-dev libinih-dev
  libjson-c-dev nettle-dev zlib1g-dev python3 sqlite3)
test_pkgs=(libcmocka-dev clang libclang-rt-14-dev python3-pytest tcpdump tshark tcpreplay
  iproute2 openjdk-17-jdk-headless maven curl procps time nfdump argus-server argus-client
  mmdebstrap systemd-container dpkg-dev python3-venv nftables chromium python3-requests)

want=("${build_pkgs[@]}")
if [[ "${1:-}" == "--test" ]]; then
  want+=("${test_pkgs[@]}")
  # the browser test's node and npm: Debian's packages only where no node/npm is installed
  # (a NodeSource nodejs carries its own npm, and Debian's npm refuses to install beside it)
  command -v node >/dev/null 2>&1 || want+=(nodejs)
  command -v npm >/dev/null 2>&1 || want+=(npm)
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
