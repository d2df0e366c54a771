//! The figures streets are judged on: demands received, dispatched, accepted and completed;
//! completion, on-time and satisfaction rates; median times to accept and to complete;
//! escalations and repeat demands — per street, community, grid, category, volunteer or unit,
//! over a time range, as JSON or CSV.

use super::Core;
use crate::domain::access::Principal;
use crate::domain::figures::{read_to, Plan};
use crate::domain::stats::{GroupBy, Stats, StatsQuery};
use crate::domain::{format_ts, parse_instant, Check};
use crate::store::figures::{self, Streets};
use crate::{Error, Result};

/// The year no range of the figures reaches: ranges end before it, so that a range's local
/// dates, and the month after its last, exist.
const LAST_YEAR: i32 = 9999;

/// The figures for demands filed in a range: the rollups of its whole local months and days,
/// with its partial days and the demands changed since they were last folded added from
/// their facts (see [`crate::store::figures`]).
pub async fn stats(core: &Core, caller: &Principal, q: StatsQuery) -> Result<Stats> {
    let scope = caller.staff_scope().ok_or_else(|| {
        Error::forbidden("the figures are for the street's staff and the district")
    })?;
    let mut c = Check::new();
    let from = c.ts("from", Some(&q.from));
    let to = c.ts("to", Some(&q.to));
    c.window("to", &from, &to);
    // Local dates and the month after the range's last must exist.
    if to
        .as_deref()
        .and_then(parse_instant)
        .is_some_and(|t| t.year() >= LAST_YEAR)
    {
        c.push(
            "to",
            "invalid_query",
            format!("ranges end before the year {LAST_YEAR}"),
        );
    }
    if let Some(e) = c.errors.first() {
        return Err(Error::BadRequest {
            code: "invalid_query",
            message: e.message.clone(),
            field: Some(e.field.clone()),
        });
    }
    let (from, to) = (from.expect("checked"), to.expect("checked"));
    let group_by = q.group_by.unwrap_or(GroupBy::Street);
    // Read to the end of the month when the range reaches past now: the same demands, from
    // fewer rollup rows.
    let start = parse_instant(&from).expect("checked");
    let end = read_to(parse_instant(&to).expect("checked"), core.now());
    let plan = Plan::of(start, end);
    let streets = Streets {
        scope: &scope,
        street: q.street_id,
    };
    let tallies =
        figures::read(&core.db, &streets, &from, &format_ts(end), &plan, group_by).await?;
    let keys: Vec<String> = tallies.groups.keys().cloned().collect();
    let labels = figures::labels(&core.db, group_by, &keys).await?;
    let rows = tallies
        .groups
        .iter()
        .map(|(key, t)| {
            let label = labels.get(key).cloned().unwrap_or_default();
            t.figures(key.clone(), label)
        })
        .collect();
    Ok(Stats {
        from,
        to,
        group_by,
        rows,
        total: tallies.total.figures("total".into(), "total".into()),
    })
}

/// Folds the demands marked since the last pass into the figures' rollups, every `every`,
/// until aborted. Reads are exact without it; they stay fast with it.
pub fn fold_in_background(core: Core, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            match figures::fold_all(&core.db).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(demands = n, "figures folded"),
                Err(e) => {
                    tracing::error!(error = %e, "folding the figures failed; it will try again")
                }
            }
        }
    })
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
