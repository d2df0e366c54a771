//! Webhook endpoints (a street's, a unit's or the district's), their delivery log, and the
//! sender's side of a delivery: claiming what is due and recording what came of it. Sending
//! itself is the edge's (it speaks HTTP); everything it decides is here.

use std::net::IpAddr;

use time::Duration;
use uuid::Uuid;

use super::Core;
use crate::{
    domain::{
        access::Principal,
        notification::{
            CreateEndpoint, Delivery, Endpoint, EndpointChannel, EndpointOwner, EndpointStatus,
            ListDeliveries, ListEndpoints, NotificationType, Outcome, Outgoing, RobotPost,
            UpdateEndpoint,
        },
        rules, webhook, wecom, Check,
    },
    store::{
        page::{Page, PageRequest},
        streets, units,
        webhooks::{self, Next, Owners, Stored},
    },
    Error, Result,
};

/// How webhooks are sent, as the operator configures them.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Which addresses an endpoint may point at.
    pub reach: webhook::Reach,
    /// How long an attempt may take, the receiver's answer included.
    pub timeout: std::time::Duration,
    /// How long a rotated-out secret still signs.
    pub rotation_overlap: Duration,
    /// Where people reach the console (`https://…`, no trailing slash): the links in a
    /// robot's messages. Robots cannot be registered without it.
    pub console_url: Option<String>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            reach: webhook::Reach::Public,
            timeout: std::time::Duration::from_secs(15),
            rotation_overlap: Duration::hours(24),
            console_url: None,
        }
    }
}

impl WebhookSettings {
    /// How long a claimed delivery is the claimant's before another host may try it: the
    /// attempt's timeout and a margin for recording what came of it.
    pub fn lease(&self) -> Duration {
        Duration::seconds(self.timeout.as_secs() as i64 * 2 + 30)
    }
}

/// Checks an endpoint's URL: `http` or `https`, a host, no credentials, and (when the host is
/// an address) one that `reach` allows. A name is checked again each time it is resolved.
pub fn check_url(c: &mut Check, url: &str, reach: webhook::Reach) -> String {
    let field = "url";
    let max = rules::WEBHOOK_URL.max;
    let url = url.trim();
    if url.is_empty() {
        c.push(field, "required", "the URL is required");
        return String::new();
    }
    if url.chars().count() > max {
        c.push(field, "too_long", format!("at most {max} characters"));
        return url.to_string();
    }
    if url.chars().any(char::is_control) {
        c.push(
            field,
            "invalid_url",
            "the URL may not contain control characters",
        );
        return url.to_string();
    }
    let parsed = match url::Url::parse(url) {
        Ok(u) => u,
        Err(e) => {
            c.push(field, "invalid_url", format!("not a URL: {e}"));
            return url.to_string();
        }
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        c.push(
            field,
            "invalid_url",
            "the URL's scheme must be https or http",
        );
    } else if !parsed.username().is_empty() || parsed.password().is_some() {
        c.push(
            field,
            "invalid_url",
            "the URL may not carry credentials; the signature authenticates each message",
        );
    } else if parsed.fragment().is_some() {
        c.push(field, "invalid_url", "the URL may not have a fragment");
    } else {
        let allowed = match parsed.host() {
            None => {
                c.push(field, "invalid_url", "the URL has no host");
                true
            }
            Some(url::Host::Ipv4(ip)) => webhook::address_allowed(IpAddr::V4(ip), reach),
            Some(url::Host::Ipv6(ip)) => webhook::address_allowed(IpAddr::V6(ip), reach),
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                let local = name == "localhost" || name.ends_with(".localhost");
                !local || reach == webhook::Reach::Local
            }
        };
        if !allowed {
            c.push(
                field,
                "address_not_allowed",
                "the URL points at this machine, a link-local or metadata address, or a private \
                 range the operator has not allowed",
            );
        }
    }
    parsed.to_string()
}

