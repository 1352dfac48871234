//! The cache on the smol client: [`Cache`].

/// The high-level async cache on `memwire::smol::Client` (see the [module
/// docs](super) and [`AsyncCache`](super::AsyncCache) for its methods).
///
/// ```no_run
/// use memwire::cache::smol::Cache;
///
/// smol::block_on(async {
///     let cache = Cache::builder().server("127.0.0.1:11211").build()?;
///     cache.set("cache_key", "cached value").await?;
///     Ok::<(), memwire::cache::CacheError>(())
/// })?;
/// # Ok::<(), memwire::cache::CacheError>(())
/// ```
pub type Cache = super::AsyncCache<crate::smol::Client>;
