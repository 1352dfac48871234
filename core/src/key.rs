//! Key rules of the text and meta protocols.
//!
//! A text-protocol key is 1 to 250 bytes with no whitespace and no control
//! characters (bytes `0x00..=0x20` and `0x7f`). Bytes above `0x7f` (UTF-8)
//! are allowed. Every key is checked before anything is encoded, so a key
//! can never smuggle `\r\n` or a space into the command line.
//!
//! The meta commands take any non-empty key: one that is a valid text key
//! travels as it is, any other (binary, with spaces or control bytes, or
//! longer than 250 bytes) travels base64-encoded with the `b` flag, and must
//! still fit in 250 bytes once encoded ([`MAX_BINARY_KEY_LEN`] raw bytes).
//! [`MetaKey`] is that choice; placement always hashes the raw bytes, so a
//! key lands on the same server however it travels.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;

/// Longest key memcached accepts, in bytes.
pub const MAX_KEY_LEN: usize = 250;

/// Longest key a meta command can carry base64-encoded: 186 bytes encode to
/// 248, 187 would need 252.
pub const MAX_BINARY_KEY_LEN: usize = MAX_KEY_LEN / 4 * 3;

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is empty.
    #[error("invalid key: empty")]
    Empty,
    /// The key is longer than [`MAX_KEY_LEN`].
    #[error("invalid key: {len} bytes, the limit is 250")]
    TooLong {
        /// Length of the key.
        len: usize,
    },
    /// The key holds whitespace or a control character.
    #[error("invalid key: byte {byte:#04x} at position {position} (whitespace or control)")]
    InvalidByte {
        /// The offending byte.
        byte: u8,
        /// Its position in the key.
        position: usize,
    },
    /// A meta key that must travel base64-encoded is longer than 250 bytes
    /// once encoded (more than [`MAX_BINARY_KEY_LEN`] raw bytes).
    #[error("invalid key: {len} bytes need {encoded} bytes base64-encoded, the limit is 250")]
    EncodedTooLong {
        /// Length of the raw key.
        len: usize,
        /// Length of its base64 form.
        encoded: usize,
    },
}

/// Whether a key may not hold `b`: whitespace or control.
fn invalid_byte(b: u8) -> bool {
    b <= b' ' || b == 0x7f
}

/// Whether `bytes` hold a byte no key may hold, checked without branches
/// (for many keys at once too: the compiler reads long runs in vectors).
#[inline]
pub(crate) fn has_invalid_byte(bytes: &[u8]) -> bool {
    bytes.iter().fold(false, |any, &b| any | invalid_byte(b))
}

/// Check `key` against the text protocol's rules.
///
/// ```
/// use memwire_core::key::{validate, KeyError};
/// assert!(validate(b"session_id").is_ok());
/// assert_eq!(validate(b""), Err(KeyError::Empty));
/// assert!(matches!(validate(b"a b"), Err(KeyError::InvalidByte { byte: b' ', position: 1 })));
/// assert!(validate("clé".as_bytes()).is_ok());
/// ```
pub fn validate(key: &[u8]) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(KeyError::TooLong { len: key.len() });
    }
    // Checked in one pass without branches (keys are short); the position
    // only for an invalid key.
    if !has_invalid_byte(key) {
        return Ok(());
    }
    match key.iter().position(|&b| invalid_byte(b)) {
        Some(position) => Err(KeyError::InvalidByte {
            byte: key.get(position).copied().unwrap_or_default(),
            position,
        }),
        None => Ok(()),
    }
}

/// A key as a meta command sends it.
///
/// ```
/// use memwire_core::key::{MetaKey, KeyError};
///
/// let text = MetaKey::new(b"user:42".as_slice().into())?;
/// assert_eq!((text.wire(), text.is_base64()), (&b"user:42"[..], false));
///
/// let binary = MetaKey::new(b"two words\0".as_slice().into())?;
/// assert_eq!((binary.wire(), binary.is_base64()), (&b"dHdvIHdvcmRzAA=="[..], true));
/// assert_eq!(&binary.raw()[..], b"two words\0");
///
/// assert_eq!(MetaKey::new(Default::default()), Err(KeyError::Empty));
/// assert!(MetaKey::new(vec![0u8; 187].into()).is_err()); // 252 bytes encoded
/// # Ok::<(), KeyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaKey {
    raw: Bytes,
    /// The base64 form, when the raw key is not a valid text key.
    encoded: Option<Bytes>,
}

