#!/usr/bin/env bash
# Lints openapi/openapi.yaml with Redocly CLI (the version pinned by openapi/lint/package-lock.json,
# installed into a cache outside the clone, $REEMPLOI_SPEC_TOOLS) under openapi/redocly.yaml.
# Fails on any error; warnings are printed.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=${REEMPLOI_SPEC_TOOLS:-$HOME/.cache/reemploi-spec-tools}
sudo_=""; [ "$(id -u)" -ne 0 ] && sudo_=sudo
if ! command -v npm >/dev/null 2>&1; then
  echo "== installing nodejs and npm from Debian's packages"
  $sudo_ apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
mkdir -p "$cache"
if ! cmp -s openapi/lint/package-lock.json "$cache/package-lock.json" || [ ! -x "$cache/node_modules/.bin/redocly" ]; then
  echo "== installing @redocly/cli (openapi/lint/package-lock.json) into $cache"
  cp openapi/lint/package.json openapi/lint/package-lock.json "$cache/"
  (cd "$cache" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
fi
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
  "$cache/node_modules/.bin/redocly" lint openapi/openapi.yaml --config openapi/redocly.yaml --format=summary 2>&1 \
  | grep -v '[║╔╚]'
