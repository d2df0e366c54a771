//! Request extractors whose every rejection is a problem document with the field at fault.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts},
};
use gongjian_core::Error;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::{AppError, FieldError};

/// A JSON body. Rejects a missing or wrong content type (415), an oversized body (413),
/// malformed JSON (400) and, with the field's path, wrong types, unknown, missing and
/// invalid fields (422).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(AppError::UnsupportedMediaType);
        }
        let read = Bytes::from_request(req, state);
        let bytes = tokio::time::timeout(crate::BODY_READ_TIMEOUT, read)
            .await
            .map_err(|_| AppError::RequestTimeout)?
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::PayloadTooLarge
                } else {
                    Error::BadRequest {
                        code: "unreadable_body",
                        message: rejection.body_text(),
                        field: None,
                    }
                    .into()
                }
            })?;
        decode_json(&bytes).map(ApiJson)
    }
}

fn is_json(value: Option<&axum::http::HeaderValue>) -> bool {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Decodes a JSON document, naming the field at fault on failure.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    // Every body is a JSON object; serde would also take a struct from an array of its fields
    // in order, a form no client should rely on.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
    {
        return Err(Error::field("body", "invalid_type", "the body must be a JSON object").into());
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => {
            de.end().map_err(|inner| malformed(&inner))?;
            Ok(value)
        }
        // JSON has one number type: `3.0` is the integer 3, as JSON Schema's `integer` says,
        // and some encoders write whole numbers so. serde takes only `3` as an integer; the
        // rare body with such a number is decoded again with it written as one.
        Err(err)
            if err
                .inner()
                .to_string()
                .starts_with("invalid type: floating point") =>
        {
            let mut document: serde_json::Value =
                serde_json::from_slice(bytes).map_err(|inner| malformed(&inner))?;
            whole_numbers_as_integers(&mut document);
            serde_path_to_error::deserialize(document).map_err(|err| decode_error(err, bytes))
        }
        Err(err) => Err(decode_error(err, bytes)),
    }
}

/// Names the field at fault in a decoding error of `bytes`.
fn decode_error(err: serde_path_to_error::Error<serde_json::Error>, bytes: &[u8]) -> AppError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    match inner.classify() {
        serde_json::error::Category::Data => {
            Error::Validation(vec![data_error(&path, &inner)]).into()
        }
        // serde_json reports some type mismatches (a number where an enum is expected) as
        // syntax errors; if the document is valid JSON, it is a type error at `path`.
        _ if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() => {
            let field = if path.is_empty() || path == "." {
                "body".to_string()
            } else {
                path
            };
            Error::Validation(vec![FieldError::new(
                field,
                "invalid_type",
                "this value has the wrong type",
            )])
            .into()
        }
        _ => malformed(&inner),
    }
}

fn malformed(inner: &serde_json::Error) -> AppError {
    Error::BadRequest {
        code: "malformed_json",
        message: format!("the body is not valid JSON: {inner}"),
        field: None,
    }
    .into()
}

/// Rewrites every number written with a zero fraction (`3.0`, `3e2`) as an integer. Only
/// magnitudes below 2^53 are rewritten: beyond, a double no longer holds every integer, so the
/// number read may not be the number written, and it stays a float (a type error).
fn whole_numbers_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                if f.fract() == 0.0 && f.abs() < EXACT {
                    *n = (f as i64).into();
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(map) => map.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

/// Classifies a serde data error into a field error. serde reports these only as text, so
/// the text is matched against the messages serde's derive produces.
fn data_error(path: &str, err: &dyn std::fmt::Display) -> FieldError {
    let full = err.to_string();
    let message = match full.rfind(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    };
    let quoted = |m: &str| m.split('`').nth(1).map(str::to_string).unwrap_or_default();
    let join = |parent: &str, child: &str| {
        if parent.is_empty() || parent == "." {
            child.to_string()
        } else if parent.ends_with(child) {
            parent.to_string()
        } else {
            format!("{parent}.{child}")
        }
    };
    let (field, code) = if message.starts_with("unknown field") {
        (join(path, &quoted(&message)), "unknown_field")
    } else if message.starts_with("missing field") {
        (join(path, &quoted(&message)), "required")
    } else if message.starts_with("invalid type") {
        (path.to_string(), "invalid_type")
    } else if message.starts_with("unknown variant") {
        (path.to_string(), "invalid_choice")
    } else if message.starts_with("invalid length") {
        (path.to_string(), "invalid_length")
    } else {
        (path.to_string(), "invalid_value")
    };
    let field = if field.is_empty() || field == "." {
        "body".to_string()
    } else {
        field
    };
    FieldError::new(field, code, message)
}

/// A query string. Unknown parameters and unparsable values are rejected with the
/// parameter's name.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|err| {
                let path = err.path().to_string();
                let inner = err.into_inner();
                let mut fe = data_error(&path, &inner);
                if fe.field == "body" {
                    fe.field = "query".to_string();
                }
                Error::BadRequest {
                    code: "invalid_query",
                    message: format!("{}: {}", fe.field, fe.message),
                    field: Some(fe.field),
                }
                .into()
            })
    }
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// Parses an id taken from the path.
pub fn path_id(field: &str, raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw).map_err(|_| {
        Error::BadRequest {
            code: "invalid_id",
            message: format!("{field} must be a UUID, got {raw:?}"),
            field: Some(field.to_string()),
        }
        .into()
    })
}

/// Refuses a request whose path or query string is not UTF-8 once percent-decoded, with a
/// 400 problem, before any route sees it: the path extractor would answer in plain text, and
/// the query's decoding would replace what it cannot read and go on with a different value.
pub async fn utf8_only(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use percent_encoding::percent_decode_str;
    let uri = req.uri();
    if percent_decode_str(uri.path()).decode_utf8().is_err() {
        return AppError::from(Error::BadRequest {
            code: "invalid_path",
            message: "the path is not valid UTF-8 once percent-decoded".into(),
            field: None,
        })
        .into_response();
    }
    for pair in uri.query().unwrap_or("").split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode_str(key).decode_utf8();
        if key.is_err() || percent_decode_str(value).decode_utf8().is_err() {
            return AppError::from(Error::BadRequest {
                code: "invalid_query",
                message: "the query string is not valid UTF-8 once percent-decoded".into(),
                field: key.ok().map(|k| k.into_owned()),
            })
            .into_response();
        }
    }
    next.run(req).await
}
