//! The one-hop cache (DESIGN.md, "One-hop cache"). The [`Outbox`] is a
//! node's own users: every attach, state change and detach becomes a delta
//! with the next sequence number of this node's generation, batched for
//! the PS list. The [`Cache`] holds the users of the PS list, one table per
//! origin: deltas apply in order, a gap asks for a full snapshot, a new
//! generation of the origin (it restarted) waits for one.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::message::{Delta, Message, User};

#[derive(Debug)]
pub struct Outbox {
    origin: String,
    generation: u64,
    seq: u64,
    users: BTreeMap<String, String>,
    pending: Vec<Delta>,
}

impl Outbox {
    pub fn new(origin: &str, generation: u64) -> Self {
        Outbox {
            origin: origin.into(),
            generation,
            seq: 0,
            users: BTreeMap::new(),
            pending: Vec::new(),
        }
    }

    /// The user's state here (`None`: not attached here any more).
    /// Returns whether anything changed.
    pub fn set(&mut self, aor: &str, state: Option<&str>) -> bool {
        let delta = match (self.users.get(aor), state) {
            (None, None) => return false,
            (Some(old), Some(new)) if old == new => return false,
            (None, Some(s)) => Delta::Attach {
                aor: aor.into(),
                state: s.into(),
            },
            (Some(_), Some(s)) => Delta::State {
                aor: aor.into(),
                state: s.into(),
            },
            (Some(_), None) => Delta::Detach { aor: aor.into() },
        };
        match state {
            Some(s) => {
                self.users.insert(aor.into(), s.into());
            }
            None => {
                self.users.remove(aor);
            }
        }
        self.seq += 1;
        self.pending.push(delta);
        true
    }

    pub fn state(&self, aor: &str) -> Option<&str> {
        self.users.get(aor).map(String::as_str)
    }

    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The deltas since the last batch, as one message for every PS peer.
    pub fn batch(&mut self) -> Option<Message> {
        if self.pending.is_empty() {
            return None;
        }
        let deltas = std::mem::take(&mut self.pending);
        Some(Message::Deltas {
            origin: self.origin.clone(),
            generation: self.generation,
            first_seq: self.seq + 1 - deltas.len() as u64,
            deltas,
        })
    }

    /// Every user, for a new link or a peer that saw a gap. Deltas still
    /// pending are in it; the peer skips them when the batch follows.
    pub fn snapshot(&self) -> Message {
        Message::Snapshot {
            origin: self.origin.clone(),
            generation: self.generation,
            seq: self.seq,
            users: self
                .users
                .iter()
                .map(|(aor, state)| User {
                    aor: aor.clone(),
                    state: state.clone(),
                })
                .collect(),
        }
    }
}

/// A user a delta or a snapshot attached at an origin: what standing
/// searches wait for. (State changes and detaches are read from the cache
/// itself; reporting them cost two strings a delta that nobody read.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    pub aor: String,
    pub origin: String,
}

#[derive(Debug, Default)]
struct Origin {
    generation: u64,
    /// The last sequence number applied; `None` until a snapshot came.
    seq: Option<u64>,
    users: HashMap<String, String>,
}

/// The deltas did not follow on: ask the origin for a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub origin: String,
}

#[derive(Debug, Default)]
pub struct Cache {
    origins: HashMap<String, Origin>,
    homes: HashMap<String, BTreeSet<String>>,
}

impl Cache {
    pub fn new() -> Self {
        Cache::default()
    }

