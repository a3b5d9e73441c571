//! The operator's dashboard at `/admin/`: charts of the call analytics over time, the recent
//! calls, and one call's timelines from every device as a Gantt-like picture. Built from
//! `web/admin` into `web/dist/admin` (with the browser client, `npm run build` in `web/`) and
//! compiled into the binary like the client's page ([`crate::web`]).
//!
//! The page holds no data of its own: it asks for the admin token, keeps it in
//! `sessionStorage`, and reads the admin API of its own origin with it as a bearer header
//! (never in a URL). The pages are public; everything they show comes from endpoints that
//! refuse requests without the token.

use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;

use crate::web::asset;

const INDEX_HTML: &[u8] = include_bytes!("../../../web/dist/admin/index.html");
const ADMIN_JS: &[u8] = include_bytes!("../../../web/dist/admin/admin.js");
const ADMIN_CSS: &[u8] = include_bytes!("../../../web/dist/admin/admin.css");

/// Same origin only, nothing inline (the charts are SVG built through the DOM, styled by
/// classes and SVG attributes), no framing, no form submissions.
const CSP: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
                   style-src 'self'; script-src 'self'; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'none'";

/// Routes for the dashboard and its two assets.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/admin",
            get(|| async { Redirect::permanent("/admin/").into_response() }),
        )
        .route(
            "/admin/",
            get(|| async { asset(INDEX_HTML, "text/html; charset=utf-8", CSP) }),
        )
        .route(
            "/admin/admin.js",
            get(|| async { asset(ADMIN_JS, "text/javascript; charset=utf-8", CSP) }),
        )
        .route(
            "/admin/admin.css",
            get(|| async { asset(ADMIN_CSS, "text/css; charset=utf-8", CSP) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_dashboard_loads_its_own_assets() {
        let html = std::str::from_utf8(INDEX_HTML).expect("index.html is UTF-8");
        assert!(html.contains("src=\"/admin/admin.js\""));
        assert!(html.contains("href=\"/admin/admin.css\""));
        assert!(!html.contains("<script>"), "no inline script");
        assert!(!html.contains("style="), "no inline style");
        assert!(!ADMIN_JS.is_empty() && !ADMIN_CSS.is_empty());
    }
}
