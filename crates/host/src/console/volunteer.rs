//! A volunteer's record, to read and change: by the volunteer (their phone, skills, team, the
//! hours they are free, whether they take orders now) and by the street's staff, whose admins
//! also set the volunteer's limit on open orders — `PATCH /api/v1/volunteers/{id}`, with the
//! same policy deciding who may change what.

use std::collections::HashMap;

use askama::Template;
use axum::{extract::State, http::StatusCode, response::Response};
use gongjian_core::{
    domain::{
        access::Role,
        street::Grid,
        volunteer::{UpdateVolunteer, Volunteer},
        Weekday, WeeklySlot,
    },
    service::volunteers,
    Error,
};
use uuid::Uuid;

use super::extract::{Form, Path, Query};
use super::{
    frame::{render, render_status, skills_of, FieldErrors, Frame},
    see_other, street_grids, Oops, Viewer,
};
use crate::state::AppState;

/// Rows of the availability table: the volunteer's slots, then this many empty ones to add.
const EMPTY_SLOTS: usize = 2;

const WEEKDAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

/// One row of the availability table, as shown or as filled in.
#[derive(Debug, Default)]
struct SlotRow {
    day: String,
    start: String,
    end: String,
}

/// The record's form, as shown or as filled in.
#[derive(Debug, Default)]
struct RecordForm {
    name: String,
    phone: String,
    home_grid_id: String,
    skills: String,
    team: String,
    party_member: bool,
    active: bool,
    max_open_orders: String,
    slots: Vec<SlotRow>,
}

impl RecordForm {
    fn of(v: &Volunteer) -> RecordForm {
        let mut slots: Vec<SlotRow> = v
            .availability
            .iter()
            .map(|s| SlotRow {
                day: s.day.as_str().to_string(),
                start: s.start.clone(),
                end: s.end.clone(),
            })
            .collect();
        slots.extend((0..EMPTY_SLOTS).map(|_| SlotRow::default()));
        RecordForm {
            name: v.name.clone(),
            phone: v.phone.clone(),
            home_grid_id: v.home_grid_id.to_string(),
            skills: v.skills.join("，"),
            team: v.team.clone().unwrap_or_default(),
            party_member: v.party_member,
            active: v.active,
            max_open_orders: v.max_open_orders.to_string(),
            slots,
        }
    }

    /// The form as posted: its fields by name, the availability rows as `day_N`, `start_N`,
    /// `end_N` from `N = 0`.
    fn posted(mut fields: HashMap<String, String>) -> RecordForm {
        let mut take = |k: &str| fields.remove(k).unwrap_or_default();
        let mut form = RecordForm {
            name: take("name"),
            phone: take("phone"),
            home_grid_id: take("home_grid_id"),
            skills: take("skills"),
            team: take("team"),
            party_member: !take("party_member").is_empty(),
            active: !take("active").is_empty(),
            max_open_orders: take("max_open_orders"),
            slots: vec![],
        };
        for n in 0.. {
            let (day, start, end) = (
                fields.remove(&format!("day_{n}")),
                fields.remove(&format!("start_{n}")),
                fields.remove(&format!("end_{n}")),
            );
            if day.is_none() && start.is_none() && end.is_none() {
                break;
            }
            form.slots.push(SlotRow {
                day: day.unwrap_or_default(),
                start: start.unwrap_or_default(),
                end: end.unwrap_or_default(),
            });
        }
        form
    }
}

