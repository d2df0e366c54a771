//! The resident's feedback on a completed order: a rating from 1 to 5 and a comment, entered
//! by the street's staff or by the resident through a one-time link. A rating of 2 or less
//! flags the demand for the street.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RatingRequest {
    /// 1 (very unsatisfied) to 5 (very satisfied).
    pub rating: i64,
    pub comment: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Rated {
    pub order_id: Uuid,
    pub rating: i64,
    /// Whether the demand was flagged for the street (a rating of 2 or less).
    pub flagged: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct FeedbackLink {
    /// The one-time token; give the resident the path.
    pub token: String,
    /// `GET` shows what is being rated, `POST` a `RatingRequest` rates it, once.
    pub path: String,
    pub expires_at: String,
}

/// What a resident sees through a feedback link: the service, not anyone's personal data.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct FeedbackView {
    pub category: String,
    pub description: String,
    /// The volunteer or resource that served.
    pub served_by: Option<String>,
    pub completed_at: Option<String>,
    pub rated: bool,
}
