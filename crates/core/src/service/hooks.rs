//! The hooks of a street's plugin beyond ranking (contract 1.1.0): triage of a new demand on
//! intake, and the points a completed order earns.
//!
//! Without a hook — no plugin, a plugin built for 1.0.0 or one that does not define it, or a
//! hook that faults — the host keeps the demand as filed and awards one point per hour of
//! service. Either way the decision is recorded: a demand carries its triage (the rule, what
//! was filed, what changed and why), an order its points rule and reason. A fault counts
//! against the version as a ranking fault does, towards quarantine.

use gongjian_plugin_sdk::{PointsRequest, TriageRequest};
use uuid::Uuid;

use super::{
    matching::{self, ActiveVersion, DemandFacts, FaultReport},
    pool::StreetPool,
    Core,
};
pub use crate::domain::demand::{Filed, Triage, TriageRule};
use crate::domain::{Channel, FaultKind, Urgency};
use crate::plugin::{
    host::{run_points, run_triage},
    Hook,
};
use crate::Result;

const REDACTED: &str = "＊＊＊";

/// Removes personal data from free text before a plugin sees it: the resident's own name,
/// phone and address wherever they appear, and every run of seven or more digits (phone and
/// ID numbers, which may end in X).
pub fn redact(text: &str, personal: &[&str]) -> String {
    let mut out = text.to_string();
    let mut personal: Vec<&str> = personal
        .iter()
        .map(|p| p.trim())
        .filter(|p| p.chars().count() >= 2)
        .collect();
    // Longest first, so an address is removed whole before a name inside it.
    personal.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in personal {
        out = out.replace(p, REDACTED);
    }
    let chars: Vec<char> = out.chars().collect();
    let mut result = String::with_capacity(out.len());
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '-' && i > start) {
            i += 1;
        }
        let run: String = chars[start..i].iter().collect();
        let digits = run.chars().filter(char::is_ascii_digit).count();
        if digits >= 7 {
            if i < chars.len() && matches!(chars[i], 'X' | 'x') {
                i += 1;
            }
            result.push_str(REDACTED);
        } else if i > start {
            result.push_str(&run);
        } else {
            result.push(chars[i]);
            i += 1;
        }
    }
    result
}

/// What triage is given besides the demand's facts.
pub struct Intake<'a> {
    pub channel: Channel,
    pub description: &'a str,
    /// The resident's name, phone and address, removed from the description.
    pub resident: [&'a str; 3],
}

/// Triages a new demand with the street's active version, correcting `facts` in place.
pub async fn triage(
    core: &Core,
    active: Option<&ActiveVersion>,
    pool: &StreetPool,
    facts: &mut DemandFacts,
    intake: Intake<'_>,
) -> Result<Triage> {
    let filed = Filed {
        category: facts.category.clone(),
        urgency: facts.urgency,
        tags: facts.tags.clone(),
    };
    let mut record = Triage {
        rule: TriageRule::None,
        version_id: None,
        version_number: None,
        content_hash: None,
        filed,
        changed: vec![],
        note: "the street's rule does not triage".into(),
        fault: None,
        at: core.now_ts(),
    };
    let Some(active) = active else {
        return Ok(record);
    };
    let plugin = match matching::compiled(core, active.id, active.kind).await? {
        Ok(p) if p.has_triage() => p,
        // A version that no longer compiles faults at ranking, where it is recorded.
        _ => return Ok(record),
    };
    record.rule = active.kind.into();
    record.version_id = Some(active.id);
    record.version_number = Some(active.number);
    record.content_hash = Some(active.content_hash.clone());
    let spec = matching::spec(facts, pool);
    let req = TriageRequest {
        street: pool.code.clone(),
        category: spec.category,
        category_label: spec.category_label,
        tags: spec.tags,
        urgency: spec.urgency,
        channel: intake.channel.as_str().into(),
        description: redact(intake.description, &intake.resident),
        grid: spec.grid,
        community: spec.community,
        window_start: spec.window_start,
        window_end: spec.window_end,
        filed_at: spec.filed_at,
        categories: pool.categories(),
        config: active.config.clone(),
        now: core.now().unix_timestamp(),
    };
    let (_, outcome, log) = run_triage(plugin, req).await;
    match outcome {
        Ok(None) => {
            core.telemetry
                .plugin_call(active.kind.as_str(), Hook::Triage, "ok", log.took);
            record.note = "the rule kept it as filed".into();
        }
        Ok(Some(d)) => {
            core.telemetry
                .plugin_call(active.kind.as_str(), Hook::Triage, "ok", log.took);
            if let Some(c) = d.category.filter(|c| *c != facts.category) {
                facts.category = c;
                record.changed.push("category".into());
            }
            if let Some(u) = d
                .urgency
                .map(Urgency::from_plugin)
                .filter(|u| *u != facts.urgency)
            {
                facts.urgency = u;
                record.changed.push("urgency".into());
            }
            if let Some(t) = d.tags.filter(|t| *t != facts.tags) {
                facts.tags = t;
                record.changed.push("tags".into());
            }
            record.note = d.note;
        }
        Err(fault) => {
            core.telemetry
                .plugin_call(active.kind.as_str(), Hook::Triage, fault.kind(), log.took);
            tracing::warn!(street = %facts.street, plugin_version = %active.id, kind = fault.kind(), error = %fault, "triage fault; the demand is kept as filed");
            let quarantined = matching::record_fault(core, facts.street, active.id, &fault).await?;
            record.note = "kept as filed: the rule faulted".into();
            record.fault = Some(FaultReport {
                kind: FaultKind::of(&fault),
                message: fault.to_string(),
                version_id: active.id,
                quarantined,
            });
        }
    }
    Ok(record)
}

