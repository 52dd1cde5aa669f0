//! `presencecloud simulate`: the cost of finding a user's buddies on user
//! arrival (DESIGN.md, "Cost to measure"), for three architectures over the
//! same nodes, users, buddy lists and latency model:
//!
//! - **presencecloud** runs the real overlay: n [`Overlay::preset`] nodes
//!   (members given, no gossip, the probe off) on an event queue with the
//!   latency model below. What is counted is what the overlay does: the
//!   search messages of its `SearchDone` events, every message delivered (by
//!   kind), and each search's `elapsed`.
//! - **mesh** (baseline): an arrival asks every other node (n − 1 queries,
//!   n − 1 replies, one hop each); its latency is the slowest round trip.
//! - **dht** (baseline): Chord over the same n nodes with real finger
//!   tables. Node ids and user keys are a seeded hash of the names onto a
//!   2^32 ring; a key lives at its successor. Each buddy lookup starts at
//!   the arriving user's home and routes greedily (closest preceding
//!   finger); its messages are its hops, its answer goes straight back (one
//!   more message, in `total_msgs` only), its latency is the sum of the hop
//!   delays plus that answer. The arriving user's own registration (a put
//!   routed the same way) is in `total_msgs`, not in the search messages.
//!
//! **Workload** (one per (n, U, B, seed), shared by the three): users
//! `u0@sim` .. `u{U−1}@sim`, each with a home node drawn uniformly and B
//! distinct buddies drawn uniformly from the other users (buddies may not
//! have arrived yet). Users arrive one at a time, in order. On arrival the
//! user attaches at its home (`set_local`) and its home watches each buddy
//! (`watch`); the overlay batches these into one search (its batch delay).
//! The network runs until it is quiet before the next user arrives. A node
//! searches only for buddies it does not already want (an earlier user of
//! that node may have watched them: the aggregated subscription serves
//! both); the baselines follow the same rule, so an arrival whose buddies
//! are all wanted at its home already costs nothing in any architecture.
//!
//! **Latency model**: each node gets a point drawn uniformly (seeded) in
//! the unit square; the one-way delay between two nodes is
//! `1 + round(49 · distance / √2)` ms, so 1 to 50 ms.
//!
//! **Warm-up** (not counted): before the first arrival every overlay node
//! brings its PS links up (each PS peer gets its, empty, snapshot, so the
//! caches start in step as after a real join; `Overlay::preset` drops the
//! snapshots it makes, so without this each PS link's first delta batch
//! would be a gap, answered by a resync and a snapshot). Each node also
//! runs its first tick at once, and the PINGs of that tick are dropped: the
//! probe is off (its interval is so long that it never comes again).
//!
//! Columns: `search_msgs_per_arrival` is the search requests sent per user
//! arrival, over all arrivals (Search messages for presencecloud, queries
//! for mesh, lookup hops for dht); `total_msgs` is every inter-node message
//! of the workload (for presencecloud also the cache deltas, answers,
//! aggregated subscriptions and their notifies); `mean_search_hops` is how
//! far a search request travels before it is answered (presencecloud:
//! delivered Search messages per Search message sent: the overlay never
//! forwards one); `p99_search_ms` is the 99th percentile (nearest rank) of
//! the latency of the arrivals that searched (presencecloud: the overlay's
//! `SearchDone.elapsed`, which starts when the batch is flushed).
//!
//! The sweep (`--sweep`, or no `--nodes`) runs n = 16, 32, .., 4096 (or up
//! to `--nodes`); U defaults to 2n capped at [`DEFAULT_USERS_CAP`], B to 10.
//! Runs go on as many threads as there are cores, the costliest first.
//! Measured in release on 2 busy cores: the whole sweep of the three
//! architectures (`cargo run --release -- simulate --arch all --sweep`)
//! takes about 35 s and peaks at about 9.5 GB, nearly all of it the
//! presencecloud run at n = 4096: every preset overlay holds the whole
//! member table (about 400 bytes per member, so n² in all), which is why
//! `--nodes` stops at [`MAX_OVERLAY_NODES`] for presencecloud.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use crate::cloud::grid::side;
use crate::cloud::membership::Dest;
use crate::cloud::message::Message;
use crate::cloud::overlay::{Event, Overlay, Settings};
use crate::cloud::simnet::name;

