//! The presence agent (RFC 3856 §3): it takes PUBLISHes (RFC 3903) and
//! SUBSCRIBEs (RFC 6665) for the `presence` event package, composes each
//! presentity's publications into one PIDF document, and says which
//! NOTIFYs to send. Sans-io: the node gives it requests and the time and
//! carries out the answers and NOTIFYs it returns.
//!
//! Authorization (RFC 3856 §6.6) follows the presentity's rules and the
//! configured default (see [`authorization`](super::authorization)): allow,
//! block (403), polite block (200, active, every NOTIFY the neutral closed
//! document) or confirm (200, pending, NOTIFYs without a body until a rule
//! decides). Accepted SUBSCRIBEs are answered 200 (RFC 6665 §4.2.1.1;
//! 202 is never sent, so the answer does not tell which rule matched).
//!
//! Watcher information (RFC 3857, `presence.winfo`): a presentity may watch
//! its own watchers; it gets a full document first and a partial one for
//! each change, and the authorization decisions show there.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::authorization::{self, Action, DefaultPolicy, Rule, SubState as Decided};
use super::pidf;
use super::publication::{Outcome, Publication, Publications, Request};
use super::subscription::{Dialog, DialogId, Path, State};
use super::winfo::{
    self, Event as WinfoEvent, Status as WinfoStatus, Watcher, WinfoNotify, WinfoTracker,
};
use crate::sip::uri::host_port;
use crate::sip::{Message, Uri};

/// RFC 3856's package, and the body type it carries.
pub const PACKAGE: &str = "presence";
pub const PIDF: &str = "application/pidf+xml";

/// Expiry bounds, in seconds, for one kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub min: u32,
    pub max: u32,
    pub default: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub publish: Bounds,
    /// SUBSCRIBE to `presence`.
    pub subscribe: Bounds,
    /// SUBSCRIBE to `presence.winfo`.
    pub winfo: Bounds,
    /// End a subscription whose NOTIFY times out (a 481 always ends it,
    /// RFC 6665 §4.1.3).
    pub end_on_notify_timeout: bool,
    /// What happens to a watcher no rule of the presentity matches.
    pub authorization: DefaultPolicy,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            publish: Bounds {
                min: 60,
                max: 7200,
                default: 3600,
            },
            // RFC 3856 §6.4 suggests an hour.
            subscribe: Bounds {
                min: 60,
                max: 7200,
                default: 3600,
            },
            winfo: Bounds {
                min: 60,
                max: 7200,
                default: 3600,
            },
            end_on_notify_timeout: true,
            authorization: DefaultPolicy::AllowAll,
        }
    }
}

/// A final answer to a PUBLISH or SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(&'static str, String)>,
    /// For a SUBSCRIBE that created a dialog: our tag, for To.
    pub to_tag: Option<String>,
}

impl Answer {
    fn new(status: u16, reason: impl Into<String>) -> Self {
        Answer {
            status,
            reason: reason.into(),
            headers: Vec::new(),
            to_tag: None,
        }
    }

    fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// A NOTIFY to send, on `dialog`'s path to `Dialog::next_hop`.
#[derive(Debug, Clone, PartialEq)]
pub struct Notify {
    pub dialog: DialogId,
    /// The Via branch of the NOTIFY: its client transaction's key.
    pub branch: String,
    pub bytes: Vec<u8>,
    pub to: core::net::SocketAddr,
    pub transport: &'static str,
    pub conn: Option<u64>,
    /// The last NOTIFY of the dialog: once answered, the dialog is gone.
    pub last: bool,
}

/// A change of state the node must persist (DESIGN.md, "Storage").
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Publication(Publication<pidf::Presence>),
    PublicationGone(String),
    Subscription(Dialog),
    SubscriptionGone(DialogId),
}

