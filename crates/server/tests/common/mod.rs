//! Shared harness for the integration tests: a real server on an ephemeral loopback port with a
//! temporary data directory, the admin API over real HTTP, and protocol clients over real
//! WebSockets.
#![allow(dead_code)] // each test file uses a different part of the harness

pub mod process;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ringwire_proto::{
    decode_server, encode, CallId, ClientMessage, DeviceId, EndReason, ErrorMessage, ServerMessage,
    Welcome,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use ringwire_testkit::{TestServer, ADMIN};

const WAIT: Duration = Duration::from_secs(5);

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a WebSocket with the token in the Authorization header (or none).
pub async fn open(server: &TestServer, token: Option<&str>) -> Ws {
    open_at(server.addr, token).await
}

/// [`open`] for a server at `addr` (one in another process).
pub async fn open_at(addr: std::net::SocketAddr, token: Option<&str>) -> Ws {
    let mut req = format!("ws://{addr}/v1/ws")
        .into_client_request()
        .expect("request");
    if let Some(t) = token {
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {t}").parse().expect("header"),
        );
    }
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("websocket connects");
    ws
}

pub struct Client {
    pub ws: Ws,
    pub device: DeviceId,
    pub welcome: Welcome,
}

impl Client {
    pub async fn connect(server: &TestServer, token: &str) -> Client {
        Client::connect_with_calls(server, token, vec![]).await
    }

    pub async fn connect_with_calls(
        server: &TestServer,
        token: &str,
        calls: Vec<CallId>,
    ) -> Client {
        Client::connect_at(server.addr, token, calls).await
    }

    /// Connects to a server at `addr` (one in another process) and says hello.
    pub async fn connect_at(addr: std::net::SocketAddr, token: &str, calls: Vec<CallId>) -> Client {
        let mut ws = open_at(addr, Some(token)).await;
        let hello = ClientMessage::Hello {
            versions: vec![1],
            client: None,
            calls,
        };
        ws.send(Message::Text(encode(&hello).into()))
            .await
            .expect("send hello");
        let welcome = match next_message(&mut ws).await {
            Some(ServerMessage::Welcome(w)) => w,
            other => panic!("expected welcome, got {other:?}"),
        };
        Client {
            device: welcome.device_id,
            ws,
            welcome,
        }
    }

    pub async fn send(&mut self, msg: &ClientMessage) {
        self.ws
            .send(Message::Text(encode(msg).into()))
            .await
            .expect("send");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.to_owned().into()))
            .await
            .expect("send");
    }

    pub async fn recv(&mut self) -> ServerMessage {
        next_message(&mut self.ws)
            .await
            .expect("a message, not a close")
    }

    /// [`Client::recv`] with its own patience: for answers that are owed but whose timing is
    /// not what a test checks (a flood's answers wait for group commits of the whole flood).
    pub async fn recv_within(&mut self, wait: Duration) -> ServerMessage {
        next_message_within(&mut self.ws, wait)
            .await
            .expect("a message, not a close")
    }

    pub async fn expect_ended(&mut self, call: CallId) -> EndReason {
        match self.recv().await {
            ServerMessage::Ended {
                call_id, reason, ..
            } if call_id == call => reason,
            other => panic!("expected ended for {call}, got {other:?}"),
        }
    }

    pub async fn expect_error(&mut self) -> ErrorMessage {
        match self.recv().await {
            ServerMessage::Error(e) => e,
            other => panic!("expected error, got {other:?}"),
        }
    }

    /// Nothing arrives for `ms` (the connection may still be open).
    pub async fn expect_silence(&mut self, ms: u64) {
        if let Ok(frame) =
            tokio::time::timeout(Duration::from_millis(ms), next_message(&mut self.ws)).await
        {
            panic!("expected silence, got {frame:?}");
        }
    }

    /// A round trip proves the connection is still open and in order.
    pub async fn ping(&mut self, nonce: u64) {
        self.send(&ClientMessage::Ping { nonce }).await;
        match self.recv().await {
            ServerMessage::Pong { nonce: n, .. } => assert_eq!(n, nonce),
            other => panic!("expected pong, got {other:?}"),
        }
    }
}

/// The next protocol message, skipping WebSocket pings; `None` when the socket closes.
pub async fn next_message(ws: &mut Ws) -> Option<ServerMessage> {
    next_message_within(ws, WAIT).await
}

/// [`next_message`], waiting at most `wait` for each frame.
pub async fn next_message_within(ws: &mut Ws, wait: Duration) -> Option<ServerMessage> {
    loop {
        let frame = tokio::time::timeout(wait, ws.next())
            .await
            .expect("timed out waiting for a message");
        match frame {
            Some(Ok(Message::Text(t))) => {
                return Some(decode_server(t.as_str()).expect("server sent valid protocol"))
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(other)) => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Reads until the close frame and returns its code, collecting the messages before it.
pub async fn expect_close(ws: &mut Ws) -> (Vec<ServerMessage>, Option<u16>) {
    let mut before = vec![];
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("timed out waiting for close");
        match frame {
            Some(Ok(Message::Text(t))) => before.push(decode_server(t.as_str()).expect("valid")),
            Some(Ok(Message::Close(c))) => return (before, c.map(|c| u16::from(c.code))),
            Some(Ok(_)) => continue,
            None | Some(Err(_)) => return (before, None),
        }
    }
}

pub fn close_code(code: u16) -> CloseCode {
    CloseCode::from(code)
}

/// Alice with one device, Bob with two, Carol with one; all connected.
pub struct Cast {
    pub alice: Client,
    pub bob1: Client,
    pub bob2: Client,
    pub carol: Client,
    pub tokens: Tokens,
}

pub struct Tokens {
    pub alice: String,
    pub bob1: String,
    pub bob2: String,
    pub carol: String,
}

impl Cast {
    /// Alice calls Bob: she gets `calling`, both of Bob's devices get `incoming`.
    pub async fn ring_bob(&mut self, call: CallId) {
        self.alice.send(&invite(call, "bob")).await;
        assert!(
            matches!(self.alice.recv().await, ServerMessage::Calling { call_id, .. } if call_id == call)
        );
        for bob in [&mut self.bob1, &mut self.bob2] {
            assert!(matches!(bob.recv().await, ServerMessage::Incoming(i) if i.call_id == call));
        }
    }
}

pub async fn cast(server: &TestServer) -> Cast {
    for u in ["alice", "bob", "carol"] {
        server.add_user(u).await;
    }
    let tokens = Tokens {
        alice: server.add_device("alice").await.1,
        bob1: server.add_device("bob").await.1,
        bob2: server.add_device("bob").await.1,
        carol: server.add_device("carol").await.1,
    };
    Cast {
        alice: Client::connect(server, &tokens.alice).await,
        bob1: Client::connect(server, &tokens.bob1).await,
        bob2: Client::connect(server, &tokens.bob2).await,
        carol: Client::connect(server, &tokens.carol).await,
        tokens,
    }
}

pub fn invite(call_id: CallId, to: &str) -> ClientMessage {
    ClientMessage::Invite(ringwire_proto::Invite {
        call_id,
        to_user: to.parse().expect("user name"),
    })
}
