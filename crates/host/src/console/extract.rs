//! The console's request extractors: the same as axum's, but a request they cannot read is
//! answered with the console's error page in the person's language, naming the field at fault
//! and carrying its machine-readable code, as the API's problem documents do — never axum's
//! plain-text rejection.

use axum::{
    body::Bytes,
    extract::{multipart::MultipartRejection, path::ErrorKind, FromRequest, FromRequestParts},
    http::{header, request::Parts, StatusCode},
};
use gongjian_core::{error::FieldError, Error};
use serde::de::DeserializeOwned;

use super::{locale_of, Oops};

/// The fields of a form posted as `application/x-www-form-urlencoded`. A missing or
/// unreadable field is a `422` naming it; a body of another type `415`; one too large `413`.
/// Fields the form does not know are ignored, as a browser may send its buttons' names.
pub struct Form<T>(pub T);

impl<S, T> FromRequest<S> for Form<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Oops;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Oops> {
        let locale = locale_of(req.headers());
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(Oops::status(
                locale,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            ));
        }
        let read = Bytes::from_request(req, state);
        let bytes = match tokio::time::timeout(crate::BODY_READ_TIMEOUT, read).await {
            Err(_) => {
                return Err(Oops::status(
                    locale,
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                ))
            }
            Ok(Err(rejection)) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(Oops::status(
                    locale,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                ))
            }
            Ok(Err(rejection)) => {
                return Err(Oops::new(
                    locale,
                    Error::BadRequest {
                        code: "unreadable_body",
                        message: rejection.body_text(),
                        field: None,
                    },
                ))
            }
            Ok(Ok(bytes)) => bytes,
        };
        if std::str::from_utf8(&percent_encoding::percent_decode(&bytes).collect::<Vec<u8>>())
            .is_err()
        {
            return Err(Oops::new(
                locale,
                Error::BadRequest {
                    code: "invalid_form",
                    message: "the form is not valid UTF-8 once percent-decoded".into(),
                    field: None,
                },
            ));
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(&bytes));
        serde_path_to_error::deserialize(de)
            .map(Form)
            .map_err(|err| Oops::new(locale, Error::Validation(vec![field_error(err, "form")])))
    }
}

/// The query string of a page's address. A value it cannot read is a `400` naming the
/// parameter.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Oops;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Oops> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|err| {
                let fe = field_error(err, "query");
                Oops::new(
                    locale_of(&parts.headers),
                    Error::BadRequest {
                        code: "invalid_query",
                        message: format!("{}: {}", fe.field, fe.message),
                        field: Some(fe.field),
                    },
                )
            })
    }
}

/// The parameters of a page's path, such as the ids in `/console/demands/{id}`. One that is
/// not what the route expects (an id that is not a UUID) is a `400` naming it.
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = Oops;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Oops> {
        use axum::extract::rejection::PathRejection;
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => {
                let locale = locale_of(&parts.headers);
                let (field, message) = match &rejection {
                    PathRejection::FailedToDeserializePathParams(e) => match e.kind() {
                        ErrorKind::ParseErrorAtKey {
                            key,
                            value,
                            expected_type,
                        } => (
                            key.clone(),
                            format!("{key} must be a {}, got {value:?}", short(expected_type)),
                        ),
                        ErrorKind::InvalidUtf8InPathParam { key } => {
                            (key.clone(), format!("{key} is not valid UTF-8"))
                        }
                        ErrorKind::DeserializeError { key, message, .. } => {
                            (key.clone(), format!("{key}: {message}"))
                        }
                        _ => ("path".into(), e.body_text()),
                    },
                    other => ("path".into(), other.body_text()),
                };
                Err(Oops::new(
                    locale,
                    Error::BadRequest {
                        code: "invalid_path",
                        message,
                        field: Some(field),
                    },
                ))
            }
        }
    }
}

/// The name of a type as a person reads it: `Uuid` for `uuid::Uuid`.
fn short(type_name: &str) -> &str {
    match type_name.rsplit("::").next() {
        Some("Uuid") => "UUID",
        Some(name) => name,
        None => type_name,
    }
}

/// A form posted as `multipart/form-data` (a file upload). A body of another type is a
/// `415`; the handler reads its fields.
pub struct Multipart(pub axum::extract::Multipart);

impl<S> FromRequest<S> for Multipart
where
    S: Send + Sync,
{
    type Rejection = Oops;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Oops> {
        let locale = locale_of(req.headers());
        let is_multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("multipart/form-data"));
        if !is_multipart {
            return Err(Oops::status(
                locale,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            ));
        }
        axum::extract::Multipart::from_request(req, state)
            .await
            .map(Multipart)
            .map_err(|rejection: MultipartRejection| {
                Oops::new(
                    locale,
                    Error::BadRequest {
                        code: "invalid_form",
                        message: rejection.body_text(),
                        field: None,
                    },
                )
            })
    }
}

/// The field at fault in a form or query that could not be read, and what is wrong with it.
fn field_error(
    err: serde_path_to_error::Error<serde_urlencoded::de::Error>,
    whole: &str,
) -> FieldError {
    let path = err.path().to_string();
    let message = err.into_inner().to_string();
    let quoted = || message.split('`').nth(1).unwrap_or_default().to_string();
    let (field, code) = if message.starts_with("missing field") {
        (quoted(), "required")
    } else if message.starts_with("unknown variant") {
        (path, "invalid_choice")
    } else if message.starts_with("invalid type") {
        (path, "invalid_type")
    } else {
        (path, "invalid_value")
    };
    let field = if field.is_empty() || field == "." {
        whole.to_string()
    } else {
        field
    };
    FieldError::new(field, code, message)
}
