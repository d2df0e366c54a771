//! Notifications: what someone must hear of, and the webhook endpoints that hear of it.
//!
//! A notification is written in the transaction of the event it tells of (the outbox), to a
//! street (its staff, its endpoints and the district's) or to one candidate (a volunteer, or a
//! resource and so its owner). A worker fans each one out to the endpoints whose owner may see
//! it and that subscribe to its type; a sender delivers each delivery at least once, signed
//! as the Standard Webhooks convention says (see [`super::webhook`]).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::str_enum;

str_enum!(
    /// What a notification tells of.
    NotificationType {
        /// A demand was filed (to the street).
        DemandFiled => "demand.filed",
        /// An order was offered (to the street, and to each candidate offered it).
        OrderOffered => "order.offered",
        /// An open offer closed without its candidate's answer: another candidate took the
        /// order, the order was cancelled, or the time to answer ran out (to that candidate).
        OfferWithdrawn => "order.offer_withdrawn",
        /// A candidate accepted an order (to the street).
        OrderAccepted => "order.accepted",
        /// An order ran out of candidates (to the street).
        OrderUnassigned => "order.unassigned",
        /// An order was cancelled (to the street, and to its assignee).
        OrderCancelled => "order.cancelled",
        /// An order was not completed by its deadline (to the street, and to its assignee).
        OrderOverdue => "order.overdue",
        /// A demand was escalated (吹哨) to the street's admins and the district (to the
        /// street).
        DemandEscalated => "demand.escalated",
        /// An order was completed (to the street).
        OrderCompleted => "order.completed",
        /// A resident rated a service 2 or less (to the street).
        OrderRatedLow => "order.rated_low",
        /// A street's plugin version was quarantined after repeated faults (to the street).
        PluginQuarantined => "plugin.quarantined",
    }
);

str_enum!(
    /// Whom a notification is addressed to.
    RecipientKind {
        Street => "street",
        Volunteer => "volunteer",
        Resource => "resource",
    }
);

str_enum!(
    /// Who owns a webhook endpoint, and so which notifications it may hear of: the district
    /// every street's, a street its own, a unit those addressed to its resources.
    EndpointOwner {
        District => "district",
        Street => "street",
        Unit => "unit",
    }
);

str_enum!(
    /// How an endpoint is spoken to: a signed JSON payload (the Standard Webhooks convention),
    /// or a markdown message to a WeCom group robot (see [`super::wecom`]).
    EndpointChannel {
        Webhook => "webhook",
        Wecom => "wecom",
    }
);

impl EndpointChannel {
    /// An endpoint's address as answers show it: a robot's key masked (see
    /// [`masked_url`]), a webhook's as it is.
    pub fn shown_url(self, url: &str) -> String {
        match self {
            EndpointChannel::Webhook => url.to_string(),
            EndpointChannel::Wecom => masked_url(url),
        }
    }
}

/// A robot's address as it is shown: its key's first four characters, the rest masked.
fn masked_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_string();
    };
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(n, v)| {
            let v = if n == "key" {
                let shown: String = v.chars().take(4).collect();
                format!("{shown}****")
            } else {
                v.into_owned()
            };
            (n.into_owned(), v)
        })
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    parsed.to_string()
}

str_enum!(
    /// Whether an endpoint is sent messages: a receiver answering 410 Gone disables it.
    EndpointStatus {
        Enabled => "enabled",
        Disabled => "disabled",
    }
);

str_enum!(
    /// Where one message to one endpoint stands.
    DeliveryStatus {
        /// Not yet delivered: due at `next_attempt_at`.
        Pending => "pending",
        /// The receiver answered 2xx.
        Delivered => "delivered",
        /// Every attempt of the schedule failed, or the endpoint was disabled.
        Failed => "failed",
    }
);

str_enum!(
    /// How a person hears of their notifications: each at once (the stream sends it as it
    /// comes), or a daily digest at a local hour (the stream sends the digest instead).
    DeliveryMode {
        Immediate => "immediate",
        DailyDigest => "daily_digest",
    }
);

