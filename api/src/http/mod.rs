//! The HTTP layer: one `#[OpenApi]` impl per resource, combined into one service; middlewares for
//! problem+json errors, entity tags and body limits; the generated spec with access declarations.

pub mod access;
pub mod accounts;
pub mod api_keys;
pub mod cessions;
pub mod checkpoints;
pub mod credentials;
pub mod demand;
pub mod documents;
pub mod etag;
pub mod events;
pub mod examples;
pub mod exports;
pub mod idempotency;
pub mod impact;
pub mod imports;
pub mod items;
pub mod labels;
pub mod limits;
pub mod log;
pub mod lots;
pub mod matching;
pub mod members;
pub mod merge_patch;
pub mod meta;
pub mod oidc;
pub mod ops;
pub mod organisations;
pub mod pages;
pub mod pagination;
pub mod personal;
pub mod photos;
pub mod problem;
pub mod raw_body;
pub mod reports;
pub mod search;
pub mod sites;
pub mod transitions;
pub mod transport;
pub mod types;
pub mod validation;
pub mod verification;
pub mod webhooks;
pub mod workshop;

use poem::endpoint::make_sync;
use poem::http::header;
use poem::middleware::CatchPanic;
use poem::web::Html;
use poem::{Endpoint, EndpointExt, Response, Route, get};
use poem_openapi::OpenApiService;

use crate::state::AppState;

/// All the resources of the API.
pub type Apis = (
    meta::MetaApi,
    accounts::AccountsApi,
    organisations::OrganisationsApi,
    members::MembersApi,
    api_keys::ApiKeysApi,
    sites::SitesApi,
    events::EventsApi,
    // Tuples stop at 16 members: related resources are grouped.
    (items::ItemsApi, labels::LabelsApi),
    lots::LotsApi,
    imports::ImportsApi,
    workshop::WorkshopApi,
    photos::PhotosApi,
    search::SearchApi,
    demand::DemandApi,
    documents::DocumentsApi,
    // poem-openapi implements tuples of at most 16: resources beyond nest in a tuple.
    (
        impact::ImpactApi,
        cessions::CessionsApi,
        webhooks::WebhooksApi,
        credentials::CredentialsApi,
        reports::WorkshopToolsApi,
        exports::ExportsApi,
        verification::VerificationApi,
        checkpoints::CheckpointsApi,
        personal::PersonalDataApi,
        oidc::OidcApi,
        matching::MatchingApi,
    ),
);

const DESCRIPTION: &str = "Suivi des équipements informatiques réformés des organismes publics, \
de l'inventaire au don à une association, via le reconditionnement par des structures de l'ESS.\n\n\
Errors are `application/problem+json` (RFC 9457) with a stable `code` (see `GET /v1/meta/problems`), \
in French by default or English with `Accept-Language: en`. Lists use cursor pagination \
(`cursor`, `limit` ≤ 200). Each operation declares who may call it in `x-access`.";

