//! The presence agent (RFC 3856 §3): it takes PUBLISHes (RFC 3903) and
//! SUBSCRIBEs (RFC 6665) for the `presence` event package, composes each
//! presentity's publications into one PIDF document, and says which
//! NOTIFYs to send. Sans-io: the node gives it requests and the time and
//! carries out the answers and NOTIFYs it returns.
//!
//! Authorization is "allow" for now: every subscription is active at once,
//! answered 200 (RFC 6665 §4.2.1.1; 202 is never sent).

use std::collections::{BTreeSet, HashMap};

use super::pidf;
use super::publication::{Outcome, Publication, Publications, Request};
use super::subscription::{Dialog, DialogId, Path, State};
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
    pub subscribe: Bounds,
    /// End a subscription whose NOTIFY times out (a 481 always ends it,
    /// RFC 6665 §4.1.3).
    pub end_on_notify_timeout: bool,
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
            end_on_notify_timeout: true,
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

pub struct Agent {
    policy: Policy,
    changes: Vec<Change>,
    publications: Publications<pidf::Presence>,
    dialogs: HashMap<DialogId, Dialog>,
    watchers: HashMap<String, BTreeSet<DialogId>>,
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
            publications: Publications::new(seed),
            dialogs: HashMap::new(),
            watchers: HashMap::new(),
            closing: BTreeSet::new(),
            seed,
            counter: 0,
        }
    }

    /// What changed since the last call, in order, for the store.
    pub fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    /// Keeps a dialog and records it for the store.
    fn save(&mut self, dialog: Dialog) {
        self.changes.push(Change::Subscription(dialog.clone()));
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
                self.publications.restore(p);
            } else {
                self.changes.push(Change::PublicationGone(p.etag));
            }
        }
        let mut out = Vec::new();
        for mut d in dialogs {
            d.local_cseq = d.local_cseq.saturating_add(cseq_gap);
            d.in_flight = false;
            d.dirty = false;
            if d.state == State::Terminated || d.expires_at <= now {
                d.state = State::Terminated;
                out.push(self.notify_now(now, &mut d, Some("timeout")));
                self.closing.insert(d.id.clone());
            } else {
                self.watchers
                    .entry(d.presentity.clone())
                    .or_default()
                    .insert(d.id.clone());
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
        let bad = || Answer::new(489, "Bad Event").with("Allow-Events", PACKAGE);
        match req.event() {
            Some(e) if e.event_type.0 == PACKAGE => Ok(()),
            _ => Err(bad()),
        }
    }

    /// RFC 3903 §6.
    pub fn on_publish(&mut self, now: u64, req: &Message<'_>) -> (Answer, Vec<Notify>) {
        match self.publish(now, req) {
            Ok((answer, changed)) => {
                let notifies = match changed {
                    Some(p) => self.state_changed(now, &p),
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
        let entity = format!("sip:{presentity}");
        let docs: Vec<pidf::Presence> = self
            .publications
            .of(presentity)
            .into_iter()
            .map(|p| p.document.clone())
            .collect();
        if docs.is_empty() {
            pidf::closed(&entity).to_xml()
        } else {
            pidf::compose(&entity, &docs).to_xml()
        }
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
        Self::event_ok(req)?;
        // RFC 3856 §6.3: PIDF must be acceptable if Accept is present.
        let accept: Vec<_> = req.accept().collect();
        let has_accept = req.headers.iter().any(|h| h.is("Accept"));
        if has_accept && !accept.iter().any(|a| a.admits("application", "pidf+xml")) {
            return Err(Answer::new(406, "Not Acceptable").with("Accept", PIDF));
        }
        let expires = Self::granted(self.policy.subscribe, req.expires())?;
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
        let mut dialog = Dialog {
            id: id.clone(),
            event,
            presentity: presentity.clone(),
            watcher: aor_of(&from.uri),
            local_uri: to.uri.to_string(),
            remote_uri: from.uri.to_string(),
            remote_target: contact.uri.to_string(),
            route_set: req.record_routes().map(|r| r.to_string()).collect(),
            local_cseq: 0,
            remote_cseq: cseq.seq,
            expires_at: now + u64::from(expires) * 1000,
            state: State::Active,
            path,
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
        let notify = self.notify_now(now, &mut dialog, None);
        self.watchers.entry(presentity).or_default().insert(id);
        self.save(dialog);
        Ok((answer, vec![notify]))
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
            if let Some(set) = self.watchers.get_mut(&dialog.presentity) {
                set.remove(id);
            }
            self.closing.insert(id.clone());
            self.notify_now(now, &mut dialog, None)
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
        let body = self.document(&dialog.presentity);
        let last = dialog.state == State::Terminated;
        let bytes = if last {
            dialog.notify(now, &branch, reason, None)
        } else {
            dialog.notify(now, &branch, reason, Some((PIDF, body.as_bytes())))
        };
        dialog.in_flight = true;
        dialog.dirty = false;
        Notify {
            dialog: dialog.id.clone(),
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
        if self.closing.remove(id) || ends {
            self.forget(id);
            return Vec::new();
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

    fn forget(&mut self, id: &DialogId) {
        self.changes.push(Change::SubscriptionGone(id.clone()));
        if let Some(d) = self.dialogs.remove(id) {
            if let Some(set) = self.watchers.get_mut(&d.presentity) {
                set.remove(id);
                if set.is_empty() {
                    self.watchers.remove(&d.presentity);
                }
            }
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
            out.extend(self.state_changed(now, &presentity));
        }
        let expired: Vec<DialogId> = self
            .dialogs
            .values()
            .filter(|d| d.state != State::Terminated && d.expires_at <= now)
            .map(|d| d.id.clone())
            .collect();
        for id in expired {
            let Some(mut d) = self.dialogs.remove(&id) else {
                continue;
            };
            d.state = State::Terminated;
            if let Some(set) = self.watchers.get_mut(&d.presentity) {
                set.remove(&id);
            }
            // RFC 6665 §4.2.2: expiry ends with reason=timeout.
            out.push(self.notify_now(now, &mut d, Some("timeout")));
            self.closing.insert(id);
            self.save(d);
        }
        out
    }

    /// When [`on_timeout`](Self::on_timeout) must next run.
    pub fn next_deadline(&self) -> Option<u64> {
        let subs = self
            .dialogs
            .values()
            .filter(|d| d.state != State::Terminated)
            .map(|d| d.expires_at)
            .min();
        match (subs, self.publications.next_expiry()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn subscriptions(&self) -> usize {
        self.dialogs.len()
    }

    pub fn publications(&self) -> usize {
        self.publications.len()
    }
}

fn host_port(a: core::net::SocketAddr) -> String {
    match a.ip() {
        core::net::IpAddr::V4(ip) => format!("{ip}:{}", a.port()),
        core::net::IpAddr::V6(ip) => format!("[{ip}]:{}", a.port()),
    }
}

#[cfg(test)]
mod tests;