/// Default U for a given n is 2n, at most this.
pub const DEFAULT_USERS_CAP: usize = 4096;
/// The largest n for the real overlay: every simulated node holds the
/// whole member list, so memory grows with n².
pub const MAX_OVERLAY_NODES: usize = 4096;
/// The largest n for the baselines.
pub const MAX_NODES: usize = 1 << 20;
/// The sweep starts here and doubles.
pub const SWEEP_FROM: usize = 16;
pub const SWEEP_TO: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{0}")]
    Args(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("plot: {0}")]
    Plot(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArchArg {
    Mesh,
    Dht,
    Presencecloud,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Arch {
    Mesh,
    Dht,
    PresenceCloud,
}

impl Arch {
    pub const ALL: [Arch; 3] = [Arch::Mesh, Arch::Dht, Arch::PresenceCloud];

    pub fn label(self) -> &'static str {
        match self {
            Arch::Mesh => "mesh",
            Arch::Dht => "dht",
            Arch::PresenceCloud => "presencecloud",
        }
    }
}

/// The flags of `presencecloud simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Which architecture to simulate.
    #[arg(long, value_enum, default_value = "all")]
    pub arch: ArchArg,
    /// Number of nodes; without it (or with --sweep) n = 16, 32, .., 4096
    /// (or up to N).
    #[arg(long, value_name = "N")]
    pub nodes: Option<usize>,
    /// Number of users [default: 2n, at most 4096].
    #[arg(long, value_name = "U")]
    pub users: Option<usize>,
    /// Buddies per user.
    #[arg(long, value_name = "B", default_value_t = 10)]
    pub buddies: usize,
    /// Seed of the workload, the node positions and the DHT hash.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Write the results as CSV.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Plot search messages per arrival against n (SVG).
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Run n = 16, 32, .., 4096 (or up to --nodes).
    #[arg(long)]
    pub sweep: bool,
}

/// One simulation's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    pub nodes: usize,
    pub users: usize,
    pub buddies: usize,
    pub seed: u64,
}

/// One line of the results.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub arch: Arch,
    pub nodes: usize,
    pub users: usize,
    pub buddies: usize,
    pub search_msgs_per_arrival: f64,
    pub total_msgs: u64,
    pub mean_search_hops: f64,
    pub p99_search_ms: u64,
    /// Arrivals that searched (had a buddy not yet wanted at their home).
    pub searches: u64,
    /// The most search messages one arrival cost.
    pub max_search_msgs: u64,
    /// Searches some peer did not answer in time (presencecloud).
    pub timed_out: u64,
    /// Messages delivered, by kind (presencecloud).
    pub by_kind: BTreeMap<&'static str, u64>,
    /// Wall time of this simulation.
    pub wall_ms: u128,
}

pub const CSV_HEADER: &str =
    "arch,nodes,users,buddies,search_msgs_per_arrival,total_msgs,mean_search_hops,p99_search_ms";

/// A small, seeded generator (splitmix64): the same seed gives the same
/// workload on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seeded hash of a name onto the 2^32 ring.
pub fn ring_hash(seed: u64, name: &str) -> u32 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ mix(seed);
    for b in name.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    (mix(h) >> 32) as u32
}

pub fn user(j: usize) -> String {
    format!("u{j}@sim")
}

/// Who lives where and who watches whom: the same for every architecture.
#[derive(Debug, Clone)]
pub struct Plan {
    pub nodes: usize,
    /// Home node of each user.
    pub homes: Vec<usize>,
    /// Buddies of each user (user indices).
    pub buddies: Vec<Vec<usize>>,
}

impl Plan {
    pub fn new(w: &Workload) -> Plan {
        let mut rng = Rng::new(w.seed ^ 0x5eed_0001);
        let homes = (0..w.users).map(|_| rng.below(w.nodes)).collect();
        let buddies = (0..w.users)
            .map(|u| pick(&mut rng, w.users, w.buddies, u))
            .collect();
        Plan {
            nodes: w.nodes,
            homes,
            buddies,
        }
    }

    /// For each arrival, the buddies its home does not want yet (the
    /// rule every architecture follows).
    pub fn new_interests(&self) -> Vec<Vec<usize>> {
        let mut wanted: HashSet<(usize, usize)> = HashSet::new();
        self.homes
            .iter()
            .zip(&self.buddies)
            .map(|(&h, bs)| {
                bs.iter()
                    .copied()
                    .filter(|&b| wanted.insert((h, b)))
                    .collect()
            })
            .collect()
    }
}

