#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium (the e2e test drives it through playwright-core).
# Installs it with apt when missing and we are root; otherwise explains what to do and fails.
set -euo pipefail
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-chromium: $CHROMIUM is missing and this is not root." >&2
  echo "ensure-chromium: install Debian's chromium package (sudo apt-get install -y chromium) and re-run." >&2
  exit 1
fi
echo "ensure-chromium: installing Debian chromium (apt-get)..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
if [ ! -x "$CHROMIUM" ]; then
  echo "ensure-chromium: apt-get finished but $CHROMIUM is still missing." >&2
  exit 1
fi
echo "ensure-chromium: $("$CHROMIUM" --version 2>/dev/null || echo installed)" >&2
