//! Notifications: fanning the outbox out to the webhook endpoints that hear of each one, and a
//! person's own feed.
//!
//! Every notification is written in the transaction of the event it tells of (see
//! `store::notifications`). [`fan_out`] claims those not yet fanned out by a compare-and-set
//! on their state and, in the same transaction, makes one delivery per endpoint that may hear
//! of it, with the body it will be signed and sent with: the same on every attempt.

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};
use uuid::Uuid;

use super::Core;
use crate::{
    domain::{
        access::{Principal, Role},
        demand::shown_to,
        notification::{
            EndpointChannel, EndpointOwner, ListNotifications, Notification, RecipientKind,
        },
        wecom, DEFAULT_CATEGORIES,
    },
    store::{
        demands,
        notifications::{self, Claimed, Feed},
        page::{Page, PageRequest},
        webhooks::{self, NewDelivery, Stored},
        Tx,
    },
    Error, Result,
};

/// The most notifications fanned out in one transaction.
const BATCH: i64 = 100;

/// What one pass of [`fan_out`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FannedOut {
    pub notifications: usize,
    pub deliveries: usize,
}

/// Fans out what the outbox holds, a batch per transaction, until it is empty.
pub async fn fan_out(core: &Core) -> Result<FannedOut> {
    let mut done = FannedOut::default();
    loop {
        let (now, console) = (core.now_ts(), core.webhooks.console_url.clone());
        let pass = core
            .db
            .transact(move |tx| {
                Box::pin(async move { fan_out_batch(tx, &now, console.as_deref()).await })
            })
            .await?;
        done.notifications += pass.notifications;
        done.deliveries += pass.deliveries;
        if pass.notifications < BATCH as usize {
            return Ok(done);
        }
    }
}

async fn fan_out_batch(tx: &mut Tx<'_>, now: &str, console: Option<&str>) -> Result<FannedOut> {
    let claimed = notifications::claim_for_fan_out(tx, now, BATCH).await?;
    if claimed.is_empty() {
        return Ok(FannedOut::default());
    }
    let resources: Vec<Uuid> = claimed
        .iter()
        .filter(|n| n.recipient_kind == RecipientKind::Resource)
        .map(|n| n.recipient)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let unit_of = notifications::units_owning(tx, &resources).await?;
    let streets: Vec<Uuid> = claimed
        .iter()
        .filter(|n| n.recipient_kind == RecipientKind::Street)
        .map(|n| n.street)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let units: Vec<Uuid> = unit_of
        .values()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let endpoints = webhooks::hearing(tx, &streets, &units).await?;
    let mut deliveries = vec![];
    if !endpoints.is_empty() {
        let robots = endpoints
            .iter()
            .any(|e| e.endpoint.channel == EndpointChannel::Wecom);
        let context = context::Context::read(tx, &claimed, robots).await?;
        for n in &claimed {
            for e in endpoints.iter().filter(|e| hears(e, n, &unit_of, &context)) {
                let body = match e.endpoint.channel {
                    EndpointChannel::Webhook => payload(n, e, &context).to_string(),
                    EndpointChannel::Wecom => {
                        wecom::body(&wecom::message(&robot_facts(n, &context, console)))
                    }
                };
                deliveries.push(NewDelivery {
                    endpoint: e.endpoint.id,
                    notification: n.id,
                    kind: n.kind,
                    body,
                });
            }
        }
        webhooks::insert_deliveries(tx, now, &deliveries).await?;
    }
    Ok(FannedOut {
        notifications: claimed.len(),
        deliveries: deliveries.len(),
    })
}

/// Whether endpoint `e` hears of `n`: its owner may see it, it subscribes to its type, and (a
/// grid's robot) it concerns a demand of that grid.
fn hears(
    e: &Stored,
    n: &Claimed,
    unit_of: &HashMap<Uuid, Uuid>,
    context: &context::Context,
) -> bool {
    let e = &e.endpoint;
    if let Some(grid) = e.grid_id {
        if context.demand_of(n).map(|d| d.grid_id) != Some(grid) {
            return false;
        }
    }
    let owner_sees = match (e.owner, n.recipient_kind) {
        (EndpointOwner::District, RecipientKind::Street) => true,
        (EndpointOwner::Street, RecipientKind::Street) => e.owner_id == Some(n.street),
        (EndpointOwner::Unit, RecipientKind::Resource) => {
            e.owner_id.is_some() && unit_of.get(&n.recipient).copied() == e.owner_id
        }
        _ => false,
    };
    owner_sees && (e.event_types.is_empty() || e.event_types.contains(&n.kind))
}

