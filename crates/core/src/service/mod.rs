//! The operations the edges call: matching, dispatch and re-dispatch, the plugin hooks
//! (triage and points), the scheduler's tick, and the candidate pool they rank from.
//!
//! Each operation takes the [`Core`] it runs on, never an edge's state; functions that work
//! inside a caller's transaction take the transaction and the instant instead.

pub mod demands;
pub(crate) mod dispatch;
pub mod feedback;
pub(crate) mod hooks;
pub mod intake;
pub(crate) mod matching;
pub mod notifications;
pub mod orders;
pub mod plugins;
pub(crate) mod pool;
pub mod projects;
pub mod resources;
pub mod scheduler;
pub mod sessions;
pub mod settings;
pub mod stats;
pub mod streets;
pub mod telemetry;
pub mod tokens;
pub mod units;
pub mod volunteers;
pub mod webhooks;

use std::sync::Arc;

use crate::{
    domain::clock::{Clock, SystemClock},
    plugin::host::{PluginHost, PluginSettings},
    store::Db,
};

/// What the operations run on: the database, each street's candidates kept in memory, the
/// plugin host with its compile cache, the clock every recorded instant comes from, and the
/// counters the operations keep.
#[derive(Clone)]
pub struct Core {
    pub db: Db,
    pub plugins: Arc<PluginHost>,
    /// Each street's candidates, kept in memory between dispatches.
    pub pools: Arc<pool::Pools>,
    /// The time deadlines are set and checked against.
    pub clock: Arc<dyn Clock>,
    pub telemetry: Arc<telemetry::Telemetry>,
    /// How webhooks are sent.
    pub webhooks: webhooks::WebhookSettings,
}

impl Core {
    pub fn new(db: Db, settings: PluginSettings) -> Self {
        Core {
            db,
            plugins: Arc::new(PluginHost::new(settings)),
            pools: Arc::new(pool::Pools::new()),
            clock: Arc::new(SystemClock),
            telemetry: Arc::new(telemetry::Telemetry::new()),
            webhooks: webhooks::WebhookSettings::default(),
        }
    }

    /// The time now, by the service's clock: every instant the service records comes from
    /// here.
    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// [`Core::now`] in the stored form.
    pub fn now_ts(&self) -> String {
        crate::domain::format_ts(self.clock.now())
    }
}
