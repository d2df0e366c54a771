//! The error type of the HTTP edge and its `application/problem+json` body (RFC 9457).
//!
//! An [`AppError`] is an error of the operations ([`Error`], with its stable `code` and the
//! fields at fault) or one only HTTP has (no such route, a body too large or too slow). Each
//! maps to one status. Database and unexpected errors become a 500 whose body says nothing
//! about the cause; the cause is logged with the request.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
pub use gongjian_core::error::{Error, FieldError};
use serde::Serialize;
use utoipa::ToSchema;

/// The problem document every error response carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:gongjian:problem:{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence.
    pub detail: String,
    /// A stable, machine-readable code.
    pub code: String,
    /// The input fields at fault, for input errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An error of the operations.
    #[error(transparent)]
    Core(#[from] Error),
    #[error("no route for {0}")]
    RouteNotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    #[error("unsupported media type")]
    UnsupportedMediaType,
}

impl AppError {
    pub fn status_code(&self) -> StatusCode {
        match self {
            AppError::Core(err) => match err {
                Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
                Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
                Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
                Error::Forbidden(_) => StatusCode::FORBIDDEN,
                Error::NotFound(_) => StatusCode::NOT_FOUND,
                Error::Conflict { .. } => StatusCode::CONFLICT,
                Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            AppError::RouteNotFound(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AppError::Core(err) => err.code(),
            AppError::RouteNotFound(_) => "route_not_found",
            AppError::MethodNotAllowed => "method_not_allowed",
            AppError::PayloadTooLarge => "payload_too_large",
            AppError::RequestTimeout => "request_timeout",
            AppError::UnsupportedMediaType => "unsupported_media_type",
        }
    }

    pub fn to_problem(&self) -> Problem {
        let status = self.status_code();
        let (detail, errors) = match self {
            AppError::Core(err) => err.detail(),
            AppError::UnsupportedMediaType => (
                "the request body must be JSON, sent with `Content-Type: application/json`"
                    .to_string(),
                vec![],
            ),
            AppError::PayloadTooLarge => (
                "the request body is larger than this endpoint accepts".to_string(),
                vec![],
            ),
            AppError::MethodNotAllowed => (
                "this route does not support that method".to_string(),
                vec![],
            ),
            other => (other.to_string(), vec![]),
        };
        Problem {
            kind: format!("urn:gongjian:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail,
            code: self.code().to_string(),
            errors,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Core(Error::Internal(err)) = &self {
            tracing::error!(error = ?err, "request failed");
        }
        let status = self.status_code();
        let body = serde_json::to_vec(&self.to_problem()).expect("a problem serialises");
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gongjian\""),
            );
        }
        response
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        AppError::Core(err.into())
    }
}

impl From<anyhow::Error> for AppError {
    fn from(err: anyhow::Error) -> Self {
        AppError::Core(err.into())
    }
}

pub type AppResult<T> = Result<T, AppError>;
