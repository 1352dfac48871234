//! The commands on items: `get`, `set`, `cp`, `rm`, `touch`, `incr`,
//! `decr`. Each key is handled on its own: a miss or failure is reported
//! on stderr and the others go on; the exit status is the worst outcome.

use std::io::{self, IsTerminal, Read, Write};
use std::time::{Duration, SystemTime};

use memwire::blocking::Client;
use memwire::{Commands, Expiry, StoreOptions};

use crate::args::{CounterArgs, CpArgs, GetArgs, KeysOnly, SetArgs, StoreArgs, TouchArgs};
use crate::status::{Failure, Status};

/// `get KEY...`: each value (or its flags) on stdout, in order.
pub fn get(client: &Client, args: &GetArgs, out: &mut impl Write) -> Result<Status, Failure> {
    let mut status = Status::Ok;
    for key in &args.keys {
        match client.get(key) {
            Ok(Some(item)) if args.flags => writeln!(out, "{}", item.flags)?,
            Ok(Some(item)) => {
                out.write_all(&item.data)?;
                if !args.no_newline {
                    out.write_all(b"\n")?;
                }
            }
            Ok(None) => status = status.worst(miss(key)),
            Err(e) => status = status.worst(Failure::client(key, e).report()),
        }
    }
    Ok(status)
}

/// `set KEY [VALUE]`: the value from the argument, else all of stdin.
pub fn set(client: &Client, args: &SetArgs) -> Result<Status, Failure> {
    let value = match &args.value {
        Some(value) => value.clone().into_bytes(),
        None => {
            if io::stdin().is_terminal() {
                eprintln!("memwire: reading the value from stdin (end it with Ctrl-D)");
            }
            let mut value = Vec::new();
            io::stdin()
                .read_to_end(&mut value)
                .map_err(|e| Failure::new(Status::Usage, "cannot read stdin", e))?;
            value
        }
    };
    Ok(store(client, &args.key, value, &args.store))
}

/// `cp FILE...`: each file under its file name, as memccp does.
pub fn cp(client: &Client, args: &CpArgs) -> Result<Status, Failure> {
    let mut status = Status::Ok;
    for path in &args.files {
        let Some(key) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            let e = io::Error::new(io::ErrorKind::InvalidInput, "not a file name");
            status = status.worst(Failure::new(Status::Usage, path.display(), e).report());
            continue;
        };
        match std::fs::read(path) {
            Ok(value) => status = status.worst(store(client, &key, value, &args.store)),
            Err(e) => {
                let context = format!("cannot read {}", path.display());
                status = status.worst(Failure::new(Status::Usage, context, e).report());
            }
        }
    }
    Ok(status)
}

/// `rm KEY...`.
pub fn rm(client: &Client, args: &KeysOnly) -> Result<Status, Failure> {
    let mut status = Status::Ok;
    for key in &args.keys {
        if let Err(e) = client.delete(key) {
            status = status.worst(Failure::client(key, e).report());
        }
    }
    Ok(status)
}

/// `touch KEY... --ttl SECS`.
pub fn touch(client: &Client, args: &TouchArgs) -> Result<Status, Failure> {
    let mut status = Status::Ok;
    for key in &args.keys {
        if let Err(e) = client.touch(key, expiry(args.ttl)) {
            status = status.worst(Failure::client(key, e).report());
        }
    }
    Ok(status)
}

/// `incr KEY [N]`: the new value on stdout.
pub fn incr(client: &Client, args: &CounterArgs, out: &mut impl Write) -> Result<Status, Failure> {
    counter(client.incr(&args.key, args.delta), &args.key, out)
}

/// `decr KEY [N]`: the new value on stdout.
pub fn decr(client: &Client, args: &CounterArgs, out: &mut impl Write) -> Result<Status, Failure> {
    counter(client.decr(&args.key, args.delta), &args.key, out)
}

fn counter(
    result: Result<u64, memwire::Error>,
    key: &str,
    out: &mut impl Write,
) -> Result<Status, Failure> {
    let value = result.map_err(|e| Failure::client(key, e))?;
    writeln!(out, "{value}")?;
    Ok(Status::Ok)
}

/// Store one value as `how` says; report a failure.
fn store(client: &Client, key: &str, value: Vec<u8>, how: &StoreArgs) -> Status {
    let options = StoreOptions::new().flags(how.flags).expiry(expiry(how.ttl));
    let result = if how.add {
        client.add_with(key, value, options)
    } else if how.replace {
        client.replace_with(key, value, options)
    } else {
        client.set_with(key, value, options)
    };
    match result {
        Ok(()) => Status::Ok,
        Err(e) => Failure::client(key, e).report(),
    }
}

/// A TTL in seconds as an [`Expiry`]: 0 is never; beyond memcached's 30
/// days of relative time, the absolute time it means.
fn expiry(ttl: u64) -> Expiry {
    let ttl = Duration::from_secs(ttl);
    if ttl.is_zero() {
        Expiry::Never
    } else if ttl <= Expiry::MAX_RELATIVE {
        Expiry::In(ttl)
    } else {
        Expiry::At(SystemTime::now() + ttl)
    }
}

fn miss(key: &str) -> Status {
    eprintln!("memwire: {key}: not found");
    Status::No
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls() {
        assert_eq!(expiry(0), Expiry::Never);
        assert_eq!(expiry(60), Expiry::secs(60));
        assert_eq!(expiry(30 * 86_400), Expiry::secs(30 * 86_400));
        assert!(matches!(expiry(31 * 86_400), Expiry::At(_)));
        assert!(expiry(31 * 86_400).to_wire().is_ok());
    }
}