/// What a person wants to hear of, and how. Their feed lists only the types chosen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Preferences {
    /// The types they hear of; empty for all.
    pub event_types: Vec<NotificationType>,
    pub delivery: DeliveryMode,
    /// For a daily digest: the hour of the day it is made, local time (UTC+8), 0 to 23.
    pub digest_hour: i64,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            event_types: vec![],
            delivery: DeliveryMode::Immediate,
            digest_hour: 8,
        }
    }
}

/// New preferences: what is absent keeps its value.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PutPreferences {
    /// The types to hear of; empty for all.
    pub event_types: Option<Vec<NotificationType>>,
    pub delivery: Option<DeliveryMode>,
    /// 0 to 23, local time.
    pub digest_hour: Option<i64>,
}

/// How many notifications of one type a digest stands for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct DigestCount {
    #[serde(rename = "type")]
    pub kind: NotificationType,
    pub count: i64,
}

/// A daily digest: what a person's feed received in a day, by type.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Digest {
    pub id: Uuid,
    /// The period it covers: after `since`, up to and including `until`.
    pub since: String,
    pub until: String,
    pub counts: Vec<DigestCount>,
    pub total: i64,
    pub at: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", into_params(parameter_in = Query))]
pub struct ListDigests {
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

/// What a stream of a person's feed sends: a notification, or (for a daily digest) a digest.
#[derive(Debug, Clone)]
pub enum FeedItem {
    Notification(Notification),
    Digest(Digest),
}

impl FeedItem {
    /// Its id: time-ordered, as a stream's cursor.
    pub fn id(&self) -> Uuid {
        match self {
            FeedItem::Notification(n) => n.id,
            FeedItem::Digest(d) => d.id,
        }
    }
}

/// An entry of a person's feed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Notification {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: NotificationType,
    pub street_id: Uuid,
    /// `demand`, `order` or `plugin`.
    pub subject_kind: String,
    pub subject_id: Uuid,
    /// The demand it concerns: the subject, or the subject order's demand.
    pub demand_id: Option<Uuid>,
    pub note: Option<String>,
    pub at: String,
    /// Whether the reader marked it read.
    pub read: bool,
}

/// A webhook endpoint. Its secret is shown only in the answer that creates it or rotates it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Endpoint {
    pub id: Uuid,
    pub owner: EndpointOwner,
    /// The street or the unit; absent for the district.
    pub owner_id: Option<Uuid>,
    pub channel: EndpointChannel,
    /// A street's robot for one grid's group: only what concerns that grid's demands.
    pub grid_id: Option<Uuid>,
    /// The address. A robot's key is shown masked (its first four characters).
    pub url: String,
    pub description: String,
    /// The types it hears of; empty for all.
    pub event_types: Vec<NotificationType>,
    pub status: EndpointStatus,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// During a rotation: until when the previous secret also signs.
    pub previous_secret_until: Option<String>,
    /// The signing secret (`whsec_…`): only in the answer that creates it or rotates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    pub owner: EndpointOwner,
    /// The street or the unit; absent for the district.
    pub owner_id: Option<Uuid>,
    /// `webhook` (the default) or `wecom`, a WeCom group robot.
    #[serde(default)]
    pub channel: Option<EndpointChannel>,
    /// For a street's robot: the grid whose group it is (only that grid's demands).
    #[serde(default)]
    pub grid_id: Option<Uuid>,
    /// `https://` or `http://`, without credentials. It may not point at this service's
    /// machine, at link-local or metadata addresses, nor (unless the operator allows them) at
    /// private ranges. A robot's is the address WeCom gave it, with its `key`.
    pub url: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The types it hears of; empty or absent for all.
    #[serde(default)]
    pub event_types: Vec<NotificationType>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<NotificationType>>,
    /// `enabled` sends it messages again (a receiver back after a 410); `disabled` stops.
    pub status: Option<EndpointStatus>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", into_params(parameter_in = Query))]
