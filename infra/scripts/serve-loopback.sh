# Sourced by the scripts that test a running service (browser.sh, ts-client.sh): builds the
# service, starts it on a free loopback port in embedded mode with a throwaway data directory
# (public URL on loopback, the scenario's `today`, a fast outbox) and creates an operator.
# Sets `bin`, `base`, `work` and `pid`; stops the service and removes `work` on exit, then runs
# `$on_exit` (the caller's own clean-up). Needs `operator_email` and `operator_password`.
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
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"; eval "${on_exit:-}"' EXIT
for _ in $(seq 1 100); do
  curl -fs "$base/health/ready" >/dev/null 2>&1 && break
  sleep 0.2
done
echo "$operator_password" | "$bin" admin create-operator --email "$operator_email" --password-stdin >/dev/null
