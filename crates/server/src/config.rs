//! Server configuration: defaults, overridden by a TOML file, overridden by `RINGWIRE_*`
//! environment variables (the CLI applies its flags last). Every field is documented in
//! `docs/configuration.md`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ServerError;
use crate::ice::{parse_url_list, IceConfig, IceSettings, TurnSecret};
use ringwire_router::RouterConfig;

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
    /// Seconds an ended call is remembered, to tell devices that connect late how it ended.
    pub ended_call_retention_secs: u64,
    /// Invites a device may send in a burst, and seconds per refilled invite.
    pub invite_burst: u32,
    pub invite_refill_secs: u64,
    /// Most TCP connections (HTTP and WebSocket) served at once, capped below the process's
    /// open-file limit; more are refused with `503 server_full`.
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers; also how long an idle keep-alive
    /// HTTP connection stays open.
    pub http_header_timeout_secs: u64,
    /// Most active devices one user may have; adding more is refused (`too_many_devices`).
    pub max_devices_per_user: usize,
    /// Most calls that may ring one user at once; more invites get `too_many_calls`.
    pub max_ringing_calls_per_user: usize,
    /// Messages per second a connection may send (sustained); bursts up to twice that.
    pub max_messages_per_sec: u32,
    /// Log format: `text` or `json`.
    pub log_format: LogFormat,
    /// APNs: base URL, team id, key id, the `.p8` signing key, and the app's bundle id (VoIP
    /// pushes go to the topic `<bundle id>.voip`). All four of team id, key id, key path and
    /// bundle id, or none.
    pub apns_endpoint: String,
    pub apns_team_id: Option<String>,
    pub apns_key_id: Option<String>,
    pub apns_key_path: Option<PathBuf>,
    pub apns_bundle_id: Option<String>,
    /// FCM HTTP v1: base URL and the service-account JSON key; the project id and the OAuth2
    /// token endpoint come from the key unless set here.
    pub fcm_endpoint: String,
    pub fcm_service_account_path: Option<PathBuf>,
    pub fcm_project_id: Option<String>,
    pub fcm_token_uri: Option<String>,
    /// An extra CA certificate (PEM) to trust for push connections, besides the public roots.
    pub push_ca_file: Option<PathBuf>,
    /// Backoff after 429/5xx from a push service: first cap and largest cap, in milliseconds.
    pub push_retry_base_ms: u64,
    pub push_retry_max_ms: u64,
    /// The `[ice]` table: ICE servers handed to devices, and the TURN shared secret.
    pub ice: IceConfig,
    /// `nats://host:port`: run as one node of a cluster (docs/cluster.md). Needs a PostgreSQL
    /// `database_url`. Unset: a single server.
    pub cluster: Option<String>,
    /// The cluster's name and NATS subject prefix; nodes sharing it and the database are one
    /// cluster.
    pub cluster_prefix: String,
    /// This node's name in the cluster (letters, digits, `-` and `_`). Unset: `n-` and 8
    /// random hex digits, new at each start.
    pub node_id: Option<String>,
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
            ended_call_retention_secs: router.ended_retention_ms / 1000,
            invite_burst: router.invite_burst,
            invite_refill_secs: router.invite_refill_ms / 1000,
            max_connections: 100_000,
            http_header_timeout_secs: 10,
            max_devices_per_user: 50,
            max_ringing_calls_per_user: router.max_ringing_per_user,
            max_messages_per_sec: 100,
            log_format: LogFormat::Text,
            apns_endpoint: DEFAULT_APNS_ENDPOINT.to_owned(),
            apns_team_id: None,
            apns_key_id: None,
            apns_key_path: None,
            apns_bundle_id: None,
            fcm_endpoint: DEFAULT_FCM_ENDPOINT.to_owned(),
            fcm_service_account_path: None,
            fcm_project_id: None,
            fcm_token_uri: None,
            push_ca_file: None,
            push_retry_base_ms: 250,
            push_retry_max_ms: 8_000,
            ice: IceConfig::default(),
            cluster: None,
            cluster_prefix: "ringwire".to_owned(),
            node_id: None,
        }
    }
}

