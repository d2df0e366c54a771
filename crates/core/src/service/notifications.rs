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
        access::ListScope,
        access::{Principal, Role},
        demand::shown_to,
        notification::{
            DeliveryMode, Digest, EndpointChannel, EndpointOwner, FeedItem, ListDigests,
            ListNotifications, Notification, NotificationType, Preferences, PutPreferences,
            RecipientKind,
        },
        rules, wecom, DEFAULT_CATEGORIES,
    },
    store::{
        demands,
        notifications::{self, Claimed, Feed, StoredPreferences},
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
/// grid's robot) it concerns a demand of that grid. The same rule, but for the grid, decides
/// in SQL as a notification is written whether it waits to be fanned out at all
/// (`store::notifications`, `notification_row`): change the two together.
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

/// Who reads a feed, for its read marks and preferences: a volunteer or a unit as itself
/// (whoever signs in for it), anyone else by their token.
fn reader(caller: &Principal) -> String {
    match &caller.role {
        Role::Volunteer { volunteer, .. } => format!("volunteer:{volunteer}"),
        Role::Unit { unit, .. } => format!("unit:{unit}"),
        _ => format!("token:{}", caller.token_id),
    }
}

/// Whose notifications a caller's feed holds: staff their streets' (the district every
/// street's), a volunteer or a unit those addressed to its candidate identities.
enum Whose {
    Streets(ListScope),
    Candidates(Vec<Uuid>),
}

impl Whose {
    async fn of(core: &Core, caller: &Principal) -> Result<Whose> {
        match caller.staff_scope() {
            Some(scope) => Ok(Whose::Streets(scope)),
            None => {
                let mut conn = core.db.read().acquire().await?;
                Ok(Whose::Candidates(
                    super::orders::identities(&mut conn, caller).await?,
                ))
            }
        }
    }

    fn feed(&self) -> Feed<'_> {
        match self {
            Whose::Streets(scope) => Feed::Streets(scope),
            Whose::Candidates(mine) => Feed::Candidates(mine),
        }
    }
}

/// The caller's preferences as stored (the defaults until they set some).
async fn stored_preferences(core: &Core, caller: &Principal) -> Result<StoredPreferences> {
    Ok(notifications::preferences(core.db.read(), &reader(caller))
        .await?
        .unwrap_or(StoredPreferences {
            preferences: Preferences::default(),
            digest_from: None,
        }))
}

/// The caller's feed: staff read their streets' notifications (the district every street's),
/// a volunteer or a unit those addressed to it; only the types they chose. Newest first.
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
    let types = stored_preferences(core, caller)
        .await?
        .preferences
        .event_types;
    read_feed(core, caller, &types, q.unread.unwrap_or(false), &page).await
}

/// What a stream of the caller's feed sends next, after `after`, oldest first, at most
/// `limit`: their notifications as they come, or (for a daily digest) their digests, the one
/// due now made first.
pub async fn stream_since(
    core: &Core,
    caller: &Principal,
    after: Uuid,
    limit: u32,
) -> Result<Vec<FeedItem>> {
    let stored = stored_preferences(core, caller).await?;
    let page = PageRequest {
        after: Some(after),
        limit,
        newest_first: false,
    };
    match stored.preferences.delivery {
        DeliveryMode::Immediate => {
            Ok(
                read_feed(core, caller, &stored.preferences.event_types, false, &page)
                    .await?
                    .items
                    .into_iter()
                    .map(FeedItem::Notification)
                    .collect(),
            )
        }
        DeliveryMode::DailyDigest => {
            make_due_digest(core, caller, &stored).await?;
            Ok(
                notifications::digests(core.db.read(), &reader(caller), &page)
                    .await?
                    .items
                    .into_iter()
                    .map(FeedItem::Digest)
                    .collect(),
            )
        }
    }
}

/// A page of the caller's feed (with `unread_only`, of what it has not marked read).
async fn read_feed(
    core: &Core,
    caller: &Principal,
    types: &[NotificationType],
    unread_only: bool,
    page: &PageRequest,
) -> Result<Page<Notification>> {
    let whose = Whose::of(core, caller).await?;
    let (db, reader) = (core.db.read(), reader(caller));
    notifications::feed(db, whose.feed(), types, &reader, unread_only, page).await
}

/// How many of the newest [`UNREAD_WINDOW`] notifications of the caller's feed (of the types
/// they chose) it has not marked read (a badge shows `UNREAD_WINDOW - 1` and more as "99+").
/// None for a reader of a daily digest, who is not told one by one.
pub async fn unread(core: &Core, caller: &Principal) -> Result<i64> {
    let stored = stored_preferences(core, caller).await?;
    if stored.preferences.delivery == DeliveryMode::DailyDigest {
        return Ok(0);
    }
    let whose = Whose::of(core, caller).await?;
    notifications::count_unread(
        core.db.read(),
        whose.feed(),
        &stored.preferences.event_types,
        &reader(caller),
        UNREAD_WINDOW,
    )
    .await
}

