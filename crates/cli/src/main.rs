//! `ringwire`: the command line. `serve` runs the signaling server; `user` and `device`
//! administer the store directly (the server may be running; SQLite and PostgreSQL both allow
//! it). `call`, `answer` and `demo` are the native softphone ([`phone`]); `bridge-host` is a
//! stand-in native shell for a WebView UI ([`hybrid`]); `bench` hands over to the separate
//! `ringwire-bench` binary ([`bench_handoff`]), so this one links no benchmark code.

mod bench_handoff;
mod hybrid;
mod phone;
mod startup;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use ringwire_server::admin::{self, AdminError};
use ringwire_server::config::LogFormat;
use ringwire_server::server::open_store;
use ringwire_server::store::Store;
use ringwire_server::{Server, ServerConfig};

/// `ringwire --version`: the crate version and the git commit it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("RINGWIRE_GIT_COMMIT"),
    ")"
);

#[derive(Parser, Debug)]
#[command(
    name = "ringwire",
    version = VERSION,
    about = "ringwire: native calls for mobile and hybrid apps — signaling server and tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the signaling server (defaults: --listen 127.0.0.1:8080 --data ./ringwire-data).
    Serve(ServeArgs),
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage devices and their tokens.
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Call a user with the native engine (a softphone: tone or WAV in, WAV out).
    Call(phone::CallArgs),
    /// Wait for one incoming call, answer it, and run it to its end.
    Answer(phone::AnswerArgs),
    /// A softphone in peer mode: no ringwire server; its signaling is JSON lines on stdin and
    /// stdout (offer, answer, candidate, bye), so any WebRTC peer can be at the other end.
    Peer(phone::PeerArgs),
    /// Run a whole call in one process: a server, Alice, and Bob with two devices.
    Demo(phone::demo::DemoArgs),
    /// Stand in for a native app shell hosting a WebView: an engine, a simulated CallKit, and
    /// the JSON bridge plus a UI-only hybrid page on a local port.
    BridgeHost(hybrid::BridgeHostArgs),
    /// Benchmarks against Chromium's WebRTC on the same machine: setup, latency, quality,
    /// cost, signaling, nat, or all (runs `ringwire-bench`, built separately; methods in
    /// bench/README.md).
    #[command(disable_help_flag = true)]
    Bench {
        /// Everything after `bench`, passed to `ringwire-bench` as it is (`--help` included).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

/// Where the configuration and the store are; shared by every command.
#[derive(Args, Debug, Clone)]
struct StoreArgs {
    /// TOML configuration file (env RINGWIRE_CONFIG).
    #[arg(long, global = true, env = "RINGWIRE_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory holding the SQLite database [default: ./ringwire-data].
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// Database URL (postgres://… or sqlite://…), instead of the data directory.
    #[arg(long, global = true)]
    database: Option<String>,
}

#[derive(Args, Debug)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<String>,
    /// Seconds an unanswered call rings [default: 45].
    #[arg(long)]
    ring_timeout: Option<u64>,
    /// Seconds a call survives a participant's lost connection [default: 30].
    #[arg(long)]
    reconnect_grace: Option<u64>,
    /// Token for the HTTP admin API (prefer RINGWIRE_ADMIN_TOKEN: flags show up in `ps`).
    #[arg(long)]
    admin_token: Option<String>,
    /// Log format: text or json [default: text].
    #[arg(long)]
    log_format: Option<String>,
    /// An ICE server URL for devices (stun:, turn:, turns:); repeat for several. Replaces
    /// `[ice] servers`. The TURN secret is set in the file or RINGWIRE_ICE_TURN_SECRET.
    #[arg(long = "ice-server", value_name = "URL")]
    ice_servers: Vec<String>,
    /// Lifetime of devices' TURN credentials, seconds [default: 3600].
    #[arg(long, value_name = "SECS")]
    turn_credential_ttl: Option<u64>,
    /// Run as one node of a cluster over this NATS server (nats://HOST:PORT, JetStream on);
    /// needs --database postgres://… shared by every node (docs/cluster.md).
    #[arg(long, value_name = "NATS_URL")]
    cluster: Option<String>,
    /// The cluster's name and NATS subject prefix [default: ringwire].
    #[arg(long, value_name = "NAME")]
    cluster_prefix: Option<String>,
    /// This node's name in the cluster [default: n- and 8 random hex digits].
    #[arg(long, value_name = "NAME")]
    node_id: Option<String>,
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Add a user.
    Add {
        /// Unique name: a-z 0-9 . _ - (up to 64).
        name: String,
        /// Name shown on the callee's incoming-call screen.
        #[arg(long)]
        display_name: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List users.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand, Debug)]
