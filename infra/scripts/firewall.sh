#!/usr/bin/env bash
# Fails if the `domain` crate depends, even indirectly, on IO: databases, HTTP, async runtimes,
# storage or search clients.
set -euo pipefail
cd "$(dirname "$0")/../.."
forbidden='^(sea-orm|sea-query|sqlx|poem|poem-openapi|tokio|hyper|reqwest|rust-s3|aws-sdk-s3|meilisearch-sdk|tantivy|lettre)$'
deps=$(cargo tree -p reemploi-domain -e normal,build --prefix none --format '{p}' | awk '{print $1}' | sort -u)
bad=$(echo "$deps" | grep -E "$forbidden" || true)
if [ -n "$bad" ]; then
  echo "domain must stay free of IO, but depends on:" >&2
  echo "$bad" >&2
  exit 1
fi
echo "domain dependency firewall: ok ($(echo "$deps" | wc -l) crates, none doing IO)"

# The layers inside `api` point one way: nothing outside `http/` imports `crate::http`, except
# `app.rs` and `cli.rs`, which mount it.
leaks=$(grep -rn 'crate::http' api/src --include=*.rs | grep -v '^api/src/http/' | grep -v '^api/src/app.rs:' | grep -v '^api/src/cli.rs:' || true)
if [ -n "$leaks" ]; then
  echo "only app.rs and cli.rs may import crate::http, but:" >&2
  echo "$leaks" >&2
  exit 1
fi
# A raw transaction can skip the event of a write: only the store's counted `Tx` opens one.
# The import bench's bulk baseline is the one exception, marked on its line: it copies rows that
# already carry their events into a throwaway database.
raw=$(grep -rn 'begin_raw\|\.begin()\|begin_with_options' api/src --include=*.rs | grep -v '^api/src/store/mod.rs:' | grep -v '^api/src/store/tx.rs:' \
  | grep -v '^api/src/bench\.rs:.*// baseline copy: the rows carry their events already$' || true)
if [ -n "$raw" ]; then
  echo "write transactions must be opened through store::tx (which counts events), but:" >&2
  echo "$raw" >&2
  exit 1
fi
echo "api layers: ok (crate::http only from app.rs and cli.rs; every write transaction counts its events)"
