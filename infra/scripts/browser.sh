#!/usr/bin/env bash
# Browser test of the pages for people: starts the service on loopback (embedded mode, throwaway
# data directory, like fuzz.sh), then infra/browser/pages.mjs seeds a story through the API and
# opens the verification and history pages in Debian's Chromium (playwright-core as the driver,
# axe-core for accessibility), saving screenshots at 375 and 1280 px.
#
# Installs what it needs when missing: Debian's `chromium`, and the npm packages pinned by
# infra/browser/package-lock.json into a cache outside the clone ($REEMPLOI_BROWSER_CACHE).
# Screenshots go to $REEMPLOI_TEST_OUTPUT/browser (default: $CARGO_TARGET_DIR/test-output).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/reemploi-target}
cache=${REEMPLOI_BROWSER_CACHE:-$HOME/.cache/reemploi-browser}
out=${REEMPLOI_TEST_OUTPUT:-$CARGO_TARGET_DIR/test-output}/browser
started=$(date +%s)

sudo_=""; [ "$(id -u)" -ne 0 ] && sudo_=sudo
if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing chromium from Debian's packages"
  $sudo_ apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "== installing nodejs and npm from Debian's packages"
  $sudo_ apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
# The real binary, not Debian's wrapper script, when it is there.
chromium_bin=/usr/lib/chromium/chromium
[ -x "$chromium_bin" ] || chromium_bin=$(command -v chromium)

mkdir -p "$cache"
if ! cmp -s infra/browser/package-lock.json "$cache/package-lock.json" || [ ! -d "$cache/node_modules/playwright-core" ]; then
  echo "== installing playwright-core and axe-core (infra/browser/package-lock.json) into $cache"
  cp infra/browser/package.json infra/browser/package-lock.json "$cache/"
  (cd "$cache" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
fi

operator_email=operateur@navigateur.test
operator_password='mot de passe opérateur du test navigateur'
# shellcheck source=infra/scripts/serve-loopback.sh
source infra/scripts/serve-loopback.sh

status=0
BASE_URL=$base OUT_DIR=$out CHROMIUM=$chromium_bin OPERATOR_EMAIL=operateur@navigateur.test \
  OPERATOR_PASSWORD=$operator_password NODE_PATH=$cache/node_modules \
  node --preserve-symlinks infra/browser/pages.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "browser test failed; service log:" >&2
  tail -30 "$work/service.log" >&2
fi
echo "== browser step took $(( $(date +%s) - started ))s"
exit "$status"
