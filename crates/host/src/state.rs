//! What every request handler shares.

use std::sync::Arc;

use crate::{db::Db, metrics::Metrics};

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(db: Db) -> Self {
        AppState {
            db,
            metrics: Arc::new(Metrics::new()),
        }
    }
}
