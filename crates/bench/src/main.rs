//! `ringwire-bench` (also run as `ringwire bench`, which hands over to it): the benchmark
//! suite. Every figure is measured twice in the same run, once on ringwire's native engine and
//! once on Chromium's WebRTC doing the same work (the baseline a team would otherwise ship), and
//! printed as ringwire, Chromium and their ratio. Benchmarks never run in `cargo test`; a smoke
//! test runs each with `--quick` and checks only that the results are well formed. Methods:
//! `bench/README.md`. It is its own binary so the production `ringwire` links none of it
//! (plotters, the Chromium drivers, the cost worker); the lab it runs calls in is
//! `ringwire-testkit`'s, and the NAT and signaling benchmarks start the `ringwire` binary built
//! beside it.

mod chromium;
mod codec_cost;
mod cost;
mod impair;
mod latency;
mod nat;
mod pair;
mod pesq;
mod plot;
mod procstat;
mod quality;
mod recovery;
mod relay;
mod report;
mod setup;
mod signal;
mod signaling;
mod sigproxy;
mod speech;
mod timed;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

use report::{BenchResult, Metric};

/// Which benchmark to run.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Call setup: invite→ringing and accept→first audio, p50 and p95.
    Setup,
    /// Mouth-to-ear latency on loopback, by cross-correlating injected chirps.
    Latency,
    /// PESQ-WB of speech through a call under loss and jitter.
    Quality,
    /// CPU and memory per active call at 1, 10 and 50 concurrent calls.
    Cost,
    /// Idle connections one server holds, and call setups per second (`--nodes N`: a
    /// cluster of N nodes beside one server).
    Signaling,
    /// Calls across real NATs in a lab of network namespaces (needs root; not part of `all`).
    Nat,
    /// Every benchmark, then `bench/results/{latest.json,REPORT.md}` and the plots.
    All,
}

/// `ringwire-bench`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "ringwire-bench",
    version,
    about = "Benchmarks against Chromium's WebRTC on the same machine: setup, latency, quality, \
             cost, signaling, nat, or all (methods in bench/README.md)"
)]
pub struct BenchArgs {
    /// The benchmark to run.
    #[arg(value_enum)]
    pub which: Which,
    /// Print one JSON object per benchmark instead of tables.
    #[arg(long)]
    pub json: bool,
    /// A short run that only shows the benchmark works (small counts, short clips).
    #[arg(long)]
    pub quick: bool,
    /// Where `all` writes latest.json, REPORT.md and the plots.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
    /// Skip the Chromium baseline (its columns are null), e.g. where Chromium is not installed.
    #[arg(long)]
    pub no_chromium: bool,
    /// Keep the recordings (speech clips and what each stack played) in this directory.
    #[arg(long)]
    pub keep: Option<PathBuf>,
    /// `nat`: calls per cell of the matrix [default: 20, or 2 with --quick].
    #[arg(long)]
    pub calls: Option<usize>,
    /// `nat`: handover calls, one after another [default: as many as --calls].
    #[arg(long)]
    pub handovers: Option<usize>,
    /// `nat`: Chromium↔native calls in each direction [default: as many as --calls].
    #[arg(long)]
    pub browser_calls: Option<usize>,
    /// `nat`: calls whose direct path dies silently mid-call, one after another, 35 s each
    /// [default: 5, or 1 with --quick].
    #[arg(long)]
    pub path_deaths: Option<usize>,
    /// `nat`: Chromium↔Chromium calls per cell of the matrix, the browsers' own baseline
    /// [default: 5, or 1 with --quick].
    #[arg(long)]
    pub browser_pair_calls: Option<usize>,
    /// `signaling`: server processes. 1 measures one server; more run that many cluster nodes
    /// on PostgreSQL and NATS (`RINGWIRE_TEST_PG_URL`, `RINGWIRE_BENCH_NATS_URL`) and one
    /// server beside them in the same run.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub nodes: u16,
}

/// Settings every benchmark reads.
#[derive(Debug, Clone)]
pub struct Options {
    pub quick: bool,
    pub chromium: bool,
    pub keep: Option<PathBuf>,
    pub calls: Option<usize>,
    pub handovers: Option<usize>,
    pub browser_calls: Option<usize>,
    pub path_deaths: Option<usize>,
    pub browser_pair_calls: Option<usize>,
    pub nodes: usize,
}

/// `ringwire-bench worker`: the measured side of `bench cost`, started by the benchmark itself.
#[derive(Parser, Debug)]
#[command(name = "ringwire-bench worker")]
struct WorkerCli {
    #[command(flatten)]
    args: cost::WorkerArgs,
}

fn main() -> ExitCode {
    init_logging();
    let subcommand = std::env::args_os().nth(1);
    let worker = subcommand.as_ref().is_some_and(|a| a == "worker");
    let signaling_worker = subcommand
        .as_ref()
        .is_some_and(|a| a == signaling::fleet::SUBCOMMAND);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = if signaling_worker {
        runtime.block_on(signaling::fleet::worker())
    } else if worker {
        let args = std::env::args_os().skip(2);
        let cli =
            WorkerCli::parse_from(std::iter::once("ringwire-bench worker".into()).chain(args));
        runtime.block_on(async {
            tokio::task::spawn_blocking(move || cost::worker(cli.args))
                .await
                .map_err(|e| anyhow::anyhow!("worker thread failed: {e}"))?
        })
    } else {
        runtime.block_on(run(BenchArgs::parse()))
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Warnings only by default (the tables own stdout); RUST_LOG overrides.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs the chosen benchmarks and prints their results.
async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let options = Options {
        quick: args.quick,
        chromium: !args.no_chromium,
        keep: args.keep.clone(),
        calls: args.calls,
        handovers: args.handovers,
        browser_calls: args.browser_calls,
        path_deaths: args.path_deaths,
        browser_pair_calls: args.browser_pair_calls,
        nodes: usize::from(args.nodes),
    };
    let which = match args.which {
        Which::All => vec![
            Which::Setup,
            Which::Latency,
            Which::Quality,
            Which::Cost,
            Which::Signaling,
        ],
        one => vec![one],
    };
    let mut results = Vec::new();
    let mut failed = false;
    for bench in which {
        // One benchmark failing does not throw away the others' figures: it is reported as
        // failed, the rest run, and the exit code says something went wrong.
        let result = match run_one(bench, &options).await {
            Ok(result) => result,
            Err(e) => {
                failed = true;
                let mut r = BenchResult::new(&format!("{bench:?}").to_lowercase());
                r.error = Some(format!("{e:#}"));
                r
            }
        };
        if args.json {
            println!("{}", serde_json::to_string(&result)?);
        } else {
            println!("{}", report::table(&result));
        }
        results.push(result);
    }
    if args.which == Which::All {
        report::write_all(&args.out, &results, &options)?;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn run_one(bench: Which, options: &Options) -> anyhow::Result<BenchResult> {
    match bench {
        Which::Setup => setup::run(options).await,
        Which::Latency => latency::run(options).await,
        Which::Quality => quality::run(options).await,
        Which::Cost => cost::run(options).await,
        Which::Signaling => signaling::run(options).await,
        Which::Nat => nat::run(options, nat::NatOptions::new(options)).await,
        Which::All => anyhow::bail!("`all` is a list of benchmarks, not one"),
    }
}
