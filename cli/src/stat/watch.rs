//! `stat --watch`: a top-like view refreshed every few seconds, with
//! rates computed from the difference between two `stats` samples.

use std::io::{IsTerminal, Write};
use std::thread;
use std::time::{Duration, Instant};

use memwire::blocking::Client;
use memwire::cluster::ServerAddr;
use memwire::{Commands, PerServer, StatMap};
use serde_json::{json, Value as Json};

use crate::output::{thousands, Align, Table};
use crate::status::{Failure, Status};

/// One `stats` of every server, and when it was taken.
struct Sample {
    at: Instant,
    stats: PerServer<StatMap>,
}

impl Sample {
    fn take(client: &Client) -> Sample {
        Sample {
            at: Instant::now(),
            stats: client.stats(),
        }
    }

    fn of(&self, server: &ServerAddr) -> Option<&StatMap> {
        self.stats
            .iter()
            .find(|(s, _)| s == server)
            .and_then(|(_, r)| r.as_ref().ok())
    }
}

/// What the view shows for one server over one interval.
struct Line {
    gets_per_sec: f64,
    sets_per_sec: f64,
    /// Hits over gets in the interval; `None` without gets.
    hit_ratio: Option<f64>,
    evictions_per_sec: f64,
    connections: u64,
    items: u64,
    bytes: u64,
    limit_bytes: u64,
}

impl Line {
    fn new(before: &StatMap, now: &StatMap, seconds: f64) -> Line {
        let get = |m: &StatMap, name: &str| m.get(name).and_then(|v| v.as_u64()).unwrap_or(0);
        let delta = |name: &str| get(now, name).saturating_sub(get(before, name)) as f64;
        let rate = |name: &str| delta(name) / seconds.max(1e-9);
        let (hits, misses) = (delta("get_hits"), delta("get_misses"));
        Line {
            gets_per_sec: rate("cmd_get"),
            sets_per_sec: rate("cmd_set"),
            hit_ratio: (hits + misses > 0.0).then(|| hits / (hits + misses)),
            evictions_per_sec: rate("evictions"),
            connections: get(now, "curr_connections"),
            items: get(now, "curr_items"),
            bytes: get(now, "bytes"),
            limit_bytes: get(now, "limit_maxbytes"),
        }
    }

    fn json(&self, server: &ServerAddr) -> Json {
        json!({
            "server": server.to_string(),
            "get_per_sec": self.gets_per_sec,
            "set_per_sec": self.sets_per_sec,
            "hit_ratio": self.hit_ratio,
            "evictions_per_sec": self.evictions_per_sec,
            "curr_connections": self.connections,
            "curr_items": self.items,
            "bytes": self.bytes,
            "limit_maxbytes": self.limit_bytes,
        })
    }

    fn cells(&self, server: &ServerAddr) -> Vec<String> {
        let percent = |r: f64| format!("{:.1}%", r * 100.0);
        vec![
            server.to_string(),
            thousands(self.gets_per_sec),
            thousands(self.sets_per_sec),
            self.hit_ratio.map_or("-".to_owned(), percent),
            thousands(self.evictions_per_sec),
            self.connections.to_string(),
            self.items.to_string(),
            match self.limit_bytes {
                0 => "-".to_owned(),
                limit => percent(self.bytes as f64 / limit as f64),
            },
        ]
    }
}

/// Refresh every `every` until interrupted, or `count` times.
pub fn run(
    client: &Client,
    every: Duration,
    count: Option<u64>,
    json: bool,
    out: &mut impl Write,
) -> Result<Status, Failure> {
    let clear = !json && std::io::stdout().is_terminal();
    let mut before = Sample::take(client);
    let mut status = Status::Ok;
    let mut refresh = 0;
    while count.is_none_or(|n| refresh < n) {
        thread::sleep(every);
        let now = Sample::take(client);
        refresh += 1;
        let seconds = (now.at - before.at).as_secs_f64();
        if clear {
            write!(out, "\x1b[H\x1b[2J")?; // home, clear screen
        }
        if json {
            writeln!(out, "{}", view_json(&before, &now, seconds))?;
        } else {
            if !clear && refresh > 1 {
                writeln!(out)?;
            }
            writeln!(
                out,
                "memwire stat --watch: every {:.1}s, refresh {refresh}",
                every.as_secs_f64()
            )?;
            view_table(&before, &now, seconds).write(out)?;
        }
        out.flush()?;
        for (server, result) in &now.stats {
            if let Err(e) = result {
                status = status.worst(Failure::client(server, e.clone()).report());
            }
        }
        before = now;
    }
    Ok(status)
}

fn view_table(before: &Sample, now: &Sample, seconds: f64) -> Table {
    let mut table = Table::new(&[
        ("SERVER", Align::Left),
        ("GET/S", Align::Right),
        ("SET/S", Align::Right),
        ("HIT%", Align::Right),
        ("EVICT/S", Align::Right),
        ("CONNS", Align::Right),
        ("ITEMS", Align::Right),
        ("MEM%", Align::Right),
    ]);
    for (server, result) in &now.stats {
        match result {
            Ok(stats) => table.row(line(before, server, stats, seconds).cells(server)),
            Err(_) => table.row(vec![server.to_string(), "error".into()]),
        }
    }
    table
}

fn view_json(before: &Sample, now: &Sample, seconds: f64) -> Json {
    let servers: Vec<Json> = now
        .stats
        .iter()
        .map(|(server, result)| match result {
            Ok(stats) => line(before, server, stats, seconds).json(server),
            Err(e) => json!({ "server": server.to_string(), "error": e.to_string() }),
        })
        .collect();
    json!({ "interval_secs": seconds, "servers": servers })
}

/// The line of `server`: against its previous sample, or against itself
/// (no rates) when it did not answer then.
fn line(before: &Sample, server: &ServerAddr, now: &StatMap, seconds: f64) -> Line {
    Line::new(before.of(server).unwrap_or(now), now, seconds)
}