/// `count` distinct values of 0..n other than `except`.
fn pick(rng: &mut Rng, n: usize, count: usize, except: usize) -> Vec<usize> {
    if 2 * count >= n {
        let mut all: Vec<usize> = (0..n).filter(|&v| v != except).collect();
        for i in 0..count {
            let j = i + rng.below(all.len() - i);
            all.swap(i, j);
        }
        all.truncate(count);
        return all;
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let v = rng.below(n);
        if v != except && seen.insert(v) {
            out.push(v);
        }
    }
    out
}

/// One-way delays (ms) from node positions in the unit square.
#[derive(Debug, Clone)]
pub struct Latency {
    points: Vec<(f64, f64)>,
}

impl Latency {
    pub fn new(nodes: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x1a7e_0002);
        Latency {
            points: (0..nodes).map(|_| (rng.unit(), rng.unit())).collect(),
        }
    }

    /// 1 + round(49 · distance / √2) ms between two nodes; 0 to itself.
    pub fn delay(&self, a: usize, b: usize) -> u64 {
        if a == b {
            return 0;
        }
        let (p, q) = (self.points[a], self.points[b]);
        let d = ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)).sqrt();
        1 + (49.0 * d / std::f64::consts::SQRT_2).round() as u64
    }
}

/// The 99th percentile (nearest rank), 0 for no samples.
fn p99(samples: &mut [u64]) -> u64 {
    samples.sort_unstable();
    crate::latency::percentile(samples, 99).unwrap_or(0)
}

fn row(arch: Arch, w: &Workload) -> Row {
    Row {
        arch,
        nodes: w.nodes,
        users: w.users,
        buddies: w.buddies,
        search_msgs_per_arrival: 0.0,
        total_msgs: 0,
        mean_search_hops: 0.0,
        p99_search_ms: 0,
        searches: 0,
        max_search_msgs: 0,
        timed_out: 0,
        by_kind: BTreeMap::new(),
        wall_ms: 0,
    }
}

/// Runs one architecture on one workload.
pub fn simulate(arch: Arch, w: &Workload) -> Row {
    let started = std::time::Instant::now();
    let plan = Plan::new(w);
    let latency = Latency::new(w.nodes, w.seed);
    let mut r = match arch {
        Arch::Mesh => mesh(w, &plan, &latency),
        Arch::Dht => dht(w, &plan, &latency),
        Arch::PresenceCloud => presencecloud(w, &plan, &latency),
    };
    r.wall_ms = started.elapsed().as_millis();
    r
}

fn mesh(w: &Workload, plan: &Plan, latency: &Latency) -> Row {
    let n = w.nodes;
    let mut r = row(Arch::Mesh, w);
    let mut samples = Vec::new();
    let mut search_msgs = 0u64;
    for (u, fresh) in plan.new_interests().iter().enumerate() {
        if fresh.is_empty() || n < 2 {
            continue;
        }
        let home = plan.homes[u];
        let msgs = (n - 1) as u64;
        search_msgs += msgs;
        r.total_msgs += 2 * msgs;
        r.searches += 1;
        r.max_search_msgs = r.max_search_msgs.max(msgs);
        let slowest = (0..n)
            .filter(|&j| j != home)
            .map(|j| 2 * latency.delay(home, j))
            .max()
            .unwrap_or(0);
        samples.push(slowest);
    }
    r.search_msgs_per_arrival = search_msgs as f64 / w.users.max(1) as f64;
    r.mean_search_hops = if r.searches > 0 { 1.0 } else { 0.0 };
    r.p99_search_ms = p99(&mut samples);
    r
}

/// A Chord ring over nodes `0..n` with real finger tables.
#[derive(Debug, Clone)]
pub struct Chord {
    /// Ring position of each node.
    pub ids: Vec<u32>,
    /// Nodes in ring order.
    ring: Vec<usize>,
    /// fingers[x][i] = successor(ids[x] + 2^i).
    fingers: Vec<[u32; 32]>,
}

/// x in (a, b] on the ring (the whole ring when a == b).
fn in_half_open(x: u32, a: u32, b: u32) -> bool {
    match a.cmp(&b) {
        std::cmp::Ordering::Less => a < x && x <= b,
        std::cmp::Ordering::Greater => x > a || x <= b,
        std::cmp::Ordering::Equal => true,
    }
}

