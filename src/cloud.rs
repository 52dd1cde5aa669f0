//! The PresenceCloud overlay (DESIGN.md, "PresenceCloud"): many presence
//! nodes in one grid quorum. Membership, the grid, the one-hop cache,
//! directed buddy search and aggregated inter-node subscriptions are
//! sans-io here; the node drives them with the clock and the links.

pub mod cache;
pub mod grid;
pub mod membership;
pub mod message;
pub mod overlay;
pub mod simnet;
pub mod wire;
