//! The STUN codec: messages ([`message`]), attribute values ([`attr`]) and the two checksums
//! ([`integrity`]). Decoding borrows the input and checks every length against the message.

pub mod attr;
pub mod integrity;
pub mod message;
#[cfg(test)]
mod rfc5769;

pub use message::{is_stun, Class, Message, MessageBuilder, Method, TransactionId};
