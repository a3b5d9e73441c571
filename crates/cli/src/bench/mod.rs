//! `ringwire bench`: the benchmark suite. Every figure is measured twice in the same run, once
//! on ringwire's native engine and once on Chromium's WebRTC doing the same work (the baseline a
//! team would otherwise ship), and printed as ringwire, Chromium and their ratio. Benchmarks
//! never run in `cargo test`; a smoke test runs each with `--quick` and checks only that the
//! results are well formed. Methods: `bench/README.md`.

mod chromium;
pub mod cost;
mod impair;
mod lab;
mod latency;
mod nat;
mod pair;
mod pesq;
mod plot;
mod procstat;
mod quality;
mod relay;
mod report;
mod setup;
mod signal;
mod signaling;
mod sigproxy;
mod timed;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

pub use report::{BenchResult, Metric};

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
    /// Idle connections one server holds, and call setups per second.
    Signaling,
    /// Calls across real NATs in a lab of network namespaces (needs root; not part of `all`).
    Nat,
    /// Every benchmark, then `bench/results/{latest.json,REPORT.md}` and the plots.
    All,
}

/// `ringwire bench`.
#[derive(Args, Debug, Clone)]
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
}

/// Runs the chosen benchmarks and prints their results.
pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let options = Options {
        quick: args.quick,
        chromium: !args.no_chromium,
        keep: args.keep.clone(),
        calls: args.calls,
        handovers: args.handovers,
        browser_calls: args.browser_calls,
        path_deaths: args.path_deaths,
        browser_pair_calls: args.browser_pair_calls,
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
