//! Signing in and out, and the language switch.

use askama::Template;
use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use gongjian_core::{
    domain::token::Session,
    service::sessions::{self, SESSION_LIFETIME},
    Error,
};
use serde::Deserialize;

use super::extract::{Form, Path, Query};
use super::{
    frame::{home_of, render, render_status, Frame},
    is_secure, locale_of, see_other, session_cookie, session_secret, Oops, LANG_COOKIE,
};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    f: Frame,
    next: String,
    failed: bool,
}

#[derive(Template)]
#[template(path = "console/link.html")]
struct LinkPage {
    f: Frame,
    secret: String,
    invalid: bool,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct TokenForm {
    token: String,
    #[serde(default)]
    next: String,
}

#[derive(Deserialize)]
pub struct LangForm {
    lang: String,
}

/// Where to go after signing in: a console page the person asked for, never another site.
fn safe_next(next: &str) -> Option<&str> {
    (next.starts_with("/console") && !next.contains("//") && !next.contains('\\')).then_some(next)
}

pub async fn form(headers: HeaderMap, Query(q): Query<NextQuery>) -> Response {
    let locale = locale_of(&headers);
    let t = locale.texts();
    render(&SignInPage {
        f: Frame::signed_out(locale, t.sign_in),
        next: q
            .next
            .as_deref()
            .and_then(safe_next)
            .unwrap_or_default()
            .to_string(),
        failed: false,
    })
}

/// The answer to a sign-in: the session's cookie, and the person's page.
fn signed_in(session: &Session, next: Option<&str>, secure: bool) -> Response {
    let to = next
        .and_then(safe_next)
        .map(str::to_string)
        .unwrap_or_else(|| home_of(&session.principal));
    let mut res = see_other(&to);
    set_cookie(
        &mut res,
        &session_cookie(&session.secret, SESSION_LIFETIME.whole_seconds(), secure),
    );
    res
}

/// Adds a `Set-Cookie` to an answer.
fn set_cookie(res: &mut Response, cookie: &str) {
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie.parse().expect("a cookie is a header value"),
    );
}

pub async fn by_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(body): Form<TokenForm>,
) -> Response {
    let locale = locale_of(&headers);
    let token = body.token.trim();
    let result = if token.is_empty() || token.len() > 200 {
        Err(Error::Unauthorized("invalid_token"))
    } else {
        sessions::sign_in_by_token(&state, token).await
    };
    match result {
        Ok(session) => signed_in(&session, Some(&body.next), is_secure(&headers)),
        Err(Error::Unauthorized(_)) => render_status(
            StatusCode::UNAUTHORIZED,
            &SignInPage {
                f: Frame::signed_out(locale, locale.texts().sign_in),
                next: safe_next(&body.next).unwrap_or_default().to_string(),
                failed: true,
            },
        ),
        Err(e) => Oops::new(locale, e).into_response(),
    }
}

/// A sign-in link, opened: a page with one button. Opening it does not use it up, so a chat
/// app that previews the link does not spend it.
pub async fn link(headers: HeaderMap, Path(secret): Path<String>) -> Response {
    let locale = locale_of(&headers);
    render(&LinkPage {
        f: Frame::signed_out(locale, locale.texts().sign_in_link_title),
        secret,
        invalid: false,
    })
}

pub async fn by_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(secret): Path<String>,
) -> Response {
    let locale = locale_of(&headers);
    let result = if secret.len() > 100 {
        Err(Error::Unauthorized("invalid_link"))
    } else {
        sessions::sign_in_by_link(&state, &secret).await
    };
    match result {
        Ok(session) => signed_in(&session, None, is_secure(&headers)),
        Err(Error::Unauthorized(_)) => render_status(
            StatusCode::UNAUTHORIZED,
            &LinkPage {
                f: Frame::signed_out(locale, locale.texts().sign_in_link_title),
                secret: String::new(),
                invalid: true,
            },
        ),
        Err(e) => Oops::new(locale, e).into_response(),
    }
}

pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(secret) = session_secret(&headers) {
        if let Err(e) = sessions::sign_out(&state, &secret).await {
            return Oops::new(locale_of(&headers), e).into_response();
        }
    }
    let mut res = see_other("/console/sign-in");
    set_cookie(&mut res, &session_cookie("", 0, is_secure(&headers)));
    res
}

/// The language switch: remembered for a year, then back to the page it was pressed on.
pub async fn switch_language(headers: HeaderMap, Form(body): Form<LangForm>) -> Response {
    let lang = super::texts::Locale::from_tag(&body.lang)
        .unwrap_or_else(|| locale_of(&headers))
        .tag();
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.split_once("://"))
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .and_then(safe_next)
        .unwrap_or("/console")
        .to_string();
    let mut res = see_other(&back);
    set_cookie(
        &mut res,
        &format!("{LANG_COOKIE}={lang}; Path=/; SameSite=Lax; Max-Age=31536000"),
    );
    res
}
