//! The one error type at the HTTP edge and its `application/problem+json` body (RFC 9457).
//!
//! Every failure a client can cause maps to a 4xx with a stable `code` and, for input errors,
//! the fields at fault. Database and unexpected errors become a 500 whose body says nothing
//! about the cause; the cause is logged with the request.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

/// One input field that was rejected.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// Where the field is: a dotted path into the JSON body (`resident.phone`, `tags[2]`), or
    /// the name of a query or path parameter.
    pub field: String,
    /// A stable, machine-readable reason such as `required`, `too_long`, `invalid_type`.
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            code: code.to_string(),
            message: message.into(),
        }
    }
}

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
    /// The request was understood but one or more fields are invalid.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The request itself is malformed (bad JSON syntax, bad query string, bad path id).
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    #[error("authentication required")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("no route for {0}")]
    RouteNotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn field(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        AppError::Validation(vec![FieldError::new(field, code, message)])
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        AppError::Forbidden(message.into())
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Conflict {
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) | AppError::RouteNotFound(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AppError::Validation(_) => "validation_failed",
            AppError::BadRequest { code, .. } => code,
            AppError::Unauthorized(code) => code,
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::RouteNotFound(_) => "route_not_found",
            AppError::MethodNotAllowed => "method_not_allowed",
            AppError::Conflict { code, .. } => code,
            AppError::PayloadTooLarge => "payload_too_large",
            AppError::RequestTimeout => "request_timeout",
            AppError::UnsupportedMediaType => "unsupported_media_type",
            AppError::Unavailable(_) => "unavailable",
            AppError::Internal(_) => "internal_error",
        }
    }

    pub fn to_problem(&self) -> Problem {
        let status = self.status_code();
        let (detail, errors) = match self {
            AppError::Validation(errors) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                (
                    format!("invalid input in: {}", fields.join(", ")),
                    errors.clone(),
                )
            }
            AppError::BadRequest { message, field, .. }
            | AppError::Conflict { message, field, .. } => (
                message.clone(),
                field
                    .iter()
                    .map(|f| FieldError::new(f.clone(), self.code(), message.clone()))
                    .collect(),
            ),
            AppError::Unauthorized("invalid_token") => {
                ("the bearer token is unknown or revoked".to_string(), vec![])
            }
            AppError::Unauthorized(_) => (
                "send an API token as `Authorization: Bearer <token>`".to_string(),
                vec![],
            ),
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
            AppError::Internal(_) => (
                "an unexpected error occurred; it has been logged".to_string(),
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
        if let AppError::Internal(err) = &self {
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
        match err {
            // Every connection stayed busy for the whole wait: the service is overloaded, and
            // nothing was written by this request.
            sqlx::Error::PoolTimedOut => AppError::Unavailable(
                "every database connection is busy; try again shortly".to_string(),
            ),
            err => AppError::Internal(err.into()),
        }
    }
}

/// The kind of constraint a database error violated, if any.
pub fn constraint_violation(err: &sqlx::Error) -> Option<sqlx::error::ErrorKind> {
    match err {
        sqlx::Error::Database(db) => match db.kind() {
            sqlx::error::ErrorKind::Other => None,
            kind => Some(kind),
        },
        _ => None,
    }
}

/// Turns a unique-constraint violation into a 409 on `field`; other errors pass through.
pub fn unique_as_conflict(err: sqlx::Error, field: &str, message: &str) -> AppError {
    match constraint_violation(&err) {
        Some(sqlx::error::ErrorKind::UniqueViolation) => AppError::Conflict {
            code: "already_exists",
            message: message.to_string(),
            field: Some(field.to_string()),
        },
        _ => err.into(),
    }
}

pub type AppResult<T> = Result<T, AppError>;
