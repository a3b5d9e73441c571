//! The plots `bench all` draws beside REPORT.md: PESQ-WB against random loss, and the
//! distribution (CDF) of mouth-to-ear latency, ringwire and Chromium on the same axes. Drawn
//! with `plotters` into PNGs; text uses DejaVu Sans from Debian's fonts-dejavu-core.

use std::path::Path;

use anyhow::{anyhow, Context};
use plotters::prelude::*;

use super::report::{BenchResult, Series};

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

fn register_font() -> anyhow::Result<()> {
    static DONE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        std::fs::read(FONT).ok().is_some_and(|bytes| {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
        })
    });
    ok.then_some(())
        .ok_or_else(|| anyhow!("cannot load {FONT} (Debian package fonts-dejavu-core)"))
}

fn color(name: &str) -> RGBColor {
    if name == "ringwire" {
        RGBColor(0x1f, 0x77, 0xb4)
    } else {
        RGBColor(0xd6, 0x27, 0x28)
    }
}

/// Draws every plot whose data is in `results` into `dir`; returns the files written.
pub fn draw_all(dir: &Path, results: &[BenchResult]) -> anyhow::Result<Vec<String>> {
    register_font()?;
    let mut written = Vec::new();
    for r in results {
        match r.bench.as_str() {
            "quality" if !r.series.is_empty() => {
                pesq_vs_loss(&dir.join("pesq-vs-loss.png"), &r.series)?;
                written.push("pesq-vs-loss.png".to_string());
            }
            "latency" if !r.series.is_empty() => {
                latency_cdf(&dir.join("latency-cdf.png"), &r.series)?;
                written.push("latency-cdf.png".to_string());
            }
            _ => {}
        }
    }
    Ok(written)
}

fn pesq_vs_loss(path: &Path, series: &[Series]) -> anyhow::Result<()> {
    let root = BitMapBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("PESQ-WB vs random packet loss", ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..32f64, 1f64..4.7f64)
        .context("plot axes")?;
    chart
        .configure_mesh()
        .x_desc("RTP loss (%)")
        .y_desc("PESQ-WB (MOS-LQO)")
        .draw()?;
    for s in series {
        let c = color(&s.name);
        let points: Vec<(f64, f64)> = s.points.iter().map(|p| (p[0], p[1])).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, c.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn latency_cdf(path: &Path, series: &[Series]) -> anyhow::Result<()> {
    let most = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p[1]))
        .fold(0.0f64, f64::max);
    let root = BitMapBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Mouth-to-ear latency on loopback (CDF)", ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..(most * 1.15).max(10.0), 0f64..1.0f64)
        .context("plot axes")?;
    chart
        .configure_mesh()
        .x_desc("mouth-to-ear (ms)")
        .y_desc("share of chirps")
        .draw()?;
    for s in series {
        let c = color(&s.name);
        let mut values: Vec<f64> = s.points.iter().map(|p| p[1]).collect();
        values.sort_by(f64::total_cmp);
        let n = values.len() as f64;
        let steps: Vec<(f64, f64)> = values
            .iter()
            .enumerate()
            .flat_map(|(i, v)| [(*v, i as f64 / n), (*v, (i + 1) as f64 / n)])
            .collect();
        chart
            .draw_series(LineSeries::new(steps, c.stroke_width(2)))?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
