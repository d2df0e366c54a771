//! The host's built-in default rule, built as a plugin: a starting point for a street's own
//! rule, and the yardstick for what the WebAssembly boundary costs.

use gongjian_plugin_sdk::{rules::default_rule, Plugin, Ranked, Request};

pub struct DefaultRule;

impl Plugin for DefaultRule {
    fn rank(request: &Request<'_>) -> Result<Vec<Ranked>, String> {
        default_rule(request)
    }
}

gongjian_plugin_sdk::export_plugin!(DefaultRule);
