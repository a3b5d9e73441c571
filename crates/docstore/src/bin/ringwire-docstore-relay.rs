//! `ringwire-docstore-relay`: joins `ringwire peer` (its JSON lines on stdin and stdout) to a
//! call document of the Firestore stand-in, through the adapter of `ringwire_docstore::peer`:
//! what the engine writes becomes the call's documents, and what the other side writes comes
//! back as lines. With it a native softphone talks to a plain WebRTC page that signals through
//! Firestore-shaped documents:
//!
//! ```text
//! mkfifo f
//! ringwire peer --tone 440 < f | ringwire-docstore-relay --doc ID --side callee > f
//! ```
//!
//! `--log FILE` appends every message it moved as `{"dir":"to_store"|"from_store","message":…}`
//! (tests compare them with what the page produced and consumed). It ends when stdin ends, and
//! as the caller (`--side caller --delete-at-end`) deletes the call's documents then.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use ringwire_docstore::peer::{CallChannel, Side};
use ringwire_docstore::{DocClient, DocStoreError};
use ringwire_proto::{decode_peer_signal, encode, PeerSignal};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Relays one call between `ringwire peer`'s lines and a call document of the docstore.
#[derive(Debug, Parser)]
#[command(name = "ringwire-docstore-relay", version)]
struct Args {
    /// The docstore: ws://host:port/v1/docs.
    #[arg(long, default_value = "ws://127.0.0.1:8787/v1/docs")]
    url: String,
    /// The call document's id (`calls/{ID}`).
    #[arg(long)]
    doc: String,
    /// Which end of the call the engine on stdin/stdout is.
    #[arg(long, value_enum)]
    side: SideArg,
    /// Append every relayed message to this file, one JSON object per line.
    #[arg(long)]
    log: Option<std::path::PathBuf>,
    /// Delete the call's documents when stdin ends (the caller's job).
    #[arg(long)]
    delete_at_end: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SideArg {
    Caller,
    Callee,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringwire-docstore-relay: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), DocStoreError> {
    let side = match args.side {
        SideArg::Caller => Side::Caller,
        SideArg::Callee => Side::Callee,
    };
    let client = DocClient::connect(&args.url).await?;
    let channel = CallChannel::new(client, &args.doc, side);
    let mut incoming = channel.listen().await?;
    let mut log = match &args.log {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(DocStoreError::Serve)?,
        ),
        None => None,
    };
    let mut record = |dir: &str, signal: &PeerSignal| {
        if let Some(file) = log.as_mut() {
            let _ = writeln!(file, "{}", json!({"dir": dir, "message": signal}));
        }
    };
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = std::io::stdout();
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { break };
                if line.trim().is_empty() {
                    continue;
                }
                match decode_peer_signal(&line) {
                    Ok(signal) => {
                        record("to_store", &signal);
                        if let Err(e) = channel.send(&signal).await {
                            eprintln!("ringwire-docstore-relay: not written: {e}");
                        }
                    }
                    Err(e) => eprintln!("ringwire-docstore-relay: not a peer message ({e})"),
                }
            }
            message = incoming.next() => match message {
                Some(Ok(signal)) => {
                    record("from_store", &signal);
                    if writeln!(stdout, "{}", encode(&signal)).and_then(|()| stdout.flush()).is_err() {
                        break;
                    }
                }
                Some(Err(e)) => eprintln!("ringwire-docstore-relay: from the store: {e}"),
                None => break,
            },
        }
    }
    if args.delete_at_end {
        channel.delete_call().await?;
    }
    Ok(())
}
