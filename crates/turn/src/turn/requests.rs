//! The TURN client's requests: building Allocate, Refresh, CreatePermission and ChannelBind
//! (with the long-term credential once the realm and nonce are known), their retransmission,
//! and what each response does — the 401 and 438 retries, integrity checks, and the outcome
//! handed to the state machine.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::{Allocation, RelayFamily, State, TurnClient, TurnEvent};
use crate::stun::integrity::long_term_key;
use crate::stun::{attr, Class, Message, MessageBuilder, Method, TransactionId};
use crate::transaction::{Retransmit, Tick};
use crate::url::Transport;
use crate::Error;

/// 438 Stale Nonce is retried this many times per request.
const MAX_STALE_RETRIES: u8 = 3;
/// A granted lifetime is refreshed this long before it ends (or at half of it if shorter).
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// The lifetime assumed when a success response leaves LIFETIME out.
const DEFAULT_LIFETIME: u32 = 600;

/// The realm, nonce and key learnt from the server's 401.
#[derive(Debug, Clone)]
pub(super) struct Auth {
    realm: String,
    nonce: String,
    key: [u8; 16],
}

/// What a transaction asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Request {
    Allocate,
    Refresh { lifetime: u32 },
    CreatePermission(IpAddr),
    ChannelBind { peer: SocketAddr, channel: u16 },
}

impl Request {
    fn method(self) -> Method {
        match self {
            Request::Allocate => Method::Allocate,
            Request::Refresh { .. } => Method::Refresh,
            Request::CreatePermission(_) => Method::CreatePermission,
            Request::ChannelBind { .. } => Method::ChannelBind,
        }
    }
}

/// One request in flight.
#[derive(Debug)]
pub(super) struct Transaction {
    id: TransactionId,
    request: Request,
    bytes: Vec<u8>,
    pub(super) retransmit: Retransmit,
    /// Sent with MESSAGE-INTEGRITY (so a 401 now means wrong credentials).
    authenticated: bool,
    stale_retries: u8,
}

/// When to refresh something granted `lifetime` from `now`.
fn refresh_at(now: Instant, lifetime: Duration) -> Instant {
    now + lifetime.saturating_sub(REFRESH_MARGIN).max(lifetime / 2)
}

impl TurnClient {
    /// Builds and sends `request` as a new transaction.
    pub(super) fn send_request(&mut self, now: Instant, request: Request, stale_retries: u8) {
        let id = self.ids.next_id();
        let mut b = MessageBuilder::new(Class::Request, request.method(), id);
        b = match request {
            Request::Allocate => {
                b = b.attr(attr::REQUESTED_TRANSPORT, &[attr::TRANSPORT_UDP, 0, 0, 0]);
                if self.config.relay_family == RelayFamily::Ipv6 {
                    b = b.attr(attr::REQUESTED_ADDRESS_FAMILY, &[0x02, 0, 0, 0]);
                }
                let lifetime = u32::try_from(self.config.lifetime.as_secs()).unwrap_or(u32::MAX);
                b.attr(attr::LIFETIME, &lifetime.to_be_bytes())
            }
            Request::Refresh { lifetime } => b.attr(attr::LIFETIME, &lifetime.to_be_bytes()),
            Request::CreatePermission(ip) => {
                b.xor_address(attr::XOR_PEER_ADDRESS, SocketAddr::new(ip, 0))
            }
            Request::ChannelBind { peer, channel } => b
                .attr(attr::CHANNEL_NUMBER, &attr::encode_channel_number(channel))
                .xor_address(attr::XOR_PEER_ADDRESS, peer),
        };
        let bytes = match &self.auth {
            Some(auth) => b
                .attr(attr::USERNAME, self.config.credentials.username.as_bytes())
                .attr(attr::REALM, auth.realm.as_bytes())
                .attr(attr::NONCE, auth.nonce.as_bytes())
                .finish(Some(&auth.key), true),
            None => b.finish(None, true),
        };
        let reliable = self.config.transport == Transport::Tcp;
        self.transactions.push(Transaction {
            id,
            request,
            bytes: bytes.clone(),
            retransmit: Retransmit::new(now, &self.config.retransmit, reliable),
            authenticated: self.auth.is_some(),
            stale_retries,
        });
        let transmit = self.transmit_to_server(bytes);
        self.transmits.push_back(transmit);
    }

