//! The signaling client against a scripted fake server on loopback, for what the real server
//! never does on purpose: frames that fail to decode, pongs that never come, WebSocket pings,
//! fatal close codes; and for what only the server side can see: the bearer header, the hello,
//! and the close code of a shutdown.

mod common;

use std::time::Duration;

use common::{config, Engine, WAIT};
use futures_util::{SinkExt, StreamExt};
use ringwire_engine::{EngineError, SignalingEvent};
use ringwire_proto::{
    decode_client, encode, CallId, ClientMessage, DeviceId, ErrorCode, ErrorMessage, ServerMessage,
    Welcome,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TcpStream>;

const TOKEN: &str = "rw_fake_token";

struct Fake {
    listener: TcpListener,
}

impl Fake {
    async fn bind() -> Fake {
        Fake {
            listener: TcpListener::bind("127.0.0.1:0").await.expect("bind"),
        }
    }

    fn url(&self) -> String {
        format!(
            "ws://{}/v1/ws",
            self.listener.local_addr().expect("address")
        )
    }

    /// Accepts one upgrade; returns the socket and the Authorization header it carried.
    // The callback's error type is tungstenite's HTTP response, which we never build.
    #[allow(clippy::result_large_err)]
    async fn accept(&self) -> (Ws, Option<String>) {
        let (tcp, _) = tokio::time::timeout(WAIT, self.listener.accept())
            .await
            .expect("the client connects")
            .expect("accept");
        let mut auth = None;
        let ws = tokio_tungstenite::accept_hdr_async(tcp, |req: &Request, resp: Response| {
            auth = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok(resp)
        })
        .await
        .expect("upgrade");
        (ws, auth)
    }

    /// Accepts, reads `hello`, answers `welcome`; returns the socket and the hello.
    async fn handshake(&self) -> (Ws, ClientMessage) {
        let (mut ws, auth) = self.accept().await;
        assert_eq!(auth.as_deref(), Some("Bearer rw_fake_token"));
        let hello = recv(&mut ws).await;
        assert!(matches!(hello, ClientMessage::Hello { .. }), "{hello:?}");
        send(&mut ws, &welcome()).await;
        (ws, hello)
    }
}

fn welcome() -> ServerMessage {
    ServerMessage::Welcome(Welcome {
        version: 1,
        user: "alice".parse().expect("name"),
        display_name: None,
        device_id: DeviceId::from_bytes([7; 16]),
        server_time_ms: 1,
        ring_timeout_ms: 45_000,
        ice_servers: Vec::new(),
        ice_expires_ms: None,
    })
}

async fn send(ws: &mut Ws, message: &ServerMessage) {
    ws.send(Message::Text(encode(message).into()))
        .await
        .expect("send");
}

/// The next protocol message from the client (WebSocket control frames skipped).
async fn recv(ws: &mut Ws) -> ClientMessage {
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a frame from the client")
            .expect("the connection is open")
            .expect("a valid frame");
        if let Message::Text(text) = frame {
            return decode_client(text.as_str()).expect("the client sends valid protocol");
        }
    }
}

fn ringing() -> ServerMessage {
    ServerMessage::Ringing {
        call_id: CallId::from_bytes([1; 16]),
        device_id: DeviceId::from_bytes([2; 16]),
    }
}

