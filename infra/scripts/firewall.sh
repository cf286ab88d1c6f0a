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
