//! Typed `stats` replies.
//!
//! Every `STAT <name> <value>` value is typed by its text: decimal integers
//! become [`StatValue::UInt`] (or [`StatValue::Int`] when negative), decimals
//! with one dot become [`StatValue::Float`], `yes`/`no`/`true`/`false` become
//! [`StatValue::Bool`], anything else (`on`, `1.6.21`, `NULL`, ...) stays
//! [`StatValue::Text`]. The groups that memcached reports per slab class
//! (`stats items`, `stats slabs`) or per connection (`stats conns`) are
//! grouped by that number, the way the memcached2 seed shows them.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{show_line, ProtocolError};

/// Which `stats` group to ask for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatsGroup {
    /// `stats`: general-purpose statistics.
    General,
    /// `stats settings`.
    Settings,
    /// `stats items`, grouped by slab class.
    Items,
    /// `stats slabs`, grouped by slab class plus totals.
    Slabs,
    /// `stats sizes`: the item size histogram.
    Sizes,
    /// `stats conns`, grouped by file descriptor.
    Conns,
    /// `stats reset`: clears the counters; answers [`crate::Response::Ok`].
    Reset,
    /// Any other `stats <arg>` returning `STAT` lines, as a flat map.
    Other(String),
}

impl StatsGroup {
    /// The argument after `stats` on the wire (empty for [`StatsGroup::General`]).
    pub fn arg(&self) -> &str {
        match self {
            StatsGroup::General => "",
            StatsGroup::Settings => "settings",
            StatsGroup::Items => "items",
            StatsGroup::Slabs => "slabs",
            StatsGroup::Sizes => "sizes",
            StatsGroup::Conns => "conns",
            StatsGroup::Reset => "reset",
            StatsGroup::Other(arg) => arg,
        }
    }
}

/// One typed statistic value.
#[derive(Debug, Clone, PartialEq)]
pub enum StatValue {
    /// A non-negative integer.
    UInt(u64),
    /// A negative integer.
    Int(i64),
    /// A decimal number such as `rusage_user 0.123456` or `growth_factor 1.25`.
    Float(f64),
    /// `yes`/`no`/`true`/`false`.
    Bool(bool),
    /// Anything else, verbatim.
    Text(String),
}

impl StatValue {
    /// Type a value by its text.
    ///
    /// ```
    /// use memwire_core::StatValue;
    /// assert_eq!(StatValue::parse("5634"), StatValue::UInt(5634));
    /// assert_eq!(StatValue::parse("1.25"), StatValue::Float(1.25));
    /// assert_eq!(StatValue::parse("yes"), StatValue::Bool(true));
    /// assert_eq!(StatValue::parse("1.4.14"), StatValue::Text("1.4.14".into()));
    /// ```
    pub fn parse(text: &str) -> StatValue {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if digits(text) {
            if let Ok(n) = text.parse() {
                return StatValue::UInt(n);
            }
        }
        if let Some(rest) = text.strip_prefix('-') {
            if digits(rest) {
                if let Ok(n) = text.parse() {
                    return StatValue::Int(n);
                }
            }
        }
        if let Some((int, frac)) = text.trim_start_matches('-').split_once('.') {
            if digits(int) && digits(frac) {
                if let Ok(f) = text.parse() {
                    return StatValue::Float(f);
                }
            }
        }
        match text {
            "yes" | "true" => StatValue::Bool(true),
            "no" | "false" => StatValue::Bool(false),
            _ => StatValue::Text(text.to_owned()),
        }
    }

    /// The value as `u64`, when it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            StatValue::UInt(n) => Some(n),
            _ => None,
        }
    }

    /// The value as `f64`, when it is numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            StatValue::UInt(n) => Some(n as f64),
            StatValue::Int(n) => Some(n as f64),
            StatValue::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The value as `bool`, when it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            StatValue::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The value as text, when it is [`StatValue::Text`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            StatValue::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for StatValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatValue::UInt(n) => write!(f, "{n}"),
            StatValue::Int(n) => write!(f, "{n}"),
            StatValue::Float(x) => write!(f, "{x}"),
            StatValue::Bool(b) => f.write_str(if *b { "yes" } else { "no" }),
            StatValue::Text(s) => f.write_str(s),
        }
    }
}

