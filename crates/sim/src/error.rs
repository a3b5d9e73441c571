//! The simulator's errors: mistakes in how a test set the simulation up.

use ringwire_proto::{DeviceId, UserName};

/// A simulation was asked for something that does not exist or cannot be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// `add_user` was given a name the protocol does not allow.
    #[error("invalid user name {name:?}: {why}")]
    InvalidUserName { name: String, why: String },
    /// `add_user` was given a name already taken.
    #[error("user {0} already exists")]
    UserExists(UserName),
    /// No user by that name was added.
    #[error("no user {0}")]
    UnknownUser(UserName),
    /// No device with that id was added.
    #[error("no device {0}")]
    UnknownDevice(DeviceId),
}
