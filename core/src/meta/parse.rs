//! Reading one meta reply line in the context of its request.
//!
//! The [`ResponseParser`](crate::ResponseParser) finds the lines and value
//! blocks (incrementally, without rescanning); this module says what a
//! complete line means: `<code> [<size>] <flag>*`, with the returned
//! flags typed and checked against the request (its opaque token, its
//! key).

use std::time::Duration;

use bytes::Bytes;

use crate::error::{show_line, Error, ProtocolError};
use crate::key;
use crate::meta::expect::{MetaExpect, MetaKind};
use crate::meta::opaque::Opaque;
use crate::meta::reply::{DebugInfo, MetaReply, MetaStatus, ReturnedFlags, Ttl};
use crate::response::{parse_u64, Response};

/// What one reply line means for a meta request.
#[derive(Debug)]
pub(crate) enum LineOutcome {
    /// The reply is complete.
    Done(Result<Response, Error>),
    /// A `VA` header: `len` bytes of data and `\r\n` follow.
    Block {
        /// The reply, its value still empty.
        reply: MetaReply,
        /// The announced length.
        len: usize,
    },
}

/// The byte ranges of the space-separated tokens of `line` (runs of spaces
/// count as one separator).
fn tokens(line: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        while line.get(at) == Some(&b' ') {
            at += 1;
        }
        if at >= line.len() {
            return None;
        }
        let start = at;
        let len = memchr::memchr(b' ', line.get(start..)?).unwrap_or(line.len() - start);
        at = start + len;
        Some((start, at))
    })
}

/// Read `line` (a complete line without `\r\n`, not an error line) as the
/// reply to `expect`.
pub(crate) fn on_line(
    expect: &MetaExpect,
    line: &Bytes,
    max_value_len: usize,
) -> Result<LineOutcome, ProtocolError> {
    let unexpected = || ProtocolError::UnexpectedLine {
        line: show_line(line),
        request: expect.name(),
    };
    let mut toks = tokens(line);
    let code = toks
        .next()
        .and_then(|(s, e)| line.get(s..e))
        .ok_or_else(unexpected)?;
    use MetaKind::*;
    let allowed = match code {
        b"VA" => expect.value && matches!(expect.kind, Get | Arithmetic),
        b"HD" => matches!(expect.kind, Get | Set | Delete | Arithmetic),
        b"EN" => matches!(expect.kind, Get | Debug),
        b"NF" | b"NS" | b"EX" => matches!(expect.kind, Set | Delete | Arithmetic),
        b"MN" => expect.kind == NoOp,
        b"ME" => expect.kind == Debug,
        _ => false,
    };
    if !allowed {
        return Err(unexpected());
    }
    if code == b"ME" {
        let reply = debug_line(expect, line, &mut toks).ok_or_else(unexpected)?;
        return Ok(LineOutcome::Done(Ok(Response::Meta(reply))));
    }
    let len = if code == b"VA" {
        let (s, e) = toks.next().ok_or_else(unexpected)?;
        let len = line.get(s..e).and_then(parse_u64).ok_or_else(unexpected)?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= max_value_len)
            .ok_or(ProtocolError::ValueTooLarge {
                len,
                max: max_value_len,
            })?;
        Some(len)
    } else {
        None
    };
    let flags = returned_flags(line, toks).ok_or_else(unexpected)?;
    // memcached before 1.6.18 reflects no flags on `EN`.
    let bare_miss = code == b"EN" && flags == ReturnedFlags::default();
    if !bare_miss {
        check_echo(expect, &flags)?;
    }
    let mut reply = MetaReply::new(MetaStatus::Done);
    reply.flags = flags;
    let done = |r: Result<Response, Error>| Ok(LineOutcome::Done(r));
    match (code, len) {
        (_, Some(len)) => Ok(LineOutcome::Block { reply, len }),
        (b"HD", _) => done(Ok(Response::Meta(reply))),
        (b"EN", _) => {
            reply.status = MetaStatus::Miss;
            done(Ok(Response::Meta(reply)))
        }
        (b"MN", _) => {
            reply.status = MetaStatus::NoOp;
            done(Ok(Response::Meta(reply)))
        }
        (b"NF", _) => done(Err(Error::NotFound)),
        (b"NS", _) => done(Err(Error::NotStored)),
        _ => done(Err(Error::Exists)),
    }
}

/// The reply whose `VA` header was `reply`, with its value block.
pub(crate) fn with_value(mut reply: MetaReply, data: Bytes) -> Response {
    reply.status = MetaStatus::Value(data);
    Response::Meta(reply)
}