enum DeviceCommand {
    /// Add a device to a user and print its token (shown only once).
    Add {
        /// The user that owns the device.
        user: String,
        /// A label such as "iPhone" or "laptop".
        #[arg(long)]
        label: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List a user's active devices.
    List {
        user: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a device's token. A running server on the same store closes the device's
    /// connections within 2 seconds (it polls the store for revocations) and refuses its next
    /// `hello` and `invite` at once; the admin API's revoke closes them immediately.
    Revoke {
        device_id: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Serve(_)) {
        // Before the runtime starts any thread: it may execute this program again.
        ringwire_server::reclaim::reexec_with_malloc_tunables();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Defaults, then the config file, then the environment, then flags.
fn load_config(store: &StoreArgs) -> anyhow::Result<ServerConfig> {
    let mut config = ServerConfig::from_file(store.config.as_deref())?;
    config.apply_env(|k| std::env::var(k).ok())?;
    if let Some(d) = &store.data {
        config.data_dir = d.clone();
    }
    if let Some(url) = &store.database {
        config.database_url = Some(url.clone());
    }
    Ok(config)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::User { command } => user(command).await,
        Command::Device { command } => device(command).await,
        Command::Call(args) => {
            init_softphone_logging();
            blocking(move || phone::run_call(args)).await
        }
        Command::Answer(args) => {
            init_softphone_logging();
            blocking(move || phone::run_answer(args)).await
        }
        Command::Peer(args) => {
            init_softphone_logging();
            blocking(move || phone::run_peer(args)).await
        }
        Command::Demo(args) => {
            init_softphone_logging();
            phone::demo::run_demo(args).await
        }
        Command::BridgeHost(args) => {
            init_softphone_logging();
            hybrid::run(args).await
        }
        Command::Bench { args } => bench_handoff::run(args).await,
    }
}

/// The softphone waits on the engine's events with blocking calls: keep them off the async
/// workers.
async fn blocking(
    f: impl FnOnce() -> anyhow::Result<ExitCode> + Send + 'static,
) -> anyhow::Result<ExitCode> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| anyhow::anyhow!("softphone thread failed: {e}"))?
}

/// Warnings only by default: the status line owns the terminal. RUST_LOG overrides.
fn init_softphone_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(stderr_is_terminal())
        .try_init();
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = load_config(&args.store)?;
    let flags = [
        ("listen", args.listen),
        (
            "ring_timeout_secs",
            args.ring_timeout.map(|v| v.to_string()),
        ),
        (
            "reconnect_grace_secs",
            args.reconnect_grace.map(|v| v.to_string()),
        ),
        ("admin_token", args.admin_token),
        ("log_format", args.log_format),
        ("cluster", args.cluster),
        ("cluster_prefix", args.cluster_prefix),
        ("node_id", args.node_id),
    ];
    for (field, value) in flags {
        if let Some(v) = value {
            config
                .set(field, &v)
                .map_err(|e| anyhow::anyhow!("--{}: {e}", field.replace('_', "-")))?;
        }
    }
    if !args.ice_servers.is_empty() {
        config
            .set("ice.servers", &args.ice_servers.join(","))
            .map_err(|e| anyhow::anyhow!("--ice-server: {e}"))?;
    }
    if let Some(ttl) = args.turn_credential_ttl {
        config.ice.turn_credential_ttl_s = ttl;
    }
    init_logging(config.log_format);
    let hints = startup::Hints::gather(&config).await;
    let server = Server::start(config).await?;
    hints.log(server.local_addr());
    let stop = server.shutdown_handle();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested; closing connections");
        stop.trigger();
    });
    server.wait().await?;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Colour codes only where a person reads them: a log file or a pipe gets plain text.
