//! The figures streets are judged on: demands received, dispatched, accepted and completed;
//! completion, on-time and satisfaction rates; median times to accept and to complete;
//! escalations and repeat demands — per street, community, grid, category, volunteer or unit,
//! over a time range, as JSON or CSV.

use super::Core;
use crate::domain::access::Principal;
use crate::domain::stats::{Figures, GroupBy, Stats, StatsQuery};
use crate::domain::{end_of_local_day, format_ts, parse_instant, CandidateKind, Check};
use crate::store::stats::{self, Range};
use crate::{Error, Result};
use std::collections::BTreeMap;
use uuid::Uuid;

/// A repeat demand: the same resident and category within this many days before.
pub const REPEAT_WINDOW_DAYS: i64 = 30;

#[derive(Default)]
struct Acc {
    f: Figures,
    on_time: u64,
    satisfied: u64,
    to_accept: Vec<f64>,
    to_complete: Vec<f64>,
}

impl Acc {
    fn finish(mut self) -> Figures {
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        self.f.completion_rate = ratio(self.f.completed, self.f.received);
        self.f.on_time_rate = ratio(self.on_time, self.f.completed);
        self.f.satisfaction_rate = ratio(self.satisfied, self.f.rated);
        self.f.median_minutes_to_accept = median(&mut self.to_accept);
        self.f.median_minutes_to_complete = median(&mut self.to_complete);
        self.f
    }
}

