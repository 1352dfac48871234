//! [`Values`]: the hits of one retrieval, the first held inline.

use std::fmt;
use std::ops::Deref;

use smallvec::SmallVec;

use super::Value;

/// The hits of one retrieval ([`Response::Values`](super::Response::Values)),
/// in request order, misses absent. It reads like a slice of [`Value`]s;
/// one value is held inline, so a single-key get allocates no list.
///
/// ```
/// use memwire_core::{Response, Value, Values};
///
/// let values: Values = [Value::new("a", 0, "1"), Value::new("b", 0, "2")]
///     .into_iter()
///     .collect();
/// assert_eq!(values.len(), 2);
/// assert_eq!(&values[1].data[..], b"2");
/// for v in &values {
///     println!("{:?} = {:?}", v.key, v.data);
/// }
/// let reply = Response::Values(Values::from(vec![Value::new("k", 0, "v")]));
/// if let Response::Values(values) = reply {
///     let first: Option<Value> = values.into_iter().next();
///     assert_eq!(first.map(|v| v.data), Some("v".into()));
/// }
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Values(SmallVec<[Value; 1]>);

impl Values {
    /// No values.
    pub fn new() -> Values {
        Values::default()
    }

    /// Append a value.
    pub fn push(&mut self, value: Value) {
        self.0.push(value);
    }

    /// Make room for exactly `additional` more values.
    pub fn reserve_exact(&mut self, additional: usize) {
        self.0.reserve_exact(additional);
    }

    /// The first value, if any (the others dropped), without an iterator.
    pub(crate) fn into_first(self) -> Option<Value> {
        let mut values = self.0;
        values.truncate(1);
        values.pop()
    }

    /// The values from `start` on, to fill in.
    pub(super) fn tail_mut(&mut self, start: usize) -> &mut [Value] {
        self.0.get_mut(start..).unwrap_or_default()
    }

    /// The values as a `Vec` (allocates when one was held inline).
    pub fn into_vec(self) -> Vec<Value> {
        self.0.into_vec()
    }
}

impl Deref for Values {
    type Target = [Value];

    fn deref(&self) -> &[Value] {
        &self.0
    }
}

impl fmt::Debug for Values {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl From<Vec<Value>> for Values {
    fn from(values: Vec<Value>) -> Values {
        Values(SmallVec::from_vec(values))
    }
}

impl From<Values> for Vec<Value> {
    fn from(values: Values) -> Vec<Value> {
        values.into_vec()
    }
}

impl FromIterator<Value> for Values {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Values {
        Values(iter.into_iter().collect())
    }
}

impl Extend<Value> for Values {
    fn extend<I: IntoIterator<Item = Value>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl PartialEq<Vec<Value>> for Values {
    fn eq(&self, other: &Vec<Value>) -> bool {
        self[..] == other[..]
    }
}

impl IntoIterator for Values {
    type Item = Value;
    type IntoIter = ValuesIntoIter;

    fn into_iter(self) -> ValuesIntoIter {
        ValuesIntoIter(self.0.into_iter())
    }
}

impl<'a> IntoIterator for &'a Values {
    type Item = &'a Value;
    type IntoIter = std::slice::Iter<'a, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The owning iterator of [`Values`].
#[derive(Debug)]
pub struct ValuesIntoIter(smallvec::IntoIter<[Value; 1]>);

impl Iterator for ValuesIntoIter {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        self.0.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for ValuesIntoIter {
    fn next_back(&mut self) -> Option<Value> {
        self.0.next_back()
    }
}

impl ExactSizeIterator for ValuesIntoIter {}

impl std::iter::FusedIterator for ValuesIntoIter {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_stays_inline_and_many_keep_their_order() {
        let mut values = Values::new();
        values.push(Value::new("a", 0, "1"));
        assert!(!values.0.spilled());
        values.push(Value::new("b", 0, "2"));
        let keys: Vec<_> = values.iter().map(|v| v.key.clone()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(values, values.clone().into_vec());
        assert_eq!(
            values.into_iter().next_back().map(|v| v.key),
            Some("b".into())
        );
    }

    #[test]
    fn debug_is_the_list() {
        let values = Values::from(vec![Value::new("k", 1, "v")]);
        assert_eq!(
            format!("{values:?}"),
            "[Value { key: b\"k\", flags: 1, cas: None, data: b\"v\" }]"
        );
    }
}
