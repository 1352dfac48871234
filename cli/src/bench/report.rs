//! The bench's final report: throughput, outcomes, latency percentiles and
//! an ASCII histogram, as text or JSON.

use std::io::{self, Write};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Value as Json};

use crate::bench::tally::Tally;
use crate::output::{latency, thousands, Align, Table};

/// Histogram bucket edges in nanoseconds: 1-2-5 steps from 1 µs to 100 s.
const EDGES: [u64; 25] = [
    0,
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    50_000_000,
    100_000_000,
    200_000_000,
    500_000_000,
    1_000_000_000,
    2_000_000_000,
    5_000_000_000,
    10_000_000_000,
    100_000_000_000,
    u64::MAX,
];

/// Width of the longest histogram bar.
const BAR_WIDTH: usize = 40;

/// The percentiles reported, as (label, quantile).
const PERCENTILES: [(&str, f64); 4] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)];

/// Everything the report shows.
#[derive(Debug)]
pub struct Report {
    /// The settings, as `name value` pairs, shown first.
    pub settings: Vec<(&'static str, Json)>,
    /// The preload phase, if any: sets done and time taken.
    pub preload: Option<(Tally, Duration)>,
    /// The measured phase.
    pub tally: Tally,
    /// How long the measured phase took.
    pub elapsed: Duration,
}

impl Report {
    /// Operations per second of the measured phase.
    fn rate(&self) -> f64 {
        self.tally.ops() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The report as text.
    pub fn write_text(&self, out: &mut impl Write) -> io::Result<()> {
        let setting = |(name, value): &(&str, Json)| match value {
            Json::String(s) => format!("{name} {s}"),
            other => format!("{name} {other}"),
        };
        let settings: Vec<String> = self.settings.iter().map(setting).collect();
        writeln!(out, "memwire bench: {}", settings.join(", "))?;
        if let Some((tally, took)) = &self.preload {
            writeln!(
                out,
                "preload: {} sets in {:.2} s ({} errors)",
                thousands(tally.sets as f64),
                took.as_secs_f64(),
                tally.errors
            )?;
        }
        let t = &self.tally;
        writeln!(
            out,
            "ops: {} in {:.2} s = {} ops/s",
            thousands(t.ops() as f64),
            self.elapsed.as_secs_f64(),
            thousands(self.rate())
        )?;
        writeln!(
            out,
            "  gets {} (hits {}, misses {}), sets {}",
            thousands(t.gets as f64),
            thousands(t.hits as f64),
            thousands(t.misses as f64),
            thousands(t.sets as f64)
        )?;
        writeln!(
            out,
            "  errors {}, mismatched values {}",
            t.errors, t.mismatches
        )?;
        if let Some(first) = &t.first_error {
            writeln!(out, "  first error: {first}")?;
        }
        if t.latency.is_empty() {
            return Ok(());
        }
        let h = &t.latency;
        let mut parts: Vec<String> = PERCENTILES
            .iter()
            .map(|&(label, q)| format!("{label} {}", latency(h.value_at_quantile(q))))
            .collect();
        parts.push(format!("max {}", latency(h.max())));
        parts.push(format!("(mean {})", latency(h.mean() as u64)));
        writeln!(out, "latency: {}", parts.join("  "))?;
        writeln!(out)?;
        histogram_table(h).write(out)
    }

    /// The report as JSON (latencies in microseconds).
    pub fn json(&self) -> Json {
        let t = &self.tally;
        let h = &t.latency;
        let us = |ns: u64| ns as f64 / 1e3;
        let mut latency = serde_json::Map::new();
        for (label, q) in PERCENTILES {
            latency.insert(label.replace('.', "_"), json!(us(h.value_at_quantile(q))));
        }
        latency.insert("max".into(), json!(us(h.max())));
        latency.insert("min".into(), json!(us(h.min())));
        latency.insert("mean".into(), json!(h.mean() / 1e3));
        let histogram: Vec<Json> = buckets(h)
            .into_iter()
            .map(
                |(from, to, count)| json!({ "from_us": us(from), "to_us": us(to), "count": count }),
            )
            .collect();
        let mut report: serde_json::Map<String, Json> = self
            .settings
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect();
        report.extend([
            ("elapsed_secs".to_owned(), json!(self.elapsed.as_secs_f64())),
            ("ops".to_owned(), json!(t.ops())),
            ("ops_per_sec".to_owned(), json!(self.rate())),
            ("gets".to_owned(), json!(t.gets)),
            ("hits".to_owned(), json!(t.hits)),
            ("misses".to_owned(), json!(t.misses)),
            ("sets".to_owned(), json!(t.sets)),
            ("errors".to_owned(), json!(t.errors)),
            ("mismatches".to_owned(), json!(t.mismatches)),
            ("first_error".to_owned(), json!(t.first_error)),
            ("latency_us".to_owned(), Json::Object(latency)),
            ("histogram".to_owned(), Json::Array(histogram)),
            (
                "preload".to_owned(),
                match &self.preload {
                    Some((p, took)) => json!({ "sets": p.sets, "errors": p.errors, "elapsed_secs": took.as_secs_f64() }),
                    None => Json::Null,
                },
            ),
        ]);
        Json::Object(report)
    }
}

/// `(from, to, count)` per 1-2-5 bucket, from the first non-empty bucket
/// to the last.
fn buckets(h: &Histogram<u64>) -> Vec<(u64, u64, u64)> {
    let mut counts = [0u64; EDGES.len() - 1];
    for v in h.iter_recorded() {
        let value = v.value_iterated_to();
        let i = EDGES[1..]
            .iter()
            .position(|&edge| value < edge)
            .unwrap_or(counts.len() - 1);
        counts[i] += v.count_at_value();
    }
    let first = counts.iter().position(|&c| c > 0).unwrap_or(0);
    let last = counts.iter().rposition(|&c| c > 0).unwrap_or(0);
    (first..=last)
        .map(|i| (EDGES[i], EDGES[i + 1], counts[i]))
        .collect()
}

/// One line per bucket: its range, a bar, the share and the count.
fn histogram_table(h: &Histogram<u64>) -> Table {
    let rows = buckets(h);
    let most = rows.iter().map(|&(_, _, c)| c).max().unwrap_or(0).max(1);
    let total = h.len().max(1);
    let mut table = Table::new(&[
        ("LATENCY", Align::Right),
        ("", Align::Left),
        ("", Align::Left),
        ("", Align::Right),
        ("OPS", Align::Right),
    ]);
    for (from, to, count) in rows {
        let width = (count * BAR_WIDTH as u64).div_ceil(most) as usize;
        let to = if to == u64::MAX {
            "".to_owned()
        } else {
            edge(to)
        };
        table.row(vec![
            edge(from),
            format!("- {to}"),
            format!("|{:<BAR_WIDTH$}|", "#".repeat(width)),
            format!("{:.1}%", count as f64 * 100.0 / total as f64),
            thousands(count as f64),
        ]);
    }
    table
}

/// A bucket edge: `0`, `2 µs`, `50 ms`, `1 s`.
fn edge(ns: u64) -> String {
    match ns {
        0 => "0".to_owned(),
        n if n < 1_000_000 => format!("{} µs", n / 1_000),
        n if n < 1_000_000_000 => format!("{} ms", n / 1_000_000),
        n => format!("{} s", n / 1_000_000_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_what_was_recorded() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).unwrap();
        h.record_n(30_000, 5).unwrap(); // 30 µs: 20-50 µs
        h.record_n(150_000, 2).unwrap(); // 150 µs: 100-200 µs
        let b = buckets(&h);
        assert_eq!(
            b,
            [
                (20_000, 50_000, 5),
                (50_000, 100_000, 0),
                (100_000, 200_000, 2)
            ]
        );
        let mut text = Vec::new();
        histogram_table(&h).write(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("20 µs  - 50 µs"), "{text}");
        assert!(text.contains(&format!("|{}|", "#".repeat(40))), "{text}");
        assert!(text.contains("71.4%"), "{text}");
        assert_eq!(edge(0), "0");
        assert_eq!(edge(2_000_000_000), "2 s");
    }
}