fn median(xs: &mut [f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

fn minutes(from: &str, to: &str) -> Option<f64> {
    Some((parse_instant(to)? - parse_instant(from)?).as_seconds_f64() / 60.0)
}

/// One demand's facts.
struct Row_ {
    street: (String, String),
    community: (String, String),
    grid: (String, String),
    category: String,
    volunteer: Option<(String, String)>,
    unit: Option<(String, String)>,
    dispatched: bool,
    accepted: bool,
    completed: bool,
    on_time: bool,
    rating: Option<i64>,
    to_accept: Option<f64>,
    to_complete: Option<f64>,
    escalations: u64,
    repeat: bool,
}

/// The figures for demands filed in a range.
pub async fn stats(core: &Core, caller: &Principal, q: StatsQuery) -> Result<Stats> {
    let scope = caller.staff_scope().ok_or_else(|| {
        Error::forbidden("the figures are for the street's staff and the district")
    })?;
    let mut c = Check::new();
    let from = c.ts("from", Some(&q.from));
    let to = c.ts("to", Some(&q.to));
    c.window("to", &from, &to);
    if let Some(e) = c.errors.first() {
        return Err(Error::BadRequest {
            code: "invalid_query",
            message: e.message.clone(),
            field: Some(e.field.clone()),
        });
    }
    let (from, to) = (from.expect("checked"), to.expect("checked"));
    let group_by = q.group_by.unwrap_or(GroupBy::Street);
    let db = core.db.read();
    let range = Range {
        scope: &scope,
        street: q.street_id,
        from: &from,
        to: &to,
    };
    let rows = stats::demands(db, &range).await?;
    // Earlier demands of the same resident and category, for repeats.
    let lookback = format_ts(
        parse_instant(&from).expect("checked") - time::Duration::days(REPEAT_WINDOW_DAYS),
    );
    let history = stats::filings_since(db, &range, &lookback).await?;
    let escalations = stats::escalations(db, &range).await?;

    let mut facts = Vec::with_capacity(rows.len());
    for r in rows {
        let deadline = r
            .window_end
            .as_deref()
            .and_then(parse_instant)
            .or_else(|| parse_instant(&r.filed_at).map(end_of_local_day));
        let on_time = match (r.completed_at.as_deref().and_then(parse_instant), deadline) {
            (Some(done), Some(by)) => done <= by,
            _ => false,
        };
        let key = (r.street.0, r.resident_phone.clone(), r.category.clone());
        let lower = format_ts(
            parse_instant(&r.filed_at).expect("stored timestamps parse")
                - time::Duration::days(REPEAT_WINDOW_DAYS),
        );
        // The resident's filings are sorted: the first at or after `lower` tells.
        let repeat = history.get(&key).is_some_and(|times| {
            let i = times.partition_point(|t| *t < lower);
            times.get(i).is_some_and(|t| *t < r.filed_at)
        });
        let volunteer = match (r.assignee_kind, r.assignee) {
            (Some(CandidateKind::Volunteer), Some(v)) => {
                Some((v.to_string(), r.volunteer_name.clone().unwrap_or_default()))
            }
            _ => None,
        };
        let unit = r
            .unit
            .as_ref()
            .map(|(u, name)| (u.to_string(), name.clone().unwrap_or_default()));
        let text = |(id, label): &(Uuid, String)| (id.to_string(), label.clone());
        facts.push(Row_ {
            street: text(&r.street),
            community: text(&r.community),
            grid: text(&r.grid),
            category: r.category.clone(),
            volunteer,
            unit,
            dispatched: r.dispatched_at.is_some(),
            accepted: r.accepted_at.is_some(),
            completed: r.completed_at.is_some(),
            on_time,
            rating: r.rating,
            to_accept: match (&r.dispatched_at, &r.accepted_at) {
                (Some(d), Some(a)) => minutes(d, a),
                _ => None,
            },
            to_complete: r
                .completed_at
                .as_deref()
                .and_then(|c| minutes(&r.filed_at, c)),
            escalations: escalations.get(&r.id).copied().unwrap_or(0),
            repeat,
        });
    }

    let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
    let mut total = Acc::default();
    for f in &facts {
        let group = match group_by {
            GroupBy::Street => Some(f.street.clone()),
            GroupBy::Community => Some(f.community.clone()),
            GroupBy::Grid => Some(f.grid.clone()),
            GroupBy::Category => Some((f.category.clone(), f.category.clone())),
            GroupBy::Volunteer => f.volunteer.clone(),
            GroupBy::Unit => f.unit.clone(),
        };
        let mut targets: Vec<&mut Acc> = vec![&mut total];
        let entry;
        if let Some((key, label)) = group {
            entry = groups.entry(key.clone()).or_insert_with(|| Acc {
                f: Figures {
                    key,
                    label,
                    ..Figures::default()
                },
                ..Acc::default()
            });
            targets.push(entry);
        }
        for a in targets {
            a.f.received += 1;
            a.f.dispatched += u64::from(f.dispatched);
            a.f.accepted += u64::from(f.accepted);
            a.f.completed += u64::from(f.completed);
            a.on_time += u64::from(f.completed && f.on_time);
            if let Some(r) = f.rating {
                a.f.rated += 1;
                a.satisfied += u64::from(r >= 4);
            }
            a.to_accept.extend(f.to_accept);
            a.to_complete.extend(f.to_complete);
            a.f.escalations += f.escalations;
            a.f.repeat_demands += u64::from(f.repeat);
        }
    }
    total.f.key = "total".into();
    total.f.label = "total".into();
    let result = Stats {
        from,
        to,
        group_by,
        rows: groups.into_values().map(Acc::finish).collect(),
        total: total.finish(),
    };
    Ok(result)
}

/// The figures as CSV, one row per group and a last row for the total.
pub fn to_csv(s: &Stats) -> String {
    let mut out = String::from(
        "key,label,received,dispatched,accepted,completed,completion_rate,on_time_rate,rated,satisfaction_rate,\
         median_minutes_to_accept,median_minutes_to_complete,escalations,repeat_demands\n",
    );
    let field = |text: &str| {
        if text.contains([',', '"', '\n']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_string()
        }
    };
    let num = |x: Option<f64>| x.map(|v| format!("{v:.4}")).unwrap_or_default();
    for f in s.rows.iter().chain(std::iter::once(&s.total)) {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            field(&f.key),
            field(&f.label),
            f.received,
            f.dispatched,
            f.accepted,
            f.completed,
            num(f.completion_rate),
            num(f.on_time_rate),
            f.rated,
            num(f.satisfaction_rate),
            num(f.median_minutes_to_accept),
            num(f.median_minutes_to_complete),
            f.escalations,
            f.repeat_demands
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_local_days() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        // 20:00 UTC is 04:00 the next day at UTC+8: that local day ends at 16:00 UTC.
        let t = parse_instant("2026-05-01T20:00:00Z").unwrap();
        assert_eq!(
            format_ts(end_of_local_day(t)),
            "2026-05-02T16:00:00.000000Z"
        );
    }
}
