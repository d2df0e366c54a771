//! The console's sign-in links and sessions. Each acts through an API token (`token_id`); only
//! the SHA-256 of its secret is stored. A session resolves to its token's principal while the
//! session is neither expired nor revoked and the token still resolves (not revoked, its
//! volunteer or unit not archived).

use uuid::Uuid;

use super::{
    rows::get_uuid,
    tokens::{hash_token, principal_of_row, PRINCIPAL_COLUMNS, PRINCIPAL_JOINS},
    Tx,
};
use crate::{domain::access::Principal, Error};

/// Stores a sign-in link for `token_id`, usable once until `expires_at`.
pub async fn insert_link(
    tx: &mut Tx<'_>,
    secret: &str,
    token_id: Uuid,
    issued_by: Uuid,
    created_at: &str,
    expires_at: &str,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO sign_in_links (id, secret_hash, token_id, issued_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(hash_token(secret))
    .bind(token_id.to_string())
    .bind(issued_by.to_string())
    .bind(created_at.to_string())
    .bind(expires_at.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Uses a sign-in link, once: marks it used at `now` if it is unused and unexpired, and
/// answers the token it signs in as. Two redemptions of one link at once: one wins, the other
/// gets `None`.
pub async fn use_link(tx: &mut Tx<'_>, secret: &str, now: &str) -> Result<Option<Uuid>, Error> {
    let row = sqlx::query(
        "UPDATE sign_in_links SET used_at = $1 \
         WHERE secret_hash = $2 AND used_at IS NULL AND expires_at > $1 \
         RETURNING token_id",
    )
    .bind(now.to_string())
    .bind(hash_token(secret))
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| get_uuid(&r, "token_id")).transpose()
}

/// Opens a session acting as `token_id` until `expires_at`.
pub async fn insert_session(
    tx: &mut Tx<'_>,
    secret: &str,
    token_id: Uuid,
    created_at: &str,
    expires_at: &str,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO console_sessions (id, secret_hash, token_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(hash_token(secret))
    .bind(token_id.to_string())
    .bind(created_at.to_string())
    .bind(expires_at.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The principal a session acts as at `now`; `None` when the session is unknown, expired or
/// revoked, or its token no longer resolves.
pub async fn resolve(
    db: &sqlx::AnyPool,
    secret: &str,
    now: &str,
) -> Result<Option<Principal>, Error> {
    let row = sqlx::query(&format!(
        "SELECT {PRINCIPAL_COLUMNS} FROM console_sessions s \
         JOIN api_tokens t ON t.id = s.token_id {PRINCIPAL_JOINS} \
         WHERE s.secret_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 \
           AND t.revoked_at IS NULL"
    ))
    .bind(hash_token(secret))
    .bind(now.to_string())
    .fetch_optional(db)
    .await?;
    match row {
        Some(row) => principal_of_row(db, &row).await,
        None => Ok(None),
    }
}

/// Ends a session (once; ending it again changes nothing).
pub async fn revoke(tx: &mut Tx<'_>, secret: &str, at: &str) -> Result<(), Error> {
    sqlx::query(
        "UPDATE console_sessions SET revoked_at = $1 WHERE secret_hash = $2 AND revoked_at IS NULL",
    )
    .bind(at.to_string())
    .bind(hash_token(secret))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
