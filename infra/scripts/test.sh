#!/usr/bin/env bash
# The project's test command: the whole suite on SQLite, then the HTTP suite on PostgreSQL.
# Starts PostgreSQL and an S3-compatible server if needed. Builds go to $CARGO_TARGET_DIR (default outside the clone).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/reemploi-target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

# Debian tools the tests call: pdftotext (poppler-utils) reads generated PDFs back.
if ! command -v pdftotext >/dev/null 2>&1; then
  echo "== installing poppler-utils (pdftotext) from Debian's packages"
  sudo_=""; [ "$(id -u)" -ne 0 ] && sudo_=sudo
  $sudo_ apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null
fi

# zbarimg (zbar-tools) decodes a label's QR code in the HTTP suite (the test says SKIPPED without it).
if ! command -v zbarimg >/dev/null 2>&1; then
  echo "== installing zbar-tools (zbarimg) from Debian's packages"
  sudo_=""; [ "$(id -u)" -ne 0 ] && sudo_=sudo
  $sudo_ apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends zbar-tools >/dev/null
fi
# The reference Standard Webhooks implementation checks the signatures of real deliveries.
# It lives in the same venv as the fuzzer's (outside the clone), extended when it lacks it.
venv=${REEMPLOI_VENV:-$HOME/.cache/reemploi-venv}
standardwebhooks_version=1.1.0
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('standardwebhooks') != '$standardwebhooks_version')" 2>/dev/null; then
  echo "== installing standardwebhooks $standardwebhooks_version into $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "standardwebhooks==$standardwebhooks_version"
fi
export REEMPLOI_TEST_STANDARDWEBHOOKS_PYTHON="$venv/bin/python"

echo "== starting an S3-compatible server (s3s-fs) for the blob storage tests"
eval "$(infra/scripts/s3.sh)"
echo "== starting an OpenID provider (oidc-provider, infra/oidc) for the OIDC sign-in tests"
eval "$(infra/scripts/oidc.sh)"
trap 'kill "$S3_SERVER_PID" "$OIDC_PROVIDER_PID" 2>/dev/null || true' EXIT

if [ -n "${MEILI_URL:-}" ]; then
  echo "== Meilisearch adapter tests run against $MEILI_URL"
else
  echo "== SKIPPED: Meilisearch adapter tests (set MEILI_URL, and MEILI_API_KEY, to run them against a server)"
fi

echo "== tests on SQLite"
cargo test --workspace --locked

echo "== tests on PostgreSQL"
server=$(infra/scripts/postgres.sh)
base=${server%/*}
host_port=${base#*@}
host=${host_port%:*}
port=${host_port##*:}
# Databases left by earlier runs (one per test) are dropped first.
for db in $(psql -h "$host" -p "$port" -U postgres -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'reemploi_test_%'" postgres); do
  psql -h "$host" -p "$port" -U postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" postgres >/dev/null
done
TEST_DATABASE_URL="$server" cargo test --locked -p reemploi-tests

echo "== browser test of the pages for people (infra/scripts/browser.sh)"
infra/scripts/browser.sh
