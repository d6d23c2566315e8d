//! The in-process layer: HTTP, service, registry and cache behaviour over the fake
//! engine (`common/fake.rs`), through the router with `oneshot`. No weights, no
//! sockets, no server process; nothing waits on the wall clock to decide an outcome
//! (forward passes are held at a gate and released when the test says so).

#[path = "../common/mod.rs"]
mod common;

mod api;
mod cache;
mod identity;
mod registry;
mod tokens;
mod ttl;
