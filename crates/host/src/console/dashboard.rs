//! The street office's dashboard — its figures for today, this week and this month, and
//! the month by grid — and the district's view of every street side by side. The figures are
//! `GET /api/v1/stats`'s, from the same operation.

use askama::Template;
use axum::{extract::State, response::Response};
use gongjian_core::{
    domain::{
        access::ListScope,
        escalation::Escalation,
        format_ts,
        stats::{Figures, GroupBy, StatsQuery},
        LOCAL_OFFSET,
    },
    service::{orders, stats, streets},
};
use time::{Duration, OffsetDateTime, Time};
use uuid::Uuid;

use super::extract::{Path, Query};
use super::{
    frame::{render, Frame},
    Oops, Viewer,
};
use crate::state::AppState;

/// The periods a dashboard shows, as instants: today, this week (from Monday) and this
/// month, in local time, each whole. Nothing is filed after now, so a whole period's figures
/// are those so far; asked for whole, they are read from the day's and the month's rollups
/// rather than from every day's rows and the facts of today.
fn periods(now: OffsetDateTime) -> [(OffsetDateTime, OffsetDateTime); 3] {
    let local = now.to_offset(LOCAL_OFFSET);
    let today = local.replace_time(Time::MIDNIGHT);
    let tomorrow = today + Duration::days(1);
    let week = today - Duration::days(i64::from(today.weekday().number_days_from_monday()));
    let month = today.replace_day(1).expect("the first of a month is a day");
    let next_month = (month + Duration::days(32))
        .replace_day(1)
        .expect("the first of a month is a day");
    [
        (today, tomorrow),
        (week, week + Duration::days(7)),
        (month, next_month),
    ]
}

