//! The glue, one rule at a time: a device that owns its session, with the server's messages
//! written out by hand. Whole flows against the real router live in `crates/sim`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ringwire_proto::{CallId, ClientMessage, DeviceId, Incoming, ServerMessage, Welcome};

use super::{AudioSessionPolicy, Device, Output};
use crate::agent::{Agent, AgentConfig, Command};
use crate::report::Report;
use crate::session::{ClientSession, SessionConfig, SessionEnd};

const SERVER_T0: u64 = 1_700_000_000_000;

fn call(n: u8) -> CallId {
    CallId::from_bytes([n; 16])
}

fn welcome() -> ServerMessage {
    ServerMessage::Welcome(Welcome {
        version: 1,
        user: "me".parse().unwrap(),
        display_name: None,
        device_id: DeviceId::from_bytes([1; 16]),
        server_time_ms: SERVER_T0,
        ring_timeout_ms: 45_000,
        ice_servers: Vec::new(),
        ice_expires_ms: None,
    })
}

fn incoming(n: u8) -> ServerMessage {
    ServerMessage::Incoming(Incoming {
        call_id: call(n),
        from_user: "caller".parse().unwrap(),
        from_display_name: None,
        from_device: DeviceId::from_bytes([9; 16]),
        ring_deadline_ms: SERVER_T0 + 45_000,
        replayed: false,
    })
}

struct Fixture {
    device: Device,
    t0: Instant,
}

impl Fixture {
    /// A device whose connection is up (`welcome` had at `t0`).
    fn up(policy: AudioSessionPolicy) -> Fixture {
        let t0 = Instant::now();
        let addr: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let mut config = AgentConfig::new([addr]);
        config.call_id_seed = Some(7);
        let agent = Agent::new(config, t0).unwrap();
        let session = ClientSession::new(SessionConfig::default(), 100);
        let mut f = Fixture {
            device: Device::new(agent, session, policy, t0),
            t0,
        };
        f.device.handle_open(t0);
        assert!(matches!(
            f.transmitted().as_slice(),
            [ClientMessage::Hello { .. }]
        ));
        f.device.handle_server_message(t0, welcome());
        assert!(matches!(
            f.outputs().first(),
            Some(Output::IceServersUpdated)
        ));
        assert!(f.device.agent().signaling_up());
        f
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    /// Everything up to the timeout, transmits and the timeout left out.
    fn outputs(&mut self) -> Vec<Output> {
        let mut outputs = Vec::new();
        loop {
            match self.device.poll_output() {
                Output::Timeout(_) => return outputs,
                Output::Transmit { .. } => {}
                output => outputs.push(output),
            }
        }
    }

    fn transmitted(&mut self) -> Vec<ClientMessage> {
        std::iter::from_fn(|| self.device.poll_transmit()).collect()
    }

    fn command(&mut self, ms: u64, command: Command) -> Vec<Output> {
        let at = self.at(ms);
        self.device.agent_mut().handle_command(at, command).unwrap();
        self.outputs()
    }

    /// Call `n` rings at `ms` and is answered 1 ms later: the audio-session changes and
    /// reports of the answer.
    fn ring_and_answer(&mut self, ms: u64, n: u8) -> Vec<String> {
        self.device.handle_server_message(self.at(ms), incoming(n));
        self.outputs();
        let outputs = self.command(ms + 1, Command::Answer { call_id: call(n) });
        Fixture::audio_and_reports(&outputs)
    }

    /// The audio-session changes and reports among `outputs`, in order.
    fn audio_and_reports(outputs: &[Output]) -> Vec<String> {
        outputs
            .iter()
            .filter_map(|o| match o {
                Output::AudioSession { active } => Some(format!("audio {active}")),
                Output::Report(r) => Some(report_name(r).to_owned()),
                _ => None,
            })
            .collect()
    }
}

fn report_name(report: &Report) -> &'static str {
    match report {
        Report::IncomingCall { .. } => "incoming",
        Report::Answered { .. } => "answered",
        Report::Ended { .. } => "ended",
        _ => "other",
    }
}