pub struct ListEndpoints {
    /// Only the endpoints of this kind of owner.
    pub owner: Option<EndpointOwner>,
    /// Only the endpoints of this street or unit.
    pub owner_id: Option<Uuid>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

/// One message to one endpoint, with its latest attempts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    /// The message's id (`webhook-id` is `msg_` and its hex digits): the same on every
    /// attempt, so a receiver can tell a retry.
    pub notification_id: Uuid,
    #[serde(rename = "type")]
    pub kind: NotificationType,
    pub status: DeliveryStatus,
    pub attempts: i64,
    /// When it is next tried (pending only).
    pub next_attempt_at: Option<String>,
    /// The HTTP status of the last answer.
    pub last_status: Option<i64>,
    /// Why the last attempt got no answer.
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
    /// The latest attempts, newest first (at most 5).
    pub recent_attempts: Vec<Attempt>,
}

/// One attempt at a delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Attempt {
    pub attempt: i64,
    pub at: String,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    /// The start of the receiver's answer (at most 1,000 characters).
    pub response: Option<String>,
    pub duration_ms: i64,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", into_params(parameter_in = Query))]
pub struct ListDeliveries {
    pub status: Option<DeliveryStatus>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", into_params(parameter_in = Query))]
pub struct ListNotifications {
    /// Only those not yet marked read.
    pub unread: Option<bool>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

/// A message as it is due to go out: what the sender needs, read when it was claimed.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub delivery: Uuid,
    pub endpoint: Uuid,
    pub notification: Uuid,
    pub url: String,
    /// The keys that sign it: the secret's, and the previous one's during a rotation.
    pub keys: Vec<Vec<u8>>,
    pub body: String,
    /// The attempt this is (1 for the first).
    pub attempt: i64,
}

/// A message to a robot as it is due to go out: one delivery's own message, or a summary
/// standing for several.
#[derive(Debug, Clone)]
pub struct RobotPost {
    pub endpoint: Uuid,
    pub url: String,
    pub body: String,
    /// The deliveries it carries, each with the attempt this is.
    pub carries: Vec<(Uuid, i64)>,
}

/// A receiver that answered 2xx but said, in its body, that it did not take the message (a
/// WeCom robot answers 200 with an error code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Try again on the schedule.
    Retry,
    /// Try again in this many seconds.
    Later(i64),
    /// The endpoint is no more, as 410 Gone says.
    Gone,
}

/// What became of one attempt.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub response: Option<String>,
    /// What a `Retry-After` header asked, in seconds.
    pub retry_after: Option<i64>,
    pub duration_ms: i64,
    /// What the answer's body said against its status.
    pub refusal: Option<Refusal>,
}

impl Outcome {
    pub fn delivered(&self) -> bool {
        self.status_code.is_some_and(|s| (200..300).contains(&s)) && self.refusal.is_none()
    }

    /// 410 Gone (or a body saying as much): the receiver says the endpoint is no more.
    pub fn gone(&self) -> bool {
        self.status_code == Some(410) || self.refusal == Some(Refusal::Gone)
    }

    /// When the receiver asked to be tried again, in seconds.
    pub fn asked_after(&self) -> Option<i64> {
        match self.refusal {
            Some(Refusal::Later(secs)) => Some(secs),
            _ => self.retry_after,
        }
    }
}

/// The `webhook-id` of a notification: `msg_` and its hex digits.
pub fn message_id(notification: Uuid) -> String {
    format!("msg_{}", notification.simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_read_as_the_convention_says() {
        let with = |status_code: Option<u16>| Outcome {
            status_code,
            error: None,
            response: None,
            retry_after: None,
            duration_ms: 1,
            refusal: None,
        };
        assert!(with(Some(204)).delivered());
        assert!(!with(Some(301)).delivered());
        assert!(!with(Some(500)).delivered());
        assert!(!with(None).delivered());
        assert!(with(Some(410)).gone());
        assert!(!with(Some(404)).gone());
        let refused = |refusal| Outcome {
            refusal: Some(refusal),
            ..with(Some(200))
        };
        assert!(!refused(Refusal::Retry).delivered());
        assert!(refused(Refusal::Gone).gone());
        assert_eq!(refused(Refusal::Later(60)).asked_after(), Some(60));
        let id = Uuid::parse_str("0190a4a4-0000-7000-8000-00000000000a").unwrap();
        assert_eq!(message_id(id), "msg_0190a4a400007000800000000000000a");
    }
}
