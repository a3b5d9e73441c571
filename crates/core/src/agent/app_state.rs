//! The app's lifecycle ([`AppState`]) and what it means for the signaling connection
//! ([`SignalingWanted`]).
//!
//! An idle app that the OS is about to freeze must not keep its WebSocket open: the server would
//! go on seeing a live connection that nobody reads, and send the next `incoming` into it
//! instead of waking the phone with a VoIP push. So the rule, checked after every input:
//!
//! - a call in progress (any state: dialing, ringing, connecting, active) keeps signaling up,
//!   whatever the UI does — the OS keeps a calling app alive for exactly that;
//! - otherwise signaling is wanted only in the foreground; in the background, locked or
//!   suspended the driver closes it cleanly (the server marks the device offline and pushes).
//!
//! The agent says what it wants with [`Output::Signaling`](super::Output::Signaling), once per
//! change, after the other outputs of the same input (so a last `hangup` is queued before the
//! connection is asked to close; the driver flushes it first). A push
//! ([`Agent::handle_push`](super::Agent::handle_push)) registers its call, and so brings
//! signaling up from any state.

use tracing::info;

use super::Agent;

/// Where the app is in its lifecycle, as the OS tells it (iOS `UIApplication` notifications,
/// Android's process lifecycle). Starts as [`AppState::Foreground`].
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AppState {
    /// On screen and running (iOS `didBecomeActive`, Android `ON_RESUME`).
    #[default]
    Foreground,
    /// Off screen but still running, for now (iOS `didEnterBackground`, Android `ON_STOP`);
    /// the OS may freeze the app at any moment unless a call keeps it alive.
    Background,
    /// The screen locked (iOS `protectedDataWillBecomeUnavailable`, Android `ACTION_SCREEN_OFF`)
    /// with the app on top: it is about to be backgrounded.
    Locked,
    /// The UI is frozen (a suspended WebView, an app the OS stopped scheduling); only native
    /// code the OS keeps alive — a call's audio and network — still runs.
    Suspended,
}

/// Whether the agent wants the signaling connection open. The driver opens (and keeps
/// reconnecting) or closes it cleanly — close code 1000, so the server marks the device offline
/// at once and reaches it by push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalingWanted {
    /// Connect, and reconnect after every loss.
    Online,
    /// Flush what is queued, close, and do not reconnect until asked.
    Offline,
}

impl Agent {
    /// The app state last given with [`Command::AppState`](super::Command::AppState).
    pub fn app_state(&self) -> AppState {
        self.app_state
    }

    /// What the agent wants of the signaling connection now (the last
    /// [`Output::Signaling`](super::Output::Signaling) said, or the starting `Online`).
    pub fn signaling_wanted(&self) -> SignalingWanted {
        self.signaling_announced
    }

    /// The app moved between lifecycle states. Changes nothing about any call.
    pub(super) fn set_app_state(&mut self, state: AppState) {
        if state != self.app_state {
            info!(from = ?self.app_state, to = ?state, calls = self.calls.len(), "app state");
            self.app_state = state;
        }
    }

    /// The rule of the [module docs](self).
    fn signaling_rule(&self) -> SignalingWanted {
        if self.app_state == AppState::Foreground || !self.calls.is_empty() {
            SignalingWanted::Online
        } else {
            SignalingWanted::Offline
        }
    }

    /// The change to announce, if what the rule says differs from what was last announced.
    pub(super) fn signaling_change(&mut self) -> Option<SignalingWanted> {
        let wanted = self.signaling_rule();
        if wanted == self.signaling_announced {
            return None;
        }
        info!(
            from = ?self.signaling_announced,
            to = ?wanted,
            app_state = ?self.app_state,
            calls = self.calls.len(),
            "signaling wanted"
        );
        self.signaling_announced = wanted;
        Some(wanted)
    }
}
