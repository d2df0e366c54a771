//! The caller of a request: its bearer token, resolved to a [`Principal`] before any handler
//! runs.

use axum::{extract::FromRequestParts, http::request::Parts};
use gongjian_core::{domain::access::Principal, store::tokens, Error};

use crate::{error::AppError, state::AppState};

impl FromRequestParts<AppState> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = bearer(&parts.headers).ok_or(Error::Unauthorized("unauthorized"))?;
        match tokens::resolve(state.db.read(), token).await? {
            Some(principal) => Ok(principal),
            None => Err(Error::Unauthorized("invalid_token").into()),
        }
    }
}

/// The bearer token a request carries, if it carries one of a plausible length.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()
        .and_then(|h| {
            let (scheme, rest) = h.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty() && t.len() <= 200)
}
