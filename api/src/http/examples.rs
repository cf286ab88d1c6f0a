//! Examples in the spec: every JSON request body and every JSON answer carries an `example`
//! built from its schema, with realistic values for each field (a device of the Blois town hall,
//! a refurbisher in Orléans, an association in Vendôme); every problem answer refers to a real
//! problem document of its status (rendered by [`crate::error::ApiError`] itself); every path
//! and query parameter has an example. The composed examples are checked against their schemas
//! by a test (`tests/api/openapi.rs`), so an example cannot drift from what it illustrates.

use serde_json::{Map, Value, json};

use crate::error::{ApiError, ErrorCode, Lang};

/// Where a field's value is needed: a property of a component schema, or a parameter.
const PARAM: &str = "parameter";

/// Adds the examples to `spec` (after every other refinement).
pub fn annotate(spec: &mut Value) {
    let schemas = spec
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut composer = Composer {
        schemas: &schemas,
        missing: Vec::new(),
    };
    let mut statuses = std::collections::BTreeSet::new();
    if let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) {
        for op in paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|item| item.values_mut())
        {
            for param in op
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                let located = matches!(
                    param.get("in").and_then(Value::as_str),
                    Some("path" | "query")
                );
                let name = param.get("name").and_then(Value::as_str).map(str::to_owned);
                if let (true, Some(name), Some(schema)) = (located, name, param.get("schema")) {
                    let example = composer.value(schema, PARAM, &name, 0);
                    param["example"] = example;
                }
            }
            if let Some(content) = op
                .pointer_mut("/requestBody/content")
                .and_then(Value::as_object_mut)
            {
                for (media_type, media) in content.iter_mut() {
                    if is_json(media_type)
                        && let Some(schema) = media.get("schema")
                    {
                        let example = composer.value(schema, "", "", 0);
                        media["example"] = example;
                    }
                }
            }
            for (status, response) in op
                .get_mut("responses")
                .and_then(Value::as_object_mut)
                .into_iter()
                .flatten()
            {
                for (media_type, media) in response
                    .get_mut("content")
                    .and_then(Value::as_object_mut)
                    .into_iter()
                    .flatten()
                {
                    if media_type == "application/problem+json" {
                        if let Some(code) = problem_for(status) {
                            statuses.insert(status.clone());
                            media["examples"] = json!({ code.code(): {
                                "$ref": format!("#/components/examples/problem_{status}")
                            }});
                        }
                    } else if is_json(media_type)
                        && let Some(schema) = media.get("schema")
                    {
                        let example = composer.value(schema, "", "", 0);
                        media["example"] = example;
                    }
                }
            }
        }
    }
    let mut examples = Map::new();
    for status in statuses {
        if let Some(code) = problem_for(&status) {
            examples.insert(
                format!("problem_{status}"),
                json!({
                    "summary": code.title(Lang::Fr),
                    "value": problem_example(code),
                }),
            );
        }
    }
    if let Some(components) = spec.get_mut("components").and_then(Value::as_object_mut) {
        components.insert("examples".into(), Value::Object(examples));
    }
}

/// The fields no example is known for, as `Schema.field` (a test wants none).
pub fn missing(spec: &Value) -> Vec<String> {
    let schemas = spec
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut composer = Composer {
        schemas: &schemas,
        missing: Vec::new(),
    };
    for name in schemas.keys() {
        composer.value(
            &json!({ "$ref": format!("#/components/schemas/{name}") }),
            "",
            "",
            0,
        );
    }
    for op in spec
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .flat_map(|(_, item)| item.as_object().into_iter().flatten())
        .map(|(_, op)| op)
    {
        for param in op
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(name), Some(schema)) = (
                param.get("name").and_then(Value::as_str),
                param.get("schema"),
            ) && matches!(
                param.get("in").and_then(Value::as_str),
                Some("path" | "query")
            ) {
                composer.value(schema, PARAM, name, 0);
            }
        }
    }
    composer.missing.sort();
    composer.missing.dedup();
    composer.missing
}