/// x in (a, b) on the ring (all but a when a == b).
fn in_open(x: u32, a: u32, b: u32) -> bool {
    match a.cmp(&b) {
        std::cmp::Ordering::Less => a < x && x < b,
        std::cmp::Ordering::Greater => x > a || x < b,
        std::cmp::Ordering::Equal => x != a,
    }
}

impl Chord {
    /// Node ids hash `name(i)` with `seed`; a collision rehashes with a
    /// counter.
    pub fn new(n: usize, seed: u64) -> Chord {
        let mut taken = HashSet::new();
        let ids: Vec<u32> = (0..n)
            .map(|i| {
                let mut salt = 0u64;
                loop {
                    let id = ring_hash(seed.wrapping_add(salt), &name(i));
                    if taken.insert(id) {
                        return id;
                    }
                    salt += 1;
                }
            })
            .collect();
        let mut ring: Vec<usize> = (0..n).collect();
        ring.sort_by_key(|&i| ids[i]);
        let mut chord = Chord {
            ids,
            ring,
            fingers: Vec::new(),
        };
        chord.fingers = (0..n)
            .map(|x| {
                let mut f = [0u32; 32];
                for (i, slot) in f.iter_mut().enumerate() {
                    *slot = chord.owner(chord.ids[x].wrapping_add(1u32 << i)) as u32;
                }
                f
            })
            .collect();
        chord
    }

    /// The node responsible for `key`: its successor on the ring.
    pub fn owner(&self, key: u32) -> usize {
        let i = self.ring.partition_point(|&x| self.ids[x] < key);
        self.ring[i % self.ring.len()]
    }

    pub fn successor(&self, x: usize) -> usize {
        self.fingers[x][0] as usize
    }

    /// The nodes a lookup of `key` from `from` visits, in order (empty when
    /// `from` owns it): to the successor when the key lies between a node
    /// and its successor, else to the closest finger preceding the key.
    pub fn route(&self, from: usize, key: u32) -> Vec<usize> {
        let target = self.owner(key);
        let mut path = Vec::new();
        let mut cur = from;
        while cur != target {
            let here = self.ids[cur];
            let succ = self.successor(cur);
            let next = if in_half_open(key, here, self.ids[succ]) {
                succ
            } else {
                self.fingers[cur]
                    .iter()
                    .rev()
                    .map(|&f| f as usize)
                    .find(|&f| in_open(self.ids[f], here, key))
                    .unwrap_or(succ)
            };
            path.push(next);
            cur = next;
            debug_assert!(path.len() <= self.ids.len());
        }
        path
    }
}

fn dht(w: &Workload, plan: &Plan, latency: &Latency) -> Row {
    let mut r = row(Arch::Dht, w);
    let chord = Chord::new(w.nodes, w.seed);
    let keys: Vec<u32> = (0..w.users).map(|j| ring_hash(w.seed, &user(j))).collect();
    let mut samples = Vec::new();
    let (mut search_msgs, mut lookups) = (0u64, 0u64);
    for (u, fresh) in plan.new_interests().iter().enumerate() {
        let home = plan.homes[u];
        // The arriving user's registration: a put routed to its key.
        r.total_msgs += chord.route(home, keys[u]).len() as u64;
        if fresh.is_empty() {
            continue;
        }
        let mut msgs = 0u64;
        let mut slowest = 0u64;
        for &b in fresh {
            let path = chord.route(home, keys[b]);
            lookups += 1;
            msgs += path.len() as u64;
            let mut at = home;
            let mut t = 0;
            for &hop in &path {
                t += latency.delay(at, hop);
                at = hop;
            }
            if !path.is_empty() {
                // The answer goes straight back.
                t += latency.delay(at, home);
                r.total_msgs += 1;
            }
            slowest = slowest.max(t);
        }
        search_msgs += msgs;
        r.total_msgs += msgs;
        r.searches += 1;
        r.max_search_msgs = r.max_search_msgs.max(msgs);
        samples.push(slowest);
    }
    r.search_msgs_per_arrival = search_msgs as f64 / w.users.max(1) as f64;
    r.mean_search_hops = if lookups > 0 {
        search_msgs as f64 / lookups as f64
    } else {
        0.0
    };
    r.p99_search_ms = p99(&mut samples);
    r
}

/// Times beyond this are "never" (the probe's, the gossip's).
const NEVER: u64 = 1 << 48;

