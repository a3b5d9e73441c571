//! ICE servers and TURN credentials for devices (the `[ice]` configuration). Pure: the time is
//! an argument, so the connection task (the driver) decides when to mint.
//!
//! TURN credentials follow coturn's `use-auth-secret` convention (the "TURN REST API"):
//! username `<expiry unix time>:<device id>`, password `base64(HMAC-SHA1(secret, username))`.
//! coturn recomputes the password from its `static-auth-secret` and refuses a username whose
//! expiry has passed, so the secret never leaves the server and a leaked credential dies on
//! its own. A device gets them in `welcome` and again in `ice_servers` at
//! [`REFRESH_AT_PERCENT`] of their lifetime.

use aws_lc_rs::hmac;
use base64::Engine as _;
use ringwire_proto::{DeviceId, IceServer, IceUrl, MAX_ICE_URLS};
use serde::Deserialize;

use crate::error::ServerError;

/// Fresh credentials are sent when this share of the lifetime has passed.
pub const REFRESH_AT_PERCENT: u64 = 80;
/// Shortest and longest credential lifetime accepted, seconds.
pub const MIN_TTL_S: u64 = 10;
pub const MAX_TTL_S: u64 = 7 * 24 * 3600;
/// Default credential lifetime, seconds.
pub const DEFAULT_TTL_S: u64 = 3600;
/// Shortest shared secret accepted.
pub const MIN_SECRET_BYTES: usize = 16;

/// coturn's `static-auth-secret`. Never printed, never sent.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct TurnSecret(String);

impl TurnSecret {
    pub fn new(secret: impl Into<String>) -> TurnSecret {
        TurnSecret(secret.into())
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for TurnSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TurnSecret(<redacted>)")
    }
}

/// The `[ice]` table of the configuration file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IceConfig {
    /// `stun:`, `turn:` and `turns:` URLs, in the order devices should try them.
    pub servers: Vec<IceUrl>,
    /// coturn's `static-auth-secret`; needed when `servers` lists a TURN URL.
    pub turn_secret: Option<TurnSecret>,
    /// Lifetime of the TURN credentials a device gets, seconds.
    pub turn_credential_ttl_s: u64,
}

impl Default for IceConfig {
    fn default() -> Self {
        IceConfig {
            servers: Vec::new(),
            turn_secret: None,
            turn_credential_ttl_s: DEFAULT_TTL_S,
        }
    }
}

/// Parses a list of URLs separated by commas or whitespace (environment variables, flags).
pub fn parse_url_list(text: &str) -> Result<Vec<IceUrl>, String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(IceUrl::parse)
        .collect()
}

/// What a device gets at one instant: the list for `welcome`/`ice_servers`, when its
/// credentials expire and when to send fresh ones (UNIX ms; `None` without TURN).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IceGrant {
    pub servers: Vec<IceServer>,
    pub expires_ms: Option<u64>,
    pub refresh_at_ms: Option<u64>,
}

/// The checked `[ice]` settings, ready to mint grants.
#[derive(Clone, Debug, Default)]
pub struct IceSettings {
    stun: Vec<IceUrl>,
    turn: Vec<IceUrl>,
    secret: Option<TurnSecret>,
    ttl_s: u64,
}

impl IceSettings {
    /// Checks the configuration; the error names the setting and what to change.
    pub fn new(config: &IceConfig) -> Result<IceSettings, ServerError> {
        let bad = |m: String| Err(ServerError::Config(m));
        let ttl_s = config.turn_credential_ttl_s;
        if !(MIN_TTL_S..=MAX_TTL_S).contains(&ttl_s) {
            return bad(format!(
                "ice.turn_credential_ttl_s must be between {MIN_TTL_S} and {MAX_TTL_S} seconds"
            ));
        }
        let (turn, stun): (Vec<IceUrl>, Vec<IceUrl>) = config
            .servers
            .iter()
            .cloned()
            .partition(|u| u.scheme().is_turn());
        if stun.len() > MAX_ICE_URLS || turn.len() > MAX_ICE_URLS {
            return bad(format!(
                "ice.servers lists more than {MAX_ICE_URLS} stun: or more than {MAX_ICE_URLS} turn:/turns: URLs"
            ));
        }
        match (&config.turn_secret, turn.is_empty()) {
            (None, false) => {
                return bad(
                    "ice.servers lists turn:/turns: URLs but ice.turn_secret is not set \
                     (use coturn's static-auth-secret)"
                        .into(),
                )
            }
            (Some(_), true) => {
                return bad(
                    "ice.turn_secret is set but ice.servers lists no turn: or turns: URL".into(),
                )
            }
            (Some(s), false) if s.bytes().len() < MIN_SECRET_BYTES => {
                return bad(format!(
                    "ice.turn_secret must be at least {MIN_SECRET_BYTES} characters"
                ))
            }
            _ => {}
        }
        Ok(IceSettings {
            stun,
            turn,
            secret: config.turn_secret.clone(),
            ttl_s,
        })
    }

    /// Whether any ICE server is configured.
    pub fn is_empty(&self) -> bool {
        self.stun.is_empty() && self.turn.is_empty()
    }

