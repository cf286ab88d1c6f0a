#!/usr/bin/env bash
# Starts a real OpenID provider for the tests: infra/oidc/server.mjs on `oidc-provider` (npm,
# pinned by infra/oidc/package-lock.json, installed with `npm ci` into a cache outside the
# clone, like infra/scripts/browser.sh does). Prints the variables to export; the provider stops
# when the PID it prints is killed.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=${REEMPLOI_OIDC_CACHE:-$HOME/.cache/reemploi-oidc}
if ! command -v npm >/dev/null 2>&1; then
  echo "installing nodejs and npm from Debian's packages" >&2
  sudo_=""; [ "$(id -u)" -ne 0 ] && sudo_=sudo
  $sudo_ apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
mkdir -p "$cache"
if ! cmp -s infra/oidc/package-lock.json "$cache/package-lock.json" || [ ! -d "$cache/node_modules/oidc-provider" ]; then
  echo "installing oidc-provider (infra/oidc/package-lock.json) into $cache" >&2
  cp infra/oidc/package.json infra/oidc/package-lock.json "$cache/"
  (cd "$cache" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
fi
# The script runs from the cache so that its imports resolve to the pinned packages.
cp infra/oidc/server.mjs "$cache/server.mjs"
log=$(mktemp)
(cd "$cache" && OIDC_PORT=0 exec node server.mjs) >"$log" 2>&1 &
pid=$!
url=""
for _ in $(seq 1 100); do
  url=$(sed -n 's/^OIDC_PROVIDER_URL=//p' "$log" | head -1)
  [ -n "$url" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "the OpenID provider did not start:" >&2
  cat "$log" >&2
  exit 1
fi
echo "export TEST_OIDC_PROVIDER_URL=$url OIDC_PROVIDER_PID=$pid"
