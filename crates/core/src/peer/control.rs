//! The in-band control channel: a reliable ordered SCTP data channel, `ringwire-control`,
//! opened by the offerer. It carries small JSON messages (`{"type":"accept"}`,
//! `{"type":"hangup","reason":"..."}`) so accept and hangup travel even when signaling is slow
//! or down. The bytes are opaque here; the call layer owns their format.

use str0m::channel::{ChannelData, ChannelId};
use tracing::{debug, info};

use super::{Output, PeerConnection, PeerEvent, CONTROL_LABEL};
use crate::CoreError;

/// The largest control message we send (SCTP could carry more; control messages are small).
pub const MAX_CONTROL_BYTES: usize = 16 * 1024;

/// Control channel state.
#[derive(Default)]
pub(super) struct Control {
    id: Option<ChannelId>,
}

impl Control {
    pub(super) fn is_open(&self) -> bool {
        self.id.is_some()
    }
}

impl PeerConnection {
    /// Sends one control message. Valid UTF-8 goes as a text message (what a browser peer
    /// expects for JSON), anything else as binary.
    pub fn send_control(&mut self, message: &[u8]) -> Result<(), CoreError> {
        self.ensure_open()?;
        if message.len() > MAX_CONTROL_BYTES {
            return Err(CoreError::ControlTooLarge {
                len: message.len(),
                max: MAX_CONTROL_BYTES,
            });
        }
        let id = self.control.id.ok_or(CoreError::ControlNotOpen)?;
        let binary = std::str::from_utf8(message).is_err();
        let written = match self.rtc.channel(id) {
            Some(mut channel) => channel.write(binary, message),
            None => return Err(CoreError::ControlNotOpen),
        };
        self.pump();
        match written {
            Ok(true) => Ok(()),
            Ok(false) => Err(CoreError::ControlBufferFull),
            Err(e) => Err(CoreError::Rtc {
                detail: e.to_string(),
            }),
        }
    }

    /// Whether the control channel is open.
    pub fn control_open(&self) -> bool {
        self.control.is_open()
    }

    pub(super) fn on_channel_open(&mut self, id: ChannelId, label: &str) {
        if label != CONTROL_LABEL {
            debug!(label_bytes = label.len(), "unknown data channel ignored");
            return;
        }
        if self.control.id.is_none() {
            info!("control channel open");
            self.control.id = Some(id);
            self.out.push_back(Output::Event(PeerEvent::ControlOpen));
        }
    }

    pub(super) fn on_channel_data(&mut self, data: ChannelData) {
        if Some(data.id) != self.control.id {
            return;
        }
        debug!(bytes = data.data.len(), "control message received");
        self.out
            .push_back(Output::Event(PeerEvent::Control(data.data)));
    }

    pub(super) fn on_channel_close(&mut self, id: ChannelId) {
        if Some(id) == self.control.id {
            info!("control channel closed");
            self.control.id = None;
            self.out.push_back(Output::Event(PeerEvent::ControlClosed));
        }
    }
}
