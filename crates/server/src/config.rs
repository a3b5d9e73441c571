//! Server configuration: defaults, overridden by a TOML file, overridden by `RINGWIRE_*`
//! environment variables (the CLI applies its flags last). Every field is documented in
//! `docs/configuration.md`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ServerError;
use crate::router::RouterConfig;

/// Everything `ringwire serve` can be told.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Data directory; the SQLite database lives here. Created on first run.
    pub data_dir: PathBuf,
    /// `postgres://…` (or `sqlite://…`) to use instead of the data directory's SQLite file.
    pub database_url: Option<String>,
    /// Bearer token for `/v1/admin/*` and for reading any user's history. Unset: admin API off.
    pub admin_token: Option<String>,
    /// Seconds an unanswered call rings.
    pub ring_timeout_secs: u64,
    /// Seconds the caller or answering device may be disconnected before the call ends.
    pub reconnect_grace_secs: u64,
    /// Invites a device may send in a burst, and seconds per refilled invite.
    pub invite_burst: u32,
    pub invite_refill_secs: u64,
    /// Most WebSocket connections served at once; more are refused with 503.
    pub max_connections: usize,
    /// Messages per second a connection may send (sustained); bursts up to twice that.
    pub max_messages_per_sec: u32,
    /// Log format: `text` or `json`.
    pub log_format: LogFormat,
}

/// How logs are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let router = RouterConfig::default();
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./ringwire-data"),
            database_url: None,
            admin_token: None,
            ring_timeout_secs: router.ring_timeout_ms / 1000,
            reconnect_grace_secs: router.reconnect_grace_ms / 1000,
            invite_burst: router.invite_burst,
            invite_refill_secs: router.invite_refill_ms / 1000,
            max_connections: 100_000,
            max_messages_per_sec: 100,
            log_format: LogFormat::Text,
        }
    }
}

/// The environment variables read, and the field each sets.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("RINGWIRE_LISTEN", "listen"),
    ("RINGWIRE_DATA", "data_dir"),
    ("RINGWIRE_DATABASE_URL", "database_url"),
    ("RINGWIRE_ADMIN_TOKEN", "admin_token"),
    ("RINGWIRE_RING_TIMEOUT_SECS", "ring_timeout_secs"),
    ("RINGWIRE_RECONNECT_GRACE_SECS", "reconnect_grace_secs"),
    ("RINGWIRE_INVITE_BURST", "invite_burst"),
    ("RINGWIRE_INVITE_REFILL_SECS", "invite_refill_secs"),
    ("RINGWIRE_MAX_CONNECTIONS", "max_connections"),
    ("RINGWIRE_MAX_MESSAGES_PER_SEC", "max_messages_per_sec"),
    ("RINGWIRE_LOG_FORMAT", "log_format"),
];

