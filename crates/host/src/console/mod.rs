//! The web console: server-rendered pages for the people the platform is for — the volunteer
//! and the unit offered orders, the grid worker filing residents' demands, the street office
//! and the district — served by the same binary as the JSON API, under `/console`.
//!
//! It is a second edge onto the same operations: a handler reads a form, calls one operation
//! of `gongjian_core::service` as the signed-in person's principal, and renders a template.
//! Access is decided by the same policy as for the API (another street's page is 404, a
//! forbidden action 403), and residents' data is masked the same way, because it is the same
//! operation that answers.
//!
//! - Sign-in: a one-time link an admin issues (`people.rs`), or a pasted API token, opens a
//!   server-side session (`gongjian_core::service::sessions`); its secret is the `HttpOnly`,
//!   `SameSite=Lax` cookie [`SESSION_COOKIE`] (`__Host-` prefixed and `Secure` over TLS).
//! - Cross-site forgery: every state-changing request must come from this origin, by Fetch
//!   Metadata (`Sec-Fetch-Site`) or, without it, by `Origin` ([`same_origin_only`]); a forged
//!   one is 403 and changes nothing.
//! - Texts: every text in one catalogue ([`texts`]), Chinese first, English by
//!   `Accept-Language` or the language switch.
//! - Assets: the stylesheet, htmx (pinned, vendored, with its integrity hash) and the console's
//!   small script are compiled into the binary ([`assets`]); nothing is fetched from elsewhere.

mod assets;
mod csv;
mod dashboard;
mod demands;
mod extract;
mod feedback;
mod frame;
mod lists;
mod live;
mod notifications_page;
mod orders;
mod people;
mod plugins;
mod registry;
mod settings;
mod sign_in;
pub mod texts;
mod unit;
mod volunteer;
mod webhooks;