/// The OpenAPI service over `state`.
pub fn service(state: &AppState) -> OpenApiService<Apis, ()> {
    let s = || state.clone();
    let apis = (
        meta::MetaApi { state: s() },
        accounts::AccountsApi { state: s() },
        organisations::OrganisationsApi { state: s() },
        members::MembersApi { state: s() },
        api_keys::ApiKeysApi { state: s() },
        sites::SitesApi { state: s() },
        events::EventsApi { state: s() },
        (
            items::ItemsApi { state: s() },
            labels::LabelsApi { state: s() },
        ),
        lots::LotsApi { state: s() },
        imports::ImportsApi { state: s() },
        workshop::WorkshopApi { state: s() },
        photos::PhotosApi { state: s() },
        search::SearchApi { state: s() },
        demand::DemandApi { state: s() },
        documents::DocumentsApi { state: s() },
        (
            impact::ImpactApi { state: s() },
            cessions::CessionsApi { state: s() },
            webhooks::WebhooksApi { state: s() },
            credentials::CredentialsApi { state: s() },
            reports::WorkshopToolsApi { state: s() },
            exports::ExportsApi { state: s() },
            verification::VerificationApi { state: s() },
            checkpoints::CheckpointsApi { state: s() },
            personal::PersonalDataApi { state: s() },
            oidc::OidcApi { state: s() },
            matching::MatchingApi { state: s() },
        ),
    );
    OpenApiService::new(apis, "Réemploi", env!("CARGO_PKG_VERSION"))
        .description(DESCRIPTION)
        .license(
            poem_openapi::LicenseObject::new(env!("CARGO_PKG_LICENSE"))
                .url("https://www.gnu.org/licenses/agpl-3.0.html"),
        )
        .extra_request_header::<Option<String>, _>(
            poem_openapi::ExtraHeader::new(idempotency::HEADER).description(
                "On POST: a client-chosen key (1 to 200 visible ASCII characters). A retry with the same \
                 key and request gets the first successful answer again (`Idempotent-Replayed: true`) \
                 instead of acting twice; the same key with another request answers 409 \
                 `idempotency_key_reused`. An answer carrying a credential (sign-in, API key, \
                 accepted invitation) is never stored: its replay answers 409 \
                 `idempotency_key_reused` with the reason. Kept 24 hours. Ignored on other methods, on file uploads, \
                 and when it is not 1 to 200 visible ASCII characters.",
            ),
        )
        .server(state.settings.public_url.clone())
}

/// The spec as JSON, with each operation's access declaration added as `x-access`.
pub fn spec_value(service: &OpenApiService<Apis, ()>) -> serde_json::Value {
    let mut spec: serde_json::Value =
        serde_json::from_str(&service.spec()).unwrap_or(serde_json::Value::Null);
    if let Some(paths) = spec.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for op in item.values_mut() {
                let Some(op) = op.as_object_mut() else {
                    continue;
                };
                let declared = op
                    .get("operationId")
                    .and_then(|id| id.as_str())
                    .and_then(access::rule)
                    .map(access::describe);
                if let Some(declared) = declared {
                    op.insert("x-access".into(), declared);
                }
            }
        }
    }
    refine(&mut spec);
    spec
}

