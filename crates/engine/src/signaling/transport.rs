//! The signaling transport: one tokio task that carries the WebSocket for whoever owns the
//! protocol session ([`super::link::Link`]: the engine thread's `Device`, or the standalone
//! [`super::SignalingClient`]'s task). It decides nothing: told to connect, it waits the delay
//! it was given (the backoff the link chose), opens TCP (and TLS) and upgrades with the bearer
//! token within `connect_timeout`, and reports the connection open; then it decodes every text
//! frame into a server message for its owner, writes the batches its owner hands it, and
//! reports the close frame, the loss (with what it could not write) or the failed attempt.
//! `hello`, `welcome`, pings and timeouts are the session's.
//!
//! Every connection has an id from its owner; the owner drops reports of a connection it has
//! already given up, and the task reports everything about one connection before it opens the
//! next (the commands and the reports are each one ordered channel).

use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use ringwire_proto::{decode_server, encode, ClientMessage, ServerMessage};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use tracing::Instrument;

use super::config::Prepared;
use crate::error::EngineError;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Sink = SplitSink<Ws, Message>;
type Stream = SplitStream<Ws>;

/// How long a clean close waits for the server to answer the close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// What the owner asks of the transport.
#[derive(Debug)]
pub(crate) enum Command {
    /// Wait `after`, then open connection `id` (dropping any other).
    Connect { id: u64, after: Duration },
    /// Write these on connection `id`, in order.
    Write {
        id: u64,
        messages: Vec<ClientMessage>,
    },
    /// Close connection `id` (or give up its attempt): with a 1000 close frame giving
    /// `goodbye`, or by dropping the socket.
    Close {
        id: u64,
        goodbye: Option<&'static str>,
    },
}

/// What happened on the transport, in order.
#[derive(Debug)]
pub(crate) enum Report {
    /// Connection `id` is open; its attempt began at `started` (before TCP and TLS).
    Opened {
        id: u64,
        started: std::time::Instant,
    },
    /// The attempt at connection `id` failed; nothing was opened.
    Failed { id: u64, reason: String },
    /// The configuration cannot make a request (no attempt will ever succeed).
    Unusable(EngineError),
    /// A message from the server on connection `id`.
    Message { id: u64, message: ServerMessage },
    /// The server closed connection `id` (its close frame's code and reason, if any).
    Closed {
        id: u64,
        code: Option<u16>,
        reason: String,
    },
    /// Connection `id` died; `unsent` are the messages from the one whose write failed on
    /// (it may or may not have reached the server).
    Lost {
        id: u64,
        reason: String,
        unsent: Vec<ClientMessage>,
    },
    /// Messages handed over for a connection that is gone.
    Unwritten(Vec<ClientMessage>),
}

/// The owner's end of a running transport task.
#[derive(Debug)]
pub(crate) struct Transport {
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

impl Transport {
    /// Spawns the task on the current runtime; reports go to `reports`.
    pub(crate) fn spawn(prepared: Prepared, reports: mpsc::UnboundedSender<Report>) -> Transport {
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let span = tracing::info_span!("signaling", url = %prepared.url_for_logs);
        let task = Task {
            prepared,
            commands: commands_rx,
            reports,
        };
        let task = tokio::spawn(task.run().instrument(span));
        Transport { commands, task }
    }

    /// Hands the task a command (the task ends only when this end is dropped).
    pub(crate) fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// Ends the task once it has carried out what it was told (a last close included) and
    /// waits for it, at most `limit`.
    pub(crate) async fn finish(self, limit: Duration) {
        let Transport { commands, task } = self;
        drop(commands);
        if tokio::time::timeout(limit, task).await.is_err() {
            tracing::debug!("signaling transport did not finish in time");
        }
    }
}

/// The task and what it owns.
struct Task {
    prepared: Prepared,
    commands: mpsc::UnboundedReceiver<Command>,
    reports: mpsc::UnboundedSender<Report>,
}

/// What to do after a connection (or its attempt) is over.
enum Next {
    /// Wait for the next command.
    Idle,
    /// Carry out this command, which ended the last connection.
    Command(Command),
    /// The owner is gone.
    Stop,
}

impl Task {
    async fn run(mut self) {
        let mut next = Next::Idle;
        loop {
            let command = match next {
                Next::Command(command) => command,
                Next::Idle => match self.commands.recv().await {
                    Some(command) => command,
                    None => break,
                },
                Next::Stop => break,
            };
            next = match command {
                Command::Connect { id, after } => self.connect(id, after).await,
                Command::Write { messages, .. } => {
                    self.report(Report::Unwritten(messages));
                    Next::Idle
                }
                // Nothing open.
                Command::Close { .. } => Next::Idle,
            };
        }
        tracing::debug!("signaling transport stopped");
    }

