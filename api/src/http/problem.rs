//! The problem middleware: every error leaves the service as `application/problem+json` in the
//! caller's language, whether a handler returned an [`ApiError`] or poem refused the request
//! before any handler ran (unreadable JSON, unknown route, missing token, body too large).

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::error::{ApiError, ErrorCode, Lang};

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

/// Extracts the field name from poem-openapi's parse messages (`field `name`: …`).
fn field_of(message: &str) -> Option<String> {
    let start = message.find("field `")? + "field `".len();
    let end = message[start..].find('`')?;
    Some(message[start..start + end].to_owned())
}

/// Converts any poem error into a problem response.
pub fn from_poem_error(err: poem::Error, lang: Lang, instance: String) -> Response {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        return render(&api.to_problem(lang, Some(instance)), api.retry_after);
    }
    let status = err.status();
    let code = code_for_status(status);
    if code == ErrorCode::Internal {
        tracing::error!(error = %err, http.path = %instance, "unhandled error");
    }
    let message = err.to_string();
    let mut problem = ApiError::new(code).to_problem(lang, Some(instance));
    // Keep the real status (a 4xx without its own row keeps its number).
    problem.status = status.as_u16();
    if code == ErrorCode::MalformedRequest
        || code == ErrorCode::PayloadTooLarge
        || code == ErrorCode::UnsupportedMediaType
    {
        problem.detail = Some(match lang {
            Lang::Fr => format!("La requête n'a pas pu être lue : {message}"),
            Lang::En => format!("The request could not be read: {message}"),
        });
        if let Some(field) = field_of(&message) {
            problem.errors.push(crate::error::ProblemField {
                field,
                code: "invalid_format".into(),
                message: crate::error::field_message(reemploi_domain::Invalid::InvalidFormat, lang)
                    .into(),
            });
        }
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

/// The query parameters each operation declares, read from the spec: a request naming another
/// one is refused (a misspelt filter must not silently return everything).
#[derive(Debug, Clone, Default)]
pub struct QueryParameters(Vec<(Vec<String>, String, Vec<String>)>);

impl QueryParameters {
    pub fn from_spec(spec: &serde_json::Value) -> Self {
        let mut table = Vec::new();
        if let Some(paths) = spec.get("paths").and_then(|p| p.as_object()) {
            for (path, item) in paths {
                let segments: Vec<String> = path.split('/').map(str::to_owned).collect();
                for (method, op) in item.as_object().into_iter().flatten() {
                    let names = op
                        .get("parameters")
                        .and_then(|p| p.as_array())
                        .into_iter()
                        .flatten()
                        .filter(|p| p.get("in").and_then(|i| i.as_str()) == Some("query"))
                        .filter_map(|p| p.get("name").and_then(|n| n.as_str()).map(str::to_owned))
                        .collect();
                    table.push((segments.clone(), method.to_uppercase(), names));
                }
            }
        }
        Self(table)
    }

    /// The first query parameter `method path` does not declare, if the route is known.
    pub fn unknown<'a>(&self, method: &str, path: &str, query: &'a str) -> Option<&'a str> {
        let method = if method == "HEAD" { "GET" } else { method };
        let parts: Vec<&str> = path.split('/').collect();
        let fits = |segments: &Vec<String>| {
            segments.len() == parts.len()
                && segments
                    .iter()
                    .zip(&parts)
                    .all(|(s, p)| s.starts_with('{') || s == p)
        };
        // The route is the most specific template (`/v1/lots/search` before `/v1/lots/{id}`);
        // a method it does not declare is left to the router's 405.
        let literal =
            |segments: &Vec<String>| segments.iter().filter(|s| !s.starts_with('{')).count();
        let best = self
            .0
            .iter()
            .filter(|(segments, _, _)| fits(segments))
            .map(|(segments, _, _)| literal(segments))
            .max()?;
        let matching: Vec<&Vec<String>> = self
            .0
            .iter()
            .filter(|(segments, m, _)| m == method && fits(segments) && literal(segments) == best)
            .map(|(_, _, names)| names)
            .collect();
        if matching.is_empty() {
            return None;
        }
        query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| pair.split_once('=').map_or(pair, |(name, _)| name))
            .find(|name| !matching.iter().any(|names| names.iter().any(|n| n == name)))
    }
}

/// Middleware rendering every error as problem+json.
pub async fn middleware<E: Endpoint>(
    next: E,
    req: Request,
    allowed: &AllowedMethods,
) -> poem::Result<Response> {
    let resp = render_errors(next, req).await?;
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

async fn render_errors<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let lang = Lang::from_accept_language(
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let instance = req.uri().path().to_owned();
    let request_id = req.data::<super::log::RequestId>().map(|r| r.0.clone());
    // The pages for people answer their errors (429 included) as HTML pages.
    let page = super::pages::is_page_path(&instance).then(|| super::pages::lang(&req));
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
                    None => {
                        from_poem_error(poem::Error::from_status(status), lang, instance.clone())
                    }
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
            None => from_poem_error(err, lang, instance.clone()),
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

fn page_error(status: StatusCode, retry_after: Option<u64>, lang: Lang, path: &str) -> Response {
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
        assert_eq!(field_of("nothing here"), None);
    }
}
