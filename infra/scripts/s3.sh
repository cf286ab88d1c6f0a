#!/usr/bin/env bash
# Starts a throwaway S3-compatible server (s3s-fs, from crates.io) on loopback for the tests,
# installing it first if needed. Prints the variables to export; the server stops when the PID
# it prints is killed.
set -euo pipefail
version=0.14.1
if ! command -v s3s-fs >/dev/null 2>&1 || ! s3s-fs --version 2>/dev/null | grep -q "$version"; then
  echo "installing s3s-fs $version (a few minutes, once)" >&2
  cargo install "s3s-fs@$version" --features binary --locked >&2
fi
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
access=reemploi-test
secret=reemploi-test-secret
s3s-fs --host 127.0.0.1 --port "$port" --access-key "$access" --secret-key "$secret" "$dir" >"$dir.log" 2>&1 &
pid=$!
for _ in $(seq 1 50); do
  if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
    break
  fi
  sleep 0.1
done
echo "export TEST_S3_ENDPOINT=http://127.0.0.1:$port TEST_S3_ACCESS_KEY=$access TEST_S3_SECRET_KEY=$secret S3_SERVER_PID=$pid"
