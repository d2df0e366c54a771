-- Contract 1.1.0: a street's plugin may triage new demands and award points for completed
-- orders.

-- How the demand was triaged on intake, JSON: the rule, what was filed, what changed and why.
-- NULL for demands filed before triage existed.
ALTER TABLE demands ADD COLUMN triage TEXT;

-- Which rule awarded an order's points ('builtin', or the plugin kind and version), and why.
ALTER TABLE service_orders ADD COLUMN points_rule TEXT;
ALTER TABLE service_orders ADD COLUMN points_reason TEXT;

-- The hooks a plugin version implements beyond ranking: comma-separated, e.g. 'triage,points'.
ALTER TABLE plugin_versions ADD COLUMN hooks TEXT NOT NULL DEFAULT '';
