//! presencecloud: a SIP/SIMPLE presence proxy.
//!
//! The layers, top to bottom (see DESIGN.md in the project's shared notes):
//! - [`sip`]: message model, nom parser, printer, typed headers and URIs;
//!   pure, no I/O and no clock.
//!
//! Later layers (transactions, presence, the PresenceCloud overlay, store,
//! telemetry) build on `sip` and never the other way round.

#![forbid(unsafe_code)]

pub mod sip;
