//! The OpenAPI 3.1 document, generated from the handlers' annotations, and a self-contained
//! HTML page that renders it (no scripts, no external assets: it works on an office intranet).

use std::fmt::Write;

use gongjian_core::domain::rules::Rule;
use utoipa::{
    openapi::{
        path::{Operation, Parameter},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
        RefOr,
    },
    Modify, OpenApi,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gongjian",
        description = "Co-building (共建) platform for city streets: the resource, demand and \
                       project lists, the registry of co-building units and volunteers. Every \
                       route under /api/v1 needs `Authorization: Bearer <token>`; every error is \
                       `application/problem+json` with a stable `code`."
    ),
    modifiers(&BearerAuth),
    // Schemas no request or answer body names, only a parameter.
    components(schemas(
        crate::error::Problem,
        crate::error::FieldError,
        gongjian_core::domain::stats::StatsFormat,
        gongjian_core::domain::ListOrder
    )),
    tags(
        (name = "streets", description = "Streets, their communities, grids and categories"),
        (name = "units", description = "Co-building units"),
        (name = "volunteers", description = "Volunteers"),
        (name = "resources", description = "The resource list"),
        (name = "demands", description = "The demand list"),
        (name = "projects", description = "The project list"),
        (name = "tokens", description = "API tokens and the caller"),
        (name = "orders", description = "Service orders: dispatch, offers, acceptance, completion, and the event record"),
        (name = "plugins", description = "Street matching plugins: deploy, activate, roll back, dry-run; match a demand"),
        (name = "notifications", description = "Webhook endpoints and their delivery log; the caller's own feed"),
    )
)]
pub struct ApiDoc;

/// Says in the document what every error is served as, and which errors the edge can answer
/// for any operation, where the annotations name only those the handler decides:
/// - every error body is `application/problem+json` (`AppError`'s answer);
/// - 400 for a path or query that does not parse (`invalid_id`, `invalid_path`,
///   `invalid_query`); 401 where a token is needed; 404 where the path names an item;
/// - 408, 413, 415 and 422 where there is a body (too slow, too large, not JSON, invalid);
/// - 503 when no database connection frees up in time.
pub fn document_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{path::ParameterIn, ContentBuilder, Ref, ResponseBuilder};
    let problem = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        for op in operations_mut(item) {
            let responses = &mut op.responses.responses;
            for (status, response) in responses.iter_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                if !(status.starts_with('4') || status.starts_with('5')) {
                    continue;
                }
                if let Some(content) = response.content.shift_remove("application/json") {
                    response
                        .content
                        .insert("application/problem+json".to_string(), content);
                }
            }
            let mut add = |status: &str, description: &str| {
                responses
                    .entry(status.to_string())
                    .or_insert_with(|| problem(description));
            };
            let has_query = op
                .parameters
                .iter()
                .flatten()
                .any(|p| matches!(p.parameter_in, ParameterIn::Query));
            add(
                "400",
                if path.contains('{') || has_query {
                    "A path id or query parameter that does not parse"
                } else {
                    "A path or query that is not UTF-8"
                },
            );
            if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                add(
                    "401",
                    "No token, or one that is unknown, revoked or expired",
                );
            }
            if path.contains('{') {
                add("404", "No such item, or one the caller may not see");
            }
            if op.request_body.is_some() {
                add("408", "The body did not arrive in time");
                add("413", "The body is larger than this operation accepts");
                add("415", "The body is not JSON");
                add("422", "A field is missing, unknown or invalid");
            }
            add("503", "No database connection freed up in time; try again");
        }
    }
}

