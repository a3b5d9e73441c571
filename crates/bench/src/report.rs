//! What a benchmark produces and how it is shown: one [`BenchResult`] per benchmark holding
//! [`Metric`]s (ringwire, Chromium, ratio), printed as a table or JSON, and for `bench all`
//! written to `latest.json` and `REPORT.md` beside the plots.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use super::Options;

/// One measured figure on both stacks.
#[derive(Debug, Clone, Serialize)]
pub struct Metric {
    pub metric: String,
    pub unit: String,
    pub ringwire: f64,
    /// Chromium doing the same work; `None` where there is no baseline (or it was skipped).
    pub chromium: Option<f64>,
    /// `ringwire / chromium`; `None` without a baseline or when the baseline is zero.
    pub ratio: Option<f64>,
}

impl Metric {
    pub fn new(metric: impl Into<String>, unit: impl Into<String>, ringwire: f64) -> Metric {
        Metric {
            metric: metric.into(),
            unit: unit.into(),
            ringwire,
            chromium: None,
            ratio: None,
        }
    }

    /// The same figure with Chromium's value beside it.
    pub fn vs(mut self, chromium: Option<f64>) -> Metric {
        self.chromium = chromium;
        self.ratio = chromium
            .filter(|c| *c != 0.0 && c.is_finite())
            .map(|c| self.ringwire / c);
        self
    }
}

/// One benchmark's results.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub bench: String,
    pub results: Vec<Metric>,
    /// How it was measured here (counts, durations, anything that qualifies the numbers).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Raw data behind the figures, for the plots (latency samples, PESQ by loss).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<Series>,
    /// Per-case data behind the figures, where a table cannot hold it (the NAT lab's calls).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    /// Why the benchmark could not finish (then `results` is empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Named (x, y) points.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub name: String,
    pub points: Vec<[f64; 2]>,
}

impl Series {
    /// Samples numbered from 0.
    pub fn new(name: &str, values: Vec<f64>) -> Series {
        Series::xy(
            name,
            values
                .into_iter()
                .enumerate()
                .map(|(i, v)| [i as f64, v])
                .collect(),
        )
    }

    pub fn xy(name: &str, points: Vec<[f64; 2]>) -> Series {
        Series {
            name: name.to_string(),
            points,
        }
    }
}

impl BenchResult {
    pub fn new(bench: &str) -> BenchResult {
        BenchResult {
            bench: bench.to_string(),
            results: Vec::new(),
            notes: Vec::new(),
            series: Vec::new(),
            detail: None,
            error: None,
        }
    }
}

fn number(v: Option<f64>) -> String {
    match v {
        None => "—".to_string(),
        Some(v) if !v.is_finite() => "—".to_string(),
        Some(v) if v.abs() >= 1000.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.3}"),
    }
}

/// A plain-text table: metric, unit, ringwire, Chromium, ratio.
pub fn table(result: &BenchResult) -> String {
    let rows: Vec<[String; 5]> = result
        .results
        .iter()
        .map(|m| {
            [
                m.metric.clone(),
                m.unit.clone(),
                number(Some(m.ringwire)),
                number(m.chromium),
                m.ratio.map_or("—".to_string(), |r| format!("{r:.2}×")),
            ]
        })
        .collect();
    let header = ["metric", "unit", "ringwire", "chromium", "ratio"];
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = format!("bench {}\n", result.bench);
    let line = |out: &mut String, cells: [&str; 5]| {
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            if i < 2 {
                let _ = write!(out, "  {cell}{}", " ".repeat(pad));
            } else {
                let _ = write!(out, "  {}{cell}", " ".repeat(pad));
            }
        }
        out.push('\n');
    };
    line(&mut out, header);
    for row in &rows {
        line(&mut out, [&row[0], &row[1], &row[2], &row[3], &row[4]]);
    }
    for note in &result.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    if let Some(e) = &result.error {
        let _ = writeln!(out, "  FAILED: {e}");
    }
    out
}

/// The same results as a Markdown section.
pub fn markdown(result: &BenchResult) -> String {
    let mut out = format!(
        "## {}\n\n| metric | unit | ringwire | Chromium | ratio |\n|---|---|---:|---:|---:|\n",
        result.bench
    );
    for m in &result.results {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            m.metric,
            m.unit,
            number(Some(m.ringwire)),
            number(m.chromium),
            m.ratio.map_or("—".to_string(), |r| format!("{r:.2}×"))
        );
    }
    if !result.notes.is_empty() {
        out.push('\n');
        for note in &result.notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    if let Some(e) = &result.error {
        let _ = writeln!(out, "\n**Failed:** {e}");
    }
    out
}

/// `bench all`: latest.json and REPORT.md in `dir`.
pub fn write_all(dir: &Path, results: &[BenchResult], options: &Options) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join("latest.json"),
        serde_json::to_string_pretty(results)?,
    )?;
    let mut md = String::from("# ringwire bench — latest results\n\n");
    let _ = writeln!(
        md,
        "Written by `ringwire bench all{}`. Methods: `bench/README.md`.\n",
        if options.quick { " --quick" } else { "" }
    );
    for result in results {
        md.push_str(&markdown(result));
        md.push('\n');
    }
    let plots = super::plot::draw_all(dir, results)?;
    if !plots.is_empty() {
        md.push_str("## Plots\n\n");
        for plot in plots {
            let _ = writeln!(md, "![{plot}]({plot})\n");
        }
    }
    std::fs::write(dir.join("REPORT.md"), md)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_is_ringwire_over_chromium_and_absent_without_baseline() {
        let m = Metric::new("p50", "ms", 20.0).vs(Some(80.0));
        assert_eq!(m.ratio, Some(0.25));
        assert_eq!(Metric::new("x", "ms", 1.0).vs(None).ratio, None);
        assert_eq!(Metric::new("x", "ms", 1.0).vs(Some(0.0)).ratio, None);
    }

    #[test]
    fn json_has_the_documented_shape() {
        let mut r = BenchResult::new("setup");
        r.results.push(Metric::new("p50", "ms", 2.0).vs(Some(4.0)));
        r.results.push(Metric::new("idle", "B", 3.0));
        let v = serde_json::to_value(&r).expect("serializes");
        assert_eq!(v["bench"], "setup");
        assert_eq!(v["results"][0]["ratio"], 0.5);
        assert!(v["results"][1]["chromium"].is_null());
        assert!(v["results"][1]["ratio"].is_null());
        assert!(table(&r).contains("0.50×"));
    }
}
