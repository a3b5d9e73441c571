//! The agent's side of candidate gathering: each call gathers from the configured ICE
//! servers when it is created; what it finds is added to the call's connections (and so
//! trickled); relayed data reaches the connections; the TURN streams the driver owns feed
//! back in here. A relay-only call with no relay left ends with the reason.

use std::net::SocketAddr;
use std::time::Instant;

use ringwire_proto::{CallId, ClientMessage, DeviceId};
use tracing::{debug, info};

use super::Agent;
use crate::call::CallState;
use crate::gather::{GatherEvent, Gathering, IceServer, StreamId};
use crate::inband::InbandMessage;
use crate::report::{CallEndReason, Direction};

impl Agent {
    /// Replaces the ICE servers (resolved by the driver) used by calls created from now on,
    /// e.g. from the server's `welcome`. Calls in progress keep what they gathered, except a
    /// call that had nothing to gather from: a call placed or received right after `welcome`,
    /// before the server list's names resolved, gathers now (its candidates trickle).
    pub fn set_ice_servers(&mut self, now: Instant, servers: Vec<IceServer>) {
        self.advance(now);
        info!(servers = servers.len(), "ICE servers set");
        self.config.ice_servers = servers;
        if self.config.ice_servers.is_empty() {
            return;
        }
        let waiting: Vec<CallId> = self
            .calls
            .values()
            .filter(|c| c.gathering.had_no_servers())
            .map(|c| c.id)
            .collect();
        for call_id in waiting {
            debug!(%call_id, "gathering from the servers that just arrived");
            self.start_gathering(now, call_id);
        }
        self.drain(now);
    }

    /// The driver connected TURN stream `stream` from the local address `local`.
    pub fn handle_stream_connected(&mut self, now: Instant, stream: StreamId, local: SocketAddr) {
        self.advance(now);
        if let Some(call) = self
            .calls
            .values_mut()
            .find(|c| c.gathering.owns_stream(stream))
        {
            call.gathering.stream_connected(now, stream, local);
        }
        self.drain(now);
    }

    /// Bytes read from TURN stream `stream`.
    pub fn handle_stream_data(&mut self, now: Instant, stream: StreamId, data: &[u8]) {
        self.advance(now);
        if let Some(call) = self
            .calls
            .values_mut()
            .find(|c| c.gathering.owns_stream(stream))
        {
            call.gathering.stream_data(now, stream, data);
        }
        self.drain(now);
    }

    /// TURN stream `stream` could not connect, or closed; `error` says why.
    pub fn handle_stream_closed(&mut self, now: Instant, stream: StreamId, error: &str) {
        self.advance(now);
        if let Some(call) = self
            .calls
            .values_mut()
            .find(|c| c.gathering.owns_stream(stream))
        {
            call.gathering.stream_closed(stream, error);
        }
        self.drain(now);
    }

    /// Starts a new call's gathering (never delays anything: results trickle). Its first
    /// outputs and events move on the caller's next drain, so nothing about the call (a
    /// relay-only failure included) is reported before the call itself.
    pub(super) fn start_gathering(&mut self, now: Instant, call_id: CallId) {
        let servers = &self.config.ice_servers;
        let policy = self.config.peer.ice_transport_policy;
        let local = &self.config.peer.local_addrs;
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let _span = tracing::debug_span!("call", %call_id).entered();
        call.gathering =
            Gathering::start(call_id, now, servers, local, policy, &mut self.next_stream);
    }

    /// Gives a new connection the candidates its call gathered before it existed. Call after
    /// its offer or answer went out, so the candidates trickle behind it.
    pub(super) fn add_gathered_candidates(
        &mut self,
        now: Instant,
        call_id: CallId,
        device: DeviceId,
    ) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let candidates = call.gathering.candidates().to_vec();
        if let Some(peer) = call.peers.get_mut(&device) {
            for c in candidates {
                if let Err(error) = peer.pc.add_local_candidate(c) {
                    debug!(%call_id, %error, "gathered candidate not added");
                }
            }
        }
        self.drain(now);
    }

    pub(super) fn on_gather_event(&mut self, now: Instant, call_id: CallId, event: GatherEvent) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        match event {
            GatherEvent::Candidate(c) => {
                for peer in call.peers.values_mut() {
                    if let Err(error) = peer.pc.add_local_candidate(c.clone()) {
                        debug!(%call_id, %error, "gathered candidate not added");
                    }
                }
            }
            GatherEvent::Data {
                source,
                destination,
                contents,
            } => {
                let taken = call.peers.values_mut().any(|peer| {
                    if !peer.pc.accepts(&contents, source, destination) {
                        return false;
                    }
                    if let Err(error) = peer.pc.handle_receive(now, source, destination, &contents)
                    {
                        debug!(%call_id, %error, "relayed datagram refused");
                    }
                    true
                });
                if !taken {
                    self.keep_unrouted(now, source, destination, contents);
                }
            }
            GatherEvent::Failed => {
                if let Some(detail) = call.gathering.relay_impossible() {
                    self.end_failed(now, call_id, detail);
                }
            }
        }
    }

    /// Ends a call that cannot work here (relay-only with no relay), telling the server and
    /// the peer as a hangup from the user would.
    fn end_failed(&mut self, now: Instant, call_id: CallId, detail: String) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        info!(%call_id, %detail, "call cannot connect");
        let message = match (call.direction, call.state) {
            (Direction::Outgoing, CallState::Dialing | CallState::Ringing) => {
                ClientMessage::Cancel { call_id }
            }
            (Direction::Incoming, CallState::Ringing) => ClientMessage::Decline { call_id },
            _ => {
                if let Some(peer) = call.chosen_peer() {
                    let _ = peer
                        .pc
                        .send_control(&InbandMessage::Hangup { call_id }.encode());
                }
                ClientMessage::media_failed_hangup(call_id)
            }
        };
        self.signal(message);
        self.end_call(
            now,
            call_id,
            CallEndReason::Failed { code: None, detail },
            false,
        );
    }
}
