//! `push_token`: how a device tells the server where to send its push notifications. The
//! tokens are checked here, per platform, so the server only ever stores tokens a push service
//! could accept: APNs device tokens are hex (normalized to lowercase), FCM registration tokens
//! are URL-safe text. Tokens are secrets of a kind (they let anyone with the provider key wake
//! the phone), so `Debug` never prints them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ProtoError;
use crate::ids::INVALID_VALUE_PREFIX;

/// Shortest APNs device token accepted, in bytes (Apple's tokens are 32 bytes today).
pub const MIN_APNS_TOKEN_BYTES: usize = 16;
/// Longest APNs device token accepted, in bytes: a generous ceiling, because Apple says token
/// lengths may change and must not be hard-coded.
pub const MAX_APNS_TOKEN_BYTES: usize = 100;
/// Longest FCM registration token accepted, in bytes (they are ~163 bytes today).
pub const MAX_FCM_TOKEN_BYTES: usize = 4096;

/// Which push service a device uses.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushPlatform {
    /// Apple Push Notification service (iOS): a PushKit VoIP token and an ordinary alert token.
    Apns,
    /// Firebase Cloud Messaging HTTP v1 (Android).
    Fcm,
    /// No pushes: clears whatever the device registered before.
    None,
}

impl PushPlatform {
    /// The wire (and stored) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PushPlatform::Apns => "apns",
            PushPlatform::Fcm => "fcm",
            PushPlatform::None => "none",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<PushPlatform> {
        [PushPlatform::Apns, PushPlatform::Fcm, PushPlatform::None]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

impl fmt::Display for PushPlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `push_token`: the device's push registration, replacing any earlier one.
///
/// - `apns`: `voip_token` is the PushKit token (incoming calls), `alert_token` the ordinary
///   remote-notification token (missed calls); at least one, each hex of 16–100 bytes.
/// - `fcm`: one registration token serves both purposes; send it as `voip_token` and/or
///   `alert_token` (a token given alone is used for both); each 1–4096 bytes of
///   `A-Z a-z 0-9 - _ : .`.
/// - `none`: no tokens; the server stops pushing to this device.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(as = "RawPushToken"))]
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawPushToken", into = "RawPushToken")]
pub struct PushToken {
    platform: PushPlatform,
    voip_token: Option<String>,
    alert_token: Option<String>,
}

impl PushToken {
    /// Validates a registration (see the type docs for the rules). The error is
    /// [`ProtoError::InvalidField`] naming the field (code `invalid_field`).
    pub fn new(
        platform: PushPlatform,
        voip_token: Option<String>,
        alert_token: Option<String>,
    ) -> Result<PushToken, ProtoError> {
        let check = |field: &str, token: Option<String>| -> Result<Option<String>, ProtoError> {
            token.map(|t| check_token(platform, field, t)).transpose()
        };
        let voip_token = check("voip_token", voip_token)?;
        let alert_token = check("alert_token", alert_token)?;
        match (platform, voip_token.is_some() || alert_token.is_some()) {
            (PushPlatform::None, true) => Err(invalid(
                "platform",
                "\"none\" takes no tokens; omit voip_token and alert_token",
            )),
            (PushPlatform::Apns | PushPlatform::Fcm, false) => Err(invalid(
                "platform",
                format!(
                    "\"{platform}\" needs voip_token or alert_token; send platform \"none\" to stop pushes"
                ),
            )),
            _ => Ok(PushToken {
                platform,
                voip_token,
                alert_token,
            }),
        }
    }

    /// The push service.
    pub fn platform(&self) -> PushPlatform {
        self.platform
    }

    /// The token for incoming-call pushes (APNs: PushKit), as given.
    pub fn voip_token(&self) -> Option<&str> {
        self.voip_token.as_deref()
    }

    /// The token for ordinary notifications (missed calls), as given.
    pub fn alert_token(&self) -> Option<&str> {
        self.alert_token.as_deref()
    }
}

impl fmt::Debug for PushToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushToken")
            .field("platform", &self.platform)
            .field(
                "voip_token",
                &self.voip_token.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "alert_token",
                &self.alert_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

fn invalid(field: &str, detail: impl Into<String>) -> ProtoError {
    ProtoError::InvalidField {
        field: field.to_owned(),
        detail: detail.into(),
    }
}

fn check_token(platform: PushPlatform, field: &str, token: String) -> Result<String, ProtoError> {
    match platform {
        PushPlatform::Apns => {
            let hex_ok =
                token.len().is_multiple_of(2) && token.bytes().all(|b| b.is_ascii_hexdigit());
            let bytes = token.len() / 2;
            if !hex_ok || !(MIN_APNS_TOKEN_BYTES..=MAX_APNS_TOKEN_BYTES).contains(&bytes) {
                return Err(invalid(
                    field,
                    format!(
                        "must be an APNs device token in hex ({MIN_APNS_TOKEN_BYTES}-\
                         {MAX_APNS_TOKEN_BYTES} bytes, so {}-{} hex digits)",
                        MIN_APNS_TOKEN_BYTES * 2,
                        MAX_APNS_TOKEN_BYTES * 2
                    ),
                ));
            }
            // APNs takes either case; one spelling keeps stored tokens comparable.
            Ok(token.to_ascii_lowercase())
        }
        PushPlatform::Fcm => {
            let chars_ok = token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'));
            if token.is_empty() || token.len() > MAX_FCM_TOKEN_BYTES || !chars_ok {
                return Err(invalid(
                    field,
                    format!(
                        "must be an FCM registration token (1-{MAX_FCM_TOKEN_BYTES} bytes of \
                         A-Z a-z 0-9 - _ : .)"
                    ),
                ));
            }
            Ok(token)
        }
        // Rejected by the caller with a clearer message.
        PushPlatform::None => Ok(token),
    }
}

/// The wire shape, before validation.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "PushToken", optional_fields))]
#[derive(Serialize, Deserialize)]
struct RawPushToken {
    platform: PushPlatform,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    voip_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alert_token: Option<String>,
}

impl TryFrom<RawPushToken> for PushToken {
    type Error = String;
    fn try_from(raw: RawPushToken) -> Result<Self, String> {
        // Serde loses the field path inside tagged messages, so the text names the field; the
        // prefix makes the codec report `invalid_field`.
        PushToken::new(raw.platform, raw.voip_token, raw.alert_token).map_err(|e| match e {
            ProtoError::InvalidField { field, detail } => {
                format!("{INVALID_VALUE_PREFIX}: {field} {detail}")
            }
            other => format!("{INVALID_VALUE_PREFIX}: {other}"),
        })
    }
}

impl From<PushToken> for RawPushToken {
    fn from(t: PushToken) -> RawPushToken {
        RawPushToken {
            platform: t.platform,
            voip_token: t.voip_token,
            alert_token: t.alert_token,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APNS: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

    #[test]
    fn apns_tokens_are_hex_and_normalized() {
        let t = PushToken::new(
            PushPlatform::Apns,
            Some(APNS.to_uppercase()),
            Some(APNS.into()),
        )
        .unwrap();
        assert_eq!(t.voip_token(), Some(APNS));
        assert_eq!(t.alert_token(), Some(APNS));
        for bad in ["xyz", "abc", &"ab".repeat(15), &"ab".repeat(101), ""] {
            let err = PushToken::new(PushPlatform::Apns, Some(bad.into()), None).unwrap_err();
            assert!(
                matches!(&err, ProtoError::InvalidField { field, .. } if field == "voip_token"),
                "{err}"
            );
        }
    }

    #[test]
    fn fcm_tokens_are_url_safe_text() {
        let token = "dQw4w9WgXcQ:APA91bH-x_y.z";
        let t = PushToken::new(PushPlatform::Fcm, None, Some(token.into())).unwrap();
        assert_eq!(t.alert_token(), Some(token));
        for bad in [
            "",
            "has space",
            "quote\"",
            &"a".repeat(MAX_FCM_TOKEN_BYTES + 1),
        ] {
            let err = PushToken::new(PushPlatform::Fcm, None, Some(bad.into())).unwrap_err();
            assert_eq!(err.code(), crate::ErrorCode::InvalidField);
            assert!(err.to_string().contains("alert_token"), "{err}");
        }
    }

    #[test]
    fn platform_and_tokens_must_agree() {
        assert!(PushToken::new(PushPlatform::None, None, None).is_ok());
        assert!(PushToken::new(PushPlatform::None, Some(APNS.into()), None).is_err());
        assert!(PushToken::new(PushPlatform::Apns, None, None).is_err());
        assert!(PushToken::new(PushPlatform::Fcm, None, None).is_err());
    }

    #[test]
    fn debug_redacts_tokens() {
        let t = PushToken::new(PushPlatform::Apns, Some(APNS.into()), None).unwrap();
        let shown = format!("{t:?}");
        assert!(!shown.contains(APNS), "{shown}");
        assert!(shown.contains("redacted"));
    }
}
