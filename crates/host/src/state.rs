//! What every request handler shares: the core the operations run on, and the edge's own
//! metrics.

use std::{ops::Deref, sync::Arc};

use gongjian_core::{domain::clock::Clock, service::Core, store::Db};

use crate::{metrics::Metrics, plugin::host::PluginSettings};

#[derive(Clone)]
pub struct AppState {
    pub core: Core,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// State with default plugin settings (compiled plugins kept in memory only).
    pub fn new(db: Db) -> Self {
        Self::with_plugins(db, PluginSettings::default())
    }

    pub fn with_plugins(db: Db, settings: PluginSettings) -> Self {
        let core = Core::new(db, settings);
        let metrics = Arc::new(Metrics::new(&core.telemetry));
        AppState { core, metrics }
    }

    /// The same state acting on another clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.core.clock = clock;
        self
    }
}

/// A handler reaches the core's database, pools, plugins and clock through the state, and
/// hands `&state` to an operation that takes `&Core`.
impl Deref for AppState {
    type Target = Core;

    fn deref(&self) -> &Core {
        &self.core
    }
}
