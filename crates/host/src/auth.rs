//! The caller of a request: its bearer token, resolved to a [`Principal`] before any handler
//! runs.

use axum::{extract::FromRequestParts, http::request::Parts};
use gongjian_core::{domain::access::Principal, store::tokens, Error};

use crate::{error::AppError, state::AppState};

impl FromRequestParts<AppState> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        Bearer::from_request_parts(parts, state)
            .await?
            .resolve(state)
            .await
    }
}

/// The bearer token of a request whose handler resolves it itself, together with what it
/// reads anyway (a filing reads its caller and its place in one query). A request without
/// one is refused as [`Principal`]'s extractor refuses it; one with a token that names nobody
/// must be refused by the handler, whatever else is wrong with the request.
pub struct Bearer(pub String);

impl FromRequestParts<AppState> for Bearer {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, AppError> {
        let token = bearer(&parts.headers).ok_or(Error::Unauthorized("unauthorized"))?;
        Ok(Bearer(token.to_owned()))
    }
}

impl Bearer {
    /// The caller the token names, or `Unauthorized`.
    pub async fn resolve(&self, state: &AppState) -> Result<Principal, AppError> {
        match tokens::resolve(state.db.read(), &self.0).await? {
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
