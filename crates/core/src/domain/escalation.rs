//! An escalation (吹哨) as the street office's queue shows it: what was escalated, why, to
//! whom, by when it must be handled, and where its demand stands now.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::DemandStatus;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Escalation {
    pub id: Uuid,
    pub demand_id: Uuid,
    pub order_id: Option<Uuid>,
    pub reason: String,
    pub escalated_to: String,
    /// The new deadline set for it.
    pub deadline: String,
    pub at: String,
    pub demand_status: DemandStatus,
    pub category: String,
    pub description: String,
}