/// The rules each request field follows, by schema and property: what `Check` enforces,
/// published as JSON Schema keywords by [`declare_rules`].
const FIELD_RULES: &[(&str, &str, Rule)] = {
    use gongjian_core::domain::rules::*;
    &[
        ("CreateStreet", "name", Rule::Text(PLACE_NAME)),
        ("CreateStreet", "code", Rule::Code(CODE)),
        ("CreateStreet", "district", Rule::Text(PLACE_NAME)),
        ("UpdateStreet", "name", Rule::Text(PLACE_NAME)),
        ("UpdateStreet", "code", Rule::Code(CODE)),
        ("UpdateStreet", "district", Rule::Text(PLACE_NAME)),
        ("CreateCommunity", "name", Rule::Text(PLACE_NAME)),
        ("CreateGrid", "code", Rule::Code(CODE)),
        ("CreateGrid", "name", Rule::Text(PLACE_NAME)),
        ("CreateGrid", "households", Rule::Int(HOUSEHOLDS)),
        ("UpdateGrid", "code", Rule::Code(CODE)),
        ("UpdateGrid", "name", Rule::Text(PLACE_NAME)),
        ("UpdateGrid", "households", Rule::Int(HOUSEHOLDS)),
        ("CreateCategory", "code", Rule::Code(CODE)),
        ("CreateCategory", "label", Rule::Text(CATEGORY_LABEL)),
        ("CreateUnit", "name", Rule::Text(NAME)),
        ("CreateUnit", "contact_name", Rule::Text(PERSON_NAME)),
        ("CreateUnit", "contact_phone", Rule::Phone),
        ("CreateUnit", "address", Rule::OptionalText(ADDRESS)),
        ("CreateUnit", "description", Rule::OptionalText(DESCRIPTION)),
        ("CreateUnit", "street_ids", Rule::SomeIds(STREET_IDS)),
        ("UpdateUnit", "name", Rule::Text(NAME)),
        ("UpdateUnit", "contact_name", Rule::Text(PERSON_NAME)),
        ("UpdateUnit", "contact_phone", Rule::Phone),
        ("UpdateUnit", "address", Rule::OptionalText(ADDRESS)),
        ("UpdateUnit", "description", Rule::OptionalText(DESCRIPTION)),
        ("UpdateUnit", "street_ids", Rule::SomeIds(STREET_IDS)),
        ("CreateVolunteer", "name", Rule::Text(PERSON_NAME)),
        ("CreateVolunteer", "phone", Rule::Phone),
        ("CreateVolunteer", "team", Rule::OptionalText(TEAM)),
        (
            "CreateVolunteer",
            "max_open_orders",
            Rule::Int(MAX_OPEN_ORDERS),
        ),
        ("CreateVolunteer", "skills", Rule::Labels(LABELS)),
        ("CreateVolunteer", "availability", Rule::Items(WEEKLY_SLOTS)),
        ("UpdateVolunteer", "name", Rule::Text(PERSON_NAME)),
        ("UpdateVolunteer", "phone", Rule::Phone),
        ("UpdateVolunteer", "team", Rule::OptionalText(TEAM)),
        (
            "UpdateVolunteer",
            "max_open_orders",
            Rule::Int(MAX_OPEN_ORDERS),
        ),
        ("UpdateVolunteer", "skills", Rule::Labels(LABELS)),
        ("UpdateVolunteer", "availability", Rule::Items(WEEKLY_SLOTS)),
        ("WeeklySlot", "start", Rule::ClockTime),
        ("WeeklySlot", "end", Rule::ClockTime),
        ("CreateResource", "title", Rule::Text(TITLE)),
        ("CreateResource", "category", Rule::Code(CODE)),
        (
            "CreateResource",
            "description",
            Rule::OptionalText(DESCRIPTION),
        ),
        ("CreateResource", "capacity", Rule::Int(CAPACITY)),
        ("CreateResource", "tags", Rule::Labels(LABELS)),
        ("CreateResource", "street_ids", Rule::Ids(STREET_IDS)),
        ("CreateResource", "served_grid_ids", Rule::Ids(GRID_IDS)),
        ("CreateResource", "available_from", Rule::Timestamp),
        ("CreateResource", "available_until", Rule::Timestamp),
        ("UpdateResource", "title", Rule::Text(TITLE)),
        ("UpdateResource", "category", Rule::Code(CODE)),
        (
            "UpdateResource",
            "description",
            Rule::OptionalText(DESCRIPTION),
        ),
        ("UpdateResource", "capacity", Rule::Int(CAPACITY)),
        ("UpdateResource", "tags", Rule::Labels(LABELS)),
        ("UpdateResource", "street_ids", Rule::Ids(STREET_IDS)),
        ("UpdateResource", "served_grid_ids", Rule::Ids(GRID_IDS)),
        ("UpdateResource", "available_from", Rule::Timestamp),
        ("UpdateResource", "available_until", Rule::Timestamp),
        ("CreateDemand", "category", Rule::Code(CODE)),
        ("CreateDemand", "description", Rule::Text(DESCRIPTION)),
        ("CreateDemand", "tags", Rule::Labels(LABELS)),
        ("CreateDemand", "window_start", Rule::Timestamp),
        ("CreateDemand", "window_end", Rule::Timestamp),
        ("UpdateDemand", "category", Rule::Code(CODE)),
        ("UpdateDemand", "description", Rule::Text(DESCRIPTION)),
        ("UpdateDemand", "tags", Rule::Labels(LABELS)),
        ("UpdateDemand", "window_start", Rule::Timestamp),
        ("UpdateDemand", "window_end", Rule::Timestamp),
        ("Resident", "name", Rule::Text(PERSON_NAME)),
        ("Resident", "phone", Rule::Phone),
        ("Resident", "address", Rule::Text(ADDRESS)),
        ("CreateEndpoint", "url", Rule::Text(WEBHOOK_URL)),
        ("CreateEndpoint", "description", Rule::OptionalText(COMMENT)),
        ("UpdateEndpoint", "url", Rule::Text(WEBHOOK_URL)),
        ("CreateEndpoint", "event_types", Rule::Items(EVENT_TYPES)),
        ("UpdateEndpoint", "description", Rule::OptionalText(COMMENT)),
        ("UpdateEndpoint", "event_types", Rule::Items(EVENT_TYPES)),
        ("PutPreferences", "event_types", Rule::Items(EVENT_TYPES)),
        ("PutPreferences", "digest_hour", Rule::Int(DIGEST_HOUR)),
        ("MarkRead", "ids", Rule::Ids(LINKED_IDS)),
        ("CreateProject", "title", Rule::Text(TITLE)),
        (
            "CreateProject",
            "description",
            Rule::Text(PROJECT_DESCRIPTION),
        ),
        ("CreateProject", "goal", Rule::Text(GOAL)),
        ("CreateProject", "budget_fen", Rule::Int(BUDGET_FEN)),
        ("CreateProject", "demand_ids", Rule::Ids(LINKED_IDS)),
        ("CreateProject", "resource_ids", Rule::Ids(LINKED_IDS)),
        ("UpdateProject", "title", Rule::Text(TITLE)),
        (
            "UpdateProject",
            "description",
            Rule::Text(PROJECT_DESCRIPTION),
        ),
        ("UpdateProject", "goal", Rule::Text(GOAL)),
        ("UpdateProject", "budget_fen", Rule::Int(BUDGET_FEN)),
        ("UpdateProject", "demand_ids", Rule::Ids(LINKED_IDS)),
        ("UpdateProject", "resource_ids", Rule::Ids(LINKED_IDS)),
        ("UpdateProject", "progress_note", Rule::OptionalText(REPORT)),
        ("ProgressReport", "note", Rule::Text(REPORT)),
        ("ProjectEvaluation", "evaluation", Rule::Text(REPORT)),
        ("ProjectEvaluation", "score", Rule::Int(RATING)),
        ("CreateToken", "name", Rule::Text(NAME)),
        ("UploadBody", "note", Rule::OptionalText(COMMENT)),
        ("DispatchRequest", "offer_count", Rule::Int(OFFER_COUNT)),
        ("PutSettings", "offer_count", Rule::Int(OFFER_COUNT)),
        ("PutSettings", "accept_minutes", Rule::Int(ACCEPT_MINUTES)),
        (
            "PutSettings",
            "complete_minutes",
            Rule::Int(COMPLETE_MINUTES),
        ),
        ("ReasonRequest", "reason", Rule::Text(REASON)),
        (
            "CompleteRequest",
            "service_minutes",
            Rule::Int(SERVICE_MINUTES),
        ),
        ("CompleteRequest", "note", Rule::OptionalText(ORDER_NOTE)),
        ("RatingRequest", "rating", Rule::Int(RATING)),
        ("RatingRequest", "comment", Rule::OptionalText(COMMENT)),
        (
            "DryRunInline",
            "candidates",
            Rule::Items(DRY_RUN_CANDIDATES),
        ),
        (
            "plugin.CandidateSpec",
            "open_orders",
            Rule::Int(PLUGIN_COUNT),
        ),
        (
            "plugin.CandidateSpec",
            "max_open_orders",
            Rule::Int(PLUGIN_COUNT),
        ),
        (
            "plugin.CandidateSpec",
            "completed_orders",
            Rule::Int(PLUGIN_COUNT),
        ),
        (
            "plugin.CandidateSpec",
            "capacity_left",
            Rule::Int(PLUGIN_COUNT),
        ),
        (
            "plugin.CandidateSpec",
            "service_minutes",
            Rule::Int(PLUGIN_COUNT),
        ),
    ]
};