/// `types` without repeats, in their order.
pub(super) fn unique(types: Vec<NotificationType>) -> Vec<NotificationType> {
    let mut out: Vec<NotificationType> = vec![];
    for t in types {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// The endpoint `id` if the caller manages its owner's endpoints; 404 otherwise, as for one
/// that does not exist.
async fn managed(core: &Core, caller: &Principal, id: Uuid) -> Result<Stored> {
    let stored = webhooks::get(core.db.read(), id).await?;
    let e = &stored.endpoint;
    if !caller.manages_endpoints_of(e.owner, e.owner_id) {
        return Err(Error::NotFound("endpoint"));
    }
    Ok(stored)
}

/// Registers an endpoint; the answer carries its secret, shown this once.
pub async fn create_endpoint(
    core: &Core,
    caller: &Principal,
    body: CreateEndpoint,
) -> Result<Endpoint> {
    let mut c = Check::new();
    match (body.owner, body.owner_id) {
        (EndpointOwner::District, Some(_)) => c.push(
            "owner_id",
            "not_allowed",
            "the district's endpoints have no owner_id",
        ),
        (EndpointOwner::Street | EndpointOwner::Unit, None) => c.push(
            "owner_id",
            "required",
            "the street's or the unit's id is required",
        ),
        _ => {}
    }
    let channel = body.channel.unwrap_or(EndpointChannel::Webhook);
    let url = check_url(&mut c, &body.url, core.webhooks.reach);
    if channel == EndpointChannel::Wecom {
        wecom::check_robot_url(&mut c, &url);
    }
    if body.grid_id.is_some()
        && (channel != EndpointChannel::Wecom || body.owner != EndpointOwner::Street)
    {
        c.push(
            "grid_id",
            "not_allowed",
            "only a street's WeCom robot belongs to one grid's group",
        );
    }
    let description = c
        .opt_text("description", body.description.as_deref(), rules::COMMENT)
        .unwrap_or_default();
    c.items("event_types", body.event_types.len(), rules::EVENT_TYPES);
    c.finish()?;
    if !caller.manages_endpoints_of(body.owner, body.owner_id) {
        return Err(Error::forbidden(
            "endpoints are registered by the district, a street's admins for the street, or a unit for itself",
        ));
    }
    match (body.owner, body.owner_id) {
        (EndpointOwner::Street, Some(street)) => {
            streets::require(core.db.read(), street).await?;
            if let Some(grid) = body.grid_id {
                if streets::grid_street(core.db.read(), grid).await? != Some(street) {
                    return Err(Error::field(
                        "grid_id",
                        "unknown_reference",
                        "the street has no grid with this id",
                    ));
                }
            }
        }
        (EndpointOwner::Unit, Some(unit)) => {
            units::get(core.db.read(), unit).await?;
        }
        _ => {}
    }
    if channel == EndpointChannel::Wecom && core.webhooks.console_url.is_none() {
        return Err(Error::conflict(
            "public_url_not_set",
            "a robot's messages link to the console, and the operator has not set public_url, the console's address",
        ));
    }
    let now = core.now_ts();
    let secret = match channel {
        EndpointChannel::Webhook => webhook::new_secret(),
        EndpointChannel::Wecom => String::new(),
    };
    let endpoint = Endpoint {
        id: Uuid::now_v7(),
        owner: body.owner,
        owner_id: body.owner_id,
        channel,
        grid_id: body.grid_id,
        url: channel.shown_url(&url),
        description,
        event_types: unique(body.event_types),
        status: EndpointStatus::Enabled,
        disabled_reason: None,
        previous_secret_until: None,
        secret: None,
        created_at: now.clone(),
        updated_at: now,
    };
    let (stored, by, kept) = (
        endpoint.clone(),
        caller.token_id.to_string(),
        secret.clone(),
    );
    core.db
        .transact(move |tx| {
            Box::pin(async move { webhooks::insert(tx, &stored, &url, &kept, &by).await })
        })
        .await?;
    Ok(Endpoint {
        secret: (channel == EndpointChannel::Webhook).then_some(secret),
        ..endpoint
    })
}

/// The endpoints the caller manages, oldest first.
pub async fn list_endpoints(
    core: &Core,
    caller: &Principal,
    q: ListEndpoints,
) -> Result<Page<Endpoint>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mine = caller.endpoint_owners();
    let owners = match &mine {
        None => Owners::All,
        Some(mine) => Owners::These(mine),
    };
    webhooks::list(core.db.read(), owners, q.owner, q.owner_id, &page).await
}

pub async fn get_endpoint(core: &Core, caller: &Principal, id: Uuid) -> Result<Endpoint> {
    Ok(managed(core, caller, id).await?.endpoint)
}

/// Changes an endpoint's URL, description, event types or status; enabling it again (after a
/// 410) clears why it was disabled.
pub async fn update_endpoint(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: UpdateEndpoint,
) -> Result<Endpoint> {
    let mut e = managed(core, caller, id).await?.endpoint;
    let mut c = Check::new();
    let mut new_url = None;
    if let Some(url) = &body.url {
        let url = check_url(&mut c, url, core.webhooks.reach);
        if e.channel == EndpointChannel::Wecom {
            wecom::check_robot_url(&mut c, &url);
        }
        e.url = e.channel.shown_url(&url);
        new_url = Some(url);
    }
    if let Some(types) = &body.event_types {
        c.items("event_types", types.len(), rules::EVENT_TYPES);
    }
    if let Some(d) = &body.description {
        e.description = c
            .opt_text("description", Some(d), rules::COMMENT)
            .unwrap_or_default();
    }
    c.finish()?;
    if let Some(types) = body.event_types {
        e.event_types = unique(types);
    }
    if let Some(status) = body.status {
        if status != e.status {
            e.disabled_reason = match status {
                EndpointStatus::Enabled => None,
                EndpointStatus::Disabled => Some("disabled by its owner".into()),
            };
        }
        e.status = status;
    }
    e.updated_at = core.now_ts();
    let stored = e.clone();
    core.db
        .transact(move |tx| {
            Box::pin(async move { webhooks::update(tx, &stored, new_url.as_deref()).await })
        })
        .await?;
    Ok(e)
}

pub async fn delete_endpoint(core: &Core, caller: &Principal, id: Uuid) -> Result<()> {
    managed(core, caller, id).await?;
    core.db
        .transact(move |tx| Box::pin(async move { webhooks::delete(tx, id).await }))
        .await
}

/// Gives an endpoint a new secret, shown this once; the one it had also signs until the
/// rotation's overlap is over, so a receiver can switch without losing a message.
pub async fn rotate_secret(core: &Core, caller: &Principal, id: Uuid) -> Result<Endpoint> {
    if managed(core, caller, id).await?.endpoint.channel == EndpointChannel::Wecom {
        return Err(Error::conflict(
            "not_signed",
            "a WeCom robot's messages are not signed; its key is in its address",
        ));
    }
    let secret = webhook::new_secret();
    let now = core.now();
    let (at, until) = (
        crate::domain::format_ts(now),
        crate::domain::format_ts(now + core.webhooks.rotation_overlap),
    );
    let kept = secret.clone();
    core.db
        .transact(move |tx| {
            Box::pin(async move { webhooks::rotate(tx, id, &kept, &until, &at).await })
        })
        .await?;
    let mut e = webhooks::get(core.db.write(), id).await?.endpoint;
    e.secret = Some(secret);
    Ok(e)
}

/// An endpoint's deliveries, newest first, each with its latest attempts.
pub async fn list_deliveries(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    q: ListDeliveries,
) -> Result<Page<Delivery>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    managed(core, caller, id).await?;
    webhooks::deliveries(core.db.read(), id, q.status, &page).await
}

