//! `stat`: one `stats` group of every server, as a table with one column
//! per server or as JSON; `--watch` hands over to [`watch`].

mod watch;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;

use memwire::blocking::Client;
use memwire::{Commands, PerServer, StatMap, StatValue};
use serde_json::{Map, Value as Json};

use crate::args::{ServerOpts, StatArgs, StatGroup};
use crate::connect;
use crate::output::{self, Align, Table};
use crate::status::{Failure, Status};

/// The statistics of one server, in memcached's own names and order
/// (`items:1:number`, `1:chunk_size`, `96` for a size, ...).
type Rows = Vec<(String, StatValue)>;

/// Run `stat`.
pub fn run(opts: &ServerOpts, args: &StatArgs, out: &mut impl Write) -> Result<Status, Failure> {
    let servers = match &args.server {
        Some(one) => std::slice::from_ref(one),
        None => &opts.servers[..],
    };
    let client: Client = connect::build(connect::builder(servers, opts))?;
    if let Some(every) = args.watch {
        return watch::run(&client, every, args.count, args.json, out);
    }
    let results = fetch(&client, args.group);
    let mut status = Status::Ok;
    for (server, result) in &results {
        if let Err(e) = result {
            status = status.worst(Failure::client(server, e.clone()).report());
        }
    }
    if args.json {
        output::write_json(out, &to_json(&results))?;
    } else {
        to_table(&results).write(out)?;
    }
    Ok(status)
}

/// Ask every server for `group`, flattened into rows.
fn fetch(client: &Client, group: StatGroup) -> PerServer<Rows> {
    let flat = |map: StatMap| map.into_iter().collect::<Rows>();
    let nested = |prefix: &str, by_id: BTreeMap<u32, StatMap>| {
        let mut rows = Rows::new();
        for (id, stats) in by_id {
            for (name, value) in stats {
                rows.push((format!("{prefix}{id}:{name}"), value));
            }
        }
        rows
    };
    match group {
        StatGroup::General => map_ok(client.stats(), flat),
        StatGroup::Settings => map_ok(client.stats_settings(), flat),
        StatGroup::Items => map_ok(client.stats_items(), |m| nested("items:", m)),
        StatGroup::Conns => map_ok(client.stats_conns(), |m| nested("", m)),
        StatGroup::Slabs => map_ok(client.stats_slabs(), |s| {
            let mut rows = nested("", s.classes);
            rows.extend(s.totals);
            rows
        }),
        StatGroup::Sizes => map_ok(client.stats_sizes(), |s| {
            if !s.enabled {
                return vec![("sizes_status".into(), StatValue::Text("disabled".into()))];
            }
            let sizes = s.sizes.into_iter();
            sizes
                .map(|(size, n)| (size.to_string(), StatValue::UInt(n)))
                .collect()
        }),
    }
}

fn map_ok<T, U>(results: PerServer<T>, f: impl Fn(T) -> U) -> PerServer<U> {
    results
        .into_iter()
        .map(|(server, result)| (server, result.map(&f)))
        .collect()
}

/// One row per statistic, one column per server; `-` where a server
/// lacks the statistic, `error` where it did not answer.
fn to_table(results: &PerServer<Rows>) -> Table {
    let names: Vec<String> = results.iter().map(|(s, _)| s.to_string()).collect();
    let mut columns = vec![("STAT", Align::Left)];
    columns.extend(names.iter().map(|n| (n.as_str(), Align::Right)));
    let mut table = Table::new(&columns);
    // Statistics in the order the first server to have each sent it.
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    for (_, rows) in results {
        for (name, _) in rows.iter().flatten() {
            if seen.insert(name.as_str()) {
                order.push(name.as_str());
            }
        }
    }
    let lookup: Vec<Option<BTreeMap<&str, &StatValue>>> = results
        .iter()
        .map(|(_, r)| {
            r.as_ref()
                .ok()
                .map(|rows| rows.iter().map(|(n, v)| (n.as_str(), v)).collect())
        })
        .collect();
    for name in order {
        let mut cells = vec![name.to_owned()];
        for stats in &lookup {
            cells.push(match stats {
                None => "error".to_owned(),
                Some(stats) => stats.get(name).map_or("-".to_owned(), |v| v.to_string()),
            });
        }
        table.row(cells);
    }
    table
}

/// `{"server": {"stat": value, ...}, ...}`; a server that failed has
/// `{"error": "..."}`.
fn to_json(results: &PerServer<Rows>) -> Json {
    let mut servers = Map::new();
    for (server, result) in results {
        let body = match result {
            Ok(rows) => rows
                .iter()
                .map(|(name, value)| (name.clone(), output::stat_json(value)))
                .collect(),
            Err(e) => Map::from_iter([("error".to_owned(), Json::from(e.to_string()))]),
        };
        servers.insert(server.to_string(), Json::Object(body));
    }
    Json::Object(servers)
}