/// A message on its way: delivered in (time, sequence) order.
struct Queued {
    at: u64,
    seq: u64,
    from: usize,
    to: usize,
    msg: Message,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Queued {}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued {
    /// Reversed: the earliest is the greatest, for the max-heap.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The real overlay on an event queue: like [`SimNet`](crate::cloud::simnet::SimNet)
/// but with a heap of node deadlines instead of a scan of every node per
/// step, so that thousands of nodes run in seconds.
struct Net<'a> {
    nodes: Vec<Overlay>,
    names: Vec<String>,
    queue: BinaryHeap<Queued>,
    /// (deadline, node); stale entries are skipped when they come up.
    timers: BinaryHeap<Reverse<(u64, usize)>>,
    seq: u64,
    now: u64,
    latency: &'a Latency,
    delivered: BTreeMap<&'static str, u64>,
    /// SearchDone events not yet taken: (messages, elapsed, timed out).
    done: Vec<(usize, u64, bool)>,
}

/// The index of a simulated node's name (`name(i)`).
fn index_of(name: &str) -> Option<usize> {
    name.strip_prefix("ps")?.parse().ok()
}

impl<'a> Net<'a> {
    /// `n` preset overlays. Each runs its first tick at once: the probe's
    /// first round (its interval is [`NEVER`] after that), whose PINGs are
    /// dropped: the probe is off here.
    fn new(n: usize, settings: Settings, latency: &'a Latency) -> Self {
        let names: Vec<String> = (0..n).map(name).collect();
        let members: Vec<(String, String)> = names
            .iter()
            // No addresses: preset members are never gossiped to, and an
            // empty String costs no allocation in n² member tables.
            .map(|m| (m.clone(), String::new()))
            .collect();
        let nodes = names
            .iter()
            .map(|m| {
                let mut o = Overlay::preset(m, &members, settings);
                o.tick(0);
                let out = o.take_output();
                debug_assert!(out.iter().all(|(_, m)| m.kind() == "ping"));
                // n − 1 `Joined` events and the probe's: not news here.
                o.take_events();
                debug_assert!(o.next_deadline() >= NEVER);
                o
            })
            .collect();
        Net {
            nodes,
            names,
            queue: BinaryHeap::new(),
            timers: BinaryHeap::new(),
            seq: 0,
            now: 0,
            latency,
            delivered: BTreeMap::new(),
            done: Vec::new(),
        }
    }

    /// Queues what node `i` sent and notes its events and next deadline.
    fn collect(&mut self, i: usize) {
        for (dest, msg) in self.nodes[i].take_output() {
            // Preset overlays know every member by name; they never send
            // to a bare address (that is how gossip reaches seeds).
            let Dest::Node(n) = &dest else { continue };
            let Some(to) = index_of(n).filter(|&t| t < self.nodes.len()) else {
                continue;
            };
            self.seq += 1;
            self.queue.push(Queued {
                at: self.now + self.latency.delay(i, to),
                seq: self.seq,
                from: i,
                to,
                msg,
            });
        }
        for e in self.nodes[i].take_events() {
            if let Event::SearchDone {
                messages,
                elapsed,
                timed_out,
                ..
            } = e
            {
                self.done.push((messages, elapsed, timed_out));
            }
        }
        let t = self.nodes[i].next_deadline();
        if t < NEVER {
            self.timers.push(Reverse((t.max(self.now), i)));
        }
    }

    fn with(&mut self, i: usize, f: impl FnOnce(&mut Overlay, u64)) {
        let now = self.now;
        f(&mut self.nodes[i], now);
        self.collect(i);
    }

