//! Same-day arrival (当日必达): only those who can be at the scene today, nearest first, then
//! the ones with the most free time.
//!
//! Triage: a demand whose requested window ends before the end of the day it is filed on is
//! raised to at least `high` urgency, so it is offered to those near enough to arrive today.
//!
//! Points: one per hour of service, plus a bonus when the order was completed by its deadline.
//!
//! Configuration (all optional):
//! - `max_distance`: 0 own grid only, 1 own community, 2 anywhere in the street (default 2);
//! - `urgent_max_distance`: the same for high and critical demands (default 1);
//! - `raise_same_day`: raise same-day demands at triage (default true);
//! - `on_time_bonus`: points added for completing by the deadline (default 1).

use gongjian_plugin_sdk::{
    best_first, Award, Candidate, CandidateKind, Plugin, Points, PointsRequest, Ranked, Request,
    Triage, TriageDecision, TriageRequest, Urgency,
};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    max_distance: u8,
    urgent_max_distance: u8,
    raise_same_day: bool,
    on_time_bonus: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_distance: 2,
            urgent_max_distance: 1,
            raise_same_day: true,
            on_time_bonus: 1.0,
        }
    }
}

/// Seconds east of UTC of the streets' local time (China Standard Time).
const LOCAL_OFFSET: i64 = 8 * 3600;

/// The end of the local day that contains `t`, seconds since the Unix epoch.
fn end_of_local_day(t: i64) -> i64 {
    let local = t + LOCAL_OFFSET;
    local - local.rem_euclid(86_400) + 86_400 - LOCAL_OFFSET
}

/// 0 in the demand's grid, 1 in its community, 2 elsewhere in the street.
fn distance(c: &Candidate<'_>, req: &Request<'_>) -> u8 {
    let d = req.demand();
    if c.serves_grid(d.grid) {
        0
    } else if c.community() == d.community {
        1
    } else {
        2
    }
}

/// Share of capacity free: 1 is idle.
fn free_time(c: &Candidate<'_>) -> f64 {
    match c.kind() {
        CandidateKind::Volunteer if c.max_open_orders() > 0 => {
            1.0 - f64::from(c.open_orders()) / f64::from(c.max_open_orders())
        }
        CandidateKind::Volunteer => 0.0,
        CandidateKind::Resource => (f64::from(c.capacity_left()) / 5.0).min(1.0),
    }
}

pub struct SameDay;

impl Plugin for SameDay {
    fn rank(req: &Request<'_>) -> Result<Vec<Ranked>, String> {
        let cfg: Config = req.config()?;
        let urgent = matches!(req.demand().urgency, Urgency::High | Urgency::Critical);
        let reach = if urgent {
            cfg.urgent_max_distance
        } else {
            cfg.max_distance
        };
        let ranked = req
            .candidates()
            .filter(|c| c.has_room() && c.availability_fits())
            .filter_map(|c| {
                let dist = distance(&c, req);
                (dist <= reach).then(|| {
                    let free = free_time(&c);
                    let place = ["同网格", "同社区", "本街道"][dist as usize];
                    let reason = format!("{place}，可当日到达 · 空闲 {:.0}%", free * 100.0);
                    Ranked::new(&c, 10.0 * f64::from(2 - dist) + free, reason)
                })
            })
            .collect();
        Ok(best_first(ranked, req.max_results()))
    }
}

impl Triage for SameDay {
    fn triage(req: &TriageRequest) -> Result<Option<TriageDecision>, String> {
        let cfg: Config = req.config()?;
        let Some(end) = req.window_end.or(req.window_start) else {
            return Ok(None);
        };
        let same_day = end <= end_of_local_day(req.filed_at);
        if !cfg.raise_same_day || !same_day || req.urgency >= Urgency::High {
            return Ok(None);
        }
        Ok(Some(TriageDecision {
            urgency: Some(Urgency::High),
            note: "当日窗口，升为高优先级".into(),
            ..TriageDecision::default()
        }))
    }
}

impl Points for SameDay {
    fn points(req: &PointsRequest) -> Result<Option<Award>, String> {
        let cfg: Config = req.config()?;
        let base = req.default_points();
        if req.on_time() && cfg.on_time_bonus > 0.0 {
            return Ok(Some(Award::new(
                base + cfg.on_time_bonus,
                format!("每小时 1 分 · 按时完成 +{}", cfg.on_time_bonus),
            )));
        }
        Ok(Some(Award::new(base, "每小时 1 分")))
    }
}

gongjian_plugin_sdk::export_plugin!(SameDay);