/// Statistics by name.
pub type StatMap = BTreeMap<String, StatValue>;

/// `stats slabs`: per-class statistics and the totals.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SlabStats {
    /// Statistics of each slab class, by class id.
    pub classes: BTreeMap<u32, StatMap>,
    /// `active_slabs`, `total_malloced`, ...
    pub totals: StatMap,
}

/// `stats sizes`: the item size histogram.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SizeStats {
    /// `(size, count)` pairs, sizes ascending as the server sent them.
    pub sizes: Vec<(u64, u64)>,
    /// `false` when the server answered `STAT sizes_status disabled`
    /// (enable with `memcached -o track_sizes`).
    pub enabled: bool,
}

/// A typed `stats` reply.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Stats {
    /// `stats` or `stats <other>`: a flat map.
    General(StatMap),
    /// `stats settings`.
    Settings(StatMap),
    /// `stats items`, by slab class.
    Items(BTreeMap<u32, StatMap>),
    /// `stats slabs`.
    Slabs(SlabStats),
    /// `stats sizes`.
    Sizes(SizeStats),
    /// `stats conns`, by file descriptor.
    Conns(BTreeMap<u32, StatMap>),
}

/// Group the raw `STAT` lines of one reply according to what was asked.
pub(crate) fn group(
    which: &StatsGroup,
    lines: Vec<(String, String)>,
) -> Result<Stats, ProtocolError> {
    let flat = |lines: Vec<(String, String)>| -> StatMap {
        lines
            .into_iter()
            .map(|(k, v)| {
                let v = StatValue::parse(&v);
                (k, v)
            })
            .collect()
    };
    Ok(match which {
        StatsGroup::General | StatsGroup::Reset | StatsGroup::Other(_) => {
            Stats::General(flat(lines))
        }
        StatsGroup::Settings => Stats::Settings(flat(lines)),
        StatsGroup::Items => {
            let mut by_class: BTreeMap<u32, StatMap> = BTreeMap::new();
            for (name, value) in lines {
                let rest = name
                    .strip_prefix("items:")
                    .ok_or_else(|| bad(&name, "stats items"))?;
                let (class, stat) = split_id(rest).ok_or_else(|| bad(&name, "stats items"))?;
                by_class
                    .entry(class)
                    .or_default()
                    .insert(stat.to_owned(), StatValue::parse(&value));
            }
            Stats::Items(by_class)
        }
        StatsGroup::Slabs => {
            let mut slabs = SlabStats::default();
            for (name, value) in lines {
                let value = StatValue::parse(&value);
                match split_id(&name) {
                    Some((class, stat)) => {
                        slabs
                            .classes
                            .entry(class)
                            .or_default()
                            .insert(stat.to_owned(), value);
                    }
                    None => {
                        slabs.totals.insert(name, value);
                    }
                }
            }
            Stats::Slabs(slabs)
        }
        StatsGroup::Conns => {
            let mut by_fd: BTreeMap<u32, StatMap> = BTreeMap::new();
            for (name, value) in lines {
                let (fd, stat) = split_id(&name).ok_or_else(|| bad(&name, "stats conns"))?;
                by_fd
                    .entry(fd)
                    .or_default()
                    .insert(stat.to_owned(), StatValue::parse(&value));
            }
            Stats::Conns(by_fd)
        }
        StatsGroup::Sizes => {
            let mut sizes = SizeStats {
                sizes: Vec::new(),
                enabled: true,
            };
            for (name, value) in lines {
                if name == "sizes_status" {
                    sizes.enabled = value != "disabled";
                    continue;
                }
                match (name.parse(), value.parse()) {
                    (Ok(size), Ok(count)) => sizes.sizes.push((size, count)),
                    _ => return Err(bad(&format!("{name} {value}"), "stats sizes")),
                }
            }
            Stats::Sizes(sizes)
        }
    })
}