    /// Delivers messages and runs timers until nothing is left to do.
    /// Messages due at the same time as a timer go first.
    fn run_quiet(&mut self) {
        loop {
            let msg = self.queue.peek().map(|q| q.at);
            let timer = self.timers.peek().map(|Reverse((t, _))| *t);
            let message_first = match (msg, timer) {
                (Some(m), Some(t)) => m <= t,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return,
            };
            if message_first {
                let Some(Queued {
                    at, from, to, msg, ..
                }) = self.queue.pop()
                else {
                    return;
                };
                self.now = self.now.max(at);
                *self.delivered.entry(msg.kind()).or_default() += 1;
                let now = self.now;
                self.nodes[to].on_message(now, &self.names[from], msg);
                self.collect(to);
            } else {
                let Some(Reverse((at, i))) = self.timers.pop() else {
                    return;
                };
                // Stale entries (the deadline moved) are skipped without
                // moving the clock.
                if self.nodes[i].next_deadline() > at {
                    continue;
                }
                self.now = self.now.max(at);
                let now = self.now;
                self.nodes[i].tick(now);
                self.collect(i);
            }
        }
    }
}

/// The settings the simulated overlay runs with: the defaults (batch
/// delay, search timeout), the probe off.
pub fn overlay_settings() -> Settings {
    Settings {
        probe_interval: NEVER,
        ..Settings::default()
    }
}

fn presencecloud(w: &Workload, plan: &Plan, latency: &Latency) -> Row {
    let mut r = row(Arch::PresenceCloud, w);
    let mut net = Net::new(w.nodes, overlay_settings(), latency);
    // Warm-up: links up (empty snapshots).
    for i in 0..w.nodes {
        let peers: Vec<String> = net.nodes[i]
            .grid()
            .ps_names(&net.names[i])
            .into_iter()
            .map(str::to_string)
            .collect();
        net.with(i, |o, _| {
            for p in &peers {
                o.link_up(p);
            }
        });
    }
    net.run_quiet();
    net.delivered.clear();
    net.done.clear();

    let aors: Vec<String> = (0..w.users).map(user).collect();
    let mut samples = Vec::new();
    let mut search_msgs = 0u64;
    for u in 0..w.users {
        let home = plan.homes[u];
        net.with(home, |o, now| {
            o.set_local(now, &aors[u], Some("open"));
            for &b in &plan.buddies[u] {
                o.watch(now, &aors[b]);
            }
        });
        net.run_quiet();
        let mut msgs = 0u64;
        let mut slowest = None;
        for (m, elapsed, timed_out) in net.done.drain(..) {
            msgs += m as u64;
            slowest = Some(slowest.unwrap_or(0).max(elapsed));
            r.timed_out += u64::from(timed_out);
        }
        if let Some(s) = slowest {
            r.searches += 1;
            samples.push(s);
        }
        search_msgs += msgs;
        r.max_search_msgs = r.max_search_msgs.max(msgs);
    }
    r.total_msgs = net.delivered.values().sum();
    r.search_msgs_per_arrival = search_msgs as f64 / w.users.max(1) as f64;
    let delivered_searches = net.delivered.get("search").copied().unwrap_or(0);
    r.mean_search_hops = if search_msgs > 0 {
        delivered_searches as f64 / search_msgs as f64
    } else {
        0.0
    };
    r.p99_search_ms = p99(&mut samples);
    r.by_kind = std::mem::take(&mut net.delivered);
    r
}

/// The formula's bound for presencecloud: k − 1 search messages per
/// arrival, k = ⌈√n⌉.
pub fn presencecloud_bound(n: usize) -> usize {
    side(n).saturating_sub(1)
}

/// What the flags ask for: each (architecture, workload) to run, in order.
pub fn plan_runs(args: &SimulateArgs) -> Result<Vec<(Arch, Workload)>, SimError> {
    let archs: Vec<Arch> = match args.arch {
        ArchArg::Mesh => vec![Arch::Mesh],
        ArchArg::Dht => vec![Arch::Dht],
        ArchArg::Presencecloud => vec![Arch::PresenceCloud],
        ArchArg::All => Arch::ALL.to_vec(),
    };
    let overlay = archs.contains(&Arch::PresenceCloud);
    let max = if overlay {
        MAX_OVERLAY_NODES
    } else {
        MAX_NODES
    };
    let bad = |m: String| Err(SimError::Args(m));
    let ns: Vec<usize> = match (args.sweep, args.nodes) {
        (false, Some(n)) => {
            if !(2..=max).contains(&n) {
                return bad(format!(
                    "--nodes must be between 2 and {max}{}",
                    if overlay {
                        " for presencecloud (each simulated node holds the whole member list)"
                    } else {
                        ""
                    }
                ));
            }
            vec![n]
        }
        (_, to) => {
            let to = to.unwrap_or(SWEEP_TO);
            if !(SWEEP_FROM..=max).contains(&to) {
                return bad(format!(
                    "--nodes with --sweep must be between {SWEEP_FROM} and {max}"
                ));
            }
            std::iter::successors(Some(SWEEP_FROM), |n| Some(n * 2))
                .take_while(|&n| n <= to)
                .collect()
        }
    };
    if args.users.is_some_and(|u| u < 2) {
        return bad("--users must be at least 2".into());
    }
    if args.buddies == 0 {
        return bad("--buddies must be at least 1".into());
    }
    let mut runs = Vec::new();
    for &n in &ns {
        let users = args.users.unwrap_or((2 * n).min(DEFAULT_USERS_CAP));
        if args.buddies >= users {
            return bad(format!(
                "--buddies ({}) must be less than the number of users ({users})",
                args.buddies
            ));
        }
        for &arch in &archs {
            runs.push((
                arch,
                Workload {
                    nodes: n,
                    users,
                    buddies: args.buddies,
                    seed: args.seed,
                },
            ));
        }
    }
    Ok(runs)
}

/// Runs each (architecture, workload), on as many threads as there are
/// cores, the costliest first (the real overlay's memory and time grow
/// with n²); the rows come back in the order of `runs`.
pub fn simulate_all(runs: &[(Arch, Workload)]) -> Vec<Row> {
    let cost = |(a, w): &(Arch, Workload)| match a {
        Arch::PresenceCloud => w.nodes * w.nodes + w.users * w.nodes,
        _ => w.users * w.buddies + w.nodes,
    };
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by_key(|&i| Reverse(cost(&runs[i])));
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(runs.len())
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::Mutex::new(vec![None; runs.len()]);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&i) = order.get(k) else { break };
                    let (arch, w) = &runs[i];
                    let row = simulate(*arch, w);
                    if let Ok(mut d) = done.lock() {
                        d[i] = Some(row);
                    }
                }
            });
        }
    });
    done.into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

