//! presencecloud: a SIP/SIMPLE presence proxy.
//!
//! The layers, top to bottom (see DESIGN.md in the project's shared notes):
//! - [`sip`]: message model, nom parser, printer, typed headers and URIs;
//!   pure, no I/O and no clock.
//! - [`transaction`]: RFC 3261 §17 state machines; pure, time is an input.
//! - [`router`]: what to do with a request (answer here or serve); pure.
//! - [`transport`]: UDP and TCP sockets, stream framing, connections.
//! - [`node`]: the async driver that owns sockets, clock and tasks.
//! - [`config`], [`logging`], [`admin`]: the CLI and file, tracing, and the
//!   admin HTTP listener.
//!
//! Later layers (transactions, presence, the PresenceCloud overlay, store,
//! telemetry) build on `sip` and never the other way round.

#![forbid(unsafe_code)]

pub mod admin;
pub mod cloud;
pub mod config;
pub mod latency;
pub mod locate;
pub mod logging;
pub mod node;
pub mod presence;
pub mod proxy;
pub mod router;
pub mod simulate;
pub mod sip;
pub mod store;
pub mod telemetry;
pub mod transaction;
pub mod transport;
