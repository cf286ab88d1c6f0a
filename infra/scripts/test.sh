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
# lshw and nwipe: the workshop tests capture this machine's real hardware report (lshw -json)
# and wipe a loop device with nwipe to ingest its real log (committed fixtures stand in when the
# tool or losetup is refused, and the test says so).
for tool in lshw nwipe; do
  if ! command -v "$tool" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$tool" ]; then
    echo "== installing $tool from Debian's packages"
    sudo_=""; [ "$(id -u)" -ne 0 ] && sudo_=sudo
    $sudo_ apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends "$tool" >/dev/null
  fi
done
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
# frictionless validates the open-data CSV against its committed Table Schema (docs/open-data/).
frictionless_version=5.21.0
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('frictionless') != '$frictionless_version')" 2>/dev/null; then
  echo "== installing frictionless $frictionless_version into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "frictionless==$frictionless_version"
fi
export REEMPLOI_TEST_FRICTIONLESS="$venv/bin/frictionless"

# A real SMTP server (aiosmtpd, same venv) receives the mails of the HTTP suite; its handler
# (infra/mail/reemploi_smtp_sink.py) writes each message as JSON to a directory the tests read.
aiosmtpd_version=1.4.6
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('aiosmtpd') != '$aiosmtpd_version')" 2>/dev/null; then
  echo "== installing aiosmtpd $aiosmtpd_version into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==$aiosmtpd_version"
fi
smtp_port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mail_dir=$(mktemp -d)
echo "== starting an SMTP server (aiosmtpd) on 127.0.0.1:$smtp_port, mails in $mail_dir"
PYTHONPATH="$PWD/infra/mail" "$venv/bin/python" -m aiosmtpd -n -l "127.0.0.1:$smtp_port" \
  -c reemploi_smtp_sink.Sink "$mail_dir" >"$mail_dir.log" 2>&1 &
SMTP_SERVER_PID=$!
trap 'kill "$SMTP_SERVER_PID" 2>/dev/null || true; rm -rf "$mail_dir" "$mail_dir.log"' EXIT
export REEMPLOI_TEST_SMTP_URL="smtp://127.0.0.1:$smtp_port" REEMPLOI_TEST_MAIL_DIR="$mail_dir"
# The test of a server that is down, then back, starts its own instance with these.
export REEMPLOI_TEST_SMTP_PYTHON="$venv/bin/python" REEMPLOI_TEST_SMTP_HANDLER_DIR="$PWD/infra/mail"

echo "== starting an S3-compatible server (s3s-fs) for the blob storage tests"
eval "$(infra/scripts/s3.sh)"
echo "== starting an OpenID provider (oidc-provider, infra/oidc) for the OIDC sign-in tests"
eval "$(infra/scripts/oidc.sh)"
trap 'kill "$S3_SERVER_PID" "$SMTP_SERVER_PID" "$OIDC_PROVIDER_PID" 2>/dev/null || true; rm -rf "$mail_dir" "$mail_dir.log"' EXIT

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
