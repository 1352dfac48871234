//! `keys` (alias `dump`): the keys of every server, from
//! [`metadump`], one per line, as a table (`--long`) or
//! as JSON.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use memwire::cluster::ServerAddr;
use serde_json::{json, Value as Json};

use crate::args::{KeysArgs, ServerOpts};
use crate::metadump::{self, Item};
use crate::output::{self, Align, Table};
use crate::status::{Failure, Status};

/// Run `keys`.
pub fn run(opts: &ServerOpts, args: &KeysArgs, out: &mut impl Write) -> Result<Status, Failure> {
    let mut status = Status::Ok;
    let mut found: Vec<(ServerAddr, Item)> = Vec::new();
    for input in &opts.servers {
        let server = ServerAddr::parse(input)
            .map_err(|e| Failure::new(Status::Usage, format!("bad server {input:?}"), e))?;
        match metadump::dump(&server, opts.timeout) {
            Ok(items) => found.extend(
                items
                    .into_iter()
                    .filter(|item| matches(item, args.filter.as_deref()))
                    .map(|item| (server.clone(), item)),
            ),
            Err(e) => {
                let context = format!("{server}: lru_crawler metadump");
                status = status.worst(Failure::new(Status::Failed, context, e).report());
            }
        }
    }
    found.sort_by(|a, b| a.1.key.cmp(&b.1.key));
    if args.json {
        output::write_json(out, &to_json(&found))?;
    } else if args.long {
        to_table(&found).write(out)?;
    } else {
        for (_, item) in &found {
            out.write_all(&item.key)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(status)
}

fn matches(item: &Item, filter: Option<&str>) -> bool {
    filter.is_none_or(|f| {
        let f = f.as_bytes();
        f.is_empty() || item.key.windows(f.len()).any(|w| w == f)
    })
}

/// Seconds from now until `exp`; negative when already past.
fn ttl(exp: u64) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(exp).unwrap_or(i64::MAX) - i64::try_from(now).unwrap_or(0)
}

fn to_table(found: &[(ServerAddr, Item)]) -> Table {
    let mut table = Table::new(&[
        ("SIZE", Align::Right),
        ("TTL", Align::Right),
        ("FETCHED", Align::Left),
        ("SERVER", Align::Left),
        ("KEY", Align::Left),
    ]);
    for (server, item) in found {
        table.row(vec![
            item.size.to_string(),
            item.exp
                .map_or("never".to_owned(), |e| format!("{}s", ttl(e))),
            if item.fetched { "yes" } else { "no" }.to_owned(),
            server.to_string(),
            String::from_utf8_lossy(&item.key).into_owned(),
        ]);
    }
    table
}

fn to_json(found: &[(ServerAddr, Item)]) -> Json {
    let items = found.iter().map(|(server, item)| {
        json!({
            "key": String::from_utf8_lossy(&item.key),
            "server": server.to_string(),
            "size": item.size,
            "exp": item.exp,
            "last_access": item.last_access,
            "cas": item.cas,
            "fetched": item.fetched,
            "class": item.class,
        })
    });
    Json::Array(items.collect())
}
