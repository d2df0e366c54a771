//! API tokens: admins issue them for the roles below them; the CLI issues the first one.

use super::units::fetch_unit;
use super::volunteers::fetch_volunteer;
use super::Core;
use crate::domain::rules;
use crate::domain::token::{CreateToken, IssuedToken, ListTokens, Me, TokenInfo};
use crate::store::rows::{get_opt_uuid, get_uuid, push_in};
use crate::{
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
use crate::{Error, Result};
use sqlx::{any::AnyRow, Row};
use uuid::Uuid;

fn info_from_row(row: &AnyRow) -> Result<TokenInfo> {
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

async fn fetch_info(db: &sqlx::AnyPool, id: Uuid) -> Result<TokenInfo> {
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
    pub async fn resolve(db: &sqlx::AnyPool, req: CreateToken) -> Result<Self> {
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
            crate::store::rows::require_street(db, street)
                .await
                .map_err(|_| {
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
                });
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
                });
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
) -> Result<IssuedToken> {
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
    .bind(crate::domain::format_ts(at))
    .execute(db.write())
    .await?;
    Ok(IssuedToken {
        token,
        info: fetch_info(db.write(), id).await?,
    })
}

pub async fn list_tokens(
    core: &Core,
    caller: &Principal,
    q: ListTokens,
) -> Result<Page<TokenInfo>> {
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
    let rows = sql.fetch_all(core.db.read()).await?;
    let items = rows.iter().map(info_from_row).collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |t| t.id))
}

/// Issues a token. The district issues any; a street admin issues street admin, grid worker and
/// volunteer tokens for its street, and unit tokens for units serving it.
pub async fn create_token(
    core: &Core,
    caller: &Principal,
    body: CreateToken,
) -> Result<IssuedToken> {
    caller.token_scope()?;
    let subject = TokenSubject::resolve(core.db.write(), body).await?;
    caller.authorize(Action::Create, subject.target())?;
    let issued = issue(&core.db, subject, Some(caller.token_id), core.now()).await?;
    Ok(issued)
}

/// Revokes a token at once.
pub async fn revoke_token(core: &Core, caller: &Principal, id: Uuid) -> Result<()> {
    caller.token_scope()?;
    let info = fetch_info(core.db.write(), id).await?;
    caller.authorize(
        Action::Delete,
        Target::Token {
            role: info.role,
            street: info.street_id,
            unit_streets: &[],
        },
    )?;
    sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(core.now_ts())
        .bind(id.to_string())
        .execute(core.db.write())
        .await?;
    Ok(())
}

pub fn me(caller: &Principal) -> Me {
    let (street_id, unit_id, volunteer_id, street_ids) = match &caller.role {
        Role::DistrictAdmin => (None, None, None, vec![]),
        Role::StreetAdmin { street } | Role::GridWorker { street } => {
            (Some(*street), None, None, vec![])
        }
        Role::Unit { unit, streets } => (None, Some(*unit), None, streets.clone()),
        Role::Volunteer { volunteer, street } => (Some(*street), None, Some(*volunteer), vec![]),
    };
    Me {
        token_id: caller.token_id,
        role: caller.role.kind(),
        street_id,
        unit_id,
        volunteer_id,
        street_ids,
    }
}
