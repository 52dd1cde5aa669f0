//! One node's part of the PresenceCloud overlay, sans-io: membership, the
//! grid it gives, the one-hop cache both ways, directed buddy search with
//! standing interests, aggregated inter-node subscriptions and the probe.
//! The node feeds it the clock, the messages of its links, its own users'
//! states and what its watchers want; it returns messages to send and
//! events (remote states for the presence agent, measures for telemetry).
//!
//! Who a node's watchers can see: its own users (the agent composes them),
//! the users it caches (row and column) and, through one directed search
//! per batch of new interests, the rest. For every home of a wanted
//! presentity the node holds one subscription there, however many of its
//! watchers want it; the home sends one [`Message::Notify`] per change.
//!
//! When a home dies, its users' remote states end here (the agent then
//! shows the watchers the closed document). The interests stay: when the
//! users publish again anywhere, or the node returns and restores its
//! stored publications, the attach reaches an interest and the watchers see
//! them again.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::cache::{Attached, Cache, Outbox};
use super::grid::Grid;
use super::membership::{Change, Dest, Membership, Timing};
use super::message::{Hit, Load, Message, Report};

/// Clusters up to this size probe every member, not only the PS list.
pub const FULL_PROBE: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub timing: Timing,
    /// How long deltas wait to be batched (ms).
    pub batch_delay: u64,
    /// Interval of the PING/PONG probe to each PS peer (ms).
    pub probe_interval: u64,
    /// A search peer that has not answered by then is counted as timed out.
    pub search_timeout: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timing: Timing::default(),
            batch_delay: 5,
            probe_interval: 10_000,
            search_timeout: 2_000,
        }
    }
}

/// What the overlay tells the node, besides messages to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The state of a wanted presentity at one of its remote homes;
    /// `None`: it has no state there any more.
    RemoteState {
        aor: String,
        home: String,
        state: Option<String>,
    },
    /// A search ended: how many search messages it sent, and whether every
    /// peer answered in time.
    SearchDone {
        id: u64,
        messages: usize,
        elapsed: u64,
        timed_out: bool,
    },
    /// One peer answered a search (or did not: `elapsed` is `None`).
    SearchAnswer {
        id: u64,
        peer: String,
        elapsed: Option<u64>,
    },
    /// A probe's round trip to a peer (`None`: no PONG within an interval).
    Probe {
        id: u64,
        peer: String,
        rtt: Option<u64>,
    },
    Joined(String),
    Died(String),
    Restarted(String),
}

#[derive(Debug, Default)]
struct Want {
    /// Remote homes, with the last notify version heard from each.
    homes: BTreeMap<String, u64>,
    /// Nodes holding an interest of ours in this presentity.
    asked: BTreeSet<String>,
}

#[derive(Debug)]
struct Search {
    started: u64,
    waiting: BTreeSet<String>,
    messages: usize,
    timed_out: bool,
}

/// A member as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeView {
    pub name: String,
    pub slot: usize,
    pub row: usize,
    pub col: usize,
    pub alive: bool,
    pub ps_list: Vec<String>,
    /// As the node last reported it (None: not heard yet).
    pub load: Option<Load>,
}

#[derive(Debug)]
pub struct Overlay {
    settings: Settings,
    membership: Membership,
    grid: Grid,
    outbox: Outbox,
    cache: Cache,
    /// Alive PS peers, as of the last grid.
    peers: BTreeSet<String>,
    wanted: BTreeMap<String, Want>,
    /// Presentities wanted since the last search.
    to_search: BTreeSet<String>,
    /// Interests other nodes left here: presentity → nodes.
    interests: HashMap<String, BTreeSet<String>>,
    /// Aggregated subscriptions held here: presentity → watching nodes.
    subscribers: HashMap<String, BTreeSet<String>>,
    versions: HashMap<String, u64>,
    searches: BTreeMap<u64, Search>,
    pings: BTreeMap<u64, (String, u64)>,
    rtt: BTreeMap<String, u64>,
    /// This node's report (set by the node) and its peers' (from probes).
    report: Report,
    reports: BTreeMap<String, Report>,
    next_id: u64,
    next_probe: u64,
    flush_at: Option<u64>,
    out: Vec<(Dest, Message)>,
    events: Vec<Event>,
}

