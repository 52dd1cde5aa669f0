//! Who is in the cluster, and who is alive: a gossip of heartbeats. Each
//! node bumps its own heartbeat every round and sends its whole member
//! table to a few live members at random (and to every seed it does not yet
//! see alive, which is how a node joins and how split seeds find each
//! other). A member whose heartbeat has not advanced for `dead_after` is
//! dead; it keeps its grid slot for `forget_after`, then leaves the grid.
//!
//! Detection takes `dead_after` plus the time the last heartbeat needed to
//! spread: with the defaults (250 ms rounds, fanout 3, 3 s) a killed node
//! is seen dead by every member 3 to 4 s after it stopped.
//!
//! A restarted node comes back with a new generation (its start time), so
//! its fresh heartbeats win over the old ones everywhere.

use std::collections::BTreeMap;

use super::grid::{Grid, Member};
use super::message::MemberState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub gossip_interval: u64,
    pub fanout: usize,
    pub dead_after: u64,
    pub forget_after: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            gossip_interval: 250,
            fanout: 3,
            dead_after: 3_000,
            forget_after: 30_000,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    state: MemberState,
    /// Local time the heartbeat last advanced.
    heard: u64,
    alive: bool,
}

/// Where a gossip message goes: a member by name, or a seed by address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dest {
    Node(String),
    Addr(String),
}

#[derive(Debug)]
pub struct Membership {
    me: MemberState,
    seeds: Vec<String>,
    timing: Timing,
    others: BTreeMap<String, Entry>,
    /// Forgotten members: their news is ignored unless it is newer than
    /// this, so stale gossip does not bring them back.
    tombstones: BTreeMap<String, (u64, u64, u64)>,
    next_round: u64,
    rng: u64,
}

impl Membership {
    pub fn new(
        me: &str,
        addr: &str,
        generation: u64,
        seeds: Vec<String>,
        timing: Timing,
        seed: u64,
    ) -> Self {
        Membership {
            me: MemberState {
                name: me.into(),
                addr: addr.into(),
                generation,
                heartbeat: 0,
            },
            seeds: seeds.into_iter().filter(|s| s != addr).collect(),
            timing,
            others: BTreeMap::new(),
            tombstones: BTreeMap::new(),
            next_round: 0,
            rng: seed | 1,
        }
    }

    /// A membership that is given, not gossiped: every member alive for
    /// good (the simulator, where gossip would only cost time).
    pub fn preset(me: &str, members: &[(String, String)], generation: u64) -> Self {
        let timing = Timing {
            gossip_interval: u64::MAX,
            fanout: 0,
            dead_after: u64::MAX,
            forget_after: u64::MAX,
        };
        let addr = members
            .iter()
            .find(|(n, _)| n == me)
            .map(|(_, a)| a.clone())
            .unwrap_or_default();
        let mut m = Membership::new(me, &addr, generation, Vec::new(), timing, 1);
        m.next_round = u64::MAX;
        for (name, addr) in members.iter().filter(|(n, _)| n != me) {
            m.others.insert(
                name.clone(),
                Entry {
                    state: MemberState {
                        name: name.clone(),
                        addr: addr.clone(),
                        generation,
                        heartbeat: 0,
                    },
                    heard: 0,
                    alive: true,
                },
            );
        }
        m
    }

    pub fn me(&self) -> &str {
        &self.me.name
    }

    pub fn generation(&self) -> u64 {
        self.me.generation
    }

