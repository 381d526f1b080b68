//! Test support shared by the integration tests: a moto server per test binary, a Prometheus
//! server per test with `kong sim serve` as its target,
//! AWS fixtures created through the SDK, a fault-injecting proxy, and a `kong` runner.
//!
//! Each test binary uses only part of it.
#![allow(dead_code)]

pub mod fleet;
pub mod kong;
pub mod moto;
pub mod prometheus;
pub mod proxy;
pub mod webhook;