impl ServerConfig {
    /// Defaults, then the TOML file at `path` if given.
    pub fn from_file(path: Option<&Path>) -> Result<ServerConfig, ServerError> {
        let Some(path) = path else {
            return Ok(ServerConfig::default());
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            ServerError::Config(format!("cannot read config file {}: {e}", path.display()))
        })?;
        toml::from_str(&text)
            .map_err(|e| ServerError::Config(format!("config file {}: {e}", path.display())))
    }

    /// Applies `RINGWIRE_*` variables from `lookup` (pass `|k| std::env::var(k).ok()`).
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ServerError> {
        for (var, field) in ENV_VARS {
            if let Some(value) = lookup(var).filter(|v| !v.is_empty()) {
                self.set(field, &value)
                    .map_err(|e| ServerError::Config(format!("environment variable {var}: {e}")))?;
            }
        }
        Ok(())
    }

    /// Sets one field from its text form (used by the environment and by CLI flags).
    pub fn set(&mut self, field: &str, value: &str) -> Result<(), String> {
        fn num<T: std::str::FromStr>(v: &str) -> Result<T, String>
        where
            T::Err: std::fmt::Display,
        {
            v.parse()
                .map_err(|e| format!("{v:?} is not a valid number: {e}"))
        }
        match field {
            "listen" => {
                self.listen = value
                    .parse()
                    .map_err(|e| format!("{value:?} is not an address like 127.0.0.1:8080: {e}"))?
            }
            "data_dir" => self.data_dir = PathBuf::from(value),
            "database_url" => self.database_url = Some(value.to_owned()),
            "admin_token" => self.admin_token = Some(value.to_owned()),
            "ring_timeout_secs" => self.ring_timeout_secs = num(value)?,
            "reconnect_grace_secs" => self.reconnect_grace_secs = num(value)?,
            "invite_burst" => self.invite_burst = num(value)?,
            "invite_refill_secs" => self.invite_refill_secs = num(value)?,
            "max_connections" => self.max_connections = num(value)?,
            "max_messages_per_sec" => self.max_messages_per_sec = num(value)?,
            "log_format" => {
                self.log_format = match value {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    _ => return Err(format!("{value:?} is not a log format; use text or json")),
                }
            }
            _ => return Err(format!("unknown setting {field:?}")),
        }
        Ok(())
    }

    /// Rejects settings that cannot work, with what to change.
    pub fn validate(&self) -> Result<(), ServerError> {
        let bad = |m: &str| Err(ServerError::Config(m.to_owned()));
        if self.ring_timeout_secs == 0 || self.ring_timeout_secs > 600 {
            return bad("ring_timeout_secs must be between 1 and 600");
        }
        if self.reconnect_grace_secs > 3600 {
            return bad("reconnect_grace_secs must be at most 3600");
        }
        if self.invite_burst == 0 {
            return bad("invite_burst must be at least 1");
        }
        if self.max_connections == 0 || self.max_messages_per_sec == 0 {
            return bad("max_connections and max_messages_per_sec must be at least 1");
        }
        if self.admin_token.as_deref().is_some_and(|t| t.len() < 16) {
            return bad("admin_token must be at least 16 characters");
        }
        Ok(())
    }

    /// The database to open: the URL if set, else SQLite in the data directory.
    pub fn database(&self) -> DatabaseLocation {
        match &self.database_url {
            Some(url) => DatabaseLocation::Url(url.clone()),
            None => DatabaseLocation::DataDir(self.data_dir.clone()),
        }
    }

    /// The router's share of the configuration.
    pub fn router(&self) -> RouterConfig {
        RouterConfig {
            ring_timeout_ms: self.ring_timeout_secs * 1000,
            reconnect_grace_ms: self.reconnect_grace_secs * 1000,
            invite_burst: self.invite_burst,
            invite_refill_ms: self.invite_refill_secs * 1000,
            ..RouterConfig::default()
        }
    }
}

/// Where the store lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// SQLite file inside this directory.
    DataDir(PathBuf),
    /// A database URL.
    Url(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documentation() {
        let c = ServerConfig::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./ringwire-data"));
        assert_eq!(c.ring_timeout_secs, 45);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn file_then_env_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ringwire.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nring_timeout_secs = 30\n",
        )
        .unwrap();
        let mut c = ServerConfig::from_file(Some(&path)).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.ring_timeout_secs, 30);
        c.apply_env(|k| (k == "RINGWIRE_RING_TIMEOUT_SECS").then(|| "20".to_owned()))
            .unwrap();
        assert_eq!(c.ring_timeout_secs, 20);
        assert_eq!(
            c.listen.port(),
            9000,
            "unset variables leave the file's value"
        );
        assert_eq!(c.router().ring_timeout_ms, 20_000);
    }

    #[test]
    fn bad_settings_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let err = ServerConfig::from_file(Some(&path))
            .unwrap_err()
            .to_string();
        assert!(err.contains("lisen"), "{err}");
        let mut c = ServerConfig::default();
        let err = c
            .apply_env(|k| (k == "RINGWIRE_LISTEN").then(|| "nope".to_owned()))
            .unwrap_err();
        assert!(err.to_string().contains("RINGWIRE_LISTEN"), "{err}");
        c.ring_timeout_secs = 0;
        assert!(c.validate().is_err());
        let missing = ServerConfig::from_file(Some(Path::new("/nonexistent/r.toml"))).unwrap_err();
        assert!(missing.to_string().contains("cannot read config file"));
    }
}