/// Runs what the flags ask for, writes the CSV and SVG files, and returns
/// the rows (the caller prints [`table`]).
pub fn run(args: &SimulateArgs) -> Result<Vec<Row>, SimError> {
    let runs = plan_runs(args)?;
    let rows = simulate_all(&runs);
    if let Some(path) = &args.csv {
        std::fs::write(path, csv(&rows)).map_err(|source| SimError::Write {
            path: path.display().to_string(),
            source,
        })?;
    }
    if let Some(path) = &args.svg {
        let text = svg(&rows)?;
        std::fs::write(path, text).map_err(|source| SimError::Write {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(rows)
}

pub fn csv(rows: &[Row]) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{:.3},{},{:.3},{}",
            r.arch.label(),
            r.nodes,
            r.users,
            r.buddies,
            r.search_msgs_per_arrival,
            r.total_msgs,
            r.mean_search_hops,
            r.p99_search_ms
        );
    }
    out
}

/// The results as a text table, with the message kinds the overlay
/// delivered under it.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<14}{:>7}{:>7}{:>8}{:>12}{:>8}{:>12}{:>10}{:>8}{:>9}",
        "arch",
        "nodes",
        "users",
        "buddies",
        "search/arr",
        "bound",
        "total_msgs",
        "hops",
        "p99_ms",
        "wall_ms"
    );
    for r in rows {
        let bound = match r.arch {
            Arch::Mesh => r.nodes - 1,
            Arch::Dht => (r.buddies as f64 * 0.5 * (r.nodes as f64).log2()).round() as usize,
            Arch::PresenceCloud => presencecloud_bound(r.nodes),
        };
        let _ = writeln!(
            out,
            "{:<14}{:>7}{:>7}{:>8}{:>12.2}{:>8}{:>12}{:>10.2}{:>8}{:>9}",
            r.arch.label(),
            r.nodes,
            r.users,
            r.buddies,
            r.search_msgs_per_arrival,
            bound,
            r.total_msgs,
            r.mean_search_hops,
            r.p99_search_ms,
            r.wall_ms
        );
    }
    let _ = writeln!(
        out,
        "bound: mesh n-1, dht b*log2(n)/2, presencecloud k-1 (k = ceil(sqrt n)); search/arr averages over every arrival"
    );
    for r in rows.iter().filter(|r| r.arch == Arch::PresenceCloud) {
        let kinds: Vec<String> = r.by_kind.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            out,
            "presencecloud n={}: searches={} max_search_msgs={} timed_out={} delivered: {}",
            r.nodes,
            r.searches,
            r.max_search_msgs,
            r.timed_out,
            kinds.join(" ")
        );
    }
    out
}