/// One bar of the month's chart.
pub struct Bar {
    pub label: String,
    pub received: u64,
    pub completed: u64,
    /// Widths in percent of the widest bar.
    pub received_width: u64,
    pub completed_width: u64,
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    f: Frame,
    /// Today's, this week's and this month's figures.
    periods: Vec<(&'static str, Figures)>,
    by_grid: Vec<Figures>,
    by_unit: Vec<Figures>,
    /// The volunteers who did most this month, at most [`TOP_VOLUNTEERS`].
    by_volunteer: Vec<Figures>,
    bars: Vec<Bar>,
}

/// How many volunteers the dashboard lists: those who completed most this month.
const TOP_VOLUNTEERS: usize = 50;

async fn figures(
    state: &AppState,
    viewer: &Viewer,
    street: Option<Uuid>,
    (from, to): (OffsetDateTime, OffsetDateTime),
    group_by: GroupBy,
) -> Result<gongjian_core::domain::stats::Stats, Oops> {
    stats::stats(
        state,
        &viewer.principal,
        StatsQuery {
            from: format_ts(from),
            to: format_ts(to),
            group_by: Some(group_by),
            street_id: street,
            format: None,
        },
    )
    .await
    .map_err(|e| viewer.oops(e))
}

fn bars(rows: &[Figures]) -> Vec<Bar> {
    let widest = rows.iter().map(|r| r.received).max().unwrap_or(0).max(1);
    rows.iter()
        .map(|r| Bar {
            label: r.label.clone(),
            received: r.received,
            completed: r.completed,
            received_width: r.received * 100 / widest,
            completed_width: r.completed * 100 / widest,
        })
        .collect()
}

pub async fn street(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
) -> Result<Response, Oops> {
    let t = viewer.locale.texts();
    // Another street's page is 404, as another street's records are in the API.
    viewer.street_office(id)?;
    let street = streets::get_street(&state, &viewer.principal, id)
        .await
        .map_err(|e| viewer.oops(e))?;
    let [today, week, month] = periods(state.now());
    let mut periods = vec![];
    for (label, range) in [
        (t.period_today, today),
        (t.period_week, week),
        (t.period_month, month),
    ] {
        let s = figures(&state, &viewer, Some(id), range, GroupBy::Street).await?;
        periods.push((label, s.total));
    }
    let mut by_grid = figures(&state, &viewer, Some(id), month, GroupBy::Grid)
        .await?
        .rows;
    by_grid.sort_by(|a, b| b.received.cmp(&a.received).then(a.label.cmp(&b.label)));
    let busiest = |a: &Figures, b: &Figures| {
        b.completed
            .cmp(&a.completed)
            .then(b.received.cmp(&a.received))
            .then(a.label.cmp(&b.label))
    };
    let mut by_unit = figures(&state, &viewer, Some(id), month, GroupBy::Unit)
        .await?
        .rows;
    by_unit.sort_by(busiest);
    let mut by_volunteer = figures(&state, &viewer, Some(id), month, GroupBy::Volunteer)
        .await?
        .rows;
    by_volunteer.sort_by(busiest);
    by_volunteer.truncate(TOP_VOLUNTEERS);
    let title = format!("{} · {}", street.name, t.dashboard_title);
    Ok(render(&DashboardPage {
        f: viewer.frame(&title, &format!("/console/streets/{id}")),
        bars: bars(&by_grid),
        periods,
        by_grid,
        by_unit,
        by_volunteer,
    }))
}

#[derive(Template)]
#[template(path = "console/district.html")]
struct DistrictPage {
    f: Frame,
    rows: Vec<Figures>,
    total: Figures,
    bars: Vec<Bar>,
}

pub async fn district(State(state): State<AppState>, viewer: Viewer) -> Result<Response, Oops> {
    let t = viewer.locale.texts();
    let [_, _, month] = periods(state.now());
    let s = figures(&state, &viewer, None, month, GroupBy::Street).await?;
    let mut rows = s.rows;
    rows.sort_by(|a, b| a.label.cmp(&b.label));
    // A street's staff reach this page by its address alone, and see their street only.
    let title = match viewer.principal.staff_scope() {
        Some(ListScope::All) => t.district_title,
        _ => t.own_street_title,
    };
    Ok(render(&DistrictPage {
        f: viewer.frame(
            &format!("{title} · {}", t.period_month),
            "/console/district",
        ),
        bars: bars(&rows),
        rows,
        total: s.total,
    }))
}

#[derive(Template)]
#[template(path = "console/escalations.html")]
struct EscalationsPage {
    f: Frame,
    street_id: Uuid,
    all: bool,
    items: Vec<Escalation>,
}

#[derive(serde::Deserialize)]
pub struct EscalationsQuery {
    #[serde(default)]
    all: Option<String>,
}

/// 吹哨: the street's escalations, those still being handled first of all.
pub async fn escalations(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    Query(q): Query<EscalationsQuery>,
) -> Result<Response, Oops> {
    let t = viewer.locale.texts();
    let all = q.all.is_some();
    let items = orders::escalations(&state, &viewer.principal, id, !all)
        .await
        .map_err(|e| viewer.oops(e))?;
    Ok(render(&EscalationsPage {
        f: viewer.frame(
            t.nav_escalations,
            &format!("/console/streets/{id}/escalations"),
        ),
        street_id: id,
        all,
        items,
    }))
}

#[cfg(test)]
mod tests {
    use super::periods;
    use time::macros::datetime;

    #[test]
    fn the_dashboards_periods_are_whole_local_days_weeks_and_months() {
        // Sunday 6 December 2026, 19:30 in UTC+8.
        let [today, week, month] = periods(datetime!(2026-12-06 11:30 UTC));
        assert_eq!(
            today,
            (datetime!(2026-12-06 0:00 +8), datetime!(2026-12-07 0:00 +8))
        );
        assert_eq!(
            week,
            (datetime!(2026-11-30 0:00 +8), datetime!(2026-12-07 0:00 +8))
        );
        assert_eq!(
            month,
            (datetime!(2026-12-01 0:00 +8), datetime!(2027-01-01 0:00 +8))
        );
        // 31 January, 00:30 local (still 30 January in UTC).
        let [today, _, month] = periods(datetime!(2027-01-30 16:30 UTC));
        assert_eq!(today.0, datetime!(2027-01-31 0:00 +8));
        assert_eq!(
            month,
            (datetime!(2027-01-01 0:00 +8), datetime!(2027-02-01 0:00 +8))
        );
    }
}
