//! 派单设置: a street's dispatch settings, by category — whether a filing is dispatched at once,
//! to how many, the minutes to accept and to complete — as `PUT
//! /api/v1/streets/{id}/dispatch-settings/{category}` sets them.

use askama::Template;
use axum::{extract::State, response::Response};
use gongjian_core::{
    domain::settings::{PutSettings, Settings, StreetSettings},
    service::{settings, streets},
    Error,
};
use serde::Deserialize;
use uuid::Uuid;

use super::extract::{Form, Path};
use super::{
    frame::{render, Frame},
    see_other, Oops, Viewer,
};
use crate::state::AppState;

/// One row of the page: a category (or the default), its label, its settings, and whether
/// they are its own.
pub struct Row {
    pub code: String,
    pub label: String,
    pub settings: Settings,
    pub own: bool,
}

#[derive(Template)]
#[template(path = "console/settings.html")]
struct SettingsPage {
    f: Frame,
    street_id: Uuid,
    rows: Vec<Row>,
}

impl SettingsPage {
    fn complete(&self, s: &Settings) -> String {
        s.complete_minutes
            .map(|m| m.to_string())
            .unwrap_or_default()
    }
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(street): Path<Uuid>,
) -> Result<Response, Oops> {
    viewer.street_office(street)?;
    let t = viewer.locale.texts();
    let StreetSettings {
        default,
        categories: own,
    } = settings::list_settings(&state, &viewer.principal, street)
        .await
        .map_err(|e| viewer.oops(e))?;
    let categories = streets::list_categories(&state, &viewer.principal, street)
        .await
        .map_err(|e| viewer.oops(e))?
        .items;
    let mut rows = vec![Row {
        code: "default".into(),
        label: t.settings_default.into(),
        settings: default.clone(),
        own: true,
    }];
    for c in categories {
        let mine = own.iter().find(|o| o.category == c.code);
        rows.push(Row {
            settings: mine.map(|o| o.settings.clone()).unwrap_or(default.clone()),
            own: mine.is_some(),
            code: c.code,
            label: c.label,
        });
    }
    Ok(render(&SettingsPage {
        f: viewer.frame(
            t.nav_settings,
            &format!("/console/streets/{street}/settings"),
        ),
        street_id: street,
        rows,
    }))
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    auto_dispatch: Option<String>,
    offer_count: String,
    accept_minutes: String,
    #[serde(default)]
    complete_minutes: String,
}

pub async fn put(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((street, category)): Path<(Uuid, String)>,
    Form(form): Form<SettingsForm>,
) -> Result<Response, Oops> {
    viewer.street_office(street)?;
    let number = |field: &str, text: &str| {
        text.trim().parse::<i64>().map_err(|_| {
            viewer.oops(Error::field(
                field,
                "invalid_type",
                format!("{field} is a whole number"),
            ))
        })
    };
    let offer_count = number("offer_count", &form.offer_count)?;
    let accept_minutes = number("accept_minutes", &form.accept_minutes)?;
    let complete_minutes = match form.complete_minutes.trim() {
        "" => None,
        m => Some(number("complete_minutes", m)?),
    };
    settings::put_settings(
        &state,
        &viewer.principal,
        street,
        category,
        PutSettings {
            auto_dispatch: form.auto_dispatch.is_some(),
            offer_count,
            accept_minutes,
            complete_minutes,
        },
    )
    .await
    .map_err(|e| viewer.oops(e))?;
    Ok(see_other(&format!("/console/streets/{street}/settings")))
}