impl Overlay {
    pub fn new(
        me: &str,
        addr: &str,
        generation: u64,
        seeds: Vec<String>,
        settings: Settings,
        seed: u64,
    ) -> Self {
        let membership = Membership::new(me, addr, generation, seeds, settings.timing, seed);
        let grid = membership.grid();
        Overlay {
            settings,
            outbox: Outbox::new(me, generation),
            membership,
            grid,
            cache: Cache::new(),
            peers: BTreeSet::new(),
            wanted: BTreeMap::new(),
            to_search: BTreeSet::new(),
            interests: HashMap::new(),
            subscribers: HashMap::new(),
            versions: HashMap::new(),
            searches: BTreeMap::new(),
            pings: BTreeMap::new(),
            rtt: BTreeMap::new(),
            report: Report::default(),
            reports: BTreeMap::new(),
            next_id: 1,
            next_probe: 0,
            flush_at: None,
            out: Vec::new(),
            events: Vec::new(),
        }
    }

    /// An overlay whose members are given and never change (the
    /// simulator): the grid is whole at once and no gossip is sent.
    pub fn preset(me: &str, members: &[(String, String)], settings: Settings) -> Self {
        let mut o = Overlay::new(me, "", 1, Vec::new(), settings, 1);
        o.membership = Membership::preset(me, members, 1);
        o.apply(
            0,
            Change {
                grid: true,
                ..Change::default()
            },
        );
        o.out.clear();
        o
    }

    pub fn me(&self) -> &str {
        self.membership.me()
    }

    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    pub fn addr_of(&self, name: &str) -> Option<&str> {
        self.membership.addr_of(name)
    }

    pub fn take_output(&mut self) -> Vec<(Dest, Message)> {
        std::mem::take(&mut self.out)
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    fn send(&mut self, to: &str, msg: Message) {
        if to != self.me() {
            self.out.push((Dest::Node(to.into()), msg));
        }
    }

    /// The earliest time [`tick`](Self::tick) has work.
    pub fn next_deadline(&self) -> u64 {
        let mut t = self.membership.next_deadline().min(self.next_probe);
        if let Some(f) = self.flush_at {
            t = t.min(f);
        }
        if let Some(s) = self.searches.values().map(|s| s.started).min() {
            t = t.min(s.saturating_add(self.settings.search_timeout));
        }
        t
    }

    pub fn tick(&mut self, now: u64) {
        let (change, dests) = self.membership.tick(now);
        if !dests.is_empty() {
            let members = self.membership.table();
            for d in dests {
                self.out.push((
                    d,
                    Message::Gossip {
                        members: members.clone(),
                    },
                ));
            }
        }
        self.apply(now, change);
        if self.flush_at.is_some_and(|t| t <= now) {
            self.flush(now);
        }
        self.expire_searches(now);
        if now >= self.next_probe {
            self.probe(now);
        }
    }

    fn probe(&mut self, now: u64) {
        self.next_probe = now.saturating_add(self.settings.probe_interval);
        let late: Vec<u64> = self
            .pings
            .iter()
            .filter(|(_, (_, sent))| now.saturating_sub(*sent) >= self.settings.probe_interval)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            if let Some((peer, _)) = self.pings.remove(&id) {
                self.events.push(Event::Probe {
                    id,
                    peer,
                    rtt: None,
                });
            }
        }
        let targets = self.probe_targets();
        for p in targets {
            let id = self.fresh_id();
            self.pings.insert(id, (p.clone(), now));
            let report = self.report.clone();
            self.send(&p, Message::Ping { id, report });
        }
    }

    /// Whom the probe measures: the PS list, or every live member in a
    /// cluster small enough (up to [`FULL_PROBE`] nodes) for the latency
    /// matrix to be complete.
    fn probe_targets(&self) -> Vec<String> {
        if self.grid.len() <= FULL_PROBE {
            self.grid
                .members()
                .iter()
                .filter(|m| m.alive && m.name != self.me())
                .map(|m| m.name.clone())
                .collect()
        } else {
            self.peers.iter().cloned().collect()
        }
    }

    /// What this node says of itself in its probes.
    pub fn set_report(&mut self, report: Report) {
        self.report = report;
    }

