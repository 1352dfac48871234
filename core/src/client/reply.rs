//! [`FromResponse`]: a reply as the type a method returns.

use std::collections::BTreeMap;

use crate::error::{Error, ProtocolError};
use crate::meta::MetaReply;
use crate::response::{Response, Value};
use crate::stats::{SizeStats, SlabStats, StatMap, Stats};

/// A type a successful [`Response`] converts into. The connection has
/// already parsed the reply in the context of its request, so a reply of
/// the wrong shape is a protocol error (it cannot happen with memcached).
///
/// ```
/// use memwire_core::client::FromResponse;
/// use memwire_core::{Response, Value};
///
/// assert_eq!(u64::from_response(Response::Number(7)).ok(), Some(7));
/// let hit = Option::<Value>::from_response(Response::Values(vec![Value::new("k", 0, "v")].into()));
/// assert!(hit.unwrap().is_some());
/// assert!(<()>::from_response(Response::Number(1)).is_err());
/// ```
pub trait FromResponse: Sized {
    /// Convert `response`.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] when the response has another shape.
    fn from_response(response: Response) -> Result<Self, Error>;
}

fn mismatch(response: &Response, request: &'static str) -> Error {
    let mut line = format!("{response:?}");
    if line.len() > 80 {
        let cut = (0..=80)
            .rev()
            .find(|&i| line.is_char_boundary(i))
            .unwrap_or(0);
        line.truncate(cut);
        line.push('…');
    }
    Error::Protocol(ProtocolError::UnexpectedLine { line, request })
}

/// The hit of a one-key retrieval; `None` on a miss.
impl FromResponse for Option<Value> {
    fn from_response(response: Response) -> Result<Self, Error> {
        match response {
            // The parser only accepts values for the requested key.
            Response::Values(values) => Ok(values.into_first()),
            other => Err(mismatch(&other, "retrieval")),
        }
    }
}

/// The hits of a retrieval, in request order.
impl FromResponse for Vec<Value> {
    fn from_response(response: Response) -> Result<Self, Error> {
        match response {
            Response::Values(values) => Ok(values.into_vec()),
            other => Err(mismatch(&other, "retrieval")),
        }
    }
}

/// Success without a result: `STORED`, `DELETED`, `TOUCHED`, `OK`, or a
/// `noreply` request that was sent.
impl FromResponse for () {
    fn from_response(response: Response) -> Result<Self, Error> {
        match response {
            Response::Stored
            | Response::Deleted
            | Response::Touched
            | Response::Ok
            | Response::Sent => Ok(()),
            other => Err(mismatch(&other, "command")),
        }
    }
}

/// The new value after `incr`/`decr`.
impl FromResponse for u64 {
    fn from_response(response: Response) -> Result<Self, Error> {
        match response {
            Response::Number(n) => Ok(n),
            other => Err(mismatch(&other, "incr/decr")),
        }
    }
}

/// The server's version string.
impl FromResponse for String {
    fn from_response(response: Response) -> Result<Self, Error> {
        match response {
            Response::Version(v) => Ok(v),
            other => Err(mismatch(&other, "version")),
        }
    }
}

/// A flat statistics group: `stats`, `stats settings`, `stats <other>`.
impl FromResponse for StatMap {
    fn from_response(response: Response) -> Result<Self, Error> {
        match response {
            Response::Stats(Stats::General(m) | Stats::Settings(m)) => Ok(m),
            other => Err(mismatch(&other, "stats")),
        }
    }
}

/// A group by number: `stats items` (slab class) or `stats conns` (file
/// descriptor).
impl FromResponse for BTreeMap<u32, StatMap> {
    fn from_response(response: Response) -> Result<Self, Error> {
        match response {
            Response::Stats(Stats::Items(m) | Stats::Conns(m)) => Ok(m),
            other => Err(mismatch(&other, "stats items/conns")),
        }
    }
}

/// `stats slabs`.
impl FromResponse for SlabStats {
    fn from_response(response: Response) -> Result<Self, Error> {
        match response {
            Response::Stats(Stats::Slabs(slabs)) => Ok(slabs),
            other => Err(mismatch(&other, "stats slabs")),
        }
    }
}

/// `stats sizes`.
impl FromResponse for SizeStats {
    fn from_response(response: Response) -> Result<Self, Error> {
        match response {
            Response::Stats(Stats::Sizes(sizes)) => Ok(sizes),
            other => Err(mismatch(&other, "stats sizes")),
        }
    }
}

/// A meta reply (`VA`, `HD`, `EN`, `MN`, `ME`, or a quiet request's silent
/// outcome); `NS`, `EX` and `NF` arrive as errors.
impl FromResponse for MetaReply {
    fn from_response(response: Response) -> Result<Self, Error> {
        match response {
            Response::Meta(reply) => Ok(reply),
            other => Err(mismatch(&other, "meta command")),
        }
    }
}

/// The response as it came.
impl FromResponse for Response {
    fn from_response(response: Response) -> Result<Self, Error> {
        Ok(response)
    }
}
