//! Identifier and name types that can only hold valid values: call ids, device ids, user names
//! and display names. Their serde impls reject bad input with an "invalid id" error that the
//! codec turns into [`crate::ErrorCode::InvalidId`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// Marker at the start of every id validation error, so the codec can classify it.
pub(crate) const INVALID_ID_PREFIX: &str = "invalid id";
/// Marker for other value validation errors (names, sizes).
pub(crate) const INVALID_VALUE_PREFIX: &str = "invalid value";

fn parse_hex128(s: &str, what: &str) -> Result<[u8; 16], String> {
    let bytes = s.as_bytes();
    let valid = bytes.len() == 32 && bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !valid {
        return Err(format!(
            "{INVALID_ID_PREFIX}: {what} must be 32 lowercase hex digits (128 bits)"
        ));
    }
    let mut out = [0u8; 16];
    for (i, chunk) in bytes.chunks_exact(2).enumerate() {
        // Both digits were checked above, so from_str_radix cannot fail.
        let pair = std::str::from_utf8(chunk).map_err(|e| e.to_string())?;
        out[i] = u8::from_str_radix(pair, 16).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

fn fmt_hex(bytes: &[u8; 16], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

fn random_128() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    // The OS RNG failing means the platform is unusable for any crypto; there is no safe fallback.
    getrandom::fill(&mut bytes).expect("operating system random number generator failed");
    bytes
}

macro_rules! hex_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        #[cfg_attr(feature = "ts", ts(type = "string"))]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name([u8; 16]);

        impl $name {
            /// A fresh id from the operating system's random number generator.
            pub fn random() -> Self {
                Self(random_128())
            }

            /// Builds an id from raw bytes (deterministic tests and simulations).
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }

            /// The raw 128 bits.
            pub const fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                parse_hex128(s, $what).map(Self)
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt_hex(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(", stringify!($name))?;
                fmt_hex(&self.0, f)?;
                write!(f, ")")
            }
        }
    };
}

hex_id!(
    /// A call's id: 128 random bits chosen by the caller, 32 lowercase hex digits on the wire.
    /// Ordering matters: in glare the call with the higher id survives.
    CallId,
    "call_id"
);

hex_id!(
    /// A device's id: 128 random bits chosen by the server when the device is added.
    DeviceId,
    "device_id"
);

/// A user's unique name: 1–64 characters of `a-z`, `0-9`, `.`, `_`, `-`, starting with a letter
/// or digit.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(type = "string"))]
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserName(String);

impl UserName {
    /// Maximum length in bytes.
    pub const MAX_LEN: usize = 64;

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for UserName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let b = s.as_bytes();
        let first_ok = b
            .first()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = b.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
        });
        if !first_ok || !rest_ok || b.len() > Self::MAX_LEN {
            return Err(format!(
                "{INVALID_VALUE_PREFIX}: user name must be 1-64 characters of a-z 0-9 . _ - starting with a letter or digit"
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for UserName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<UserName> for String {
    fn from(n: UserName) -> String {
        n.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserName({})", self.0)
    }
}

/// A human-readable name shown on the incoming-call screen: 1–128 bytes, no control characters.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(type = "string"))]
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);

impl DisplayName {
    /// Maximum length in bytes.
    pub const MAX_LEN: usize = 128;

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for DisplayName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() || s.len() > Self::MAX_LEN || s.chars().any(char::is_control) {
            return Err(format!(
                "{INVALID_VALUE_PREFIX}: display name must be 1-128 bytes without control characters"
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for DisplayName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<DisplayName> for String {
    fn from(n: DisplayName) -> String {
        n.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DisplayName({:?})", self.0)
    }
}

impl CallId {
    /// The call id both ends of an app's own signaling channel derive from the channel's own
    /// name for the call (a Firestore document id, a room name): FNV-1a, 128 bits, of its UTF-8
    /// bytes. Peer mode (docs/peer-mode.md) uses it so the two engines agree without a server.
    pub fn from_channel_id(channel_id: &str) -> CallId {
        const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
        const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
        let hash = channel_id
            .bytes()
            .fold(OFFSET, |h, b| (h ^ u128::from(b)).wrapping_mul(PRIME));
        CallId::from_bytes(hash.to_be_bytes())
    }
}

/// With the `uniffi` feature the ids and names cross the bindings (`crates/ffi`) as their text: a
/// foreign `CallId` is a `String` (32 lowercase hex digits), and text coming from the app is
/// checked exactly as on the wire.
#[cfg(feature = "uniffi")]
macro_rules! uniffi_as_text {
    ($($name:ident),+) => {$(
        uniffi::custom_type!($name, String, {
            lower: |value| String::from(value),
            try_lift: |text| $name::try_from(text).map_err(uniffi::deps::anyhow::Error::msg),
        });
    )+};
}

#[cfg(feature = "uniffi")]
uniffi_as_text!(CallId, DeviceId, UserName, DisplayName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_id_round_trips_and_orders_by_bits() {
        let id = CallId::random();
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(text.parse::<CallId>(), Ok(id));
        let low = CallId::from_bytes([0; 16]);
        let high = CallId::from_bytes([0xff; 16]);
        assert!(low < high);
        assert_eq!(high.to_string(), "f".repeat(32));
    }

    #[test]
    fn random_ids_differ() {
        assert_ne!(CallId::random(), CallId::random());
        assert_ne!(DeviceId::random(), DeviceId::random());
    }

    #[test]
    fn bad_ids_are_rejected() {
        for bad in [
            "",
            "abc",
            &"A".repeat(32),
            &"g".repeat(32),
            &"0".repeat(31),
            &"0".repeat(33),
        ] {
            let err = bad.parse::<CallId>().unwrap_err();
            assert!(err.starts_with(INVALID_ID_PREFIX), "{bad}: {err}");
        }
    }

    #[test]
    fn user_names_are_validated() {
        for good in ["bob", "alice.smith", "a", "0day", "x_y-z"] {
            assert!(good.parse::<UserName>().is_ok(), "{good}");
        }
        let long = "a".repeat(65);
        for bad in ["", "Bob", "-bob", ".x", "a b", "ü", long.as_str()] {
            assert!(bad.parse::<UserName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn display_names_are_validated() {
        assert!("Alice Liddell 🐇".parse::<DisplayName>().is_ok());
        assert!("  ".parse::<DisplayName>().is_err());
        assert!("a\nb".parse::<DisplayName>().is_err());
        assert!("x".repeat(129).parse::<DisplayName>().is_err());
    }
}
