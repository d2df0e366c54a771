//! The one error type of the operations: what went wrong, in terms an edge can answer with.
//!
//! Every failure a caller can cause has a stable machine-readable `code` and, for input
//! errors, the fields at fault. The HTTP edge maps each kind to a status and a problem
//! document; database and unexpected errors carry their cause for the log, never for the
//! caller.

use serde::Serialize;

/// One input field that was rejected.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
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

#[derive(Debug, thiserror::Error)]
pub enum Error {
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
    /// No caller, or one whose credentials are unknown: the code says which.
    #[error("authentication required")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(String),
    /// The item does not exist, or the caller may not know that it does.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The item's state does not allow the change, or it collides with another.
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    /// The service cannot take the request now (every database connection is busy).
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn field(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::new(field, code, message)])
    }

    /// A `NotFound` of the record a request names in `field`, as an `unknown_reference` error
    /// on that field; any other error passes through.
    pub fn unknown_reference(self, field: &str, message: &str) -> Self {
        match self {
            Error::NotFound(_) => Error::field(field, "unknown_reference", message),
            other => other,
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::Forbidden(message.into())
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// The stable, machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Validation(_) => "validation_failed",
            Error::BadRequest { code, .. } => code,
            Error::Unauthorized(code) => code,
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::Conflict { code, .. } => code,
            Error::Unavailable(_) => "unavailable",
            Error::Internal(_) => "internal_error",
        }
    }

    /// What went wrong in this occurrence, for the caller, and the fields at fault.
    pub fn detail(&self) -> (String, Vec<FieldError>) {
        match self {
            Error::Validation(errors) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                (
                    format!("invalid input in: {}", fields.join(", ")),
                    errors.clone(),
                )
            }
            Error::BadRequest { message, field, .. } | Error::Conflict { message, field, .. } => (
                message.clone(),
                field
                    .iter()
                    .map(|f| FieldError::new(f.clone(), self.code(), message.clone()))
                    .collect(),
            ),
            Error::Unauthorized("invalid_token") => {
                ("the bearer token is unknown or revoked".to_string(), vec![])
            }
            Error::Unauthorized(_) => (
                "send an API token as `Authorization: Bearer <token>`".to_string(),
                vec![],
            ),
            Error::Internal(_) => (
                "an unexpected error occurred; it has been logged".to_string(),
                vec![],
            ),
            other => (other.to_string(), vec![]),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        match err {
            // Every connection stayed busy for the whole wait: the service is overloaded, and
            // nothing was written by this request.
            sqlx::Error::PoolTimedOut => Error::Unavailable(
                "every database connection is busy; try again shortly".to_string(),
            ),
            err => Error::Internal(err.into()),
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

/// Turns a unique-constraint violation into a conflict on `field`; other errors pass through.
pub fn unique_as_conflict(err: sqlx::Error, field: &str, message: &str) -> Error {
    match constraint_violation(&err) {
        Some(sqlx::error::ErrorKind::UniqueViolation) => Error::Conflict {
            code: "already_exists",
            message: message.to_string(),
            field: Some(field.to_string()),
        },
        _ => err.into(),
    }
}
