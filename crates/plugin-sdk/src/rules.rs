//! The built-in default rule: what the host uses for a street with no plugin, and when a
//! plugin fails. It is ordinary plugin code, so it also builds as a WebAssembly plugin.

use serde::Deserialize;

use crate::request::{Candidate, CandidateKind, Ranked, Request};

/// Weights of the default rule; every one is optional in the configuration document.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DefaultRuleConfig {
    /// For a skill, tag or category that fits the demand.
    pub skill: f64,
    /// For serving the demand's grid.
    pub grid: f64,
    /// For the same community.
    pub community: f64,
    /// For free capacity: scaled by the share of open-order room (volunteers) or capacity
    /// left (resources, full at 10).
    pub load: f64,
    /// For the rating: scaled from -1 (rated 1) to +1 (rated 5).
    pub rating: f64,
    /// For party members.
    pub party_member: f64,
}

impl Default for DefaultRuleConfig {
    fn default() -> Self {
        DefaultRuleConfig {
            skill: 4.0,
            grid: 2.0,
            community: 1.0,
            load: 2.0,
            rating: 1.0,
            party_member: 0.0,
        }
    }
}

/// Which strings of the request name something that fits the demand: its category, one of
/// its tags, or a word of the category's label (a skill "维修" fits "维修服务").
fn fitting_strings(req: &Request<'_>) -> Vec<bool> {
    let d = req.demand();
    let label = req.str(d.category_label);
    (0..req.string_count() as u32)
        .map(|i| {
            let text = req.str(i);
            i != 0
                && (i == d.category
                    || d.tags.contains(&i)
                    || (text.chars().count() >= 2 && !label.is_empty() && label.contains(text)))
        })
        .collect()
}

struct Scored {
    candidate: u32,
    score: f64,
}

fn fits_demand(c: &Candidate<'_>, fits: &[bool], category: u32) -> bool {
    (c.kind() == CandidateKind::Resource && c.category() == category)
        || c.labels().iter().any(|l| fits[*l as usize])
}

fn room_share(c: &Candidate<'_>) -> f64 {
    match c.kind() {
        CandidateKind::Volunteer if c.max_open_orders() > 0 => {
            1.0 - f64::from(c.open_orders()) / f64::from(c.max_open_orders())
        }
        CandidateKind::Volunteer => 0.0,
        // Full at 10. (In integers: `f64::min` is a library call on WebAssembly.)
        CandidateKind::Resource => f64::from(c.capacity_left().min(10)) / 10.0,
    }
}

fn score(c: &Candidate<'_>, w: &DefaultRuleConfig, req: &Request<'_>, fitting: bool) -> f64 {
    let d = req.demand();
    let mut s = 0.0;
    if fitting {
        s += w.skill;
    }
    if c.serves_grid(d.grid) {
        s += w.grid;
    }
    if c.community() == d.community {
        s += w.community;
    }
    s += w.load * room_share(c);
    if c.has_ratings() {
        s += w.rating * (f64::from(c.average_rating()) - 3.0) / 2.0;
    }
    if c.party_member() {
        s += w.party_member;
    }
    s
}

fn reason(c: &Candidate<'_>, req: &Request<'_>, fitting: bool) -> String {
    let d = req.demand();
    let mut parts: Vec<String> = Vec::with_capacity(4);
    parts.push(if fitting {
        "技能/类别匹配".into()
    } else {
        "无技能匹配".into()
    });
    if c.serves_grid(d.grid) {
        parts.push("同网格".into());
    } else if c.community() == d.community {
        parts.push("同社区".into());
    }
    match c.kind() {
        CandidateKind::Volunteer => {
            parts.push(format!("在办 {}/{}", c.open_orders(), c.max_open_orders()))
        }
        CandidateKind::Resource => parts.push(format!("余量 {}", c.capacity_left())),
    }
    if c.has_ratings() {
        parts.push(format!("评分 {}", one_decimal(c.average_rating())));
    }
    parts.join(" · ")
}

/// `x` with one decimal, exactly as `format!("{x:.1}")` writes it for a non-negative `x`
/// (the tie rounds to even), without the general float formatter, which costs a plugin some
/// hundreds of nanoseconds per number on WebAssembly. Ten times an `f32` is exact in `f64`.
fn one_decimal(x: f32) -> String {
    let tenths = (f64::from(x) * 10.0).round_ties_even() as u64;
    format!("{}.{}", tenths / 10, tenths % 10)
}