/// How far back unread notifications are counted.
pub const UNREAD_WINDOW: i64 = 100;

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
    let whose = Whose::of(core, caller).await?;
    for id in &ids {
        if !notifications::in_feed(core.db.read(), whose.feed(), *id).await? {
            return Err(Error::NotFound("notification"));
        }
    }
    let (reader, at) = (reader(caller), core.now_ts());
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                notifications::mark_read(tx, &reader, &ids, &at).await?;
                if let Some(through) = through {
                    notifications::mark_all_read(tx, whose.feed(), &reader, through, &at).await?;
                }
                Ok(())
            })
        })
        .await
}

/// The caller's preferences (the defaults until they set some).
pub async fn preferences(core: &Core, caller: &Principal) -> Result<Preferences> {
    Ok(stored_preferences(core, caller).await?.preferences)
}

/// Sets what the caller hears of and how; what the body leaves out keeps its value. Choosing
/// a daily digest starts the first one now.
pub async fn put_preferences(
    core: &Core,
    caller: &Principal,
    body: PutPreferences,
) -> Result<Preferences> {
    let mut c = crate::domain::Check::new();
    if let Some(types) = &body.event_types {
        c.items("event_types", types.len(), rules::EVENT_TYPES);
    }
    if let Some(hour) = body.digest_hour {
        c.range_i64("digest_hour", hour, rules::DIGEST_HOUR);
    }
    c.finish()?;
    let old = stored_preferences(core, caller).await?;
    let mut new = old.preferences.clone();
    if let Some(types) = body.event_types {
        new.event_types = super::webhooks::unique(types);
    }
    if let Some(delivery) = body.delivery {
        new.delivery = delivery;
    }
    if let Some(hour) = body.digest_hour {
        new.digest_hour = hour;
    }
    let now = core.now_ts();
    let digest_from = match (old.preferences.delivery, new.delivery) {
        (_, DeliveryMode::Immediate) => None,
        (DeliveryMode::DailyDigest, DeliveryMode::DailyDigest) => {
            Some(old.digest_from.unwrap_or_else(|| now.clone()))
        }
        (DeliveryMode::Immediate, DeliveryMode::DailyDigest) => Some(now.clone()),
    };
    let (reader, stored) = (reader(caller), new.clone());
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                notifications::put_preferences(tx, &reader, &stored, digest_from.as_deref(), &now)
                    .await
            })
        })
        .await?;
    Ok(new)
}

/// The caller's daily digests, newest first (the one due now made first).
pub async fn digests(core: &Core, caller: &Principal, q: ListDigests) -> Result<Page<Digest>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let page = PageRequest {
        newest_first: true,
        ..page
    };
    let stored = stored_preferences(core, caller).await?;
    make_due_digest(core, caller, &stored).await?;
    notifications::digests(core.db.read(), &reader(caller), &page).await
}

/// The last instant at or before `now` that is `hour`:00 local time.
fn last_digest_time(now: time::OffsetDateTime, hour: i64) -> time::OffsetDateTime {
    let local = now.to_offset(crate::domain::LOCAL_OFFSET);
    let hour = u8::try_from(hour.clamp(0, 23)).unwrap_or(0);
    let at = local.replace_time(time::Time::from_hms(hour, 0, 0).expect("an hour of the day"));
    if at <= local {
        at
    } else {
        at - time::Duration::days(1)
    }
}

/// Makes the caller's digest when one is due: its hour has come since the last one (or since
/// they chose digests). One digest covers everything since, however many days that is.
async fn make_due_digest(
    core: &Core,
    caller: &Principal,
    stored: &StoredPreferences,
) -> Result<()> {
    let p = &stored.preferences;
    let (DeliveryMode::DailyDigest, Some(from)) = (p.delivery, &stored.digest_from) else {
        return Ok(());
    };
    let now = core.now();
    let due = crate::domain::format_ts(last_digest_time(now, p.digest_hour));
    if from.as_str() >= due.as_str() {
        return Ok(());
    }
    let whose = Whose::of(core, caller).await?;
    let counts =
        notifications::count_by_type(core.db.read(), whose.feed(), &p.event_types, from, &due)
            .await?;
    let (reader, from, at) = (reader(caller), from.clone(), crate::domain::format_ts(now));
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                notifications::make_digest(tx, &reader, &from, &due, &counts, &at).await
            })
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::last_digest_time;
    use time::macros::datetime;

    #[test]
    fn a_digest_is_due_at_its_local_hour() {
        // 08:00 in UTC+8 is 00:00 UTC.
        assert_eq!(
            last_digest_time(datetime!(2026-12-06 01:30 UTC), 8),
            datetime!(2026-12-06 00:00 UTC)
        );
        assert_eq!(
            last_digest_time(datetime!(2026-12-05 23:59 UTC), 8),
            datetime!(2026-12-05 00:00 UTC)
        );
        assert_eq!(
            last_digest_time(datetime!(2026-12-06 00:00 UTC), 8),
            datetime!(2026-12-06 00:00 UTC)
        );
        // 20:00 local is 12:00 UTC.
        assert_eq!(
            last_digest_time(datetime!(2026-12-06 11:00 UTC), 20),
            datetime!(2026-12-05 12:00 UTC)
        );
    }
}
