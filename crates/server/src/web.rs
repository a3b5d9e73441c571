//! The browser client (`web/`), served at `/` so `ringwire serve` alone gives a working calling
//! page. The built assets (`web/dist`, built by `npm run build` in `web/`, committed, and checked
//! against a fresh build by `scripts/test`) are compiled into the binary: there is no directory
//! to deploy beside it and no path a request could escape through.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const INDEX_HTML: &[u8] = include_bytes!("../../../web/dist/index.html");
const APP_JS: &[u8] = include_bytes!("../../../web/dist/app.js");
const APP_CSS: &[u8] = include_bytes!("../../../web/dist/app.css");

/// The page talks only to its own origin (HTTP and WebSocket) and plays media streams; nothing
/// inline, nothing from elsewhere, and it may not be framed (click-jacking an Accept button).
const CSP: &str = "default-src 'self'; connect-src 'self'; media-src 'self' blob: mediastream:; \
                   img-src 'self' data:; style-src 'self'; script-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Routes for the page and its two assets.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|| async { page(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/index.html",
            get(|| async { page(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/app.js",
            get(|| async { page(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/app.css",
            get(|| async { page(APP_CSS, "text/css; charset=utf-8") }),
        )
}

fn page(body: &'static [u8], content_type: &'static str) -> Response {
    asset(body, content_type, CSP)
}

/// One embedded file with the headers every ringwire page gets (also used by
/// `ringwire bridge-host` for the hybrid page, with its own policy).
pub fn asset(body: &'static [u8], content_type: &'static str, csp: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Assets change with the binary; revalidating is cheap on loopback and LANs.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_page_loads_its_own_assets() {
        let html = std::str::from_utf8(INDEX_HTML).expect("index.html is UTF-8");
        assert!(html.contains("src=\"/app.js\""));
        assert!(html.contains("href=\"/app.css\""));
        assert!(!APP_JS.is_empty() && !APP_CSS.is_empty());
    }
}