pub async fn get_delivery(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    delivery: Uuid,
) -> Result<Delivery> {
    managed(core, caller, id).await?;
    webhooks::delivery(core.db.read(), id, delivery).await
}

/// Sends a delivery again, its schedule from the start (409 while it is still pending; 409
/// while the endpoint is disabled).
pub async fn redeliver(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    delivery: Uuid,
) -> Result<Delivery> {
    let e = managed(core, caller, id).await?.endpoint;
    webhooks::delivery(core.db.read(), id, delivery).await?;
    if e.status == EndpointStatus::Disabled {
        return Err(Error::conflict(
            "endpoint_disabled",
            "the endpoint is disabled; enable it first",
        ));
    }
    let now = core.now_ts();
    let moved = core
        .db
        .transact(move |tx| {
            Box::pin(async move { webhooks::redeliver(tx, id, delivery, &now).await })
        })
        .await?;
    if !moved {
        return Err(Error::conflict(
            "delivery_pending",
            "the delivery is still being tried",
        ));
    }
    webhooks::delivery(core.db.write(), id, delivery).await
}

/// The most deliveries claimed at once.
const CLAIM_BATCH: i64 = 50;

/// Claims the deliveries due now (see `store::webhooks::claim_due`), with the keys each is
/// signed with.
pub async fn claim_due(core: &Core) -> Result<Vec<Outgoing>> {
    let now = core.now();
    let (at, lease_until) = (
        crate::domain::format_ts(now),
        crate::domain::format_ts(now + core.webhooks.lease()),
    );
    let due = core
        .db
        .transact(move |tx| {
            Box::pin(async move { webhooks::claim_due(tx, &at, &lease_until, CLAIM_BATCH).await })
        })
        .await?;
    let now_ts = crate::domain::format_ts(now);
    Ok(due
        .into_iter()
        .map(|d| {
            let mut keys = vec![];
            keys.extend(webhook::secret_key(&d.secret));
            if let (Some(previous), Some(until)) = (&d.previous_secret, &d.previous_until) {
                if until.as_str() > now_ts.as_str() {
                    keys.extend(webhook::secret_key(previous));
                }
            }
            Outgoing {
                delivery: d.delivery,
                endpoint: d.endpoint,
                notification: d.notification,
                url: d.url,
                keys,
                body: d.body,
                attempt: d.attempt,
            }
        })
        .collect())
}

