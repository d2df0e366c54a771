//! Fair rotation (轮值): spread orders evenly. Whoever has waited longest since their last
//! order comes first — never-served first of all — then whoever has completed fewest.
//!
//! Configuration (optional): `skills_only` (default true) keeps only candidates whose skills,
//! tags or category fit the demand.

use gongjian_plugin_sdk::{best_first, Candidate, CandidateKind, Plugin, Ranked, Request};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    skills_only: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config { skills_only: true }
    }
}

fn fits(c: &Candidate<'_>, req: &Request<'_>) -> bool {
    let d = req.demand();
    let label = req.str(d.category_label);
    (c.kind() == CandidateKind::Resource && c.category() == d.category)
        || c.labels().iter().any(|l| {
            let text = req.str(*l);
            *l == d.category
                || d.tags.contains(l)
                || (text.chars().count() >= 2 && label.contains(text))
        })
}

pub struct FairRotation;

impl Plugin for FairRotation {
    fn rank(req: &Request<'_>) -> Result<Vec<Ranked>, String> {
        let cfg: Config = req.config()?;
        let month = 30 * 24 * 3600;
        let ranked = req
            .candidates()
            .filter(|c| c.has_room() && c.availability_fits())
            .filter(|c| !cfg.skills_only || fits(c, req))
            .map(|c| {
                let waited = if c.last_order_at() == 0 {
                    month
                } else {
                    (req.now() - c.last_order_at()).clamp(0, month)
                };
                // Waiting time dominates; fewer completed orders break ties.
                let score = waited as f64 / 3600.0 - f64::from(c.completed_orders()) / 1000.0;
                let reason = if c.last_order_at() == 0 {
                    format!("轮值：尚未接单 · 已完成 {}", c.completed_orders())
                } else {
                    format!(
                        "轮值：{} 小时未接单 · 已完成 {}",
                        waited / 3600,
                        c.completed_orders()
                    )
                };
                Ranked::new(&c, score, reason)
            })
            .collect();
        Ok(best_first(ranked, req.max_results()))
    }
}

gongjian_plugin_sdk::export_plugin!(FairRotation);