use axum::{
    extract::{FromRequestParts, Request},
    http::{header, request::Parts, HeaderMap, Method, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Router,
};
use gongjian_core::{
    domain::access::Principal,
    service::{notifications, sessions},
    Error,
};

pub use frame::{Frame, Oops};
use texts::Locale;

use crate::state::AppState;

/// The session cookie's name over plain HTTP.
pub const SESSION_COOKIE: &str = "gj_session";
/// The session cookie's name over TLS: a `__Host-` cookie is bound to this host and path `/`.
pub const SECURE_SESSION_COOKIE: &str = "__Host-gj_session";
/// The language the person chose with the switch.
pub const LANG_COOKIE: &str = "gj_lang";

/// The console's routes, under `/console`, and `/` redirecting there.
pub fn router() -> Router<AppState> {
    let console = Router::new()
        .route("/sign-in", get(sign_in::form).post(sign_in::by_token))
        .route("/link/{secret}", get(sign_in::link).post(sign_in::by_link))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/lang", post(sign_in::switch_language))
        .route("/orders", get(orders::inbox))
        .route("/orders/{id}/accept", post(orders::accept))
        .route("/orders/{id}/decline", post(orders::decline))
        .route("/orders/{id}/start", post(orders::start))
        .route("/orders/{id}/complete", post(orders::complete))
        .route("/demands", get(demands::list).post(demands::file))
        .route("/demands/new", get(demands::new))
        .route("/demands.csv", get(demands::export))
        .route("/demands/{id}", get(demands::show))
        .route("/demands/{id}/rate", post(demands::rate))
        .route("/demands/{id}/dispatch", post(demands::dispatch))
        .route("/demands/{id}/feedback-link", post(demands::feedback_link))
        .route(
            "/feedback/{token}",
            get(feedback::page).post(feedback::rate),
        )
        .route("/streets/{id}", get(dashboard::street))
        .route("/streets/{id}/people", get(people::page))
        .route("/streets/{id}/sign-in-links", post(people::issue_link))
        .route("/streets/{id}/volunteers", post(people::register_volunteer))
        .route(
            "/streets/{id}/volunteers/{volunteer}/archive",
            post(people::archive_volunteer),
        )
        .route(
            "/streets/{id}/plugins",
            get(plugins::page).post(plugins::upload_rhai),
        )
        .route("/streets/{id}/plugins/rollback", post(plugins::rollback))
        .route(
            "/streets/{id}/plugins/deactivate",
            post(plugins::deactivate),
        )
        .route("/streets/{id}/plugins/{version}", get(plugins::version))
        .route(
            "/streets/{id}/plugins/{version}/activate",
            post(plugins::activate),
        )
        .route(
            "/streets/{id}/plugins/{version}/dry-run",
            post(plugins::dry_run),
        )
        .merge(plugins::upload_router())
        .route("/streets/{id}/escalations", get(dashboard::escalations))
        .route("/streets/{id}/resources", get(lists::resources_page))
        .route("/streets/{id}/resources.csv", get(lists::resources_csv))
        .route(
            "/streets/{id}/projects",
            get(lists::projects_list).post(lists::create_project),
        )
        .route("/streets/{id}/projects.csv", get(lists::projects_csv))
        .route(
            "/streets/{id}/projects/{project}/status",
            post(lists::project_status),
        )
        .route(
            "/streets/{id}/projects/{project}/complete",
            post(lists::complete_project),
        )
        .route("/streets/{id}/registry", get(registry::page))
        .route("/streets/{id}/communities", post(registry::add_community))
        .route("/streets/{id}/grids", post(registry::add_grid))
        .route("/streets/{id}/units", post(registry::register_unit))
        .route(
            "/streets/{id}/units/{unit}/archive",
            post(registry::archive_unit),
        )
        .route("/streets/{id}/settings", get(settings::page))
        .route("/streets/{id}/settings/{category}", post(settings::put))
        .route(
            "/streets/{id}/tokens/{token}/revoke",
            post(people::revoke_token),
        )
        .route(
            "/volunteers/{id}",
            get(volunteer::page).post(volunteer::save),
        )
        .route("/resources", get(unit::list).post(unit::create))
        .route("/resources/{id}", post(unit::update))
        .route("/projects", get(unit::projects_page))
        .route("/projects/{id}/claim", post(unit::claim))
        .route("/projects/{id}/progress", post(unit::progress))
        .route("/district", get(dashboard::district))
        .route(
            "/streets/{id}/webhooks",
            get(webhooks::page).post(webhooks::create),
        )
        .route(
            "/streets/{id}/webhooks/{endpoint}",
            get(webhooks::deliveries),
        )
        .route(
            "/streets/{id}/webhooks/{endpoint}/status",
            post(webhooks::set_status),
        )
        .route(
            "/streets/{id}/webhooks/{endpoint}/delete",
            post(webhooks::delete),
        )
        .route(
            "/streets/{id}/webhooks/{endpoint}/deliveries/{delivery}/redeliver",
            post(webhooks::redeliver),
        )
        .route("/notifications", get(notifications_page::page))
        .route("/notifications/read", post(notifications_page::mark_read))
        .route(
            "/notifications/preferences",
            post(notifications_page::set_preferences),
        )
        .route("/live", get(live::stream))
        .route("/assets/{name}", get(assets::serve))
        .fallback(|headers: HeaderMap| async move {
            Oops::new(locale_of(&headers), Error::NotFound("page")).into_response()
        })
        .layer(middleware::from_fn(same_origin_only))
        // Pages and assets gzipped for phones on slow links (the event stream is not).
        .layer(tower_http::compression::CompressionLayer::new().gzip(true));
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/console", get(home))
        .nest("/console", console)
}

/// The signed-in person: the principal their session acts as, and the session's secret.
pub struct Viewer {
    pub principal: Principal,
    pub locale: Locale,
    pub secure: bool,
    /// Unread notifications, for the navigation's badge (read for pages only).
    pub unread: i64,
}

/// A request from someone not signed in: sent to sign in, and back here afterwards.
pub struct SignInFirst(String);

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        let next: String = form_urlencoded::byte_serialize(self.0.as_bytes()).collect::<String>();
        Redirect::to(&format!("/console/sign-in?next={next}")).into_response()
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let locale = locale_of(&parts.headers);
        let secure = is_secure(&parts.headers);
        // The path as the browser asked for it (a nested router sees it without `/console`).
        let uri = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map(|o| o.0.clone())
            .unwrap_or_else(|| parts.uri.clone());
        let here = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/console".into());
        let Some(secret) = session_secret(&parts.headers) else {
            return Err(SignInFirst(here).into_response());
        };
        match sessions::resolve(state, &secret).await {
            Ok(Some(principal)) => {
                // A page shows the badge; an action, a download or the stream does not.
                let page = parts.method == axum::http::Method::GET
                    && !uri.path().ends_with("/live")
                    && !uri.path().ends_with(".csv");
                let unread = if page {
                    notifications::unread(state, &principal)
                        .await
                        .map_err(|e| Oops::new(locale, e).into_response())?
                } else {
                    0
                };
                Ok(Viewer {
                    principal,
                    locale,
                    secure,
                    unread,
                })
            }
            Ok(None) => Err(SignInFirst(here).into_response()),
            Err(e) => Err(Oops::new(locale, e).into_response()),
        }
    }
}

