#!/usr/bin/env bash
# Spec-driven fuzzing: starts the service on loopback (embedded mode, throwaway data directory),
# seeds an operator and one organisation of each kind, then runs schemathesis against
# /openapi.json with authentication. Fails on any 5xx or spec violation.
#
#   infra/scripts/fuzz.sh                 # CI: fixed seed, bounded examples
#   FUZZ_SEED=random FUZZ_EXAMPLES=200 FUZZ_MAX_SECONDS=1800 infra/scripts/fuzz.sh   # longer local run
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/reemploi-target}
seed=${FUZZ_SEED:-20261129}
[ "$seed" = random ] && seed=$RANDOM$RANDOM
examples=${FUZZ_EXAMPLES:-30}
max_seconds=${FUZZ_MAX_SECONDS:-420}
venv=${REEMPLOI_VENV:-$HOME/.cache/reemploi-venv}
schemathesis_version=4.32.5

if [ ! -x "$venv/bin/schemathesis" ] || ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$schemathesis_version"; then
  echo "installing schemathesis $schemathesis_version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi

cargo build --locked -q -p reemploi-api
bin=$CARGO_TARGET_DIR/debug/reemploi
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
# A loopback public URL issues no document outside test mode (503 public_url_not_public): the
# run names a non-loopback one (never resolved: schemathesis talks to base-url).
export REEMPLOI_PUBLIC_URL=https://fuzz.reemploi.invalid
export REEMPLOI_ADDR=127.0.0.1:$port REEMPLOI_DATA_DIR=$work/data RUST_LOG=warn \
  REEMPLOI_LOGIN_LIMIT_PER_IP=100000 REEMPLOI_LOGIN_FREE_FAILURES=100000 \
  REEMPLOI_ANONYMOUS_LIMIT_PER_MINUTE=100000
unset DATABASE_URL
"$bin" serve > "$work/service.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fs "$base/health/ready" >/dev/null 2>&1 && break
  sleep 0.2
done

