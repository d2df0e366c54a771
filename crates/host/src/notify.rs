//! The notifications edge: the worker that fans the outbox out and sends webhook deliveries
//! over HTTP, signed as the Standard Webhooks convention says. What to send, to whom, and what
//! follows each answer is decided by the core (`service::notifications`,
//! `service::webhooks`); this module only speaks HTTP.
//!
//! Every address a name resolves to is checked against the operator's reach before it is
//! connected to (and an address written in the URL likewise), so an endpoint cannot be aimed
//! at this machine, a metadata service or a private range by a name that resolves there.
//! Redirects are not followed and no proxy is used, so no request leaves for an address that
//! was not checked.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use gongjian_core::{
    domain::{
        notification::{message_id, Outcome, Outgoing, RobotPost},
        webhook::{self, Reach},
        wecom,
    },
    service::{notifications, webhooks, Core},
};
use rand::Rng;

/// How much of a receiver's answer is kept in the delivery log.
const RESPONSE_KEPT: usize = 1000;
/// Deliveries sent at once by one host.
const SENDING_AT_ONCE: usize = 16;

/// Sends webhook messages.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    reach: Reach,
}

/// Resolves names for the sender, keeping only the addresses the reach allows.
struct Guarded(Reach);

impl reqwest::dns::Resolve for Guarded {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let reach = self.0;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| webhook::address_allowed(a.ip(), reach))
                .collect();
            if allowed.is_empty() {
                return Err(format!(
                    "{host} resolves to no address webhooks may be sent to ({} refused)",
                    found.len()
                )
                .into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl Sender {
    pub fn new(settings: &webhooks::WebhookSettings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .dns_resolver(Arc::new(Guarded(settings.reach)))
            .user_agent(concat!("gongjian-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Sender {
            client,
            reach: settings.reach,
        })
    }

    /// Makes one attempt at a delivery: signs it now and posts it.
    pub async fn send(&self, out: &Outgoing) -> Outcome {
        let started = Instant::now();
        if let Some(refused) = self.refused_literal(&out.url) {
            return refused_outcome(refused, started);
        }
        let id = message_id(out.notification);
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let signature = webhook::signature_header(&out.keys, &id, timestamp, out.body.as_bytes());
        let sent = self
            .client
            .post(&out.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(out.body.clone())
            .send()
            .await;
        let mut outcome = answered(sent, started).await;
        outcome.duration_ms = started.elapsed().as_millis() as i64;
        outcome
    }

    /// Posts one message to a WeCom robot, reading its answer's `errcode` (it answers 200
    /// to a message it did not take).
    pub async fn post_robot(&self, post: &RobotPost) -> Outcome {
        let started = Instant::now();
        if let Some(refused) = self.refused_literal(&post.url) {
            return refused_outcome(refused, started);
        }
        let sent = self
            .client
            .post(&post.url)
            .header("content-type", "application/json")
            .body(post.body.clone())
            .send()
            .await;
        let mut outcome = answered(sent, started).await;
        if let Some(status) = outcome.status_code {
            if let Some((refusal, said)) =
                wecom::read_answer(status, outcome.response.as_deref().unwrap_or(""))
            {
                outcome.refusal = Some(refusal);
                outcome.error = Some(said);
            }
        }
        outcome.duration_ms = started.elapsed().as_millis() as i64;
        outcome
    }

    /// Why a URL whose host is an address may not be sent to, if it may not (a name is
    /// checked when it is resolved).
    fn refused_literal(&self, url: &str) -> Option<String> {
        let parsed = reqwest::Url::parse(url).ok()?;
        let ip: IpAddr = match parsed.host()? {
            url::Host::Ipv4(ip) => ip.into(),
            url::Host::Ipv6(ip) => ip.into(),
            url::Host::Domain(_) => return None,
        };
        (!webhook::address_allowed(ip, self.reach))
            .then(|| format!("{ip} is not an address webhooks may be sent to"))
    }
}

fn refused_outcome(refused: String, started: Instant) -> Outcome {
    Outcome {
        status_code: None,
        error: Some(refused),
        response: None,
        retry_after: None,
        duration_ms: started.elapsed().as_millis() as i64,
        refusal: None,
    }
}

/// What a receiver answered: its status, `Retry-After` and the start of its body; or why it
/// did not answer.
async fn answered(sent: reqwest::Result<reqwest::Response>, started: Instant) -> Outcome {
    let mut answer = match sent {
        Ok(answer) => answer,
        Err(e) => return refused_outcome(describe(&e), started),
    };
    let status = answer.status().as_u16();
    let retry_after = answer
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let mut kept: Vec<u8> = vec![];
    while kept.len() < RESPONSE_KEPT * 4 {
        match answer.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let text: String = String::from_utf8_lossy(&kept)
        .chars()
        .take(RESPONSE_KEPT)
        .collect();
    Outcome {
        status_code: Some(status),
        error: None,
        response: Some(text).filter(|t| !t.is_empty()),
        retry_after,
        duration_ms: started.elapsed().as_millis() as i64,
        refusal: None,
    }
}

fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let mut text = format!("{what}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// What one pass of the worker did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub fanned_out: usize,
    pub attempts: usize,
}

/// One pass: fans the outbox out, then makes every attempt due now, several at once.
pub async fn run_once(core: &Core, sender: &Sender) -> gongjian_core::Result<Pass> {
    let fanned = notifications::fan_out(core).await?;
    let mut pass = Pass {
        fanned_out: fanned.notifications,
        attempts: 0,
    };
    loop {
        let posts = webhooks::claim_robots(core).await?;
        pass.attempts += posts.len();
        attempt_all(posts, |post| async move {
            let outcome = sender.post_robot(&post).await;
            webhooks::record_robot(core, &post, outcome, jitter()).await
        })
        .await?;
        let due = webhooks::claim_due(core).await?;
        if due.is_empty() {
            return Ok(pass);
        }
        pass.attempts += due.len();
        attempt_all(due, |out| async move {
            let outcome = sender.send(&out).await;
            webhooks::record(core, &out, outcome, jitter()).await
        })
        .await?;
    }
}

/// Makes the claimed attempts, [`SENDING_AT_ONCE`] at a time, each sent and its outcome
/// recorded by `attempt`; every one is made before the first failure to record is answered.
async fn attempt_all<T, F, Fut>(claimed: Vec<T>, attempt: F) -> gongjian_core::Result<()>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = gongjian_core::Result<()>>,
{
    let results: Vec<gongjian_core::Result<()>> = futures_util::stream::iter(claimed)
        .map(attempt)
        .buffer_unordered(SENDING_AT_ONCE)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Where in its window a retry falls: spread so that retries of many deliveries do not
/// arrive together.
fn jitter() -> f64 {
    rand::thread_rng().gen::<f64>()
}

/// Runs the worker every `every` until aborted. A pass that fails is logged and the next
/// one tries again: nothing is lost, since what is not recorded as done stays due.
pub fn spawn(core: Core, sender: Sender, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(e) = run_once(&core, &sender).await {
                tracing::warn!(error = %e, "a notifications pass failed; the next one tries again");
            }
        }
    })
}