/// Records what came of an attempt: delivered; tried again on the schedule (a receiver's
/// `Retry-After` honoured); failed after the last attempt; or, on 410 Gone, the endpoint
/// disabled and its pending deliveries failed.
pub async fn record(core: &Core, out: &Outgoing, outcome: Outcome, jitter: f64) -> Result<()> {
    record_carried(
        core,
        out.endpoint,
        &[(out.delivery, out.attempt)],
        outcome,
        jitter,
    )
    .await
}

/// Records what came of a post to a robot for every delivery it carried, as [`record`] does
/// for one.
pub async fn record_robot(
    core: &Core,
    post: &RobotPost,
    outcome: Outcome,
    jitter: f64,
) -> Result<()> {
    record_carried(core, post.endpoint, &post.carries, outcome, jitter).await
}

async fn record_carried(
    core: &Core,
    endpoint: Uuid,
    carries: &[(Uuid, i64)],
    outcome: Outcome,
    jitter: f64,
) -> Result<()> {
    let now = core.now();
    let at = crate::domain::format_ts(now);
    let gone = outcome.gone();
    let next_of = |attempt: i64| {
        if outcome.delivered() {
            Next::Delivered
        } else if gone {
            Next::Failed
        } else {
            let attempts = u32::try_from(attempt).unwrap_or(u32::MAX);
            match webhook::next_attempt_in(attempts, jitter, outcome.asked_after()) {
                Some(secs) => {
                    Next::RetryAt(crate::domain::format_ts(now + Duration::seconds(secs)))
                }
                None => Next::Failed,
            }
        }
    };
    let items: Vec<(Uuid, i64, Next)> = carries
        .iter()
        .map(|&(delivery, attempt)| (delivery, attempt, next_of(attempt)))
        .collect();
    let counted: Vec<&'static str> = items
        .iter()
        .map(|(_, _, next)| match next {
            Next::Delivered => "delivered",
            Next::Failed if gone => "gone",
            Next::Failed => "failed",
            Next::RetryAt(_) => "retry",
        })
        .collect();
    let recorded = core
        .db
        .transact(move |tx| {
            Box::pin(async move {
                let mut recorded = Vec::with_capacity(items.len());
                for (delivery, attempt, next) in &items {
                    recorded.push(
                        webhooks::record_attempt(tx, *delivery, *attempt, &at, &outcome, next)
                            .await?,
                    );
                }
                if gone && recorded.iter().any(|r| *r) {
                    let why = match outcome.status_code {
                        Some(410) => "the receiver answered 410 Gone",
                        _ => "the receiver said it is no more",
                    };
                    webhooks::disable(tx, endpoint, why, &at).await?;
                }
                Ok(recorded)
            })
        })
        .await?;
    for ((done, counted), (delivery, attempt)) in recorded.iter().zip(counted).zip(carries) {
        if *done {
            core.telemetry.webhook_attempt(counted);
        } else {
            tracing::debug!(%delivery, attempt, "an attempt's lease ran out before it was recorded");
        }
    }
    Ok(())
}

/// The most of one robot's due deliveries claimed at once (beyond its budget they are folded
/// into one summary).
const ROBOT_BATCH: i64 = 500;

