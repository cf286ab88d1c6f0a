//! Request bodies taken as they come (a CSV file, a tool's log): streamed, never parsed by
//! poem-openapi, declared in the spec as binary under each accepted content type.

/// A media type's essence: what comes before any `;`, trimmed, lowercase.
pub fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Whether `content_type`'s essence is one of `accepted`.
pub fn essence_in(content_type: &str, accepted: &[&str]) -> bool {
    accepted.contains(&essence(content_type).as_str())
}

/// Declares `pub struct $name(pub poem::Body)`, a body accepted under the content types
/// `$types` (the first is the one the spec names first), described by `$description`.
/// `$check(request)` refuses a request whose content type does not fit, before the body is read.
macro_rules! raw_body {
    ($(#[$doc:meta])* $name:ident, $types:expr, $description:expr, $check:path) => {
        $(#[$doc])*
        pub struct $name(pub poem::Body);

        impl poem_openapi::payload::Payload for $name {
            const CONTENT_TYPE: &'static str = $types[0];

            fn check_content_type(content_type: &str) -> bool {
                $crate::http::raw_body::essence_in(content_type, $types)
            }

            fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
                poem_openapi::registry::MetaSchemaRef::Inline(Box::new(
                    poem_openapi::registry::MetaSchema {
                        format: Some("binary"),
                        ..poem_openapi::registry::MetaSchema::new("string")
                    },
                ))
            }
        }

        impl poem_openapi::payload::ParsePayload for $name {
            const IS_REQUIRED: bool = true;

            async fn from_request(
                request: &poem::Request,
                body: &mut poem::RequestBody,
            ) -> poem::Result<Self> {
                Ok(Self(
                    <poem::Body as poem::FromRequest>::from_request(request, body).await?,
                ))
            }
        }

        impl<'a> poem_openapi::ApiExtractor<'a> for $name {
            const TYPES: &'static [poem_openapi::ApiExtractorType] =
                &[poem_openapi::ApiExtractorType::RequestObject];
            type ParamType = ();
            type ParamRawType = ();

            fn register(registry: &mut poem_openapi::registry::Registry) {
                <Self as poem_openapi::payload::Payload>::register(registry);
            }

            fn request_meta() -> Option<poem_openapi::registry::MetaRequest> {
                Some(poem_openapi::registry::MetaRequest {
                    description: Some($description),
                    content: $types
                        .iter()
                        .map(|t| poem_openapi::registry::MetaMediaType {
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
                _: poem_openapi::ExtractParamOptions<()>,
            ) -> poem::Result<Self> {
                $check(request)?;
                <Self as poem_openapi::payload::ParsePayload>::from_request(request, body).await
            }
        }
    };
}

pub(crate) use raw_body;
