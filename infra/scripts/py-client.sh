#!/usr/bin/env bash
# A second generated client: openapi-python-client builds a Python package from
# openapi/openapi.yaml, which must come out whole (the generator warns and drops a schema, with
# every operation that uses it, when it cannot read one), then `mypy --strict` type-checks that
# package together with openapi/clients/python/journey.py, the association's journey written
# against it (sign in, search near a point, reserve, read the reservation, a typed 409).
#
# The tools are pinned by openapi/clients/python/requirements.txt and installed into a virtual
# environment outside the clone ($REEMPLOI_PY_CLIENT_VENV). The generated code is not committed.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=openapi/clients/python
venv=${REEMPLOI_PY_CLIENT_VENV:-$HOME/.cache/reemploi-py-client}
if ! cmp -s "$here/requirements.txt" "$venv/requirements.installed" 2>/dev/null; then
  echo "== installing $here/requirements.txt into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/requirements.installed"
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "== openapi-python-client generate"
PATH="$venv/bin:$PATH" "$venv/bin/openapi-python-client" generate --path openapi/openapi.yaml \
  --config "$here/generator.yaml" --meta none --output-path "$out/reemploi_client" \
  >"$out/generate.log" 2>&1 || { cat "$out/generate.log"; exit 1; }
# A schema it cannot read is dropped with every operation using it: that fails. What it only
# warns about is a media type it does not generate code for (a PDF answer, a CSV or log upload
# beside its application/octet-stream alternative): the client then reads those as raw bytes.
if grep -qE "Unable to (process|parse)|removal of" "$out/generate.log"; then
  cat "$out/generate.log"
  echo "openapi-python-client could not read the whole spec" >&2
  exit 1
fi
generated=$(find "$out/reemploi_client/api" -name '*.py' ! -name '__init__.py' | wc -l)
declared=$(grep -c '^      operationId:' openapi/openapi.yaml)
echo "   $generated of $declared operations, $(find "$out/reemploi_client/models" -name '*.py' ! -name '__init__.py' | wc -l) models; $(grep -c '^Unsupported content type\|^Cannot parse response' "$out/generate.log" || true) non-JSON media types read as bytes"
if [ "$generated" -ne "$declared" ]; then
  echo "the generated client has $generated operations, the spec $declared" >&2
  exit 1
fi
echo "== mypy --strict"
cp "$here/journey.py" "$out/"
(cd "$out" && "$venv/bin/mypy" --strict --no-incremental --python-version 3.11 reemploi_client journey.py)
