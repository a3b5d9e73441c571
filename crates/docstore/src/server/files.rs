//! Files under `--static <dir>`, served at `/static/<path>` so a test page shares the store's
//! origin. The request path is untrusted: only plain names of `[A-Za-z0-9_.-]` not starting with
//! a dot are followed, so nothing outside the directory (and no hidden file) can be reached.

use std::path::{Path, PathBuf};

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// Most segments in a static path.
const MAX_DEPTH: usize = 8;

/// The file at `request` under `dir`, or 404.
pub(super) async fn serve(dir: &Path, request: &str) -> Response {
    let Some(path) = resolve(dir, request) else {
        return not_found();
    };
    match tokio::fs::read(&path).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, content_type(&path)),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response(),
        // Missing, a directory or unreadable: the same answer, which names nothing on disk.
        Err(_) => not_found(),
    }
}

fn resolve(dir: &Path, request: &str) -> Option<PathBuf> {
    let mut path = dir.to_path_buf();
    let mut depth = 0;
    for segment in request.split('/') {
        depth += 1;
        let plain = !segment.is_empty()
            && !segment.starts_with('.')
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !plain || depth > MAX_DEPTH {
            return None;
        }
        path.push(segment);
    }
    Some(path)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such file under /static/\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_under_the_directory_resolve() {
        let dir = Path::new("/srv/pages");
        assert_eq!(
            resolve(dir, "a/index.html"),
            Some(PathBuf::from("/srv/pages/a/index.html"))
        );
        for bad in [
            "",
            "..",
            "../etc/passwd",
            "a/../../b",
            ".env",
            "a//b",
            "a/",
            "/abs",
            "a\\b",
            "%2e%2e",
        ] {
            assert_eq!(resolve(dir, bad), None, "{bad:?} resolved");
        }
    }
}
