//! Test support: real memcached processes on free loopback ports.
