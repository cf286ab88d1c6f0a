//! The problem middleware: every error leaves the service as `application/problem+json` in the
//! caller's language, whether a handler returned an [`ApiError`] or poem refused the request
//! before any handler ran (unreadable JSON, unknown route, missing token, body too large).

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::error::{ApiError, ErrorCode, FieldLocation, Lang};

/// Serialises a problem document.
pub use crate::error::render;

fn code_for_status(status: StatusCode) -> ErrorCode {
    match status.as_u16() {
        401 => ErrorCode::Unauthenticated,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        409 => ErrorCode::Conflict,
        412 => ErrorCode::PreconditionFailed,
        413 => ErrorCode::PayloadTooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        422 => ErrorCode::ValidationFailed,
        429 => ErrorCode::RateLimited,
        503 => ErrorCode::Unavailable,
        400..=499 => ErrorCode::MalformedRequest,
        _ => ErrorCode::Internal,
    }
}

/// Extracts the field name from poem-openapi's parse messages (`field `name`: …`), nested
/// fields joined (`lines.quantity`).
fn field_of(message: &str) -> Option<String> {
    let mut names = Vec::new();
    let mut rest = message;
    while let Some(start) = rest.find("field `") {
        let after = &rest[start + "field `".len()..];
        let end = after.find('`')?;
        names.push(&after[..end]);
        rest = &after[end..];
    }
    (!names.is_empty()).then(|| names.join("."))
}

/// The reason code a poem-openapi parse message stands for.
fn reason_of(message: &str) -> reemploi_domain::Invalid {
    use reemploi_domain::Invalid;
    if message.contains("maxLength") {
        Invalid::TooLong
    } else if message.contains("minLength") {
        Invalid::TooShort
    } else if message.contains("maxItems") {
        Invalid::TooMany
    } else if message.contains("minItems") {
        Invalid::TooShort
    } else if message.contains("maximum") || message.contains("minimum") {
        Invalid::OutOfRange
    } else if message.contains("found null") || message.contains("is required") {
        Invalid::Required
    } else if message.contains("Expected input type") {
        Invalid::InvalidType
    } else {
        Invalid::InvalidFormat
    }
}

/// Where the fields an error names sit in the request being answered.
pub type Locate<'a> = &'a dyn Fn(&str) -> Option<FieldLocation>;

/// Fills in where each field of `problem` is (body, query or path), from the operation's
/// declaration; a parameter has no body pointer.
fn place(problem: &mut crate::error::Problem, locate: Locate<'_>) {
    for e in problem.errors.iter_mut().filter(|e| e.location.is_none()) {
        if let Some(location) = locate(&e.field) {
            e.location = Some(location.as_str().to_owned());
            if location != FieldLocation::Body {
                e.pointer = None;
            }
        }
    }
}

/// Converts any poem error into a problem response.
pub fn from_poem_error(
    err: poem::Error,
    lang: Lang,
    instance: String,
    locate: Locate<'_>,
) -> Response {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        let mut problem = api.to_problem(lang, Some(instance));
        place(&mut problem, locate);
        return render(&problem, api.retry_after);
    }
    // What the spec check before the handlers lets through and poem-openapi still refuses (a
    // value its own type parses more strictly) is a validation failure too, named by field.
    let parsed = if let Some(e) = err.downcast_ref::<poem_openapi::error::ParseParamError>() {
        let location = locate(e.name).unwrap_or(FieldLocation::Query);
        Some((location, e.name.to_owned(), reason_of(&e.reason)))
    } else if let Some(e) = err.downcast_ref::<poem_openapi::error::ParsePathError>() {
        Some((FieldLocation::Path, e.name.to_owned(), reason_of(&e.reason)))
    } else if let Some(e) = err.downcast_ref::<poem_openapi::error::ParseRequestPayloadError>() {
        field_of(&e.reason).map(|f| (FieldLocation::Body, f, reason_of(&e.reason)))
    } else if let Some(e) = err.downcast_ref::<poem_openapi::error::ParseMultipartError>() {
        field_of(&e.reason).map(|f| (FieldLocation::Body, f, reason_of(&e.reason)))
    } else {
        None
    };
    if let Some(issue) = parsed {
        let mut api = ApiError::new(ErrorCode::ValidationFailed);
        api.located = Some(Box::new(vec![issue]));
        return render(&api.to_problem(lang, Some(instance)), None);
    }
    let status = err.status();
    let code = code_for_status(status);
    if code == ErrorCode::Internal {
        tracing::error!(error = %err, http.path = %instance, "unhandled error");
    }
    let mut problem = ApiError::new(code).to_problem(lang, Some(instance));
    // Keep the real status (a 4xx without its own row keeps its number).
    problem.status = status.as_u16();
    if code == ErrorCode::UnsupportedMediaType {
        problem.detail = Some(match lang {
            Lang::Fr => {
                "Ce type de contenu n'est pas accepté par cette opération (voir la spécification)."
                    .to_owned()
            }
            Lang::En => {
                "This operation does not accept this content type (see the spec).".to_owned()
            }
        });
    }
    render(&problem, None)
}

/// The methods each path template of the API accepts, for the `Allow` header of 405 answers,
/// and the template a path falls under, for logs and metrics.
#[derive(Debug, Clone, Default)]
pub struct AllowedMethods(Vec<(Vec<String>, String, String)>);

