//! What the operations count for monitoring: plugin calls by runtime and outcome and their
//! times by runtime and entry point, the faults recorded against plugin versions, webhook
//! attempts by outcome and the notifications' backlog. An edge registers these families with
//! its own metrics registry.

use std::{sync::atomic::AtomicU64, time::Duration};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::plugin::Hook;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginCallLabels {
    /// `builtin`, `rhai` or `wasm`.
    pub runtime: String,
    /// `ok` or the kind of fault.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginTimeLabels {
    /// `builtin`, `rhai` or `wasm`.
    pub runtime: String,
    /// `rank`, `triage` or `points`.
    pub hook: String,
}

/// Buckets of a rule's call time, in seconds: from a WebAssembly call of a few candidates
/// (tens of microseconds) to the longest time limit a street may set.
const CALL_BUCKETS: [f64; 17] = [
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FaultLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: String,
}

#[derive(Debug)]
pub struct Telemetry {
    plugin_calls: Family<PluginCallLabels, Counter>,
    plugin_call_time: Family<PluginTimeLabels, Histogram>,
    plugin_faults: Family<FaultLabels, Counter>,
    webhook_attempts: Family<OutcomeLabels, Counter>,
    webhook_deliveries: Family<StatusLabels, Gauge>,
    notifications_waiting: Gauge,
    oldest_undelivered: Gauge<f64, AtomicU64>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry {
            plugin_calls: Family::default(),
            plugin_call_time: Family::new_with_constructor(|| {
                Histogram::new(CALL_BUCKETS.iter().copied())
            }),
            plugin_faults: Family::default(),
            webhook_attempts: Family::default(),
            webhook_deliveries: Family::default(),
            notifications_waiting: Gauge::default(),
            oldest_undelivered: Gauge::default(),
        }
    }
}

impl Telemetry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds these counters to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "plugin_calls",
            "Matching rule calls, by runtime and outcome",
            self.plugin_calls.clone(),
        );
        registry.register(
            "plugin_call_duration_seconds",
            "Time of matching rules' calls, the answer's checks included, by runtime and \
             entry point (rank, triage, points); the built-in rule's ranking under builtin",
            self.plugin_call_time.clone(),
        );
        registry.register(
            "plugin_faults",
            "Plugin faults recorded against versions, by kind",
            self.plugin_faults.clone(),
        );
        registry.register(
            "webhook_attempts",
            "Webhook delivery attempts made by this process, by outcome: delivered, retry \
             (another attempt is scheduled), failed (no attempt is left) or gone (410, the \
             endpoint is disabled)",
            self.webhook_attempts.clone(),
        );
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries not delivered, by status: pending or failed",
            self.webhook_deliveries.clone(),
        );
        registry.register(
            "notifications_waiting",
            "Notifications written but not yet turned into deliveries",
            self.notifications_waiting.clone(),
        );
        registry.register(
            "notifications_oldest_undelivered_seconds",
            "Age of the oldest notification or delivery still waiting to be sent",
            self.oldest_undelivered.clone(),
        );
    }

    /// A call of a rule's entry point: its outcome, and how long it took.
    pub fn plugin_call(&self, runtime: &str, hook: Hook, outcome: &str, took: Duration) {
        self.plugin_calls
            .get_or_create(&PluginCallLabels {
                runtime: runtime.into(),
                outcome: outcome.into(),
            })
            .inc();
        self.plugin_call_time
            .get_or_create(&PluginTimeLabels {
                runtime: runtime.into(),
                hook: hook.as_str().into(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn plugin_fault(&self, kind: &str) {
        self.plugin_faults
            .get_or_create(&FaultLabels { kind: kind.into() })
            .inc();
    }

    pub fn webhook_attempt(&self, outcome: &str) {
        self.webhook_attempts
            .get_or_create(&OutcomeLabels {
                outcome: outcome.into(),
            })
            .inc();
    }

    /// What the outbox and the deliveries hold now, read just before a scrape.
    pub fn notification_backlog(&self, backlog: &super::webhooks::Backlog) {
        for status in ["pending", "failed"] {
            let n = backlog
                .deliveries
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, n)| *n);
            self.webhook_deliveries
                .get_or_create(&StatusLabels {
                    status: status.into(),
                })
                .set(n);
        }
        self.notifications_waiting.set(backlog.waiting_fan_out);
        self.oldest_undelivered
            .set(backlog.oldest_undelivered_seconds);
    }
}