fn is_json(media_type: &str) -> bool {
    media_type == "application/json" || media_type.ends_with("+json")
}

/// The problem a status's example shows.
fn problem_for(status: &str) -> Option<ErrorCode> {
    Some(match status {
        "400" => ErrorCode::MalformedRequest,
        "401" => ErrorCode::Unauthenticated,
        "403" => ErrorCode::Forbidden,
        "404" => ErrorCode::NotFound,
        "408" => ErrorCode::RequestTimeout,
        "409" => ErrorCode::Conflict,
        "412" => ErrorCode::PreconditionFailed,
        "413" => ErrorCode::PayloadTooLarge,
        "415" => ErrorCode::UnsupportedMediaType,
        "422" => ErrorCode::ValidationFailed,
        "429" => ErrorCode::RateLimited,
        "500" => ErrorCode::Internal,
        "503" => ErrorCode::Unavailable,
        _ => return None,
    })
}

/// A problem document of `code` as the service renders it (in French, its default).
fn problem_example(code: ErrorCode) -> Value {
    use poem_openapi::types::ToJSON;
    let error = match code {
        ErrorCode::ValidationFailed => {
            let mut e = ApiError::new(code);
            e.located = Some(Box::new(vec![(
                crate::error::FieldLocation::Body,
                "serial_number".to_owned(),
                reemploi_domain::Invalid::Required,
            )]));
            e
        }
        ErrorCode::MalformedRequest => ApiError::new(code).detail(
            "Le corps n'est pas du JSON (ligne 1, colonne 14).",
            "The body is not JSON (line 1, column 14).",
        ),
        _ => ApiError::new(code),
    };
    let mut problem = error.to_problem(
        Lang::Fr,
        Some("/v1/items/5b0f4c1e-8d2a-4f6b-9c3e-1a7d2e4f6b80".to_owned()),
    );
    problem.request_id = Some("3f9a1c5e7b2d4f6a8c0e1b3d5f7a9c2e".to_owned());
    problem.to_json().unwrap_or_default()
}

struct Composer<'a> {
    schemas: &'a Map<String, Value>,
    missing: Vec<String>,
}

/// How deep an example may nest (a page of lots holding their devices is about 30 calls deep).
const DEPTH: usize = 64;

