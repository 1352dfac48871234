//! The blocking [`Cache`], on [`crate::blocking::Client`].

crate::api::cache_api! {
    /// A blocking high-level cache (see the [module docs](super)).
    ///
    /// `Send + Sync` and cheap to clone: share it between threads.
    ///
    /// ```no_run
    /// # #[cfg(feature = "serde")] {
    /// use memwire::cache::blocking::Cache;
    ///
    /// let cache = Cache::new()?; // 127.0.0.1:11211, lifetime 3600 s
    /// let key = cache.set("cache_key", "cached value")?;
    /// assert_eq!(key, "188693688126b424eb89e1385eca6f01");
    /// let v: Option<String> = cache.query("cache_key")?;
    /// cache.invalidate("cache_key")?;
    ///
    /// // Per call: another namespace, a lifetime, a raw key.
    /// cache.ns("3").lifetime(1).set(5, &[1, 2])?;
    /// assert_eq!(cache.raw().ns("NS_").set("a", "value of a")?, "NS_a");
    /// # }
    /// # Ok::<(), memwire::cache::CacheError>(())
    /// ```
    pub struct Cache(blocking::Client);
    example_cache: "memwire::cache::blocking::Cache",
    sleep: std::thread::sleep,
}