/// The principal an endpoint's owner would be: what it may see of a resident follows.
fn owner_principal(e: &Stored) -> Principal {
    let role = match (e.endpoint.owner, e.endpoint.owner_id) {
        (EndpointOwner::Street, Some(street)) => Role::StreetAdmin { street },
        (EndpointOwner::Unit, Some(unit)) => Role::Unit {
            unit,
            streets: vec![],
        },
        _ => Role::DistrictAdmin,
    };
    Principal {
        token_id: Uuid::nil(),
        role,
    }
}

/// The body of a message: a thin payload of ids and what the endpoint's owner may see of the
/// demand (its resident masked unless the owner is the demand's own street).
fn payload(n: &Claimed, e: &Stored, context: &context::Context) -> Value {
    let mut data = json!({
        "notification_id": n.id,
        "street_id": n.street,
        "subject": { "kind": n.subject_kind, "id": n.subject },
    });
    let obj = data.as_object_mut().expect("an object");
    if let Some(note) = &n.note {
        obj.insert("note".into(), json!(note));
    }
    match n.subject_kind.as_str() {
        "order" => {
            obj.insert("order_id".into(), json!(n.subject));
        }
        "plugin" => {
            obj.insert("plugin_version_id".into(), json!(n.subject));
        }
        _ => {}
    }
    if let Some(d) = context.demand_of(n) {
        let shown = shown_to(d.clone(), &owner_principal(e));
        obj.insert(
            "demand".into(),
            json!({
                "id": shown.id,
                "grid_id": shown.grid_id,
                "category": shown.category,
                "urgency": shown.urgency,
                "status": shown.status,
                "resident": shown.resident,
                "resident_masked": shown.resident_masked,
            }),
        );
    }
    json!({ "type": n.kind.as_str(), "timestamp": n.at, "data": data })
}

/// What a robot's message says of `n`: where, what and how urgent, never who; and the link to
/// its demand's (or the street's rule's) page in the console.
fn robot_facts(n: &Claimed, context: &context::Context, console: Option<&str>) -> wecom::Facts {
    let demand = context.demand_of(n);
    let labels = &context.labels;
    let link = console.map(|base| match demand {
        Some(d) => format!("{base}/console/demands/{}", d.id),
        None if n.subject_kind == "plugin" => {
            format!("{base}/console/streets/{}/plugins", n.street)
        }
        None => format!("{base}/console"),
    });
    wecom::Facts {
        kind: Some(n.kind),
        street: labels.streets.get(&n.street).cloned(),
        grid: demand.and_then(|d| labels.grids.get(&d.grid_id).cloned()),
        category: demand.map(|d| {
            labels
                .categories
                .get(&(d.street_id, d.category.clone()))
                .cloned()
                .or_else(|| {
                    DEFAULT_CATEGORIES
                        .iter()
                        .find(|(code, _)| *code == d.category)
                        .map(|(_, label)| label.to_string())
                })
                .unwrap_or_else(|| d.category.clone())
        }),
        urgency: demand.map(|d| d.urgency),
        window: demand
            .map(|d| (d.window_start.clone(), d.window_end.clone()))
            .unwrap_or_default(),
        note: n.note.clone(),
        link,
    }
}

/// What payloads are made from, read in the fan-out's transaction.
mod context {
    use super::*;
    use crate::domain::demand::Demand;

    pub struct Context {
        pub order_demand: HashMap<Uuid, Uuid>,
        pub demands: HashMap<Uuid, Demand>,
        /// Names and labels, read only when a robot hears of something.
        pub labels: notifications::Labels,
    }

    impl Context {
        /// The demand a notification concerns: its subject, or its subject order's.
        pub fn demand_of(&self, n: &Claimed) -> Option<&Demand> {
            let id = match n.subject_kind.as_str() {
                "order" => self.order_demand.get(&n.subject).copied(),
                "demand" => Some(n.subject),
                _ => None,
            };
            id.and_then(|d| self.demands.get(&d))
        }

        pub async fn read(tx: &mut Tx<'_>, claimed: &[Claimed], robots: bool) -> Result<Self> {
            let of = |kind: &str| -> Vec<Uuid> {
                claimed
                    .iter()
                    .filter(|n| n.subject_kind == kind)
                    .map(|n| n.subject)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect()
            };
            let order_demand = notifications::demands_of_orders(tx, &of("order")).await?;
            let mut wanted: BTreeSet<Uuid> = of("demand").into_iter().collect();
            wanted.extend(order_demand.values().copied());
            let wanted: Vec<Uuid> = wanted.into_iter().collect();
            let demands: HashMap<Uuid, Demand> = demands::get_many(&mut **tx, &wanted)
                .await?
                .into_iter()
                .map(|d| (d.id, d))
                .collect();
            let labels = if robots {
                let streets: Vec<Uuid> = claimed
                    .iter()
                    .map(|n| n.street)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let grids: Vec<Uuid> = demands
                    .values()
                    .map(|d| d.grid_id)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                notifications::labels(tx, &streets, &grids).await?
            } else {
                notifications::Labels::default()
            };
            Ok(Context {
                order_demand,
                demands,
                labels,
            })
        }
    }
}

