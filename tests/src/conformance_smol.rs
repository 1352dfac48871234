//! [`Conformance`] for the async smol client: each call runs to
//! completion with `smol::block_on` on the calling thread; the connections
//! themselves run on smol's global executor, shared by every thread.

use std::collections::BTreeMap;

use memwire::cluster::ServerAddr;
use memwire::smol::Client;
use memwire::{
    ClientBuilder, Error, Exptime, PerServer, SizeStats, SlabStats, StatMap, Store, Value,
};
use smol::block_on;

use crate::conformance::Conformance;

impl Conformance for Client {
    fn build(builder: ClientBuilder) -> Self {
        builder
            .build()
            .unwrap_or_else(|e| panic!("client config: {e}"))
    }
    fn servers(&self) -> Vec<ServerAddr> {
        Client::servers(self).to_vec()
    }
    fn server_for_key(&self, key: &str) -> ServerAddr {
        Client::server_for_key(self, key).clone()
    }
    fn get(&self, key: &str) -> Result<Option<Value>, Error> {
        block_on(Client::get(self, key))
    }
    fn gets(&self, key: &str) -> Result<Option<Value>, Error> {
        block_on(Client::gets(self, key))
    }
    fn gat(&self, key: &str, exptime: Exptime) -> Result<Option<Value>, Error> {
        block_on(Client::gat(self, key, exptime))
    }
    fn gats(&self, key: &str, exptime: Exptime) -> Result<Option<Value>, Error> {
        block_on(Client::gats(self, key, exptime))
    }
    fn get_multi(&self, keys: &[&str]) -> Result<Vec<Value>, Error> {
        block_on(Client::get_multi(self, keys))
    }
    fn gets_multi(&self, keys: &[&str]) -> Result<Vec<Value>, Error> {
        block_on(Client::gets_multi(self, keys))
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        block_on(Client::set(self, key, value.to_vec()))
    }
    fn add(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        block_on(Client::add(self, key, value.to_vec()))
    }
    fn replace(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        block_on(Client::replace(self, key, value.to_vec()))
    }
    fn append(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        block_on(Client::append(self, key, value.to_vec()))
    }
    fn prepend(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        block_on(Client::prepend(self, key, value.to_vec()))
    }
    fn cas(&self, key: &str, value: &[u8], cas_unique: u64) -> Result<(), Error> {
        block_on(Client::cas(self, key, value.to_vec(), cas_unique))
    }
    fn store(&self, store: Store) -> Result<(), Error> {
        block_on(Client::store(self, store))
    }
    fn delete(&self, key: &str) -> Result<(), Error> {
        block_on(Client::delete(self, key))
    }
    fn touch(&self, key: &str, exptime: Exptime) -> Result<(), Error> {
        block_on(Client::touch(self, key, exptime))
    }
    fn incr(&self, key: &str, delta: u64) -> Result<u64, Error> {
        block_on(Client::incr(self, key, delta))
    }
    fn decr(&self, key: &str, delta: u64) -> Result<u64, Error> {
        block_on(Client::decr(self, key, delta))
    }
    fn flush_all(&self) -> PerServer<()> {
        block_on(Client::flush_all(self))
    }
    fn flush_all_delayed(&self, delay: u32) -> PerServer<()> {
        block_on(Client::flush_all_delayed(self, delay))
    }
    fn version(&self) -> PerServer<String> {
        block_on(Client::version(self))
    }
    fn verbosity(&self, level: u32) -> PerServer<()> {
        block_on(Client::verbosity(self, level))
    }
    fn stats(&self) -> PerServer<StatMap> {
        block_on(Client::stats(self))
    }
    fn stats_settings(&self) -> PerServer<StatMap> {
        block_on(Client::stats_settings(self))
    }
    fn stats_items(&self) -> PerServer<BTreeMap<u32, StatMap>> {
        block_on(Client::stats_items(self))
    }
    fn stats_sizes(&self) -> PerServer<SizeStats> {
        block_on(Client::stats_sizes(self))
    }
    fn stats_slabs(&self) -> PerServer<SlabStats> {
        block_on(Client::stats_slabs(self))
    }
    fn stats_conns(&self) -> PerServer<BTreeMap<u32, StatMap>> {
        block_on(Client::stats_conns(self))
    }
    fn stats_reset(&self) -> PerServer<()> {
        block_on(Client::stats_reset(self))
    }
    fn close(&self) {
        block_on(Client::close(self))
    }
}
