//! The commands on whole servers: `flush`, `ping`, `version`.

use std::io::Write;
use std::time::{Duration, Instant};

use memwire::blocking::Client;
use memwire::Commands;
use serde_json::{json, Value as Json};

use crate::args::{FlushArgs, JsonFlag, PingArgs, ServerOpts};
use crate::connect;
use crate::output::{self, Align, Table};
use crate::status::{Failure, Status};

/// `flush [--delay SECS]`: silent on success, like memcflush.
pub fn flush(client: &Client, args: &FlushArgs) -> Result<Status, Failure> {
    let results = match args.delay {
        Some(delay) => client.flush_all_delayed(delay),
        None => client.flush_all(),
    };
    let mut status = Status::Ok;
    for (server, result) in results {
        if let Err(e) = result {
            status = status.worst(Failure::client(server, e).report());
        }
    }
    Ok(status)
}

/// `version`: one line per server.
pub fn version(client: &Client, args: &JsonFlag, out: &mut impl Write) -> Result<Status, Failure> {
    let mut status = Status::Ok;
    let mut table = Table::new(&[("SERVER", Align::Left), ("VERSION", Align::Left)]);
    let mut json = serde_json::Map::new();
    for (server, result) in client.version() {
        match result {
            Ok(version) => {
                table.row(vec![server.to_string(), version.clone()]);
                json.insert(server.to_string(), Json::from(version));
            }
            Err(e) => {
                table.row(vec![server.to_string(), "error".into()]);
                json.insert(server.to_string(), json!({ "error": e.to_string() }));
                status = status.worst(Failure::client(server, e).report());
            }
        }
    }
    if args.json {
        output::write_json(out, &Json::Object(json))?;
    } else {
        table.write(out)?;
    }
    Ok(status)
}

/// What pinging one server found.
struct Pings {
    version: String,
    /// The first round trip, which connects.
    first: Duration,
    /// The round trips after it.
    rest: Vec<Duration>,
}

impl Pings {
    fn take(client: &Client, count: u32) -> Result<Pings, memwire::Error> {
        let round_trip = || -> Result<(String, Duration), memwire::Error> {
            let start = Instant::now();
            let mut versions = client.version();
            let elapsed = start.elapsed();
            let (_, version) = versions
                .pop()
                .ok_or_else(|| memwire::Error::NoServer("no server to ping".into()))?;
            Ok((version?, elapsed))
        };
        let (version, first) = round_trip()?;
        let rest = (0..count)
            .map(|_| round_trip().map(|(_, t)| t))
            .collect::<Result<_, _>>()?;
        Ok(Pings {
            version,
            first,
            rest,
        })
    }

    fn min(&self) -> Option<Duration> {
        self.rest.iter().min().copied()
    }

    fn max(&self) -> Option<Duration> {
        self.rest.iter().max().copied()
    }

    fn avg(&self) -> Option<Duration> {
        let n = u32::try_from(self.rest.len()).ok().filter(|&n| n > 0)?;
        Some(self.rest.iter().sum::<Duration>() / n)
    }
}

/// `ping`: `version` round trips to each server on its own connection.
pub fn ping(opts: &ServerOpts, args: &PingArgs, out: &mut impl Write) -> Result<Status, Failure> {
    let mut status = Status::Ok;
    let mut table = Table::new(&[
        ("SERVER", Align::Left),
        ("VERSION", Align::Left),
        ("CONNECT+RTT", Align::Right),
        ("MIN", Align::Right),
        ("AVG", Align::Right),
        ("MAX", Align::Right),
    ]);
    let mut json = Vec::new();
    for server in &opts.servers {
        let client: Client = connect::build(connect::builder(std::slice::from_ref(server), opts))?;
        let name = client.servers()[0].to_string();
        match Pings::take(&client, args.count) {
            Ok(p) => {
                let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
                let show = |d: Option<Duration>| {
                    d.map_or("-".into(), |d| format!("{:.3} ms", d.as_secs_f64() * 1e3))
                };
                table.row(vec![
                    name.clone(),
                    p.version.clone(),
                    show(Some(p.first)),
                    show(p.min()),
                    show(p.avg()),
                    show(p.max()),
                ]);
                json.push(json!({
                    "server": name,
                    "version": p.version,
                    "first_ms": ms(Some(p.first)),
                    "min_ms": ms(p.min()),
                    "avg_ms": ms(p.avg()),
                    "max_ms": ms(p.max()),
                    "count": p.rest.len(),
                }));
            }
            Err(e) => {
                table.row(vec![name.clone(), "error".into()]);
                json.push(json!({ "server": name, "error": e.to_string() }));
                status = status.worst(Failure::client(&name, e).report());
            }
        }
        client.close();
    }
    if args.json {
        output::write_json(out, &Json::Array(json))?;
    } else {
        table.write(out)?;
    }
    Ok(status)
}