    /// Resends what is due and fails what has expired.
    pub(super) fn tick_transactions(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let mut resend = Vec::new();
        let config = self.config.retransmit;
        self.transactions
            .retain_mut(|t| match t.retransmit.tick(now, &config) {
                Tick::Wait => true,
                Tick::Resend => {
                    resend.push(t.bytes.clone());
                    true
                }
                Tick::Expired => {
                    expired.push(t.request);
                    false
                }
            });
        for bytes in resend {
            let transmit = self.transmit_to_server(bytes);
            self.transmits.push_back(transmit);
        }
        for request in expired {
            self.on_failure(request, Error::Timeout);
        }
    }

    /// Sends the permission and channel requests that are due, once allocated.
    pub(super) fn send_due(&mut self, now: Instant) {
        if !matches!(self.state, State::Allocated(_)) {
            return;
        }
        for due in self.peers.take_due(now) {
            let request = match due {
                super::peers::Due::Permission(ip) => Request::CreatePermission(ip),
                super::peers::Due::Channel(peer, channel) => Request::ChannelBind { peer, channel },
            };
            self.send_request(now, request, 0);
        }
    }

    /// A STUN message from the server: a Data indication, or a response to a transaction.
    pub(super) fn handle_stun(&mut self, now: Instant, message: &Message<'_>) -> Result<(), Error> {
        match (message.class, message.method) {
            (Class::Indication, Method::Data) => {
                let peer = message.xor_address(attr::XOR_PEER_ADDRESS)?;
                let (Some(peer), Some(data)) = (peer, message.attr(attr::DATA)) else {
                    return Err(Error::InvalidResponse(
                        "Data indication without peer or data",
                    ));
                };
                if self.peers.has_permission(peer.ip()) {
                    let data = data.to_vec();
                    self.events
                        .push_back(TurnEvent::Data(super::PeerData { peer, data }));
                }
                return Ok(());
            }
            (Class::Success | Class::Error, _) => {}
            _ => return Ok(()),
        }
        let Some(index) = self
            .transactions
            .iter()
            .position(|t| t.id == message.transaction_id)
        else {
            return Ok(()); // a late answer to a retransmission, or not ours
        };
        let transaction = &self.transactions[index];
        if message.method != transaction.request.method() {
            return Err(Error::InvalidResponse(
                "response method does not match the request",
            ));
        }
        if let (true, Some(auth)) = (transaction.authenticated, &self.auth) {
            let integrity_ok = message.check_integrity(&auth.key);
            // A response that fails the check is not from the server: keep waiting.
            if (message.has_integrity() || message.class == Class::Success) && !integrity_ok {
                return Err(Error::InvalidResponse("MESSAGE-INTEGRITY"));
            }
        }
        let transaction = self.transactions.remove(index);
        if message.class == Class::Success {
            self.on_success(now, transaction.request, message);
            return Ok(());
        }
        let (code, reason) = match message.error_code() {
            Ok(Some(error)) => error,
            _ => {
                self.on_failure(
                    transaction.request,
                    Error::InvalidResponse("error without ERROR-CODE"),
                );
                return Ok(());
            }
        };
        match code {
            401 if !transaction.authenticated => match self.learn_auth(message) {
                Ok(()) => self.send_request(now, transaction.request, transaction.stale_retries),
                Err(e) => self.on_failure(transaction.request, e),
            },
            438 if transaction.stale_retries < MAX_STALE_RETRIES && self.auth.is_some() => {
                match self.learn_auth(message) {
                    Ok(()) => {
                        self.send_request(now, transaction.request, transaction.stale_retries + 1)
                    }
                    Err(e) => self.on_failure(transaction.request, e),
                }
            }
            300 => {
                let alternate = message
                    .attr(attr::ALTERNATE_SERVER)
                    .map(|v| attr::decode_address(v, None));
                let error = match alternate {
                    Some(Ok(server)) => Error::TryAlternate(server),
                    _ => Error::from_code(code, reason),
                };
                self.on_failure(transaction.request, error);
            }
            _ => self.on_failure(transaction.request, Error::from_code(code, reason)),
        }
        Ok(())
    }