/// Request bodies of several forms (`oneOf`), each of which takes no other field.
const CLOSED_FORMS: &[&str] = &["UploadBody"];

/// The rules of query and path parameters, by name: the same name means the same rule on
/// every operation.
const PARAMETER_RULES: &[(&str, Rule)] = &[
    ("limit", Rule::Int(gongjian_core::domain::rules::PAGE_LIMIT)),
    ("cursor", Rule::Cursor),
    ("from", Rule::Timestamp),
    ("to", Rule::Timestamp),
    ("filed_from", Rule::Timestamp),
    ("filed_to", Rule::Timestamp),
];

/// Publishes every rule of [`FIELD_RULES`] and [`PARAMETER_RULES`] in the document. A rule
/// naming a schema or property the document lacks is a defect, caught when the router is
/// built (and so by every test).
pub fn declare_rules(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::Schema;
    let schemas = &mut doc
        .components
        .as_mut()
        .expect("the document has components")
        .schemas;
    for (schema, property, rule) in FIELD_RULES {
        // An object, or one of several forms (`oneOf`), each object with the property.
        let objects: Vec<&mut utoipa::openapi::schema::Object> = match schemas.get_mut(*schema) {
            Some(RefOr::T(Schema::Object(object))) => vec![object],
            Some(RefOr::T(Schema::OneOf(one_of))) => one_of
                .items
                .iter_mut()
                .filter_map(|item| match item {
                    RefOr::T(Schema::Object(o)) if o.properties.contains_key(*property) => Some(o),
                    _ => None,
                })
                .collect(),
            _ => panic!("a field rule names {schema}, which is not an object schema"),
        };
        assert!(
            !objects.is_empty(),
            "a field rule names {schema}.{property}, which no form of {schema} has"
        );
        for object in objects {
            let Some(RefOr::T(target)) = object.properties.get_mut(*property) else {
                panic!("a field rule names {schema}.{property}, which is not an inline property");
            };
            apply(target, *rule);
        }
    }
    for name in CLOSED_FORMS {
        let Some(RefOr::T(Schema::OneOf(one_of))) = schemas.get_mut(*name) else {
            panic!("{name} is not a schema of several forms");
        };
        for item in &mut one_of.items {
            if let RefOr::T(Schema::Object(o)) = item {
                o.additional_properties = Some(Box::new(
                    utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
                ));
            }
        }
    }
    for item in doc.paths.paths.values_mut() {
        for op in operations_mut(item) {
            for p in op.parameters.iter_mut().flatten() {
                let rule = PARAMETER_RULES
                    .iter()
                    .find(|(name, _)| *name == p.name)
                    .map(|(_, rule)| *rule);
                if let (Some(rule), Some(RefOr::T(schema))) = (rule, p.schema.as_mut()) {
                    apply(schema, rule);
                }
            }
        }
    }
}

