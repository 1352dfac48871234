//! [`Hits`]: what a multi-key retrieval got, and which servers failed.

use std::ops::Deref;

use crate::cluster::ServerAddr;
use crate::error::Error;
use crate::response::Value;

/// The hits of a multi-key retrieval, in request order (misses absent),
/// with the servers that failed: a failed server costs only its own keys.
/// It reads like a slice of [`Value`]s.
///
/// ```
/// use memwire_core::client::ops::Hits;
/// use memwire_core::{Error, Value};
///
/// let hits = Hits::new(vec![Value::new("a", 0, "1")], vec![]);
/// assert!(hits.is_complete());
/// assert_eq!(hits.len(), 1);
/// assert_eq!(&hits[0].data[..], b"1");
/// for v in &hits {
///     println!("{:?}", v.key);
/// }
///
/// let down = "10.0.0.2:11211".parse()?;
/// let partial = Hits::new(vec![Value::new("a", 0, "1")], vec![(down, Error::Timeout)]);
/// assert!(!partial.is_complete());
/// assert_eq!(partial.failures()[0].0.to_string(), "10.0.0.2:11211");
/// assert!(partial.clone().into_result().is_err()); // all or nothing
/// assert_eq!(partial.into_values().len(), 1); // what came back
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Hits {
    values: Vec<Value>,
    failures: Vec<(ServerAddr, Error)>,
}

impl Hits {
    /// Hits and failed servers.
    pub fn new(values: Vec<Value>, failures: Vec<(ServerAddr, Error)>) -> Hits {
        Hits { values, failures }
    }

    /// The servers that failed, each with its error: their keys are
    /// neither hits nor known misses.
    pub fn failures(&self) -> &[(ServerAddr, Error)] {
        &self.failures
    }

    /// Whether every server answered: the absent keys are misses.
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty()
    }

    /// The hits, whatever failed.
    pub fn into_values(self) -> Vec<Value> {
        self.values
    }

    /// The hits when every server answered, else the first server's error.
    ///
    /// # Errors
    ///
    /// The error of the first server that failed.
    pub fn into_result(self) -> Result<Vec<Value>, Error> {
        match self.failures.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(self.values),
        }
    }
}

impl Deref for Hits {
    type Target = [Value];

    fn deref(&self) -> &[Value] {
        &self.values
    }
}

impl IntoIterator for Hits {
    type Item = Value;
    type IntoIter = std::vec::IntoIter<Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.values.into_iter()
    }
}

impl<'a> IntoIterator for &'a Hits {
    type Item = &'a Value;
    type IntoIter = std::slice::Iter<'a, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.values.iter()
    }
}

/// Equal to a list of values when the hits are those and nothing failed.
impl PartialEq<Vec<Value>> for Hits {
    fn eq(&self, other: &Vec<Value>) -> bool {
        self.is_complete() && self.values == *other
    }
}
