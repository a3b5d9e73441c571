//! [`Device`]: one device's whole call side, sans-IO — the [`Agent`], the device side of the
//! signaling connection (the pure [`ClientSession`]; `None` for a device with no ringwire
//! server, see [`SignalingSession`]) and the audio-session policy, glued together once. The
//! engine's thread and the simulator's devices both drive a `Device<ClientSession>` the same
//! way, only their sockets differ, so a flow proven in the simulator ran the glue and the
//! session the shipped engine runs.
//!
//! The glue it owns:
//!
//! - server messages go to the agent: `welcome` and everything after it
//!   ([`SessionEvent::Connected`], [`SessionEvent::Message`]); a connection that ended
//!   ([`SessionEvent::Ended`], or [`Device::handle_signaling_down`] when the driver closed it)
//!   is [`Command::SignalingDown`]; a new ICE server list is announced
//!   ([`Output::IceServersUpdated`]);
//! - what the agent sends to the server goes to the session (which writes it at once, queues
//!   call control while down, or refuses a stale relay), and the calls the agent knows become
//!   the next `hello.calls`;
//! - under [`AudioSessionPolicy::Desktop`] the device plays CallKit's part
//!   ([`Agent::desktop_audio_session`]): the audio session goes active when a call is answered
//!   and inactive once none is left ([`Output::AudioSession`]); under
//!   [`AudioSessionPolicy::Os`] the OS decides and the app passes its word on as commands.
//!
//! # The drive contract
//!
//! The agent's, one level up. Hand the device an input with the current time — the agent's
//! own inputs through [`Device::agent_mut`] (commands, calls, datagrams, pushes, its
//! timeout, audio frames), or what happened on the signaling socket ([`Device::handle_open`],
//! [`Device::handle_server_message`], [`Device::handle_close`], [`Device::handle_lost`],
//! [`Device::handle_closed_by_us`], [`Device::handle_session_timeout`]).
//! Then call [`Device::poll_output`] until it returns [`Output::Timeout`] (the glue runs there;
//! the agent is only lent out to read), write what [`Device::poll_transmit`] returns to the
//! socket, and come back at [`Device::poll_timeout`]. The device never reads a clock.

mod session;

#[cfg(test)]
mod tests;

pub use session::SignalingSession;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use ringwire_proto::{CallId, ClientMessage, ServerMessage};
use tracing::debug;

use crate::agent::{Agent, Command, Output as AgentOutput, SignalingWanted};
use crate::gather::StreamId;
use crate::report::Report;
use crate::session::{ClientSession, SessionEnd, SessionEvent};

/// Who activates the audio session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioSessionPolicy {
    /// No phone OS does it (desktops, the softphone, a bridge host): the device applies
    /// CallKit's rule itself ([`Agent::desktop_audio_session`]) and says so with
    /// [`Output::AudioSession`].
    Desktop,
    /// The OS does (CallKit's `didActivate` / `didDeactivate`, Android's audio focus): the app
    /// passes its word on with [`Command::AudioSessionActivated`] and
    /// [`Command::AudioSessionDeactivated`].
    Os,
}

/// What the driver must do next. See the [module docs](self).
#[derive(Debug)]
pub enum Output {
    /// Send `contents` from the local socket `source` to `destination`.
    Transmit {
        source: SocketAddr,
        destination: SocketAddr,
        contents: Vec<u8>,
    },
    /// The agent sent this message to the server; it is already with the session (for the
    /// record: nothing to do).
    Signaled(ClientMessage),
    /// Deliver this message to the peer of a peer-mode call, over the app's own channel.
    PeerSignal {
        call_id: CallId,
        signal: ringwire_proto::PeerSignal,
    },
    /// Tell the app.
    Report(Report),
    /// The device applied the audio-session rule ([`AudioSessionPolicy::Desktop`]) and the
    /// session is now active (start the audio clock at once) or inactive (finish the speaker).
    /// Comes right before the report that caused it.
    AudioSession { active: bool },
    /// Open or close the signaling connection (see [`crate::AppState`]); flush what the
    /// session has for the socket before closing.
    Signaling(SignalingWanted),
    /// The server gave a new list of ICE servers (`welcome`, `ice_servers`):
    /// [`Agent::ice_servers`] has it.
    IceServersUpdated,
    /// The session ended the connection (lost, or refused for good): close the socket. The
    /// agent has been told signaling is down.
    SessionEnded(SessionEnd),
    /// Open a TCP connection to a TURN server (see [`crate::Output::StreamConnect`]).
    StreamConnect {
        stream: StreamId,
        server: SocketAddr,
        tls_name: Option<String>,
    },
    /// Write these bytes on the stream, in order.
    StreamSend { stream: StreamId, contents: Vec<u8> },
    /// Close the stream once what was written before has gone out.
    StreamClose { stream: StreamId },
    /// Nothing more from the agent until this instant or the next input.
    Timeout(Instant),
}