/// Claims what robots are due to be sent now, within each robot's limit of
/// [`wecom::PER_MINUTE`] messages in any minute: while its deliveries fit in what the last
/// minute left, each is its own message; when they do not, all but one of the messages left
/// carry one delivery each and the last is a summary carrying the rest. A robot with nothing
/// left of its minute is left until it has. The budget is counted and spent under the robot's
/// row lock, in the transaction that claims the deliveries.
pub async fn claim_robots(core: &Core) -> Result<Vec<RobotPost>> {
    let now = core.now();
    let (at, lease_until, window, forget) = (
        crate::domain::format_ts(now),
        crate::domain::format_ts(now + core.webhooks.lease()),
        crate::domain::format_ts(now - Duration::minutes(1) + Duration::milliseconds(1)),
        crate::domain::format_ts(now - Duration::hours(1)),
    );
    let console = core.webhooks.console_url.clone();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                let robots = webhooks::robots_due(tx, &at).await?;
                if robots.is_empty() {
                    return Ok(vec![]);
                }
                webhooks::forget_robot_messages(tx, &forget).await?;
                let mut posts = vec![];
                for id in robots {
                    let Some(robot) = webhooks::lock_robot(tx, id).await? else {
                        continue;
                    };
                    let left =
                        wecom::PER_MINUTE - webhooks::robot_sent_since(tx, id, &window).await?;
                    if left <= 0 {
                        continue;
                    }
                    let due = webhooks::claim_robot(tx, id, &at, &lease_until, ROBOT_BATCH).await?;
                    let singles = if due.len() as i64 <= left {
                        due.len()
                    } else {
                        (left - 1) as usize
                    };
                    for d in &due[..singles] {
                        webhooks::robot_sent(tx, id, &at, 1).await?;
                        posts.push(RobotPost {
                            endpoint: id,
                            url: robot.url.clone(),
                            body: d.body.clone(),
                            carries: vec![(d.delivery, d.attempt)],
                        });
                    }
                    let rest = &due[singles..];
                    if !rest.is_empty() {
                        let mut counts: Vec<(NotificationType, usize)> = vec![];
                        for d in rest {
                            match counts.iter_mut().find(|(k, _)| *k == d.kind) {
                                Some((_, n)) => *n += 1,
                                None => counts.push((d.kind, 1)),
                            }
                        }
                        let link = console
                            .as_deref()
                            .map(|base| robot_summary_link(base, &robot.endpoint));
                        webhooks::robot_sent(tx, id, &at, rest.len()).await?;
                        posts.push(RobotPost {
                            endpoint: id,
                            url: robot.url.clone(),
                            body: wecom::body(&wecom::summary(&counts, link.as_deref())),
                            carries: rest.iter().map(|d| (d.delivery, d.attempt)).collect(),
                        });
                    }
                }
                Ok(posts)
            })
        })
        .await
}

/// Where a robot's summary links: the street's demands for a street's robot, the district's
/// view for the district's, the orders for a unit's.
fn robot_summary_link(base: &str, e: &Endpoint) -> String {
    match e.owner {
        EndpointOwner::Street => format!("{base}/console/demands"),
        EndpointOwner::District => format!("{base}/console/district"),
        EndpointOwner::Unit => format!("{base}/console/orders"),
    }
}

/// Undelivered deliveries by status, and the age in seconds of the oldest undelivered
/// notification or delivery, for the metrics.
pub async fn backlog(core: &Core) -> Result<Backlog> {
    let (counts, oldest_delivery) = webhooks::delivery_counts(core.db.read()).await?;
    let (waiting, oldest_notification) =
        crate::store::notifications::backlog(core.db.read()).await?;
    let now = core.now();
    let age = |t: Option<String>| {
        t.as_deref()
            .and_then(crate::domain::parse_instant)
            .map(|t| (now - t).as_seconds_f64().max(0.0))
            .unwrap_or(0.0)
    };
    Ok(Backlog {
        deliveries: counts.into_iter().map(|(s, n)| (s.as_str(), n)).collect(),
        waiting_fan_out: waiting,
        oldest_undelivered_seconds: age(oldest_delivery).max(age(oldest_notification)),
    })
}

/// What the metrics show of notifications.
#[derive(Debug, Clone)]
pub struct Backlog {
    pub deliveries: Vec<(&'static str, i64)>,
    pub waiting_fan_out: i64,
    pub oldest_undelivered_seconds: f64,
}
