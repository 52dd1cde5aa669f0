//! The presence event package (RFC 3856, 3903, 6665): PIDF documents,
//! publications, subscriptions as dialogs, and the presence agent that ties
//! them together. Sans-io throughout; the node drives it.

pub mod agent;
pub mod pidf;
pub mod publication;
pub mod subscription;

pub mod authorization;
pub mod federation;
pub mod winfo;
mod xml;
