//! Simulated phone operating systems that enforce the rules Apple and Google enforce on calling
//! apps, and record every breach instead of letting it pass:
//!
//! - iOS (PushKit + CallKit): every VoIP push must be reported as a call before the push handler
//!   returns, or the app is killed; audio I/O only between CallKit's `didActivate` (after the
//!   answer action) and `didDeactivate` (when no call is left).
//! - Android (FCM + self-managed ConnectionService): the same reporting duty for high-priority
//!   data messages, and a foreground service of type `phoneCall|microphone` before capture
//!   (started from the answer action, while the call UI is visible).
//! - App states: a terminated app runs no engine until a push launches it; a locked phone
//!   answers from the lock screen through the OS.
//!
//! The world ([`crate::World`]) drives these: it delivers pushes, runs the OS's actions
//! (answer, end) and keeps the audio unit off while the session is inactive.

use std::time::Instant;

use ringwire_core::CallKitEndReason;
use ringwire_proto::CallId;

/// Which OS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Ios,
    Android,
}

/// Where the app is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppState {
    Foreground,
    Background,
    /// The UI is frozen (a backgrounded WebView); native code that the OS keeps alive runs.
    Suspended,
    /// Not running: no engine until a push launches it.
    Terminated,
}

/// One call the app reported to the OS (CallKit / ConnectionService).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsCall {
    pub call_id: CallId,
    pub reported_at: Instant,
    /// Reported from a push (the lock-screen path) rather than from a live socket.
    pub via_push: bool,
    pub answered_at: Option<Instant>,
    /// When and how the app told the OS the call ended (`None` reason: the user ended it).
    pub ended: Option<(Instant, Option<CallKitEndReason>)>,
}

/// One simulated phone OS and what happened on it.
#[derive(Debug, Clone)]
pub struct PhoneOs {
    pub os: Os,
    pub app: AppState,
    pub locked: bool,
    pub calls: Vec<OsCall>,
    /// The audio session is active (iOS `didActivate`; Android audio focus in call mode).
    pub audio_active: bool,
    /// Android: the app's foreground service of type phoneCall|microphone runs.
    pub foreground_service: bool,
    /// Missed-call notifications shown (ordinary alert pushes).
    pub missed_call_notifications: usize,
    /// The server holds a push token for this phone that the push service accepts.
    pub push_token_registered: bool,
    /// The push service (APNs, FCM) still accepts the token; `false` models a token Apple or
    /// Google invalidated (app reinstalled, token rotated): the next push gets 410/404.
    pub push_token_valid: bool,
    /// Every rule the app broke, with when. Tests assert this stays empty.
    pub violations: Vec<(Instant, String)>,
}

impl PhoneOs {
    /// A locked phone whose app is not running.
    pub fn locked_and_terminated(os: Os) -> PhoneOs {
        PhoneOs {
            os,
            app: AppState::Terminated,
            locked: true,
            calls: Vec::new(),
            audio_active: false,
            foreground_service: false,
            missed_call_notifications: 0,
            push_token_registered: true,
            push_token_valid: true,
            violations: Vec::new(),
        }
    }

    pub(crate) fn violation(&mut self, at: Instant, rule: impl Into<String>) {
        self.violations.push((at, rule.into()));
    }

    pub fn call(&self, call_id: CallId) -> Option<&OsCall> {
        self.calls.iter().find(|c| c.call_id == call_id)
    }

    pub(crate) fn call_mut(&mut self, call_id: CallId) -> Option<&mut OsCall> {
        self.calls.iter_mut().find(|c| c.call_id == call_id)
    }

    /// Calls reported and not ended.
    pub fn live_calls(&self) -> usize {
        self.calls.iter().filter(|c| c.ended.is_none()).count()
    }

    pub(crate) fn report(&mut self, at: Instant, call_id: CallId, via_push: bool) {
        if self.call(call_id).is_none() {
            self.calls.push(OsCall {
                call_id,
                reported_at: at,
                via_push,
                answered_at: None,
                ended: None,
            });
        }
    }
}
