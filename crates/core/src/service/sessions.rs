//! Signing in to the console: one-time sign-in links that admins issue for a person, sessions
//! opened by following one or by pasting an API token, and signing out.
//!
//! A link and a session act through an API token, so the access policy decides for a session
//! exactly as for the token: issuing a link for someone is allowed to whoever may issue a
//! token for them, and revoking the token, or archiving the person, ends their sessions.

use time::Duration;
use uuid::Uuid;

use super::{
    tokens::{issue_in, TokenSubject},
    Core,
};
use crate::domain::access::{Action, Principal};
use crate::domain::format_ts;
use crate::domain::token::{CreateToken, Session, SignInLink};
use crate::store::{sessions, tokens};
use crate::{Error, Result};

/// How long a sign-in link can be used: long enough to reach a person through a chat group.
pub const LINK_LIFETIME: Duration = Duration::days(3);

/// How long a session lasts: people sign in on their own phones, so a month.
pub const SESSION_LIFETIME: Duration = Duration::days(30);

/// Issues a sign-in link for a new token of `body`'s role and subject. Allowed to whoever may
/// issue that token (the district any; a street admin its street's staff, volunteers and
/// units).
pub async fn issue_link(core: &Core, caller: &Principal, body: CreateToken) -> Result<SignInLink> {
    caller.token_scope()?;
    let subject = TokenSubject::resolve(core.db.write(), body).await?;
    caller.authorize(Action::Create, subject.target())?;
    let now = core.now();
    let created_at = format_ts(now);
    let expires_at = format_ts(now + LINK_LIFETIME);
    let secret = tokens::random_secret();
    let issued_by = caller.token_id;
    let (link_secret, link_expires) = (secret.clone(), expires_at.clone());
    let token = core
        .db
        .transact(move |tx| {
            Box::pin(async move {
                let (info, _token_secret) = issue_in(tx, subject, Some(issued_by), now).await?;
                sessions::insert_link(
                    tx,
                    &link_secret,
                    info.id,
                    issued_by,
                    &created_at,
                    &link_expires,
                )
                .await?;
                Ok(info)
            })
        })
        .await?;
    Ok(SignInLink {
        secret,
        expires_at,
        token,
    })
}

/// Opens a session by a sign-in link, which is then used up. An unknown, used or expired link
/// is 401 `invalid_link`.
pub async fn sign_in_by_link(core: &Core, link: &str) -> Result<Session> {
    let now = core.now();
    let at = format_ts(now);
    let expires_at = format_ts(now + SESSION_LIFETIME);
    let secret = tokens::random_secret();
    let (link, session_secret, session_expires) =
        (link.to_string(), secret.clone(), expires_at.clone());
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                let token = sessions::use_link(tx, &link, &at)
                    .await?
                    .ok_or(Error::Unauthorized("invalid_link"))?;
                sessions::insert_session(tx, &session_secret, token, &at, &session_expires).await
            })
        })
        .await?;
    let principal = sessions::resolve(core.db.write(), &secret, &format_ts(now))
        .await?
        .ok_or(Error::Unauthorized("invalid_link"))?;
    Ok(Session {
        secret,
        expires_at,
        principal,
    })
}

/// Opens a session acting as an API token. An unknown or revoked token is 401
/// `invalid_token`.
pub async fn sign_in_by_token(core: &Core, token: &str) -> Result<Session> {
    let principal = tokens::resolve(core.db.read(), token)
        .await?
        .ok_or(Error::Unauthorized("invalid_token"))?;
    let now = core.now();
    let at = format_ts(now);
    let expires_at = format_ts(now + SESSION_LIFETIME);
    let secret = tokens::random_secret();
    let token_id: Uuid = principal.token_id;
    let (session_secret, session_expires) = (secret.clone(), expires_at.clone());
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                sessions::insert_session(tx, &session_secret, token_id, &at, &session_expires).await
            })
        })
        .await?;
    Ok(Session {
        secret,
        expires_at,
        principal,
    })
}

/// The principal a session acts as now, if it is still open.
pub async fn resolve(core: &Core, secret: &str) -> Result<Option<Principal>> {
    sessions::resolve(core.db.read(), secret, &core.now_ts()).await
}

/// Ends a session.
pub async fn sign_out(core: &Core, secret: &str) -> Result<()> {
    let at = core.now_ts();
    let secret = secret.to_string();
    core.db
        .transact(move |tx| Box::pin(async move { sessions::revoke(tx, &secret, &at).await }))
        .await
}
