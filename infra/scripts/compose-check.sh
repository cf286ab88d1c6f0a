#!/usr/bin/env bash
# Validates infra/compose.yaml without a container engine (`config -q`): once with dummy values
# for the secrets that infra/compose.env.example leaves empty, once with none, which must be
# refused (every secret is `${VAR:?…}`). Uses `docker compose` when the plugin is there, else
# `docker-compose`, installing Debian's (1.29) when missing: it reads the file format this file
# keeps to (no top-level `name:`, no `dockerfile_inline`).
set -euo pipefail
cd "$(dirname "$0")/../.."
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  echo "installing docker-compose (Debian package, once)" >&2
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "compose-check: no compose client; install docker-compose or the docker compose plugin" >&2
    exit 2
  fi
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose; } >&2
  compose=(docker-compose)
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Empty secrets get a dummy value; the key must look like one (64 hex digits).
sed -e 's/^\(POSTGRES_PASSWORD\|MEILI_API_KEY\|S3_ACCESS_KEY\|S3_SECRET_KEY\)=$/\1=compose-check-dummy-secret/' \
    -e 's/^REEMPLOI_CHECKPOINT_KEY=$/REEMPLOI_CHECKPOINT_KEY=0000000000000000000000000000000000000000000000000000000000000000/' \
    infra/compose.env.example >"$tmp/dummy.env"
: >"$tmp/empty.env"
# Only the env file speaks: a variable of the calling shell must not fill a missing secret.
unset POSTGRES_PASSWORD MEILI_API_KEY S3_ACCESS_KEY S3_SECRET_KEY REEMPLOI_CHECKPOINT_KEY REEMPLOI_PUBLIC_URL
"${compose[@]}" --env-file "$tmp/dummy.env" -f infra/compose.yaml config -q
if "${compose[@]}" --env-file "$tmp/empty.env" -f infra/compose.yaml config -q 2>"$tmp/err"; then
  echo "compose-check: the file starts without its secrets (a \${VAR:?…} is missing)" >&2
  exit 1
fi
grep -q "POSTGRES_PASSWORD\|MEILI_API_KEY\|S3_\|REEMPLOI_" "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
echo "compose-check: infra/compose.yaml is valid (${compose[*]}), and refused without its secrets"
