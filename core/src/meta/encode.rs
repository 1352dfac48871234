//! The command line of a meta request: flags in a fixed order, each
//! argument checked before anything is written.

use std::time::Duration;

use crate::error::Error;
use crate::expiry::Expiry;
use crate::key::MetaKey;
use crate::meta::opaque::Opaque;
use crate::meta::{MetaCommand, MetaSetMode};
use crate::request::ArithOp;

/// A command line under construction.
struct LineBytes(Vec<u8>);

impl LineBytes {
    /// ` <n>` — a positional number.
    fn arg(&mut self, n: usize) {
        self.0.push(b' ');
        self.0
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }

    /// ` <c>` — a flag without a token.
    fn flag(&mut self, c: u8, on: bool) {
        if on {
            self.0.extend_from_slice(&[b' ', c]);
        }
    }

    /// ` <c><n>` — a flag with a number.
    fn num(&mut self, c: u8, n: Option<impl itoa::Integer>) {
        if let Some(n) = n {
            self.0.extend_from_slice(&[b' ', c]);
            self.0
                .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        }
    }

    /// ` O<token>`.
    fn opaque(&mut self, opaque: Option<&Opaque>) {
        if let Some(o) = opaque {
            self.0.extend_from_slice(b" O");
            self.0.extend_from_slice(o.as_bytes());
        }
    }

    /// ` M<mode>`.
    fn mode(&mut self, mode: Option<u8>) {
        if let Some(m) = mode {
            self.0.extend_from_slice(&[b' ', b'M', m]);
        }
    }
}

/// The command line of `command` (with `\r\n`), or why it cannot be sent.
pub(crate) fn command_line(key: Option<&MetaKey>, command: &MetaCommand) -> Result<Vec<u8>, Error> {
    let ttl = |e: Option<Expiry>| e.map(Expiry::to_wire).transpose();
    let mut l = LineBytes(Vec::with_capacity(64));
    let head = |l: &mut LineBytes, name: &[u8]| {
        l.0.extend_from_slice(name);
        if let Some(key) = key {
            l.0.push(b' ');
            l.0.extend_from_slice(key.wire());
        }
    };
    let base64 = key.is_some_and(MetaKey::is_base64);
    match command {
        MetaCommand::Get(c) => {
            let (vivify, touch) = (ttl(c.vivify)?, ttl(c.touch)?);
            let recache = c.recache_below.map(recache_secs).transpose()?;
            head(&mut l, b"mg");
            l.flag(b'b', base64);
            l.flag(b'c', c.cas);
            l.flag(b'f', c.client_flags);
            l.flag(b'h', c.hit_before);
            l.flag(b'k', c.return_key);
            l.flag(b'l', c.last_access);
            l.opaque(c.opaque.as_ref());
            l.flag(b'q', c.quiet);
            l.flag(b's', c.size);
            l.flag(b't', c.ttl);
            l.flag(b'u', c.no_lru_bump);
            l.flag(b'v', c.value);
            l.num(b'C', c.unless_cas);
            l.num(b'E', c.new_cas);
            l.num(b'N', vivify);
            l.num(b'R', recache);
            l.num(b'T', touch);
        }
        MetaCommand::Set(c) => {
            let expiry = ttl(Some(c.expiry).filter(|e| *e != Expiry::Never))?;
            let vivify = ttl(c.vivify)?;
            head(&mut l, b"ms");
            l.arg(c.data.len());
            l.flag(b'b', base64);
            l.flag(b'c', c.cas);
            l.flag(b'I', c.invalidate);
            l.flag(b'k', c.return_key);
            l.opaque(c.opaque.as_ref());
            l.flag(b'q', c.quiet);
            l.flag(b's', c.size);
            l.num(b'C', c.compare_cas);
            l.num(b'E', c.new_cas);
            l.num(b'F', Some(c.client_flags).filter(|f| *f != 0));
            l.num(b'N', vivify);
            l.num(b'T', expiry);
            l.mode(match c.mode {
                MetaSetMode::Set => None,
                MetaSetMode::Add => Some(b'E'),
                MetaSetMode::Replace => Some(b'R'),
                MetaSetMode::Append => Some(b'A'),
                MetaSetMode::Prepend => Some(b'P'),
            });
        }
        MetaCommand::Delete(c) => {
            let expiry = ttl(c.expiry)?;
            head(&mut l, b"md");
            l.flag(b'b', base64);
            l.flag(b'I', c.invalidate);
            l.flag(b'k', c.return_key);
            l.opaque(c.opaque.as_ref());
            l.flag(b'q', c.quiet);
            l.flag(b'x', c.clear_value);
            l.num(b'C', c.compare_cas);
            l.num(b'E', c.new_cas);
            l.num(b'T', expiry);
        }
        MetaCommand::Arithmetic(c) => {
            if c.initial.is_some() && c.vivify.is_none() {
                return Err(Error::InvalidArgument(
                    "an initial value (J) needs an expiry to vivify with (N)",
                ));
            }
            let (vivify, touch) = (ttl(c.vivify)?, ttl(c.touch)?);
            head(&mut l, b"ma");
            l.flag(b'b', base64);
            l.flag(b'c', c.cas);
            l.flag(b'k', c.return_key);
            l.opaque(c.opaque.as_ref());
            l.flag(b'q', c.quiet);
            l.flag(b't', c.ttl);
            l.flag(b'v', c.value);
            l.num(b'C', c.compare_cas);
            l.num(b'D', Some(c.delta).filter(|d| *d != 1));
            l.num(b'E', c.new_cas);
            l.num(b'J', c.initial);
            l.num(b'N', vivify);
            l.num(b'T', touch);
            l.mode(match c.op {
                ArithOp::Incr => None,
                ArithOp::Decr => Some(b'D'),
            });
        }
        MetaCommand::Debug(_) => {
            head(&mut l, b"me");
            l.flag(b'b', base64);
        }
        MetaCommand::NoOp => head(&mut l, b"mn"),
    }
    l.0.extend_from_slice(b"\r\n");
    Ok(l.0)
}

/// The `R` token: whole seconds, rounded up, at most 30 days (beyond that
/// memcached would read an absolute time).
fn recache_secs(d: Duration) -> Result<u64, Error> {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    if secs > Expiry::MAX_RELATIVE.as_secs() {
        return Err(Error::InvalidArgument(
            "a recache threshold (R) is at most 30 days",
        ));
    }
    Ok(secs)
}
