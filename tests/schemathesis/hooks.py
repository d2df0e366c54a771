"""Rules of the gongjian API that JSON Schema cannot state, for schemathesis.

The API description states every rule of a single field (length, pattern, range, format,
item count). What it cannot state is a rule across fields or against stored data: an id must
name something that exists, an end must follow its start, a token's role decides which id it
carries. Positive cases are given real ids (from the environment, set by run.py) and cases
that break a cross-field rule are dropped, so that a refusal of any remaining schema-valid
request is a defect of the description or of the service.
"""

import os
from datetime import datetime
from pathlib import Path

import schemathesis
from schemathesis import GenerationMode

ID = {name: os.environ[f"GJ_{name.upper()}"] for name in (
    "street", "community", "grid", "unit", "volunteer", "demand", "resource", "project",
)}
# A category every street has.
CATEGORY = "elderly_care"


def _positive(case):
    meta = getattr(case, "meta", None)
    return meta is None or meta.generation.mode == GenerationMode.POSITIVE


def _instant(text):
    if isinstance(text, list):
        text = text[-1] if text else None
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (TypeError, ValueError):
        return None


def _ordered(start, end):
    """Whether an optional window's end follows its start (as the service requires)."""
    a, b = _instant(start), _instant(end)
    return a is None or b is None or a < b


@schemathesis.hook
def filter_case(context, case):
    op = context.operation
    if op is None:
        return True
    method, path = op.method.upper(), op.path
    query = case.query or {}
    body = case.body if isinstance(case.body, dict) else {}
    if path == "/api/v1/stats" and not _ordered(query.get("from"), query.get("to")):
        return False
    windows = {"/api/v1/demands": ("window_start", "window_end"),
               "/api/v1/resources": ("available_from", "available_until")}
    for prefix, (start, end) in windows.items():
        if path.startswith(prefix) and method in ("POST", "PATCH"):
            # An edit of one end is checked against the stored other end.
            if method == "PATCH" and (start in body) != (end in body):
                return False
            return _ordered(body.get(start), body.get(end))
    if path.startswith("/api/v1/volunteers") and method in ("POST", "PATCH"):
        slots = body.get("availability") or []
        return all(
            not isinstance(s, dict) or str(s.get("start", "")) < str(s.get("end", "~"))
            for s in slots
        )
    return True


# Body fields that name stored things, and the ids they get in positive cases.
REFERENCES = {
    "street_id": lambda: ID["street"],
    "grid_id": lambda: ID["grid"],
    "home_grid_id": lambda: ID["grid"],
    "community_id": lambda: ID["community"],
    "demand_id": lambda: ID["demand"],
    "street_ids": lambda: [ID["street"]],
    "served_grid_ids": lambda: [ID["grid"]],
    "demand_ids": lambda: [ID["demand"]],
    "resource_ids": lambda: [ID["resource"]],
    "category": lambda: CATEGORY,
}


@schemathesis.hook
def map_case(context, case):
    op = context.operation
    if op is None or not isinstance(case.body, dict) or not _positive(case):
        return case
    body = case.body
    method, path = op.method.upper(), op.path
    if path == "/api/v1/tokens" and method == "POST":
        # The role decides which one id the token carries.
        for key in ("street_id", "unit_id", "volunteer_id"):
            body.pop(key, None)
        role = body.get("role")
        if role in ("street_admin", "grid_worker"):
            body["street_id"] = ID["street"]
        elif role == "unit":
            body["unit_id"] = ID["unit"]
        elif role == "volunteer":
            body["volunteer_id"] = ID["volunteer"]
        return case
    if path == "/api/v1/resources" and method == "POST":
        # One owner: a unit or a volunteer (an admin names it), and a unit's resource names
        # the streets it serves.
        body.pop("owner_volunteer_id", None)
        body["owner_unit_id"] = ID["unit"]
        body["street_ids"] = [ID["street"]]
    if path.endswith("/dry-run"):
        # Either a demand of the street, or a demand with candidates.
        if "demand_id" in body or not ("demand" in body and "candidates" in body):
            body.pop("demand", None)
            body.pop("candidates", None)
            body["demand_id"] = ID["demand"]
    if path.endswith("/plugins") and method == "POST":
        body["kind"] = "rhai"
        body.pop("wasm_base64", None)
        body["source"] = RHAI_RULE
        body.pop("config", None)
    for key, value in REFERENCES.items():
        if key in body and not (path.endswith("/categories") and key == "category"):
            body[key] = value()
    return case


# The street's example rule, as a street would deploy it.
RHAI_RULE = (Path(__file__).resolve().parents[2] / "plugins" / "rhai" / "default-rule.rhai").read_text()