    /// The ICE servers for `device` at `now_ms` (UNIX ms): one entry with the STUN URLs, one
    /// with the TURN URLs and credentials valid for the configured lifetime.
    pub fn grant(&self, device: DeviceId, now_ms: u64) -> IceGrant {
        let mut servers = Vec::new();
        if !self.stun.is_empty() {
            if let Ok(s) = IceServer::new(self.stun.clone(), None, None) {
                servers.push(s);
            }
        }
        let mut expires_ms = None;
        let mut refresh_at_ms = None;
        if let (Some(secret), false) = (&self.secret, self.turn.is_empty()) {
            let expiry_s = now_ms / 1000 + self.ttl_s;
            let username = turn_username(expiry_s, device);
            let credential = turn_password(secret, &username);
            // Checked by `new`: 1-8 TURN URLs, and the username and credential are short
            // printable ASCII, so this cannot fail.
            if let Ok(s) = IceServer::new(self.turn.clone(), Some(username), Some(credential)) {
                servers.push(s);
                expires_ms = Some(expiry_s * 1000);
                refresh_at_ms = Some(now_ms + self.ttl_s * 10 * REFRESH_AT_PERCENT);
            }
        }
        IceGrant {
            servers,
            expires_ms,
            refresh_at_ms,
        }
    }
}

/// coturn's REST username: `<expiry unix time>:<device id>`.
pub fn turn_username(expiry_unix_s: u64, device: DeviceId) -> String {
    format!("{expiry_unix_s}:{device}")
}

/// coturn's REST password: `base64(HMAC-SHA1(secret, username))`.
pub fn turn_password(secret: &TurnSecret, username: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.bytes());
    let tag = hmac::sign(&key, username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &str) -> Vec<IceUrl> {
        parse_url_list(list).unwrap()
    }

    fn config(servers: &str, secret: Option<&str>) -> IceConfig {
        IceConfig {
            servers: urls(servers),
            turn_secret: secret.map(TurnSecret::new),
            turn_credential_ttl_s: 3600,
        }
    }

    #[test]
    fn password_is_coturns_hmac_sha1() {
        // RFC 2202 test case 2 (key "Jefe"): HMAC-SHA1 of "what do ya want for nothing?".
        let pw = turn_password(&TurnSecret::new("Jefe"), "what do ya want for nothing?");
        let expected = base64::engine::general_purpose::STANDARD
            .encode(hex::decode("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79").unwrap());
        assert_eq!(pw, expected);
    }

    #[test]
    fn grant_has_stun_then_turn_with_rest_credentials() {
        let s = IceSettings::new(&config(
            "stun:t.example.org, turn:t.example.org?transport=udp turns:t.example.org:5349?transport=tcp",
            Some("0123456789abcdef"),
        ))
        .unwrap();
        let device = DeviceId::from_bytes([7; 16]);
        let g = s.grant(device, 1_700_000_000_500);
        assert_eq!(g.servers.len(), 2);
        assert_eq!(g.servers[0].username(), None);
        let turn = &g.servers[1];
        assert_eq!(turn.urls().len(), 2);
        let username = format!("1700003600:{device}");
        assert_eq!(turn.username(), Some(username.as_str()));
        let expected = turn_password(&TurnSecret::new("0123456789abcdef"), &username);
        assert_eq!(turn.credential(), Some(expected.as_str()));
        assert_eq!(g.expires_ms, Some(1_700_003_600_000));
        assert_eq!(g.refresh_at_ms, Some(1_700_000_000_500 + 2_880_000));
    }

    #[test]
    fn stun_only_has_no_expiry() {
        let s = IceSettings::new(&config("stun:a.org", None)).unwrap();
        let g = s.grant(DeviceId::from_bytes([1; 16]), 5);
        assert_eq!(g.servers.len(), 1);
        assert_eq!((g.expires_ms, g.refresh_at_ms), (None, None));
        let none = IceSettings::new(&IceConfig::default()).unwrap();
        assert!(none.is_empty());
        assert!(none
            .grant(DeviceId::from_bytes([1; 16]), 5)
            .servers
            .is_empty());
    }

    #[test]
    fn bad_settings_say_what_to_change() {
        for (c, why) in [
            (config("turn:a.org", None), "turn_secret is not set"),
            (config("stun:a.org", Some("0123456789abcdef")), "no turn:"),
            (config("turn:a.org", Some("short")), "at least 16"),
            (
                IceConfig {
                    turn_credential_ttl_s: 5,
                    ..config("turn:a.org", Some("0123456789abcdef"))
                },
                "ttl",
            ),
            (config(&"stun:a.org ".repeat(9), None), "more than 8"),
        ] {
            let e = IceSettings::new(&c).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
        assert!(parse_url_list("stun:a.org,http://b").is_err());
    }

    #[test]
    fn the_secret_is_never_printed() {
        let c = config("turn:a.org", Some("0123456789abcdef"));
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
        let s = IceSettings::new(&c).unwrap();
        assert!(!format!("{s:?}").contains("0123456789abcdef"));
    }
}