impl Composer<'_> {
    /// An example of `schema`, the field `prop` of `owner` (a component schema's name, or
    /// [`PARAM`]).
    fn value(&mut self, schema: &Value, owner: &str, prop: &str, depth: usize) -> Value {
        if depth > DEPTH {
            return json!({});
        }
        if let Some(example) = schema.get("example") {
            return example.clone();
        }
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let name = reference.trim_start_matches("#/components/schemas/");
            let Some(target) = self.schemas.get(name) else {
                return json!({});
            };
            // A reference to an object is described by that object's fields; one to an enum or a
            // scalar stays the field's.
            if let Some(whole) = schema_example(name) {
                return whole;
            }
            return if target.get("properties").is_some() {
                self.value(target, name, "", depth + 1)
            } else {
                self.value(target, owner, prop, depth + 1)
            };
        }
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            let mut merged = Map::new();
            let mut last = Value::Null;
            // Parts that only annotate (a field's description) say nothing of the value.
            let shaping = parts.iter().filter(|p| {
                [
                    "$ref",
                    "type",
                    "properties",
                    "allOf",
                    "oneOf",
                    "anyOf",
                    "enum",
                ]
                .iter()
                .any(|k| p.get(*k).is_some())
            });
            for part in shaping {
                match self.value(part, owner, prop, depth + 1) {
                    Value::Object(fields) => merged.extend(fields),
                    other => last = other,
                }
            }
            return if merged.is_empty() {
                last
            } else {
                Value::Object(merged)
            };
        }
        if let Some(first) = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array)
            .and_then(|alternatives| alternatives.first())
        {
            return self.value(first, owner, prop, depth + 1);
        }
        if let Some(choices) = schema.get("enum").and_then(Value::as_array) {
            return schema
                .get("default")
                .cloned()
                .or_else(|| choices.iter().find(|c| !c.is_null()).cloned())
                .unwrap_or(Value::Null);
        }
        if let Some(fields) = schema.get("properties").and_then(Value::as_object) {
            let mut out = Map::new();
            for (name, field) in fields {
                if field.get("deprecated").and_then(Value::as_bool) == Some(true) {
                    continue;
                }
                out.insert(name.clone(), self.value(field, owner, name, depth + 1));
            }
            return Value::Object(out);
        }
        if let Some(known) = field_example(owner, prop).filter(|v| fits(v, schema)) {
            return known;
        }
        let minimum = schema.get("minimum").and_then(Value::as_f64);
        let maximum = schema.get("maximum").and_then(Value::as_f64);
        let clamp = |v: f64| {
            let v = minimum.map_or(v, |m| v.max(m));
            maximum.map_or(v, |m| v.min(m))
        };
        match schema.get("type").and_then(Value::as_str) {
            Some("array") => {
                let items = schema.get("items").cloned().unwrap_or(Value::Null);
                let one = self.value(&items, owner, prop, depth + 1);
                let count = schema.get("minItems").and_then(Value::as_u64).unwrap_or(1);
                Value::Array(vec![one; count.max(1) as usize])
            }
            Some("integer") => schema
                .get("default")
                .cloned()
                .unwrap_or_else(|| json!(clamp(1.0) as i64)),
            Some("number") => schema
                .get("default")
                .cloned()
                .unwrap_or_else(|| json!(clamp(1.0))),
            Some("boolean") => schema.get("default").cloned().unwrap_or(json!(false)),
            Some("string") => match schema.get("format").and_then(Value::as_str) {
                Some("uuid") if prop == "id" => json!(uuid_for(&id_of(owner))),
                Some("uuid") => json!(uuid_for(prop)),
                Some("date") => json!("2026-12-01"),
                Some("date-time") => json!("2026-12-01T09:30:00Z"),
                Some("email") => json!("patrimoine@ville-blois.fr"),
                Some("uri" | "url") => json!("https://reemploi.example.org/v1/items"),
                Some("binary" | "byte") => json!(""),
                _ => {
                    self.missing.push(format!("{owner}.{prop}"));
                    json!("")
                }
            },
            // A free-form object (a map of facets, an event's facts).
            Some("object") => json!({}),
            _ => {
                self.missing.push(format!("{owner}.{prop}"));
                json!({})
            }
        }
    }
}

/// A whole example, where the fields one by one would not make a coherent one (a body's
/// fields that only apply to another kind of organisation).
fn schema_example(name: &str) -> Option<Value> {
    Some(match name {
        "RegisterOrganisationRequest" => json!({
            "kind": "public_body",
            "name": "Ville de Blois",
            "siret": "21410018200010",
            "public_body_type": "commune",
            "insee_code": "41018",
            "address": "9 place Saint-Louis",
            "postcode": "41000",
            "city": "Blois",
            "latitude": 47.5861,
            "longitude": 1.3359,
            "contact_email": "patrimoine@ville-blois.fr",
            "phone": "02 54 44 50 50",
            "admin": {
                "email": "m.lefevre@ville-blois.fr",
                "display_name": "Marie Lefèvre",
                "password": "Mairie-Blois-2026!"
            }
        }),
        _ => return None,
    })
}