#[tokio::test]
async fn hello_carries_versions_and_name_and_bad_frames_are_skipped() {
    let fake = Fake::bind().await;
    let mut engine = Engine::spawn(config(fake.url(), TOKEN));
    let (mut ws, hello) = fake.handshake().await;
    match hello {
        ClientMessage::Hello {
            versions,
            client,
            calls,
        } => {
            assert_eq!(versions, vec![1]);
            assert_eq!(
                client.as_ref().map(|c| c.as_str()),
                Some("ringwire-engine-tests")
            );
            assert!(calls.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(engine.next().await, SignalingEvent::Connected(_)));
    for bad in [
        "not json",
        r#"{"type":"teleport"}"#,
        r#"{"type":"ringing"}"#,
    ] {
        ws.send(Message::Text(bad.into())).await.expect("send");
    }
    ws.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .expect("send");
    send(&mut ws, &ringing()).await;
    // The bad frames were skipped, and the connection stayed.
    assert_eq!(engine.message().await, ringing());
    assert!(engine.client.is_connected());
    // The first application ping arrives on the same connection.
    assert!(matches!(recv(&mut ws).await, ClientMessage::Ping { .. }));
}

#[tokio::test]
async fn a_missing_pong_drops_the_connection_and_a_pong_sets_the_rtt() {
    let fake = Fake::bind().await;
    let mut cfg = config(fake.url(), TOKEN);
    // The first ping goes out right after each welcome; the next one only much later.
    cfg.ping_interval = Duration::from_secs(60);
    cfg.pong_timeout = Duration::from_millis(200);
    let mut engine = Engine::spawn(cfg);
    let (mut first, _) = fake.handshake().await;
    assert!(matches!(engine.next().await, SignalingEvent::Connected(_)));
    let known = CallId::from_bytes([9; 16]);
    engine.client.set_known_calls(vec![known]);
    assert!(matches!(recv(&mut first).await, ClientMessage::Ping { .. }));
    // No pong: the client gives up on this connection and reconnects.
    let (reason, _) = engine.disconnected().await;
    assert!(reason.contains("pong"), "{reason}");
    let (mut second, hello) = fake.handshake().await;
    match hello {
        ClientMessage::Hello { calls, .. } => assert_eq!(calls, vec![known]),
        other => panic!("{other:?}"),
    }
    assert!(matches!(engine.next().await, SignalingEvent::Connected(_)));
    assert_eq!(engine.client.rtt(), None);
    let nonce = match recv(&mut second).await {
        ClientMessage::Ping { nonce } => nonce,
        other => panic!("expected ping, got {other:?}"),
    };
    send(
        &mut second,
        &ServerMessage::Pong {
            nonce,
            server_time_ms: 1,
        },
    )
    .await;
    // A pong for a ping the app never sent: forwarded.
    let foreign = ServerMessage::Pong {
        nonce: nonce.wrapping_add(1000),
        server_time_ms: 1,
    };
    send(&mut second, &foreign).await;
    // The client's own pong is consumed, not forwarded.
    assert_eq!(engine.message().await, foreign);
    assert!(engine.client.rtt().is_some());
    // Our clock is decades past 1 ms after the epoch.
    assert!(engine.client.server_offset_ms().expect("offset") < 0);
    assert!(engine.client.is_connected());
}

#[tokio::test]
async fn websocket_pings_are_answered() {
    let fake = Fake::bind().await;
    let engine = Engine::spawn(config(fake.url(), TOKEN));
    let (mut ws, _) = fake.handshake().await;
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .expect("send");
    let pong = tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await.expect("open").expect("frame") {
                Message::Pong(payload) => return payload,
                _ => continue,
            }
        }
    })
    .await
    .expect("a pong");
    assert_eq!(&pong[..], b"are you there");
    drop(engine);
}

#[tokio::test]
async fn shutdown_closes_with_1000() {
    let fake = Fake::bind().await;
    let mut engine = Engine::spawn(config(fake.url(), TOKEN));
    let (mut ws, _) = fake.handshake().await;
    engine.connected().await;
    let server_side = tokio::spawn(async move {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                other => panic!("connection ended without a close frame: {other:?}"),
            }
        }
    });
    engine.client.shutdown().await;
    let code = tokio::time::timeout(WAIT, server_side)
        .await
        .expect("close arrives")
        .expect("server task");
    assert_eq!(code, Some(1000));
    engine.ends(|_| false).await;
}

async fn refused(frames: Vec<Message>) -> EngineError {
    let fake = Fake::bind().await;
    let mut engine = Engine::spawn(config(fake.url(), TOKEN));
    let (mut ws, _) = fake.handshake().await;
    engine.connected().await;
    for frame in frames {
        ws.send(frame).await.expect("send");
    }
    let error = match engine.next().await {
        SignalingEvent::Fatal(error) => error,
        other => panic!("expected Fatal, got {other:?}"),
    };
    engine.ends(|_| false).await;
    // No second attempt reaches the fake server.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), fake.listener.accept())
            .await
            .is_err(),
        "the client reconnected after a fatal refusal"
    );
    error
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.to_owned().into(),
    }))
}

fn error(code: ErrorCode) -> Message {
    Message::Text(encode(&ServerMessage::Error(ErrorMessage::new(code, "test"))).into())
}

#[tokio::test]
async fn fatal_refusals_stop_the_client() {
    assert_eq!(
        refused(vec![close(4401, "unauthorized")]).await,
        EngineError::Unauthorized
    );
    assert_eq!(
        refused(vec![close(4406, "unsupported_version")]).await,
        EngineError::UnsupportedVersion
    );
    assert_eq!(
        refused(vec![error(ErrorCode::Replaced), close(4409, "replaced")]).await,
        EngineError::Replaced
    );
    assert_eq!(
        refused(vec![error(ErrorCode::Unauthorized)]).await,
        EngineError::Unauthorized
    );
}

#[tokio::test]
async fn ordinary_closes_and_errors_are_retried() {
    let fake = Fake::bind().await;
    let mut engine = Engine::spawn(config(fake.url(), TOKEN));
    let (mut ws, _) = fake.handshake().await;
    engine.connected().await;
    ws.send(error(ErrorCode::TooSlow)).await.expect("send");
    ws.send(close(1001, "too_slow")).await.expect("send");
    match engine.message().await {
        ServerMessage::Error(e) => assert_eq!(e.code, ErrorCode::TooSlow),
        other => panic!("{other:?}"),
    }
    let (reason, _) = engine.disconnected().await;
    assert!(reason.contains("1001"), "{reason}");
    fake.handshake().await;
    engine.connected().await;
}
