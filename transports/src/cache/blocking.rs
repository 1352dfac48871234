//! The cache on the blocking client: [`Cache`].

/// The high-level cache on [`crate::blocking::Client`] (see the [module
/// docs](super) and [`Cache`](super::Cache) for its methods).
///
/// ```no_run
/// use memwire::cache::blocking::Cache;
///
/// let cache = Cache::builder().server("127.0.0.1:11211").namespace("app").build()?;
/// cache.set("cache_key", "cached value")?;
/// # Ok::<(), memwire::cache::CacheError>(())
/// ```
pub type Cache = super::Cache<crate::blocking::Client>;
