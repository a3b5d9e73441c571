//! The two checksums of a STUN message: MESSAGE-INTEGRITY (HMAC-SHA1, RFC 5389 §15.4) with the
//! long-term credential key `MD5(username ":" realm ":" password)` (§15.4, RFC 8489 §9.2.2), and
//! FINGERPRINT (CRC-32 XOR `0x5354554e`, §15.5). Pure functions over bytes.

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;

/// XORed into the CRC-32 of a message to make its FINGERPRINT value.
const FINGERPRINT_XOR: u32 = 0x5354_554e;

/// The long-term credential key: `MD5(username ":" realm ":" password)`.
///
/// The strings are used as given: coturn's REST usernames and base64 passwords are ASCII, so
/// SASLprep would not change them.
pub fn long_term_key(username: &str, realm: &str, password: &str) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update(username.as_bytes());
    md5.update(b":");
    md5.update(realm.as_bytes());
    md5.update(b":");
    md5.update(password.as_bytes());
    md5.finalize().into()
}

/// HMAC-SHA1 of `parts` (concatenated) under `key`.
pub fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(key) else {
        // Invariant: HMAC accepts keys of any length (longer ones are hashed first).
        unreachable!("HMAC-SHA1 takes keys of any length")
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The FINGERPRINT value of `bytes` (the message up to the FINGERPRINT attribute, with the
/// header length already covering it).
pub fn fingerprint(parts: &[&[u8]]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    for part in parts {
        crc.update(part);
    }
    crc.finalize() ^ FINGERPRINT_XOR
}

/// Compares two MACs in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_term_key_is_md5_of_user_realm_pass() {
        // `echo -n user:realm:pass | md5sum`
        let hex: String = long_term_key("user", "realm", "pass")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, "8493fbc53ba582fb4c044c456bdc40eb");
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
