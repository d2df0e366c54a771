//! The resident's feedback on a completed order: a rating from 1 to 5 and a comment, entered
//! by the street's staff or by the resident through a one-time link. A low rating flags the
//! demand for the street (see [`store::feedback::rate`](crate::store::feedback::rate)).

use super::Core;
use crate::domain::access::{Action, Principal, RoleKind, Target};
use crate::domain::feedback::{FeedbackLink, FeedbackView, Rated, RatingRequest};
use crate::domain::{format_ts, rules, Check};
use crate::store::feedback;
use crate::store::tokens::generate_token;
use crate::{Error, Result};
use time::Duration;
use uuid::Uuid;

/// How long a feedback link stays valid.
pub const LINK_VALID_DAYS: i64 = 7;

fn check_rating(body: &RatingRequest) -> Result<Option<String>> {
    let mut c = Check::new();
    c.range_i64("rating", body.rating, rules::RATING);
    let comment = c.opt_text("comment", body.comment.as_deref(), rules::COMMENT);
    c.finish()?;
    Ok(comment)
}

/// The street of an order, for a caller who acts for its resident: the street's admins and
/// grid workers. The role is checked first: a party to the order sees it, but only staff act
/// for the resident.
async fn staff_street(core: &Core, caller: &Principal, order: Uuid, what: &str) -> Result<Uuid> {
    let street = feedback::order_street(core.db.read(), order).await?;
    caller.require(&[RoleKind::StreetAdmin, RoleKind::GridWorker], what)?;
    caller.authorize(
        Action::Read,
        Target::Order {
            street,
            party: false,
        },
    )?;
    Ok(street)
}

/// Enters the resident's rating (the street's admins and grid workers, on the resident's
/// behalf).
pub async fn rate(core: &Core, caller: &Principal, id: Uuid, body: RatingRequest) -> Result<Rated> {
    staff_street(core, caller, id, "enter residents' ratings").await?;
    let comment = check_rating(&body)?;
    let rated_by = caller.token_id.to_string();
    let now = core.now_ts();
    let rating = body.rating;
    let flagged = core
        .db
        .transact(move |tx| {
            Box::pin(async move {
                feedback::rate(tx, id, rating, comment.as_deref(), &rated_by, &now).await
            })
        })
        .await?;
    Ok(Rated {
        order_id: id,
        rating,
        flagged,
    })
}

/// Makes a one-time link through which the resident rates the order.
pub async fn create_link(core: &Core, caller: &Principal, id: Uuid) -> Result<FeedbackLink> {
    staff_street(core, caller, id, "make feedback links").await?;
    let token = generate_token();
    let expires = format_ts(core.now() + Duration::days(LINK_VALID_DAYS));
    let now = core.now_ts();
    let created_by = caller.token_id;
    let (secret, expires_at) = (token.clone(), expires.clone());
    let issued = core
        .db
        .transact(move |tx| {
            Box::pin(async move {
                feedback::insert_link(tx, &secret, id, created_by, &now, &expires_at).await
            })
        })
        .await?;
    if !issued {
        return Err(Error::conflict(
            "not_ratable",
            "only a completed order that has not been rated gets a feedback link",
        ));
    }
    let path = format!("/api/v1/feedback/{token}");
    Ok(FeedbackLink {
        token,
        path,
        expires_at: expires,
    })
}

/// The link with this secret, if it has not expired.
async fn valid_link(core: &Core, token: &str) -> Result<feedback::Link> {
    let link = feedback::link(core.db.read(), token).await?;
    if link.expires_at < core.now_ts() {
        return Err(Error::conflict(
            "link_expired",
            "this feedback link has expired",
        ));
    }
    Ok(link)
}

fn link_used() -> Error {
    Error::conflict("link_used", "this feedback link has been used")
}

/// What the resident is asked to rate. The link itself is the credential.
pub async fn show_link(core: &Core, token: String) -> Result<FeedbackView> {
    let link = valid_link(core, &token).await?;
    let mut view = feedback::view(core.db.read(), link.order).await?;
    view.rated |= link.used;
    Ok(view)
}

/// The resident rates the order, once: the link is used up in the transaction that records
/// the rating, so a rating that fails leaves the link usable.
pub async fn rate_by_link(core: &Core, token: String, body: RatingRequest) -> Result<Rated> {
    let comment = check_rating(&body)?;
    let link = valid_link(core, &token).await?;
    if link.used {
        return Err(link_used());
    }
    let now = core.now_ts();
    let rating = body.rating;
    let order = link.order;
    let flagged = core
        .db
        .transact(move |tx| {
            Box::pin(async move {
                if !feedback::claim_link(tx, &token, &now).await? {
                    return Err(link_used());
                }
                feedback::rate(tx, order, rating, comment.as_deref(), "resident-link", &now).await
            })
        })
        .await?;
    Ok(Rated {
        order_id: order,
        rating,
        flagged,
    })
}
