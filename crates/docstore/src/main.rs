//! `ringwire-docstore`: the Firestore stand-in's server. Connects to Redis, listens, prints one
//! line `listening on <addr>` on stdout when ready (scripts and tests read it), and serves until
//! SIGINT or SIGTERM. Logs go to stderr (`RUST_LOG`, default `info`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ringwire_docstore::server::{DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_LISTENERS};
use ringwire_docstore::store::DEFAULT_LOG_CAP;
use ringwire_docstore::{DocStoreError, Server, ServerConfig, Store};

/// A Firestore-shaped document store on Redis, for tests and demos (not a production database).
#[derive(Debug, Parser)]
#[command(name = "ringwire-docstore", version)]
struct Args {
    /// Address to listen on; port 0 picks a free one (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Redis to keep the documents in.
    #[arg(
        long,
        env = "RINGWIRE_DOCSTORE_REDIS",
        default_value = "redis://127.0.0.1:6379"
    )]
    redis: String,
    /// Every Redis key goes under `<prefix>:` (1-64 of A-Z a-z 0-9 _ - .).
    #[arg(long, default_value = "docstore")]
    prefix: String,
    /// A directory to serve under /static/ (test pages that import /firestore-standin.js).
    #[arg(long = "static", value_name = "DIR")]
    static_dir: Option<PathBuf>,
    /// Most listeners per WebSocket connection.
    #[arg(long, default_value_t = DEFAULT_MAX_LISTENERS)]
    max_listeners: usize,
    /// Most WebSocket connections at once.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Entries each change log keeps; a listener further behind ends with `fell_behind`.
    #[arg(long, default_value_t = DEFAULT_LOG_CAP)]
    log_cap: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringwire-docstore: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), DocStoreError> {
    if let Some(dir) = &args.static_dir {
        if !dir.is_dir() {
            return Err(DocStoreError::Serve(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("--static {}: not a directory", dir.display()),
            )));
        }
    }
    let store = Store::connect(&args.redis, &args.prefix)
        .await?
        .with_log_cap(args.log_cap);
    let config = ServerConfig {
        store,
        static_dir: args.static_dir,
        max_listeners: args.max_listeners,
        max_connections: args.max_connections,
    };
    let server = Server::start(args.listen, config).await?;
    {
        let mut stdout = std::io::stdout().lock();
        // If stdout is gone, nobody waits for the line; keep serving.
        let _ = writeln!(stdout, "listening on {}", server.local_addr());
        let _ = stdout.flush();
    }
    tracing::info!(prefix = %args.prefix, "serving {}", server.url());
    wait_for_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await
}

async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::warn!("cannot watch SIGTERM ({e}); stop with Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
