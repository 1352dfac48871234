//! [`Conformance`] for the mio transport's ready-made client.

use std::collections::BTreeMap;

use memwire::cluster::ServerAddr;
use memwire::{
    ClientBuilder, Error, Exptime, PerServer, SizeStats, SlabStats, StatMap, Store, Value,
};

use crate::conformance::Conformance;

impl Conformance for memwire::mio::Client {
    fn build(builder: ClientBuilder) -> Self {
        builder
            .build()
            .unwrap_or_else(|e| panic!("client config: {e}"))
    }
    fn servers(&self) -> Vec<ServerAddr> {
        memwire::mio::Client::servers(self).to_vec()
    }
    fn server_for_key(&self, key: &str) -> ServerAddr {
        memwire::mio::Client::server_for_key(self, key).clone()
    }
    fn get(&self, key: &str) -> Result<Option<Value>, Error> {
        memwire::mio::Client::get(self, key)
    }
    fn gets(&self, key: &str) -> Result<Option<Value>, Error> {
        memwire::mio::Client::gets(self, key)
    }
    fn gat(&self, key: &str, exptime: Exptime) -> Result<Option<Value>, Error> {
        memwire::mio::Client::gat(self, key, exptime)
    }
    fn gats(&self, key: &str, exptime: Exptime) -> Result<Option<Value>, Error> {
        memwire::mio::Client::gats(self, key, exptime)
    }
    fn get_multi(&self, keys: &[&str]) -> Result<Vec<Value>, Error> {
        memwire::mio::Client::get_multi(self, keys)
    }
    fn gets_multi(&self, keys: &[&str]) -> Result<Vec<Value>, Error> {
        memwire::mio::Client::gets_multi(self, keys)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        memwire::mio::Client::set(self, key, value.to_vec())
    }
    fn add(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        memwire::mio::Client::add(self, key, value.to_vec())
    }
    fn replace(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        memwire::mio::Client::replace(self, key, value.to_vec())
    }
    fn append(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        memwire::mio::Client::append(self, key, value.to_vec())
    }
    fn prepend(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        memwire::mio::Client::prepend(self, key, value.to_vec())
    }
    fn cas(&self, key: &str, value: &[u8], cas_unique: u64) -> Result<(), Error> {
        memwire::mio::Client::cas(self, key, value.to_vec(), cas_unique)
    }
    fn store(&self, store: Store) -> Result<(), Error> {
        memwire::mio::Client::store(self, store)
    }
    fn delete(&self, key: &str) -> Result<(), Error> {
        memwire::mio::Client::delete(self, key)
    }
    fn touch(&self, key: &str, exptime: Exptime) -> Result<(), Error> {
        memwire::mio::Client::touch(self, key, exptime)
    }
    fn incr(&self, key: &str, delta: u64) -> Result<u64, Error> {
        memwire::mio::Client::incr(self, key, delta)
    }
    fn decr(&self, key: &str, delta: u64) -> Result<u64, Error> {
        memwire::mio::Client::decr(self, key, delta)
    }
    fn flush_all(&self) -> PerServer<()> {
        memwire::mio::Client::flush_all(self)
    }
    fn flush_all_delayed(&self, delay: u32) -> PerServer<()> {
        memwire::mio::Client::flush_all_delayed(self, delay)
    }
    fn version(&self) -> PerServer<String> {
        memwire::mio::Client::version(self)
    }
    fn verbosity(&self, level: u32) -> PerServer<()> {
        memwire::mio::Client::verbosity(self, level)
    }
    fn stats(&self) -> PerServer<StatMap> {
        memwire::mio::Client::stats(self)
    }
    fn stats_settings(&self) -> PerServer<StatMap> {
        memwire::mio::Client::stats_settings(self)
    }
    fn stats_items(&self) -> PerServer<BTreeMap<u32, StatMap>> {
        memwire::mio::Client::stats_items(self)
    }
    fn stats_sizes(&self) -> PerServer<SizeStats> {
        memwire::mio::Client::stats_sizes(self)
    }
    fn stats_slabs(&self) -> PerServer<SlabStats> {
        memwire::mio::Client::stats_slabs(self)
    }
    fn stats_conns(&self) -> PerServer<BTreeMap<u32, StatMap>> {
        memwire::mio::Client::stats_conns(self)
    }
    fn stats_reset(&self) -> PerServer<()> {
        memwire::mio::Client::stats_reset(self)
    }
    fn close(&self) {
        memwire::mio::Client::close(self)
    }
}
