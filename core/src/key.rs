//! Key rules of the text protocol.
//!
//! A key is 1 to 250 bytes with no whitespace and no control characters
//! (bytes `0x00..=0x20` and `0x7f`). Bytes above `0x7f` (UTF-8) are allowed.
//! Every key is checked before anything is encoded, so a key can never
//! smuggle `\r\n` or a space into the command line.

/// Longest key memcached accepts, in bytes.
pub const MAX_KEY_LEN: usize = 250;

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
    match key.iter().position(|&b| b <= b' ' || b == 0x7f) {
        Some(position) => Err(KeyError::InvalidByte {
            byte: key.get(position).copied().unwrap_or_default(),
            position,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
