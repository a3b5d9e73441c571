//! Users and their devices: adding them, device tokens (only their SHA-256 is stored),
//! authentication by token, revocation, last-seen and push tokens.

use std::fmt;

use ringwire_proto::{DeviceId, DisplayName, PushPlatform, PushToken, UserName};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;

use super::row::Cols;
use super::{ms_to_db, now_ms, Store, StoreError};

/// A user account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UserRecord {
    pub name: UserName,
    pub display_name: Option<DisplayName>,
    pub created_at_ms: u64,
}

/// One of a user's devices. The token is not part of it: only its hash is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceRecord {
    pub device_id: DeviceId,
    pub user: UserName,
    pub label: Option<String>,
    pub created_at_ms: u64,
    pub last_seen_ms: Option<u64>,
    pub revoked: bool,
}

/// Where a device's pushes go, as registered with `push_token`. `Debug` hides the tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct PushRegistration {
    pub platform: PushPlatform,
    pub voip_token: Option<String>,
    pub alert_token: Option<String>,
}

impl fmt::Debug for PushRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushRegistration")
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

/// A freshly minted device token: 256 random bits, shown once; only its SHA-256 is stored.
///
/// The text is `"rw_"` followed by 64 lowercase hex digits. `Display` and [`as_str`] give the
/// secret (to hand it to the user once); `Debug` does not.
///
/// [`as_str`]: DeviceToken::as_str
pub struct DeviceToken(String);

impl DeviceToken {
    /// Prefix of every device token.
    pub const PREFIX: &'static str = "rw_";
    /// Length of the whole token text.
    pub const LEN: usize = 3 + 64;

    fn generate() -> Result<DeviceToken, StoreError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| {
            std::io::Error::other(format!(
                "the operating system random number generator failed: {e}"
            ))
        })?;
        Ok(DeviceToken(format!(
            "{}{}",
            Self::PREFIX,
            hex::encode(bytes)
        )))
    }

    /// Whether `text` has the token format (so anything else can be rejected without a query).
    fn is_well_formed(text: &str) -> bool {
        text.len() == Self::LEN
            && text.starts_with(Self::PREFIX)
            && text[Self::PREFIX.len()..]
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }

    /// The secret text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceToken(<redacted>)")
    }
}

/// Lowercase hex SHA-256 of the UTF-8 `token`: what the store keeps instead of a device token
/// (also used to compare the admin token).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn user_from_row(row: &AnyRow) -> Result<UserRecord, StoreError> {
    let c = Cols::new(row, "users");
    Ok(UserRecord {
        name: c.valid("name", "user name")?,
        display_name: c.opt_valid("display_name", "display name")?,
        created_at_ms: c.ms("created_at")?,
    })
}

fn device_from_row(row: &AnyRow) -> Result<DeviceRecord, StoreError> {
    let c = Cols::new(row, "devices");
    Ok(DeviceRecord {
        device_id: c.valid("id", "device id")?,
        user: c.valid("user_name", "user name")?,
        label: c.opt_text("label")?,
        created_at_ms: c.ms("created_at")?,
        last_seen_ms: c.opt_ms("last_seen")?,
        revoked: c.opt_ms("revoked_at")?.is_some(),
    })
}

