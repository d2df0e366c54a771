//! How a street dispatches demands of a category: its dispatch settings, and which of a
//! street's stored settings apply to a category.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// How a street dispatches demands of a category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Settings {
    /// Dispatch a demand as soon as it is filed.
    pub auto_dispatch: bool,
    /// Candidates offered at once (the first to accept wins); 1 offers one after another.
    pub offer_count: i64,
    /// Minutes the offered candidates have to accept before the next ones are offered.
    pub accept_minutes: i64,
    /// Minutes the assignee has to complete; none: by the requested window's end, or by the
    /// end of the day the demand was filed (当日必达).
    pub complete_minutes: Option<i64>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            auto_dispatch: false,
            offer_count: 3,
            accept_minutes: 30,
            complete_minutes: None,
        }
    }
}

/// The settings for a category among a street's stored ones: its own, else the street's
/// default, else the built-in default.
pub fn choose_settings(stored: &HashMap<String, Settings>, category: &str) -> Settings {
    stored
        .get(category)
        .or_else(|| stored.get(""))
        .cloned()
        .unwrap_or_default()
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct CategorySettings {
    /// A category code, or `default` for the street's default.
    pub category: String,
    pub settings: Settings,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct StreetSettings {
    /// What applies to categories without settings of their own.
    pub default: Settings,
    pub categories: Vec<CategorySettings>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PutSettings {
    pub auto_dispatch: bool,
    /// 1 to 10; 1 offers one after another.
    pub offer_count: i64,
    /// 1 to 10080 (a week).
    pub accept_minutes: i64,
    /// 1 to 43200 (30 days); absent or null: by the requested window's end, or the end of the
    /// day the demand was filed.
    pub complete_minutes: Option<i64>,
}