/// One device: agent, signaling session and audio-session policy. See the [module docs](self).
#[derive(Debug)]
pub struct Device<S = ClientSession> {
    agent: Agent,
    session: S,
    policy: AudioSessionPolicy,
    /// Outputs of the device's own, ahead of the agent's.
    out: VecDeque<Output>,
    /// The calls last given to the session for `hello.calls`.
    known_calls: Vec<CallId>,
    /// The agent's deadline from its last [`AgentOutput::Timeout`].
    agent_timeout: Instant,
}

impl<S: SignalingSession> Device<S> {
    /// A device over `agent` and `session`; its first timeout is `now`.
    pub fn new(agent: Agent, session: S, policy: AudioSessionPolicy, now: Instant) -> Device<S> {
        Device {
            agent,
            session,
            policy,
            out: VecDeque::new(),
            known_calls: Vec::new(),
            agent_timeout: now,
        }
    }

    /// The agent, to read (calls, snapshot, configuration).
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// The agent, for its own inputs (commands, calls, datagrams, push, time, audio frames);
    /// then drain [`Device::poll_output`], never the agent's `poll_output`, which would skip
    /// the glue.
    pub fn agent_mut(&mut self) -> &mut Agent {
        &mut self.agent
    }

    /// The signaling session.
    pub fn session(&self) -> &S {
        &self.session
    }

    /// The signaling session, for what its driver does to it besides the glue (pause, resume,
    /// shut down).
    pub fn session_mut(&mut self) -> &mut S {
        &mut self.session
    }

    /// The audio-session policy.
    pub fn policy(&self) -> AudioSessionPolicy {
        self.policy
    }

    /// What the session reported: the agent hears `welcome` and every server message; an
    /// ended connection is signaling down ([`Output::SessionEnded`] follows, for the socket).
    fn handle_session_event(&mut self, now: Instant, event: SessionEvent) {
        match event {
            SessionEvent::Connected(welcome) => {
                self.out.push_back(Output::IceServersUpdated);
                self.agent
                    .handle_signal(now, ServerMessage::Welcome(welcome));
            }
            SessionEvent::Message(message) => {
                if matches!(message, ServerMessage::IceServers(_)) {
                    self.out.push_back(Output::IceServersUpdated);
                }
                self.agent.handle_signal(now, message);
            }
            SessionEvent::Ended(end) => {
                self.out.push_back(Output::SessionEnded(end));
                self.handle_signaling_down(now);
            }
        }
    }

    /// The signaling connection is down by the driver's doing or knowledge (paused, the
    /// network changed, an attempt that failed before it opened): calls go on, the agent
    /// waits for the next `welcome`.
    pub fn handle_signaling_down(&mut self, now: Instant) {
        // Never refused: SignalingDown is accepted in every state.
        let _ = self.agent.handle_command(now, Command::SignalingDown);
    }

    /// The next thing to do; call until it returns [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output {
        if let Some(out) = self.out.pop_front() {
            return out;
        }
        match self.agent.poll_output() {
            AgentOutput::Transmit {
                source,
                destination,
                contents,
            } => Output::Transmit {
                source,
                destination,
                contents,
            },
            AgentOutput::Signal(message) => {
                if let Err(error) = self.session.send(message.clone()) {
                    debug!(%error, kind = message.type_name(), "signal not sent");
                }
                Output::Signaled(message)
            }
            AgentOutput::PeerSignal { call_id, signal } => Output::PeerSignal { call_id, signal },
            AgentOutput::Report(report) => self.on_report(report),
            AgentOutput::Signaling(wanted) => Output::Signaling(wanted),
            AgentOutput::StreamConnect {
                stream,
                server,
                tls_name,
            } => Output::StreamConnect {
                stream,
                server,
                tls_name,
            },
            AgentOutput::StreamSend { stream, contents } => Output::StreamSend { stream, contents },
            AgentOutput::StreamClose { stream } => Output::StreamClose { stream },
            AgentOutput::Timeout(at) => {
                let known = self.agent.known_calls();
                if known != self.known_calls {
                    self.session.set_known_calls(known.clone());
                    self.known_calls = known;
                }
                self.agent_timeout = at;
                Output::Timeout(at)
            }
        }
    }

    /// The earliest of the agent's deadline (as of the last [`Output::Timeout`]) and the
    /// session's.
    pub fn poll_timeout(&self) -> Instant {
        match self.session.poll_timeout() {
            Some(session) => session.min(self.agent_timeout),
            None => self.agent_timeout,
        }
    }

    /// The agent's deadline as of the last [`Output::Timeout`]: when the agent's
    /// [`Agent::handle_timeout`] is due.
    pub fn agent_timeout(&self) -> Instant {
        self.agent_timeout
    }

    /// A report: the audio-session rule first, under [`AudioSessionPolicy::Desktop`].
    fn on_report(&mut self, report: Report) -> Output {
        let session = match self.policy {
            AudioSessionPolicy::Desktop => self.agent.desktop_audio_session(&report),
            AudioSessionPolicy::Os => None,
        };
        let Some(command) = session else {
            return Output::Report(report);
        };
        let active = command == Command::AudioSessionActivated;
        // Both are accepted in every state; the agent's clock is the report's time.
        let _ = self.agent.handle_command(self.agent.now(), command);
        self.out.push_back(Output::Report(report));
        Output::AudioSession { active }
    }
}