/// Search messages per arrival against n, one line per architecture, both
/// axes logarithmic.
pub fn svg(rows: &[Row]) -> Result<String, SimError> {
    use plotters::prelude::*;
    let plot = |e: &dyn std::fmt::Display| SimError::Plot(e.to_string());
    let floor = 0.5f64;
    let xmin = rows.iter().map(|r| r.nodes).min().unwrap_or(16) as f64;
    let xmax = rows.iter().map(|r| r.nodes).max().unwrap_or(16) as f64;
    let ymax = rows
        .iter()
        .map(|r| r.search_msgs_per_arrival)
        .fold(1.0f64, f64::max);
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (900, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "PresenceCloud simulate: search messages per user arrival",
                ("sans-serif", 22),
            )
            .margin(20)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(
                (xmin / 1.5..xmax * 1.5).log_scale(),
                (floor..ymax * 2.0).log_scale(),
            )
            .map_err(|e| plot(&e))?;
        chart
            .configure_mesh()
            .x_desc("nodes (n)")
            .y_desc("search messages per arrival")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(|e| plot(&e))?;
        let colors = [RED, BLUE, GREEN];
        for (arch, color) in Arch::ALL.into_iter().zip(colors) {
            let points: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.arch == arch)
                .map(|r| (r.nodes as f64, r.search_msgs_per_arrival.max(floor)))
                .collect();
            if points.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(|e| plot(&e))?
                .label(arch.label())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| plot(&e))?;
        root.present().map_err(|e| plot(&e))?;
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chord_routing_reaches_the_successor_of_the_key() {
        for n in [1, 2, 3, 16, 100, 1000] {
            let chord = Chord::new(n, 7);
            let mut rng = Rng::new(n as u64);
            let mut hops = 0;
            for _ in 0..500 {
                let key = rng.next_u64() as u32;
                let from = rng.below(n);
                let path = chord.route(from, key);
                let end = path.last().copied().unwrap_or(from);
                // The owner is the first node at or after the key.
                let owner = (0..n)
                    .min_by_key(|&x| chord.ids[x].wrapping_sub(key))
                    .unwrap();
                assert_eq!(end, owner, "n={n} key={key}");
                assert_eq!(chord.owner(key), owner);
                assert!(path.len() <= 32, "n={n}: {} hops", path.len());
                hops += path.len();
            }
            if n >= 16 {
                // About half of log2 n hops on average.
                let mean = hops as f64 / 500.0;
                let half_log = 0.5 * (n as f64).log2();
                assert!(
                    mean > 0.5 * half_log && mean < 2.0 * half_log + 1.0,
                    "n={n}: mean {mean}"
                );
            }
        }
    }

    #[test]
    fn latency_is_between_1_and_50_ms() {
        let l = Latency::new(200, 3);
        for a in 0..200 {
            assert_eq!(l.delay(a, a), 0);
            for b in (0..200).filter(|&b| b != a) {
                let d = l.delay(a, b);
                assert!((1..=50).contains(&d));
                assert_eq!(d, l.delay(b, a));
            }
        }
    }

    #[test]
    fn plans_are_seeded_and_buddies_distinct() {
        let w = Workload {
            nodes: 16,
            users: 40,
            buddies: 30,
            seed: 9,
        };
        let (a, b) = (Plan::new(&w), Plan::new(&w));
        assert_eq!(a.homes, b.homes);
        assert_eq!(a.buddies, b.buddies);
        for (u, bs) in a.buddies.iter().enumerate() {
            let set: HashSet<_> = bs.iter().collect();
            assert_eq!(set.len(), 30);
            assert!(!bs.contains(&u));
        }
    }

    #[test]
    fn the_real_overlay_sends_k_minus_1_search_messages_per_new_search() {
        for n in [9, 10, 16, 50] {
            let w = Workload {
                nodes: n,
                users: 3 * n,
                buddies: 4,
                seed: 5,
            };
            let r = simulate(Arch::PresenceCloud, &w);
            let k1 = presencecloud_bound(n) as u64;
            let searching = Plan::new(&w)
                .new_interests()
                .iter()
                .filter(|f| !f.is_empty())
                .count() as u64;
            assert_eq!(r.searches, searching, "n={n}");
            assert_eq!(r.by_kind["search"], searching * k1, "n={n}");
            assert_eq!(r.max_search_msgs, k1);
            assert_eq!(r.timed_out, 0);
            assert_eq!(r.mean_search_hops, 1.0);
            assert!(!r.by_kind.contains_key("resync"), "{:?}", r.by_kind);
        }
    }
}
