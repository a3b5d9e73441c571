//! `bench signaling`: being written.

use super::{BenchResult, Options};

pub async fn run(_options: &Options) -> anyhow::Result<BenchResult> {
    anyhow::bail!("bench signaling is not built yet")
}
