//! What every page shares — the frame around its content (language, title, the person's
//! navigation) — and the error page.

use askama::Template;
use axum::{
    http::{header, StatusCode},
    response::{Html, IntoResponse, Response},
};
use gongjian_core::{
    domain::access::{Principal, Role},
    Error,
};

use super::{
    assets,
    texts::{Locale, Texts},
    Viewer,
};

/// One link of the navigation.
pub struct NavItem {
    pub href: String,
    pub label: &'static str,
    pub current: bool,
    /// A count beside the label (unread notifications): "1" to "99", or "99+".
    pub badge: Option<String>,
}

/// The frame of a page: its language and texts, title, and the signed-in person's
/// navigation.
pub struct Frame {
    pub t: &'static Texts,
    pub lang: &'static str,
    pub title: String,
    pub nav: Vec<NavItem>,
    /// The person's role, in the page's language; empty when signed out.
    pub who: &'static str,
    pub signed_in: bool,
    pub css: &'static str,
    pub htmx: &'static str,
    pub htmx_integrity: &'static str,
    pub script: &'static str,
}

impl Frame {
    pub fn signed_out(locale: Locale, title: &str) -> Frame {
        Frame {
            t: locale.texts(),
            lang: locale.tag(),
            title: title.to_string(),
            nav: vec![],
            who: "",
            signed_in: false,
            css: assets::CSS_PATH,
            htmx: assets::HTMX_PATH,
            htmx_integrity: assets::HTMX_INTEGRITY,
            script: assets::SCRIPT_PATH,
        }
    }

    pub fn signed_in(viewer: &Viewer, title: &str, here: &str) -> Frame {
        let t = viewer.locale.texts();
        let mut nav: Vec<NavItem> = nav_of(t, &viewer.principal)
            .into_iter()
            .map(|(href, label)| NavItem {
                current: here == href,
                href,
                label,
                badge: None,
            })
            .collect();
        let unread = gongjian_core::service::notifications::UNREAD_WINDOW;
        nav.push(NavItem {
            current: here.starts_with("/console/notifications"),
            href: "/console/notifications".into(),
            label: t.nav_notifications,
            badge: match viewer.unread {
                0 => None,
                n if n >= unread => Some(format!("{}+", unread - 1)),
                n => Some(n.to_string()),
            },
        });
        Frame {
            nav,
            who: t.role(viewer.principal.role.kind()),
            signed_in: true,
            ..Frame::signed_out(viewer.locale, title)
        }
    }
}

/// Each role's pages.
fn nav_of(t: &'static Texts, p: &Principal) -> Vec<(String, &'static str)> {
    match &p.role {
        Role::Volunteer { .. } => vec![("/console/orders".into(), t.nav_orders)],
        Role::Unit { .. } => vec![
            ("/console/orders".into(), t.nav_orders),
            ("/console/resources".into(), t.nav_resources),
            ("/console/projects".into(), t.nav_projects),
        ],
        Role::GridWorker { .. } => vec![
            ("/console/demands".into(), t.nav_demands),
            ("/console/demands/new".into(), t.nav_new_demand),
        ],
        Role::StreetAdmin { street } => vec![
            (format!("/console/streets/{street}"), t.nav_dashboard),
            ("/console/demands".into(), t.nav_demands),
            (
                format!("/console/streets/{street}/escalations"),
                t.nav_escalations,
            ),
            ("/console/demands/new".into(), t.nav_new_demand),
            (
                format!("/console/streets/{street}/resources"),
                t.nav_street_resources,
            ),
            (
                format!("/console/streets/{street}/projects"),
                t.nav_street_projects,
            ),
            (format!("/console/streets/{street}/people"), t.nav_people),
            (
                format!("/console/streets/{street}/registry"),
                t.nav_registry,
            ),
            (format!("/console/streets/{street}/plugins"), t.nav_plugins),
            (
                format!("/console/streets/{street}/settings"),
                t.nav_settings,
            ),
            (
                format!("/console/streets/{street}/webhooks"),
                t.nav_webhooks,
            ),
        ],
        Role::DistrictAdmin => vec![("/console/district".into(), t.nav_district)],
    }
}

/// The first page of a person's role.
pub fn home_of(p: &Principal) -> String {
    match &p.role {
        Role::Volunteer { .. } | Role::Unit { .. } => "/console/orders".into(),
        Role::GridWorker { .. } => "/console/demands".into(),
        Role::StreetAdmin { street } => format!("/console/streets/{street}"),
        Role::DistrictAdmin => "/console/district".into(),
    }
}

/// A list filter set to a value the page's form does not offer (400 `invalid_query`).
pub fn not_offered(field: &str) -> Error {
    Error::BadRequest {
        code: "invalid_query",
        message: format!("{field} is not one of the values this page offers"),
        field: Some(field.to_string()),
    }
}

