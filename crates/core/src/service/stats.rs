//! The figures streets are judged on: demands received, dispatched, accepted and completed;
//! completion, on-time and satisfaction rates; median times to accept and to complete;
//! escalations and repeat demands — per street, community, grid, category, volunteer or unit,
//! over a time range, as JSON or CSV.

use super::Core;
use crate::domain::stats::{Figures, GroupBy, Stats, StatsQuery};
use crate::store::rows::{get_opt_uuid, get_uuid, push_in};
use crate::{
    domain::access::ListScope,
    domain::access::Principal,
    domain::{end_of_local_day, format_ts, parse_instant, Check},
    store::db::Sql,
};
use crate::{Error, Result};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};
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

    let mut sql = Sql::new(
        "SELECT d.id, d.street_id, s.name AS street_name, g.id AS grid_id, g.code AS grid_code, c.id AS community_id, \
         c.name AS community_name, d.category, d.resident_phone, d.created_at, d.window_end, \
         o.created_at AS dispatched_at, o.accepted_at, o.completed_at, o.rating, o.assignee_kind, o.assignee_id, \
         v.name AS volunteer_name, u.id AS unit_id, u.name AS unit_name \
         FROM demands d JOIN streets s ON s.id = d.street_id JOIN grids g ON g.id = d.grid_id \
         JOIN communities c ON c.id = g.community_id \
         LEFT JOIN service_orders o ON o.demand_id = d.id AND o.status <> 'cancelled' \
         LEFT JOIN volunteers v ON v.id = o.assignee_id AND o.assignee_kind = 'volunteer' \
         LEFT JOIN resources r ON r.id = o.assignee_id AND o.assignee_kind = 'resource' \
         LEFT JOIN units u ON u.id = r.owner_unit_id \
         WHERE d.created_at >= ",
    );
    sql.bind(from.clone())
        .push(" AND d.created_at < ")
        .bind(to.clone());
    let mut earlier = Sql::new("SELECT d.street_id, d.resident_phone, d.category, d.created_at FROM demands d WHERE d.created_at >= ");
    let lookback = format_ts(
        parse_instant(&from).expect("checked") - time::Duration::days(REPEAT_WINDOW_DAYS),
    );
    earlier
        .bind(lookback)
        .push(" AND d.created_at < ")
        .bind(to.clone());
    for s in [&mut sql, &mut earlier] {
        if let ListScope::Streets(streets) = &scope {
            push_in(s, "d.street_id", streets);
        }
        if let Some(street) = q.street_id {
            s.push(" AND d.street_id = ").bind(street.to_string());
        }
    }
    sql.push(" ORDER BY d.id");
    let rows = sql.fetch_all(db).await?;

    // Earlier demands of the same resident and category, for repeats.
    let mut history: HashMap<(String, String, String), Vec<String>> = HashMap::new();
    for r in earlier.fetch_all(db).await? {
        history
            .entry((
                r.try_get("street_id")?,
                r.try_get("resident_phone")?,
                r.try_get("category")?,
            ))
            .or_default()
            .push(r.try_get("created_at")?);
    }
    for times in history.values_mut() {
        times.sort();
    }
    let escalations: HashMap<Uuid, u64> = {
        let mut e = Sql::new("SELECT subject_id, COUNT(*) AS n FROM events WHERE subject_kind = 'demand' AND action = 'escalated' AND at >= ");
        e.bind(from.clone()).push(" GROUP BY subject_id");
        e.fetch_all(db)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    get_uuid(r, "subject_id")?,
                    u64::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0),
                ))
            })
            .collect::<Result<_>>()?
    };

    let mut facts = Vec::with_capacity(rows.len());
    for r in &rows {
        let created: String = r.try_get("created_at")?;
        let accepted_at: Option<String> = r.try_get("accepted_at")?;
        let completed_at: Option<String> = r.try_get("completed_at")?;
        let dispatched_at: Option<String> = r.try_get("dispatched_at")?;
        let window_end: Option<String> = r.try_get("window_end")?;
        let deadline = window_end
            .as_deref()
            .and_then(parse_instant)
            .or_else(|| parse_instant(&created).map(end_of_local_day));
        let on_time = match (completed_at.as_deref().and_then(parse_instant), deadline) {
            (Some(done), Some(by)) => done <= by,
            _ => false,
        };
        let key = (
            r.try_get::<String, _>("street_id")?,
            r.try_get::<String, _>("resident_phone")?,
            r.try_get::<String, _>("category")?,
        );
        let lower = format_ts(
            parse_instant(&created).expect("stored timestamps parse")
                - time::Duration::days(REPEAT_WINDOW_DAYS),
        );
        let repeat = history
            .get(&key)
            .is_some_and(|times| times.iter().any(|t| *t >= lower && *t < created));
        let volunteer = match (
            r.try_get::<Option<String>, _>("assignee_kind")?.as_deref(),
            get_opt_uuid(r, "assignee_id")?,
        ) {
            (Some("volunteer"), Some(v)) => Some((
                v.to_string(),
                r.try_get::<Option<String>, _>("volunteer_name")?
                    .unwrap_or_default(),
            )),
            _ => None,
        };
        let unit = get_opt_uuid(r, "unit_id")?
            .map(|u| {
                Ok::<_, Error>((
                    u.to_string(),
                    r.try_get::<Option<String>, _>("unit_name")?
                        .unwrap_or_default(),
                ))
            })
            .transpose()?;
        facts.push(Row_ {
            street: (r.try_get("street_id")?, r.try_get("street_name")?),
            community: (r.try_get("community_id")?, r.try_get("community_name")?),
            grid: (r.try_get("grid_id")?, r.try_get("grid_code")?),
            category: r.try_get("category")?,
            volunteer,
            unit,
            dispatched: dispatched_at.is_some(),
            accepted: accepted_at.is_some(),
            completed: completed_at.is_some(),
            on_time,
            rating: r.try_get("rating")?,
            to_accept: match (&dispatched_at, &accepted_at) {
                (Some(d), Some(a)) => minutes(d, a),
                _ => None,
            },
            to_complete: completed_at.as_deref().and_then(|c| minutes(&created, c)),
            escalations: escalations.get(&get_uuid(r, "id")?).copied().unwrap_or(0),
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
