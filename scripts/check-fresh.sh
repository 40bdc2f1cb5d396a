#!/usr/bin/env bash
# The README's test command, and what CI runs (.ci/run calls this script and nothing else).
# On a machine with nothing but Node.js and the package managers it: installs the Debian
# packages the tests start as real peers (scripts/install-peers.sh, only those missing),
# installs the npm dependencies exactly as locked, proves every peer can start
# (scripts/check-peers.ts names what cannot), then runs the whole check: format/lint,
# typecheck and every test (npm run check).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== node $(node --version), npm $(npm --version)"
./scripts/install-peers.sh
npm ci --no-audit --no-fund
npx tsx scripts/check-peers.ts
npm run check
