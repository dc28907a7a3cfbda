//! `tokenstore bench`: the standard workload on several stores, as a table (stdout),
//! bench.json and bench.svg.

use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use plotters::prelude::*;
use tokenstore_harness::bench::{self, BenchOp, Measured, Workload};
use tokenstore_harness::runtime;
use tokenstore_stores::StoreSpec;

/// Runs the workload on every store, with a spinner on stderr.
pub fn measure(stores: &[StoreSpec], work: Workload) -> Result<Vec<Measured>, String> {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let mut all = Vec::new();
    for spec in stores {
        let factory = spec.factory(None);
        let results = runtime()
            .block_on(bench::run(&spec.name(), &factory, work, |step| {
                bar.set_message(step.to_owned())
            }))
            .map_err(|e| e.to_string())?;
        all.extend(results);
    }
    bar.finish_and_clear();
    Ok(all)
}

/// The comparison table, one row per operation and store.
pub fn table(results: &[Measured]) -> String {
    let mut out = format!(
        "{:<22} {:<24} {:>12} {:>11} {:>11}\n",
        "operation", "store", "ops/s", "p50 µs", "p99 µs"
    );
    for op in BenchOp::ALL {
        for m in results.iter().filter(|m| m.op == op) {
            out.push_str(&format!(
                "{:<22} {:<24} {:>12.0} {:>11.1} {:>11.1}\n",
                op, m.store, m.ops_per_sec, m.p50_us, m.p99_us
            ));
        }
    }
    out
}

/// How `store` compares with each other store, per operation, by median latency:
/// "adapter: find by user 184.0 µs p50, 33.0× sqlite (5.6 µs)".
pub fn ratios(results: &[Measured], store: &str) -> String {
    let mut out = String::new();
    for op in BenchOp::ALL {
        let Some(yours) = results.iter().find(|m| m.op == op && m.store == store) else {
            continue;
        };
        for other in results.iter().filter(|m| m.op == op && m.store != store) {
            let ratio = yours.p50_us / other.p50_us.max(1e-9);
            // Two significant digits, whatever the size.
            let digits = if ratio >= 10.0 {
                0
            } else if ratio >= 1.0 {
                1
            } else {
                2
            };
            out.push_str(&format!(
                "{store}: {op} {:.1} µs p50, {ratio:.digits$}× {} ({:.1} µs)\n",
                yours.p50_us, other.store, other.p50_us
            ));
        }
    }
    out
}

/// The results as JSON, with the workload and the build profile that measured them.
pub fn json(results: &[Measured], work: Workload) -> String {
    let doc = serde_json::json!({
        "schema": "tokenstore-bench/1",
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "size": work.size,
        "calls": work.calls,
        "results": results,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// A bar chart of ops/s (log scale), one group of bars per operation.
pub fn svg(results: &[Measured], path: &Path) -> Result<(), String> {
    let stores: Vec<String> = results.iter().fold(Vec::new(), |mut v, m| {
        if !v.contains(&m.store) {
            v.push(m.store.clone());
        }
        v
    });
    let width = 160 * BenchOp::ALL.len() as u32 + 120;
    let root = SVGBackend::new(path, (width, 560)).into_drawing_area();
    let draw = |e: DrawingAreaErrorKind<_>| e.to_string();
    root.fill(&WHITE).map_err(draw)?;
    let rates = results.iter().map(|m| m.ops_per_sec.max(1e-3));
    let max = rates.clone().fold(10.0, f64::max) * 2.0;
    // The log axis starts just under the slowest bar, not at 1.
    let min = rates.fold(max, f64::min) / 2.0;
    let group = stores.len() + 1;
    let slots = BenchOp::ALL.len() * group;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "token stores: operations per second (log scale)",
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(0..slots, (min..max).log_scale())
        .map_err(|e| e.to_string())?;
    // Each operation's name under the middle of its group of bars.
    let name_at = |x: &usize| match x % group == stores.len() / 2 {
        true => BenchOp::ALL
            .get(x / group)
            .map_or(String::new(), |op| op.to_string()),
        false => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(slots)
        .x_label_formatter(&name_at)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_desc("operation")
        .y_desc("operations per second")
        .draw()
        .map_err(|e| e.to_string())?;
    for (si, store) in stores.iter().enumerate() {
        let color = Palette99::pick(si).to_rgba();
        let bars = BenchOp::ALL.iter().enumerate().filter_map(|(oi, op)| {
            let m = results.iter().find(|m| &m.store == store && m.op == *op)?;
            let x = oi * (stores.len() + 1) + si;
            Some(Rectangle::new(
                [(x, min), (x + 1, m.ops_per_sec.max(min))],
                color.filled(),
            ))
        });
        chart
            .draw_series(bars)
            .map_err(|e| e.to_string())?
            .label(store.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(store: &str, op: BenchOp, p50_us: f64) -> Measured {
        Measured {
            store: store.to_owned(),
            op,
            calls: 10,
            ops_per_sec: 1e6 / p50_us,
            p50_us,
            p99_us: p50_us,
        }
    }

    #[test]
    fn ratios_compare_the_store_with_each_other_one_by_median() {
        let results = [
            measured("adapter", BenchOp::FindByUser, 184.0),
            measured("sqlite", BenchOp::FindByUser, 5.5),
            measured("adapter", BenchOp::Delete, 100.0),
            measured("sqlite", BenchOp::Delete, 4000.0),
        ];
        let text = ratios(&results, "adapter");
        assert!(
            text.contains("adapter: find by user 184.0 µs p50, 33× sqlite (5.5 µs)"),
            "{text}"
        );
        assert!(
            text.contains("adapter: delete_token 100.0 µs p50, 0.03× sqlite"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 2);
    }
}