impl Store {
    /// Adds a user; [`StoreError::UserExists`] if the name is taken.
    pub async fn add_user(
        &self,
        name: &UserName,
        display_name: Option<&DisplayName>,
        now_ms: u64,
    ) -> Result<UserRecord, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO users (name, display_name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.as_str())
        .bind(display_name.map(DisplayName::as_str))
        .bind(ms_to_db(now_ms))
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::UserExists(name.clone()));
        }
        Ok(UserRecord {
            name: name.clone(),
            display_name: display_name.cloned(),
            created_at_ms: now_ms,
        })
    }

    /// The user with this name, if any.
    pub async fn user(&self, name: &UserName) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query("SELECT name, display_name, created_at FROM users WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        sqlx::query("SELECT name, display_name, created_at FROM users ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(user_from_row)
            .collect()
    }

    /// New device for an existing user ([`StoreError::UserNotFound`] otherwise) with a fresh
    /// random [`DeviceId`] and token. Refused with [`StoreError::TooManyDevices`] when the user
    /// already has `max_devices` active devices (checked in the same transaction).
    pub async fn add_device(
        &self,
        user: &UserName,
        label: Option<&str>,
        now_ms: u64,
        max_devices: usize,
    ) -> Result<(DeviceRecord, DeviceToken), StoreError> {
        let token = DeviceToken::generate()?;
        let device_id = DeviceId::random();
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT name FROM users WHERE name = $1")
            .bind(user.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Err(StoreError::UserNotFound(user.clone()));
        }
        let active: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM devices WHERE user_name = $1 AND revoked_at IS NULL",
        )
        .bind(user.as_str())
        .fetch_one(&mut *tx)
        .await?;
        if usize::try_from(active).unwrap_or(usize::MAX) >= max_devices {
            return Err(StoreError::TooManyDevices {
                user: user.clone(),
                max: max_devices,
            });
        }
        sqlx::query(
            "INSERT INTO devices (id, user_name, label, token_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(device_id.to_string())
        .bind(user.as_str())
        .bind(label)
        .bind(hash_token(token.as_str()))
        .bind(ms_to_db(now_ms))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let device = DeviceRecord {
            device_id,
            user: user.clone(),
            label: label.map(str::to_owned),
            created_at_ms: now_ms,
            last_seen_ms: None,
            revoked: false,
        };
        Ok((device, token))
    }

    /// The device and its user for a presented token; `None` if unknown or revoked. Looks up
    /// by hash (unique index).
    pub async fn authenticate(
        &self,
        token: &str,
    ) -> Result<Option<(DeviceRecord, UserRecord)>, StoreError> {
        if !DeviceToken::is_well_formed(token) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT d.id, d.user_name, d.label, d.created_at, d.last_seen, d.revoked_at, \
                    u.name, u.display_name, u.created_at AS user_created_at \
             FROM devices d JOIN users u ON u.name = d.user_name \
             WHERE d.token_hash = $1 AND d.revoked_at IS NULL",
        )
        .bind(hash_token(token))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let device = device_from_row(&row)?;
        let c = Cols::new(&row, "users");
        let user = UserRecord {
            name: c.valid("name", "user name")?,
            display_name: c.opt_valid("display_name", "display name")?,
            created_at_ms: c.ms("user_created_at")?,
        };
        Ok(Some((device, user)))
    }

    /// The user's devices that are not revoked, oldest first (empty for an unknown user).
    pub async fn devices_of_user(&self, user: &UserName) -> Result<Vec<DeviceRecord>, StoreError> {
        sqlx::query(
            "SELECT id, user_name, label, created_at, last_seen, revoked_at FROM devices \
             WHERE user_name = $1 AND revoked_at IS NULL ORDER BY created_at, id",
        )
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(device_from_row)
        .collect()
    }

    /// Revokes a device so its token no longer authenticates; `true` if it was active.
    /// The revocation time is the system clock (the only method without a `now_ms`).
    pub async fn revoke_device(&self, device: DeviceId) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE devices SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(device.to_string())
                .bind(ms_to_db(now_ms()))
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether the device exists and is not revoked (re-checked at `hello` and at each invite,
    /// so a revocation made by another process takes effect).
    pub async fn device_active(&self, device: DeviceId) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT id FROM devices WHERE id = $1 AND revoked_at IS NULL")
                .bind(device.to_string())
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// The latest revocation time in the store (0 when nothing was ever revoked).
    pub async fn latest_revocation_ms(&self) -> Result<u64, StoreError> {
        let latest: Option<i64> = sqlx::query_scalar("SELECT MAX(revoked_at) FROM devices")
            .fetch_one(&self.pool)
            .await?;
        Ok(latest.and_then(|v| u64::try_from(v).ok()).unwrap_or(0))
    }

    /// Devices revoked at or after `since_ms`, with their revocation times.
    pub async fn revoked_since(&self, since_ms: u64) -> Result<Vec<(DeviceId, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, revoked_at FROM devices WHERE revoked_at IS NOT NULL AND revoked_at >= $1",
        )
        .bind(ms_to_db(since_ms))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let c = Cols::new(row, "devices");
                Ok((c.valid("id", "device id")?, c.ms("revoked_at")?))
            })
            .collect()
    }

    /// Records that the device was seen at `now_ms` (never moves last-seen backwards).
    /// An unknown device is ignored.
    pub async fn touch_device(&self, device: DeviceId, now_ms: u64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE devices SET last_seen = $2 \
             WHERE id = $1 AND (last_seen IS NULL OR last_seen < $2)",
        )
        .bind(device.to_string())
        .bind(ms_to_db(now_ms))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// [`Store::touch_device`] for many devices in one transaction.
    pub async fn touch_devices(&self, seen: &[(DeviceId, u64)]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for (device, at_ms) in seen {
            sqlx::query(
                "UPDATE devices SET last_seen = $2 \
                 WHERE id = $1 AND (last_seen IS NULL OR last_seen < $2)",
            )
            .bind(device.to_string())
            .bind(ms_to_db(*at_ms))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the device's push platform and tokens (`None` clears one). An unknown device
    /// is ignored.
    pub async fn set_push_tokens(
        &self,
        device: DeviceId,
        platform: Option<&str>,
        voip: Option<&str>,
        alert: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE devices SET push_platform = $2, voip_push_token = $3, push_token = $4 \
             WHERE id = $1",
        )
        .bind(device.to_string())
        .bind(platform)
        .bind(voip)
        .bind(alert)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores a `push_token` registration (platform `none` clears the device's tokens).
    pub async fn register_push(
        &self,
        device: DeviceId,
        registration: &PushToken,
    ) -> Result<(), StoreError> {
        match registration.platform() {
            PushPlatform::None => self.set_push_tokens(device, None, None, None).await,
            platform => {
                self.set_push_tokens(
                    device,
                    Some(platform.as_str()),
                    registration.voip_token(),
                    registration.alert_token(),
                )
                .await
            }
        }
    }

    /// The device's push registration; `None` when it has none (or the device is unknown or
    /// revoked).
    pub async fn push_registration(
        &self,
        device: DeviceId,
    ) -> Result<Option<PushRegistration>, StoreError> {
        let row = sqlx::query(
            "SELECT push_platform, voip_push_token, push_token FROM devices \
             WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(device.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let c = Cols::new(&row, "devices");
        let Some(platform) = c.opt_parsed("push_platform", "push platform", PushPlatform::parse)?
        else {
            return Ok(None);
        };
        let registration = PushRegistration {
            platform,
            voip_token: c.opt_text("voip_push_token")?,
            alert_token: c.opt_text("push_token")?,
        };
        let empty = registration.voip_token.is_none() && registration.alert_token.is_none();
        Ok((platform != PushPlatform::None && !empty).then_some(registration))
    }

    /// Forgets `token` wherever the device still has it (the push service said it is dead).
    /// A token the device replaced in the meantime is left alone.
    pub async fn remove_push_token(&self, device: DeviceId, token: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE devices SET \
               voip_push_token = CASE WHEN voip_push_token = $2 THEN NULL ELSE voip_push_token END, \
               push_token = CASE WHEN push_token = $2 THEN NULL ELSE push_token END \
             WHERE id = $1",
        )
        .bind(device.to_string())
        .bind(token)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
