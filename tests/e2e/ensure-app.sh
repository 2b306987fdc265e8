#!/usr/bin/env bash
# Installs the example app's pinned dependencies (from its package-lock.json) if they are missing.
set -euo pipefail
APP="$(cd "$(dirname "$0")/../../examples/metadata-app" && pwd)"
if [ ! -f "$APP/node_modules/@clerk/clerk-js/package.json" ] || [ ! -f "$APP/node_modules/@clerk/backend/package.json" ]; then
  echo "ensure-app: npm ci in $APP" >&2
  (cd "$APP" && npm ci --no-audit --no-fund)
fi