#[derive(Template)]
#[template(path = "console/volunteer.html")]
struct RecordPage {
    f: Frame,
    volunteer: Volunteer,
    grids: Vec<Grid>,
    weekdays: Vec<(Weekday, &'static str)>,
    form: RecordForm,
    errors: FieldErrors,
    /// Whether the viewer sets the volunteer's limit on open orders (the street's admins).
    sets_limit: bool,
    /// Whether the viewer may change the record (the volunteer, the street's admins); a grid
    /// worker reads it.
    may_edit: bool,
    /// Where the page leads back to.
    back: String,
    saved: bool,
}

impl RecordPage {
    /// The errors of availability row `n`.
    fn slot_error(&self, n: &usize) -> String {
        ["day", "start", "end"]
            .iter()
            .map(|part| self.errors.at(&format!("{part}_{n}")))
            .filter(|e| !e.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

async fn record_page(
    state: &AppState,
    viewer: &Viewer,
    volunteer: Volunteer,
    form: Option<RecordForm>,
    errors: FieldErrors,
    saved: bool,
) -> Result<RecordPage, Oops> {
    let t = viewer.locale.texts();
    let grids = street_grids(state, viewer, volunteer.street_id).await?;
    let own =
        matches!(viewer.principal.role, Role::Volunteer { volunteer: v, .. } if v == volunteer.id);
    let back = if own {
        "/console/orders".to_string()
    } else {
        format!("/console/streets/{}/people", volunteer.street_id)
    };
    Ok(RecordPage {
        f: viewer.frame(t.record_title, if own { "/console/orders" } else { &back }),
        form: form.unwrap_or_else(|| RecordForm::of(&volunteer)),
        sets_limit: viewer.principal.sets_volunteer_limits(volunteer.street_id),
        may_edit: own || viewer.principal.sets_volunteer_limits(volunteer.street_id),
        volunteer,
        grids,
        weekdays: WEEKDAYS.iter().map(|d| (*d, t.weekday(d))).collect(),
        errors,
        back,
        saved,
    })
}

#[derive(serde::Deserialize)]
pub struct SavedQuery {
    #[serde(default)]
    saved: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    Query(q): Query<SavedQuery>,
) -> Result<Response, Oops> {
    let v = volunteers::get_volunteer(&state, &viewer.principal, id)
        .await
        .map_err(|e| viewer.oops(e))?;
    let page = record_page(
        &state,
        &viewer,
        v,
        None,
        FieldErrors::default(),
        q.saved.is_some(),
    )
    .await?;
    Ok(render(&page))
}

pub async fn save(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    Form(fields): Form<HashMap<String, String>>,
) -> Result<Response, Oops> {
    let t = viewer.locale.texts();
    let current = volunteers::get_volunteer(&state, &viewer.principal, id)
        .await
        .map_err(|e| viewer.oops(e))?;
    let form = RecordForm::posted(fields);
    let mut errors = FieldErrors::default();

    let home_grid_id = Uuid::parse_str(form.home_grid_id.trim()).ok();
    if home_grid_id.is_none() {
        errors.note("home_grid_id", t.error_invalid);
    }
    // The rows filled in, and the row each came from (to show its errors at it).
    let mut availability = vec![];
    let mut rows = vec![];
    for (n, row) in form.slots.iter().enumerate() {
        if row.day.is_empty() && row.start.trim().is_empty() && row.end.trim().is_empty() {
            continue;
        }
        match Weekday::from_db(row.day.trim()) {
            Ok(day) => {
                availability.push(WeeklySlot {
                    day,
                    start: row.start.trim().to_string(),
                    end: row.end.trim().to_string(),
                });
                rows.push(n);
            }
            Err(_) => errors.note(format!("day_{n}"), t.record_choose_day),
        }
    }
    let sets_limit = viewer.principal.sets_volunteer_limits(current.street_id);
    let max_open_orders = if sets_limit {
        match form.max_open_orders.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.note("max_open_orders", t.registry_whole_number);
                None
            }
        }
    } else {
        None
    };
    if errors.is_empty() {
        let body = UpdateVolunteer {
            name: Some(form.name.trim().to_string()),
            phone: Some(form.phone.trim().to_string()),
            home_grid_id: home_grid_id.filter(|g| *g != current.home_grid_id),
            skills: Some(skills_of(&form.skills)),
            team: Some(Some(form.team.trim().to_string()).filter(|t| !t.is_empty())),
            party_member: Some(form.party_member),
            availability: Some(availability),
            max_open_orders,
            active: Some(form.active),
        };
        match volunteers::update_volunteer(&state, &viewer.principal, id, body).await {
            Ok(_) => return Ok(see_other(&format!("/console/volunteers/{id}?saved=1"))),
            Err(Error::Validation(fields)) => {
                for f in fields {
                    errors.note(form_field(&f.field, &rows), f.message);
                }
            }
            Err(e) => return Err(viewer.oops(e)),
        }
    }
    let page = record_page(&state, &viewer, current, Some(form), errors, false).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// The form field an operation's field error is about: `availability[1].end` is the end of
/// the table row the second slot came from; `skills[0]` is the skills field.
fn form_field(field: &str, rows: &[usize]) -> String {
    if let Some(rest) = field.strip_prefix("availability[") {
        let (index, part) = rest.split_once(']').unwrap_or((rest, ""));
        let row = index
            .parse::<usize>()
            .ok()
            .and_then(|i| rows.get(i))
            .copied()
            .unwrap_or(0);
        let part = match part.trim_start_matches('.') {
            "start" => "start",
            "day" => "day",
            _ => "end",
        };
        return format!("{part}_{row}");
    }
    field.split(['[', '.']).next().unwrap_or(field).to_string()
}

#[cfg(test)]
mod tests {
    use super::form_field;

    #[test]
    fn slot_errors_land_on_the_row_they_came_from() {
        // Rows 0 and 3 were filled in: the second slot is row 3.
        assert_eq!(form_field("availability[1].end", &[0, 3]), "end_3");
        assert_eq!(form_field("availability[0].start", &[0, 3]), "start_0");
        assert_eq!(form_field("availability", &[0, 3]), "availability");
        assert_eq!(form_field("skills[2]", &[]), "skills");
        assert_eq!(form_field("phone", &[]), "phone");
    }
}
