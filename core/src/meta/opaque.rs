//! [`Opaque`]: the `O` token a meta request carries and its reply echoes.

use std::fmt;

use bytes::Bytes;

use crate::error::Error;

/// An opaque token (`O...`): 1 to 32 bytes without whitespace or control
/// characters, copied back by the server into the reply. A
/// [`Connection`](crate::Connection) uses it to check that a reply answers
/// the request it claims to (a mismatch poisons the connection), and gives
/// every quiet meta request one when the caller did not.
///
/// ```
/// use memwire_core::meta::Opaque;
///
/// let o = Opaque::new("req-17")?;
/// assert_eq!(o.as_bytes(), b"req-17");
/// assert_eq!(Opaque::from(42u32).as_bytes(), b"42");
/// assert!(Opaque::new("two words").is_err());
/// assert!(Opaque::new([b'x'; 33]).is_err());
/// # Ok::<(), memwire_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Opaque(Bytes);

impl Opaque {
    /// The longest token memcached copies back, in bytes.
    pub const MAX_LEN: usize = 32;

    /// A token from `bytes`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when `bytes` is empty, longer than
    /// [`Opaque::MAX_LEN`], or holds whitespace or a control character.
    pub fn new(bytes: impl AsRef<[u8]>) -> Result<Opaque, Error> {
        let bytes = bytes.as_ref();
        if Opaque::is_valid(bytes) {
            Ok(Opaque(Bytes::copy_from_slice(bytes)))
        } else {
            Err(Error::InvalidArgument(
                "an opaque token is 1 to 32 bytes without whitespace or control characters",
            ))
        }
    }

    /// Whether `bytes` is a valid token.
    pub fn is_valid(bytes: &[u8]) -> bool {
        (1..=Opaque::MAX_LEN).contains(&bytes.len()) && bytes.iter().all(|&b| b > b' ' && b != 0x7f)
    }

    /// The token's bytes, as they go on the wire after `O`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A token read from a reply, already checked with [`Opaque::is_valid`].
    pub(crate) fn from_wire(bytes: Bytes) -> Opaque {
        Opaque(bytes)
    }
}

impl From<u32> for Opaque {
    fn from(n: u32) -> Opaque {
        Opaque(Bytes::from(n.to_string()))
    }
}

impl From<u64> for Opaque {
    fn from(n: u64) -> Opaque {
        Opaque(Bytes::from(n.to_string()))
    }
}

impl fmt::Debug for Opaque {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Opaque({:?})", String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Display for Opaque {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}
