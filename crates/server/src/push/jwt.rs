//! Compact JSON Web Tokens signed with aws-lc-rs (the crypto the workspace already builds):
//! ES256 for APNs provider tokens (RFC 7518 §3.4: the raw 64-byte `r || s` signature) and RS256
//! for Google service-account assertions (RSASSA-PKCS1-v1_5 with SHA-256). Signing is all this
//! server needs, so a JWT library would add code without adding checks.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivatePkcs8KeyDer;
use serde_json::Value;

use super::PushError;

/// Base64url without padding, as JWTs use.
pub fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Parses a PKCS#8 private key from PEM text (`-----BEGIN PRIVATE KEY-----`), the format of
/// Apple's `.p8` files and of `private_key` in Google's service-account JSON.
fn pkcs8_der(pem: &str, what: &str) -> Result<Vec<u8>, PushError> {
    PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
        .map(|der| der.secret_pkcs8_der().to_vec())
        .map_err(|e| PushError::Key(format!("{what}: not a PEM \"PRIVATE KEY\" (PKCS#8): {e}")))
}

/// An ES256 (ECDSA P-256, SHA-256) signing key.
#[derive(Debug)]
pub struct Es256Key(EcdsaKeyPair);

impl Es256Key {
    /// From PKCS#8 PEM text; `what` names the source in errors.
    pub fn from_pem(pem: &str, what: &str) -> Result<Es256Key, PushError> {
        let der = pkcs8_der(pem, what)?;
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
            .map(Es256Key)
            .map_err(|e| PushError::Key(format!("{what}: not a P-256 EC key: {e}")))
    }

    /// The public key as an uncompressed SEC1 point (for tests that verify signatures).
    pub fn public_key(&self) -> Vec<u8> {
        self.0.public_key().as_ref().to_vec()
    }
}

/// An RS256 (RSASSA-PKCS1-v1_5, SHA-256) signing key.
#[derive(Debug)]
pub struct Rs256Key(RsaKeyPair);

impl Rs256Key {
    /// From PKCS#8 PEM text; `what` names the source in errors.
    pub fn from_pem(pem: &str, what: &str) -> Result<Rs256Key, PushError> {
        let der = pkcs8_der(pem, what)?;
        RsaKeyPair::from_pkcs8(&der)
            .map(Rs256Key)
            .map_err(|e| PushError::Key(format!("{what}: not an RSA key: {e}")))
    }
}

/// `header.claims` encoded, signed with ES256.
pub fn sign_es256(key: &Es256Key, header: &Value, claims: &Value) -> Result<String, PushError> {
    sign(header, claims, |input| {
        key.0
            .sign(&SystemRandom::new(), input)
            .map(|sig| sig.as_ref().to_vec())
            .map_err(|_| PushError::Key("ES256 signing failed".into()))
    })
}

/// `header.claims` encoded, signed with RS256.
pub fn sign_rs256(key: &Rs256Key, header: &Value, claims: &Value) -> Result<String, PushError> {
    sign(header, claims, |input| {
        let mut sig = vec![0u8; key.0.public_modulus_len()];
        key.0
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input, &mut sig)
            .map_err(|_| PushError::Key("RS256 signing failed".into()))?;
        Ok(sig)
    })
}

fn sign(
    header: &Value,
    claims: &Value,
    signer: impl FnOnce(&[u8]) -> Result<Vec<u8>, PushError>,
) -> Result<String, PushError> {
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = signer(signing_input.as_bytes())?;
    Ok(format!("{signing_input}.{}", b64(&signature)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{
        UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256,
    };
    use serde_json::json;

    fn unb64(text: &str) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD.decode(text).ok()
    }

    /// The three parts of a compact JWT, decoded (header, claims, signature) plus the signing
    /// input; `None` if it is not well-formed.
    fn split(jwt: &str) -> Option<(Value, Value, Vec<u8>, String)> {
        let mut parts = jwt.split('.');
        let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header = serde_json::from_slice(&unb64(h)?).ok()?;
        let claims = serde_json::from_slice(&unb64(c)?).ok()?;
        Some((header, claims, unb64(s)?, format!("{h}.{c}")))
    }

    fn pem(label: &str, der: &[u8]) -> String {
        use base64::engine::general_purpose::STANDARD;
        let body = STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    #[test]
    fn es256_signature_verifies_with_the_public_key() {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let key = Es256Key::from_pem(&pem("PRIVATE KEY", pkcs8.as_ref()), "test").unwrap();
        let jwt = sign_es256(
            &key,
            &json!({"alg": "ES256", "kid": "K1"}),
            &json!({"iss": "TEAM", "iat": 1}),
        )
        .unwrap();
        let (header, claims, sig, input) = split(&jwt).unwrap();
        assert_eq!(header["kid"], "K1");
        assert_eq!(claims["iss"], "TEAM");
        assert_eq!(sig.len(), 64, "ES256 signatures are raw r||s");
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.public_key())
            .verify(input.as_bytes(), &sig)
            .unwrap();
    }

    #[test]
    fn rs256_signature_verifies_with_the_public_key() {
        let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).unwrap();
        let key = Rs256Key::from_pem(&pem("PRIVATE KEY", der.as_ref()), "test").unwrap();
        let jwt = sign_rs256(&key, &json!({"alg": "RS256"}), &json!({"iss": "a@b"})).unwrap();
        let (_, claims, sig, input) = split(&jwt).unwrap();
        assert_eq!(claims["iss"], "a@b");
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pair.public_key().as_ref())
            .verify(input.as_bytes(), &sig)
            .unwrap();
    }

    #[test]
    fn bad_keys_are_named() {
        let err = Es256Key::from_pem("not a key", "apns_key_path /x.p8").unwrap_err();
        assert!(err.to_string().contains("apns_key_path /x.p8"), "{err}");
    }

    #[test]
    fn split_rejects_garbage() {
        assert!(split("a.b").is_none());
        assert!(split("a.b.c.d").is_none());
        assert!(split("!!.??.**").is_none());
    }
}
