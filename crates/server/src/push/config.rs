//! Turning the `apns_*`, `fcm_*` and `push_*` settings into ready-to-use provider settings:
//! reading the `.p8` key and the service-account JSON, checking identifiers, and building the
//! TLS configuration. Everything here runs once at start-up, and every error names the setting
//! to fix.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::backoff::RetryPolicy;
use super::jwt::{Es256Key, Rs256Key};
use super::PushError;
use crate::config::ServerConfig;

/// APNs with token-based (JWT) provider authentication.
#[derive(Debug)]
pub struct ApnsSettings {
    pub endpoint: String,
    /// The 10-character Apple Developer team id (`iss` of the provider token).
    pub team_id: String,
    /// The 10-character id of the signing key (`kid` of the provider token).
    pub key_id: String,
    pub key: Es256Key,
    /// The app's bundle id: alert pushes use it as the topic, VoIP pushes `<bundle id>.voip`.
    pub bundle_id: String,
}

/// FCM HTTP v1 with a service account.
#[derive(Debug)]
pub struct FcmSettings {
    pub endpoint: String,
    pub project_id: String,
    /// The service account (`iss` of the token assertion).
    pub client_email: String,
    /// The key's id, sent as the assertion's `kid` when the key file names it.
    pub private_key_id: Option<String>,
    pub key: Rs256Key,
    /// Google's OAuth2 token endpoint (also the assertion's `aud`).
    pub token_uri: String,
}

/// Everything the push gateway needs.
#[derive(Debug)]
pub struct PushSettings {
    pub apns: Option<ApnsSettings>,
    pub fcm: Option<FcmSettings>,
    pub tls: Arc<rustls::ClientConfig>,
    pub retry: RetryPolicy,
}

/// The fields of a Google service-account key file that are used.
#[derive(Deserialize)]
struct ServiceAccount {
    project_id: Option<String>,
    private_key_id: Option<String>,
    private_key: String,
    client_email: String,
    token_uri: Option<String>,
}

impl PushSettings {
    /// Loads keys and checks settings; providers that are not configured are `None`.
    pub fn load(config: &ServerConfig) -> Result<PushSettings, PushError> {
        let extra_ca = config
            .push_ca_file
            .as_deref()
            .map(|p| read(p, "push_ca_file"))
            .transpose()?;
        Ok(PushSettings {
            apns: load_apns(config)?,
            fcm: load_fcm(config)?,
            tls: super::h2::tls_config(extra_ca.as_deref().map(str::as_bytes))?,
            retry: RetryPolicy {
                base: Duration::from_millis(config.push_retry_base_ms),
                max: Duration::from_millis(config.push_retry_max_ms),
            },
        })
    }
}

/// Push services speak HTTP/2 over TLS only; catching `http://` here names the setting.
fn https(setting: &str, url: &str) -> Result<String, PushError> {
    match url.strip_prefix("https://") {
        Some(rest) if !rest.is_empty() => Ok(url.trim_end_matches('/').to_owned()),
        _ => Err(PushError::Config(format!(
            "{setting} must be an https:// URL, not {url:?}"
        ))),
    }
}

fn read(path: &Path, setting: &str) -> Result<String, PushError> {
    std::fs::read_to_string(path)
        .map_err(|e| PushError::Config(format!("{setting} {}: cannot read: {e}", path.display())))
}

fn load_apns(config: &ServerConfig) -> Result<Option<ApnsSettings>, PushError> {
    let (Some(team_id), Some(key_id), Some(key_path), Some(bundle_id)) = (
        &config.apns_team_id,
        &config.apns_key_id,
        &config.apns_key_path,
        &config.apns_bundle_id,
    ) else {
        return Ok(None);
    };
    for (setting, value) in [("apns_team_id", team_id), ("apns_key_id", key_id)] {
        if value.len() != 10 || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(PushError::Config(format!(
                "{setting} must be the 10-character identifier from the Apple Developer account, not {value:?}"
            )));
        }
    }
    let bundle_ok = !bundle_id.is_empty()
        && bundle_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
    if !bundle_ok || bundle_id.ends_with(".voip") {
        return Err(PushError::Config(format!(
            "apns_bundle_id must be the app's bundle id (like com.example.app, without .voip), not {bundle_id:?}"
        )));
    }
    let what = format!("apns_key_path {}", key_path.display());
    let key = Es256Key::from_pem(&read(key_path, "apns_key_path")?, &what)?;
    Ok(Some(ApnsSettings {
        endpoint: https("apns_endpoint", &config.apns_endpoint)?,
        team_id: team_id.clone(),
        key_id: key_id.clone(),
        key,
        bundle_id: bundle_id.clone(),
    }))
}

fn load_fcm(config: &ServerConfig) -> Result<Option<FcmSettings>, PushError> {
    let Some(path) = &config.fcm_service_account_path else {
        return Ok(None);
    };
    let what = format!("fcm_service_account_path {}", path.display());
    let account: ServiceAccount = serde_json::from_str(&read(path, "fcm_service_account_path")?)
        .map_err(|e| PushError::Config(format!("{what}: not a service-account JSON key: {e}")))?;
    let project_id = config
        .fcm_project_id
        .clone()
        .or(account.project_id)
        .ok_or_else(|| {
            PushError::Config(format!("{what} has no project_id; set fcm_project_id"))
        })?;
    if project_id.is_empty()
        || !project_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':'))
    {
        return Err(PushError::Config(format!(
            "the FCM project id {project_id:?} is not a Firebase project id"
        )));
    }
    let token_uri = config
        .fcm_token_uri
        .clone()
        .or(account.token_uri)
        .unwrap_or_else(|| "https://oauth2.googleapis.com/token".to_owned());
    https("fcm_token_uri (or the key's token_uri)", &token_uri)?;
    Ok(Some(FcmSettings {
        endpoint: https("fcm_endpoint", &config.fcm_endpoint)?,
        project_id,
        client_email: account.client_email,
        private_key_id: account.private_key_id,
        key: Rs256Key::from_pem(&account.private_key, &what)?,
        token_uri,
    }))
}
