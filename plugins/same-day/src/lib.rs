//! Same-day arrival (当日必达): only those who can be at the scene today, nearest first, then
//! the ones with the most free time.
//!
//! Configuration (all optional):
//! - `max_distance`: 0 own grid only, 1 own community, 2 anywhere in the street (default 2);
//! - `urgent_max_distance`: the same for high and critical demands (default 1).

use gongjian_plugin_sdk::{best_first, Candidate, CandidateKind, Plugin, Ranked, Request, Urgency};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    max_distance: u8,
    urgent_max_distance: u8,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_distance: 2,
            urgent_max_distance: 1,
        }
    }
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

gongjian_plugin_sdk::export_plugin!(SameDay);