    /// The reports heard from peers, and this node's own.
    pub fn reports(&self) -> BTreeMap<String, Report> {
        let mut all = self.reports.clone();
        all.insert(self.me().to_string(), self.report.clone());
        all
    }

    fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Sends the batched deltas and starts the search for new interests.
    fn flush(&mut self, now: u64) {
        self.flush_at = None;
        if let Some(batch) = self.outbox.batch() {
            let peers: Vec<String> = self.peers.iter().cloned().collect();
            for p in peers {
                self.send(&p, batch.clone());
            }
        }
        let aors: Vec<String> = std::mem::take(&mut self.to_search).into_iter().collect();
        if !aors.is_empty() {
            self.search(now, aors);
        }
    }

    /// Whom a search from this node asks now (`Grid::search_plan`), by
    /// name; None while this node has no slot.
    fn search_plan(&self) -> Option<Vec<String>> {
        let slot = self.grid.slot_of(self.me())?;
        let plan = self.grid.search_plan(slot);
        Some(
            plan.into_iter()
                .map(|s| self.grid.name(s).to_string())
                .collect(),
        )
    }

    /// Starts timing a search of `messages` messages, answered by `waiting`.
    fn open_search(&mut self, now: u64, id: u64, waiting: BTreeSet<String>, messages: usize) {
        let search = Search {
            started: now,
            waiting,
            messages,
            timed_out: false,
        };
        self.searches.insert(id, search);
    }

    fn search(&mut self, now: u64, aors: Vec<String>) {
        let Some(plan) = self.search_plan() else {
            return;
        };
        if plan.is_empty() {
            return;
        }
        let id = self.fresh_id();
        for a in &aors {
            if let Some(w) = self.wanted.get_mut(a) {
                w.asked.extend(plan.iter().cloned());
            }
        }
        for p in &plan {
            self.send(
                p,
                Message::Search {
                    id,
                    aors: aors.clone(),
                },
            );
        }
        self.open_search(now, id, plan.iter().cloned().collect(), plan.len());
    }