/// Whether a known value has the schema's type (a field name can mean a number in one schema
/// and a string in another: `version`).
fn fits(value: &Value, schema: &Value) -> bool {
    if schema.get("$ref").is_some() || schema.get("properties").is_some() {
        // Described by its own fields, never by a known value.
        return false;
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("string") => value.as_str().is_some_and(|v| {
            let length = schema.get("maxLength").and_then(Value::as_u64);
            length.is_none_or(|max| v.chars().count() as u64 <= max)
                && match schema.get("format").and_then(Value::as_str) {
                    Some("uuid") => uuid::Uuid::parse_str(v).is_ok() && v.len() == 36,
                    Some("date") => chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok(),
                    Some("date-time") => chrono::DateTime::parse_from_rfc3339(v).is_ok(),
                    _ => true,
                }
        }),
        Some("boolean") => value.is_boolean(),
        Some("array") => value.as_array().is_some_and(|values| {
            let items = schema.get("items").unwrap_or(&Value::Null);
            values.iter().all(|v| fits(v, items))
        }),
        Some("object") => value.is_object(),
        _ => true,
    }
}

/// The field name that refers to what a schema describes (`ItemResponse` → `item_id`), so that
/// an example's `id` is the one other examples refer to it by.
fn id_of(schema: &str) -> String {
    let base = ["Response", "Summary"]
        .iter()
        .find_map(|suffix| schema.strip_suffix(suffix))
        .unwrap_or(schema);
    let mut out = String::new();
    for (i, c) in base.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out.push_str("_id");
    out
}

/// A stable identifier per kind of thing (the same field gives the same id everywhere), shaped
/// as a random (v4) UUID.
fn uuid_for(key: &str) -> String {
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in key.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    let mut b = h.to_be_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b).to_string()
}