/// Ranks by fit (category, skills, tags), place (grid, community), free capacity and rating.
///
/// Candidates without room or whose availability does not fit the window are left out.
/// When some candidates fit the demand, only they are ranked; when none does, everyone with
/// room is ranked by place and load, so the demand can still be offered.
pub fn default_rule(req: &Request<'_>) -> Result<Vec<Ranked>, String> {
    let w: DefaultRuleConfig = req.config()?;
    let fits = fitting_strings(req);
    let category = req.demand().category;
    // One plain loop over the candidates: the fitting ones are scored as they come; the
    // others are kept aside only while none fits, for the fallback.
    let mut scored: Vec<Scored> = Vec::new();
    let mut others: Vec<u32> = Vec::new();
    for c in req.candidates() {
        if !(c.has_room() && c.availability_fits()) {
            continue;
        }
        if fits_demand(&c, &fits, category) {
            scored.push(Scored {
                candidate: c.index(),
                score: score(&c, &w, req, true),
            });
        } else if scored.is_empty() {
            others.push(c.index());
        }
    }
    // Either all of `scored` fit the demand or, when none does, none of it.
    let fitting = !scored.is_empty();
    if !fitting {
        scored = others
            .into_iter()
            .map(|i| Scored {
                candidate: i,
                score: score(&req.candidate(i), &w, req, false),
            })
            .collect();
    }
    // Reasons only for what will be used: sort on scores (best first, ties by position, as
    // `best_first` orders), then describe the best.
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.candidate.cmp(&b.candidate))
    });
    scored.truncate(req.max_results());
    Ok(scored
        .into_iter()
        .map(|s| Ranked {
            candidate: s.candidate,
            score: s.score,
            reason: reason(&req.candidate(s.candidate), req, fitting),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{CandidateSpec, DemandSpec, RequestBuilder};

    fn demand() -> DemandSpec {
        DemandSpec {
            category: "repair".into(),
            category_label: "维修服务".into(),
            tags: vec!["水管".into()],
            grid: "g1".into(),
            community: "c1".into(),
            ..DemandSpec::default()
        }
    }

    fn volunteer(grid: &str, community: &str, skills: &[&str]) -> CandidateSpec {
        CandidateSpec {
            home_grid: grid.into(),
            community: community.into(),
            labels: skills.iter().map(|s| s.to_string()).collect(),
            ..CandidateSpec::default()
        }
    }

    fn rank(config: &str, candidates: &[CandidateSpec], max: u32) -> Vec<Ranked> {
        let mut b = RequestBuilder::new("shixi", &demand(), config, 0, max);
        for c in candidates {
            b.push(c);
        }
        default_rule(&b.finish().view()).unwrap()
    }

    #[test]
    fn fit_then_place_then_load_and_rating() {
        let far_fitter = volunteer("g9", "c9", &["维修"]);
        let near_fitter = volunteer("g1", "c1", &["水管"]);
        let near_other = volunteer("g1", "c1", &["书法"]);
        let mut busy = volunteer("g1", "c1", &["维修"]);
        busy.open_orders = 3;
        let mut late = volunteer("g1", "c1", &["维修"]);
        late.availability_fits = false;
        let mut rated = volunteer("g2", "c1", &["维修"]);
        rated.average_rating = Some(5.0);
        let resource = CandidateSpec {
            kind: CandidateKind::Resource,
            category: Some("repair".into()),
            capacity_left: 5,
            home_grid: "g3".into(),
            community: "c2".into(),
            ..CandidateSpec::default()
        };
        let got = rank(
            "",
            &[
                far_fitter,
                near_fitter,
                near_other,
                busy,
                late,
                rated,
                resource,
            ],
            10,
        );
        let order: Vec<u32> = got.iter().map(|r| r.candidate).collect();
        // near fitter (4+2+1+2=9), rated in same community (4+1+2+1=8), far fitter (4+2=6),
        // the resource serving every grid (4+2+1=7); no room, wrong time and no fit are out.
        assert_eq!(order, [1, 5, 6, 0]);
        assert_eq!(got[0].score, 9.0);
        assert_eq!(got[0].reason, "技能/类别匹配 · 同网格 · 在办 0/3");
        assert_eq!(
            got[1].reason,
            "技能/类别匹配 · 同社区 · 在办 0/3 · 评分 5.0"
        );
    }

    #[test]
    fn one_decimal_writes_what_the_float_formatter_writes() {
        // Ties (4.25, 0.05 as f32 is not one), halves and values that round up to a new unit.
        for x in [
            0.0f32,
            1.0,
            2.96,
            3.04,
            3.05,
            4.25,
            4.35,
            4.75,
            4.95,
            4.999,
            5.0,
            1.0 / 3.0,
        ] {
            assert_eq!(one_decimal(x), format!("{x:.1}"), "{x}");
        }
        let mut x = 0.0f32;
        while x <= 5.0 {
            assert_eq!(one_decimal(x), format!("{x:.1}"), "{x}");
            x += 0.001;
        }
    }

    #[test]
    fn without_any_fit_everyone_with_room_is_ranked_by_place() {
        let got = rank(
            "",
            &[
                volunteer("g9", "c9", &["书法"]),
                volunteer("g1", "c1", &["英语"]),
            ],
            10,
        );
        assert_eq!(got.iter().map(|r| r.candidate).collect::<Vec<_>>(), [1, 0]);
        assert!(got[0].reason.starts_with("无技能匹配"));
    }

    #[test]
    fn once_one_fits_those_that_do_not_are_left_out_wherever_they_stand() {
        let got = rank(
            "",
            &[
                volunteer("g1", "c1", &["书法"]),
                volunteer("g9", "c9", &["英语"]),
                volunteer("g9", "c9", &["维修"]),
                volunteer("g1", "c1", &["英语"]),
            ],
            10,
        );
        assert_eq!(got.iter().map(|r| r.candidate).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn weights_come_from_the_configuration_and_results_are_capped() {
        let mut party = volunteer("g9", "c9", &["维修"]);
        party.party_member = true;
        let near = volunteer("g1", "c1", &["维修"]);
        let cfg = r#"{"party_member": 10}"#;
        let got = rank(cfg, &[near.clone(), party.clone()], 10);
        assert_eq!(got[0].candidate, 1);
        assert_eq!(rank(cfg, &[near, party], 1).len(), 1);
        let mut b = RequestBuilder::new("s", &demand(), r#"{"nonsense": 1}"#, 0, 5);
        b.push(&volunteer("g1", "c1", &[]));
        assert!(default_rule(&b.finish().view())
            .unwrap_err()
            .contains("nonsense"));
    }
}
