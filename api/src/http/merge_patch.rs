//! Partial updates, the API's one way: `PATCH` with a JSON Merge Patch (RFC 7386). A field left
//! out keeps its value, `null` clears it (refused, 422 `required`, on a field that must have
//! one), anything else replaces it. The body is accepted as `application/merge-patch+json` or
//! `application/json`.
//!
//! The patch is merged onto the resource as it reads now (its answer, restricted to the fields
//! of the full request `T`), and the result is parsed as `T` and goes through the same command
//! as a full write, so every rule is checked on the whole. The spec declares the body as
//! `{T}Patch`: `T` without required fields (`http::refine`).

use std::marker::PhantomData;

use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use reemploi_domain::Invalid;
use serde_json::Value;

use crate::error::{ApiError, ErrorCode};

/// The media types a patch is accepted under (the first is the one RFC 7386 registers).
pub const MEDIA_TYPES: &[&str] = &["application/merge-patch+json", "application/json"];

/// A merge patch of a `T`.
pub struct MergePatch<T> {
    /// The patch: a JSON object (checked against `{T}Patch` by the validation layer).
    pub patch: serde_json::Map<String, Value>,
    _full: PhantomData<fn() -> T>,
}

impl<T: Type + ParseFromJSON> MergePatch<T> {
    /// `current` (the resource's answer as JSON) with the patch applied, read as the full `T`.
    pub fn apply_to(&self, current: Value) -> Result<T, ApiError> {
        let (properties, required) = fields_of::<T>();
        let mut merged = serde_json::Map::new();
        if let Value::Object(current) = current {
            for (k, v) in current {
                if properties.contains(&k.as_str()) {
                    merged.insert(k, v);
                }
            }
        }
        let mut cleared = reemploi_domain::FieldErrors::new();
        for (k, v) in &self.patch {
            if v.is_null() && required.contains(&k.as_str()) {
                cleared.push(k.clone(), Invalid::Required);
            }
        }
        if !cleared.0.is_empty() {
            return Err(cleared.into());
        }
        let mut merged = Value::Object(merged);
        merge(&mut merged, &Value::Object(self.patch.clone()));
        T::parse_from_json(Some(merged)).map_err(|e| {
            tracing::debug!(error = %e.message(), "a merged patch does not parse");
            ApiError::new(ErrorCode::ValidationFailed)
        })
    }
}

/// A patch applied by reading, merging and writing: `read()` gives the resource's answer (as
/// JSON) and version; `write(full, version)` is the full write, refused with 412 when the
/// resource is no longer at `version`. With the client's `If-Match`, a change since its read is
/// its 412; without it, a change between this read and this write is merged again (up to
/// [`MERGE_ATTEMPTS`] times), so a concurrent writer's fields are never overwritten with what was
/// read before them.
pub async fn apply<T, R, Read, ReadFut, Write, WriteFut>(
    patch: &MergePatch<T>,
    if_match: Option<&str>,
    read: Read,
    write: Write,
) -> Result<R, ApiError>
where
    T: Type + ParseFromJSON,
    Read: Fn() -> ReadFut,
    ReadFut: std::future::Future<Output = Result<(Value, i32), ApiError>>,
    Write: Fn(T, i32) -> WriteFut,
    WriteFut: std::future::Future<Output = Result<R, ApiError>>,
{
    let mut attempt = 0;
    loop {
        let (current, version) = read().await?;
        super::types::check_if_match(if_match, version)?;
        let full = patch.apply_to(current)?;
        match write(full, version).await {
            Err(e)
                if e.code == ErrorCode::PreconditionFailed
                    && if_match.is_none()
                    && attempt + 1 < MERGE_ATTEMPTS =>
            {
                attempt += 1;
            }
            done => return done,
        }
    }
}

/// How many times a patch without `If-Match` is merged again when other writes keep moving the
/// resource under it (then 412, never a lost update).
pub const MERGE_ATTEMPTS: u32 = 10;

/// The precondition of a write that must find the resource at `expected`.
pub fn at_version(expected: i32) -> impl Fn(i32) -> Result<(), ApiError> + Send + Sync + Clone {
    move |version| {
        if version == expected {
            Ok(())
        } else {
            Err(ApiError::new(ErrorCode::PreconditionFailed))
        }
    }
}