    fn random(&mut self) -> u64 {
        // xorshift64: spreading gossip needs no more than this.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// The grid as this node sees it: itself and every member not yet
    /// forgotten.
    pub fn grid(&self) -> Grid {
        let me = Member {
            name: self.me.name.clone(),
            alive: true,
        };
        Grid::new(
            std::iter::once(me).chain(self.others.values().map(|e| Member {
                name: e.state.name.clone(),
                alive: e.alive,
            })),
        )
    }

    pub fn addr_of(&self, name: &str) -> Option<&str> {
        if name == self.me.name {
            return Some(&self.me.addr);
        }
        self.others.get(name).map(|e| e.state.addr.as_str())
    }

    pub fn generation_of(&self, name: &str) -> Option<u64> {
        self.others.get(name).map(|e| e.state.generation)
    }

    pub fn is_alive(&self, name: &str) -> bool {
        name == self.me.name || self.others.get(name).is_some_and(|e| e.alive)
    }

    /// Gossip from a peer. Returns the members whose generation changed
    /// (restarted), so what was known of their old life can be dropped,
    /// and whether the grid (members or liveness) changed.
    pub fn on_gossip(&mut self, now: u64, members: Vec<MemberState>) -> Change {
        let mut change = Change::default();
        for m in members {
            if m.name == self.me.name {
                continue;
            }
            if let Some(&(generation, heartbeat, _)) = self.tombstones.get(&m.name) {
                if (m.generation, m.heartbeat) <= (generation, heartbeat) {
                    continue;
                }
                self.tombstones.remove(&m.name);
            }
            match self.others.get_mut(&m.name) {
                None => {
                    change.grid = true;
                    self.others.insert(
                        m.name.clone(),
                        Entry {
                            state: m,
                            heard: now,
                            alive: true,
                        },
                    );
                }
                Some(e)
                    if (m.generation, m.heartbeat) > (e.state.generation, e.state.heartbeat) =>
                {
                    if m.generation != e.state.generation {
                        change.restarted.push(m.name.clone());
                    }
                    if !e.alive {
                        change.grid = true;
                        e.alive = true;
                    }
                    e.state = m;
                    e.heard = now;
                }
                Some(_) => {}
            }
        }
        change
    }

    /// A round, if one is due: the heartbeat goes up, liveness is
    /// re-judged, and the table goes to a few members and the unseen seeds.
    pub fn tick(&mut self, now: u64) -> (Change, Vec<Dest>) {
        let mut change = Change::default();
        if now < self.next_round {
            return (change, Vec::new());
        }
        self.next_round = now + self.timing.gossip_interval;
        self.me.heartbeat += 1;
        let mut forget = Vec::new();
        for (name, e) in &mut self.others {
            let silent = now.saturating_sub(e.heard);
            if e.alive && silent >= self.timing.dead_after {
                e.alive = false;
                change.grid = true;
                change.died.push(name.clone());
            }
            if !e.alive && silent >= self.timing.forget_after {
                forget.push(name.clone());
            }
        }
        for name in forget {
            if let Some(e) = self.others.remove(&name) {
                self.tombstones
                    .insert(name, (e.state.generation, e.state.heartbeat, now));
                change.grid = true;
            }
        }
        let keep = 4 * self.timing.forget_after;
        self.tombstones
            .retain(|_, t| now.saturating_sub(t.2) < keep);
        let mut dests: Vec<Dest> = Vec::new();
        let live: Vec<String> = self
            .others
            .values()
            .filter(|e| e.alive)
            .map(|e| e.state.name.clone())
            .collect();
        if !live.is_empty() {
            for _ in 0..self.timing.fanout.min(live.len()) {
                let pick = &live[(self.random() % live.len() as u64) as usize];
                let d = Dest::Node(pick.clone());
                if !dests.contains(&d) {
                    dests.push(d);
                }
            }
        }
        for s in &self.seeds {
            let seen = self.others.values().any(|e| e.alive && &e.state.addr == s);
            if !seen {
                dests.push(Dest::Addr(s.clone()));
            }
        }
        (change, dests)
    }

    /// Every member this node knows, itself included.
    pub fn table(&self) -> Vec<MemberState> {
        std::iter::once(self.me.clone())
            .chain(self.others.values().map(|e| e.state.clone()))
            .collect()
    }

    pub fn next_deadline(&self) -> u64 {
        self.next_round
    }
}

/// What a gossip message or a round changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Change {
    pub grid: bool,
    pub died: Vec<String>,
    pub restarted: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, seeds: &[&str]) -> Membership {
        Membership::new(
            name,
            &format!("{name}:7000"),
            1,
            seeds.iter().map(|s| s.to_string()).collect(),
            Timing::default(),
            name.len() as u64 * 7919,
        )
    }

    /// Delivers every round's gossip at once, `rounds` times, 250 ms apart.
    fn run(nodes: &mut [Membership], from: u64, rounds: u64, down: &[&str]) -> u64 {
        let mut now = from;
        for _ in 0..rounds {
            let mut mail: Vec<(Dest, Vec<MemberState>)> = Vec::new();
            for n in nodes.iter_mut() {
                if down.contains(&n.me()) {
                    continue;
                }
                let (_, out) = n.tick(now);
                let table = n.table();
                mail.extend(out.into_iter().map(|d| (d, table.clone())));
            }
            for (dest, table) in mail {
                let target = nodes.iter_mut().find(|n| match &dest {
                    Dest::Node(name) => n.me() == name,
                    Dest::Addr(a) => n.me.addr == *a,
                });
                if let Some(t) = target {
                    if !down.contains(&t.me()) {
                        t.on_gossip(now, table);
                    }
                }
            }
            now += 250;
        }
        now
    }

    fn view(m: &Membership) -> Vec<(String, bool)> {
        m.grid()
            .members()
            .iter()
            .map(|x| (x.name.clone(), x.alive))
            .collect()
    }

    #[test]
    fn nodes_joining_through_one_seed_converge() {
        let mut nodes: Vec<Membership> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|n| node(n, &["a:7000"]))
            .collect();
        run(&mut nodes, 0, 20, &[]);
        let first = view(&nodes[0]);
        assert_eq!(first.len(), 5);
        for n in &nodes {
            assert_eq!(view(n), first);
        }
    }

    #[test]
    fn a_silent_member_is_dead_after_the_timeout_then_forgotten() {
        let mut nodes: Vec<Membership> = ["a", "b", "c"]
            .iter()
            .map(|n| node(n, &["a:7000"]))
            .collect();
        let t = run(&mut nodes, 0, 10, &[]);
        // c stops: 3 s later it is dead but keeps its slot.
        let t = run(&mut nodes, t, 11, &["c"]);
        assert!(nodes[0].is_alive("c"));
        let t = run(&mut nodes, t, 2, &["c"]);
        assert!(!nodes[0].is_alive("c") && !nodes[1].is_alive("c"));
        assert_eq!(nodes[0].grid().slot_of("c"), Some(2));
        let _ = run(&mut nodes, t, 120, &["c"]);
        assert_eq!(nodes[0].grid().slot_of("c"), None);
        assert_eq!(nodes[1].grid().len(), 2);
    }

    #[test]
    fn a_restarted_member_is_alive_again_with_its_new_generation() {
        let mut nodes: Vec<Membership> = ["a", "b", "c"]
            .iter()
            .map(|n| node(n, &["a:7000"]))
            .collect();
        let t = run(&mut nodes, 0, 10, &[]);
        let t = run(&mut nodes, t, 16, &["c"]);
        assert!(!nodes[0].is_alive("c"));
        nodes[2] = Membership::new(
            "c",
            "c:7000",
            2,
            vec!["a:7000".into()],
            Timing::default(),
            5,
        );
        run(&mut nodes, t, 6, &[]);
        assert!(nodes[0].is_alive("c") && nodes[1].is_alive("c"));
        assert_eq!(nodes[0].generation_of("c"), Some(2));
        assert_eq!(view(&nodes[0]), view(&nodes[2]));
    }
}