    /// The backoff wait, the attempt and, once open, the connection.
    async fn connect(&mut self, id: u64, after: Duration) -> Next {
        let timeout = self.prepared.config.connect_timeout;
        let request = match self.prepared.request() {
            Ok(request) => request,
            Err(error) => {
                self.report(Report::Unusable(error));
                return Next::Idle;
            }
        };
        let connector = match &self.prepared.tls {
            Some(tls) => Connector::Rustls(tls.clone()),
            None => Connector::Plain,
        };
        let attempt = async move {
            tokio::time::sleep(after).await;
            let started = Instant::now();
            let opened = tokio::time::timeout(
                timeout,
                tokio_tungstenite::connect_async_tls_with_config(
                    request,
                    None,
                    true,
                    Some(connector),
                ),
            )
            .await;
            (started, opened)
        };
        tokio::pin!(attempt);
        let (started, opened) = loop {
            tokio::select! {
                biased;
                command = self.commands.recv() => match command {
                    None => return Next::Stop,
                    Some(Command::Write { messages, .. }) => {
                        self.report(Report::Unwritten(messages));
                    }
                    Some(Command::Close { id: closed, .. }) if closed != id => {}
                    // Given up (paused, the network changed, a new attempt).
                    Some(command) => return Next::Command(command),
                },
                done = &mut attempt => break done,
            }
        };
        let ws = match opened {
            Err(_) => {
                let reason = format!("no welcome within the connect timeout ({timeout:?})");
                self.report(Report::Failed { id, reason });
                return Next::Idle;
            }
            Ok(Err(e)) => {
                let reason = format!("connect failed: {e}");
                self.report(Report::Failed { id, reason });
                return Next::Idle;
            }
            Ok(Ok((ws, _))) => ws,
        };
        self.report(Report::Opened {
            id,
            started: started.into_std(),
        });
        let (mut sink, mut stream) = ws.split();
        self.connection(id, &mut sink, &mut stream).await
    }

    /// One open connection: frames in, batches out, until it ends.
    async fn connection(&mut self, id: u64, sink: &mut Sink, stream: &mut Stream) -> Next {
        loop {
            tokio::select! {
                biased;
                command = self.commands.recv() => match command {
                    None => {
                        close_normally(sink, stream, "client shutting down").await;
                        return Next::Stop;
                    }
                    Some(Command::Write { id: to, messages }) if to == id => {
                        if let Err((e, unsent)) = write_all(sink, messages).await {
                            let reason = format!("write failed: {e}");
                            self.report(Report::Lost { id, reason, unsent });
                            return Next::Idle;
                        }
                    }
                    Some(Command::Write { messages, .. }) => {
                        self.report(Report::Unwritten(messages));
                    }
                    Some(Command::Close { id: closed, goodbye }) if closed == id => {
                        if let Some(reason) = goodbye {
                            close_normally(sink, stream, reason).await;
                        }
                        return Next::Idle;
                    }
                    Some(Command::Close { .. }) => {}
                    Some(command @ Command::Connect { .. }) => return Next::Command(command),
                },
                frame = stream.next() => {
                    let lost = match frame {
                        None => "connection closed".to_owned(),
                        Some(Err(e)) => format!("read failed: {e}"),
                        Some(Ok(Message::Text(text))) => {
                            match decode_server(text.as_str()) {
                                Ok(message) => self.report(Report::Message { id, message }),
                                // Its content (which may carry SDP or addresses) is not
                                // logged, only the kind of failure.
                                Err(e) => tracing::warn!(
                                    code = %e.code(),
                                    "skipping a server frame that failed to decode"
                                ),
                            }
                            continue;
                        }
                        Some(Ok(Message::Close(frame))) => {
                            let (code, reason) = match frame {
                                Some(f) => (Some(u16::from(f.code)), f.reason.as_str().to_owned()),
                                None => (None, String::new()),
                            };
                            self.report(Report::Closed { id, code, reason });
                            return Next::Idle;
                        }
                        Some(Ok(Message::Binary(_))) => {
                            tracing::warn!("binary frame from the server; skipped");
                            continue;
                        }
                        // Pings are answered by tungstenite itself on the next read or write.
                        Some(Ok(_)) => continue,
                    };
                    self.report(Report::Lost { id, reason: lost, unsent: Vec::new() });
                    return Next::Idle;
                }
            }
        }
    }

    fn report(&self, report: Report) {
        // The owner gone is seen on the command channel.
        let _ = self.reports.send(report);
    }
}

/// Writes a batch; on failure returns the error and the messages from the one that failed on
/// (it may or may not have reached the server: call-control actions are idempotent there, so
/// sending one twice is safe, losing one is not).
async fn write_all(
    sink: &mut Sink,
    batch: Vec<ClientMessage>,
) -> Result<(), (tokio_tungstenite::tungstenite::Error, Vec<ClientMessage>)> {
    let mut batch = batch.into_iter();
    while let Some(message) = batch.next() {
        tracing::debug!(r#type = message.type_name(), call_id = ?message.call_id(), "send");
        if let Err(e) = sink.feed(Message::Text(encode(&message).into())).await {
            return Err((e, std::iter::once(message).chain(batch).collect()));
        }
    }
    // A failed flush leaves it unknown what went out; the batch counts as sent.
    sink.flush().await.map_err(|e| (e, Vec::new()))
}

/// Says goodbye with 1000 and waits briefly for the server's close frame.
async fn close_normally(sink: &mut Sink, stream: &mut Stream, reason: &str) {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: reason.into(),
    };
    let goodbye = async {
        if sink.send(Message::Close(Some(frame))).await.is_err() {
            return;
        }
        while let Some(Ok(frame)) = stream.next().await {
            if matches!(frame, Message::Close(_)) {
                break;
            }
        }
    };
    if tokio::time::timeout(CLOSE_TIMEOUT, goodbye).await.is_err() {
        tracing::debug!("server did not answer the close frame in time");
    }
}