/// Merges a rule's keywords into a schema of the type it constrains.
fn apply(schema: &mut utoipa::openapi::schema::Schema, rule: Rule) {
    use utoipa::openapi::schema::{ArrayItems, Schema, SchemaFormat};
    use utoipa::Number;
    let k = rule.keywords();
    let number = |n: Option<i64>| n.map(|n| Number::Int(n as isize));
    match schema {
        Schema::Object(o) => {
            assert!(k.max_items.is_none(), "a list rule on a scalar: {rule:?}");
            o.min_length = k.min_length.or(o.min_length);
            o.max_length = k.max_length.or(o.max_length);
            o.minimum = number(k.minimum).or(o.minimum.take());
            o.maximum = number(k.maximum).or(o.maximum.take());
            if let Some(pattern) = k.pattern {
                o.pattern = Some(pattern);
            }
            if let Some(format) = k.format {
                o.format = Some(SchemaFormat::Custom(format.to_string()));
            }
        }
        Schema::Array(a) => {
            a.min_items = k.min_items.or(a.min_items);
            a.max_items = k.max_items.or(a.max_items);
            a.unique_items |= k.unique_items;
            if let (Some(item_rule), ArrayItems::RefOrSchema(items)) = (rule.items(), &mut a.items)
            {
                if let RefOr::T(items) = items.as_mut() {
                    apply(items, item_rule);
                }
            }
        }
        _ => panic!("rule {rule:?} on a schema it cannot constrain"),
    }
}

