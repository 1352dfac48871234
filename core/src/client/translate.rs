//! Speaking a text command in the meta protocol, and reading the meta
//! reply back as the text reply the operation expects, so that `get`,
//! `set`, ... behave the same whichever protocol a client speaks.

use bytes::Bytes;

use crate::error::Error;
use crate::meta::{
    MetaArithmetic, MetaDelete, MetaGet, MetaReply, MetaSet, MetaSetMode, MetaStatus,
};
use crate::request::{Command, StoreMode};
use crate::response::Response;

/// How a meta reply reads back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Back {
    /// `mg` for `get`/`gets`/`gat`/`gats`: the hit of `key`, or a miss.
    Get(Bytes),
    /// `mg` without a value for `touch`: `HD` is `TOUCHED`, `EN` not found.
    Touch,
    /// `ms`: `HD` is `STORED`.
    Store,
    /// `md`: `HD` is `DELETED`.
    Delete,
    /// `ma`: the value is the new number.
    Arith,
}

/// A text command's meta form: the command, whether it is quiet (a
/// `noreply` write: a trailing `mn` must follow it), and how its reply
/// reads back. `None` for commands without a meta form (`stats`,
/// `flush_all`, `version`, `verbosity`, `quit`, multi-key retrievals,
/// meta commands themselves).
pub(crate) fn to_meta(command: &Command) -> Option<(Command, bool, Back)> {
    Some(match command {
        Command::Retrieve(r) => {
            let [key] = &r.keys[..] else {
                return None;
            };
            let mut get = MetaGet::new(key.clone()).with_client_flags();
            if r.cas {
                get = get.with_cas();
            }
            if let Some(expiry) = r.touch {
                get = get.touch(expiry);
            }
            (get.into(), false, Back::Get(key.clone()))
        }
        Command::Store(s) => {
            let mut set = MetaSet::new(s.key.clone(), s.data.clone())
                .flags(s.flags)
                .expiry(s.expiry);
            set = match s.mode {
                StoreMode::Set => set,
                StoreMode::Add => set.mode(MetaSetMode::Add),
                StoreMode::Replace => set.mode(MetaSetMode::Replace),
                StoreMode::Append => set.mode(MetaSetMode::Append),
                StoreMode::Prepend => set.mode(MetaSetMode::Prepend),
                StoreMode::Cas(unique) => set.compare_cas(unique),
            };
            if s.noreply {
                set = set.quiet();
            }
            (set.into(), s.noreply, Back::Store)
        }
        Command::Delete(d) => {
            let mut delete = MetaDelete::new(d.key.clone());
            if d.noreply {
                delete = delete.quiet();
            }
            (delete.into(), d.noreply, Back::Delete)
        }
        Command::Arith(a) => {
            let mut arith = MetaArithmetic::new(a.key.clone(), a.op, a.delta);
            if a.noreply {
                arith = arith.without_value().quiet();
            }
            (arith.into(), a.noreply, Back::Arith)
        }
        Command::Touch(t) => {
            let mut touch = MetaGet::new(t.key.clone()).without_value().touch(t.expiry);
            if t.noreply {
                touch = touch.quiet();
            }
            (touch.into(), t.noreply, Back::Touch)
        }
        _ => return None,
    })
}

/// The text reply a meta reply stands for.
pub(crate) fn back(back: &Back, result: Result<Response, Error>) -> Result<Response, Error> {
    let reply = match result? {
        Response::Meta(reply) => reply,
        // A quiet write's `Sent` (text noreply), or anything else: as is.
        other => return Ok(other),
    };
    match back {
        Back::Get(key) => Ok(Response::Values(
            reply.into_item(key.clone()).into_iter().collect(),
        )),
        Back::Touch if reply.is_miss() => Err(Error::NotFound),
        Back::Touch => Ok(Response::Touched),
        Back::Store => Ok(Response::Stored),
        Back::Delete => Ok(Response::Deleted),
        Back::Arith => arith(&reply),
    }
}

fn arith(reply: &MetaReply) -> Result<Response, Error> {
    match (&reply.status, reply.number()) {
        (_, Some(n)) => Ok(Response::Number(n)),
        // A quiet `ma` (text noreply) that succeeded says nothing.
        (MetaStatus::Done, None) => Ok(Response::Sent),
        _ => Err(Error::Protocol(crate::ProtocolError::UnexpectedLine {
            line: format!("{:?}", reply.status),
            request: "ma",
        })),
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::{Config, Connection, Expiry};

    /// The meta bytes a text command becomes.
    fn wire(command: impl Into<Command>) -> String {
        let (meta, _, _) = to_meta(&command.into()).expect("has a meta form");
        let mut out = BytesMut::new();
        meta.encode(&mut out, &Config::default()).expect("valid");
        String::from_utf8(out.to_vec()).expect("text")
    }

    #[test]
    fn text_commands_in_meta() {
        assert_eq!(wire(Command::get("k")), "mg k f v\r\n");
        assert_eq!(
            wire(Command::get("k").with_cas().touch(Expiry::secs(9))),
            "mg k c f v T9\r\n"
        );
        assert_eq!(
            wire(Command::set("k", "vv").flags(3).expiry(Expiry::secs(30))),
            "ms k 2 F3 T30\r\nvv\r\n"
        );
        assert_eq!(wire(Command::add("k", "v")), "ms k 1 ME\r\nv\r\n");
        assert_eq!(wire(Command::cas("k", "v", 77)), "ms k 1 C77\r\nv\r\n");
        assert_eq!(wire(Command::delete("k")), "md k\r\n");
        assert_eq!(wire(Command::incr("k", 5)), "ma k v D5\r\n");
        assert_eq!(wire(Command::touch("k", Expiry::secs(60))), "mg k T60\r\n");
        assert!(to_meta(&Command::version()).is_none());
        assert!(to_meta(&Command::get_multi(["a", "b"]).into()).is_none());
        let (_, quiet, _) = to_meta(&Command::set("k", "v").noreply().into()).unwrap();
        assert!(quiet);
    }

    #[test]
    fn replies_read_back_as_text() {
        let mut conn = Connection::new(Config::default());
        let (get, _, back_get) = to_meta(&Command::get("k").into()).unwrap();
        let (touch, _, back_touch) = to_meta(&Command::touch("k", Expiry::secs(1)).into()).unwrap();
        let (incr, _, back_arith) = to_meta(&Command::incr("n", 1).into()).unwrap();
        for c in [&get, &touch, &incr] {
            conn.send_command(c, None).unwrap();
        }
        conn.handle_input(b"VA 2 f5\r\nhi\r\nEN\r\nVA 1\r\n8\r\n");
        let mut results = std::iter::from_fn(|| conn.poll_response()).map(|c| c.result);
        let hit = back(&back_get, results.next().unwrap()).unwrap();
        let Response::Values(values) = hit else {
            panic!("{hit:?}")
        };
        assert_eq!(
            (&values[0].key[..], values[0].flags, &values[0].data[..]),
            (&b"k"[..], 5, &b"hi"[..])
        );
        assert!(matches!(
            back(&back_touch, results.next().unwrap()),
            Err(Error::NotFound)
        ));
        assert!(matches!(
            back(&back_arith, results.next().unwrap()),
            Ok(Response::Number(8))
        ));
    }
}
