//! The impairment relay both stacks' media goes through in the quality benchmark. Every real
//! endpoint X gets a stand-in socket R(X) on 127.0.0.1; peers are told R(X) instead of X (the
//! signaling proxy rewrites native candidates, the Chromium page asks `GET /map?addr=X`), so a
//! datagram from Y to R(X) is sent on from R(Y) to X and each side sees the other's stand-in as
//! its peer. RTP on each direction passes through an [`impair::Flow`]; STUN, DTLS and RTCP pass
//! untouched. This is the user-space stand-in for Linux's netem qdisc, which the kernels these
//! benchmarks run on lack (`tc … netem` fails there; see bench/README.md).
//!
//! The relay also counts each direction's RTP ([`Traffic`]): every packet the sender offered,
//! before the loss model, with its payload size past the RTP header. Both stacks' media crosses
//! it, so it is one measure of the bitrate each used, not two stacks' own counters.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::impair::{is_rtp, Fate, Flow, LinkConfig};

type Queue = mpsc::UnboundedSender<(tokio::time::Instant, Vec<u8>)>;

struct Inner {
    stand_ins: Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>,
    flows: Mutex<HashMap<(SocketAddr, SocketAddr), (Flow, Queue)>>,
    setting: Mutex<(LinkConfig, u64)>,
    traffic: Mutex<HashMap<(SocketAddr, SocketAddr), Traffic>>,
    tasks: Mutex<Vec<AbortHandle>>,
}

/// A running relay. Dropping it stops every socket and queue.
pub struct Relay {
    inner: Arc<Inner>,
    map_url: String,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("map_url", &self.map_url)
            .finish()
    }
}

/// RTP packets that went through the relay's impaired flows since the last [`Relay::set`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RelayStats {
    pub rtp_forwarded: u64,
    pub rtp_dropped: u64,
}

/// One direction's RTP since the last [`Relay::set`] (a [`Relay::change`] keeps counting), as
/// the sender offered it: dropped packets are counted too, since the sender spent them.
#[derive(Debug, Clone, PartialEq)]
pub struct Traffic {
    /// The real sender and the real receiver.
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub packets: u64,
    /// Whole datagrams (RTP header, extensions, payload, SRTP tag).
    pub wire_bytes: u64,
    /// Past the RTP header, CSRCs and header extensions: the codec's bytes (RED included) and
    /// the SRTP authentication tag, which the relay cannot tell apart from the payload.
    pub payload_bytes: u64,
    /// Packets with the padding bit set, and their payload bytes. Chromium sends its bandwidth
    /// probes as padding-only packets on the audio stream; SRTP hides how much of a packet is
    /// padding, so these are kept apart from the media rate whole.
    pub padded: u64,
    pub padded_bytes: u64,
    /// (packets, payload bytes) per RTP payload type: the codec's stream, RED, retransmissions
    /// and probes apart.
    pub by_type: BTreeMap<u8, (u64, u64)>,
    pub first: Instant,
    pub last: Instant,
}

impl Traffic {
    /// Payload kb/s of the packets without padding (the media) from the first packet to the
    /// last; `None` for less than a second of it, too short to be a rate.
    pub fn payload_kbps(&self) -> Option<f64> {
        let span = self
            .last
            .saturating_duration_since(self.first)
            .as_secs_f64();
        let media = self.payload_bytes.saturating_sub(self.padded_bytes);
        (span >= 1.0).then(|| media as f64 * 8.0 / span / 1000.0)
    }

    /// Packets per second over the same span.
    pub fn packet_rate(&self) -> Option<f64> {
        let span = self
            .last
            .saturating_duration_since(self.first)
            .as_secs_f64();
        (span >= 1.0).then(|| self.packets.saturating_sub(1) as f64 / span)
    }
}