#[test]
fn what_the_agent_sends_goes_to_the_session() {
    let mut f = Fixture::up(AudioSessionPolicy::Desktop);
    f.device.handle_server_message(f.at(1), incoming(4));
    let outputs = f.outputs();
    let signaled: Vec<&ClientMessage> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Signaled(m) => Some(m),
            _ => None,
        })
        .collect();
    assert!(matches!(
        signaled.as_slice(),
        [ClientMessage::Ringing { .. }, ..]
    ));
    let written = f.transmitted();
    assert_eq!(written.len(), signaled.len());
    assert!(matches!(written[0], ClientMessage::Ringing { .. }));
}

#[test]
fn on_a_desktop_the_audio_session_follows_answered_calls() {
    let mut f = Fixture::up(AudioSessionPolicy::Desktop);
    // A call that rings and is declined never touches the session.
    f.device.handle_server_message(f.at(1), incoming(4));
    f.outputs();
    let outputs = f.command(2, Command::End { call_id: call(4) });
    assert_eq!(Fixture::audio_and_reports(&outputs), ["ended"]);
    assert!(!f.device.agent().audio_session_active());
    // Answering activates it, once, right before the report that caused it.
    assert_eq!(f.ring_and_answer(3, 5), ["audio true", "answered"]);
    assert!(f.device.agent().audio_session_active());
    // Ending the last answered call deactivates it.
    let outputs = f.command(5, Command::End { call_id: call(5) });
    assert_eq!(
        Fixture::audio_and_reports(&outputs),
        ["audio false", "ended"]
    );
    assert!(!f.device.agent().audio_session_active());
}

#[test]
fn under_an_os_the_audio_session_is_the_os_word() {
    let mut f = Fixture::up(AudioSessionPolicy::Os);
    assert_eq!(f.ring_and_answer(1, 5), ["answered"]);
    assert!(!f.device.agent().audio_session_active());
}

#[test]
fn a_lost_connection_is_signaling_down_and_the_next_hello_lists_the_calls() {
    let mut f = Fixture::up(AudioSessionPolicy::Desktop);
    f.device.handle_server_message(f.at(1), incoming(4));
    f.outputs();
    f.transmitted();
    f.device.handle_lost(f.at(2), "gone".into());
    let outputs = f.outputs();
    assert!(matches!(
        outputs.first(),
        Some(Output::SessionEnded(SessionEnd::Lost(_)))
    ));
    assert!(!f.device.agent().signaling_up());
    // The next hello lists the ringing call; a decline meanwhile waits for the welcome.
    f.device.handle_open(f.at(3));
    match f.transmitted().as_slice() {
        [ClientMessage::Hello { calls, .. }] => assert_eq!(calls, &[call(4)]),
        other => panic!("expected a hello, got {other:?}"),
    }
    let outputs = f.command(4, Command::End { call_id: call(4) });
    assert!(outputs
        .iter()
        .any(|o| matches!(o, Output::Signaled(ClientMessage::Decline { .. }))));
    assert!(f.transmitted().is_empty());
    f.device.handle_server_message(f.at(5), welcome());
    f.outputs();
    assert!(matches!(
        f.transmitted().as_slice(),
        [ClientMessage::Decline { .. }]
    ));
}

#[test]
fn closing_on_purpose_is_signaling_down_with_nothing_to_close() {
    let mut f = Fixture::up(AudioSessionPolicy::Desktop);
    f.device.handle_closed_by_us(f.at(1));
    assert!(!f.device.agent().signaling_up());
    assert!(!f
        .outputs()
        .iter()
        .any(|o| matches!(o, Output::SessionEnded(_))));
    assert!(f.device.session().poll_timeout().is_none());
}
