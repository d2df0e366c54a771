//! The resident's own page: opened from the QR code the grid worker shows, with no sign-in —
//! the one-time link is the credential. It shows what is being rated (never anyone's personal
//! data) and takes one rating, as `/api/v1/feedback/{token}` does.

use askama::Template;
use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use gongjian_core::{
    domain::feedback::{FeedbackView, RatingRequest},
    service::feedback,
    Error,
};
use serde::Deserialize;

use super::extract::{Form, Path};
use super::{
    frame::{render, render_status, Frame},
    locale_of,
    texts::Locale,
    Oops,
};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/feedback.html")]
struct FeedbackPage {
    f: Frame,
    token: String,
    view: Option<FeedbackView>,
    /// What to tell the resident instead of the form.
    message: Option<&'static str>,
}

fn page_of(
    locale: Locale,
    token: String,
    view: Option<FeedbackView>,
    message: Option<&'static str>,
) -> FeedbackPage {
    FeedbackPage {
        f: Frame::signed_out(locale, locale.texts().feedback_title),
        token,
        view,
        message,
    }
}

/// An expired, used or unknown link, said plainly to the resident.
fn gone(locale: Locale, e: Error) -> Response {
    let t = locale.texts();
    match e {
        Error::NotFound(_) => render_status(
            StatusCode::NOT_FOUND,
            &page_of(locale, String::new(), None, Some(t.feedback_gone)),
        ),
        Error::Conflict {
            code: "link_used", ..
        } => render_status(
            StatusCode::CONFLICT,
            &page_of(locale, String::new(), None, Some(t.feedback_done)),
        ),
        Error::Conflict {
            code: "link_expired",
            ..
        } => render_status(
            StatusCode::GONE,
            &page_of(locale, String::new(), None, Some(t.feedback_gone)),
        ),
        other => Oops::new(locale, other).into_response(),
    }
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let locale = locale_of(&headers);
    match feedback::show_link(&state, token.clone()).await {
        Ok(view) if view.rated => render(&page_of(
            locale,
            token,
            Some(view),
            Some(locale.texts().feedback_done),
        )),
        Ok(view) => render(&page_of(locale, token, Some(view), None)),
        Err(e) => gone(locale, e),
    }
}

#[derive(Deserialize)]
pub struct RateForm {
    rating: String,
    #[serde(default)]
    comment: String,
}

pub async fn rate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(body): Form<RateForm>,
) -> Response {
    let locale = locale_of(&headers);
    let Ok(rating) = body.rating.trim().parse::<i64>() else {
        return Oops::new(
            locale,
            Error::field("rating", "invalid_type", "the rating is 1 to 5"),
        )
        .into_response();
    };
    let comment = Some(body.comment.trim().to_string()).filter(|c| !c.is_empty());
    match feedback::rate_by_link(&state, token, RatingRequest { rating, comment }).await {
        Ok(_) => render(&page_of(
            locale,
            String::new(),
            None,
            Some(locale.texts().feedback_thanks),
        )),
        Err(e) => gone(locale, e),
    }
}