/// Who reads a feed, for its read marks: a volunteer or a unit as itself (whoever signs in
/// for it), anyone else by their token.
fn reader(caller: &Principal) -> String {
    match &caller.role {
        Role::Volunteer { volunteer, .. } => format!("volunteer:{volunteer}"),
        Role::Unit { unit, .. } => format!("unit:{unit}"),
        _ => format!("token:{}", caller.token_id),
    }
}

/// The caller's candidate identities (a volunteer and its resources, a unit's resources), or
/// none for staff.
async fn identities(core: &Core, caller: &Principal) -> Result<Vec<Uuid>> {
    let mut conn = core.db.read().acquire().await?;
    super::orders::identities(&mut conn, caller).await
}

/// The caller's feed: staff read their streets' notifications (the district every street's),
/// a volunteer or a unit those addressed to it. Newest first.
pub async fn list(
    core: &Core,
    caller: &Principal,
    q: ListNotifications,
) -> Result<Page<Notification>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let page = PageRequest {
        newest_first: true,
        ..page
    };
    read_feed(core, caller, q.unread.unwrap_or(false), &page).await
}

/// Up to `limit` notifications of the caller's feed after `after`, oldest first: what a
/// stream of the feed sends next.
pub async fn since(
    core: &Core,
    caller: &Principal,
    after: Uuid,
    limit: u32,
) -> Result<Vec<Notification>> {
    let page = PageRequest {
        after: Some(after),
        limit,
        newest_first: false,
    };
    Ok(read_feed(core, caller, false, &page).await?.items)
}

/// How many of the newest [`UNREAD_WINDOW`] notifications of the caller's feed it has not
/// marked read (a badge shows `UNREAD_WINDOW - 1` and more as "99+").
pub async fn unread(core: &Core, caller: &Principal) -> Result<i64> {
    let (db, reader) = (core.db.read(), reader(caller));
    match caller.staff_scope() {
        Some(scope) => {
            notifications::count_unread(db, Feed::Streets(&scope), &reader, UNREAD_WINDOW).await
        }
        None => {
            let mine = identities(core, caller).await?;
            notifications::count_unread(db, Feed::Candidates(&mine), &reader, UNREAD_WINDOW).await
        }
    }
}

/// How far back unread notifications are counted.
pub const UNREAD_WINDOW: i64 = 100;

/// A page of the caller's feed (with `unread_only`, of what it has not marked read).
async fn read_feed(
    core: &Core,
    caller: &Principal,
    unread_only: bool,
    page: &PageRequest,
) -> Result<Page<Notification>> {
    let (db, reader) = (core.db.read(), reader(caller));
    match caller.staff_scope() {
        Some(scope) => {
            notifications::feed(db, Feed::Streets(&scope), &reader, unread_only, page).await
        }
        None => {
            let mine = identities(core, caller).await?;
            notifications::feed(db, Feed::Candidates(&mine), &reader, unread_only, page).await
        }
    }
}

/// Marks notifications of the caller's feed read: `ids`, or with `through`, every one up to
/// it. An id not in the caller's feed is 404; marking one read again, or none, changes nothing.
pub async fn mark_read(
    core: &Core,
    caller: &Principal,
    ids: Vec<Uuid>,
    through: Option<Uuid>,
) -> Result<()> {
    let mut c = crate::domain::Check::new();
    c.ids("ids", &ids, crate::domain::rules::LINKED_IDS);
    c.finish()?;
    let scope = caller.staff_scope();
    let mine = match scope {
        Some(_) => vec![],
        None => identities(core, caller).await?,
    };
    let feed = || match &scope {
        Some(scope) => Feed::Streets(scope),
        None => Feed::Candidates(&mine),
    };
    for id in &ids {
        if !notifications::in_feed(core.db.read(), feed(), *id).await? {
            return Err(Error::NotFound("notification"));
        }
    }
    let (reader, at) = (reader(caller), core.now_ts());
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                notifications::mark_read(tx, &reader, &ids, &at).await?;
                if let Some(through) = through {
                    let feed = match &scope {
                        Some(scope) => Feed::Streets(scope),
                        None => Feed::Candidates(&mine),
                    };
                    notifications::mark_all_read(tx, feed, &reader, through, &at).await?;
                }
                Ok(())
            })
        })
        .await
}
