//! A simulated network of [`Overlay`]s: the real overlay code, a fake clock
//! and a message queue with a latency model. The overlay's tests run on it;
//! `presencecloud simulate` runs a leaner copy of the same loop (its `Net`,
//! without gossip or restarts) and shares the node naming here.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use super::membership::Dest;
use super::message::Message;
use super::overlay::{Event, Overlay, Settings};

/// One-way delay between two nodes (ms), by index.
pub type Latency = Box<dyn Fn(usize, usize) -> u64>;

pub struct SimNet {
    pub nodes: Vec<Overlay>,
    index: HashMap<String, usize>,
    addrs: HashMap<String, usize>,
    queue: BinaryHeap<Reverse<(u64, u64, usize, usize)>>,
    in_flight: HashMap<u64, Message>,
    seq: u64,
    pub now: u64,
    latency: Latency,
    pub down: BTreeSet<usize>,
    /// Messages delivered, by type.
    pub delivered: BTreeMap<&'static str, u64>,
    /// Events, per node, in order.
    pub events: Vec<Vec<Event>>,
}

pub fn name(i: usize) -> String {
    format!("ps{i:05}")
}

impl SimNet {
    /// `n` nodes that all know node 0 as their seed.
    pub fn new(n: usize, settings: Settings, latency: Latency) -> Self {
        let mut net = SimNet {
            nodes: Vec::new(),
            index: HashMap::new(),
            addrs: HashMap::new(),
            queue: BinaryHeap::new(),
            in_flight: HashMap::new(),
            seq: 0,
            now: 0,
            latency,
            down: BTreeSet::new(),
            delivered: BTreeMap::new(),
            events: Vec::new(),
        };
        for i in 0..n {
            let node = Overlay::new(
                &name(i),
                &format!("addr{i}"),
                1,
                vec!["addr0".into()],
                settings,
                0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1),
            );
            net.push(node);
        }
        net
    }

    fn push(&mut self, node: Overlay) {
        let i = self.nodes.len();
        self.index.insert(node.me().to_string(), i);
        self.addrs.insert(format!("addr{i}"), i);
        self.nodes.push(node);
        self.events.push(Vec::new());
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Replaces node `i` by a fresh process of the same name (a restart).
    pub fn restart(&mut self, i: usize, settings: Settings) {
        let name = self.nodes[i].me().to_string();
        self.nodes[i] = Overlay::new(
            &name,
            &format!("addr{i}"),
            self.now + 1,
            vec!["addr0".into()],
            settings,
            self.now ^ 0x5151,
        );
        self.down.remove(&i);
    }

    fn collect(&mut self, i: usize) {
        for (dest, msg) in self.nodes[i].take_output() {
            let to = match &dest {
                Dest::Node(n) => self.index.get(n).copied(),
                Dest::Addr(a) => self.addrs.get(a).copied(),
            };
            let Some(to) = to else { continue };
            let at = self.now + (self.latency)(i, to);
            self.seq += 1;
            self.in_flight.insert(self.seq, msg);
            self.queue.push(Reverse((at, self.seq, i, to)));
        }
        let ev = self.nodes[i].take_events();
        self.events[i].extend(ev);
    }

    /// Runs every node with `f` (an input at the current time), then
    /// collects what it sent.
    pub fn with(&mut self, i: usize, f: impl FnOnce(&mut Overlay, u64)) {
        let now = self.now;
        f(&mut self.nodes[i], now);
        self.collect(i);
    }

    /// Advances the clock to `until`, delivering messages and running
    /// every node's timers on the way.
    pub fn run_until(&mut self, until: u64) {
        loop {
            let next_msg = self.queue.peek().map(|Reverse((t, ..))| *t);
            let next_timer = (0..self.nodes.len())
                .filter(|i| !self.down.contains(i))
                .map(|i| self.nodes[i].next_deadline())
                .min();
            let next = match (next_msg, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or(until),
            }
            .max(self.now);
            if next > until {
                self.now = until;
                return;
            }
            self.now = next;
            while let Some(Reverse((t, seq, from, to))) = self.queue.peek().copied() {
                if t > self.now {
                    break;
                }
                self.queue.pop();
                let Some(msg) = self.in_flight.remove(&seq) else {
                    continue;
                };
                if self.down.contains(&to) || self.down.contains(&from) {
                    continue;
                }
                *self.delivered.entry(msg.kind()).or_default() += 1;
                let from_name = self.nodes[from].me().to_string();
                let now = self.now;
                self.nodes[to].on_message(now, &from_name, msg);
                self.collect(to);
            }
            for i in 0..self.nodes.len() {
                if !self.down.contains(&i) && self.nodes[i].next_deadline() <= self.now {
                    let now = self.now;
                    self.nodes[i].tick(now);
                    self.collect(i);
                }
            }
        }
    }

    pub fn count(&self, kind: &str) -> u64 {
        self.delivered.get(kind).copied().unwrap_or(0)
    }
}
