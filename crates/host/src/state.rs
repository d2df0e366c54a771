//! What every request handler shares.

use std::sync::Arc;

use crate::{
    metrics::Metrics,
    plugin::host::{PluginHost, PluginSettings},
    pool::Pools,
};
use gongjian_core::{
    domain::clock::{Clock, SystemClock},
    store::db::Db,
};

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub metrics: Arc<Metrics>,
    pub plugins: Arc<PluginHost>,
    /// Each street's candidates, kept in memory between dispatches.
    pub pools: Arc<Pools>,
    /// The time deadlines are set and checked against.
    pub clock: Arc<dyn Clock>,
}

impl AppState {
    /// State with default plugin settings (compiled plugins kept in memory only).
    pub fn new(db: Db) -> Self {
        Self::with_plugins(db, PluginSettings::default())
    }

    pub fn with_plugins(db: Db, settings: PluginSettings) -> Self {
        AppState {
            db,
            metrics: Arc::new(Metrics::new()),
            plugins: Arc::new(PluginHost::new(settings)),
            pools: Arc::new(Pools::new()),
            clock: Arc::new(SystemClock),
        }
    }

    /// The time now, by the service's clock: every instant the service records comes from
    /// here.
    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// [`AppState::now`] in the stored form.
    pub fn now_ts(&self) -> String {
        gongjian_core::domain::format_ts(self.clock.now())
    }

    /// The same state acting on another clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}
