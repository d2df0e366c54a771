//! Bearer API tokens: issuing, hashing, and resolving a caller.
//!
//! A token is 32 random bytes, shown once; only its SHA-256 is stored. A token has one role,
//! bound to the street, unit or volunteer it acts for.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::{any::AnyRow, Any, AnyPool, Executor, Row};
use uuid::Uuid;

use super::{
    page::{Page, PageRequest},
    rows::{get_opt_uuid, get_uuid, push_in},
    Sql, Tx,
};
use crate::{
    domain::{
        access::{ListScope, Principal, Role, RoleKind},
        token::{ListTokens, TokenInfo},
    },
    Error,
};

const TOKEN_PREFIX: &str = "gj_";

/// A new random token in its printable form.
pub fn generate_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_secret())
}

/// 32 random bytes, URL-safe base64 without padding: the secret of a token, a sign-in link
/// or a session.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored for a token: its SHA-256, hex. Tokens carry 256 bits of entropy, so a
/// fast hash is enough; a slow password hash would only slow every request.
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The columns and joins that turn an `api_tokens` row (aliased `t`) into a principal: the
/// token's role and subject, and whether its volunteer or unit is archived.
pub(crate) const PRINCIPAL_COLUMNS: &str = "t.id, t.role, t.street_id, t.unit_id, t.volunteer_id, \
     tv.street_id AS volunteer_street, tv.archived_at AS volunteer_archived, \
     tu.archived_at AS unit_archived";
pub(crate) const PRINCIPAL_JOINS: &str = "LEFT JOIN volunteers tv ON tv.id = t.volunteer_id \
     LEFT JOIN units tu ON tu.id = t.unit_id";

/// Resolves a token to its principal; `None` when it is unknown, revoked, or its unit or
/// volunteer has been archived.
pub async fn resolve(db: &sqlx::AnyPool, token: &str) -> Result<Option<Principal>, Error> {
    let row = sqlx::query(&format!(
        "SELECT {PRINCIPAL_COLUMNS} FROM api_tokens t {PRINCIPAL_JOINS} \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL"
    ))
    .bind(hash_token(token))
    .fetch_optional(db)
    .await?;
    match row {
        Some(row) => principal_of_row(db, &row).await,
        None => Ok(None),
    }
}

/// The principal of a row read with [`PRINCIPAL_COLUMNS`]; `None` when its unit or volunteer
/// has been archived.
pub(crate) async fn principal_of_row(
    db: &sqlx::AnyPool,
    row: &AnyRow,
) -> Result<Option<Principal>, Error> {
    let id = |col: &str| -> Result<Option<Uuid>, sqlx::Error> {
        let text: Option<String> = row.try_get(col)?;
        text.map(|t| Uuid::parse_str(&t).map_err(|e| sqlx::Error::Decode(e.into())))
            .transpose()
    };
    let token_id = id("id")?.expect("primary key");
    let kind = RoleKind::from_db(row.try_get::<String, _>("role")?.as_str())
        .map_err(|e| sqlx::Error::Decode(e.into()))?;
    let missing = || sqlx::Error::Decode("token row lacks its subject".into());
    let role = match kind {
        RoleKind::DistrictAdmin => Role::DistrictAdmin,
        RoleKind::StreetAdmin => Role::StreetAdmin {
            street: id("street_id")?.ok_or_else(missing)?,
        },
        RoleKind::GridWorker => Role::GridWorker {
            street: id("street_id")?.ok_or_else(missing)?,
        },
        RoleKind::Unit => {
            if row.try_get::<Option<String>, _>("unit_archived")?.is_some() {
                return Ok(None);
            }
            let unit = id("unit_id")?.ok_or_else(missing)?;
            let streets = super::units::street_ids(&mut *db.acquire().await?, unit).await?;
            Role::Unit { unit, streets }
        }
        RoleKind::Volunteer => {
            if row
                .try_get::<Option<String>, _>("volunteer_archived")?
                .is_some()
            {
                return Ok(None);
            }
            Role::Volunteer {
                volunteer: id("volunteer_id")?.ok_or_else(missing)?,
                street: id("volunteer_street")?.ok_or_else(missing)?,
            }
        }
    };
    Ok(Some(Principal { token_id, role }))
}

fn info_from_row(row: &AnyRow) -> Result<TokenInfo, Error> {
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

/// A token's record (never its secret), or `NotFound`.
pub async fn get<'e>(db: impl Executor<'e, Database = Any>, id: Uuid) -> Result<TokenInfo, Error> {
    let row = sqlx::query("SELECT * FROM api_tokens WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("token"))?;
    info_from_row(&row)
}

/// A page of token records in `scope`, filtered as the caller asked.
pub async fn list(
    db: &AnyPool,
    scope: ListScope,
    q: &ListTokens,
    page: &PageRequest,
) -> Result<Page<TokenInfo>, Error> {
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
    let rows = sql.fetch_all(db).await?;
    let items = rows
        .iter()
        .map(info_from_row)
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(page.finish(items, |t| t.id))
}

/// Writes a new token: its record and the hash of its secret (the secret itself is never
/// stored).
pub async fn insert(
    tx: &mut Tx<'_>,
    info: &TokenInfo,
    secret: &str,
    issued_by: Option<Uuid>,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO api_tokens (id, name, token_hash, role, street_id, unit_id, volunteer_id, issued_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(info.id.to_string())
    .bind(info.name.clone())
    .bind(hash_token(secret))
    .bind(info.role.as_str())
    .bind(info.street_id.map(|s| s.to_string()))
    .bind(info.unit_id.map(|s| s.to_string()))
    .bind(info.volunteer_id.map(|s| s.to_string()))
    .bind(issued_by.map(|s| s.to_string()))
    .bind(info.created_at.clone())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Revokes a token (once; revoking again changes nothing).
pub async fn revoke(tx: &mut Tx<'_>, id: Uuid, at: &str) -> Result<(), Error> {
    sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(at.to_string())
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert!(a.starts_with("gj_") && a.len() == 3 + 43);
        assert_eq!(hash_token(&a).len(), 64);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
    }
}
