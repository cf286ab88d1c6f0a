//! Request validation against the spec: every operation's path, query and JSON body are checked
//! against the schemas the spec publishes, before any handler runs, so that every bad field of a
//! request is listed at once, by JSON pointer, with a stable reason code (the problem module
//! renders the message in the caller's language). What the spec says is what is checked: a
//! client generated from it and the service agree by construction.
//!
//! Objects are closed: a body field the operation does not declare is refused (`unknown_field`)
//! rather than silently dropped, and so is an undeclared query parameter.

use std::sync::Arc;

use reemploi_domain::Invalid;
use serde_json::{Map, Value};

/// Where a refused value was in the request.
pub use crate::error::FieldLocation as Location;

/// One refused value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub location: Location,
    /// The field's path (`lines[0].quantity`) or the parameter's name (`limit`).
    pub field: String,
    pub reason: Invalid,
}

#[derive(Debug)]
struct Param {
    name: String,
    location: Location,
    required: bool,
    schema: Value,
}

#[derive(Debug)]
struct Operation {
    segments: Vec<String>,
    method: String,
    params: Vec<Param>,
    /// The JSON request body's schema, if the operation takes one.
    body: Option<Value>,
    body_required: bool,
    /// Callable without credentials (`security: []`).
    public: bool,
}

/// A body that is not JSON at all (the only body refusal that stays 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotJson {
    pub line: usize,
    pub column: usize,
}

/// The operations of the spec, with what each accepts.
#[derive(Debug, Clone, Default)]
pub struct Operations {
    ops: Arc<Vec<Operation>>,
    schemas: Arc<Map<String, Value>>,
}