impl MetaKey {
    /// Choose how `raw` travels: as it is when it is a valid text key,
    /// base64-encoded otherwise.
    ///
    /// # Errors
    ///
    /// [`KeyError::Empty`], or [`KeyError::EncodedTooLong`] when the key is
    /// not a valid text key and its base64 form exceeds 250 bytes.
    pub fn new(raw: Bytes) -> Result<MetaKey, KeyError> {
        match validate(&raw) {
            Ok(()) => Ok(MetaKey { raw, encoded: None }),
            Err(KeyError::Empty) => Err(KeyError::Empty),
            Err(_) => {
                let encoded = base64_len(raw.len());
                if encoded > MAX_KEY_LEN {
                    return Err(KeyError::EncodedTooLong {
                        len: raw.len(),
                        encoded,
                    });
                }
                let encoded = Bytes::from(STANDARD.encode(&raw));
                Ok(MetaKey {
                    raw,
                    encoded: Some(encoded),
                })
            }
        }
    }

    /// The key as the caller gave it (what placement hashes).
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The bytes that go on the command line.
    pub fn wire(&self) -> &[u8] {
        self.encoded.as_deref().unwrap_or(&self.raw)
    }

    /// Whether the key travels base64-encoded (with the `b` flag).
    pub fn is_base64(&self) -> bool {
        self.encoded.is_some()
    }
}

/// Length of the padded base64 form of `n` bytes.
fn base64_len(n: usize) -> usize {
    n.div_ceil(3).saturating_mul(4)
}

/// Decode a key a server returned base64-encoded (a `k` token with the
/// `b` flag); `None` if it is not valid padded base64.
///
/// ```
/// assert_eq!(memwire_core::key::decode_base64(b"AAE=").as_deref(), Some(&[0u8, 1][..]));
/// assert_eq!(memwire_core::key::decode_base64(b"not base64"), None);
/// ```
pub fn decode_base64(encoded: &[u8]) -> Option<Bytes> {
    // A returned key is at most 250 bytes encoded; refuse anything longer
    // before decoding.
    if encoded.len() > MAX_KEY_LEN {
        return None;
    }
    STANDARD.decode(encoded).ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_keys_pick_their_form() {
        let k = |raw: &[u8]| MetaKey::new(Bytes::copy_from_slice(raw));
        // Valid text keys as they are, up to 250 bytes.
        assert!(!k(&[b'k'; 250]).unwrap().is_base64());
        assert!(!k("clé".as_bytes()).unwrap().is_base64());
        // Everything else base64, up to 186 raw bytes.
        for raw in [&b"a b"[..], b"\r\n", b"\0", b"\x7f", &[0; 186]] {
            let key = k(raw).unwrap();
            assert!(key.is_base64(), "{raw:?}");
            assert!(key.wire().len() <= MAX_KEY_LEN);
            assert!(
                validate(key.wire()).is_ok(),
                "the base64 form is a text key"
            );
            assert_eq!(decode_base64(key.wire()).as_deref(), Some(raw));
        }
        assert_eq!(
            k(&[b'k'; 251]),
            Err(KeyError::EncodedTooLong {
                len: 251,
                encoded: 336
            })
        );
        assert_eq!(
            k(&[0; 187]),
            Err(KeyError::EncodedTooLong {
                len: 187,
                encoded: 252
            })
        );
        assert_eq!(k(b""), Err(KeyError::Empty));
        assert_eq!(base64_len(186), 248);
    }

    #[test]
    fn length_limits() {
        assert!(validate(&[b'k'; 250]).is_ok());
        assert_eq!(validate(&[b'k'; 251]), Err(KeyError::TooLong { len: 251 }));
    }

    #[test]
    fn every_control_byte_and_space_is_refused() {
        for b in (0u8..=0x20).chain([0x7f]) {
            let key = [b'a', b, b'z'];
            assert_eq!(
                validate(&key),
                Err(KeyError::InvalidByte {
                    byte: b,
                    position: 1
                })
            );
        }
        for b in 0x21u8..=0xff {
            if b != 0x7f {
                assert!(validate(&[b]).is_ok(), "byte {b:#x}");
            }
        }
    }
}
