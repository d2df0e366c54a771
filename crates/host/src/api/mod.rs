//! The JSON API: one module per collection, each holding its routes, its handlers and their
//! OpenAPI description. A handler extracts the request, calls one operation of
//! `gongjian_core::service` and answers; the wire types are the core's domain types, and
//! access is decided by [`gongjian_core::domain::access`], never here.

pub mod demands;
pub mod feedback;
pub mod orders;
pub mod plugins;
pub mod projects;
pub mod resources;
pub mod settings;
pub mod stats;
pub mod streets;
pub mod tokens;
pub mod units;
pub mod volunteers;
pub mod webhooks;

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;

/// A `201 Created` answer with a `Location` header.
pub struct Created<T>(pub String, pub T);

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        let mut response = (StatusCode::CREATED, Json(self.1)).into_response();
        if let Ok(location) = HeaderValue::from_str(&self.0) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
    }
}
