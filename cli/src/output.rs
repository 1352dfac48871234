//! Output helpers: aligned text tables, JSON, and human-readable numbers.

use std::io::{self, Write};

use memwire::StatValue;
use serde_json::Value as Json;

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text columns.
    Left,
    /// Number columns.
    Right,
}

/// A text table: a header row and aligned columns separated by two spaces.
///
/// ```text
/// SERVER           VERSION
/// 127.0.0.1:11211   1.6.18
/// ```
#[derive(Debug)]
pub struct Table {
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles and alignments.
    pub fn new(columns: &[(&str, Align)]) -> Table {
        Table {
            align: columns.iter().map(|&(_, a)| a).collect(),
            rows: vec![columns.iter().map(|&(t, _)| t.to_owned()).collect()],
        }
    }

    /// Add a row (missing trailing cells are blank).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Write the table, one line per row, trailing spaces trimmed.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let mut widths = vec![0; self.align.len()];
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        for row in &self.rows {
            let mut line = String::new();
            for (i, (&width, &align)) in widths.iter().zip(&self.align).enumerate() {
                let cell = row.get(i).map_or("", String::as_str);
                if i > 0 {
                    line.push_str("  ");
                }
                match align {
                    Align::Left => line.push_str(&format!("{cell:<width$}")),
                    Align::Right => line.push_str(&format!("{cell:>width$}")),
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// Write pretty JSON and a newline.
pub fn write_json(out: &mut impl Write, value: &Json) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

/// A statistic as JSON: numbers as numbers, yes/no as booleans.
pub fn stat_json(value: &StatValue) -> Json {
    match value {
        StatValue::UInt(n) => Json::from(*n),
        StatValue::Int(n) => Json::from(*n),
        StatValue::Float(x) => Json::from(*x),
        StatValue::Bool(b) => Json::from(*b),
        other => Json::from(other.to_string()),
    }
}

/// A latency in nanoseconds as `812 ns`, `41.3 µs`, `2.05 ms` or `1.20 s`.
pub fn latency(nanos: u64) -> String {
    let n = nanos as f64;
    if nanos < 1_000 {
        format!("{nanos} ns")
    } else if nanos < 1_000_000 {
        format!("{:.1} µs", n / 1e3)
    } else if nanos < 1_000_000_000 {
        format!("{:.2} ms", n / 1e6)
    } else {
        format!("{:.2} s", n / 1e9)
    }
}

/// A rate with thousands separators and no decimals: `48,211`.
pub fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let mut t = Table::new(&[("NAME", Align::Left), ("N", Align::Right)]);
        t.row(vec!["a".into(), "100".into()]);
        t.row(vec!["long name".into(), "2".into()]);
        t.row(vec!["short".into()]);
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "NAME         N\na          100\nlong name    2\nshort\n"
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(latency(812), "812 ns");
        assert_eq!(latency(41_300), "41.3 µs");
        assert_eq!(latency(2_050_000), "2.05 ms");
        assert_eq!(latency(1_200_000_000), "1.20 s");
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(48_211.0), "48,211");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(stat_json(&StatValue::UInt(3)), Json::from(3));
        assert_eq!(stat_json(&StatValue::Text("on".into())), Json::from("on"));
    }
}