/// The property names of `T`'s schema, and those it requires.
fn fields_of<T: Type>() -> (Vec<&'static str>, Vec<&'static str>) {
    let mut registry = Registry::new();
    T::register(&mut registry);
    registry
        .schemas
        .get(T::name().as_ref())
        .map(|s| {
            (
                s.properties.iter().map(|(k, _)| *k).collect(),
                s.required.clone(),
            )
        })
        .unwrap_or_default()
}

/// RFC 7386 §2: `patch` merged into `target`.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(target) = target {
        for (k, v) in patch {
            if v.is_null() {
                target.remove(k);
            } else {
                merge(target.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

impl<T: Type> poem_openapi::payload::Payload for MergePatch<T> {
    const CONTENT_TYPE: &'static str = "application/merge-patch+json";

    fn check_content_type(content_type: &str) -> bool {
        super::raw_body::essence_in(content_type, MEDIA_TYPES)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type> poem_openapi::payload::ParsePayload for MergePatch<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(
        request: &poem::Request,
        body: &mut poem::RequestBody,
    ) -> poem::Result<Self> {
        let bytes = <Vec<u8> as poem::FromRequest>::from_request(request, body).await?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(patch)) => Ok(Self {
                patch,
                _full: PhantomData,
            }),
            Ok(_) => Err(ApiError::field("", Invalid::InvalidType).into()),
            Err(_) => Err(ApiError::new(ErrorCode::MalformedRequest).into()),
        }
    }
}

impl<'a, T: Type> ApiExtractor<'a> for MergePatch<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as poem_openapi::payload::Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some(
                "The fields to change (JSON Merge Patch, RFC 7386): a field left out keeps its \
                 value, `null` clears it.",
            ),
            content: MEDIA_TYPES
                .iter()
                .map(|t| MetaMediaType {
                    content_type: t,
                    schema: <Self as poem_openapi::payload::Payload>::schema_ref(),
                })
                .collect(),
            required: true,
        })
    }

    async fn from_request(
        request: &'a poem::Request,
        body: &mut poem::RequestBody,
        _: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        let content_type = request
            .headers()
            .get(poem::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !super::raw_body::essence_in(content_type, MEDIA_TYPES) {
            return Err(ApiError::new(ErrorCode::UnsupportedMediaType).into());
        }
        <Self as poem_openapi::payload::ParsePayload>::from_request(request, body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7386_examples_merge_as_the_rfc_says() {
        let cases = [
            (r#"{"a":"b"}"#, r#"{"a":"c"}"#, r#"{"a":"c"}"#),
            (r#"{"a":"b"}"#, r#"{"b":"c"}"#, r#"{"a":"b","b":"c"}"#),
            (r#"{"a":"b"}"#, r#"{"a":null}"#, r#"{}"#),
            (r#"{"a":"b","b":"c"}"#, r#"{"a":null}"#, r#"{"b":"c"}"#),
            (r#"{"a":["b"]}"#, r#"{"a":"c"}"#, r#"{"a":"c"}"#),
            (r#"{"a":"c"}"#, r#"{"a":["b"]}"#, r#"{"a":["b"]}"#),
            (
                r#"{"a":{"b":"c"}}"#,
                r#"{"a":{"b":"d","c":null}}"#,
                r#"{"a":{"b":"d"}}"#,
            ),
            (r#"{"a":[{"b":"c"}]}"#, r#"{"a":[1]}"#, r#"{"a":[1]}"#),
            (r#"{"e":null}"#, r#"{"a":1}"#, r#"{"e":null,"a":1}"#),
            (r#"[1,2]"#, r#"{"a":"b","c":null}"#, r#"{"a":"b"}"#),
            (
                r#"{}"#,
                r#"{"a":{"bb":{"ccc":null}}}"#,
                r#"{"a":{"bb":{}}}"#,
            ),
        ];
        for (target, patch, expected) in cases {
            let mut t: Value = serde_json::from_str(target).expect("target");
            merge(&mut t, &serde_json::from_str(patch).expect("patch"));
            assert_eq!(
                t,
                serde_json::from_str::<Value>(expected).expect("expected"),
                "{patch}"
            );
        }
    }
}