/// Makes the generated spec say what the service does where poem-openapi cannot be told:
/// an operation without credentials says so (`security: []`); the idempotency header is
/// declared where it acts (POST) only; a nullable reference carries the type OpenAPI 3.0 needs
/// beside `nullable`.
fn refine(spec: &mut serde_json::Value) {
    let types = by_reference(spec, |schema| {
        schema.get("type").cloned().or_else(|| {
            // An enum of strings without a declared type.
            schema
                .get("enum")
                .map(|_| serde_json::Value::from("string"))
        })
    });
    if let Some(paths) = spec.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            // Every call without valid credentials counts against the anonymous limit, except
            // the health probes (`limits::apply`).
            let limited = !path.starts_with("/health/");
            for (method, op) in item.iter_mut() {
                let Some(op) = op.as_object_mut() else {
                    continue;
                };
                op.entry("security")
                    .or_insert_with(|| serde_json::Value::Array(Vec::new()));
                let operation = op
                    .get("operationId")
                    .and_then(|id| id.as_str())
                    .unwrap_or_default()
                    .to_owned();
                // A repeated query parameter (`category=…&category=…`) may be left out: it
                // is then an empty list (poem-openapi declares it required).
                if let Some(params) = op.get_mut("parameters").and_then(|p| p.as_array_mut()) {
                    for p in params.iter_mut() {
                        let list = p.get("in").and_then(|i| i.as_str()) == Some("query")
                            && p.pointer("/schema/type").and_then(|t| t.as_str()) == Some("array");
                        let name = p.get("name").and_then(|n| n.as_str()).unwrap_or_default();
                        if list && !REQUIRED_LISTS.contains(&(operation.as_str(), name)) {
                            p["required"] = serde_json::Value::Bool(false);
                        }
                    }
                }
                let checks_version =
                    op.get("parameters")
                        .and_then(|p| p.as_array())
                        .is_some_and(|p| {
                            p.iter().any(|p| {
                                p.get("name")
                                    .and_then(|n| n.as_str())
                                    .is_some_and(|n| n.eq_ignore_ascii_case("if-match"))
                            })
                        });
                let has_body = op.contains_key("requestBody");
                if let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) {
                    if !checks_version {
                        responses.remove("412");
                    }
                    if !has_body {
                        responses.remove("413");
                        responses.remove("415");
                    }
                    if limited {
                        let limited = responses.entry("429").or_insert_with(|| {
                            serde_json::json!({
                                "description": "Rate limited; see `Retry-After`.",
                                "content": {"application/problem+json": {
                                    "schema": {"$ref": "#/components/schemas/Problem"}
                                }}
                            })
                        });
                        limited["headers"] = serde_json::json!({
                            "Retry-After": {
                                "description": "Seconds to wait before trying again.",
                                "schema": {"type": "integer", "minimum": 0}
                            }
                        });
                    }
                    if let Some(unauthorised) = responses.get_mut("401") {
                        unauthorised["headers"] = serde_json::json!({
                            "WWW-Authenticate": {
                                "description": "`Bearer realm=\"reemploi\"`: send a session token or an API key.",
                                "schema": {"type": "string"}
                            }
                        });
                    }
                }
                if method != "post"
                    && let Some(params) = op.get_mut("parameters").and_then(|p| p.as_array_mut())
                {
                    params.retain(|p| {
                        !p.get("name")
                            .and_then(|n| n.as_str())
                            .is_some_and(|n| n.eq_ignore_ascii_case(idempotency::HEADER))
                    });
                    if params.is_empty() {
                        op.remove("parameters");
                    }
                }
            }
        }
    }
    nullable_refs(spec, &types);
    let enums = by_reference(spec, |schema| {
        schema.get("enum").is_some().then(|| schema.clone())
    });
    enum_refs(spec, &enums);
    standard_formats(spec);
    bare_json_media_types(spec);
    patch_schemas(spec);
    // A problem's `code` is one of a closed list (`/v1/meta/problems`): clients switch on it.
    if let Some(code) = spec.pointer_mut("/components/schemas/Problem/properties/code") {
        code["enum"] = crate::error::ErrorCode::ALL
            .iter()
            .map(|c| serde_json::Value::from(c.code()))
            .collect();
    }
    examples::annotate(spec);
}

/// What `pick` finds in each component schema, keyed by the reference that names it
/// (`#/components/schemas/Grade`).
fn by_reference(
    spec: &serde_json::Value,
    pick: impl Fn(&serde_json::Value) -> Option<serde_json::Value>,
) -> std::collections::HashMap<String, serde_json::Value> {
    spec.pointer("/components/schemas")
        .and_then(|s| s.as_object())
        .into_iter()
        .flatten()
        .filter_map(|(name, schema)| Some((format!("#/components/schemas/{name}"), pick(schema)?)))
        .collect()
}

/// poem-openapi's own formats become the standard ones generators know: `naive-date` is
/// `date`; unsigned integers are `int64` (or `int32` when an `int32` holds every value) with a
/// `minimum` of 0.
fn standard_formats(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let format = map
                .get("format")
                .and_then(|f| f.as_str())
                .map(str::to_owned);
            match format.as_deref() {
                Some("naive-date") => {
                    map.insert("format".into(), "date".into());
                }
                Some("naive-date-time") => {
                    map.insert("format".into(), "date-time".into());
                }
                Some(unsigned @ ("uint8" | "uint16" | "uint32" | "uint64")) => {
                    let wide = matches!(unsigned, "uint32" | "uint64");
                    map.insert("format".into(), if wide { "int64" } else { "int32" }.into());
                    map.entry("minimum").or_insert_with(|| 0.into());
                }
                _ => {}
            }
            for v in map.values_mut() {
                standard_formats(v);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(standard_formats),
        _ => {}
    }
}