/// The language of a request: the person's choice, else what the browser asks for.
pub fn locale_of(headers: &HeaderMap) -> Locale {
    cookie(headers, LANG_COOKIE)
        .and_then(|v| Locale::from_tag(&v))
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .map(Locale::from_accept_language)
        })
        .unwrap_or(Locale::ZhCn)
}

/// Whether the request reached the service over TLS, as the proxy in front of it says (the
/// binary itself serves plain HTTP).
pub fn is_secure(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value that stores a session's secret in the browser (or, with an empty
/// secret and no lifetime, removes it).
pub fn session_cookie(secret: &str, max_age_seconds: i64, secure: bool) -> String {
    let name = if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    };
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_seconds}{secure}")
}

/// The address people reach this service at, as the request names it: for the links and QR
/// codes a page hands to someone else.
pub fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if is_secure(headers) { "https" } else { "http" };
    format!("{scheme}://{host}")
}

/// A QR code of `text`, as an SVG to put in a page.
pub fn qr_svg(text: &str) -> Result<String, Error> {
    Ok(qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| Error::Internal(anyhow::anyhow!("QR code: {e}")))?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build())
}

/// The value of the cookie `name`, if the request carries it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The session secret the request carries, under either cookie name.
pub fn session_secret(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SECURE_SESSION_COOKIE)
        .or_else(|| cookie(headers, SESSION_COOKIE))
        .filter(|s| !s.is_empty() && s.len() <= 100)
}

/// Refuses a state-changing request that another site made the browser send: by Fetch
/// Metadata where the browser sends it (`same-origin`, or `none` for one the person typed,
/// pass), else by `Origin`, which must name this host. A request with neither comes from no
/// browser a page could drive.
async fn same_origin_only(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let allowed = match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => site == "same-origin" || site == "none",
        None => match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            Some(origin) => {
                let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
                let origin_host = origin
                    .strip_prefix("https://")
                    .or_else(|| origin.strip_prefix("http://"));
                origin_host.is_some() && origin_host == host
            }
            None => true,
        },
    };
    if allowed {
        next.run(req).await
    } else {
        let locale = locale_of(headers);
        tracing::warn!(path = %crate::loggable_path(req.uri().path()), "refused a cross-site request to the console");
        Oops::forged(locale).into_response()
    }
}

/// `/console`: each person's first page.
async fn home(viewer: Result<Viewer, Response>) -> Response {
    let viewer = match viewer {
        Ok(v) => v,
        Err(_) => return Redirect::to("/console/sign-in").into_response(),
    };
    Redirect::to(&frame::home_of(&viewer.principal)).into_response()
}

/// Every item of a paged listing: `page` reads the page after a cursor, from the first on.
pub async fn every_page<T, F, Fut>(mut page: F) -> Result<Vec<T>, Error>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<gongjian_core::store::page::Page<T>, Error>>,
{
    let mut out = vec![];
    let mut cursor = None;
    loop {
        let p = page(cursor).await?;
        out.extend(p.items);
        match p.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

/// Every grid of a street, as `viewer` may list them.
pub async fn street_grids(
    state: &AppState,
    viewer: &Viewer,
    street: uuid::Uuid,
) -> Result<Vec<gongjian_core::domain::street::Grid>, Oops> {
    every_page(|cursor| {
        gongjian_core::service::streets::list_grids(
            state,
            &viewer.principal,
            street,
            gongjian_core::domain::street::ListGrids {
                community_id: None,
                cursor,
                limit: Some(200),
            },
        )
    })
    .await
    .map_err(|e| viewer.oops(e))
}

/// A page's answer with no error: `303 See Other` to where the person goes next.
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// The error of an operation, as a page in the person's language.
impl Viewer {
    pub fn oops(&self, e: Error) -> Oops {
        Oops::new(self.locale, e)
    }

    /// Allows a street's own pages (its dashboard, people, settings, rule, escalations) to the
    /// street's staff and the district; for anyone else they do not exist (404), as another
    /// street's records do not.
    pub fn street_office(&self, street: uuid::Uuid) -> Result<(), Oops> {
        if self.principal.sees_street_office(street) {
            Ok(())
        } else {
            Err(self.oops(Error::NotFound("street")))
        }
    }

    pub fn frame(&self, title: &str, here: &str) -> Frame {
        Frame::signed_in(self, title, here)
    }
}