/// Apple's production push endpoint (the sandbox is `https://api.sandbox.push.apple.com`).
pub const DEFAULT_APNS_ENDPOINT: &str = "https://api.push.apple.com";
/// Google's FCM endpoint.
pub const DEFAULT_FCM_ENDPOINT: &str = "https://fcm.googleapis.com";

/// The environment variables read, and the field each sets.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("RINGWIRE_LISTEN", "listen"),
    ("RINGWIRE_DATA", "data_dir"),
    ("RINGWIRE_DATABASE_URL", "database_url"),
    ("RINGWIRE_ADMIN_TOKEN", "admin_token"),
    ("RINGWIRE_RING_TIMEOUT_SECS", "ring_timeout_secs"),
    ("RINGWIRE_RECONNECT_GRACE_SECS", "reconnect_grace_secs"),
    (
        "RINGWIRE_ENDED_CALL_RETENTION_SECS",
        "ended_call_retention_secs",
    ),
    ("RINGWIRE_INVITE_BURST", "invite_burst"),
    ("RINGWIRE_INVITE_REFILL_SECS", "invite_refill_secs"),
    ("RINGWIRE_MAX_CONNECTIONS", "max_connections"),
    (
        "RINGWIRE_HTTP_HEADER_TIMEOUT_SECS",
        "http_header_timeout_secs",
    ),
    ("RINGWIRE_MAX_DEVICES_PER_USER", "max_devices_per_user"),
    (
        "RINGWIRE_MAX_RINGING_CALLS_PER_USER",
        "max_ringing_calls_per_user",
    ),
    ("RINGWIRE_MAX_MESSAGES_PER_SEC", "max_messages_per_sec"),
    ("RINGWIRE_LOG_FORMAT", "log_format"),
    ("RINGWIRE_APNS_ENDPOINT", "apns_endpoint"),
    ("RINGWIRE_APNS_TEAM_ID", "apns_team_id"),
    ("RINGWIRE_APNS_KEY_ID", "apns_key_id"),
    ("RINGWIRE_APNS_KEY_PATH", "apns_key_path"),
    ("RINGWIRE_APNS_BUNDLE_ID", "apns_bundle_id"),
    ("RINGWIRE_FCM_ENDPOINT", "fcm_endpoint"),
    (
        "RINGWIRE_FCM_SERVICE_ACCOUNT_PATH",
        "fcm_service_account_path",
    ),
    ("RINGWIRE_FCM_PROJECT_ID", "fcm_project_id"),
    ("RINGWIRE_FCM_TOKEN_URI", "fcm_token_uri"),
    ("RINGWIRE_PUSH_CA_FILE", "push_ca_file"),
    ("RINGWIRE_PUSH_RETRY_BASE_MS", "push_retry_base_ms"),
    ("RINGWIRE_PUSH_RETRY_MAX_MS", "push_retry_max_ms"),
    ("RINGWIRE_CLUSTER", "cluster"),
    ("RINGWIRE_CLUSTER_PREFIX", "cluster_prefix"),
    ("RINGWIRE_NODE_ID", "node_id"),
    ("RINGWIRE_ICE_SERVERS", "ice.servers"),
    ("RINGWIRE_ICE_TURN_SECRET", "ice.turn_secret"),
    (
        "RINGWIRE_ICE_TURN_CREDENTIAL_TTL_S",
        "ice.turn_credential_ttl_s",
    ),
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
            "ended_call_retention_secs" => self.ended_call_retention_secs = num(value)?,
            "invite_burst" => self.invite_burst = num(value)?,
            "invite_refill_secs" => self.invite_refill_secs = num(value)?,
            "max_connections" => self.max_connections = num(value)?,
            "http_header_timeout_secs" => self.http_header_timeout_secs = num(value)?,
            "max_devices_per_user" => self.max_devices_per_user = num(value)?,
            "max_ringing_calls_per_user" => self.max_ringing_calls_per_user = num(value)?,
            "max_messages_per_sec" => self.max_messages_per_sec = num(value)?,
            "log_format" => {
                self.log_format = match value {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    _ => return Err(format!("{value:?} is not a log format; use text or json")),
                }
            }
            "apns_endpoint" => self.apns_endpoint = value.to_owned(),
            "apns_team_id" => self.apns_team_id = Some(value.to_owned()),
            "apns_key_id" => self.apns_key_id = Some(value.to_owned()),
            "apns_key_path" => self.apns_key_path = Some(PathBuf::from(value)),
            "apns_bundle_id" => self.apns_bundle_id = Some(value.to_owned()),
            "fcm_endpoint" => self.fcm_endpoint = value.to_owned(),
            "fcm_service_account_path" => {
                self.fcm_service_account_path = Some(PathBuf::from(value))
            }
            "fcm_project_id" => self.fcm_project_id = Some(value.to_owned()),
            "fcm_token_uri" => self.fcm_token_uri = Some(value.to_owned()),
            "push_ca_file" => self.push_ca_file = Some(PathBuf::from(value)),
            "push_retry_base_ms" => self.push_retry_base_ms = num(value)?,
            "push_retry_max_ms" => self.push_retry_max_ms = num(value)?,
            "cluster" => self.cluster = Some(value.to_owned()),
            "cluster_prefix" => self.cluster_prefix = value.to_owned(),
            "node_id" => self.node_id = Some(value.to_owned()),
            "ice.servers" => self.ice.servers = parse_url_list(value)?,
            "ice.turn_secret" => self.ice.turn_secret = Some(TurnSecret::new(value)),
            "ice.turn_credential_ttl_s" => self.ice.turn_credential_ttl_s = num(value)?,
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
        if self.ended_call_retention_secs == 0 || self.ended_call_retention_secs > 86_400 {
            return bad("ended_call_retention_secs must be between 1 and 86400");
        }
        if self.invite_burst == 0 {
            return bad("invite_burst must be at least 1");
        }
        if self.max_connections == 0 || self.max_messages_per_sec == 0 {
            return bad("max_connections and max_messages_per_sec must be at least 1");
        }
        if self.http_header_timeout_secs == 0 || self.http_header_timeout_secs > 300 {
            return bad("http_header_timeout_secs must be between 1 and 300");
        }
        if self.max_devices_per_user == 0 || self.max_ringing_calls_per_user == 0 {
            return bad("max_devices_per_user and max_ringing_calls_per_user must be at least 1");
        }
        if self.admin_token.as_deref().is_some_and(|t| t.len() < 16) {
            return bad("admin_token must be at least 16 characters");
        }
        let apns = [
            ("apns_team_id", self.apns_team_id.is_some()),
            ("apns_key_id", self.apns_key_id.is_some()),
            ("apns_key_path", self.apns_key_path.is_some()),
            ("apns_bundle_id", self.apns_bundle_id.is_some()),
        ];
        let missing: Vec<&str> = apns
            .iter()
            .filter(|(_, set)| !set)
            .map(|(k, _)| *k)
            .collect();
        if !missing.is_empty() && missing.len() < apns.len() {
            return Err(ServerError::Config(format!(
                "APNs is half configured: also set {} (or none of the apns_* settings)",
                missing.join(", ")
            )));
        }
        if self.push_retry_base_ms == 0 || self.push_retry_max_ms < self.push_retry_base_ms {
            return bad("push_retry_base_ms must be at least 1 and at most push_retry_max_ms");
        }
        self.ice_settings()?;
        self.cluster_settings()?;
        Ok(())
    }

    /// How this node joins its cluster, if `cluster` is set.
    pub fn cluster_settings(&self) -> Result<Option<crate::cluster::ClusterSettings>, ServerError> {
        let Some(nats_url) = &self.cluster else {
            return Ok(None);
        };
        let bad = |m: String| Err(ServerError::Config(m));
        if !nats_url.starts_with("nats://") && !nats_url.starts_with("tls://") {
            return bad(format!(
                "cluster {nats_url:?} is not a NATS URL; use nats://HOST:PORT"
            ));
        }
        let database_url = match &self.database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                url.clone()
            }
            _ => {
                return bad("a cluster needs a shared PostgreSQL store: set --database \
                     postgres://... (database_url) on every node"
                    .to_owned())
            }
        };
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !name_ok(&self.cluster_prefix) {
            return bad(format!(
                "cluster_prefix {:?} must be 1-64 letters, digits, '-' or '_'",
                self.cluster_prefix
            ));
        }
        let node = match &self.node_id {
            Some(node) if name_ok(node) => node.clone(),
            Some(node) => {
                return bad(format!(
                    "node_id {node:?} must be 1-64 letters, digits, '-' or '_'"
                ))
            }
            None => {
                let mut bytes = [0u8; 4];
                getrandom::fill(&mut bytes)
                    .map_err(|e| ServerError::Config(format!("no random node id: {e}")))?;
                format!("n-{}", hex::encode(bytes))
            }
        };
        Ok(Some(crate::cluster::ClusterSettings {
            nats_url: nats_url.clone(),
            prefix: self.cluster_prefix.clone(),
            node,
            database_url,
        }))
    }

    /// The checked `[ice]` settings.
    pub fn ice_settings(&self) -> Result<IceSettings, ServerError> {
        IceSettings::new(&self.ice)
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
            ended_retention_ms: self.ended_call_retention_secs * 1000,
            invite_burst: self.invite_burst,
            invite_refill_ms: self.invite_refill_secs * 1000,
            max_ringing_per_user: self.max_ringing_calls_per_user,
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
        assert_eq!(
            c.router().ended_retention_ms,
            RouterConfig::default().ended_retention_ms,
            "the default retention reaches the router"
        );
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
        let mut c = ServerConfig::default();
        c.apply_env(|k| (k == "RINGWIRE_ENDED_CALL_RETENTION_SECS").then(|| "0".to_owned()))
            .unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("ended_call_retention_secs"), "{err}");
        let missing = ServerConfig::from_file(Some(Path::new("/nonexistent/r.toml"))).unwrap_err();
        assert!(missing.to_string().contains("cannot read config file"));
    }

    #[test]
    fn ice_table_from_file_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ice.toml");
        std::fs::write(
            &path,
            "[ice]\nservers = [\"stun:t.example.org:3478\", \"turn:t.example.org:3478?transport=udp\"]\nturn_secret = \"0123456789abcdef\"\nturn_credential_ttl_s = 600\n",
        )
        .unwrap();
        let mut c = ServerConfig::from_file(Some(&path)).unwrap();
        assert_eq!(c.ice.servers.len(), 2);
        assert_eq!(c.ice.turn_credential_ttl_s, 600);
        assert!(c.validate().is_ok());
        c.apply_env(|k| match k {
            "RINGWIRE_ICE_SERVERS" => Some("stun:a.org, stun:b.org".to_owned()),
            "RINGWIRE_ICE_TURN_CREDENTIAL_TTL_S" => Some("120".to_owned()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.ice.servers.len(), 2);
        assert_eq!(c.ice.turn_credential_ttl_s, 120);
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("no turn:"), "{err}");

        std::fs::write(&path, "[ice]\nservers = [\"turn://x.org\"]\n").unwrap();
        let err = ServerConfig::from_file(Some(&path))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ice") && err.contains("//"), "{err}");
        std::fs::write(&path, "[ice]\nserver = []\n").unwrap();
        let err = ServerConfig::from_file(Some(&path))
            .unwrap_err()
            .to_string();
        assert!(err.contains("server"), "{err}");
        let err = c
            .apply_env(|k| (k == "RINGWIRE_ICE_SERVERS").then(|| "stun:".to_owned()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("RINGWIRE_ICE_SERVERS"), "{err}");
    }
}
