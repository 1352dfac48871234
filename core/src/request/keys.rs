//! [`Keys`]: the keys of one retrieval, the first held inline.

use std::fmt;
use std::ops::{Deref, DerefMut};

use bytes::Bytes;
use smallvec::SmallVec;

/// The keys of a [`Retrieve`](super::Retrieve), in request order. It reads
/// like a slice of [`Bytes`]; one key is held inline, so a single-key get
/// allocates no list.
///
/// ```
/// use bytes::Bytes;
/// use memwire_core::{Command, Keys};
///
/// let get = Command::get_multi(["a", "b"]);
/// assert_eq!(get.keys.len(), 2);
/// assert_eq!(get.keys[1], "b");
/// let keys: Keys = ["x", "y"].into_iter().map(Bytes::from).collect();
/// assert_eq!(keys, vec![Bytes::from("x"), Bytes::from("y")]);
/// for k in &keys {
///     println!("{k:?}");
/// }
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Keys(SmallVec<[Bytes; 1]>);

impl Keys {
    /// No keys.
    pub fn new() -> Keys {
        Keys::default()
    }

    /// No keys, with room for `n` (none allocated for one).
    pub fn with_capacity(n: usize) -> Keys {
        Keys(SmallVec::with_capacity(n))
    }

    /// Append a key.
    pub fn push(&mut self, key: Bytes) {
        self.0.push(key);
    }

    /// The keys as a `Vec` (allocates when one was held inline).
    pub fn into_vec(self) -> Vec<Bytes> {
        self.0.into_vec()
    }
}

impl Deref for Keys {
    type Target = [Bytes];

    fn deref(&self) -> &[Bytes] {
        &self.0
    }
}

impl DerefMut for Keys {
    fn deref_mut(&mut self) -> &mut [Bytes] {
        &mut self.0
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl From<Bytes> for Keys {
    fn from(key: Bytes) -> Keys {
        let mut keys = Keys::new();
        keys.push(key);
        keys
    }
}

impl From<Vec<Bytes>> for Keys {
    fn from(keys: Vec<Bytes>) -> Keys {
        Keys(SmallVec::from_vec(keys))
    }
}

impl FromIterator<Bytes> for Keys {
    fn from_iter<I: IntoIterator<Item = Bytes>>(iter: I) -> Keys {
        Keys(iter.into_iter().collect())
    }
}

impl Extend<Bytes> for Keys {
    fn extend<I: IntoIterator<Item = Bytes>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl PartialEq<Vec<Bytes>> for Keys {
    fn eq(&self, other: &Vec<Bytes>) -> bool {
        self[..] == other[..]
    }
}

impl IntoIterator for Keys {
    type Item = Bytes;
    type IntoIter = KeysIntoIter;

    fn into_iter(self) -> KeysIntoIter {
        KeysIntoIter(self.0.into_iter())
    }
}

impl<'a> IntoIterator for &'a Keys {
    type Item = &'a Bytes;
    type IntoIter = std::slice::Iter<'a, Bytes>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The owning iterator of [`Keys`].
#[derive(Debug)]
pub struct KeysIntoIter(smallvec::IntoIter<[Bytes; 1]>);

impl Iterator for KeysIntoIter {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        self.0.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for KeysIntoIter {
    fn next_back(&mut self) -> Option<Bytes> {
        self.0.next_back()
    }
}

impl ExactSizeIterator for KeysIntoIter {}

impl std::iter::FusedIterator for KeysIntoIter {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_stays_inline_and_many_keep_their_order() {
        let mut keys = Keys::from(Bytes::from("a"));
        assert!(!keys.0.spilled());
        keys.push(Bytes::from("b"));
        assert_eq!(keys, keys.clone().into_vec());
        assert_eq!(format!("{keys:?}"), "[b\"a\", b\"b\"]");
        assert_eq!(keys.into_iter().collect::<Vec<_>>(), ["a", "b"]);
    }
}