    /// The origins (cached nodes) where `aor` is attached.
    pub fn homes(&self, aor: &str) -> impl Iterator<Item = &str> {
        self.homes
            .get(aor)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    pub fn state(&self, aor: &str, origin: &str) -> Option<&str> {
        self.origins.get(origin)?.users.get(aor).map(String::as_str)
    }

    pub fn users(&self) -> usize {
        self.origins.values().map(|o| o.users.len()).sum()
    }

    pub fn origins(&self) -> impl Iterator<Item = &str> {
        self.origins.keys().map(String::as_str)
    }

    fn attach(&mut self, origin: &str, aor: &str, state: &str, attached: &mut Vec<Attached>) {
        // A state change, the common delta, updates in place.
        let known = self.origins.get_mut(origin);
        if let Some(old) = known.and_then(|o| o.users.get_mut(aor)) {
            state.clone_into(old);
            return;
        }
        let o = self.origins.entry(origin.into()).or_default();
        o.users.insert(aor.into(), state.into());
        self.homes
            .entry(aor.into())
            .or_default()
            .insert(origin.into());
        attached.push(Attached {
            aor: aor.into(),
            origin: origin.into(),
        });
    }

    fn detach(&mut self, origin: &str, aor: &str) {
        let Some(o) = self.origins.get_mut(origin) else {
            return;
        };
        if o.users.remove(aor).is_some() {
            if let Some(h) = self.homes.get_mut(aor) {
                h.remove(origin);
                if h.is_empty() {
                    self.homes.remove(aor);
                }
            }
        }
    }

    /// Applies a batch. Deltas already applied (a snapshot covered them)
    /// are skipped; a gap or an unknown generation is a [`Gap`].
    pub fn on_deltas(
        &mut self,
        origin: &str,
        generation: u64,
        first_seq: u64,
        deltas: &[Delta],
    ) -> Result<Vec<Attached>, Gap> {
        let gap = || Gap {
            origin: origin.into(),
        };
        let known = self
            .origins
            .get(origin)
            .filter(|o| o.generation == generation)
            .and_then(|o| o.seq)
            .ok_or_else(gap)?;
        if first_seq > known + 1 {
            return Err(gap());
        }
        let mut attached = Vec::new();
        for (i, d) in deltas.iter().enumerate() {
            let seq = first_seq + i as u64;
            if seq <= known {
                continue;
            }
            match d {
                Delta::Attach { aor, state } | Delta::State { aor, state } => {
                    self.attach(origin, aor, state, &mut attached)
                }
                Delta::Detach { aor } => self.detach(origin, aor),
            }
            if let Some(o) = self.origins.get_mut(origin) {
                o.seq = Some(seq);
            }
        }
        Ok(attached)
    }

    /// Replaces what is cached of `origin` with a snapshot; the users it
    /// attaches are reported as if deltas had said it.
    pub fn on_snapshot(
        &mut self,
        origin: &str,
        generation: u64,
        seq: u64,
        users: Vec<User>,
    ) -> Vec<Attached> {
        let mut attached = Vec::new();
        let fresh: HashMap<String, String> = users.into_iter().map(|u| (u.aor, u.state)).collect();
        let gone: Vec<String> = self
            .origins
            .get(origin)
            .map(|o| {
                o.users
                    .keys()
                    .filter(|a| !fresh.contains_key(*a))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for aor in gone {
            self.detach(origin, &aor);
        }
        let mut sorted: Vec<(&String, &String)> = fresh.iter().collect();
        sorted.sort();
        for (aor, state) in sorted {
            self.attach(origin, aor, state, &mut attached);
        }
        let o = self.origins.entry(origin.into()).or_default();
        o.generation = generation;
        o.seq = Some(seq);
        attached
    }

    /// Forgets an origin (it died, or left the PS list): its users detach.
    pub fn drop_origin(&mut self, origin: &str) {
        let aors: Vec<String> = self
            .origins
            .get(origin)
            .map(|o| o.users.keys().cloned().collect())
            .unwrap_or_default();
        for aor in aors {
            self.detach(origin, &aor);
        }
        self.origins.remove(origin);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deltas(m: Message) -> (u64, u64, Vec<Delta>) {
        match m {
            Message::Deltas {
                generation,
                first_seq,
                deltas,
                ..
            } => (generation, first_seq, deltas),
            other => panic!("not deltas: {other:?}"),
        }
    }

    fn snapshot(cache: &mut Cache, m: Message) -> Vec<Attached> {
        match m {
            Message::Snapshot {
                origin,
                generation,
                seq,
                users,
            } => cache.on_snapshot(&origin, generation, seq, users),
            other => panic!("not a snapshot: {other:?}"),
        }
    }

    #[test]
    fn outbox_numbers_deltas_and_drops_no_ops() {
        let mut o = Outbox::new("a", 7);
        assert!(o.set("u@x", Some("open")));
        assert!(!o.set("u@x", Some("open")));
        assert!(o.set("u@x", Some("closed")));
        assert!(o.set("v@x", Some("open")));
        assert!(o.set("u@x", None));
        assert!(!o.set("w@x", None));
        let (g, first, d) = deltas(o.batch().unwrap());
        assert_eq!((g, first, d.len()), (7, 1, 4));
        assert!(matches!(d[3], Delta::Detach { .. }));
        assert!(o.batch().is_none());
        o.set("w@x", Some("open"));
        assert_eq!(deltas(o.batch().unwrap()).1, 5);
    }

    #[test]
    fn deltas_before_any_snapshot_ask_for_one() {
        let mut o = Outbox::new("a", 1);
        o.set("u@x", Some("open"));
        let (g, f, d) = deltas(o.batch().unwrap());
        let mut c = Cache::new();
        assert_eq!(c.on_deltas("a", g, f, &d), Err(Gap { origin: "a".into() }));
    }

    #[test]
    fn snapshot_then_deltas_keep_the_cache_equal_to_the_origin() {
        let mut o = Outbox::new("a", 1);
        o.set("u@x", Some("open"));
        let mut c = Cache::new();
        let attached = snapshot(&mut c, o.snapshot());
        assert_eq!(
            attached,
            vec![Attached {
                aor: "u@x".into(),
                origin: "a".into()
            }]
        );
        // The pending delta the snapshot already holds is skipped.
        let (g, f, d) = deltas(o.batch().unwrap());
        assert_eq!(c.on_deltas("a", g, f, &d), Ok(vec![]));
        o.set("u@x", Some("busy"));
        o.set("v@x", Some("open"));
        let (g, f, d) = deltas(o.batch().unwrap());
        let attached = c.on_deltas("a", g, f, &d).unwrap();
        // Only the new user is news; the change is in the cache.
        assert_eq!(
            attached,
            vec![Attached {
                aor: "v@x".into(),
                origin: "a".into()
            }]
        );
        assert_eq!(c.state("u@x", "a"), Some("busy"));
        assert_eq!(c.homes("v@x").collect::<Vec<_>>(), vec!["a"]);
    }

    #[test]
    fn a_lost_batch_is_a_gap_and_a_snapshot_repairs_it() {
        let mut o = Outbox::new("a", 1);
        let mut c = Cache::new();
        snapshot(&mut c, o.snapshot());
        o.set("u@x", Some("open"));
        let _lost = o.batch();
        o.set("v@x", Some("open"));
        let (g, f, d) = deltas(o.batch().unwrap());
        assert!(c.on_deltas("a", g, f, &d).is_err());
        let attached = snapshot(&mut c, o.snapshot());
        assert_eq!(attached.len(), 2);
        assert_eq!(c.users(), 2);
    }

    #[test]
    fn a_restarted_origin_needs_a_snapshot_and_the_snapshot_takes_out_who_left() {
        let mut o = Outbox::new("a", 1);
        o.set("u@x", Some("open"));
        let mut c = Cache::new();
        snapshot(&mut c, o.snapshot());
        let mut again = Outbox::new("a", 2);
        again.set("v@x", Some("open"));
        let (g, f, d) = deltas(again.batch().unwrap());
        assert!(c.on_deltas("a", g, f, &d).is_err());
        let attached = snapshot(&mut c, again.snapshot());
        assert_eq!(
            attached,
            vec![Attached {
                aor: "v@x".into(),
                origin: "a".into()
            }]
        );
        assert_eq!(c.homes("u@x").count(), 0);
        assert_eq!(c.state("u@x", "a"), None);
        assert_eq!(c.users(), 1);
    }

    #[test]
    fn dropping_an_origin_detaches_its_users_only() {
        let mut c = Cache::new();
        c.on_snapshot(
            "a",
            1,
            0,
            vec![User {
                aor: "u@x".into(),
                state: "s".into(),
            }],
        );
        c.on_snapshot(
            "b",
            1,
            0,
            vec![User {
                aor: "u@x".into(),
                state: "t".into(),
            }],
        );
        assert_eq!(c.homes("u@x").count(), 2);
        c.drop_origin("a");
        assert_eq!(c.homes("u@x").collect::<Vec<_>>(), vec!["b"]);
        assert_eq!(c.state("u@x", "a"), None);
        assert_eq!(c.state("u@x", "b"), Some("t"));
    }
}
