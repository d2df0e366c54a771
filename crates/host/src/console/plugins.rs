//! 匹配规则: a street admin writes or pastes a rhai rule (a refusal shown at its line and
//! column, with the line itself), uploads a WebAssembly module, dry-runs a version on one of
//! the street's demands, activates it, rolls back or returns to the built-in rule, and sees a
//! version's faults and quarantine — the operations of `/api/v1/streets/{id}/plugins`.

use askama::Template;
use axum::{
    extract::{DefaultBodyLimit, State},
    http::StatusCode,
    response::Response,
    routing::post,
    Router,
};
use base64::Engine;
use gongjian_core::{
    domain::{
        demand::{Demand, ListDemands},
        plugin::{
            ActiveRule, DryRunRequest, DryRunResult, FaultRecord, ListPage, PluginStatus,
            PluginVersion, UploadVersion,
        },
        ListOrder,
    },
    service::{demands, plugins},
    Error,
};
use serde::Deserialize;
use uuid::Uuid;

use super::extract::{Form, Multipart, Path};
use super::{
    frame::{render, render_status, Frame},
    see_other, Oops, Viewer,
};
use crate::{plugin::host::PluginKind, state::AppState};

/// The routes that take a module's bytes, with room for the largest module a street may
/// upload.
pub fn upload_router() -> Router<AppState> {
    Router::new()
        .route("/streets/{id}/plugins/wasm", post(upload_wasm))
        .layer(DefaultBodyLimit::max(plugins::MAX_PLUGIN_BYTES + 64 * 1024))
}

/// A rule to start from when the street has none of its own.
const EXAMPLE: &str = r#"// 每位候选人的得分：有空余、时间合适的才推荐；技能或类别对口加分，
// 同网格加分，在办订单越少加分越多。返回 () 表示不推荐。
fn score(c, d, config) {
    if !c.has_room() || !c.availability_fits {
        return ();
    }
    let s = 0.0;
    if (c.kind == "resource" && c.category == d.category) || c.skills.contains(d.category_label) {
        s += config.skill ?? 4.0;
    }
    if c.serves_grid(d.grid) {
        s += config.grid ?? 2.0;
    }
    if c.kind == "volunteer" && c.max_open_orders > 0 {
        s += 1.0 - c.open_orders.to_float() / c.max_open_orders.to_float();
    }
    #{ score: s, reason: "街道规则" }
}
"#;

/// Where a refusal points in the script: its line and column, and that line.
pub struct ErrorAt {
    pub line: usize,
    pub column: usize,
    pub text: String,
}

/// Reads `line N, column M` (or `position M`) from a refusal's message and picks that line of the script.
fn error_at(message: &str, source: &str) -> Option<ErrorAt> {
    let number_after = |key: &str| -> Option<usize> {
        let rest = &message[message.find(key)? + key.len()..];
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().ok()
    };
    let line = number_after("line ")?;
    let column = number_after("column ")
        .or_else(|| number_after("position "))
        .unwrap_or(1);
    let text = source.lines().nth(line.checked_sub(1)?)?.to_string();
    Some(ErrorAt { line, column, text })
}

#[derive(Template)]
#[template(path = "console/plugins.html")]
struct PluginsPage {
    f: Frame,
    street_id: Uuid,
    active: ActiveRule,
    versions: Vec<PluginVersion>,
    source: String,
    config: String,
    note: String,
    error: Option<String>,
    error_at: Option<ErrorAt>,
}

impl VersionPage {
    fn chosen(&self, d: &Demand) -> bool {
        self.chosen == Some(d.id)
    }
}

impl PluginsPage {
    fn status(&self, v: &PluginVersion) -> &'static str {
        match v.status {
            PluginStatus::Ready => self.f.t.plugins_status_ready,
            PluginStatus::Quarantined => self.f.t.plugins_status_quarantined,
        }
    }

    /// The caret under the column a refusal points at.
    fn caret(&self, at: &ErrorAt) -> String {
        format!("{}^", " ".repeat(at.column.saturating_sub(1)))
    }
}

