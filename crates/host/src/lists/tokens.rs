//! API tokens: admins issue them for the roles below them; the CLI issues the first one.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use gongjian_core::Error;
use serde::{Deserialize, Serialize};
use sqlx::{any::AnyRow, Row};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    get_opt_uuid, get_uuid, push_in, units::fetch_unit, volunteers::fetch_volunteer, Created,
};
use crate::{
    error::AppResult,
    extract::{path_id, ApiJson, ApiQuery},
    state::AppState,
};
use gongjian_core::domain::rules;
use gongjian_core::{
    domain::access::Principal,
    domain::access::Role,
    domain::access::RoleKind,
    domain::access::{Action, ListScope, Target},
    domain::Check,
    store::db::{Db, Sql},
    store::page::{Page, PageRequest},
    store::tokens::generate_token,
    store::tokens::hash_token,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(me))
}

/// A token as listed: never the secret itself.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IssuedToken {
    pub token: String,
    #[serde(flatten)]
    pub info: TokenInfo,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
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

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
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
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub token_id: Uuid,
    pub role: RoleKind,
    pub street_id: Option<Uuid>,
    pub unit_id: Option<Uuid>,
    pub volunteer_id: Option<Uuid>,
    /// For a unit: the streets it co-builds with.
    pub street_ids: Vec<Uuid>,
}

