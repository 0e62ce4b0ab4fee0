#!/usr/bin/env bash
# Installs Azurite (the local Azure Blob stand-in of tests/standins_azure.py) into tests/azurite/node_modules,
# exactly as package-lock.json pins it. Quiet; does nothing when node_modules already matches the lockfile.
# Needs Node.js 20+ and npm.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v npm >/dev/null 2>&1; then
  echo "tests/azurite/install.sh: npm not found: install Node.js 20 or later (with npm)" >&2
  exit 1
fi

stamp=node_modules/.iac-package-lock.sha256
want=$(sha256sum package.json package-lock.json)
if [[ -x node_modules/.bin/azurite-blob && -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

npm ci --no-audit --no-fund --loglevel=error --update-notifier=false >/dev/null
node_modules/.bin/azurite-blob --version >/dev/null
printf '%s\n' "$want" >"$stamp"