async fn plugins_page(
    state: &AppState,
    viewer: &Viewer,
    street: Uuid,
    form: Option<RhaiForm>,
    error: Option<String>,
) -> Result<PluginsPage, Oops> {
    viewer.street_office(street)?;
    let t = viewer.locale.texts();
    let active = plugins::active_rule(state, &viewer.principal, street)
        .await
        .map_err(|e| viewer.oops(e))?;
    let mut versions = plugins::list_versions(
        state,
        &viewer.principal,
        street,
        ListPage {
            cursor: None,
            limit: Some(200),
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?
    .items;
    versions.reverse();
    let (source, config, note) = match form {
        Some(f) => (f.source, f.config, f.note),
        None => {
            // Start from the rule in use, if it is a script.
            let source = match &active.version {
                Some(v) if v.kind == PluginKind::Rhai => {
                    plugins::get_version(state, &viewer.principal, street, v.id)
                        .await
                        .map_err(|e| viewer.oops(e))?
                        .source
                        .unwrap_or_default()
                }
                _ => EXAMPLE.to_string(),
            };
            (source, "{}".to_string(), String::new())
        }
    };
    let error_at = error.as_deref().and_then(|m| error_at(m, &source));
    Ok(PluginsPage {
        f: viewer.frame(
            t.plugins_title,
            &format!("/console/streets/{street}/plugins"),
        ),
        street_id: street,
        active,
        versions,
        source,
        config,
        note,
        error,
        error_at,
    })
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(street): Path<Uuid>,
) -> Result<Response, Oops> {
    Ok(render(
        &plugins_page(&state, &viewer, street, None, None).await?,
    ))
}

#[derive(Deserialize)]
pub struct RhaiForm {
    #[serde(default)]
    source: String,
    #[serde(default)]
    config: String,
    #[serde(default)]
    note: String,
}

/// The configuration typed on the form: blank is `{}`; anything else must be JSON.
fn parse_config(text: &str) -> Result<serde_json::Value, Error> {
    if text.trim().is_empty() {
        return Ok(serde_json::json!({}));
    }
    serde_json::from_str(text)
        .map_err(|e| Error::field("config", "invalid_json", format!("not JSON: {e}")))
}

/// An upload's refusal as the message to show, or the error to answer with.
fn refusal(e: Error) -> Result<String, Error> {
    match e {
        Error::Validation(fields) => Ok(fields
            .iter()
            .map(|f| f.message.clone())
            .collect::<Vec<_>>()
            .join("; ")),
        other => Err(other),
    }
}

async fn upload(
    state: &AppState,
    viewer: &Viewer,
    street: Uuid,
    body: Result<UploadVersion, Error>,
) -> Result<Result<PluginVersion, String>, Oops> {
    viewer.street_office(street)?;
    let result = match body {
        Ok(body) => plugins::upload_version(state, &viewer.principal, street, body).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => Ok(Ok(v)),
        Err(e) => refusal(e).map(Err).map_err(|e| viewer.oops(e)),
    }
}

pub async fn upload_rhai(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(street): Path<Uuid>,
    Form(form): Form<RhaiForm>,
) -> Result<Response, Oops> {
    let body = parse_config(&form.config).map(|config| UploadVersion {
        kind: PluginKind::Rhai,
        source: Some(form.source.clone()),
        wasm_base64: None,
        config: Some(config),
        note: Some(form.note.trim().to_string()).filter(|n| !n.is_empty()),
    });
    match upload(&state, &viewer, street, body).await? {
        Ok(v) => Ok(see_other(&format!(
            "/console/streets/{street}/plugins/{}",
            v.id
        ))),
        Err(message) => {
            let page = plugins_page(&state, &viewer, street, Some(form), Some(message)).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

pub async fn upload_wasm(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(street): Path<Uuid>,
    Multipart(mut multipart): Multipart,
) -> Result<Response, Oops> {
    let mut module = None;
    let mut config = String::new();
    let mut note = String::new();
    while let Some(field) = multipart.next_field().await.map_err(|e| {
        viewer.oops(Error::BadRequest {
            code: "invalid_form",
            message: e.body_text(),
            field: None,
        })
    })? {
        let name = field.name().unwrap_or_default().to_string();
        let bytes = field.bytes().await.map_err(|e| {
            viewer.oops(Error::BadRequest {
                code: "invalid_form",
                message: e.body_text(),
                field: Some(name.clone()),
            })
        })?;
        match name.as_str() {
            "module" => module = Some(bytes),
            "config" => config = String::from_utf8_lossy(&bytes).into_owned(),
            "note" => note = String::from_utf8_lossy(&bytes).into_owned(),
            _ => {}
        }
    }
    let body = match module {
        None => Err(Error::field("module", "required", "choose a .wasm file")),
        Some(bytes) => parse_config(&config).map(|config| UploadVersion {
            kind: PluginKind::Wasm,
            source: None,
            wasm_base64: Some(base64::engine::general_purpose::STANDARD.encode(&bytes)),
            config: Some(config),
            note: Some(note.trim().to_string()).filter(|n| !n.is_empty()),
        }),
    };
    match upload(&state, &viewer, street, body).await? {
        Ok(v) => Ok(see_other(&format!(
            "/console/streets/{street}/plugins/{}",
            v.id
        ))),
        Err(message) => {
            let page = plugins_page(&state, &viewer, street, None, Some(message)).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

#[derive(Template)]
#[template(path = "console/plugin_version.html")]
struct VersionPage {
    f: Frame,
    street_id: Uuid,
    version: PluginVersion,
    faults: Vec<FaultRecord>,
    demands: Vec<Demand>,
    dry_run: Option<DryRunResult>,
    chosen: Option<Uuid>,
}

async fn version_page(
    state: &AppState,
    viewer: &Viewer,
    street: Uuid,
    id: Uuid,
    dry_run: Option<DryRunResult>,
    chosen: Option<Uuid>,
) -> Result<VersionPage, Oops> {
    viewer.street_office(street)?;
    let t = viewer.locale.texts();
    let version = plugins::get_version(state, &viewer.principal, street, id)
        .await
        .map_err(|e| viewer.oops(e))?;
    let faults = plugins::list_faults(
        state,
        &viewer.principal,
        street,
        id,
        ListPage {
            cursor: None,
            limit: Some(50),
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?
    .items;
    let demands = demands::list(
        state,
        &viewer.principal,
        ListDemands {
            street_id: Some(street),
            grid_id: None,
            status: None,
            category: None,
            channel: None,
            urgency: None,
            tag: None,
            flagged: None,
            filed_from: None,
            filed_to: None,
            order: Some(ListOrder::Newest),
            cursor: None,
            limit: Some(50),
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?
    .items;
    let title = format!("{} {}", t.plugins_version, version.number);
    Ok(VersionPage {
        f: viewer.frame(&title, &format!("/console/streets/{street}/plugins")),
        street_id: street,
        version,
        faults,
        demands,
        dry_run,
        chosen,
    })
}

pub async fn version(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((street, id)): Path<(Uuid, Uuid)>,
) -> Result<Response, Oops> {
    Ok(render(
        &version_page(&state, &viewer, street, id, None, None).await?,
    ))
}

#[derive(Deserialize)]
pub struct DryRunForm {
    demand_id: Uuid,
}

pub async fn dry_run(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((street, id)): Path<(Uuid, Uuid)>,
    Form(form): Form<DryRunForm>,
) -> Result<Response, Oops> {
    viewer.street_office(street)?;
    let result = plugins::dry_run(
        &state,
        &viewer.principal,
        street,
        id,
        DryRunRequest {
            demand_id: Some(form.demand_id),
            demand: None,
            candidates: None,
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?;
    Ok(render(
        &version_page(
            &state,
            &viewer,
            street,
            id,
            Some(result),
            Some(form.demand_id),
        )
        .await?,
    ))
}

pub async fn activate(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((street, id)): Path<(Uuid, Uuid)>,
) -> Result<Response, Oops> {
    viewer.street_office(street)?;
    plugins::activate_version(&state, &viewer.principal, street, id)
        .await
        .map_err(|e| viewer.oops(e))?;
    Ok(see_other(&format!("/console/streets/{street}/plugins")))
}

pub async fn rollback(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(street): Path<Uuid>,
) -> Result<Response, Oops> {
    viewer.street_office(street)?;
    plugins::rollback(&state, &viewer.principal, street)
        .await
        .map_err(|e| viewer.oops(e))?;
    Ok(see_other(&format!("/console/streets/{street}/plugins")))
}

pub async fn deactivate(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(street): Path<Uuid>,
) -> Result<Response, Oops> {
    viewer.street_office(street)?;
    plugins::deactivate(&state, &viewer.principal, street)
        .await
        .map_err(|e| viewer.oops(e))?;
    Ok(see_other(&format!("/console/streets/{street}/plugins")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_points_at_its_line_and_column() {
        let source = "fn score(c, d, config) {\n  let = 1;\n}";
        let at = error_at("Expecting name of a variable (line 2, column 7)", source)
            .expect("a position");
        assert_eq!((at.line, at.column), (2, 7));
        let at = error_at("Unexpected '=' (line 2, position 6)", source).expect("a position");
        assert_eq!((at.line, at.column), (2, 6));
        assert_eq!(at.text, "  let = 1;");
        assert!(error_at("no position here", source).is_none());
        assert!(
            error_at("(line 9, position 1)", source).is_none(),
            "past the end"
        );
    }
}