impl Operations {
    pub fn from_spec(spec: &Value) -> Self {
        let mut ops = Vec::new();
        for (path, item) in spec
            .get("paths")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let segments: Vec<String> = path.split('/').map(str::to_owned).collect();
            for (method, op) in item.as_object().into_iter().flatten() {
                let params = op
                    .get("parameters")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|p| {
                        let location = match p.get("in")?.as_str()? {
                            "query" => Location::Query,
                            "path" => Location::Path,
                            _ => return None,
                        };
                        Some(Param {
                            name: p.get("name")?.as_str()?.to_owned(),
                            location,
                            required: p.get("required").and_then(Value::as_bool) == Some(true),
                            schema: p.get("schema").cloned().unwrap_or(Value::Null),
                        })
                    })
                    .collect();
                let request = op.get("requestBody");
                let body = request
                    .and_then(|b| b.get("content"))
                    .and_then(Value::as_object)
                    .and_then(|content| {
                        content
                            .iter()
                            .find(|(ct, _)| ct.starts_with("application/json"))
                            .and_then(|(_, media)| media.get("schema").cloned())
                    });
                let body_required = request
                    .and_then(|b| b.get("required"))
                    .and_then(Value::as_bool)
                    == Some(true);
                let public = op
                    .get("security")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty);
                ops.push(Operation {
                    public,
                    segments: segments.clone(),
                    method: method.to_uppercase(),
                    params,
                    body,
                    body_required,
                });
            }
        }
        let schemas = spec
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        Self {
            ops: Arc::new(ops),
            schemas: Arc::new(schemas),
        }
    }

    /// The operation `method path` falls under: the most specific template
    /// (`/v1/lots/search` before `/v1/lots/{id}`). None for an unknown route or method.
    fn find(&self, method: &str, path: &str) -> Option<&Operation> {
        let method = if method == "HEAD" { "GET" } else { method };
        let parts: Vec<&str> = path.split('/').collect();
        let fits = |segments: &Vec<String>| {
            segments.len() == parts.len()
                && segments
                    .iter()
                    .zip(&parts)
                    .all(|(s, p)| s.starts_with('{') || s == p)
        };
        let literal =
            |segments: &Vec<String>| segments.iter().filter(|s| !s.starts_with('{')).count();
        // The route is chosen among all methods; a method it does not declare is the
        // router's 405.
        let best = self
            .ops
            .iter()
            .filter(|op| fits(&op.segments))
            .map(|op| literal(&op.segments))
            .max()?;
        self.ops
            .iter()
            .find(|op| op.method == method && fits(&op.segments) && literal(&op.segments) == best)
    }

    /// What is wrong with `value` under `schema` (a schema of this spec), as `field: reason`
    /// lines; empty when it fits. The spec's own examples are checked with it.
    pub fn check_value(&self, value: &Value, schema: &Value) -> Vec<String> {
        let mut out = Vec::new();
        self.validate(value, schema, &mut String::new(), &mut out);
        out.into_iter()
            .map(|(at, why)| format!("{at}: {}", why.code()))
            .collect()
    }

    /// Whether a caller without credentials may call `method path`: if not, the request is
    /// answered 401 before its input is looked at (an anonymous caller learns nothing of it).
    pub fn is_public(&self, method: &str, path: &str) -> bool {
        self.find(method, path).is_none_or(|op| op.public)
    }

    /// Where a field an error names sits in `method path`'s request: a declared query or path
    /// parameter, else the body (when the operation has one).
    pub fn locate(&self, method: &str, path: &str, field: &str) -> Option<Location> {
        let op = self.find(method, path)?;
        if let Some(p) = op.params.iter().find(|p| p.name == field) {
            return Some(p.location);
        }
        op.body.as_ref().map(|_| Location::Body)
    }

    /// Checks the path and query of a request; empty when they are fine or the route unknown.
    pub fn check_parameters(&self, method: &str, path: &str, query: &str) -> Vec<Issue> {
        let Some(op) = self.find(method, path) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for (name, _) in &pairs {
            let declared = op
                .params
                .iter()
                .any(|p| p.location == Location::Query && &p.name == name);
            if !declared && !out.iter().any(|i: &Issue| &i.field == name) {
                let shown: String = name.chars().take(40).collect();
                out.push(Issue {
                    location: Location::Query,
                    field: shown,
                    reason: Invalid::UnknownField,
                });
            }
        }
        let parts: Vec<&str> = path.split('/').collect();
        for p in &op.params {
            let mut issue = |reason| {
                out.push(Issue {
                    location: p.location,
                    field: p.name.clone(),
                    reason,
                })
            };
            let values: Vec<String> = match p.location {
                Location::Query => pairs
                    .iter()
                    .filter(|(k, _)| *k == p.name)
                    .map(|(_, v)| v.clone())
                    .collect(),
                _ => {
                    let template = format!("{{{}}}", p.name);
                    op.segments
                        .iter()
                        .position(|s| *s == template)
                        .and_then(|i| parts.get(i))
                        .map(|raw| percent_decode(raw))
                        .into_iter()
                        .collect()
                }
            };
            if values.is_empty() {
                if p.required && self.resolve(&p.schema).get("type") != Some(&"array".into()) {
                    issue(Invalid::Required);
                }
                continue;
            }
            let schema = self.resolve(&p.schema);
            let (item_schema, values) =
                if schema.get("type").and_then(Value::as_str) == Some("array") {
                    (schema.get("items").unwrap_or(&Value::Null), &values[..])
                } else {
                    (&p.schema, &values[..1])
                };
            for raw in values {
                let value = self.coerce(raw, item_schema);
                let mut found = Vec::new();
                self.validate(&value, item_schema, &mut String::new(), &mut found);
                if let Some(reason) = found.first().map(|(_, r)| *r) {
                    issue(reason);
                    break;
                }
            }
        }
        out
    }

    /// Checks a JSON body; `Err` when it is not JSON at all.
    pub fn check_body(&self, method: &str, path: &str, body: &[u8]) -> Result<Vec<Issue>, NotJson> {
        let Some(op) = self.find(method, path) else {
            return Ok(Vec::new());
        };
        let Some(schema) = &op.body else {
            return Ok(Vec::new());
        };
        if body.iter().all(u8::is_ascii_whitespace) {
            if op.body_required {
                return Err(NotJson { line: 1, column: 1 });
            }
            return Ok(Vec::new());
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| NotJson {
            line: e.line(),
            column: e.column(),
        })?;
        let mut found = Vec::new();
        self.validate(&value, schema, &mut String::new(), &mut found);
        Ok(found
            .into_iter()
            .map(|(field, reason)| Issue {
                location: Location::Body,
                field,
                reason,
            })
            .collect())
    }

    /// Follows `$ref`s.
    fn resolve<'a>(&'a self, mut schema: &'a Value) -> &'a Value {
        for _ in 0..16 {
            match schema
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .and_then(|name| self.schemas.get(name))
            {
                Some(next) => schema = next,
                None => break,
            }
        }
        schema
    }

    /// A query or path value typed as its schema says (an unparsable number stays a string,
    /// which then fails the type check).
    fn coerce(&self, raw: &str, schema: &Value) -> Value {
        let schema = self.resolve(schema);
        let ty = schema.get("type").and_then(Value::as_str).or_else(|| {
            schema
                .get("allOf")
                .and_then(Value::as_array)
                .and_then(|parts| {
                    parts
                        .iter()
                        .find_map(|p| self.resolve(p).get("type").and_then(Value::as_str))
                })
        });
        match ty {
            Some("integer") => raw
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| raw.parse::<u64>().map(Value::from))
                .unwrap_or_else(|_| raw.into()),
            Some("number") => raw
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map_or_else(|| raw.into(), Value::from),
            Some("boolean") => match raw {
                "true" => true.into(),
                "false" => false.into(),
                _ => raw.into(),
            },
            _ => raw.into(),
        }
    }

    /// The properties and required names of an object schema, `allOf` parts merged.
    fn shape<'a>(
        &'a self,
        schema: &'a Value,
        props: &mut Vec<(&'a str, &'a Value)>,
        required: &mut Vec<&'a str>,
    ) -> bool {
        let schema = self.resolve(schema);
        let mut object = schema.get("type").and_then(Value::as_str) == Some("object")
            || schema.get("properties").is_some();
        if let Some(p) = schema.get("properties").and_then(Value::as_object) {
            props.extend(p.iter().map(|(k, v)| (k.as_str(), v)));
        }
        if let Some(r) = schema.get("required").and_then(Value::as_array) {
            required.extend(r.iter().filter_map(Value::as_str));
        }
        for part in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            object |= self.shape(part, props, required);
        }
        object
    }

    fn validate(
        &self,
        value: &Value,
        schema: &Value,
        at: &mut String,
        out: &mut Vec<(String, Invalid)>,
    ) {
        let nullable = schema.get("nullable").and_then(Value::as_bool) == Some(true);
        let schema = self.resolve(schema);
        if value.is_null() {
            if !nullable && schema.get("nullable").and_then(Value::as_bool) != Some(true) {
                out.push((at.clone(), Invalid::Required));
            }
            return;
        }
        if let Some(alternatives) = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array)
        {
            let fits = alternatives.iter().any(|alt| {
                let mut found = Vec::new();
                self.validate(value, alt, &mut at.clone(), &mut found);
                found.is_empty()
            });
            if !fits {
                out.push((at.clone(), Invalid::InvalidType));
            }
            return;
        }
        let mut props = Vec::new();
        let mut required = Vec::new();
        if self.shape(schema, &mut props, &mut required) {
            let Some(object) = value.as_object() else {
                out.push((at.clone(), Invalid::InvalidType));
                return;
            };
            for name in &required {
                if !object.contains_key(*name) {
                    out.push((child(at, name), Invalid::Required));
                }
            }
            // A map (`additionalProperties`) takes any key, each value under that schema.
            let extra = self
                .resolve(schema)
                .get("additionalProperties")
                .filter(|a| a.is_object());
            for (key, v) in object {
                match props.iter().find(|(name, _)| name == key) {
                    Some((_, s)) => self.validate(v, s, &mut child(at, key), out),
                    None if extra.is_some() => {
                        if let Some(s) = extra {
                            self.validate(v, s, &mut child(at, key), out);
                        }
                    }
                    None => {
                        let shown: String = key.chars().take(40).collect();
                        out.push((child(at, &shown), Invalid::UnknownField));
                    }
                }
            }
            return;
        }
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            for part in parts {
                self.validate(value, part, at, out);
            }
        }
        if let Some(choices) = schema.get("enum").and_then(Value::as_array) {
            if !choices.contains(value) {
                out.push((at.clone(), Invalid::InvalidEnum));
            }
            return;
        }
        let number = |key: &str| schema.get(key).and_then(Value::as_f64);
        let count = |key: &str| schema.get(key).and_then(Value::as_u64);
        match schema.get("type").and_then(Value::as_str) {
            Some("array") => {
                let Some(items) = value.as_array() else {
                    out.push((at.clone(), Invalid::InvalidType));
                    return;
                };
                if count("minItems").is_some_and(|min| (items.len() as u64) < min) {
                    out.push((at.clone(), Invalid::TooShort));
                }
                if count("maxItems").is_some_and(|max| items.len() as u64 > max) {
                    out.push((at.clone(), Invalid::TooMany));
                    return;
                }
                let item_schema = schema.get("items").unwrap_or(&Value::Null);
                for (i, item) in items.iter().enumerate() {
                    let len = at.len();
                    at.push_str(&format!("[{i}]"));
                    self.validate(item, item_schema, at, out);
                    at.truncate(len);
                }
                if schema.get("uniqueItems").and_then(Value::as_bool) == Some(true)
                    && items
                        .iter()
                        .enumerate()
                        .any(|(i, a)| items[..i].contains(a))
                {
                    out.push((at.clone(), Invalid::Duplicate));
                }
            }
            Some("string") => {
                let Some(s) = value.as_str() else {
                    out.push((at.clone(), Invalid::InvalidType));
                    return;
                };
                let chars = s.chars().count() as u64;
                if count("maxLength").is_some_and(|max| chars > max) {
                    out.push((at.clone(), Invalid::TooLong));
                } else if count("minLength").is_some_and(|min| chars < min) {
                    out.push((
                        at.clone(),
                        if chars == 0 {
                            Invalid::Required
                        } else {
                            Invalid::TooShort
                        },
                    ));
                }
                let bad = match schema.get("format").and_then(Value::as_str) {
                    Some("date") => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .is_err()
                        .then_some(Invalid::InvalidDate),
                    Some("date-time") => chrono::DateTime::parse_from_rfc3339(s)
                        .is_err()
                        .then_some(Invalid::InvalidDate),
                    Some("uuid") => uuid::Uuid::parse_str(s)
                        .is_err()
                        .then_some(Invalid::InvalidFormat),
                    _ => None,
                };
                if let Some(reason) = bad {
                    out.push((at.clone(), reason));
                }
            }
            Some("integer") => {
                let whole = value
                    .as_i64()
                    .map(|i| i as f64)
                    .or_else(|| value.as_u64().map(|u| u as f64));
                let Some(n) = whole else {
                    out.push((at.clone(), Invalid::InvalidType));
                    return;
                };
                let (lo, hi) = match schema.get("format").and_then(Value::as_str) {
                    Some("int32") => (f64::from(i32::MIN), f64::from(i32::MAX)),
                    Some("int64") => (i64::MIN as f64, i64::MAX as f64),
                    _ => (f64::MIN, f64::MAX),
                };
                if n < lo
                    || n > hi
                    || number("minimum").is_some_and(|min| n < min)
                    || number("maximum").is_some_and(|max| n > max)
                {
                    out.push((at.clone(), Invalid::OutOfRange));
                }
            }
            Some("number") => {
                let Some(n) = value.as_f64() else {
                    out.push((at.clone(), Invalid::InvalidType));
                    return;
                };
                if number("minimum").is_some_and(|min| n < min)
                    || number("maximum").is_some_and(|max| n > max)
                {
                    out.push((at.clone(), Invalid::OutOfRange));
                }
            }
            Some("boolean") if !value.is_boolean() => {
                out.push((at.clone(), Invalid::InvalidType));
            }
            _ => {}
        }
    }
}

