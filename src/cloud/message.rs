//! What PresenceCloud nodes say to each other, independent of how it is
//! framed (see [`wire`](super::wire) for the frames). One frame carries a
//! batch: `Vec<Message>`.
//!
//! The list, by concern:
//! - membership: [`Message::Gossip`] (every member's heartbeat as the sender
//!   sees it);
//! - probe: [`Message::Ping`] / [`Message::Pong`] with a correlator, each
//!   carrying the sender's [`Report`] (its RTTs and load, for the admin
//!   view's latency matrix and grid);
//! - one-hop cache: [`Message::Deltas`] (attach, state, detach, numbered per
//!   origin), [`Message::Snapshot`] (every user of the origin, sent on a new
//!   link and on request), [`Message::Resync`] (a gap was seen: send a
//!   snapshot);
//! - directed search: [`Message::Search`] (find these users; remember the
//!   interest), [`Message::Found`] (where they are: an answer to a search or,
//!   later, a standing interest met), [`Message::Forget`] (drop interests);
//! - aggregated subscriptions: [`Message::Subscribe`] /
//!   [`Message::Unsubscribe`] (one per presentity and watching node) and
//!   [`Message::Notify`] (the presentity's state at its home).

use serde::{Deserialize, Serialize};

/// A member as one node sees it. The highest (generation, heartbeat) is the
/// freshest news.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberState {
    pub name: String,
    /// The member's cluster address, HOST:PORT.
    pub addr: String,
    /// Set when the process starts (ms since the epoch): a restarted node is
    /// a new generation of the same name.
    pub generation: u64,
    pub heartbeat: u64,
}

/// What a node says of itself in its probes: the round trips it measured
/// to its peers (microseconds) and its load.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub rtt_us: std::collections::BTreeMap<String, u64>,
    pub load: Load,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Load {
    pub subscriptions: u64,
    pub publications: u64,
}

/// One change to the users of an origin node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delta {
    /// The user now has a publication here; its state (PIDF) as composed at
    /// the origin.
    Attach { aor: String, state: String },
    /// The state of an attached user changed.
    State { aor: String, state: String },
    /// The user has no publication here any more.
    Detach { aor: String },
}

impl Delta {
    pub fn aor(&self) -> &str {
        match self {
            Delta::Attach { aor, .. } | Delta::State { aor, .. } | Delta::Detach { aor } => aor,
        }
    }
}

/// An attached user in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub aor: String,
    pub state: String,
}

/// Where a user was found: the node it is attached to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Hit {
    pub aor: String,
    pub home: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    Gossip {
        members: Vec<MemberState>,
    },
    Ping {
        id: u64,
        #[serde(default)]
        report: Report,
    },
    Pong {
        id: u64,
        #[serde(default)]
        report: Report,
    },
    /// Deltas of `origin`, numbered `first_seq`, `first_seq + 1`, ... in
    /// that origin's `generation`.
    Deltas {
        origin: String,
        generation: u64,
        first_seq: u64,
        deltas: Vec<Delta>,
    },
    /// Every user of `origin`; `seq` is the number of the last delta it
    /// includes.
    Snapshot {
        origin: String,
        generation: u64,
        seq: u64,
        users: Vec<User>,
    },
    /// Ask `origin` (the receiver) for a snapshot.
    Resync {
        origin: String,
    },
    /// Find `aors`, on the receiver and in what it caches, and keep an
    /// interest in them: when one attaches later where the receiver sees
    /// it, answer with `Found { id: 0, .. }`.
    Search {
        id: u64,
        aors: Vec<String>,
    },
    /// Homes of searched users. `id` is the search's, or 0 for a standing
    /// interest met later. `done` is set on a search's answer (even with no
    /// hits).
    Found {
        id: u64,
        hits: Vec<Hit>,
        done: bool,
    },
    /// The sender no longer wants to hear about `aors`.
    Forget {
        aors: Vec<String>,
    },
    /// The sender's watchers want `aors` (attached at the receiver).
    Subscribe {
        aors: Vec<String>,
    },
    Unsubscribe {
        aors: Vec<String>,
    },
    /// The state of `aor` at its home (the sender), numbered per (home,
    /// aor); `None` when it detached.
    Notify {
        aor: String,
        version: u64,
        state: Option<String>,
    },
}

impl Message {
    /// The label used for `presencecloud_cloud_messages_total{type}`.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Gossip { .. } => "gossip",
            Message::Ping { .. } => "ping",
            Message::Pong { .. } => "pong",
            Message::Deltas { .. } => "deltas",
            Message::Snapshot { .. } => "snapshot",
            Message::Resync { .. } => "resync",
            Message::Search { .. } => "search",
            Message::Found { .. } => "found",
            Message::Forget { .. } => "forget",
            Message::Subscribe { .. } => "subscribe",
            Message::Unsubscribe { .. } => "unsubscribe",
            Message::Notify { .. } => "notify",
        }
    }
}