/// The points an order earns and the rule that decided them.
#[derive(Debug, Clone, PartialEq)]
pub struct Points {
    pub points: f64,
    /// `builtin`, or the plugin kind and version, e.g. `rhai v3`.
    pub rule: String,
    pub reason: String,
}

/// The built-in rule: one point per hour of service.
pub fn default_points(minutes: u32) -> Points {
    Points {
        points: f64::from(minutes) / 60.0,
        rule: "builtin".into(),
        reason: "one point per hour of service".into(),
    }
}

/// The points a completed order earns under the street's active rule. `req.config` is
/// filled in from the version.
pub async fn award(core: &Core, street: Uuid, mut req: PointsRequest) -> Result<Points> {
    let fallback = default_points(req.service_minutes);
    let Some(active) = matching::active_version(core, street).await? else {
        return Ok(fallback);
    };
    let plugin = match matching::compiled(core, active.id, active.kind).await? {
        Ok(p) if p.has_points() => p,
        _ => return Ok(fallback),
    };
    req.config = active.config.clone();
    let (outcome, log) = run_points(plugin, req).await;
    let rule = format!("{} v{}", active.kind.as_str(), active.number);
    match outcome {
        Ok(Some(a)) => {
            core.telemetry
                .plugin_call(active.kind.as_str(), Hook::Points, "ok", log.took);
            Ok(Points {
                points: a.points,
                rule,
                reason: a.reason,
            })
        }
        Ok(None) => {
            core.telemetry
                .plugin_call(active.kind.as_str(), Hook::Points, "ok", log.took);
            Ok(fallback)
        }
        Err(fault) => {
            core.telemetry
                .plugin_call(active.kind.as_str(), Hook::Points, fault.kind(), log.took);
            tracing::warn!(street = %street, plugin_version = %active.id, kind = fault.kind(), error = %fault, "points rule fault; one point per hour instead");
            matching::record_fault(core, street, active.id, &fault).await?;
            Ok(Points {
                reason: format!("{rule} faulted ({}); one point per hour", fault.kind()),
                ..fallback
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_removes_the_residents_data_and_long_numbers() {
        let text =
            "李秀英家（魏鑫家园3号楼）水管漏水，电话13912345678，身份证37230119500101123X，楼下2户";
        let out = redact(text, &["李秀英", "13912345678", "魏鑫家园3号楼"]);
        assert_eq!(
            out,
            "＊＊＊家（＊＊＊）水管漏水，电话＊＊＊，身份证＊＊＊，楼下2户"
        );
        assert_eq!(
            redact("座机 0543-3212345 找王师傅", &["", " "]),
            "座机 ＊＊＊ 找王师傅"
        );
        assert_eq!(redact("3号楼2单元", &[]), "3号楼2单元");
    }
}
