//! The impairment relay both stacks' media goes through in the quality benchmark. Every real
//! endpoint X gets a stand-in socket R(X) on 127.0.0.1; peers are told R(X) instead of X (the
//! signaling proxy rewrites native candidates, the Chromium page asks `GET /map?addr=X`), so a
//! datagram from Y to R(X) is sent on from R(Y) to X and each side sees the other's stand-in as
//! its peer. RTP on each direction passes through an [`impair::Flow`]; STUN, DTLS and RTCP pass
//! untouched. This is the user-space stand-in for Linux's netem qdisc, which the kernels these
//! benchmarks run on lack (`tc … netem` fails there; see bench/README.md).

use std::collections::HashMap;
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

impl Relay {
    /// Starts the relay with no impairment and its `/map` endpoint on a loopback port.
    pub async fn start() -> anyhow::Result<Relay> {
        let inner = Arc::new(Inner {
            stand_ins: Mutex::new(HashMap::new()),
            flows: Mutex::new(HashMap::new()),
            setting: Mutex::new((LinkConfig::default(), 1)),
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

    /// Applies `impairment` to every flow from now on, each direction seeded from `seed`.
    pub fn set(&self, impairment: LinkConfig, seed: u64) {
        *lock(&self.inner.setting) = (impairment, seed);
        // Flows restart with fresh state; their queues are re-created on the next packet.
        lock(&self.inner.flows).clear();
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