fn info_from_row(row: &AnyRow) -> AppResult<TokenInfo> {
    Ok(TokenInfo {
        id: get_uuid(row, "id")?,
        name: row.try_get("name")?,
        role: RoleKind::from_db(&row.try_get::<String, _>("role")?)?,
        street_id: get_opt_uuid(row, "street_id")?,
        unit_id: get_opt_uuid(row, "unit_id")?,
        volunteer_id: get_opt_uuid(row, "volunteer_id")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

async fn fetch_info(db: &sqlx::AnyPool, id: Uuid) -> AppResult<TokenInfo> {
    let row = sqlx::query("SELECT * FROM api_tokens WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("token"))?;
    info_from_row(&row)
}

/// A token request checked against the registry: the subject exists and fits the role.
pub struct TokenSubject {
    role: RoleKind,
    name: String,
    street: Option<Uuid>,
    unit: Option<Uuid>,
    volunteer: Option<Uuid>,
    unit_streets: Vec<Uuid>,
}

impl TokenSubject {
    pub async fn resolve(db: &sqlx::AnyPool, req: CreateToken) -> AppResult<Self> {
        let mut c = Check::new();
        let name = c.text("name", &req.name, rules::NAME);
        let need = |c: &mut Check, present: bool, field: &str| {
            if !present {
                c.push(
                    field,
                    "required",
                    format!("{field} is required for a {} token", req.role),
                );
            }
        };
        let forbid = |c: &mut Check, present: bool, field: &str| {
            if present {
                c.push(
                    field,
                    "not_allowed",
                    format!("{field} does not apply to a {} token", req.role),
                );
            }
        };
        match req.role {
            RoleKind::DistrictAdmin => {
                forbid(&mut c, req.street_id.is_some(), "street_id");
                forbid(&mut c, req.unit_id.is_some(), "unit_id");
                forbid(&mut c, req.volunteer_id.is_some(), "volunteer_id");
            }
            RoleKind::StreetAdmin | RoleKind::GridWorker => {
                need(&mut c, req.street_id.is_some(), "street_id");
                forbid(&mut c, req.unit_id.is_some(), "unit_id");
                forbid(&mut c, req.volunteer_id.is_some(), "volunteer_id");
            }
            RoleKind::Unit => {
                need(&mut c, req.unit_id.is_some(), "unit_id");
                forbid(&mut c, req.street_id.is_some(), "street_id");
                forbid(&mut c, req.volunteer_id.is_some(), "volunteer_id");
            }
            RoleKind::Volunteer => {
                need(&mut c, req.volunteer_id.is_some(), "volunteer_id");
                forbid(&mut c, req.street_id.is_some(), "street_id");
                forbid(&mut c, req.unit_id.is_some(), "unit_id");
            }
        }
        c.finish()?;
        let mut subject = TokenSubject {
            role: req.role,
            name,
            street: req.street_id,
            unit: req.unit_id,
            volunteer: req.volunteer_id,
            unit_streets: vec![],
        };
        if let Some(street) = req.street_id {
            super::require_street(db, street).await.map_err(|_| {
                Error::field("street_id", "unknown_reference", "no street has this id")
            })?;
        }
        if let Some(unit) = req.unit_id {
            let u = fetch_unit(db, unit)
                .await
                .map_err(|_| Error::field("unit_id", "unknown_reference", "no unit has this id"))?;
            if u.archived_at.is_some() {
                return Err(Error::Conflict {
                    code: "archived",
                    message: "the unit is archived".into(),
                    field: Some("unit_id".into()),
                }
                .into());
            }
            subject.unit_streets = u.street_ids;
        }
        if let Some(volunteer) = req.volunteer_id {
            let v = fetch_volunteer(db, volunteer).await.map_err(|_| {
                Error::field(
                    "volunteer_id",
                    "unknown_reference",
                    "no volunteer has this id",
                )
            })?;
            if v.archived_at.is_some() {
                return Err(Error::Conflict {
                    code: "archived",
                    message: "the volunteer is archived".into(),
                    field: Some("volunteer_id".into()),
                }
                .into());
            }
            // A volunteer token is scoped to the volunteer's street.
            subject.street = Some(v.street_id);
        }
        Ok(subject)
    }

    pub fn target(&self) -> Target<'_> {
        Target::Token {
            role: self.role,
            street: self.street,
            unit_streets: &self.unit_streets,
        }
    }
}

/// Stores a new token for a checked subject, issued at `at`, and returns it with its secret.
pub async fn issue(
    db: &Db,
    subject: TokenSubject,
    issued_by: Option<Uuid>,
    at: time::OffsetDateTime,
) -> AppResult<IssuedToken> {
    let token = generate_token();
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO api_tokens (id, name, token_hash, role, street_id, unit_id, volunteer_id, issued_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id.to_string())
    .bind(subject.name)
    .bind(hash_token(&token))
    .bind(subject.role.as_str())
    .bind(subject.street.map(|s| s.to_string()))
    .bind(subject.unit.map(|s| s.to_string()))
    .bind(subject.volunteer.map(|s| s.to_string()))
    .bind(issued_by.map(|s| s.to_string()))
    .bind(gongjian_core::domain::format_ts(at))
    .execute(db.write())
    .await?;
    Ok(IssuedToken {
        token,
        info: fetch_info(db.write(), id).await?,
    })
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(ListTokens),
    responses((status = 200, body = Page<TokenInfo>), (status = 403, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn list_tokens(
    State(state): State<AppState>,
    caller: Principal,
    ApiQuery(q): ApiQuery<ListTokens>,
) -> AppResult<Json<Page<TokenInfo>>> {
    let scope = caller.token_scope()?;
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut sql = Sql::new("SELECT * FROM api_tokens WHERE 1 = 1");
    if let ListScope::Streets(streets) = scope {
        push_in(&mut sql, "street_id", &streets);
    }
    if let Some(street) = q.street_id {
        sql.push(" AND street_id = ").bind(street.to_string());
    }
    if let Some(role) = q.role {
        sql.push(" AND role = ").bind(role.as_str().to_string());
    }
    if !q.include_revoked.unwrap_or(false) {
        sql.push(" AND revoked_at IS NULL");
    }
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(state.db.read()).await?;
    let items = rows
        .iter()
        .map(info_from_row)
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Json(page.finish(items, |t| t.id)))
}

/// Issues a token. The district issues any; a street admin issues street admin, grid worker and
/// volunteer tokens for its street, and unit tokens for units serving it.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateToken,
    responses((status = 201, body = IssuedToken), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem, description = "The unit or volunteer named is archived"),
              (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn create_token(
    State(state): State<AppState>,
    caller: Principal,
    ApiJson(body): ApiJson<CreateToken>,
) -> AppResult<Created<IssuedToken>> {
    caller.token_scope()?;
    let subject = TokenSubject::resolve(state.db.write(), body).await?;
    caller.authorize(Action::Create, subject.target())?;
    let issued = issue(&state.db, subject, Some(caller.token_id), state.now()).await?;
    Ok(Created(
        format!("/api/v1/tokens/{}", issued.info.id),
        issued,
    ))
}

/// Revokes a token at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = Uuid, Path, description = "token id")),
    responses((status = 204), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn revoke_token(
    State(state): State<AppState>,
    caller: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let id = path_id("id", &id)?;
    caller.token_scope()?;
    let info = fetch_info(state.db.write(), id).await?;
    caller.authorize(
        Action::Delete,
        Target::Token {
            role: info.role,
            street: info.street_id,
            unit_streets: &[],
        },
    )?;
    sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(state.now_ts())
        .bind(id.to_string())
        .execute(state.db.write())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/me", tag = "tokens",
    responses((status = 200, body = Me), (status = 401, body = crate::error::Problem)),
    security(("bearer" = [])))]
async fn me(caller: Principal) -> Json<Me> {
    let (street_id, unit_id, volunteer_id, street_ids) = match &caller.role {
        Role::DistrictAdmin => (None, None, None, vec![]),
        Role::StreetAdmin { street } | Role::GridWorker { street } => {
            (Some(*street), None, None, vec![])
        }
        Role::Unit { unit, streets } => (None, Some(*unit), None, streets.clone()),
        Role::Volunteer { volunteer, street } => (Some(*street), None, Some(*volunteer), vec![]),
    };
    Json(Me {
        token_id: caller.token_id,
        role: caller.role.kind(),
        street_id,
        unit_id,
        volunteer_id,
        street_ids,
    })
}
