//! API tokens: admins issue them for the roles below them; the CLI issues the first one.

use super::Core;
use crate::domain::access::{Action, Principal, Role, RoleKind, Target};
use crate::domain::rules;
use crate::domain::token::{CreateToken, IssuedToken, ListTokens, Me, TokenInfo};
use crate::domain::Check;
use crate::store::page::{Page, PageRequest};
use crate::store::tokens::{self, generate_token};
use crate::store::{Db, Tx};
use crate::{Error, Result};
use uuid::Uuid;

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
            crate::store::streets::require(db, street)
                .await
                .map_err(|e| e.unknown_reference("street_id", "no street has this id"))?;
        }
        if let Some(unit) = req.unit_id {
            let u = crate::store::units::get(db, unit)
                .await
                .map_err(|e| e.unknown_reference("unit_id", "no unit has this id"))?;
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
            let v = crate::store::volunteers::get(db, volunteer)
                .await
                .map_err(|e| e.unknown_reference("volunteer_id", "no volunteer has this id"))?;
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
    let (info, token) = db
        .transact(move |tx| Box::pin(async move { issue_in(tx, subject, issued_by, at).await }))
        .await?;
    Ok(IssuedToken { token, info })
}

/// Writes a new token for a checked subject in the caller's transaction; answers its record
/// and its secret.
pub(crate) async fn issue_in(
    tx: &mut Tx<'_>,
    subject: TokenSubject,
    issued_by: Option<Uuid>,
    at: time::OffsetDateTime,
) -> Result<(TokenInfo, String)> {
    let token = generate_token();
    let info = TokenInfo {
        id: Uuid::now_v7(),
        name: subject.name,
        role: subject.role,
        street_id: subject.street,
        unit_id: subject.unit,
        volunteer_id: subject.volunteer,
        created_at: crate::domain::format_ts(at),
        revoked_at: None,
    };
    tokens::insert(tx, &info, &token, issued_by).await?;
    Ok((info, token))
}

pub async fn list_tokens(
    core: &Core,
    caller: &Principal,
    q: ListTokens,
) -> Result<Page<TokenInfo>> {
    let scope = caller.token_scope()?;
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    tokens::list(core.db.read(), scope, &q, &page).await
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
    let info = tokens::get(core.db.read(), id).await?;
    caller.authorize(
        Action::Delete,
        Target::Token {
            role: info.role,
            street: info.street_id,
            unit_streets: &[],
        },
    )?;
    let now = core.now_ts();
    core.db
        .transact(move |tx| Box::pin(async move { tokens::revoke(tx, id, &now).await }))
        .await
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
