#!/usr/bin/env bash
# Installs the Debian packages that the tests start as real protocol peers, when they are missing.
# This is the only way Debian packages get onto a machine for this project: CI (.ci/run) and the
# README's test command (scripts/check-fresh.sh) both call it, so what a developer tests is what a
# clean machine gets. Runs apt-get as root, or through sudo when not root.
#
# --no-install-recommends is deliberate (smaller, reproducible installs), so every module a peer
# needs at run time must be listed here even when Debian only "recommends" it: python3-pymodbus's
# server imports `serial_asyncio` (and through it `serial`), which come only as recommendations.
# scripts/check-peers.ts then proves each peer actually starts.
set -euo pipefail

APT_PACKAGES=(
  mosquitto          # independent MQTT broker: uplink interoperability, broker security, cluster mode
  mosquitto-clients  # mosquitto_pub/_sub: independent clients the broker security tests try to break in with
  postgresql         # PostgreSQL 15: cluster mode's state; tests/support/postgres.ts runs its initdb/pg_ctl
  openssl            # certificates for the TLS and mutual-TLS broker tests
  victoria-metrics   # accepts the InfluxDB v2 write API: checks what the client library writes
  influxdb           # InfluxDB 1.6 (influxd): checks the InfluxQL reader on /query
  socat              # virtual serial cable for Modbus RTU tests
  mbpoll             # independent Modbus client reading our simulator
  python3-pymodbus   # independent Modbus server the gateway reads (run with /usr/bin/python3)
  python3-serial     # pymodbus' serial transport; only a recommendation of python3-pymodbus
  python3-serial-asyncio # imported by pymodbus.server (StartAsyncTcpServer); only a recommendation too
  chromium           # headless browser for the dashboard tests (driven by playwright-core)
  fonts-wqy-microhei # a CJK font, so the Simplified Chinese dashboard renders in the browser tests
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  # `dpkg -s` succeeds for removed-but-configured packages too; require the installed state.
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "== Debian peers: all ${#APT_PACKAGES[@]} packages present"
  exit 0
fi

echo "== Debian peers: installing ${missing[*]}"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-peers: not root and no sudo; install as root: apt-get install --no-install-recommends ${missing[*]}" >&2; exit 1; }
  SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
