//! The console's static files, compiled into the binary: nothing is fetched from another host
//! at run time (deployments run on intranets).
//!
//! htmx is vendored at a pinned version (`assets/htmx-2.0.11.min.js`, from the npm package
//! `htmx.org@2.0.11`, zero-clause BSD); pages load it with its Subresource Integrity hash, and
//! a test checks the file still has that hash.

use axum::{
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};

use super::extract::Path;

pub const CSS_PATH: &str = "/console/assets/console.css";
pub const SCRIPT_PATH: &str = "/console/assets/console.js";
pub const HTMX_PATH: &str = "/console/assets/htmx-2.0.11.min.js";
/// `sha384` of the vendored htmx, as the page's `integrity` attribute names it.
pub const HTMX_INTEGRITY: &str =
    "sha384-2OatzQy1H+Zd/IIrjr1TcuDGqLXeHhbooAyJY1KdQMKnr4LZ22k31GBLdYKHmVjg";

const CSS: &str = include_str!("../../assets/console.css");
const SCRIPT: &str = include_str!("../../assets/console.js");
const HTMX: &[u8] = include_bytes!("../../assets/htmx-2.0.11.min.js");

pub async fn serve(Path(name): Path<String>) -> Response {
    let (body, kind, cache): (&'static [u8], &str, &str) = match name.as_str() {
        "console.css" => (
            CSS.as_bytes(),
            "text/css; charset=utf-8",
            "public, max-age=300",
        ),
        "console.js" => (
            SCRIPT.as_bytes(),
            "text/javascript; charset=utf-8",
            "public, max-age=300",
        ),
        // The version is in the name: the file never changes under it.
        "htmx-2.0.11.min.js" => (
            HTMX,
            "text/javascript; charset=utf-8",
            "public, max-age=31536000, immutable",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, cache),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use sha2::{Digest, Sha384};

    #[test]
    fn the_vendored_htmx_has_the_pinned_integrity_hash() {
        let digest = Sha384::digest(super::HTMX);
        let sri = format!(
            "sha384-{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        );
        assert_eq!(sri, super::HTMX_INTEGRITY);
    }
}