/// The RTP payload's length: what follows the fixed header, the CSRC list and the header
/// extension (RFC 3550 §5.1, §5.3.1). A packet too short for its own header has none.
pub fn rtp_payload_len(packet: &[u8]) -> usize {
    let Some(&first) = packet.first() else {
        return 0;
    };
    let mut offset = 12 + 4 * usize::from(first & 0x0F);
    if first & 0x10 != 0 {
        let Some(words) = packet.get(offset + 2..offset + 4) else {
            return 0;
        };
        offset += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    packet.len().saturating_sub(offset)
}

impl Relay {
    /// Starts the relay with no impairment and its `/map` endpoint on a loopback port.
    pub async fn start() -> anyhow::Result<Relay> {
        let inner = Arc::new(Inner {
            stand_ins: Mutex::new(HashMap::new()),
            flows: Mutex::new(HashMap::new()),
            setting: Mutex::new((LinkConfig::default(), 1)),
            traffic: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let map_url = format!("http://{}/map", listener.local_addr()?);
        let app = axum::Router::new()
            .route("/map", axum::routing::get(map))
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        lock(&inner.tasks).push(server.abort_handle());
        Ok(Relay { inner, map_url })
    }

    /// `GET {map_url}?addr=IP:PORT` answers the stand-in's `IP:PORT` (for pages).
    pub fn map_url(&self) -> &str {
        &self.map_url
    }

    /// The stand-in for `real` (created on first use).
    pub fn stand_in(&self, real: SocketAddr) -> anyhow::Result<SocketAddr> {
        Inner::stand_in(&self.inner, real)
    }

    /// Applies `impairment` to every flow from now on, each direction seeded from `seed`, and
    /// starts the counts ([`Relay::stats`], [`Relay::traffic`]) over: a new run.
    pub fn set(&self, impairment: LinkConfig, seed: u64) {
        self.change(impairment, seed);
        lock(&self.inner.traffic).clear();
    }

    /// Applies `impairment` from now on in the middle of a run: the loss counts of
    /// [`Relay::stats`] start over with the new flows, [`Relay::traffic`] keeps counting.
    pub fn change(&self, impairment: LinkConfig, seed: u64) {
        *lock(&self.inner.setting) = (impairment, seed);
        // Flows restart with fresh state; their queues are re-created on the next packet.
        lock(&self.inner.flows).clear();
    }

    /// Every direction that carried RTP since the last [`Relay::set`].
    pub fn traffic(&self) -> Vec<Traffic> {
        lock(&self.inner.traffic).values().cloned().collect()
    }

    pub fn stats(&self) -> RelayStats {
        let flows = lock(&self.inner.flows);
        flows
            .values()
            .fold(RelayStats::default(), |s, (flow, _)| RelayStats {
                // The relay sends each admitted packet once (its queue keeps order, so it does
                // not play a link's duplicates): forwarded is what was not dropped.
                rtp_forwarded: s.rtp_forwarded + flow.stats().sent - flow.stats().dropped(),
                rtp_dropped: s.rtp_dropped + flow.stats().dropped(),
            })
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        for task in lock(&self.inner.tasks).drain(..) {
            task.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn map(
    axum::extract::State(inner): axum::extract::State<Arc<Inner>>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Result<String, (axum::http::StatusCode, String)> {
    let bad = |m: String| (axum::http::StatusCode::BAD_REQUEST, m);
    let addr: SocketAddr = query
        .get("addr")
        .ok_or_else(|| bad("missing ?addr=IP:PORT".into()))?
        .parse()
        .map_err(|e| bad(format!("addr: {e}")))?;
    Inner::stand_in(&inner, addr)
        .map(|a| a.to_string())
        .map_err(|e| (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

impl Inner {
    /// Binding is synchronous so the reader of one stand-in can create another without async
    /// recursion.
    fn stand_in(inner: &Arc<Inner>, real: SocketAddr) -> anyhow::Result<SocketAddr> {
        let mut stand_ins = lock(&inner.stand_ins);
        if let Some(s) = stand_ins.get(&real) {
            return Ok(s.local_addr()?);
        }
        let std_socket =
            std::net::UdpSocket::bind("127.0.0.1:0").context("binding a relay socket")?;
        std_socket.set_nonblocking(true)?;
        let socket = Arc::new(UdpSocket::from_std(std_socket)?);
        let addr = socket.local_addr()?;
        stand_ins.insert(real, socket.clone());
        drop(stand_ins);
        let reader = tokio::spawn(Inner::read(inner.clone(), socket, real));
        lock(&inner.tasks).push(reader.abort_handle());
        Ok(addr)
    }

    /// Datagrams to R(`real`) from some Y go on to `real` from R(Y).
    async fn read(inner: Arc<Inner>, socket: Arc<UdpSocket>, real: SocketAddr) {
        let mut buf = vec![0u8; 2048];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                return;
            };
            if Inner::stand_in(&inner, from).is_err() {
                continue;
            }
            let Some(out) = lock(&inner.stand_ins).get(&from).cloned() else {
                continue;
            };
            let packet = buf[..n].to_vec();
            if !is_rtp(&packet) {
                let _ = out.send_to(&packet, real).await;
                continue;
            }
            Inner::count(&inner, from, real, &packet);
            let leave = {
                let mut flows = lock(&inner.flows);
                let (flow, queue) = flows
                    .entry((from, real))
                    .or_insert_with(|| Inner::new_flow(&inner, out.clone(), real, from));
                match flow.admit(Instant::now(), packet.len()) {
                    Fate::Arrives { at, .. } => Some((at, queue.clone())),
                    Fate::Lost | Fate::RateDropped => None,
                }
            };
            if let Some((t, queue)) = leave {
                let _ = queue.send((tokio::time::Instant::from_std(t), packet));
            }
        }
    }

    fn count(inner: &Inner, from: SocketAddr, to: SocketAddr, packet: &[u8]) {
        let now = Instant::now();
        let mut traffic = lock(&inner.traffic);
        let t = traffic.entry((from, to)).or_insert(Traffic {
            from,
            to,
            packets: 0,
            wire_bytes: 0,
            payload_bytes: 0,
            padded: 0,
            padded_bytes: 0,
            by_type: BTreeMap::new(),
            first: now,
            last: now,
        });
        let payload = rtp_payload_len(packet) as u64;
        t.packets += 1;
        t.wire_bytes += packet.len() as u64;
        t.payload_bytes += payload;
        if packet.first().is_some_and(|b| b & 0x20 != 0) {
            t.padded += 1;
            t.padded_bytes += payload;
        }
        if let Some(pt) = packet.get(1) {
            let count = t.by_type.entry(pt & 0x7F).or_default();
            count.0 += 1;
            count.1 += payload;
        }
        t.last = now;
    }

    /// A flow's queue: packets leave in order, each at its time.
    fn new_flow(
        inner: &Arc<Inner>,
        out: Arc<UdpSocket>,
        to: SocketAddr,
        from: SocketAddr,
    ) -> (Flow, Queue) {
        let (impairment, seed) = *lock(&inner.setting);
        let direction = u64::from(from.port()) << 16 | u64::from(to.port());
        let flow = Flow::new(impairment, seed.wrapping_mul(0x100_0000_01B3) ^ direction);
        let (tx, mut rx) = mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
        let sender = tokio::spawn(async move {
            while let Some((at, packet)) = rx.recv().await {
                tokio::time::sleep_until(at).await;
                let _ = out.send_to(&packet, to).await;
            }
        });
        lock(&inner.tasks).push(sender.abort_handle());
        (flow, tx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::impair::{condition, Loss};
    use std::time::Duration;

    async fn pair() -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let b = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        (a, b)
    }

    #[tokio::test]
    async fn each_side_sees_the_others_stand_in_and_rtp_loss_applies() {
        let relay = Relay::start().await.expect("relay");
        let (a, b) = pair().await;
        let ra = relay.stand_in(a.local_addr().expect("addr")).expect("map");
        let rb = relay.stand_in(b.local_addr().expect("addr")).expect("map");
        relay.set(condition(Loss::Random(0.5), Duration::ZERO), 9);
        // A STUN-like packet always passes, and arrives from A's stand-in.
        a.send_to(&[0, 1, 0, 0], rb).await.expect("send");
        let mut buf = [0u8; 64];
        let (n, from) = tokio::time::timeout(Duration::from_secs(2), b.recv_from(&mut buf))
            .await
            .expect("arrives")
            .expect("recv");
        assert_eq!((n, from), (4, ra));
        for seq in 0..400u16 {
            let [hi, lo] = seq.to_be_bytes();
            a.send_to(&[0x80, 111, hi, lo], rb).await.expect("send");
        }
        let mut got = 0;
        while let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(300), b.recv_from(&mut buf)).await
        {
            got += 1;
        }
        let stats = relay.stats();
        assert_eq!(stats.rtp_forwarded + stats.rtp_dropped, 400);
        assert_eq!(got, stats.rtp_forwarded);
        assert!((150..=250).contains(&got), "{got} of 400 at 50% loss");
        // The sender's traffic counts every packet it offered, dropped or not; B sent none.
        let traffic = relay.traffic();
        assert_eq!(traffic.len(), 1, "{traffic:?}");
        let t = &traffic[0];
        assert_eq!(
            (t.from, t.to),
            (a.local_addr().expect("addr"), b.local_addr().expect("addr"))
        );
        assert_eq!((t.packets, t.wire_bytes, t.payload_bytes), (400, 1600, 0));
        assert_eq!(t.by_type.get(&111), Some(&(400, 0)));
        assert_eq!((t.padded, t.padded_bytes), (0, 0));
        // A change of condition mid-run keeps the traffic; a new run starts it over.
        relay.change(condition(Loss::None, Duration::ZERO), 1);
        assert_eq!(relay.traffic().len(), 1);
        relay.set(condition(Loss::None, Duration::ZERO), 1);
        assert!(relay.traffic().is_empty());
    }

    #[test]
    fn the_payload_starts_after_csrcs_and_the_header_extension() {
        let mut plain = vec![0x80, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        plain.extend([7u8; 50]);
        assert_eq!(rtp_payload_len(&plain), 50);
        // Two CSRCs and a one-byte-header extension of 2 words (RFC 8285).
        let mut rich = vec![0x92, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        rich.extend([0u8; 8]);
        rich.extend([0xBE, 0xDE, 0, 2]);
        rich.extend([0u8; 8]);
        rich.extend([7u8; 30]);
        assert_eq!(rtp_payload_len(&rich), 30);
        assert_eq!(rtp_payload_len(&[0x90, 111, 0, 1]), 0);
        assert_eq!(rtp_payload_len(&[]), 0);
    }

    #[tokio::test]
    async fn the_map_endpoint_answers_stand_ins_and_refuses_garbage() {
        let relay = Relay::start().await.expect("relay");
        let body = |q: &str| {
            let url = format!("{}?{q}", relay.map_url());
            async move {
                let (host, path) = url
                    .trim_start_matches("http://")
                    .split_once('/')
                    .expect("url");
                let mut s = tokio::net::TcpStream::connect(host).await.expect("connect");
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let req = format!("GET /{path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                s.write_all(req.as_bytes()).await.expect("write");
                let mut out = String::new();
                s.read_to_string(&mut out).await.expect("read");
                out
            }
        };
        let ok = body("addr=127.0.0.1:5000").await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        let again = body("addr=127.0.0.1:5000").await;
        assert_eq!(ok.lines().last(), again.lines().last());
        assert!(body("addr=nonsense").await.starts_with("HTTP/1.1 400"));
        assert!(body("").await.starts_with("HTTP/1.1 400"));
    }
}