fn stderr_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(stderr_is_terminal());
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Prints an admin failure the same way in text and JSON, and picks the exit code.
fn admin_failure(e: AdminError, json: bool) -> ExitCode {
    if json {
        println!(
            "{}",
            serde_json::json!({"error": {"code": e.code(), "message": e.to_string()}})
        );
    } else {
        eprintln!("error: {e}");
    }
    ExitCode::from(2)
}

/// Opens the store the flags and config point at, runs `op`, and closes the store.
async fn with_store<T>(args: &StoreArgs, op: impl AsyncFnOnce(&Store) -> T) -> anyhow::Result<T> {
    let store = open_store(&load_config(args)?)
        .await
        .context("opening the store")?;
    let out = op(&store).await;
    store.close().await;
    Ok(out)
}

/// Prints an admin result as JSON (`to_json`) or text (`text`) and picks the exit code.
fn report<T>(
    result: Result<T, AdminError>,
    json: bool,
    to_json: impl FnOnce(&T) -> serde_json::Value,
    text: impl FnOnce(&T),
) -> ExitCode {
    match result {
        Ok(value) if json => println!("{}", to_json(&value)),
        Ok(value) => text(&value),
        Err(e) => return admin_failure(e, json),
    }
    ExitCode::SUCCESS
}

async fn user(command: UserCommand) -> anyhow::Result<ExitCode> {
    Ok(match command {
        UserCommand::Add {
            name,
            display_name,
            json,
            store,
        } => {
            let result = with_store(&store, async |s| {
                admin::add_user(s, &name, display_name.as_deref()).await
            })
            .await?;
            report(
                result,
                json,
                |u| serde_json::json!(u),
                |u| println!("added user {}", u.name),
            )
        }
        UserCommand::List { json, store } => {
            let result = with_store(&store, async |s| {
                s.list_users().await.map_err(AdminError::from)
            })
            .await?;
            report(
                result,
                json,
                |users| serde_json::json!({ "users": users }),
                |users| {
                    for u in users {
                        match &u.display_name {
                            Some(d) => println!("{}\t{}", u.name, d),
                            None => println!("{}", u.name),
                        }
                    }
                },
            )
        }
    })
}

async fn device(command: DeviceCommand) -> anyhow::Result<ExitCode> {
    Ok(match command {
        DeviceCommand::Add {
            user,
            label,
            json,
            store,
        } => {
            let max_devices = load_config(&store)?.max_devices_per_user;
            let result = with_store(&store, async |s| {
                admin::add_device(s, &user, label.as_deref(), max_devices).await
            })
            .await?;
            report(
                result,
                json,
                |created| serde_json::json!(created),
                |created| {
                    println!(
                        "device {} for {}",
                        created.device.device_id, created.device.user
                    );
                    println!("token: {}", created.token);
                    eprintln!("(store the token now: it is shown only once)");
                },
            )
        }
        DeviceCommand::List { user, json, store } => {
            let result = with_store(&store, async |s| admin::list_devices(s, &user).await).await?;
            report(
                result,
                json,
                |devices| serde_json::json!({ "devices": devices }),
                |devices| {
                    for d in devices {
                        println!(
                            "{}\t{}",
                            d.device_id,
                            d.label.as_deref().unwrap_or_default()
                        );
                    }
                },
            )
        }
        DeviceCommand::Revoke {
            device_id,
            json,
            store,
        } => {
            let result =
                with_store(&store, async |s| admin::revoke_device(s, &device_id).await).await?;
            report(
                result,
                json,
                |id| serde_json::json!({ "revoked": id }),
                |id| {
                    println!("revoked device {id}");
                    eprintln!(
                        "(a running server on this store closes its connections within 2 s and \
                         refuses its calls from now on)"
                    );
                },
            )
        }
    })
}
