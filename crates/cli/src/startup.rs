//! What `ringwire serve` tells an operator once it listens: the browser client's address, where
//! the data lives, how to reach the admin API, and — on an empty store — the two commands that
//! add a first user and device. Log lines (so `--log-format json` stays machine-readable), read
//! before the server starts and printed once it has bound its port.

use std::net::SocketAddr;

use ringwire_server::config::DatabaseLocation;
use ringwire_server::server::open_store;
use ringwire_server::store::redact_url;
use ringwire_server::ServerConfig;

/// The facts the start-up lines need, gathered before the server takes the store.
#[derive(Debug)]
pub struct Hints {
    data: String,
    users: Option<usize>,
    admin_api: bool,
    config_args: String,
}

impl Hints {
    /// Reads the user count from the store; a store that cannot be read is left for the
    /// server's own start to report, so this never fails.
    pub async fn gather(config: &ServerConfig) -> Hints {
        let data = match config.database() {
            DatabaseLocation::DataDir(dir) => {
                let dir = std::path::absolute(&dir).unwrap_or(dir);
                format!("SQLite in {}", dir.join("ringwire.db").display())
            }
            DatabaseLocation::Url(url) => redact_url(&url),
        };
        let users = match open_store(config).await {
            Ok(store) => {
                let n = store.list_users().await.ok().map(|u| u.len());
                store.close().await;
                n
            }
            Err(_) => None,
        };
        // The admin commands must reach the same store: repeat --data/--database if not default.
        let config_args = match config.database() {
            DatabaseLocation::DataDir(dir) if dir == std::path::Path::new("./ringwire-data") => {
                String::new()
            }
            DatabaseLocation::DataDir(dir) => format!(" --data {}", dir.display()),
            DatabaseLocation::Url(_) => " --database <the same URL>".to_string(),
        };
        Hints {
            data,
            users,
            admin_api: config.admin_token.is_some(),
            config_args,
        }
    }

    /// Logs the start-up guidance for a server bound to `addr`.
    pub fn log(&self, addr: SocketAddr) {
        let host = if addr.ip().is_unspecified() {
            format!("127.0.0.1:{}", addr.port())
        } else {
            addr.to_string()
        };
        tracing::info!("browser client: http://{host}/ (sign in with a device token)");
        tracing::info!("data: {}", self.data);
        if self.admin_api {
            tracing::info!(
                "admin API: http://{host}/v1/admin/ with 'Authorization: Bearer <RINGWIRE_ADMIN_TOKEN>' (docs/http.md)"
            );
        } else {
            tracing::info!(
                "admin API: off; set RINGWIRE_ADMIN_TOKEN (16+ characters) to enable /v1/admin/ (docs/http.md)"
            );
        }
        match self.users {
            Some(0) => {
                let a = &self.config_args;
                tracing::info!(
                    "no users yet; add one and a device for it (prints the device's token once):"
                );
                tracing::info!("  ringwire user add alice --display-name \"Alice\"{a}");
                tracing::info!("  ringwire device add alice --label laptop{a}");
                tracing::info!("  (from a checkout: cargo run --release -- user add ...; these may run while the server runs)");
            }
            Some(n) => tracing::info!(users = n, "store has {n} user(s)"),
            None => {}
        }
    }
}
