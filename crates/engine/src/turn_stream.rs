//! TCP and TLS connections to TURN servers (`turn:…?transport=tcp`, `turns:`), one per
//! allocation, opened when the agent asks ([`Output::StreamConnect`]). A task per stream
//! connects (TLS with rustls and the webpki roots for `turns:`), then moves bytes both ways;
//! what it reads, and how it ended, comes back to the driver as [`StreamEvent`]s for the
//! agent (which frames the bytes).
//!
//! [`Output::StreamConnect`]: ringwire_core::Output::StreamConnect

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ringwire_core::StreamId;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::debug;

/// A TURN server that does not accept the connection in this time counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a stream task reports.
pub(crate) enum StreamEvent {
    Connected { stream: StreamId, local: SocketAddr },
    Data { stream: StreamId, bytes: Vec<u8> },
    Closed { stream: StreamId, error: String },
}

/// The open streams' writers.
pub(crate) struct TurnStreams {
    writers: HashMap<StreamId, mpsc::UnboundedSender<Vec<u8>>>,
    events: mpsc::UnboundedSender<StreamEvent>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl TurnStreams {
    pub fn new(
        events: mpsc::UnboundedSender<StreamEvent>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Self {
        TurnStreams {
            writers: HashMap::new(),
            events,
            tls,
        }
    }

    /// Opens a stream in the background.
    pub fn connect(&mut self, stream: StreamId, server: SocketAddr, tls_name: Option<String>) {
        let (tx, rx) = mpsc::unbounded_channel();
        self.writers.insert(stream, tx);
        let events = self.events.clone();
        let tls = self.tls.clone();
        tokio::spawn(async move {
            let error = match run(stream, server, tls_name, tls, rx, &events).await {
                Ok(()) => "closed".to_string(),
                Err(error) => error,
            };
            let _ = events.send(StreamEvent::Closed { stream, error });
        });
    }

    /// Queues bytes for the stream.
    pub fn send(&mut self, stream: StreamId, bytes: Vec<u8>) {
        if let Some(tx) = self.writers.get(&stream) {
            let _ = tx.send(bytes);
        }
    }

    /// Closes the stream once what is queued is written.
    pub fn close(&mut self, stream: StreamId) {
        self.writers.remove(&stream);
    }

    /// Forgets a stream that ended by itself.
    pub fn closed(&mut self, stream: StreamId) {
        self.writers.remove(&stream);
    }
}

async fn run(
    stream: StreamId,
    server: SocketAddr,
    tls_name: Option<String>,
    tls: Option<Arc<rustls::ClientConfig>>,
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
    events: &mpsc::UnboundedSender<StreamEvent>,
) -> Result<(), String> {
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(server))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect failed: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let local = tcp.local_addr().map_err(|e| e.to_string())?;
    match tls_name {
        None => {
            let _ = events.send(StreamEvent::Connected { stream, local });
            pump(stream, tcp, rx, events).await
        }
        Some(name) => {
            let config = tls.ok_or("TLS is not available")?;
            let name = rustls::pki_types::ServerName::try_from(name)
                .map_err(|e| format!("bad TLS name: {e}"))?;
            let connector = tokio_rustls::TlsConnector::from(config);
            let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
                .await
                .map_err(|_| "TLS handshake timed out".to_string())?
                .map_err(|e| format!("TLS handshake failed: {e}"))?;
            let _ = events.send(StreamEvent::Connected { stream, local });
            pump(stream, tls, rx, events).await
        }
    }
}

async fn pump<S: AsyncRead + AsyncWrite + Unpin>(
    stream: StreamId,
    io: S,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    events: &mpsc::UnboundedSender<StreamEvent>,
) -> Result<(), String> {
    let (mut reader, mut writer) = tokio::io::split(io);
    let mut buf = vec![0u8; 4096];
    loop {
        tokio::select! {
            read = reader.read(&mut buf) => match read {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    if events.send(StreamEvent::Data { stream, bytes: buf[..n].to_vec() }).is_err() {
                        return Ok(());
                    }
                }
                Err(e) => return Err(format!("read failed: {e}")),
            },
            bytes = rx.recv() => match bytes {
                Some(bytes) => writer.write_all(&bytes).await.map_err(|e| format!("write failed: {e}"))?,
                None => {
                    debug!(stream, "TURN stream closed by the engine");
                    let _ = writer.shutdown().await;
                    return Ok(());
                }
            },
        }
    }
}