/// A merge patch's body (`merge_patch::MergePatch<T>`) is declared as `{T}Patch`: `T`'s fields,
/// none required. `T` itself goes when nothing else refers to it.
fn patch_schemas(spec: &mut serde_json::Value) {
    let mut patched = std::collections::BTreeSet::new();
    if let Some(paths) = spec.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for op in paths
            .values_mut()
            .filter_map(|item| item.as_object_mut())
            .flat_map(|item| item.values_mut())
        {
            let Some(content) = op
                .pointer_mut("/requestBody/content")
                .and_then(|c| c.as_object_mut())
                .filter(|c| c.contains_key(merge_patch::MEDIA_TYPES[0]))
            else {
                continue;
            };
            for media in content.values_mut() {
                let Some(name) = media
                    .pointer("/schema/$ref")
                    .and_then(|r| r.as_str())
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    .map(str::to_owned)
                else {
                    continue;
                };
                media["schema"] =
                    serde_json::json!({ "$ref": format!("#/components/schemas/{name}Patch") });
                patched.insert(name);
            }
        }
    }
    for name in patched {
        let Some(schemas) = spec
            .pointer_mut("/components/schemas")
            .and_then(|s| s.as_object_mut())
        else {
            return;
        };
        let Some(mut patch) = schemas.get(&name).cloned() else {
            continue;
        };
        if let Some(p) = patch.as_object_mut() {
            p.remove("required");
            p.insert("title".into(), format!("{name}Patch").into());
            p.insert(
                "description".into(),
                format!(
                    "The fields of `{name}` to change (JSON Merge Patch, RFC 7386): a field left \
                     out keeps its value, `null` clears it."
                )
                .into(),
            );
        }
        schemas.insert(format!("{name}Patch"), patch);
        let reference = format!("\"#/components/schemas/{name}\"");
        if !spec.to_string().contains(&reference)
            && let Some(schemas) = spec
                .pointer_mut("/components/schemas")
                .and_then(|s| s.as_object_mut())
        {
            schemas.remove(&name);
        }
    }
}

/// `application/json; charset=utf-8` (what poem-openapi declares) is named `application/json`:
/// the same media type (JSON is UTF-8 by definition, RFC 8259), under the key generators match
/// (openapi-typescript types only `…/json` keys). Answers still say the charset.
fn bare_json_media_types(spec: &mut serde_json::Value) {
    fn rename(content: Option<&mut serde_json::Value>) {
        let Some(content) = content.and_then(|c| c.as_object_mut()) else {
            return;
        };
        let keys: Vec<String> = content
            .keys()
            .filter(|k| k.starts_with("application/json;"))
            .cloned()
            .collect();
        for key in keys {
            if let Some(media) = content.remove(&key) {
                content.entry("application/json").or_insert(media);
            }
        }
    }
    let Some(paths) = spec.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for op in paths
        .values_mut()
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
    {
        rename(op.pointer_mut("/requestBody/content"));
        if let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) {
            for response in responses.values_mut() {
                rename(response.get_mut("content"));
            }
        }
    }
}

/// The repeated query parameters an operation refuses without (checked by its handler).
const REQUIRED_LISTS: &[(&str, &str)] = &[("submit_batch_wipe_report", "item_id")];