/// A presentity in the admin API's list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PresentitySummary {
    pub aor: String,
    pub watchers: usize,
    pub publications: usize,
    /// Other nodes of the cloud where it is attached.
    pub homes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PublicationSummary {
    pub etag: String,
    pub expires_in_s: u64,
    pub availability: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WatcherSummary {
    pub watcher: String,
    pub call_id: String,
    pub state: String,
    pub expires_in_s: u64,
    /// Politely blocked: it is sent the neutral document.
    pub neutral: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PresentityDetail {
    pub aor: String,
    /// Of the composed state (local and remote homes).
    pub availability: String,
    /// The composed PIDF document, as watchers are sent it.
    pub document: String,
    pub publications: Vec<PublicationSummary>,
    pub watchers: Vec<WatcherSummary>,
    pub homes: Vec<String>,
}

/// What the PresenceCloud overlay must hear from the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interest {
    /// The first presence subscription to this presentity.
    Watch(String),
    /// The last one ended.
    Unwatch(String),
    /// The presentity's publications here changed: see
    /// [`Agent::local_document`].
    Local(String),
}

pub struct Agent {
    policy: Policy,
    changes: Vec<Change>,
    /// Authorization rules by presentity.
    rules: HashMap<String, Vec<Rule>>,
    /// Watcher information, for `presence.winfo` subscribers.
    winfo: WinfoTracker<DialogId>,
    /// The document of the presentity being notified, composed once.
    composed: Option<(String, String)>,
    /// (expiry, dialog) of every live subscription, and each one's indexed
    /// expiry: the next deadline costs O(log n), not a scan of all dialogs.
    expiries: BTreeSet<(u64, DialogId)>,
    indexed: HashMap<DialogId, u64>,
    publications: Publications<pidf::Presence>,
    dialogs: HashMap<DialogId, Dialog>,
    watchers: HashMap<String, BTreeSet<DialogId>>,
    /// States of presentities at other nodes of the cloud, by home.
    remote: HashMap<String, BTreeMap<String, pidf::Presence>>,
    /// What the overlay must hear (see [`Interest`]).
    interests: Vec<Interest>,
    /// Dialogs whose final NOTIFY is out; removed when it is answered.
    closing: BTreeSet<DialogId>,
    seed: u64,
    counter: u64,
}

/// The presentity a request is about: the Request-URI's user@host, the
/// host lower-cased (RFC 3261 §19.1.4: host names are case-insensitive,
/// users are not).
pub fn presentity_of(uri: &Uri<'_>) -> Option<String> {
    let u = uri.as_sip()?;
    let host = u.host.raw.to_ascii_lowercase();
    Some(match u.user {
        Some(user) => format!("{user}@{host}"),
        None => host,
    })
}

fn aor_of(uri: &Uri<'_>) -> String {
    presentity_of(uri).unwrap_or_else(|| uri.to_string())
}

impl Agent {
    pub fn new(policy: Policy, seed: u64) -> Self {
        Agent {
            policy,
            changes: Vec::new(),
            rules: HashMap::new(),
            winfo: WinfoTracker::new(PACKAGE),
            composed: None,
            expiries: BTreeSet::new(),
            indexed: HashMap::new(),
            publications: Publications::new(seed),
            dialogs: HashMap::new(),
            watchers: HashMap::new(),
            remote: HashMap::new(),
            interests: Vec::new(),
            closing: BTreeSet::new(),
            seed,
            counter: 0,
        }
    }

    fn add_watcher(&mut self, presentity: &str, id: DialogId) {
        let set = self.watchers.entry(presentity.to_string()).or_default();
        if set.is_empty() {
            self.interests.push(Interest::Watch(presentity.to_string()));
        }
        set.insert(id);
    }

    fn remove_watcher(&mut self, presentity: &str, id: &DialogId) {
        if let Some(set) = self.watchers.get_mut(presentity) {
            if set.remove(id) && set.is_empty() {
                self.watchers.remove(presentity);
                self.remote.remove(presentity);
                self.interests
                    .push(Interest::Unwatch(presentity.to_string()));
            }
        }
    }

    /// What the overlay must hear since the last call, in order.
    pub fn take_interests(&mut self) -> Vec<Interest> {
        std::mem::take(&mut self.interests)
    }

    /// The composition of this node's own publications of a presentity,
    /// as the overlay exports it; `None` when it has none here.
    pub fn local_document(&self, presentity: &str) -> Option<String> {
        self.composition(presentity, false).map(|d| d.to_xml())
    }

    /// The composition ([`pidf::compose`]) of a presentity's publications
    /// here, and with `remote` those of its other homes too; `None` when
    /// there are none.
    fn composition(&self, presentity: &str, remote: bool) -> Option<pidf::Presence> {
        let homes = self.remote.get(presentity).filter(|_| remote);
        let docs: Vec<pidf::Presence> = self
            .publications
            .of(presentity)
            .into_iter()
            .map(|p| p.document.clone())
            .chain(homes.into_iter().flat_map(|h| h.values().cloned()))
            .collect();
        (!docs.is_empty()).then(|| pidf::compose(&format!("sip:{presentity}"), &docs))
    }

    /// What a watcher of `presentity` is told: the composition of every
    /// home's publications, or a closed document when there are none.
    fn current(&self, presentity: &str) -> pidf::Presence {
        self.composition(presentity, true)
            .unwrap_or_else(|| pidf::closed(&format!("sip:{presentity}")))
    }

    /// The state of a watched presentity at another node (DESIGN.md,
    /// "Several homes"): composed with the local publications as if it
    /// were one more, and notified to the watchers here. A state that does
    /// not parse is treated as gone (it came from a node of ours, so this
    /// is a bug there, not input to trust).
    pub fn set_remote(
        &mut self,
        now: u64,
        presentity: &str,
        home: &str,
        state: Option<&str>,
    ) -> Vec<Notify> {
        if !self.watchers.contains_key(presentity) {
            return Vec::new();
        }
        let doc = state.and_then(|s| pidf::parse(s.as_bytes()).ok());
        let homes = self.remote.entry(presentity.to_string()).or_default();
        let changed = match doc {
            Some(d) => homes.insert(home.to_string(), d.clone()).as_ref() != Some(&d),
            None => homes.remove(home).is_some(),
        };
        if homes.is_empty() {
            self.remote.remove(presentity);
        }
        if changed {
            self.state_changed(now, presentity)
        } else {
            Vec::new()
        }
    }

    /// What changed since the last call, in order, for the store.
    pub fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    /// Keeps a dialog and records it for the store.
    fn save(&mut self, dialog: Dialog) {
        self.changes.push(Change::Subscription(dialog.clone()));
        self.unindex(&dialog.id);
        if dialog.state != State::Terminated {
            self.expiries.insert((dialog.expires_at, dialog.id.clone()));
            self.indexed.insert(dialog.id.clone(), dialog.expires_at);
        }
        self.dialogs.insert(dialog.id.clone(), dialog);
    }

    /// Puts back the state a store kept across a restart (RFC 6665 §4.2.2:
    /// subscriptions survive a notifier restart). Subscriptions that
    /// expired meanwhile end with `terminated;reason=timeout` now, not with
    /// an empty NOTIFY. NOTIFY CSeq numbers resume `cseq_gap` above the
    /// stored ones, to stay above any NOTIFY sent after the last flush.
    pub fn restore(
        &mut self,
        now: u64,
        publications: Vec<Publication<pidf::Presence>>,
        dialogs: Vec<Dialog>,
        cseq_gap: u32,
    ) -> Vec<Notify> {
        for p in publications {
            if p.expires_at > now {
                self.interests.push(Interest::Local(p.presentity.clone()));
                self.publications.restore(p);
            } else {
                self.changes.push(Change::PublicationGone(p.etag));
            }
        }
        let mut out = Vec::new();
        // Presence subscriptions first, so the watcher list is whole when
        // the winfo subscribers get their (full) documents.
        let (winfo_dialogs, presence): (Vec<Dialog>, Vec<Dialog>) =
            dialogs.into_iter().partition(Self::is_winfo);
        for mut d in presence.into_iter().chain(winfo_dialogs) {
            d.local_cseq = d.local_cseq.saturating_add(cseq_gap);
            d.in_flight = false;
            d.dirty = false;
            if d.state == State::Terminated || d.expires_at <= now {
                d.state = State::Terminated;
                out.push(self.notify_now(now, &mut d, Some("timeout")));
                self.closing.insert(d.id.clone());
            } else if Self::is_winfo(&d) {
                // A restarted node sends its winfo subscribers a full
                // document (RFC 3858 §4: version numbering starts again).
                out.push(self.notify_now(now, &mut d, None));
            } else {
                // The rules as they are now decide (polite blocking is not
                // stored).
                let outcome =
                    authorization::subscription_outcome(self.decide(&d.presentity, &d.watcher));
                d.neutral = outcome.neutral_body;
                let status = if d.state == State::Pending {
                    WinfoStatus::Pending
                } else {
                    WinfoStatus::Active
                };
                let _ = self.watcher_event(now, &d, status, WinfoEvent::Subscribe);
                self.add_watcher(&d.presentity, d.id.clone());
            }
            self.save(d);
        }
        out
    }

    fn unique(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{:x}{:x}", self.seed & 0xffff_ffff, self.counter)
    }

    /// A fresh branch for a NOTIFY (RFC 3261 §8.1.1.7).
    fn branch(&mut self) -> String {
        self.unique("z9hG4bKpc")
    }

    fn granted(bounds: Bounds, asked: Option<u32>) -> Result<u32, Answer> {
        match asked {
            None => Ok(bounds.default),
            Some(0) => Ok(0),
            // RFC 3903 §6 step 3 / RFC 6665 §4.2.1.1: too brief is 423.
            Some(e) if e < bounds.min => {
                Err(Answer::new(423, "Interval Too Brief")
                    .with("Min-Expires", bounds.min.to_string()))
            }
            Some(e) => Ok(e.min(bounds.max)),
        }
    }

    fn event_ok(req: &Message<'_>) -> Result<(), Answer> {
        match Self::package_of(req)? {
            false => Ok(()),
            // RFC 3903 §4: watcher information is not published.
            true => Err(Self::bad_event()),
        }
    }

    fn bad_event() -> Answer {
        Answer::new(489, "Bad Event").with(
            "Allow-Events",
            format!("{PACKAGE}, {}", winfo::PRESENCE_WINFO),
        )
    }

    /// The package of a SUBSCRIBE: `presence` (false) or `presence.winfo`
    /// (true); anything else is 489 (RFC 6665 §4.2.1.1).
    fn package_of(req: &Message<'_>) -> Result<bool, Answer> {
        match req.event().map(|e| e.event_type.0) {
            Some(PACKAGE) => Ok(false),
            Some(t) if t == winfo::PRESENCE_WINFO => Ok(true),
            _ => Err(Self::bad_event()),
        }
    }

    fn is_winfo(d: &Dialog) -> bool {
        d.event
            .split(';')
            .next()
            .is_some_and(|e| e.trim() == winfo::PRESENCE_WINFO)
    }

    fn decide(&self, presentity: &str, watcher: &str) -> Action {
        let rules = self.rules.get(presentity).map(Vec::as_slice).unwrap_or(&[]);
        authorization::decide(rules, presentity, watcher, self.policy.authorization)
    }

    /// Replaces the authorization rules; subscriptions the change decides
    /// are told (RFC 3856 §6.6: pending ones become active or end with
    /// reason=rejected; active ones switch between the real and the
    /// neutral document, or end when now blocked).
    pub fn set_rules(&mut self, now: u64, rules: Vec<Rule>) -> Vec<Notify> {
        let mut by: HashMap<String, Vec<Rule>> = HashMap::new();
        for r in rules {
            by.entry(r.presentity.clone()).or_default().push(r);
        }
        self.rules = by;
        let ids: Vec<DialogId> = self
            .dialogs
            .values()
            .filter(|d| d.state != State::Terminated && !Self::is_winfo(d))
            .map(|d| d.id.clone())
            .collect();
        let mut out = Vec::new();
        for id in ids {
            let Some(mut d) = self.dialogs.remove(&id) else {
                continue;
            };
            let action = self.decide(&d.presentity, &d.watcher);
            let current = if d.state == State::Pending {
                Decided::Pending
            } else {
                Decided::Active
            };
            match authorization::reauthorize(current, d.neutral, action) {
                authorization::Reauthorization::Unchanged => self.save(d),
                authorization::Reauthorization::Notify { neutral_body } => {
                    let approved = d.state == State::Pending;
                    d.state = State::Active;
                    d.neutral = neutral_body;
                    if d.in_flight {
                        d.dirty = true;
                    } else {
                        out.push(self.notify_now(now, &mut d, None));
                    }
                    if approved {
                        out.extend(self.watcher_event(
                            now,
                            &d,
                            WinfoStatus::Active,
                            WinfoEvent::Approved,
                        ));
                    }
                    self.save(d);
                }
                authorization::Reauthorization::Terminate => {
                    d.state = State::Terminated;
                    self.remove_watcher(&d.presentity, &id);
                    out.push(self.notify_now(now, &mut d, Some("rejected")));
                    out.extend(self.watcher_event(
                        now,
                        &d,
                        WinfoStatus::Terminated,
                        WinfoEvent::Rejected,
                    ));
                    self.closing.insert(id);
                    self.save(d);
                }
            }
        }
        out
    }

    /// Tells `presence.winfo` subscribers that a watcher of `d`'s
    /// presentity changed (RFC 3857 §4.7); a change the watcher state
    /// machine does not allow is not reported.
    fn watcher_event(
        &mut self,
        now: u64,
        d: &Dialog,
        status: WinfoStatus,
        event: WinfoEvent,
    ) -> Vec<Notify> {
        if Self::is_winfo(d) {
            return Vec::new();
        }
        let mut w = Watcher::new(
            winfo::watcher_id(&d.id.call_id, &d.id.local_tag, &d.id.remote_tag),
            d.remote_uri.clone(),
            status,
            event,
        );
        w.expiration = Some((d.expires_at.saturating_sub(now) / 1000) as u32);
        match self.winfo.watcher_changed(now, &d.presentity, w) {
            Ok(notes) => self.winfo_notify(now, notes),
            Err(_) => Vec::new(),
        }
    }

    /// Partial watcher-information documents to their subscribers; one in
    /// flight is followed by a full document when it is answered.
    fn winfo_notify(&mut self, now: u64, notes: Vec<WinfoNotify<DialogId>>) -> Vec<Notify> {
        let mut out = Vec::new();
        for n in notes {
            let Some(mut d) = self.dialogs.remove(&n.subscriber) else {
                continue;
            };
            if d.state == State::Terminated {
                self.dialogs.insert(d.id.clone(), d);
                continue;
            }
            if d.in_flight {
                d.dirty = true;
            } else {
                let branch = self.branch();
                let xml = n.document.to_xml();
                let bytes = d.notify(
                    now,
                    &branch,
                    None,
                    Some((winfo::CONTENT_TYPE, xml.as_bytes())),
                );
                d.in_flight = true;
                out.push(Notify {
                    dialog: d.id.clone(),
                    branch,
                    bytes,
                    to: d.next_hop(),
                    transport: d.path.transport,
                    conn: d.path.conn,
                    last: false,
                });
            }
            self.save(d);
        }
        out
    }

    /// RFC 3903 §6.
    pub fn on_publish(&mut self, now: u64, req: &Message<'_>) -> (Answer, Vec<Notify>) {
        match self.publish(now, req) {
            Ok((answer, changed)) => {
                let notifies = match changed {
                    Some(p) => {
                        self.interests.push(Interest::Local(p.clone()));
                        self.state_changed(now, &p)
                    }
                    None => Vec::new(),
                };
                (answer, notifies)
            }
            Err(answer) => (answer, Vec::new()),
        }
    }

    fn publish(&mut self, now: u64, req: &Message<'_>) -> Result<(Answer, Option<String>), Answer> {
        Self::event_ok(req)?;
        let presentity = req
            .request_uri()
            .and_then(presentity_of)
            .ok_or_else(|| Answer::new(416, "Unsupported URI Scheme"))?;
        let expires = Self::granted(self.policy.publish, req.expires())?;
        let body = (!req.body.is_empty()).then_some(req.body);
        let document = match body {
            Some(b) => {
                match req.content_type() {
                    Some(ct) if ct.is("application", "pidf+xml") => {}
                    _ => {
                        return Err(Answer::new(415, "Unsupported Media Type").with("Accept", PIDF));
                    }
                }
                Some(pidf::parse(b).map_err(|e| Answer::new(400, format!("Bad PIDF: {e}")))?)
            }
            None => None,
        };
        let request = match (req.sip_if_match(), document, expires) {
            (None, None, _) => {
                return Err(Answer::new(400, "Initial PUBLISH without a body"));
            }
            (None, Some(_), 0) => {
                return Err(Answer::new(400, "Initial PUBLISH with Expires 0"));
            }
            (None, Some(d), _) => Request::Initial {
                presentity: presentity.clone(),
                content_type: PIDF.into(),
                body: req.body.to_vec(),
                document: d,
                expires,
            },
            (Some(etag), _, 0) => Request::Remove { etag: etag.into() },
            (Some(etag), None, _) => Request::Refresh {
                etag: etag.into(),
                expires,
            },
            (Some(etag), Some(d), _) => Request::Modify {
                etag: etag.into(),
                content_type: PIDF.into(),
                body: req.body.to_vec(),
                document: d,
                expires,
            },
        };
        let old_etag = req.sip_if_match().map(str::to_string);
        match self.publications.apply(now, &presentity, request) {
            Outcome::Accepted {
                presentity,
                etag,
                expires,
                changed,
            } => {
                if let Some(old) = old_etag {
                    self.changes.push(Change::PublicationGone(old));
                }
                if let Some(p) = self.publications.get(&etag) {
                    self.changes.push(Change::Publication(p.clone()));
                }
                Ok((
                    Answer::new(200, "OK")
                        .with("SIP-ETag", etag)
                        .with("Expires", expires.to_string()),
                    changed.then_some(presentity),
                ))
            }
            Outcome::Removed { presentity } => {
                if let Some(old) = old_etag {
                    self.changes.push(Change::PublicationGone(old));
                }
                Ok((
                    Answer::new(200, "OK").with("Expires", "0"),
                    Some(presentity),
                ))
            }
            Outcome::UnknownEtag | Outcome::WrongPresentity => {
                Err(Answer::new(412, "Conditional Request Failed"))
            }
        }
    }

    /// The composed state of a presentity as a PIDF document.
    pub fn document(&self, presentity: &str) -> String {
        self.current(presentity).to_xml()
    }

    /// RFC 6665 §4.2.1 and RFC 3856 §6.
    pub fn on_subscribe(
        &mut self,
        now: u64,
        req: &Message<'_>,
        path: Path,
    ) -> (Answer, Vec<Notify>) {
        match self.subscribe(now, req, path) {
            Ok(r) => r,
            Err(a) => (a, Vec::new()),
        }
    }

    fn subscribe(
        &mut self,
        now: u64,
        req: &Message<'_>,
        path: Path,
    ) -> Result<(Answer, Vec<Notify>), Answer> {
        let winfo_package = Self::package_of(req)?;
        // RFC 3856 §6.3, RFC 3857 §4.4: the package's body type must be
        // acceptable if Accept is present.
        let (body_type, subtype) = if winfo_package {
            (winfo::CONTENT_TYPE, "watcherinfo+xml")
        } else {
            (PIDF, "pidf+xml")
        };
        let has_accept = req.fields().any(|f| f.is("Accept"));
        if has_accept && !req.accept().any(|a| a.admits("application", subtype)) {
            return Err(Answer::new(406, "Not Acceptable").with("Accept", body_type));
        }
        let bounds = if winfo_package {
            self.policy.winfo
        } else {
            self.policy.subscribe
        };
        let expires = Self::granted(bounds, req.expires())?;
        let (Some(from), Some(to), Some(call_id), Some(cseq)) =
            (req.from(), req.to(), req.call_id(), req.cseq())
        else {
            return Err(Answer::new(400, "Missing dialog headers"));
        };
        let Some(remote_tag) = from.tag() else {
            return Err(Answer::new(400, "From without a tag"));
        };
        if let Some(local_tag) = to.tag() {
            // A refresh or an unsubscribe inside an existing dialog.
            let id = DialogId {
                call_id: call_id.into(),
                local_tag: local_tag.into(),
                remote_tag: remote_tag.into(),
            };
            return self.refresh(now, &id, cseq.seq, expires);
        }
        let presentity = req
            .request_uri()
            .and_then(presentity_of)
            .ok_or_else(|| Answer::new(416, "Unsupported URI Scheme"))?;
        let Some(contact) = req.contacts().next() else {
            return Err(Answer::new(400, "Missing Contact"));
        };
        let local_tag = self.unique("pc");
        let id = DialogId {
            call_id: call_id.into(),
            local_tag: local_tag.clone(),
            remote_tag: remote_tag.into(),
        };
        let event = req
            .event()
            .map(|e| e.to_string())
            .unwrap_or_else(|| PACKAGE.into());
        let watcher = aor_of(&from.uri);
        let (state, neutral) = if winfo_package {
            // RFC 3857 §4.5: only the presentity sees its watchers.
            if !winfo::authorized_subscriber(&watcher, &presentity) {
                return Err(Answer::new(403, "Forbidden"));
            }
            (State::Active, false)
        } else {
            let outcome = authorization::subscription_outcome(self.decide(&presentity, &watcher));
            match outcome.state.dialog_state() {
                Some(s) => (s, outcome.neutral_body),
                None => return Err(Answer::new(outcome.status, outcome.reason)),
            }
        };
        let mut dialog = Dialog {
            id: id.clone(),
            event,
            presentity: presentity.clone(),
            watcher,
            local_uri: to.uri.to_string(),
            remote_uri: from.uri.to_string(),
            remote_target: contact.uri.to_string(),
            route_set: req.record_routes().map(|r| r.to_string()).collect(),
            local_cseq: 0,
            remote_cseq: cseq.seq,
            expires_at: now + u64::from(expires) * 1000,
            state,
            path,
            neutral,
            in_flight: false,
            dirty: false,
        };
        let answer = Answer {
            to_tag: Some(local_tag),
            ..Answer::new(200, "OK").with("Expires", expires.to_string())
        }
        .with("Contact", format!("<sip:{}>", host_port(dialog.path.local)));
        // A fetch (Expires 0) gets its one NOTIFY and ends (RFC 6665 §4.4.3).
        if expires == 0 {
            dialog.state = State::Terminated;
            let notify = self.notify_now(now, &mut dialog, Some("timeout"));
            self.closing.insert(id);
            self.save(dialog);
            return Ok((answer, vec![notify]));
        }
        let mut notifies = vec![self.notify_now(now, &mut dialog, None)];
        if !winfo_package {
            let status = if state == State::Pending {
                WinfoStatus::Pending
            } else {
                WinfoStatus::Active
            };
            notifies.extend(self.watcher_event(now, &dialog, status, WinfoEvent::Subscribe));
            self.add_watcher(&presentity, id);
        }
        self.save(dialog);
        Ok((answer, notifies))
    }

    fn refresh(
        &mut self,
        now: u64,
        id: &DialogId,
        cseq: u32,
        expires: u32,
    ) -> Result<(Answer, Vec<Notify>), Answer> {
        let Some(mut dialog) = self.dialogs.remove(id) else {
            return Err(Answer::new(481, "Call/Transaction Does Not Exist"));
        };
        // RFC 3261 §12.2.2: a lower CSeq is out of order.
        if cseq <= dialog.remote_cseq {
            self.dialogs.insert(id.clone(), dialog);
            return Err(Answer::new(500, "CSeq Out of Order"));
        }
        dialog.remote_cseq = cseq;
        let answer = Answer::new(200, "OK").with("Expires", expires.to_string());
        let notify = if expires == 0 || dialog.state == State::Terminated {
            // RFC 6665 §4.2.1.4: unsubscribing ends with a final NOTIFY.
            dialog.state = State::Terminated;
            self.remove_watcher(&dialog.presentity, id);
            self.closing.insert(id.clone());
            let n = self.notify_now(now, &mut dialog, None);
            let more = self.ended(now, &dialog, WinfoEvent::Timeout);
            self.save(dialog);
            let mut all = vec![n];
            all.extend(more);
            return Ok((answer, all));
        } else {
            dialog.expires_at = now + u64::from(expires) * 1000;
            // RFC 6665 §4.2.1.2: a refresh is answered with a NOTIFY too.
            self.notify_now(now, &mut dialog, None)
        };
        self.save(dialog);
        Ok((answer, vec![notify]))
    }

    /// Builds a NOTIFY with the current state, whether or not another is
    /// in flight (initial, refresh and final NOTIFYs are due at once).
    fn notify_now(&mut self, now: u64, dialog: &mut Dialog, reason: Option<&str>) -> Notify {
        let branch = self.branch();
        let last = dialog.state == State::Terminated;
        // Terminated and pending NOTIFYs carry no state (RFC 3856 §6.6);
        // a polite block gets the neutral document; winfo a full document.
        let body: Option<(&str, String)> = if last || dialog.state == State::Pending {
            None
        } else if Self::is_winfo(dialog) {
            let doc = self
                .winfo
                .subscribe(now, &dialog.presentity, dialog.id.clone());
            Some((winfo::CONTENT_TYPE, doc.to_xml()))
        } else if dialog.neutral {
            Some((
                PIDF,
                pidf::closed(&format!("sip:{}", dialog.presentity)).to_xml(),
            ))
        } else {
            let doc = match &self.composed {
                Some((p, doc)) if *p == dialog.presentity => doc.clone(),
                _ => self.document(&dialog.presentity),
            };
            Some((PIDF, doc))
        };
        let bytes = dialog.notify(
            now,
            &branch,
            reason,
            body.as_ref().map(|(t, b)| (*t, b.as_bytes())),
        );
        dialog.in_flight = true;
        dialog.dirty = false;
        Notify {
            dialog: dialog.id.clone(),
            branch,
            bytes,
            to: dialog.next_hop(),
            transport: dialog.path.transport,
            conn: dialog.path.conn,
            last,
        }
    }

    /// The presentity's state changed: a NOTIFY to every watcher, or a mark
    /// to send one when the NOTIFY in flight is answered.
    fn state_changed(&mut self, now: u64, presentity: &str) -> Vec<Notify> {
        let ids: Vec<DialogId> = self
            .watchers
            .get(presentity)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        let mut out = Vec::new();
        // One composition for every watcher of this change.
        self.composed = Some((presentity.to_string(), self.document(presentity)));
        for id in ids {
            let Some(mut d) = self.dialogs.remove(&id) else {
                continue;
            };
            if d.in_flight {
                d.dirty = true;
            } else if d.state != State::Terminated {
                out.push(self.notify_now(now, &mut d, None));
            }
            self.save(d);
        }
        self.composed = None;
        out
    }

    /// The watcher answered a NOTIFY (`Some(status)`) or it timed out
    /// (`None`).
    pub fn on_notify_result(
        &mut self,
        now: u64,
        id: &DialogId,
        status: Option<u16>,
    ) -> Vec<Notify> {
        let ends = match status {
            Some(s) if (200..300).contains(&s) => false,
            // RFC 6665 §4.1.3 / §4.2.2: 481 (and any failure that means the
            // dialog is gone) ends the subscription.
            Some(481) | Some(408) => true,
            Some(_) => false,
            None => self.policy.end_on_notify_timeout,
        };
        if self.closing.remove(id) {
            self.forget(id);
            return Vec::new();
        }
        if ends {
            // The watcher's side is gone (RFC 3857 §4.7: giveup).
            let mut out = Vec::new();
            if let Some(d) = self.dialogs.get(id).cloned() {
                out = self.ended(now, &d, WinfoEvent::Giveup);
            }
            self.forget(id);
            return out;
        }
        let Some(mut d) = self.dialogs.remove(id) else {
            return Vec::new();
        };
        d.in_flight = false;
        let out = if d.dirty && d.state != State::Terminated {
            vec![self.notify_now(now, &mut d, None)]
        } else {
            Vec::new()
        };
        self.save(d);
        out
    }

    /// A subscription ended: watcher information hears of a presence one, a
    /// winfo one stops being a subscriber.
    fn ended(&mut self, now: u64, d: &Dialog, event: WinfoEvent) -> Vec<Notify> {
        if Self::is_winfo(d) {
            self.winfo.unsubscribe(&d.presentity, &d.id);
            Vec::new()
        } else {
            self.watcher_event(now, d, WinfoStatus::Terminated, event)
        }
    }

    fn unindex(&mut self, id: &DialogId) {
        if let Some(t) = self.indexed.remove(id) {
            self.expiries.remove(&(t, id.clone()));
        }
    }

    fn forget(&mut self, id: &DialogId) {
        self.changes.push(Change::SubscriptionGone(id.clone()));
        self.unindex(id);
        if let Some(d) = self.dialogs.remove(id) {
            if Self::is_winfo(&d) {
                self.winfo.unsubscribe(&d.presentity, &d.id);
            }
            self.remove_watcher(&d.presentity, id);
        }
    }

    /// Expired publications and subscriptions; the NOTIFYs they cause.
    pub fn on_timeout(&mut self, now: u64) -> Vec<Notify> {
        let mut out = Vec::new();
        let mut changed: Vec<String> = Vec::new();
        for p in self.publications.expire_removed(now) {
            self.changes.push(Change::PublicationGone(p.etag));
            changed.push(p.presentity);
        }
        changed.sort();
        changed.dedup();
        for presentity in changed {
            self.interests.push(Interest::Local(presentity.clone()));
            out.extend(self.state_changed(now, &presentity));
        }
        let expired: Vec<DialogId> = self
            .expiries
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, id)| id.clone())
            .collect();
        for id in expired {
            let Some(mut d) = self.dialogs.remove(&id) else {
                continue;
            };
            d.state = State::Terminated;
            self.remove_watcher(&d.presentity, &id);
            // RFC 6665 §4.2.2: expiry ends with reason=timeout.
            out.push(self.notify_now(now, &mut d, Some("timeout")));
            out.extend(self.ended(now, &d, WinfoEvent::Timeout));
            self.closing.insert(id);
            self.save(d);
        }
        out
    }

    /// When [`on_timeout`](Self::on_timeout) must next run.
    pub fn next_deadline(&self) -> Option<u64> {
        let subs = self.expiries.first().map(|(t, _)| *t);
        match (subs, self.publications.next_expiry()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The active presence subscriptions to `presentity`: dialog and
    /// watcher URI.
    pub fn watchers_of(&self, presentity: &str) -> Vec<(DialogId, String)> {
        self.watchers
            .get(presentity)
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| self.dialogs.get(id))
                    .filter(|d| d.state == State::Active)
                    .map(|d| (d.id.clone(), d.remote_uri.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every presentity with a publication or a presence watcher here, for
    /// the admin API: the busiest (most watchers) first.
    pub fn presentities(&self, limit: usize) -> Vec<PresentitySummary> {
        let mut aors: BTreeSet<String> = self.publications.presentities().into_iter().collect();
        aors.extend(self.watchers.keys().cloned());
        let mut rows: Vec<PresentitySummary> = aors
            .into_iter()
            .map(|aor| PresentitySummary {
                watchers: self.watchers.get(&aor).map_or(0, BTreeSet::len),
                publications: self.publications.of(&aor).len(),
                homes: self.remote_homes(&aor),
                aor,
            })
            .collect();
        rows.sort_by(|a, b| b.watchers.cmp(&a.watchers).then(a.aor.cmp(&b.aor)));
        rows.truncate(limit);
        rows
    }

    fn remote_homes(&self, presentity: &str) -> Vec<String> {
        self.remote
            .get(presentity)
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// One presentity as the admin API shows it: its composed state, its
    /// publications here, its watchers here and its remote homes. `None`
    /// when this node knows nothing of it.
    pub fn presentity(&self, now: u64, presentity: &str) -> Option<PresentityDetail> {
        let publications: Vec<PublicationSummary> = self
            .publications
            .of(presentity)
            .into_iter()
            .map(|p| PublicationSummary {
                etag: p.etag.clone(),
                expires_in_s: p.expires_at.saturating_sub(now) / 1000,
                availability: pidf::Availability::of(&p.document).as_str().to_string(),
            })
            .collect();
        let watchers = self.watcher_details(now, presentity);
        let homes = self.remote_homes(presentity);
        if publications.is_empty() && watchers.is_empty() && homes.is_empty() {
            return None;
        }
        let current = self.current(presentity);
        let availability = pidf::Availability::of(&current).as_str().to_string();
        let document = current.to_xml();
        Some(PresentityDetail {
            aor: presentity.to_string(),
            availability,
            document,
            publications,
            watchers,
            homes,
        })
    }

    /// The presence subscriptions to `presentity`, pending and active.
    pub fn watcher_details(&self, now: u64, presentity: &str) -> Vec<WatcherSummary> {
        self.watchers
            .get(presentity)
            .into_iter()
            .flatten()
            .filter_map(|id| self.dialogs.get(id))
            .map(|d| WatcherSummary {
                watcher: d.watcher.clone(),
                call_id: d.id.call_id.clone(),
                state: match d.state {
                    State::Pending => "pending",
                    State::Active => "active",
                    State::Terminated => "terminated",
                }
                .to_string(),
                expires_in_s: d.expires_at.saturating_sub(now) / 1000,
                neutral: d.neutral,
            })
            .collect()
    }

    /// The watcher (AOR) of a dialog.
    pub fn watcher(&self, id: &DialogId) -> Option<&str> {
        self.dialogs.get(id).map(|d| d.watcher.as_str())
    }

    pub fn subscriptions(&self) -> usize {
        self.dialogs.len()
    }

    pub fn publications(&self) -> usize {
        self.publications.len()
    }
}

#[cfg(test)]
mod tests;