/// Every operation of a path.
fn operations_mut(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn schema_name(r: &RefOr<utoipa::openapi::schema::Schema>) -> String {
    match r {
        RefOr::Ref(r) => r.ref_location.rsplit('/').next().unwrap_or("").to_string(),
        RefOr::T(_) => "inline".to_string(),
    }
}

fn render_operation(out: &mut String, method: &str, path: &str, op: &Operation) {
    let _ = write!(
        out,
        "<section class=op><h3><span class=\"m {m}\">{M}</span> <code>{p}</code></h3>",
        m = method,
        M = method.to_uppercase(),
        p = esc(path)
    );
    if let Some(s) = op.summary.as_ref().or(op.description.as_ref()) {
        let _ = write!(out, "<p>{}</p>", esc(s));
    }
    if let Some(params) = &op.parameters {
        out.push_str(
            "<table><tr><th>parameter</th><th>in</th><th>required</th><th>description</th></tr>",
        );
        for p in params {
            let Parameter {
                name,
                parameter_in,
                required,
                description,
                ..
            } = p;
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(name),
                serde_json::to_value(parameter_in)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                matches!(required, utoipa::openapi::Required::True),
                esc(description.as_deref().unwrap_or(""))
            );
        }
        out.push_str("</table>");
    }
    if let Some(body) = &op.request_body {
        for (media, content) in &body.content {
            let name = content.schema.as_ref().map(schema_name).unwrap_or_default();
            let _ = write!(
                out,
                "<p>Body: <code>{}</code> <a href=\"#schema-{n}\">{n}</a></p>",
                esc(media),
                n = esc(&name)
            );
        }
    }
    out.push_str("<ul class=resp>");
    for (status, resp) in &op.responses.responses {
        let (desc, schema) = match resp {
            RefOr::T(r) => (
                r.description.clone(),
                r.content
                    .values()
                    .next()
                    .and_then(|c| c.schema.as_ref())
                    .map(schema_name),
            ),
            RefOr::Ref(r) => (r.ref_location.clone(), None),
        };
        let link = schema
            .map(|n| format!(" <a href=\"#schema-{n}\">{n}</a>", n = esc(&n)))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<li><b>{}</b> {}{}</li>",
            esc(status),
            esc(&desc),
            link
        );
    }
    out.push_str("</ul></section>");
}

/// Renders the OpenAPI document as one HTML page.
pub fn render_html(doc: &utoipa::openapi::OpenApi) -> String {
    let mut out = String::from(
        "<!doctype html><html lang=zh><head><meta charset=utf-8><title>gongjian API</title><style>\
         body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}\
         code{background:#f3f3f3;padding:0 .2em}.op{border-top:1px solid #ddd;padding:.5rem 0}\
         .m{display:inline-block;min-width:4.5em;text-align:center;color:#fff;border-radius:3px;font-size:.8em}\
         .get{background:#2b7}.post{background:#27b}.patch{background:#b72}.delete{background:#b33}.put{background:#72b}\
         table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left}\
         pre{background:#f6f6f6;padding:.5rem;overflow:auto;font-size:.85em}</style></head><body>",
    );
    let _ = write!(
        out,
        "<h1>{} <small>{}</small></h1>",
        esc(&doc.info.title),
        esc(&doc.info.version)
    );
    if let Some(d) = &doc.info.description {
        let _ = write!(out, "<p>{}</p>", esc(d));
    }
    out.push_str("<p>Machine-readable: <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a> (OpenAPI 3.1).</p><h2>Endpoints</h2>");
    for (path, item) in &doc.paths.paths {
        let ops = [
            ("get", &item.get),
            ("post", &item.post),
            ("put", &item.put),
            ("patch", &item.patch),
            ("delete", &item.delete),
        ];
        for (method, op) in ops {
            if let Some(op) = op {
                render_operation(&mut out, method, path, op);
            }
        }
    }
    out.push_str("<h2>Schemas</h2>");
    if let Some(components) = &doc.components {
        for (name, schema) in &components.schemas {
            let json = serde_json::to_string_pretty(schema).unwrap_or_default();
            let _ = write!(
                out,
                "<h3 id=\"schema-{n}\">{n}</h3><pre>{}</pre>",
                esc(&json),
                n = esc(name)
            );
        }
    }
    out.push_str("</body></html>");
    out
}
