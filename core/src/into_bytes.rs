//! [`IntoBytes`]: what a value argument accepts.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};

/// A value that becomes the data of a request: owned buffers are moved in
/// without copying, borrowed ones (`&[u8]`, `&str`, `&Vec<u8>`, ...) are
/// copied once, so a value borrowed from a local buffer needs no `'static`
/// lifetime.
///
/// ```
/// use memwire_core::{Command, IntoBytes};
///
/// let buf = vec![1u8, 2, 3];
/// let set = Command::set("k", &buf[..]); // borrowed: copied
/// let name = String::from("text");
/// let set2 = Command::set("k", name.as_str());
/// let set3 = Command::set("k", buf); // owned: moved
/// assert_eq!(&set.data[..], &set3.data[..]);
/// # let _ = set2;
/// assert_eq!(&"abc".into_bytes()[..], b"abc");
/// ```
pub trait IntoBytes {
    /// The bytes.
    fn into_bytes(self) -> Bytes;
}

impl IntoBytes for Bytes {
    fn into_bytes(self) -> Bytes {
        self
    }
}

impl IntoBytes for BytesMut {
    fn into_bytes(self) -> Bytes {
        self.freeze()
    }
}

impl IntoBytes for Vec<u8> {
    fn into_bytes(self) -> Bytes {
        Bytes::from(self)
    }
}

impl IntoBytes for String {
    fn into_bytes(self) -> Bytes {
        Bytes::from(self)
    }
}

impl IntoBytes for Box<[u8]> {
    fn into_bytes(self) -> Bytes {
        Bytes::from(self)
    }
}

impl IntoBytes for &Bytes {
    fn into_bytes(self) -> Bytes {
        self.clone()
    }
}

impl<const N: usize> IntoBytes for [u8; N] {
    fn into_bytes(self) -> Bytes {
        Bytes::copy_from_slice(&self)
    }
}

impl IntoBytes for Cow<'_, [u8]> {
    fn into_bytes(self) -> Bytes {
        match self {
            Cow::Borrowed(b) => Bytes::copy_from_slice(b),
            Cow::Owned(v) => Bytes::from(v),
        }
    }
}

impl IntoBytes for Cow<'_, str> {
    fn into_bytes(self) -> Bytes {
        match self {
            Cow::Borrowed(s) => Bytes::copy_from_slice(s.as_bytes()),
            Cow::Owned(s) => Bytes::from(s),
        }
    }
}

/// Borrowed byte-like values: copied.
macro_rules! copied {
    ($($t:ty),*) => {$(
        impl IntoBytes for $t {
            fn into_bytes(self) -> Bytes {
                let bytes: &[u8] = self.as_ref();
                Bytes::copy_from_slice(bytes)
            }
        }
    )*};
}
copied!(&[u8], &str, &String, &Vec<u8>, &Box<[u8]>);

impl<const N: usize> IntoBytes for &[u8; N] {
    fn into_bytes(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_values_are_not_copied() {
        let b = Bytes::from(vec![7u8; 64]);
        let ptr = b.as_ptr();
        assert_eq!(b.clone().into_bytes().as_ptr(), ptr);
        let v = vec![1u8; 64];
        let ptr = v.as_ptr();
        assert_eq!(v.into_bytes().as_ptr(), ptr);
        let s = String::from("hello world");
        let ptr = s.as_ptr();
        let b = s.into_bytes();
        assert_eq!(b.as_ptr(), ptr);
    }

    #[test]
    fn borrowed_values_are_copied() {
        let local = [9u8; 4];
        assert_eq!(&local.into_bytes()[..], &[9; 4]);
        assert_eq!(&(&local).into_bytes()[..], &[9; 4]);
        assert_eq!(&(&local[..2]).into_bytes()[..], &[9; 2]);
        let s = String::from("x");
        assert_eq!(&(&s).into_bytes()[..], b"x");
        assert_eq!(&Cow::Borrowed("ab").into_bytes()[..], b"ab");
    }
}