/// Split `"<id>:<stat>"` into its numeric id and the stat name.
fn split_id(name: &str) -> Option<(u32, &str)> {
    let (id, stat) = name.split_once(':')?;
    let id = id.parse().ok()?;
    (!stat.is_empty()).then_some((id, stat))
}

fn bad(line: &str, request: &'static str) -> ProtocolError {
    ProtocolError::UnexpectedLine {
        line: show_line(line.as_bytes()),
        request,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn values_are_typed_by_their_text() {
        assert_eq!(StatValue::parse("0"), StatValue::UInt(0));
        assert_eq!(StatValue::parse("-3"), StatValue::Int(-3));
        assert_eq!(StatValue::parse("8.904556"), StatValue::Float(8.904556));
        assert_eq!(StatValue::parse("no"), StatValue::Bool(false));
        assert_eq!(StatValue::parse("on"), StatValue::Text("on".into()));
        assert_eq!(
            StatValue::parse("2.0.19-stable"),
            StatValue::Text("2.0.19-stable".into())
        );
        assert_eq!(StatValue::parse("1e5"), StatValue::Text("1e5".into()));
        assert_eq!(StatValue::parse("NaN"), StatValue::Text("NaN".into()));
        assert_eq!(StatValue::parse(""), StatValue::Text("".into()));
        // Larger than u64: kept as text rather than lost.
        assert_eq!(
            StatValue::parse("99999999999999999999"),
            StatValue::Text("99999999999999999999".into())
        );
    }

    #[test]
    fn items_are_grouped_by_class() {
        let s = group(
            &StatsGroup::Items,
            lines(&[
                ("items:1:number", "3"),
                ("items:1:age", "766"),
                ("items:12:number", "1"),
            ]),
        )
        .unwrap();
        let Stats::Items(by_class) = s else {
            panic!("{s:?}")
        };
        assert_eq!(by_class[&1]["number"], StatValue::UInt(3));
        assert_eq!(by_class[&1]["age"], StatValue::UInt(766));
        assert_eq!(by_class[&12]["number"], StatValue::UInt(1));
        assert!(group(&StatsGroup::Items, lines(&[("number", "3")])).is_err());
    }

    #[test]
    fn slabs_have_classes_and_totals() {
        let s = group(
            &StatsGroup::Slabs,
            lines(&[
                ("1:chunk_size", "80"),
                ("active_slabs", "1"),
                ("total_malloced", "1048560"),
            ]),
        )
        .unwrap();
        let Stats::Slabs(slabs) = s else {
            panic!("{s:?}")
        };
        assert_eq!(slabs.classes[&1]["chunk_size"], StatValue::UInt(80));
        assert_eq!(slabs.totals["active_slabs"], StatValue::UInt(1));
    }

    #[test]
    fn sizes_histogram_and_disabled() {
        let s = group(&StatsGroup::Sizes, lines(&[("64", "1"), ("96", "2")])).unwrap();
        assert_eq!(
            s,
            Stats::Sizes(SizeStats {
                sizes: vec![(64, 1), (96, 2)],
                enabled: true
            })
        );
        let s = group(&StatsGroup::Sizes, lines(&[("sizes_status", "disabled")])).unwrap();
        assert_eq!(
            s,
            Stats::Sizes(SizeStats {
                sizes: vec![],
                enabled: false
            })
        );
        assert!(group(&StatsGroup::Sizes, lines(&[("x", "1")])).is_err());
    }

    #[test]
    fn conns_are_grouped_by_fd() {
        let s = group(
            &StatsGroup::Conns,
            lines(&[
                ("23:addr", "tcp:127.0.0.1:5555"),
                ("23:state", "conn_parse_cmd"),
            ]),
        )
        .unwrap();
        let Stats::Conns(by_fd) = s else {
            panic!("{s:?}")
        };
        assert_eq!(by_fd[&23]["addr"].as_str(), Some("tcp:127.0.0.1:5555"));
    }
}
