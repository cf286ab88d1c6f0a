#!/usr/bin/env bash
# The typed TypeScript client (openapi/clients/typescript): checks that its generated types match
# openapi/openapi.yaml, type-checks it with `tsc --strict`, then runs its Node test (the
# association's journey) against the service started on loopback (embedded mode, throwaway data
# directory, like browser.sh).
#
#   infra/scripts/ts-client.sh             # CI: drift check, tsc --strict, node --test
#   infra/scripts/ts-client.sh generate    # regenerate src/schema.d.ts after a spec change
#
# The generator and compiler are pinned by openapi/clients/typescript/package-lock.json and
# installed (npm ci) into that folder's node_modules, which git ignores.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/reemploi-target}
client=openapi/clients/typescript
started=$(date +%s)

sudo_=""; [ "$(id -u)" -ne 0 ] && sudo_=sudo
if ! command -v npm >/dev/null 2>&1; then
  echo "== installing nodejs and npm from Debian's packages"
  $sudo_ apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if ! cmp -s "$client/package-lock.json" "$client/node_modules/.package-lock.json.installed" 2>/dev/null; then
  echo "== installing openapi-typescript, openapi-fetch and typescript ($client/package-lock.json)"
  (cd "$client" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$client/package-lock.json" "$client/node_modules/.package-lock.json.installed"
fi

if [ "${1:-}" = generate ]; then
  (cd "$client" && npm run -s generate)
  exit 0
fi

echo "== the generated types match openapi/openapi.yaml"
fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
(cd "$client" && npx --no-install openapi-typescript ../../openapi.yaml --output "$fresh/schema.d.ts" \
  --default-non-nullable false >/dev/null 2>&1)
if ! cmp -s "$fresh/schema.d.ts" "$client/src/schema.d.ts"; then
  echo "openapi/clients/typescript/src/schema.d.ts is out of date: run infra/scripts/ts-client.sh generate" >&2
  diff -u "$client/src/schema.d.ts" "$fresh/schema.d.ts" | head -40 >&2 || true
  exit 1
fi

echo "== tsc --strict"
(cd "$client" && npx --no-install tsc --strict --noEmit -p . && rm -rf dist && npx --no-install tsc -p .)

operator_email=operateur@client.test
operator_password='mot de passe du client typé 2026'
on_exit='rm -rf "$fresh"'
# shellcheck source=infra/scripts/serve-loopback.sh
source infra/scripts/serve-loopback.sh

echo "== node --test (the association's journey through the typed client)"
status=0
(cd "$client" && REEMPLOI_BASE_URL=$base REEMPLOI_OPERATOR_EMAIL=$operator_email \
  REEMPLOI_OPERATOR_PASSWORD=$operator_password node --test dist/test/) || status=$?
if [ "$status" -ne 0 ]; then
  echo "the TypeScript client test failed; service log:" >&2
  tail -30 "$work/service.log" >&2
fi
echo "== typed client step took $(( $(date +%s) - started ))s"
exit "$status"
