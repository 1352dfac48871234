//! The cache on the tokio client: [`Cache`].

/// The high-level async cache on `memwire::tokio::Client` (see the
/// [module docs](super) and [`AsyncCache`](super::AsyncCache) for its
/// methods).
///
/// ```no_run
/// use memwire::cache::tokio::Cache;
///
/// # async fn f() -> Result<(), memwire::cache::CacheError> {
/// let cache = Cache::builder().server("127.0.0.1:11211").build()?;
/// cache.set("cache_key", "cached value").await?;
/// # Ok(()) }
/// ```
pub type Cache = super::AsyncCache<crate::tokio::Client>;
