//! The registry and the three lists: one module per collection, each holding its wire types,
//! its handlers and its SQL. Access is decided by [`gongjian_core::domain::access`], never here.

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

pub use gongjian_core::store::rows::{
    get_bool, get_json, get_opt_uuid, get_uuid, links, push_in, push_json_contains, require_all,
    require_street, to_json, with_links,
};