/// `allOf: [$ref, {nullable: true}]` (what poem-openapi writes for an optional reference) becomes
/// `allOf: [$ref]` with `nullable: true` and the referenced schema's `type` beside it; the
/// field's description or deprecation, written in the annotation part, moves beside it too.
fn nullable_refs(
    value: &mut serde_json::Value,
    types: &std::collections::HashMap<String, serde_json::Value>,
) {
    match value {
        serde_json::Value::Object(map) => {
            let mut moved = Vec::new();
            let mut referenced = None;
            if let Some(all) = map.get_mut("allOf").and_then(|a| a.as_array_mut()) {
                all.retain(|part| {
                    let annotation = part.get("nullable").is_some()
                        && part.as_object().is_some_and(|o| {
                            o.keys().all(|k| {
                                matches!(
                                    k.as_str(),
                                    "nullable" | "description" | "deprecated" | "title"
                                )
                            })
                        });
                    if annotation {
                        moved.push(part.clone());
                    }
                    !annotation
                });
                referenced = all
                    .iter()
                    .find_map(|part| part.get("$ref").and_then(|r| r.as_str()))
                    .and_then(|r| types.get(r))
                    .cloned();
            }
            if !moved.is_empty() || (map.contains_key("nullable") && map.contains_key("allOf")) {
                for part in moved.iter().filter_map(|p| p.as_object()) {
                    for (k, v) in part {
                        map.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
                map.insert("nullable".into(), serde_json::Value::Bool(true));
                if let Some(t) = referenced {
                    map.entry("type").or_insert(t);
                }
            }
            for v in map.values_mut() {
                nullable_refs(v, types);
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                nullable_refs(v, types);
            }
        }
        _ => {}
    }
}

/// A field typed by an enum is written without `allOf`, which generators only take over objects
/// (openapi-python-client refuses `allOf` of a string and drops every schema and operation that
/// uses it). A field becomes a bare `$ref`; a nullable one, or one with a default, inlines the
/// enum (with `null` among its values when nullable), since OpenAPI 3.0 ignores whatever sits
/// beside a `$ref`.
fn enum_refs(
    value: &mut serde_json::Value,
    enums: &std::collections::HashMap<String, serde_json::Value>,
) {
    const ANNOTATIONS: &[&str] = &["description", "default", "deprecated", "title", "example"];
    match value {
        serde_json::Value::Object(map) => {
            let target = map
                .get("allOf")
                .and_then(|a| a.as_array())
                .map(|parts| {
                    let refs: Vec<&str> = parts
                        .iter()
                        .filter_map(|p| p.get("$ref").and_then(|r| r.as_str()))
                        .collect();
                    let annotations_only = parts.iter().all(|p| {
                        p.get("$ref").is_some()
                            || p.as_object().is_some_and(|o| {
                                o.keys().all(|k| ANNOTATIONS.contains(&k.as_str()))
                            })
                    });
                    (refs, annotations_only)
                })
                .and_then(|(refs, annotations_only)| match refs.as_slice() {
                    [one] if annotations_only => enums.get(*one).map(|e| (one.to_string(), e)),
                    _ => None,
                });
            if let Some((reference, schema)) = target {
                let parts = map.remove("allOf").unwrap_or_default();
                for part in parts.as_array().into_iter().flatten() {
                    for (k, v) in part.as_object().into_iter().flatten() {
                        if k != "$ref" {
                            map.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                    }
                }
                // A default (or a nullable field) needs the enum inline: OpenAPI 3.0 ignores
                // whatever sits beside a `$ref`.
                if map.get("nullable").and_then(|n| n.as_bool()) == Some(true)
                    || map.contains_key("default")
                {
                    let nullable = map.get("nullable").and_then(|n| n.as_bool()) == Some(true);
                    let mut choices = schema.get("enum").cloned().unwrap_or_default();
                    if let Some(list) = choices.as_array_mut().filter(|_| nullable) {
                        list.push(serde_json::Value::Null);
                    }
                    map.insert("enum".into(), choices);
                    map.insert(
                        "type".into(),
                        schema
                            .get("type")
                            .cloned()
                            .unwrap_or_else(|| "string".into()),
                    );
                } else {
                    // The field's description goes: the enum's own describes its values.
                    map.clear();
                    map.insert("$ref".into(), reference.into());
                }
            }
            for v in map.values_mut() {
                enum_refs(v, enums);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| enum_refs(v, enums)),
        _ => {}
    }
}

/// The spec as YAML (what `openapi/openapi.yaml` holds).
pub fn spec_yaml(service: &OpenApiService<Apis, ()>) -> String {
    serde_yaml::to_string(&spec_value(service)).unwrap_or_default()
}

/// Streamed uploads are not buffered for idempotency, and a label sheet (a read by POST, which
/// writes nothing) is not kept: replaying it prints it again.
const IDEMPOTENCY_SKIP: &[&str] = &["/v1/items/import", "/photos", "/report", "/v1/items/labels"];

/// The whole application: API, docs, spec, middlewares.
pub fn app(state: AppState) -> impl Endpoint {
    let service = service(&state);
    let spec = spec_value(&service);
    let allowed = std::sync::Arc::new(problem::AllowedMethods::from_spec(&spec));
    let operations = validation::Operations::from_spec(&spec);
    let problem_operations = operations.clone();
    let json = serde_json::to_string_pretty(&spec).unwrap_or_default();
    let yaml = spec_yaml(&service);
    let docs = service.swagger_ui();
    let idempotency_db = state.db.clone();
    let idempotency_routes = allowed.clone();
    let limits = std::sync::Arc::new(limits::Limits {
        max_body_bytes: state.settings.max_body_bytes,
        upload_routes: vec![("/v1/items/import", state.settings.import_max_bytes)],
        upload_suffixes: vec![
            ("/photos", photos::MAX_PHOTO_BYTES + 64 * 1024),
            ("/report", photos::MAX_PHOTO_BYTES + 64 * 1024),
            ("/scan", documents::MAX_PDF_BYTES),
            ("/wipe-report", reports::MAX_REPORT_BYTES + 64 * 1024),
            ("/hardware-report", reports::MAX_REPORT_BYTES + 64 * 1024),
            ("/hardware-reports", reports::MAX_REPORT_BYTES + 64 * 1024),
            (
                "/verification/documents",
                crate::commands::verification::MAX_EVIDENCE_BYTES,
            ),
        ],
        upload_prefixes: vec![
            ("/v1/verify/", documents::MAX_PDF_BYTES),
            // The verification page's form (multipart: the file and its envelope).
            ("/v/", documents::MAX_PDF_BYTES + 64 * 1024),
        ],
        max_json_depth: state.settings.max_json_depth,
        max_json_string_bytes: state.settings.max_json_string_bytes,
        anonymous: state.anonymous_limit.clone(),
        body_pause: std::time::Duration::from_secs(state.settings.ops.body_timeout_secs),
        operations: operations.clone(),
    });
    let edge = log::Edge {
        trusted_proxies: std::sync::Arc::new(state.settings.ops.trusted_proxies.clone()),
        routes: allowed.clone(),
        metrics: state.metrics.clone(),
        connections: state.connections.clone(),
    };
    let metrics_state = state.clone();
    let cors = transport::Cors::new(state.settings.ops.cors_origins.clone());
    pages::mount(Route::new())
        .at(
            "/openapi.json",
            get(make_sync(move |_| {
                Response::builder()
                    .content_type("application/json")
                    .body(json.clone())
            })),
        )
        .at(
            "/openapi.yaml",
            get(make_sync(move |_| {
                Response::builder()
                    .content_type("application/yaml")
                    .body(yaml.clone())
            })),
        )
        .nest("/docs", docs)
        .at(
            "/metrics",
            get(poem::endpoint::make(move |req: poem::Request| {
                let state = metrics_state.clone();
                async move { ops::metrics(&req, &state).await }
            })),
        )
        .at(
            "/",
            get(make_sync(|_| Html("<a href=\"/docs\">Réemploi API</a>"))),
        )
        .nest("/", service)
        .with(etag::ETagMiddleware)
        .with(CatchPanic::new())
        .around(move |ep, req| {
            let db = idempotency_db.clone();
            let routes = idempotency_routes.clone();
            async move { idempotency::apply(ep, req, &db, IDEMPOTENCY_SKIP, &routes).await }
        })
        .around(move |ep, req| {
            let limits = limits.clone();
            async move { limits::apply(ep, req, &limits).await }
        })
        .around(move |ep, req| {
            let allowed = allowed.clone();
            let operations = problem_operations.clone();
            async move { problem::middleware(ep, req, &allowed, &operations).await }
        })
        .data(state)
        // Erase the type of the stack so far: every `around` nests one more future type, and
        // the release build's layout computation of the whole stack must stay well under the
        // compiler's recursion limit. One indirect call per request costs nothing measurable.
        .boxed()
        .around(move |ep, req| {
            let cors = cors.clone();
            async move { transport::apply(ep, req, &cors).await }
        })
        .with(edge)
        .map_to_response()
        .with(
            poem::middleware::SetHeader::new()
                .overriding(header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        )
}
