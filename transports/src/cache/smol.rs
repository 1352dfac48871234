//! The async [`Cache`] for smol, on [`crate::smol::Client`]: the same API
//! as `blocking::Cache`, with `async` operations.

crate::api::cache_api! {
    /// An async high-level cache for smol (see the [module docs](super)).
    ///
    /// `Send + Sync` and cheap to clone: share it between threads.
    ///
    /// ```no_run
    /// # #[cfg(feature = "serde")] {
    /// use memwire::cache::smol::Cache;
    ///
    /// smol::block_on(async {
    ///     let cache = Cache::new()?; // 127.0.0.1:11211, lifetime 3600 s
    ///     let key = cache.set("cache_key", "cached value").await?;
    ///     assert_eq!(key, "188693688126b424eb89e1385eca6f01");
    ///     let v: Option<String> = cache.query("cache_key").await?;
    ///     cache.invalidate("cache_key").await?;
    ///     cache.ns("3").lifetime(1).set(5, &[1, 2]).await?;
    ///     Ok::<(), memwire::cache::CacheError>(())
    /// })?;
    /// # }
    /// # Ok::<(), memwire::cache::CacheError>(())
    /// ```
    pub struct Cache(smol::Client);
    example_cache: "memwire::cache::smol::Cache",
    sleep: ::smol::Timer::after,
    async: {
        async await
        "# smol::block_on(async {"
        "# })?;\n# Ok::<(), memwire::cache::CacheError>(())"
    },
}