/// The reply must carry the request's opaque token (and none if the
/// request had none), and a returned key must be the request's key.
fn check_echo(expect: &MetaExpect, flags: &ReturnedFlags) -> Result<(), ProtocolError> {
    if flags.opaque != expect.opaque {
        let show = |o: &Option<Opaque>| o.as_ref().map(|o| show_line(o.as_bytes()));
        return Err(ProtocolError::OpaqueMismatch {
            expected: show(&expect.opaque),
            got: show(&flags.opaque),
        });
    }
    if let Some(got) = &flags.key {
        if expect.key.as_ref() != Some(got) {
            return Err(ProtocolError::KeyMismatch {
                expected: show_line(expect.key.as_deref().unwrap_or_default()),
                got: show_line(got),
            });
        }
    }
    Ok(())
}

/// The flags of a reply line; `None` if one is malformed or repeated.
/// Flags this client does not know are skipped.
fn returned_flags(
    line: &Bytes,
    toks: impl Iterator<Item = (usize, usize)>,
) -> Option<ReturnedFlags> {
    let mut f = ReturnedFlags::default();
    let mut raw_key: Option<Bytes> = None;
    let mut seen = [false; 128];
    for (s, e) in toks {
        let tok = line.get(s..e)?;
        let (&flag, arg) = tok.split_first()?;
        if let Some(seen) = seen.get_mut(usize::from(flag)) {
            if *seen {
                return None;
            }
            *seen = true;
        }
        let bare = |set: &mut bool| arg.is_empty().then(|| *set = true);
        match flag {
            b'c' => f.cas = Some(parse_u64(arg)?),
            b'f' => f.client_flags = Some(u32::try_from(parse_u64(arg)?).ok()?),
            b't' => {
                f.ttl = Some(match arg {
                    b"-1" => Ttl::Never,
                    _ => Ttl::Remaining(Duration::from_secs(parse_u64(arg)?)),
                })
            }
            b's' => f.size = Some(parse_u64(arg)?),
            b'l' => f.last_access = Some(Duration::from_secs(parse_u64(arg)?)),
            b'h' => {
                f.hit_before = Some(match arg {
                    b"0" => false,
                    b"1" => true,
                    _ => return None,
                })
            }
            b'k' if !arg.is_empty() => raw_key = Some(line.slice(s + 1..e)),
            b'O' if Opaque::is_valid(arg) => {
                f.opaque = Some(Opaque::from_wire(line.slice(s + 1..e)))
            }
            b'b' => bare(&mut f.base64_key)?,
            b'W' => bare(&mut f.won)?,
            b'X' => bare(&mut f.stale)?,
            b'Z' => bare(&mut f.win_taken)?,
            b'k' | b'O' => return None,
            _ => {}
        }
    }
    f.key = match (raw_key, f.base64_key) {
        (Some(k), true) => Some(key::decode_base64(&k)?),
        (k, _) => k,
    };
    Some(f)
}

/// `ME <key> <name>=<value>*`. The key comes base64-encoded when the item's
/// key is binary (there is no `b` flag to say so): it must be the request's
/// key either way.
fn debug_line(
    expect: &MetaExpect,
    line: &Bytes,
    toks: &mut impl Iterator<Item = (usize, usize)>,
) -> Option<MetaReply> {
    let (s, e) = toks.next()?;
    let got = line.get(s..e)?;
    let want = expect.key.as_ref()?;
    let base64 = if got == &want[..] {
        false
    } else if key::decode_base64(got).as_deref() == Some(&want[..]) {
        true
    } else {
        return None;
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let fields = toks
        .map(|(s, e)| {
            let tok = line.get(s..e).unwrap_or_default();
            match memchr::memchr(b'=', tok) {
                Some(i) => (
                    text(tok.get(..i).unwrap_or_default()),
                    text(tok.get(i + 1..).unwrap_or_default()),
                ),
                None => (text(tok), String::new()),
            }
        })
        .collect();
    let mut reply = MetaReply::new(MetaStatus::Debug(DebugInfo { fields }));
    reply.flags.key = Some(want.clone());
    reply.flags.base64_key = base64;
    Some(reply)
}

/// Whose reply a complete line can be, as far as a pending quiet request
/// is concerned.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Claim<'a> {
    /// A meta reply line (`VA`, `HD`, `EN`, `NF`, `NS`, `EX`, `MN`) with
    /// this opaque token, if any.
    Meta(Option<&'a [u8]>),
    /// Anything else (`ME`, text-protocol replies, garbage): never the
    /// reply of a quiet meta request.
    Other,
}

/// Classify a complete line (without `\r\n`; error lines are classified
/// before this).
pub(crate) fn claim(line: &[u8]) -> Claim<'_> {
    let mut toks = tokens(line).filter_map(|(s, e)| line.get(s..e));
    let code = toks.next();
    match code {
        Some(b"VA") => {
            let _size = toks.next();
        }
        Some(b"HD" | b"EN" | b"NF" | b"NS" | b"EX" | b"MN") => {}
        _ => return Claim::Other,
    }
    Claim::Meta(toks.find_map(|t| t.strip_prefix(b"O")))
}

#[cfg(test)]
mod tests;