    /// Takes REALM (kept if absent on a 438) and NONCE from a 401 or 438.
    fn learn_auth(&mut self, message: &Message<'_>) -> Result<(), Error> {
        let realm = message.text(attr::REALM)?.map(str::to_owned);
        let realm = realm.or_else(|| self.auth.as_ref().map(|a| a.realm.clone()));
        let nonce = message.text(attr::NONCE)?;
        let (Some(realm), Some(nonce)) = (realm, nonce) else {
            return Err(Error::InvalidResponse("401/438 without REALM and NONCE"));
        };
        let credentials = &self.config.credentials;
        let key = long_term_key(&credentials.username, &realm, &credentials.password);
        self.auth = Some(Auth {
            realm,
            nonce: nonce.to_owned(),
            key,
        });
        Ok(())
    }

    fn on_success(&mut self, now: Instant, request: Request, message: &Message<'_>) {
        let lifetime = match message.lifetime() {
            Ok(l) => Duration::from_secs(u64::from(l.unwrap_or(DEFAULT_LIFETIME))),
            Err(_) => Duration::from_secs(u64::from(DEFAULT_LIFETIME)),
        };
        match request {
            Request::Allocate => {
                let relayed = match message.xor_address(attr::XOR_RELAYED_ADDRESS) {
                    Ok(Some(relayed)) => relayed,
                    _ => {
                        return self
                            .on_failure(request, Error::InvalidResponse("no XOR-RELAYED-ADDRESS"))
                    }
                };
                let mapped = message.xor_address(attr::XOR_MAPPED_ADDRESS).ok().flatten();
                let allocation = Allocation {
                    relayed,
                    mapped,
                    lifetime,
                    refresh_at: Some(refresh_at(now, lifetime)),
                };
                if matches!(self.state, State::Deallocating) {
                    // deallocate() came while allocating: delete it at once, unannounced.
                    self.send_request(now, Request::Refresh { lifetime: 0 }, 0);
                } else {
                    self.set_state(State::Allocated(allocation), "Allocate success");
                    self.send_due(now);
                }
            }
            Request::Refresh { lifetime: 0 } => {
                self.set_state(State::Closed(None), "Refresh(0) success")
            }
            Request::Refresh { .. } => {
                if let State::Allocated(a) = &mut self.state {
                    a.lifetime = lifetime;
                    a.refresh_at = Some(refresh_at(now, lifetime));
                    self.events.push_back(TurnEvent::Refreshed { lifetime });
                }
            }
            Request::CreatePermission(ip) => {
                if self.peers.permission_ok(ip, now) {
                    self.events.push_back(TurnEvent::PermissionCreated(ip));
                }
            }
            Request::ChannelBind { peer, channel } => {
                if self.peers.channel_ok(peer, now) {
                    self.events
                        .push_back(TurnEvent::ChannelBound { peer, channel });
                }
            }
        }
    }

    fn on_failure(&mut self, request: Request, error: Error) {
        match request {
            Request::Allocate | Request::Refresh { lifetime: 0 }
                if matches!(self.state, State::Deallocating) =>
            {
                // Nothing to delete, or it is gone (437) or unreachable: either way, done.
                self.set_state(State::Closed(None), "deallocated (or nothing to delete)");
            }
            Request::Allocate | Request::Refresh { .. } => {
                if !self.is_closed() {
                    self.set_state(State::Closed(Some(error)), "Allocate/Refresh failed");
                }
            }
            Request::CreatePermission(peer) => {
                self.peers.permission_failed(peer);
                self.events
                    .push_back(TurnEvent::PermissionFailed { peer, error });
            }
            Request::ChannelBind { peer, .. } => {
                self.peers.channel_failed(peer);
                self.events
                    .push_back(TurnEvent::ChannelFailed { peer, error });
            }
        }
    }
}
