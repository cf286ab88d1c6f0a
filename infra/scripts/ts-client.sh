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

cargo build --locked -q -p reemploi-api
bin=$CARGO_TARGET_DIR/debug/reemploi
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
export REEMPLOI_ADDR=127.0.0.1:$port REEMPLOI_DATA_DIR=$work/data RUST_LOG=warn \
  REEMPLOI_PUBLIC_URL=$base REEMPLOI_TODAY=2026-11-29 REEMPLOI_OUTBOX_POLL_MS=100 \
  REEMPLOI_ANONYMOUS_LIMIT_PER_MINUTE=100000
unset DATABASE_URL
"$bin" serve > "$work/service.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work" "$fresh"' EXIT
for _ in $(seq 1 100); do
  curl -fs "$base/health/ready" >/dev/null 2>&1 && break
  sleep 0.2
done
password='mot de passe du client typé 2026'
echo "$password" | "$bin" admin create-operator --email operateur@client.test --password-stdin >/dev/null

echo "== node --test (the association's journey through the typed client)"
status=0
(cd "$client" && REEMPLOI_BASE_URL=$base REEMPLOI_OPERATOR_EMAIL=operateur@client.test \
  REEMPLOI_OPERATOR_PASSWORD=$password node --test dist/test/) || status=$?
if [ "$status" -ne 0 ]; then
  echo "the TypeScript client test failed; service log:" >&2
  tail -30 "$work/service.log" >&2
fi
echo "== typed client step took $(( $(date +%s) - started ))s"
exit "$status"
