//! `ringwire bench …`: the benchmarks are their own binary, `ringwire-bench`, so the production
//! `ringwire` carries none of their code (plotters, the Chromium drivers, the cost worker). This
//! runs the `ringwire-bench` built beside this executable with the same arguments and hands
//! back its exit code; where it was not built, it says how to build it.

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::{bail, Context};

pub async fn run(args: Vec<OsString>) -> anyhow::Result<ExitCode> {
    let Some(bench) = ringwire_testkit::built_beside_me("ringwire-bench")? else {
        let me = std::env::current_exe().context("finding the running executable")?;
        bail!(
            "the benchmarks are a separate binary and no ringwire-bench is built beside {}; \
             build both with `cargo build --release -p ringwire-cli -p ringwire-bench`",
            me.display()
        );
    };
    let status = tokio::process::Command::new(&bench)
        .args(args)
        .status()
        .await
        .with_context(|| format!("running {}", bench.display()))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}