/// The skills a form lists, separated by commas (either width) or 、.
pub fn skills_of(text: &str) -> Vec<String> {
    text.split([',', '，', '、'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A form's errors by the form field they are about, the first for each field: what a page
/// shows beside each field when it shows a form again.
#[derive(Debug, Default)]
pub struct FieldErrors(std::collections::HashMap<String, String>);

impl FieldErrors {
    /// The error at `field`; empty when it has none.
    pub fn at(&self, field: &str) -> String {
        self.0.get(field).cloned().unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a field whose name starts with `prefix` has an error: on a page of several
    /// forms, whether one form has.
    pub fn any(&self, prefix: &str) -> bool {
        self.0.keys().any(|k| k.starts_with(prefix))
    }

    /// Notes an error at `field`, unless it has one already.
    pub fn note(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_insert_with(|| message.into());
    }

    /// Notes an operation's field errors, each at the form field named `prefix` and its field
    /// (a page with several forms names their fields apart).
    pub fn note_all_prefixed(
        &mut self,
        fields: Vec<gongjian_core::error::FieldError>,
        prefix: &str,
    ) {
        for f in fields {
            self.note(format!("{prefix}{}", f.field), f.message);
        }
    }

    /// Notes an operation's field errors, each at the form field `form_field` names for it.
    pub fn note_all(
        &mut self,
        fields: Vec<gongjian_core::error::FieldError>,
        form_field: impl Fn(&str) -> &str,
    ) {
        for f in fields {
            self.note(form_field(&f.field), f.message);
        }
    }
}

/// Renders a page: `200` with its HTML, never cached (pages show people's data).
pub fn render(page: &impl Template) -> Response {
    render_status(StatusCode::OK, page)
}

pub fn render_status(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console page failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    f: Frame,
    detail: String,
    /// The error's machine-readable code, as the API's problem documents carry it.
    code: String,
    /// The field at fault, if one is.
    field: String,
}

/// A failed request as a page in the person's language, with the status the API would answer.
pub struct Oops {
    locale: Locale,
    kind: OopsKind,
}

enum OopsKind {
    Operation(Error),
    Forged,
    /// A request the console could not read at all (too large, of the wrong type, too slow).
    Status(StatusCode, &'static str),
}

impl Oops {
    pub fn new(locale: Locale, e: Error) -> Oops {
        Oops {
            locale,
            kind: OopsKind::Operation(e),
        }
    }

    pub fn forged(locale: Locale) -> Oops {
        Oops {
            locale,
            kind: OopsKind::Forged,
        }
    }

    /// A request that could not be read, answered with `status` and `code`.
    pub fn status(locale: Locale, status: StatusCode, code: &'static str) -> Oops {
        Oops {
            locale,
            kind: OopsKind::Status(status, code),
        }
    }
}

impl IntoResponse for Oops {
    fn into_response(self) -> Response {
        let t = self.locale.texts();
        let none = String::new;
        let (status, heading, detail, code, field) = match self.kind {
            OopsKind::Forged => (
                StatusCode::FORBIDDEN,
                t.error_forged,
                none(),
                "cross_site_request".to_string(),
                none(),
            ),
            OopsKind::Status(status, code) => {
                (status, t.error_unreadable, none(), code.to_string(), none())
            }
            OopsKind::Operation(e) => match e {
                Error::NotFound(_) => (
                    StatusCode::NOT_FOUND,
                    t.error_not_found,
                    none(),
                    "not_found".to_string(),
                    none(),
                ),
                Error::Forbidden(_) => (
                    StatusCode::FORBIDDEN,
                    t.error_forbidden,
                    none(),
                    "forbidden".to_string(),
                    none(),
                ),
                Error::Unauthorized(_) => {
                    return super::see_other("/console/sign-in");
                }
                Error::Conflict {
                    code,
                    message,
                    field,
                } => (
                    StatusCode::CONFLICT,
                    t.error_conflict,
                    message,
                    code.to_string(),
                    field.unwrap_or_default(),
                ),
                Error::Validation(fields) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    t.error_invalid,
                    fields
                        .iter()
                        .map(|f| format!("{}: {}", f.field, f.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                    fields
                        .first()
                        .map_or_else(|| "invalid".to_string(), |f| f.code.clone()),
                    fields.first().map(|f| f.field.clone()).unwrap_or_default(),
                ),
                Error::BadRequest {
                    code,
                    message,
                    field,
                } => (
                    StatusCode::BAD_REQUEST,
                    t.error_invalid,
                    message,
                    code.to_string(),
                    field.unwrap_or_default(),
                ),
                Error::Unavailable(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    t.error_internal,
                    none(),
                    "unavailable".to_string(),
                    none(),
                ),
                Error::Internal(cause) => {
                    tracing::error!(error = ?cause, "a console request failed");
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        t.error_internal,
                        none(),
                        "internal".to_string(),
                        none(),
                    )
                }
            },
        };
        let page = ErrorPage {
            f: Frame::signed_out(self.locale, heading),
            detail,
            code,
            field,
        };
        render_status(status, &page)
    }
}

impl Frame {
    /// A stored instant as the people of a street read it: local time (UTC+8), to the minute.
    pub fn local(&self, ts: &str) -> String {
        use time::format_description::well_known::Rfc3339;
        match time::OffsetDateTime::parse(ts, &Rfc3339) {
            Ok(t) => {
                let t = t.to_offset(gongjian_core::domain::LOCAL_OFFSET);
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}",
                    t.year(),
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute()
                )
            }
            Err(_) => ts.to_string(),
        }
    }

    /// [`Frame::local`] of an instant that may be absent.
    pub fn local_opt(&self, ts: Option<&str>) -> String {
        ts.map(|t| self.local(t))
            .unwrap_or_else(|| self.t.fig_none.to_string())
    }

    /// A rate as a percentage, or a dash when there is nothing to divide.
    pub fn percent(&self, rate: &Option<f64>) -> String {
        rate.map(|r| format!("{:.1}%", r * 100.0))
            .unwrap_or_else(|| self.t.fig_none.to_string())
    }

    /// A category's name: the built-in taxonomy's, or the street's own code.
    pub fn category<'a>(&self, code: &'a str) -> &'a str {
        gongjian_core::domain::DEFAULT_CATEGORIES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, label)| *label)
            .unwrap_or(code)
    }

    /// A number of minutes, or a dash.
    pub fn minutes(&self, m: &Option<f64>) -> String {
        m.map(|m| format!("{m:.0}"))
            .unwrap_or_else(|| self.t.fig_none.to_string())
    }
}
