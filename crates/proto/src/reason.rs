//! Why a call ended. One closed set shared by the server, the engine and the call record; each
//! reason also tells a phone which CallKit / ConnectionService end reason to report.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The reason carried by `ended` and stored in the call record.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EndReason {
    /// Another device of the callee accepted first. Sent to the callee's other devices.
    AnsweredElsewhere,
    /// Another device of the callee declined (or answered busy). Sent to the other devices.
    DeclinedElsewhere,
    /// The caller gave up before anyone accepted.
    Cancelled,
    /// Nobody accepted before the ring deadline.
    NoAnswer,
    /// The callee is already in a call.
    Busy,
    /// The callee declined.
    Declined,
    /// A participant hung up an accepted call.
    Hangup,
    /// A participant's connection to the server was lost and did not come back in time.
    ConnectionLost,
    /// Both users called each other at once; this call lost to the one with the higher id.
    Glare,
    /// The callee has no devices that could be reached.
    Unavailable,
    /// An answered call ended because its media never connected, or was lost and could not
    /// be restored: a device gave up (`hangup` with `reason: "media_failed"`). Not a call
    /// anybody heard end to end.
    MediaFailed,
}

/// Why a device hangs up, when it was not its user: carried by `hangup.reason`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HangupReason {
    /// The media path never connected, or was lost and not restored in time.
    MediaFailed,
}

impl HangupReason {
    /// The end reason the call gets when an answered call is hung up for this reason.
    pub fn end_reason(self) -> EndReason {
        match self {
            HangupReason::MediaFailed => EndReason::MediaFailed,
        }
    }
}

impl EndReason {
    /// Every reason, for exhaustive tests and documentation.
    pub const ALL: &'static [EndReason] = &[
        EndReason::AnsweredElsewhere,
        EndReason::DeclinedElsewhere,
        EndReason::Cancelled,
        EndReason::NoAnswer,
        EndReason::Busy,
        EndReason::Declined,
        EndReason::Hangup,
        EndReason::ConnectionLost,
        EndReason::Glare,
        EndReason::Unavailable,
        EndReason::MediaFailed,
    ];

    /// The wire spelling (`snake_case`).
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::AnsweredElsewhere => "answered_elsewhere",
            EndReason::DeclinedElsewhere => "declined_elsewhere",
            EndReason::Cancelled => "cancelled",
            EndReason::NoAnswer => "no_answer",
            EndReason::Busy => "busy",
            EndReason::Declined => "declined",
            EndReason::Hangup => "hangup",
            EndReason::ConnectionLost => "connection_lost",
            EndReason::Glare => "glare",
            EndReason::Unavailable => "unavailable",
            EndReason::MediaFailed => "media_failed",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<EndReason> {
        EndReason::ALL.iter().copied().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_spelling_matches_serde() {
        for r in EndReason::ALL {
            let json = serde_json::to_string(r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
            assert_eq!(EndReason::parse(r.as_str()), Some(*r));
        }
        assert_eq!(EndReason::parse("nope"), None);
    }
}