fn child(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_owned()
    } else {
        format!("{at}.{name}")
    }
}

fn percent_decode(raw: &str) -> String {
    // A path segment decodes as a form value does, except that `+` stays itself.
    form_urlencoded::parse(format!("v={}", raw.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ops() -> Operations {
        Operations::from_spec(&json!({
            "paths": {
                "/v1/things/{id}": {
                    "put": {
                        "parameters": [
                            {"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}},
                            {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "format": "int32", "maximum": 200}},
                            {"name": "grade", "in": "query", "required": false, "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Grade"}}}
                        ],
                        "requestBody": {"required": true, "content": {"application/json; charset=utf-8": {"schema": {"$ref": "#/components/schemas/Thing"}}}}
                    }
                }
            },
            "components": {"schemas": {
                "Grade": {"type": "string", "enum": ["A", "B"]},
                "Line": {"type": "object", "required": ["quantity"], "properties": {"quantity": {"type": "integer", "format": "int32", "minimum": 1}}},
                "Thing": {"type": "object", "required": ["name", "lines"], "properties": {
                    "name": {"type": "string", "maxLength": 5},
                    "on": {"type": "string", "format": "date"},
                    "grade": {"allOf": [{"$ref": "#/components/schemas/Grade"}], "nullable": true, "type": "string"},
                    "lines": {"type": "array", "maxItems": 3, "items": {"$ref": "#/components/schemas/Line"}}
                }}
            }}
        }))
    }

    #[test]
    fn every_bad_field_of_a_body_is_listed_by_path() {
        let body = br#"{"name": 3, "on": "2026-02-30", "grade": "Z", "lines": [{"quantity": 0}, {}], "colour": "red"}"#;
        let found = ops().check_body("PUT", "/v1/things/x", body).expect("JSON");
        let mut got: Vec<(&str, &str)> = found
            .iter()
            .map(|i| (i.field.as_str(), i.reason.code()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("colour", "unknown_field"),
                ("grade", "invalid_enum"),
                ("lines[0].quantity", "out_of_range"),
                ("lines[1].quantity", "required"),
                ("name", "invalid_type"),
                ("on", "invalid_date"),
            ]
        );
        assert_eq!(
            crate::error::pointer_of("lines[1].quantity"),
            "/lines/1/quantity"
        );
        let fine = br#"{"name": "abc", "grade": null, "lines": []}"#;
        assert_eq!(ops().check_body("PUT", "/v1/things/x", fine), Ok(vec![]));
        assert!(ops().check_body("PUT", "/v1/things/x", b"{oops").is_err());
        assert!(ops().check_body("PUT", "/v1/things/x", b"").is_err());
    }

    #[test]
    fn parameters_are_typed_as_the_spec_says() {
        let found =
            ops().check_parameters("PUT", "/v1/things/nope", "limit=500&grade=A&grade=Q&sort=x");
        let got: Vec<(&str, &str, &str)> = found
            .iter()
            .map(|i| (i.location.as_str(), i.field.as_str(), i.reason.code()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("query", "sort", "unknown_field"),
                ("path", "id", "invalid_format"),
                ("query", "limit", "out_of_range"),
                ("query", "grade", "invalid_enum"),
            ]
        );
        let id = uuid::Uuid::nil();
        assert!(
            ops()
                .check_parameters("PUT", &format!("/v1/things/{id}"), "limit=2")
                .is_empty()
        );
        assert_eq!(
            ops().check_parameters("PUT", &format!("/v1/things/{id}"), "limit=abc")[0].reason,
            Invalid::InvalidType
        );
    }
}