    fn expire_searches(&mut self, now: u64) {
        let late: Vec<u64> = self
            .searches
            .iter()
            .filter(|(_, s)| now >= s.started.saturating_add(self.settings.search_timeout))
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            if let Some(s) = self.searches.get_mut(&id) {
                s.timed_out = true;
                let waiting = std::mem::take(&mut s.waiting);
                for peer in waiting {
                    self.events.push(Event::SearchAnswer {
                        id,
                        peer,
                        elapsed: None,
                    });
                }
            }
            self.finish_search(now, id);
        }
    }

    fn finish_search(&mut self, now: u64, id: u64) {
        if self.searches.get(&id).is_some_and(|s| s.waiting.is_empty()) {
            if let Some(s) = self.searches.remove(&id) {
                self.events.push(Event::SearchDone {
                    id,
                    messages: s.messages,
                    elapsed: now - s.started,
                    timed_out: s.timed_out,
                });
            }
        }
    }

    fn schedule_flush(&mut self, now: u64) {
        if self.flush_at.is_none() {
            self.flush_at = Some(now.saturating_add(self.settings.batch_delay));
        }
    }

    /// A (re)established link to `peer`: a PS peer gets our snapshot, so
    /// its cache of us starts whole whatever the link lost.
    pub fn link_up(&mut self, peer: &str) {
        if self.peers.contains(peer) {
            let snap = self.outbox.snapshot();
            self.send(peer, snap);
        }
    }

    /// The state of one of this node's own users changed (`None`: it has no
    /// publication here any more).
    pub fn set_local(&mut self, now: u64, aor: &str, state: Option<&str>) {
        let attached = self.outbox.state(aor).is_none() && state.is_some();
        if !self.outbox.set(aor, state) {
            return;
        }
        self.schedule_flush(now);
        if attached {
            let me = self.me().to_string();
            self.tell_interests(aor, &me);
        }
        if let Some(nodes) = self.subscribers.get(aor) {
            let version = self.versions.entry(aor.into()).or_default();
            *version += 1;
            let msg = Message::Notify {
                aor: aor.into(),
                version: *version,
                state: state.map(str::to_string),
            };
            let nodes: Vec<String> = nodes.iter().cloned().collect();
            for n in nodes {
                self.send(&n, msg.clone());
            }
        }
    }

    /// A standing interest met: `aor` attached at `home`.
    fn tell_interests(&mut self, aor: &str, home: &str) {
        let Some(nodes) = self.interests.get(aor) else {
            return;
        };
        let nodes: Vec<String> = nodes.iter().filter(|n| *n != home).cloned().collect();
        let hit = Hit {
            aor: aor.into(),
            home: home.into(),
        };
        for n in nodes {
            self.send(
                &n,
                Message::Found {
                    id: 0,
                    hits: vec![hit.clone()],
                    done: false,
                },
            );
        }
    }

    /// Local watchers want `aor` (the first of them subscribed).
    pub fn watch(&mut self, now: u64, aor: &str) {
        if self.wanted.contains_key(aor) {
            return;
        }
        self.wanted.insert(aor.into(), Want::default());
        let homes: Vec<String> = self.cache.homes(aor).map(str::to_string).collect();
        for h in homes {
            self.subscribe(aor, &h);
        }
        self.to_search.insert(aor.into());
        self.schedule_flush(now);
    }

    /// No local watcher wants `aor` any more.
    pub fn unwatch(&mut self, aor: &str) {
        self.to_search.remove(aor);
        let Some(w) = self.wanted.remove(aor) else {
            return;
        };
        for h in w.homes.keys() {
            self.send(
                h,
                Message::Unsubscribe {
                    aors: vec![aor.into()],
                },
            );
        }
        for n in &w.asked {
            self.send(
                n,
                Message::Forget {
                    aors: vec![aor.into()],
                },
            );
        }
    }

    fn subscribe(&mut self, aor: &str, home: &str) {
        if home == self.me() {
            return;
        }
        let Some(w) = self.wanted.get_mut(aor) else {
            return;
        };
        if w.homes.contains_key(home) {
            return;
        }
        w.homes.insert(home.into(), 0);
        self.send(
            home,
            Message::Subscribe {
                aors: vec![aor.into()],
            },
        );
    }

    pub fn on_message(&mut self, now: u64, from: &str, msg: Message) {
        match msg {
            Message::Gossip { members } => {
                let change = self.membership.on_gossip(now, members);
                self.apply(now, change);
            }
            Message::Ping { id, report } => {
                self.reports.insert(from.into(), report);
                let report = self.report.clone();
                self.send(from, Message::Pong { id, report });
            }
            Message::Pong { id, report } => {
                self.reports.insert(from.into(), report);
                if let Some((peer, sent)) = self.pings.remove(&id) {
                    let rtt = now.saturating_sub(sent);
                    self.rtt.insert(peer.clone(), rtt);
                    self.events.push(Event::Probe {
                        id,
                        peer,
                        rtt: Some(rtt),
                    });
                }
            }
            Message::Deltas {
                origin,
                generation,
                first_seq,
                deltas,
            } => match self
                .cache
                .on_deltas(&origin, generation, first_seq, &deltas)
            {
                Ok(attached) => self.on_attached(attached),
                Err(gap) => self.send(from, Message::Resync { origin: gap.origin }),
            },
            Message::Snapshot {
                origin,
                generation,
                seq,
                users,
            } => {
                let attached = self.cache.on_snapshot(&origin, generation, seq, users);
                self.on_attached(attached);
            }
            Message::Resync { .. } => {
                let snap = self.outbox.snapshot();
                self.send(from, snap);
            }
            Message::Search { id, aors } => {
                let mut hits = Vec::new();
                for aor in aors {
                    if self.outbox.state(&aor).is_some() {
                        hits.push(Hit {
                            aor: aor.clone(),
                            home: self.me().into(),
                        });
                    }
                    hits.extend(self.cache.homes(&aor).map(|h| Hit {
                        aor: aor.clone(),
                        home: h.into(),
                    }));
                    self.interests.entry(aor).or_default().insert(from.into());
                }
                hits.retain(|h| h.home != from);
                self.send(
                    from,
                    Message::Found {
                        id,
                        hits,
                        done: true,
                    },
                );
            }
            Message::Found { id, hits, done } => {
                for h in hits {
                    if self.wanted.contains_key(&h.aor) {
                        self.subscribe(&h.aor, &h.home);
                    } else if id == 0 {
                        // An interest we no longer hold.
                        self.send(from, Message::Forget { aors: vec![h.aor] });
                    }
                }
                if done {
                    if let Some(s) = self.searches.get_mut(&id) {
                        if s.waiting.remove(from) {
                            let elapsed = now - s.started;
                            self.events.push(Event::SearchAnswer {
                                id,
                                peer: from.into(),
                                elapsed: Some(elapsed),
                            });
                        }
                    }
                    self.finish_search(now, id);
                }
            }
            Message::Forget { aors } => {
                for aor in aors {
                    if let Some(set) = self.interests.get_mut(&aor) {
                        set.remove(from);
                        if set.is_empty() {
                            self.interests.remove(&aor);
                        }
                    }
                }
            }
            Message::Subscribe { aors } => {
                for aor in aors {
                    self.subscribers
                        .entry(aor.clone())
                        .or_default()
                        .insert(from.into());
                    let version = *self.versions.entry(aor.clone()).or_default();
                    let state = self.outbox.state(&aor).map(str::to_string);
                    self.send(
                        from,
                        Message::Notify {
                            aor,
                            version,
                            state,
                        },
                    );
                }
            }
            Message::Unsubscribe { aors } => {
                for aor in aors {
                    self.drop_subscriber(&aor, from);
                }
            }
            Message::Notify {
                aor,
                version,
                state,
            } => {
                let Some(w) = self.wanted.get_mut(&aor) else {
                    self.send(from, Message::Unsubscribe { aors: vec![aor] });
                    return;
                };
                match w.homes.get_mut(from) {
                    Some(v) if *v > version && version > 0 => return,
                    Some(v) => *v = version,
                    // Not subscribed (any more): the home told us anyway.
                    None if state.is_none() => return,
                    None => {
                        w.homes.insert(from.into(), version);
                    }
                }
                if state.is_none() {
                    w.homes.remove(from);
                }
                self.events.push(Event::RemoteState {
                    aor,
                    home: from.into(),
                    state,
                });
            }
        }
    }

    fn drop_subscriber(&mut self, aor: &str, node: &str) {
        if let Some(set) = self.subscribers.get_mut(aor) {
            set.remove(node);
            if set.is_empty() {
                self.subscribers.remove(aor);
            }
        }
    }

    fn on_attached(&mut self, attached: Vec<Attached>) {
        for Attached { aor, origin } in attached {
            self.tell_interests(&aor, &origin);
            if self.wanted.contains_key(&aor) {
                self.subscribe(&aor, &origin);
            }
        }
    }

    /// Forgets what a node that died (or restarted) held and was: its
    /// cached users, the states of its users, its interests and
    /// subscriptions here.
    fn forget_node(&mut self, name: &str) {
        self.cache.drop_origin(name);
        let mut gone = Vec::new();
        for (aor, w) in &mut self.wanted {
            if w.homes.remove(name).is_some() {
                gone.push(aor.clone());
            }
            w.asked.remove(name);
        }
        for aor in gone {
            self.events.push(Event::RemoteState {
                aor,
                home: name.into(),
                state: None,
            });
        }
        self.interests.retain(|_, set| {
            set.remove(name);
            !set.is_empty()
        });
        self.subscribers.retain(|_, set| {
            set.remove(name);
            !set.is_empty()
        });
        let waiting: Vec<u64> = self
            .searches
            .iter()
            .filter(|(_, s)| s.waiting.contains(name))
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            if let Some(s) = self.searches.get_mut(&id) {
                s.waiting.remove(name);
                s.timed_out = true;
            }
            self.events.push(Event::SearchAnswer {
                id,
                peer: name.into(),
                elapsed: None,
            });
        }
        self.pings.retain(|_, (p, _)| p != name);
        self.reports.remove(name);
    }

    /// A node came back as a new process: it lost the subscriptions and
    /// interests we held there, so they are made again. What it held here
    /// from its old life is left to clean itself up (a NOTIFY or a hit it
    /// no longer wants is answered with UNSUBSCRIBE or FORGET), because
    /// gossip may bring the news of the restart after the new process has
    /// already subscribed here. Its cached users wait for its snapshot (a
    /// new generation's deltas are a gap).
    fn restarted(&mut self, name: &str) {
        let mut again = Vec::new();
        for (aor, w) in &mut self.wanted {
            if let Some(v) = w.homes.get_mut(name) {
                *v = 0;
                again.push(aor.clone());
            }
            w.asked.remove(name);
        }
        if !again.is_empty() {
            self.send(name, Message::Subscribe { aors: again });
        }
    }

    fn apply(&mut self, now: u64, change: Change) {
        for name in &change.died {
            self.events.push(Event::Died(name.clone()));
            self.forget_node(name);
        }
        for name in &change.restarted {
            self.events.push(Event::Restarted(name.clone()));
            self.restarted(name);
        }
        if !change.grid && change.restarted.is_empty() {
            return;
        }
        let grid = self.membership.grid();
        for m in grid.members() {
            if self.grid.slot_of(&m.name).is_none() && m.name != self.me() {
                self.events.push(Event::Joined(m.name.clone()));
            }
        }
        self.grid = grid;
        let peers: BTreeSet<String> = self
            .grid
            .ps_names(self.me())
            .into_iter()
            .filter(|p| self.membership.is_alive(p))
            .map(str::to_string)
            .collect();
        // Peers that left the PS list: what we cached of them goes stale.
        let left: Vec<String> = self.peers.difference(&peers).cloned().collect();
        for p in left {
            self.cache.drop_origin(&p);
        }
        let fresh: Vec<String> = peers
            .iter()
            .filter(|p| !self.peers.contains(*p) || change.restarted.contains(*p))
            .cloned()
            .collect();
        self.peers = peers;
        for p in fresh {
            self.link_up(&p);
        }
        self.replan(now);
    }

    /// After the grid changed, each interest must sit where the current
    /// search plan would leave it.
    fn replan(&mut self, now: u64) {
        let Some(plan) = self.search_plan() else {
            return;
        };
        let plan: BTreeSet<String> = plan.into_iter().collect();
        let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut stale: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (aor, w) in &mut self.wanted {
            if self.to_search.contains(aor) {
                continue;
            }
            for p in plan.difference(&w.asked) {
                missing.entry(p.clone()).or_default().push(aor.clone());
            }
            for p in w.asked.difference(&plan) {
                stale.entry(p.clone()).or_default().push(aor.clone());
            }
            w.asked = plan.clone();
        }
        for (p, aors) in stale {
            if self.membership.is_alive(&p) {
                self.send(&p, Message::Forget { aors });
            }
        }
        if missing.is_empty() {
            return;
        }
        // One search per new target: the lists differ per target.
        for (p, aors) in missing {
            let id = self.fresh_id();
            self.send(&p, Message::Search { id, aors });
            self.open_search(now, id, BTreeSet::from([p]), 1);
        }
    }

    /// Every member, for the admin API.
    pub fn nodes(&self) -> Vec<NodeView> {
        let g = &self.grid;
        (0..g.len())
            .map(|s| NodeView {
                name: g.name(s).into(),
                slot: s,
                row: g.row(s),
                col: g.col(s),
                alive: g.alive(s),
                ps_list: g.ps_list(s).into_iter().map(|p| g.name(p).into()).collect(),
                load: if g.name(s) == self.me() {
                    Some(self.report.load)
                } else {
                    self.reports.get(g.name(s)).map(|r| r.load)
                },
            })
            .collect()
    }

    /// The last probe RTT to each peer (ms).
    pub fn rtt(&self) -> &BTreeMap<String, u64> {
        &self.rtt
    }

    /// Presentities wanted here that have at least one remote home: one
    /// aggregated subscription each, whatever the number of watchers.
    pub fn aggregated_subscriptions(&self) -> usize {
        self.wanted.values().filter(|w| !w.homes.is_empty()).count()
    }

    /// Remote nodes subscribed here, summed over presentities.
    pub fn subscribers(&self) -> usize {
        self.subscribers.values().map(BTreeSet::len).sum()
    }

    pub fn cached_users(&self) -> usize {
        self.cache.users()
    }

    pub fn local_users(&self) -> usize {
        self.outbox.len()
    }

    pub fn interests_held(&self) -> usize {
        self.interests.values().map(BTreeSet::len).sum()
    }
}

#[cfg(test)]
mod tests;
