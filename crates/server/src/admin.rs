//! User and device administration shared by the CLI (`ringwire user add`, `ringwire device add`)
//! and the HTTP admin API, so both validate and report the same way.

use ringwire_proto::{DeviceId, DisplayName, UserName};
use serde::Serialize;

use crate::clock::unix_ms;
use crate::store::{DeviceRecord, Store, StoreError, UserRecord};

/// Longest device label accepted.
pub const MAX_LABEL_LEN: usize = 64;

/// Why an admin operation was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// A name, label or id is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The user already exists.
    #[error("user {0:?} already exists; pick another name")]
    UserExists(String),
    /// No such user.
    #[error("no user named {0:?}; add it first with `ringwire user add {0}`")]
    UserNotFound(String),
    /// No such device.
    #[error("no active device with id {0}")]
    DeviceNotFound(String),
    /// The user has the most devices allowed (`max_devices_per_user`).
    #[error("user {user:?} already has {max} active devices, the most allowed (max_devices_per_user); revoke one first")]
    TooManyDevices { user: String, max: usize },
    /// The store failed.
    #[error("store: {0}")]
    Store(StoreError),
}

impl AdminError {
    /// A stable code for JSON output.
    pub fn code(&self) -> &'static str {
        match self {
            AdminError::Invalid(_) => "invalid_field",
            AdminError::UserExists(_) => "user_exists",
            AdminError::UserNotFound(_) => "user_not_found",
            AdminError::DeviceNotFound(_) => "device_not_found",
            AdminError::TooManyDevices { .. } => "too_many_devices",
            AdminError::Store(_) => "internal",
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UserExists(n) => AdminError::UserExists(n.to_string()),
            StoreError::UserNotFound(n) => AdminError::UserNotFound(n.to_string()),
            StoreError::TooManyDevices { user, max } => AdminError::TooManyDevices {
                user: user.to_string(),
                max,
            },
            other => AdminError::Store(other),
        }
    }
}

/// A new device and its token, which is shown this once and never stored.
#[derive(Debug, Serialize)]
pub struct NewDevice {
    pub device: DeviceRecord,
    pub token: String,
}

/// Adds a user.
pub async fn add_user(
    store: &Store,
    name: &str,
    display_name: Option<&str>,
) -> Result<UserRecord, AdminError> {
    let name = parse_user(name)?;
    let display = display_name.map(parse_display_name).transpose()?;
    Ok(store.add_user(&name, display.as_ref(), unix_ms()).await?)
}

/// Adds a device to an existing user and mints its token; refused when the user already has
/// `max_devices` active devices.
pub async fn add_device(
    store: &Store,
    user: &str,
    label: Option<&str>,
    max_devices: usize,
) -> Result<NewDevice, AdminError> {
    let user = parse_user(user)?;
    if let Some(l) = label {
        if l.is_empty()
            || l.len() > MAX_LABEL_LEN
            || l.chars().any(char::is_control)
            || crate::names::spoofing_risk(l).is_some()
        {
            return Err(AdminError::Invalid(format!(
                "device label must be 1-{MAX_LABEL_LEN} bytes without control, bidi-override or \
                 invisible-only text"
            )));
        }
    }
    let (device, token) = store
        .add_device(&user, label, unix_ms(), max_devices)
        .await?;
    Ok(NewDevice {
        device,
        token: token.as_str().to_owned(),
    })
}

/// The user's active devices.
pub async fn list_devices(store: &Store, user: &str) -> Result<Vec<DeviceRecord>, AdminError> {
    let user = parse_user(user)?;
    if store.user(&user).await?.is_none() {
        return Err(AdminError::UserNotFound(user.to_string()));
    }
    Ok(store.devices_of_user(&user).await?)
}

/// Revokes a device's token.
pub async fn revoke_device(store: &Store, device: &str) -> Result<DeviceId, AdminError> {
    let id: DeviceId = device
        .parse()
        .map_err(|e: String| AdminError::Invalid(clean(e)))?;
    if store.revoke_device(id).await? {
        Ok(id)
    } else {
        Err(AdminError::DeviceNotFound(device.to_owned()))
    }
}

/// Parses a display name: the protocol's rules, and nothing that could spoof another caller on
/// an incoming-call screen (see [`crate::names`]).
pub fn parse_display_name(name: &str) -> Result<DisplayName, AdminError> {
    if let Some(why) = crate::names::spoofing_risk(name) {
        return Err(AdminError::Invalid(format!("display name {why}")));
    }
    name.parse::<DisplayName>()
        .map_err(|e| AdminError::Invalid(clean(e)))
}

/// Parses a user name, with a message a person can act on.
pub fn parse_user(name: &str) -> Result<UserName, AdminError> {
    name.parse()
        .map_err(|e: String| AdminError::Invalid(clean(e)))
}

fn clean(e: String) -> String {
    e.split_once(": ").map(|(_, m)| m.to_owned()).unwrap_or(e)
}