password='fuzzing password 2026'
echo "$password" | "$bin" admin create-operator --email operateur@fuzz.test --password-stdin >/dev/null
post() { curl -fsS -H 'content-type: application/json' ${3:+-H "Authorization: Bearer $3"} -d "$2" "$base$1"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d'+sys.argv[1]))" "$1"; }
login() { post /v1/auth/login "{\"email\":\"$1\",\"password\":\"$password\"}" | json "['token']"; }
admin() { printf '"admin":{"email":"%s","display_name":"Fuzz","password":"%s"}' "$1" "$password"; }

town=$(post /v1/organisations "{\"kind\":\"public_body\",\"name\":\"Ville\",\"siret\":\"39825979619074\",\"insee_code\":\"41230\",\"address\":\"1 place\",\"postcode\":\"41000\",\"city\":\"Saint-Ouen\",\"public_body_type\":\"commune\",$(admin mairie@fuzz.test)}" | json "['organisation']['id']")
atelier=$(post /v1/organisations "{\"kind\":\"refurbisher\",\"name\":\"Atelier\",\"siret\":\"48337887362325\",\"insee_code\":\"41018\",\"address\":\"2 rue\",\"postcode\":\"41000\",\"city\":\"Blois\",$(admin atelier@fuzz.test)}" | json "['organisation']['id']")
asso=$(post /v1/organisations "{\"kind\":\"association\",\"name\":\"Asso\",\"rna\":\"W412003456\",\"insee_code\":\"41018\",\"address\":\"3 allée\",\"postcode\":\"41000\",\"city\":\"Blois\",\"beneficiary_category\":\"etudiants\",$(admin asso@fuzz.test)}" | json "['organisation']['id']")
town_token=$(login mairie@fuzz.test)
operator_token=$(login operateur@fuzz.test)
admin_id=$(curl -fsS -H "Authorization: Bearer $town_token" "$base/v1/me" | json "['user_id']")
key=$(post "/v1/organisations/$town/api-keys" '{"name":"GLPI"}' "$town_token" | json "['api_key']['id']")
invitation=$(post "/v1/organisations/$town/invitations" '{"email":"agent@fuzz.test","role":"agent"}' "$town_token" | json "['id']")
site=$(post "/v1/organisations/$town/sites" '{"name":"Services techniques","kind":"pickup","address":"5 rue","postcode":"41000","city":"Saint-Ouen","insee_code":"41230"}' "$town_token" | json "['id']")
# Supply side: the operator verifies both; a published lot with a pending claim, a draft lot
# with a device, a partnership.
atelier_token=$(login atelier@fuzz.test)
post "/v1/organisations/$town/verify" '{}' "$operator_token" >/dev/null
post "/v1/organisations/$atelier/verify" '{}' "$operator_token" >/dev/null
new_item() { post /v1/items "{\"inventory_number\":\"$1\",\"category\":\"laptop\",\"brand\":\"Dell\"}" "$town_token"; }
lot_body="{\"title\":\"Lot\",\"pickup_site_id\":\"$site\",\"pickup_from\":\"2026-12-01\",\"pickup_until\":\"2026-12-14\",\"allocation_policy\":\"selection\",\"claim_deadline\":\"2026-12-10\",\"visibility\":\"all_verified\",\"cession_mode\":\"service\"}"
item_one=$(new_item FUZZ-1 | json "['id']")
item_code=$(curl -fsS -H "Authorization: Bearer $town_token" "$base/v1/items/$item_one" | json "['public_code']")
item_two=$(new_item FUZZ-2 | json "['id']")
item_three=$(new_item FUZZ-3 | json "['id']")
published_lot=$(post /v1/lots "$lot_body" "$town_token" | json "['id']")
post "/v1/lots/$published_lot/items" "{\"item_ids\":[\"$item_two\"]}" "$town_token" >/dev/null
post "/v1/lots/$published_lot/publish" '{}' "$town_token" >/dev/null
claim=$(post "/v1/lots/$published_lot/claims" '{}' "$atelier_token" | json "['id']")
draft_lot=$(post /v1/lots "$lot_body" "$town_token" | json "['id']")
post "/v1/lots/$draft_lot/items" "{\"item_ids\":[\"$item_one\"]}" "$town_token" >/dev/null
partnership=$(post /v1/partnerships "{\"refurbisher_id\":\"$atelier\"}" "$town_token" | json "['id']")
# Demand side: the verified association with an open request.
post "/v1/organisations/$asso/verify" '{}' "$operator_token" >/dev/null
asso_token=$(login asso@fuzz.test)
request=$(post /v1/requests '{"purpose":"Atelier numérique","beneficiaries":12,"needed_by":"2027-06-30","lines":[{"category":"laptop","quantity":2}]}' "$asso_token" | json "['id']")

cat > "$work/schemathesis.toml" <<TOML
base-url = "$base"
seed = $seed
request-timeout = 10.0
workers = 2
suppress-health-check = ["too_slow", "filter_too_much", "data_too_large"]

# No crash cache: each run starts from the seed alone (and writes nothing into the repository).
[cache]
enabled = false

[auth.openapi.BearerAuth]
bearer = "$town_token"

[generation]
max-examples = $examples

[parameters]
"path.id" = "$town"
"path.user_id" = "$admin_id"
"path.key_id" = "$key"
"path.invitation_id" = "$invitation"

# Reads and updates of the seeded site; archiving is left to the stateful phase, which archives
# the sites it creates (a fixed id would be archived once and then answer 404).
[[operations]]
include-operation-id-regex = "^(get_site|update_site)$"
parameters = { "path.id" = "$town", "path.site_id" = "$site" }

[[operations]]
include-operation-id-regex = "^(get_item|update_item|list_item_events|verify_item_events)$"
parameters = { "path.id" = "$item_one" }

[[operations]]
include-operation-id-regex = "^(record_sanitisation|record_refurbishment|get_item_workshop|publish_item|unpublish_item|override_item_age|dispose_item|upload_photo|list_photos|delete_photo|attach_sanitisation_report)$"
parameters = { "path.id" = "$item_three" }

[[operations]]
include-operation-id-regex = "^(get_lot|update_lot|add_lot_items|remove_lot_item|publish_lot|withdraw_lot|record_collection)$"
parameters = { "path.id" = "$draft_lot", "path.item_id" = "$item_one" }

[[operations]]
include-operation-id = "claim_lot"
parameters = { "path.id" = "$published_lot" }

# Schemathesis 4.32 reported a false positive here: its "negative" request was an unknown query
# parameter holding an empty list (so never sent) plus a removed Authorization header (re-added
# by the configured auth): a valid request, rightly answered 200. Negative-data rejection stays
# on for every other operation.
[[operations]]
include-operation-id = "list_lot_claims"
parameters = { "path.id" = "$published_lot" }
checks = { negative_data_rejection = { enabled = false } }

[[operations]]
include-operation-id-regex = "^(accept_claim|reject_claim|withdraw_claim)$"
parameters = { "path.id" = "$claim" }

[[operations]]
include-operation-id = "delete_partnership"
parameters = { "path.id" = "$partnership" }

[[operations]]
include-operation-id-regex = "^(search_catalogue|get_catalogue_item|create_reservation|list_reservations|get_reservation|cancel_reservation|accept_proposal|decline_proposal|confirm_receipt|create_request|list_requests)$"
headers = { Authorization = "Bearer $asso_token" }
parameters = { "path.id" = "$item_two" }

[[operations]]
include-operation-id-regex = "^(get_request|cancel_request)$"
headers = { Authorization = "Bearer $asso_token" }
parameters = { "path.id" = "$request" }

[[operations]]
include-operation-id-regex = "^(propose_items)$"
headers = { Authorization = "Bearer $atelier_token" }
parameters = { "path.id" = "$request" }

[[operations]]
include-operation-id-regex = "^(search_lots|list_open_requests|record_handover|schedule_handover)$"
headers = { Authorization = "Bearer $atelier_token" }

[[operations]]
include-operation-id = "set_fair_share"
headers = { Authorization = "Bearer $atelier_token" }
parameters = { "path.id" = "$atelier" }

[[operations]]
include-operation-id-regex = "^(list_lot_documents|generate_lot_document|set_lot_decision|get_deliberation_text)$"
parameters = { "path.id" = "$draft_lot" }

[[operations]]
include-operation-id-regex = "^(get_impact_report|get_reuse_rate|get_yearly_report)$"
parameters = { "path.id" = "$town" }

[[operations]]
include-operation-id = "get_public_item"
parameters = { "path.public_code" = "$item_code" }

[[operations]]
include-operation-id-regex = "^(list_organisations|verify_organisation|suspend_organisation)$"
headers = { Authorization = "Bearer $operator_token" }
parameters = { "path.id" = "$town" }

TOML

echo "schemathesis: seed $seed, $examples examples per operation, at most ${max_seconds}s"
status=0
# Signing out would revoke the token the rest of the run uses: the HTTP suite covers `logout`.
# Publishing a factor set is not idempotent (a version exists once, then 409): Hypothesis replays
# a case and sees another answer ("inconsistent results"); the HTTP suite covers it.
timeout "$max_seconds" "$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$base/openapi.json" \
  --checks all --exclude-checks positive_data_acceptance \
  --exclude-operation-id logout --exclude-operation-id publish_factor_set --report ndjson --report-ndjson-path "$work/events.ndjson" --no-color || status=$?
requests=$({ grep -o '"request":' "$work/events.ndjson" 2>/dev/null || true; } | wc -l)
echo "schemathesis: $requests requests recorded"
if grep -q '"status_code": *5[0-9][0-9]' "$work/events.ndjson" 2>/dev/null; then
  echo "a 5xx answer was recorded; service log:" >&2
  tail -50 "$work/service.log" >&2
  status=1
fi
if [ "$status" = 124 ]; then
  echo "schemathesis ran out of time (${max_seconds}s)" >&2
fi
exit "$status"