impl AllowedMethods {
    /// Reads the path templates and methods of a spec.
    pub fn from_spec(spec: &serde_json::Value) -> Self {
        let mut table = Vec::new();
        if let Some(paths) = spec.get("paths").and_then(|p| p.as_object()) {
            for (path, item) in paths {
                let mut methods: Vec<String> = item
                    .as_object()
                    .map(|o| o.keys().map(|m| m.to_uppercase()).collect())
                    .unwrap_or_default();
                if methods.iter().any(|m| m == "GET") {
                    methods.push("HEAD".into());
                }
                methods.sort();
                let segments = path.split('/').map(str::to_owned).collect();
                table.push((segments, methods.join(", "), path.clone()));
            }
        }
        Self(table)
    }

    /// The most specific template `path` falls under (`/v1/lots/search` before
    /// `/v1/lots/{id}`), with its methods.
    fn entry(&self, path: &str) -> Option<&(Vec<String>, String, String)> {
        let parts: Vec<&str> = path.split('/').collect();
        self.0
            .iter()
            .filter(|(segments, _, _)| {
                segments.len() == parts.len()
                    && segments
                        .iter()
                        .zip(&parts)
                        .all(|(s, p)| s.starts_with('{') || s == p)
            })
            .max_by_key(|(segments, _, _)| segments.iter().filter(|s| !s.starts_with('{')).count())
    }

    /// The methods accepted on `path`, as in an `Allow` header.
    pub fn lookup(&self, path: &str) -> Option<&str> {
        self.entry(path).map(|(_, methods, _)| methods.as_str())
    }

    /// The path template `path` falls under (`/v1/items/{id}`).
    pub fn template(&self, path: &str) -> Option<&str> {
        self.entry(path).map(|(_, _, template)| template.as_str())
    }
}

/// Middleware rendering every error as problem+json.
pub async fn middleware<E: Endpoint>(
    next: E,
    req: Request,
    allowed: &AllowedMethods,
    operations: &super::validation::Operations,
) -> poem::Result<Response> {
    let resp = render_errors(next, req, operations).await?;
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
        let mut resp = resp;
        let path = resp
            .extensions()
            .get::<RequestPath>()
            .map(|p| p.0.clone())
            .unwrap_or_default();
        if let Some(methods) = allowed.lookup(&path)
            && let Ok(v) = HeaderValue::from_str(methods)
        {
            resp.headers_mut().insert(header::ALLOW, v);
        }
        return Ok(resp);
    }
    Ok(resp)
}

/// The path of the request a response answers (for the `Allow` header).
#[derive(Debug, Clone)]
struct RequestPath(String);

async fn render_errors<E: Endpoint>(
    next: E,
    req: Request,
    operations: &super::validation::Operations,
) -> poem::Result<Response> {
    let method = req.method().as_str().to_owned();
    let lang = Lang::from_accept_language(
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let instance = req.uri().path().to_owned();
    let request_id = req.data::<super::log::RequestId>().map(|r| r.0.clone());
    // The pages for people answer their errors (429 included) as HTML pages.
    let page = super::pages::is_page_path(&instance).then(|| super::pages::lang(&req));
    let path = instance.clone();
    let locate = move |field: &str| operations.locate(&method, &path, field);
    let mut resp = match next.call(req).await {
        Ok(resp) => {
            let resp = resp.into_response();
            let content_type = resp
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let is_problem = content_type.starts_with("application/problem+json");
            let is_page = page.is_some() && content_type.starts_with("text/html");
            // Readiness answers its report with 503: load balancers and operators read it.
            let is_report = instance == "/health/ready";
            if resp.status().as_u16() >= 400 && !is_problem && !is_page && !is_report {
                let status = resp.status();
                match page {
                    Some(lang) => page_error(status, None, lang, &instance),
                    None => from_poem_error(
                        poem::Error::from_status(status),
                        lang,
                        instance.clone(),
                        &locate,
                    ),
                }
            } else {
                resp
            }
        }
        Err(err) => match page {
            Some(lang) => {
                let retry_after = err.downcast_ref::<ApiError>().and_then(|e| e.retry_after);
                let status = err
                    .downcast_ref::<ApiError>()
                    .map_or_else(|| err.status(), |e| e.code.status());
                page_error(status, retry_after, lang, &instance)
            }
            None => from_poem_error(err, lang, instance.clone(), &locate),
        },
    };
    resp.extensions_mut().insert(RequestPath(instance));
    Ok(match request_id {
        Some(id) => with_request_id(resp, id).await,
        None => resp,
    })
}

/// Writes the request id into a problem body, so that a person reporting an error quotes the
/// id the log lines of that request carry.
async fn with_request_id(mut resp: Response, id: String) -> Response {
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/problem+json"));
    if !is_problem {
        return resp;
    }
    let Ok(bytes) = resp.take_body().into_bytes().await else {
        return resp;
    };
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut problem)) => {
            problem.insert("request_id".into(), serde_json::Value::String(id));
            serde_json::to_vec(&problem).unwrap_or_else(|_| bytes.to_vec())
        }
        _ => bytes.to_vec(),
    };
    resp.headers_mut().remove(header::CONTENT_LENGTH);
    resp.set_body(body);
    resp
}

fn page_error(status: StatusCode, retry_after: Option<u32>, lang: Lang, path: &str) -> Response {
    if status.is_server_error() {
        tracing::error!(http.status = status.as_u16(), http.path = %path, "page failed");
    }
    super::pages::error_page(
        super::pages::PageError::from_status(status, retry_after),
        lang,
        path,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_are_read_from_parse_messages() {
        assert_eq!(
            field_of(
                "parse request payload error: failed to parse \"X\": field `name`: verification failed. maxLength(200)"
            ),
            Some("name".into())
        );
        assert_eq!(
            field_of(
                "failed to parse \"A\": field `lines`: failed to parse \"B\": field `quantity`: Expected input type \"integer\", found null."
            ),
            Some("lines.quantity".into())
        );
        assert_eq!(field_of("nothing here"), None);
    }
}
