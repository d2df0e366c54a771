//! API tokens: admins issue them for the roles below them; the CLI issues the first one.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::access::RoleKind;

/// A token as listed: never the secret itself.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct TokenInfo {
    pub id: Uuid,
    pub name: String,
    pub role: RoleKind,
    /// The street a street admin, grid worker or volunteer token acts for.
    pub street_id: Option<Uuid>,
    pub unit_id: Option<Uuid>,
    pub volunteer_id: Option<Uuid>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// A newly issued token. `token` is shown this once; only its hash is kept.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct IssuedToken {
    pub token: String,
    #[serde(flatten)]
    pub info: TokenInfo,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub role: RoleKind,
    /// Who or what the token is for, e.g. 张网格员的手机.
    pub name: String,
    /// Required for street_admin and grid_worker.
    pub street_id: Option<Uuid>,
    /// Required for unit.
    pub unit_id: Option<Uuid>,
    /// Required for volunteer.
    pub volunteer_id: Option<Uuid>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", into_params(parameter_in = Query))]
pub struct ListTokens {
    pub street_id: Option<Uuid>,
    pub role: Option<RoleKind>,
    /// Include revoked tokens (default false).
    pub include_revoked: Option<bool>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

/// Who the caller is.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Me {
    pub token_id: Uuid,
    pub role: RoleKind,
    pub street_id: Option<Uuid>,
    pub unit_id: Option<Uuid>,
    pub volunteer_id: Option<Uuid>,
    /// For a unit: the streets it co-builds with.
    pub street_ids: Vec<Uuid>,
}

/// A one-time sign-in link, as issued: its secret is shown once, to the admin who issued it,
/// to hand over as a link or a QR code.
#[derive(Debug)]
pub struct SignInLink {
    pub secret: String,
    pub expires_at: String,
    /// The token the person will act through once signed in.
    pub token: TokenInfo,
}

/// A console session, as opened: its secret goes into the browser's cookie and nowhere else.
#[derive(Debug, Clone)]
pub struct Session {
    pub secret: String,
    pub expires_at: String,
    pub principal: crate::domain::access::Principal,
}