/// The value a field of a given schema shows, when its name alone does not say enough, then
/// the value of a field of that name anywhere.
fn field_example(owner: &str, prop: &str) -> Option<Value> {
    let item = uuid_for("item_id");
    let lot = uuid_for("lot_id");
    let org = uuid_for("organisation_id");
    let v = match (owner, prop) {
        // Health.
        ("DependencyHealth", "name") => json!("database"),
        ("DependencyHealth", "kind") => json!("sqlite"),
        ("DependencyHealth" | "Health", "status") => json!("ok"),
        ("UnmatchedDisk", "status") => json!("ERASED"),
        ("UnmatchedDisk", "serial") | ("ReportedSystem", "serial") => json!("S3Z9NB0K512345X"),
        // Names of things.
        ("ApiKeyResponse" | "CreateApiKeyRequest", "name") => json!("GLPI de la mairie"),
        ("CatalogueHolder" | "RefurbisherSummary" | "RefurbisherSupply", "name") => {
            json!("Atelier Numérique Solidaire")
        }
        ("Contact" | "ExportPerson" | "DocumentParty" | "Signatory" | "StaffMember", "name") => {
            json!("Marie Lefèvre")
        }
        ("FunctionalTest" | "TestResult", "name") => json!("clavier"),
        ("ItemRequest" | "ItemRequestPatch" | "ItemResponse", "name") => {
            json!("Portable Dell Latitude 5490")
        }
        ("LifecycleTransition", "name") => json!("publish"),
        ("OidcProviderResponse", "name") => json!("proconnect"),
        ("OpenDataRow", "name") => json!("Blois"),
        ("SiteRequest" | "SiteRequestPatch" | "SiteResponse" | "PickupSite", "name") => {
            json!("Centre technique municipal")
        }
        ("ReceivingBody", "name") => json!("Commune de Vineuil"),
        (_, "name") => json!("Ville de Blois"),
        // Codes.
        ("CheckpointProblem", "code") => json!("shortened"),
        ("OpenDataRow", "code") => json!("41018"),
        ("Problem" | "ProblemType", "code") => json!("not_found"),
        ("ProblemField" | "ProblemItem" | "RejectionCount", "code") => json!("required"),
        ("RejectedRow", "code") => json!("invalid_siret"),
        (PARAM, "code") => json!("41018"),
        (_, "code") => json!("RMP-7K4Q-2XJD"),
        // Kinds and labels.
        ("DirectCessionDocument", "kind") => json!("convention_cession"),
        ("EventResponse", "kind") => json!("item_registered"),
        ("ExportAction", "kind") => json!("item_registered"),
        ("JobResponse", "kind") => json!("import"),
        ("ExportAction", "label") => json!("Équipement inventorié"),
        ("LifecycleTransition", "label") => json!("Publier le lot"),
        ("OidcProviderResponse", "label") => json!("ProConnect"),
        ("PublicStep", "label") => json!("Collecté par le reconditionneur"),
        ("VerificationItemResponse", "label") => json!("Agrément ESUS"),
        ("SignedScan", "label") => {
            json!("Copie papier signée, déposée par Ville de Blois le 1 décembre 2026")
        }
        ("EventResponse", "type") => json!("item.registered"),
        ("Problem", "type") => json!("/v1/meta/problems#not_found"),
        ("Problem" | "ProblemType", "title") => json!("Ressource introuvable"),
        ("Problem", "detail") => json!("Aucun équipement ne porte cet identifiant."),
        ("Problem", "instance") => json!(format!("/v1/items/{item}")),
        ("Problem", "request_id") => json!("3f9a1c5e7b2d4f6a8c0e1b3d5f7a9c2e"),
        ("ProblemField", "field") => json!("serial_number"),
        ("ProblemField", "pointer") => json!("/serial_number"),
        ("ProblemField", "in") => json!("body"),
        ("ProblemField" | "ProblemItem", "message") => json!("Ce champ est obligatoire"),
        ("ProblemType", "title_fr") => json!("Ressource introuvable"),
        ("ProblemType", "title_en") => json!("Resource not found"),
        ("DocumentResponse", "title") => json!("Convention de cession à titre gratuit"),
        (_, "title") => json!("Postes de la médiathèque, lot de décembre"),
        // Messages a person reads.
        ("ChainVerification" | "CheckpointVerification", "message") => {
            json!("L'historique est intact : 42 événements vérifiés.")
        }
        ("CheckpointProblem", "message") => {
            json!("L'historique de cet équipement a été raccourci depuis le point de contrôle.")
        }
        (_, "message") => json!("Nous reconditionnons 300 postes par an à Orléans."),
        ("ChainVerification", "reason") => json!("hash_mismatch"),
        ("ContestRequest", "reason") => json!("Le numéro de série du poste 3 est erroné."),
        (_, "reason") => json!("Valeur nette comptable confirmée par le service financier."),
        ("LineSupply", "summary") => {
            json!("3 disponibles maintenant, 5 attendus dans les 3 semaines.")
        }
        ("PublicItem", "history_problem") => {
            json!("L'historique de cet équipement ne peut pas être vérifié.")
        }
        ("ValuationResponse", "note") => {
            json!("Valeur nette comptable au 1er décembre 2026, d'après l'inventaire comptable.")
        }
        ("ConfirmProposal", "note") => {
            json!("Un poste avec plus de mémoire vous a été attribué à la place.")
        }
        (_, "note" | "notes") => json!("Écrans livrés sans câble d'alimentation."),
        ("ValuationResponse", "method") => json!("net_book_value"),
        (_, "method") => json!("Méthode ADEME Base Empreinte, facteurs de la version 2026-01."),
        ("WebhookAttemptResponse", "outcome") => json!("succeeded"),
        ("ExportWorkshopRecord", "record_type") => json!("sanitisation"),
        ("StorageMediumResponse", "source") => json!("hardware_report"),
        ("FactorWire", "source") => json!("ADEME Base Empreinte, 2026"),
        ("PublicStep", "step") => json!("collect"),
        ("PublicStep", "organisation") => json!("Atelier Numérique Solidaire"),
        ("PublicStep", "at") => json!("2026-12-01T09:30:00Z"),
        ("DocumentParty", "role" | "signer_role") | ("Signatory", "role") => {
            json!("Pour le cédant")
        }
        (_, "role" | "signer_role") => json!("Responsable du patrimoine"),
        ("StaffMember", "position") => json!("Agent d'accueil"),
        ("FactorSetWire", "version") => json!("2026-01"),
        (PARAM, "version") => json!("2026-01"),
        // Strings that are ids or digests.
        (_, "actor" | "confirmed_by" | "granted_by" | "linked_by") => {
            json!(format!("user/{}", uuid_for("user_id")))
        }
        (_, "stream") => json!(format!("item/{item}")),
        (_, "subject") => json!(format!("lot/{lot}")),
        (_, "href") => json!(format!("/v1/items/{item}")),
        (_, "webhook_id" | "to_organisation") => json!(uuid_for(prop)),
        (_, "organisation") => json!(org),
        (
            _,
            "hash" | "prev_hash" | "merkle_root" | "sha256" | "scan_sha256" | "expected_sha256",
        ) => {
            json!("9f2c4b7e1d0a8c3f5e6b2d4a7c9e1f3b5d7a9c2e4f6b8d0a1c3e5f7b9d2a4c6e")
        }
        (_, "public_key") => {
            json!("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
        }
        (_, "signature") => json!(
            "1f6b2c8d4e0a7b3c9d5e1f7a2b8c4d0e6f1a7b3c9d5e0f6a2b8c4d1e7f3a9b5c\
             0d6e2f8a4b1c7d3e9f5a0b6c2d8e4f1a7b3c9d5e0f6a2b8c4d1e7f3a9b5c0d6e"
        ),
        (_, "algorithm") => json!("ed25519"),
        (_, "prefix") => json!("rk_4f7a"),
        (_, "key") => json!("rk_4f7a9c2e1b8d3f6a0c5e7b9d2f4a6c8e"),
        (_, "secret") => json!("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        (_, "token") => json!("Xq3v9K2m4N6p8R0s1T5u7W9y2A4c6E8g"),
        (_, "request_id") => json!("3f9a1c5e7b2d4f6a8c0e1b3d5f7a9c2e"),
        (_, "reference") => json!("DEL-2026-118"),
        (_, "proof_code" | "superseded_by_code" | "public_code") => json!("RMP-7K4Q-2XJD"),
        // Places.
        (_, "address") => json!("9 place Saint-Louis"),
        (_, "postcode") => json!("41000"),
        (_, "city") => json!("Blois"),
        (_, "insee_code") => json!("41018"),
        (_, "departement") => json!("41"),
        (_, "latitude") => json!(47.5861),
        (_, "longitude") => json!(1.3359),
        (_, "lat") => json!(47.5861),
        (_, "lon") => json!(1.3359),
        (_, "distance_km" | "within_km") => json!(12.5),
        (_, "radius_km") => json!(50),
        (_, "location") => json!("Réserve du 2e étage, mairie annexe"),
        (_, "access_notes") => {
            json!("Du lundi au vendredi, 8 h – 12 h ; demander l'agent d'accueil.")
        }
        // Organisations and people.
        (_, "siret") => json!("21410018200010"),
        (_, "siren") => json!("214100182"),
        (_, "rna") => json!("W412001234"),
        (_, "esus_reference") => json!("ESUS-45-2025-0142"),
        (_, "statutory_purpose") => {
            json!("Lutter contre l'exclusion numérique des familles du Vendômois.")
        }
        (_, "purpose") => json!("Équiper l'atelier d'aide aux devoirs de huit postes."),
        (_, "beneficiary_category") => json!("soutien_scolaire"),
        (_, "public_body_type") => json!("commune"),
        (_, "organisation_kind") => json!("public_body"),
        (_, "organisation_name" | "association_name") => json!("Ville de Blois"),
        (_, "refurbisher_name") => json!("Atelier Numérique Solidaire"),
        (_, "recycler_name") => json!("Envie Centre-Val de Loire"),
        (_, "representative") => json!("Marc Gauthier, maire"),
        (_, "beneficiary_name" | "signer_name" | "display_name" | "technician_name") => {
            json!("Marie Lefèvre")
        }
        (_, "operator_name") => json!("Atelier Numérique Solidaire"),
        (_, "beneficiary_role") => json!("Agent d'accueil"),
        (_, "email" | "contact_email") => json!("patrimoine@ville-blois.fr"),
        (_, "phone") => json!("02 54 44 50 50"),
        (_, "password" | "current_password" | "new_password") => {
            json!("Mairie-Blois-2026!")
        }
        (_, "language") => json!("fr"),
        (_, "provider") => json!("proconnect"),
        (_, "acr") => json!("eidas1"),
        (_, "amr") => json!(["pwd", "mfa"]),
        (_, "kinds") => json!(["public_body"]),
        (_, "roles") => json!(["admin"]),
        (_, "parties" | "signed_by") => json!(["Ville de Blois", "Atelier Numérique Solidaire"]),
        (_, "contested_by") => json!([]),
        (_, "preconditions") => json!(["Le lot contient au moins un équipement."]),
        (_, "since" | "signed_on") => json!("2026-12-01"),
        (
            _,
            "created_at" | "updated_at" | "expires_at" | "revoked_at" | "generated_at" | "taken_at"
            | "signed_at" | "recorded_at" | "occurred_at",
        ) => json!("2026-12-01T09:30:00Z"),
        // Devices.
        (_, "brand" | "vendor") => json!("Dell"),
        (_, "model" | "product") => json!("Latitude 5490"),
        (_, "serial_number" | "reported_serial") => json!("5CG0123ABC"),
        (_, "serial" | "medium_serial") => json!("S3Z9NB0K512345X"),
        (_, "inventory_number") => json!("INF-2019-0412"),
        (_, "category_label") => json!("Ordinateur portable"),
        (_, "condition_notes") => json!("Rayures légères sur le capot, batterie à 82 %."),
        (_, "cpu") => json!("Intel Core i5-8350U"),
        (_, "operating_system") => json!("Debian 12"),
        (_, "medium_type") => json!("ssd"),
        (_, "device") => json!("sda"),
        (_, "device_name") => json!("/dev/sda"),
        (_, "tool") => json!("nwipe"),
        (_, "tool_version") => json!("0.34"),
        (_, "tool_status") => json!("ERASED"),
        (_, "verification_method") => json!("Relecture complète"),
        (_, "serial_check") => json!("matches"),
        (_, "parts_replaced") => json!(["batterie"]),
        (_, "filled") => json!(["cpu", "ram_gb", "storage_gb"]),
        (_, "ignored") => json!(["battery_health_percent"]),
        (_, "media_without_serial") => json!(["mmcblk0"]),
        (_, "content_type") => json!("image/jpeg"),
        (_, "file_name") => json!("statuts-association.pdf"),
        (_, "report") => json!({"id": "ordinateur", "class": "system", "product": "Latitude 5490"}),
        (_, "payload") => json!({"inventory_number": "INF-2019-0412"}),
        (_, "description") => {
            json!("Douze portables et quatre écrans de la médiathèque, sans disque retiré.")
        }
        (_, "resale_terms") => json!("Revente à prix solidaire, au plus 80 € par poste."),
        (_, "bsdd_number") => json!("BSD-20261201-4Q7K2X"),
        (_, "legal_basis") => {
            json!("Article L3212-2 du code général de la propriété des personnes publiques")
        }
        (_, "factor_set_version" | "version") => json!("2026-01"),
        (_, "status_label") => json!("Disponible"),
        (_, "status_reason") => json!("Agrément ESUS à renouveler."),
        (_, "proof_expected") => json!("Une attestation d'agrément ESUS en cours de validité."),
        (_, "proposal_reason") => json!("Premier dans l'ordre équitable."),
        (_, "contest_reason" | "superseded_reason") => {
            json!("Le numéro de série du poste 3 est erroné.")
        }
        (_, "scan") => json!("Copie papier signée, déposée par Ville de Blois le 1 décembre 2026"),
        (_, "mermaid") => json!("stateDiagram-v2\n    draft --> published: publish"),
        (_, "database") => json!("sqlite"),
        (_, "column") => json!("serial"),
        (_, "error" | "last_error") => json!("Le destinataire a répondu 503."),
        (_, "event_type") => json!("lot.published"),
        (_, "event_types") => json!(["lot.*", "claim.accepted"]),
        (_, "facets") => json!({"category": {"laptop": 12, "monitor": 4}}),
        // Links.
        (_, "url" | "start_url" | "end_session_url") => {
            json!("https://reemploi.example.org/v1/webhooks/receiver")
        }
        (_, "documents_url" | "rejections_url" | "report_url" | "thumbnail_url" | "verify_url") => {
            json!(format!(
                "https://reemploi.example.org/v1/items/{item}/documents"
            ))
        }
        (_, "next_cursor" | "cursor") => json!("eyJrIjoiMjAyNi0xMi0wMSIsImkiOjQyfQ"),
        // Numbers.
        (_, "year") => json!(2026),
        (_, "month") => json!(12),
        (_, "acquisition_value_cents") => json!(89_000),
        (_, "net_book_value_cents" | "value_cents") => json!(4_500),
        (_, "ram_gb" | "min_ram_gb") => json!(8),
        (_, "storage_gb" | "min_storage_gb" | "capacity_gb") => json!(256),
        (_, "screen_inches" | "min_screen_inches") => json!(14.0),
        (_, "cpu_cores") => json!(4),
        (_, "cpu_mhz") => json!(3600),
        (_, "battery_design_mwh") => json!(68_000),
        (_, "battery_full_mwh") => json!(55_760),
        (_, "battery_health_percent") => json!(82),
        (_, "weight_kg") => json!(1.6),
        (_, "co2e_kg") => json!(250.0),
        (_, "co2e_avoided_kg" | "reused_kg" | "recycled_kg") => json!(1_250.0),
        (_, "rate") => json!(0.42),
        (_, "target") => json!(0.2),
        (_, "rate_permille") => json!(420),
        (_, "max_items_per_association") => json!(20),
        (_, "overlap_hours") => json!(24),
        (_, "minutes_spent") => json!(45),
        (_, "beneficiaries") => json!(30),
        (_, "quantity") => json!(8),
        (_, "lead_time_days") => json!(21),
        (_, "latency_ms" | "last_latency_ms") => json!(38),
        (_, "status_code" | "last_status_code") => json!(200),
        (_, "status") => json!(404),
        (_, "limit") => json!(20),
        (_, "bytes") => json!(182_344),
        (_, "width") => json!(1600),
        (_, "height") => json!(1200),
        (_, "throughput_bytes_per_sec") => json!(182_000_000),
        (PARAM, "q") => json!("portable"),
        (PARAM, "types") => json!("lot.published,claim.accepted"),
        (PARAM, "expires") => json!(1_796_112_000),
        (PARAM, "invitation") => json!("Xq3v9K2m4N6p8R0s1T5u7W9y2A4c6E8g"),
        (PARAM, "state") => json!("c2tfNGY3YTljMmUxYjhkM2Y2YTBjNWU3YjlkMmY0YTZjOGU"),
        (PARAM, "session_state") => json!("8f2d3c1e"),
        (PARAM, "iss") => json!("https://auth.agentconnect.gouv.fr/api/v2"),
        (PARAM, "error_description") => json!("L'utilisateur a annulé la connexion."),
        (PARAM, "error_uri") => json!("https://auth.agentconnect.gouv.fr/erreurs"),
        (PARAM, "assign") => json!([format!("{item}=1")]),
        (PARAM, "item_id") => json!([item]),
        (PARAM, "lot_id") => json!(lot),
        _ => return None,
    };
    Some(v)
}
