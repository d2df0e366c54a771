//! What the operations count for monitoring: plugin calls by runtime and outcome, and the
//! faults recorded against plugin versions. An edge registers these families with its own
//! metrics registry.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginCallLabels {
    /// `builtin`, `rhai` or `wasm`.
    pub runtime: String,
    /// `ok` or the kind of fault.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FaultLabels {
    pub kind: String,
}

#[derive(Debug, Default)]
pub struct Telemetry {
    plugin_calls: Family<PluginCallLabels, Counter>,
    plugin_faults: Family<FaultLabels, Counter>,
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
            "plugin_faults",
            "Plugin faults recorded against versions, by kind",
            self.plugin_faults.clone(),
        );
    }

    pub fn plugin_call(&self, runtime: &str, outcome: &str) {
        self.plugin_calls
            .get_or_create(&PluginCallLabels {
                runtime: runtime.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    pub fn plugin_fault(&self, kind: &str) {
        self.plugin_faults
            .get_or_create(&FaultLabels { kind: kind.into() })
            .inc();
    }
}
