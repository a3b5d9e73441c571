//! The CLI softphone: `ringwire call` and `ringwire answer` (and `ringwire peer`, the same over
//! the app's own signaling on stdin and stdout, see [`peer`]) run one native call engine
//! ([`ringwire_engine::Engine`]) against a server, with a tone, a WAV file or silence as the
//! microphone and optionally a WAV recording as the speaker, a live status line, and a call
//! report at the end (`--json`: one JSON object). `ringwire demo` ([`demo`]) runs a whole
//! multi-device call in one process.

pub mod demo;
mod peer;
mod report;
mod session;

pub use peer::{run_peer, PeerArgs};
pub use session::{engine_with_listener, run_answer, run_call, AnswerArgs, CallArgs, PhoneArgs};
