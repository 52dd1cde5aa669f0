//! Cross-domain presence, collapsed (DESIGN.md, "Cross-domain presence"):
//! a presentity of a domain this node does not serve is watched through
//! one back-end SUBSCRIBE dialog with that domain's server per
//! presentity, however many local watchers want it; each watcher keeps a
//! dialog of its own with us, and the agent fans the remote NOTIFYs out.
//! The back-end subscription is refreshed while anyone watches and ended
//! (Expires: 0) when the last watcher leaves.
//!
//! Sans-io: it says which SUBSCRIBEs to send (the node locates the domain
//! by RFC 3263 and runs the client transactions), takes their responses
//! and the NOTIFYs that come back, and says what state each presentity has
//! there. Subscriber side of RFC 6665: §4.1.2 (refresh before expiry,
//! unsubscribe), §4.1.2.4 (a NOTIFY may come before the 2xx), §4.1.3
//! (terminated: ends the dialog; a new one follows while watched).

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use super::subscription::request_target;
use crate::sip::Message;
use crate::sip::header::SubState;

/// The home name under which a remote domain's state reaches the agent.
pub fn home_of(domain: &str) -> String {
    format!("domain:{domain}")
}

/// The domain of an AOR (`user@host`).
pub fn domain_of(aor: &str) -> &str {
    aor.rsplit_once('@').map_or(aor, |(_, d)| d)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The SUBSCRIBE is out, no 2xx yet.
    Trying,
    Active,
    /// Unsubscribed; waiting for the last answers.
    Ending,
}

#[derive(Debug, Clone)]
struct Backend {
    aor: String,
    call_id: String,
    local_tag: String,
    remote_tag: Option<String>,
    cseq: u32,
    route_set: Vec<String>,
    remote_target: Option<String>,
    phase: Phase,
    /// Ending: whether the unsubscribe (Expires: 0) is out.
    unsubscribed: bool,
    /// When to refresh (or, failed, to try again; ending, to give up
    /// waiting for the final NOTIFY).
    due: Option<u64>,
}

/// How long an ended back-end dialog waits for its final NOTIFY (RFC 6665
/// §4.1.2.3: a successful unsubscribe is followed by one), so that NOTIFY
/// is answered 200, not 481: 64*T1.
const LINGER_MS: u64 = 32_000;

/// A SUBSCRIBE to send: to `request_uri` (through `routes`), or, for a new
/// dialog, to the server RFC 3263 finds for `domain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub aor: String,
    pub call_id: String,
    /// Empty for a new dialog: locate the domain.
    pub routes: Vec<String>,
    pub request_uri: String,
    pub domain: String,
    /// Whether this one ends the subscription.
    pub ending: bool,
    cseq: u32,
    local_tag: String,
    remote_tag: Option<String>,
    expires: u32,
}

/// The state of a watched presentity at its domain changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub aor: String,
    /// The PIDF body; None: no state (terminated, failed, or a NOTIFY
    /// without a body: pending).
    pub state: Option<String>,
}

#[derive(Debug)]
pub struct Federation {
    subs: HashMap<String, Backend>,
    by_call: HashMap<String, String>,
    /// Local address for Contact, `host:port`, and its transport.
    contact: String,
    expires: u32,
    /// Wait before a failed or terminated subscription is tried again.
    retry_ms: u64,
    seed: u64,
    counter: u64,
    wanted: BTreeSet<String>,
}

impl Federation {
    pub fn new(contact: &str, expires: u32, seed: u64) -> Self {
        Federation {
            subs: HashMap::new(),
            by_call: HashMap::new(),
            contact: contact.into(),
            expires,
            retry_ms: 30_000,
            seed,
            counter: 0,
            wanted: BTreeSet::new(),
        }
    }

    /// Back-end dialogs held (one per watched remote presentity).
    pub fn len(&self) -> usize {
        self.subs
            .values()
            .filter(|b| b.phase != Phase::Ending)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a NOTIFY's Call-ID is one of our back-end dialogs'.
    pub fn knows(&self, call_id: &str) -> bool {
        self.by_call.contains_key(call_id)
    }

    pub fn is_watched(&self, aor: &str) -> bool {
        self.wanted.contains(aor)
    }

    fn unique(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{:x}{:x}", self.seed & 0xffff_ffff, self.counter)
    }

    /// The first local watcher of `aor`: a new back-end SUBSCRIBE.
    pub fn watch(&mut self, aor: &str) -> Option<Outgoing> {
        if !self.wanted.insert(aor.to_string()) {
            return None;
        }
        Some(self.subscribe_new(aor))
    }

    fn subscribe_new(&mut self, aor: &str) -> Outgoing {
        let b = Backend {
            aor: aor.into(),
            call_id: self.unique("pcfed"),
            local_tag: self.unique("ft"),
            remote_tag: None,
            cseq: 1,
            route_set: Vec::new(),
            remote_target: None,
            phase: Phase::Trying,
            unsubscribed: false,
            due: None,
        };
        if let Some(old) = self.subs.insert(aor.into(), b.clone()) {
            self.by_call.remove(&old.call_id);
        }
        self.by_call.insert(b.call_id.clone(), aor.into());
        self.outgoing(&b, self.expires)
    }

    fn outgoing(&self, b: &Backend, expires: u32) -> Outgoing {
        Outgoing {
            aor: b.aor.clone(),
            call_id: b.call_id.clone(),
            routes: b.route_set.clone(),
            request_uri: b
                .remote_target
                .clone()
                .unwrap_or_else(|| format!("sip:{}", b.aor)),
            domain: domain_of(&b.aor).to_string(),
            ending: expires == 0,
            cseq: b.cseq,
            local_tag: b.local_tag.clone(),
            remote_tag: b.remote_tag.clone(),
            expires,
        }
    }

    /// The last local watcher left: unsubscribe (in the dialog, if there
    /// is one yet).
    pub fn unwatch(&mut self, aor: &str) -> Option<Outgoing> {
        if !self.wanted.remove(aor) {
            return None;
        }
        let b = self.subs.get_mut(aor)?;
        b.phase = Phase::Ending;
        b.due = None;
        b.unsubscribed = b.remote_tag.is_some();
        // No dialog yet: the 2xx (or NOTIFY) that makes one is answered by
        // an unsubscribe then.
        b.remote_tag.as_ref()?;
        b.cseq += 1;
        let b = b.clone();
        Some(self.outgoing(&b, 0))
    }

    /// The final response to a back-end SUBSCRIBE (`None`: it timed out or
    /// the transport failed). Returns what the agent must hear and what to
    /// send now.
    pub fn on_response(
        &mut self,
        now: u64,
        call_id: &str,
        status: Option<u16>,
        resp: Option<&Message<'_>>,
    ) -> (Vec<Update>, Vec<Outgoing>) {
        let Some(aor) = self.by_call.get(call_id).cloned() else {
            return (Vec::new(), Vec::new());
        };
        let Some(b) = self.subs.get_mut(&aor) else {
            return (Vec::new(), Vec::new());
        };
        let mut sends = Vec::new();
        match (status, resp) {
            (Some(s), Some(r)) if (200..300).contains(&s) => {
                if b.remote_tag.is_none() {
                    b.remote_tag = r.to().and_then(|t| t.tag()).map(str::to_string);
                    // RFC 3261 §12.1.2: the UAC's route set is the
                    // Record-Route list reversed.
                    let mut rr: Vec<String> = r.record_routes().map(|x| x.to_string()).collect();
                    rr.reverse();
                    b.route_set = rr;
                    b.remote_target = r.contacts().next().map(|c| c.uri.to_string());
                }
                if b.phase == Phase::Ending {
                    if self.wanted.contains(&aor) && !b.unsubscribed {
                        b.phase = Phase::Active;
                    } else {
                        // The unsubscribe's 2xx, or the 2xx of a dialog
                        // nobody wants any more (unsubscribed now): wait
                        // for the final NOTIFY.
                        if !b.unsubscribed {
                            b.unsubscribed = true;
                            b.cseq += 1;
                            let out = b.clone();
                            sends.push(self.outgoing(&out, 0));
                        }
                        if let Some(b) = self.subs.get_mut(&aor) {
                            b.due = Some(now + LINGER_MS);
                        }
                        return (Vec::new(), sends);
                    }
                }
                if b.phase == Phase::Trying {
                    b.phase = Phase::Active;
                }
                let granted = r.expires().unwrap_or(self.expires);
                if granted == 0 {
                    return (Vec::new(), Vec::new());
                }
                // Refresh at 80 % of what was granted (RFC 6665 §4.1.2.2
                // leaves the margin to the subscriber).
                b.due = Some(now + u64::from(granted) * 800);
                (Vec::new(), sends)
            }
            _ => {
                // Refused, timed out or unreachable: no state; again later
                // while anyone watches (a 481 in a dialog: a new dialog).
                let ending = b.phase == Phase::Ending;
                self.forget(&aor);
                if ending || !self.wanted.contains(&aor) {
                    return (Vec::new(), Vec::new());
                }
                // A new dialog, sent when the retry is due (`on_timeout`).
                self.subscribe_new(&aor);
                if let Some(nb) = self.subs.get_mut(&aor) {
                    nb.due = Some(now + self.retry_ms);
                    nb.phase = Phase::Trying;
                }
                (vec![Update { aor, state: None }], Vec::new())
            }
        }
    }

    fn forget(&mut self, aor: &str) {
        if let Some(b) = self.subs.remove(aor) {
            self.by_call.remove(&b.call_id);
        }
    }

    /// A NOTIFY: (status to answer, the update for the agent, anything to
    /// send). 481 when it matches no back-end dialog (RFC 6665 §4.1.3).
    pub fn on_notify(
        &mut self,
        now: u64,
        req: &Message<'_>,
    ) -> (u16, Option<Update>, Vec<Outgoing>) {
        let call_id = req.call_id().unwrap_or("");
        let Some(aor) = self.by_call.get(call_id).cloned() else {
            return (481, None, Vec::new());
        };
        let Some(b) = self.subs.get_mut(&aor) else {
            return (481, None, Vec::new());
        };
        let to_tag = req.to().and_then(|t| t.tag());
        if to_tag != Some(b.local_tag.as_str()) {
            return (481, None, Vec::new());
        }
        let from_tag = req.from().and_then(|f| f.tag()).map(str::to_string);
        match (&b.remote_tag, &from_tag) {
            (Some(have), Some(got)) if have != got => return (481, None, Vec::new()),
            (None, Some(_)) => {
                // §4.1.2.4: the NOTIFY came before the 2xx: it makes the
                // dialog.
                b.remote_tag = from_tag.clone();
                b.remote_target = req.contacts().next().map(|c| c.uri.to_string());
                let rr: Vec<String> = req.record_routes().map(|x| x.to_string()).collect();
                b.route_set = rr;
                if b.phase == Phase::Trying {
                    b.phase = Phase::Active;
                }
            }
            _ => {}
        }
        let terminated = req
            .subscription_state()
            .is_some_and(|s| matches!(s.state, SubState::Terminated));
        let body = (!req.body.is_empty()).then(|| String::from_utf8_lossy(req.body).into_owned());
        let mut sends = Vec::new();
        if terminated {
            let watched = self.wanted.contains(&aor);
            self.forget(&aor);
            if watched {
                // §4.1.3: a new subscription, unless the notifier asks us
                // to wait (retry-after) or says never (rejected).
                let reason = req
                    .subscription_state()
                    .and_then(|s| s.params.get("reason").and_then(|p| p.value))
                    .unwrap_or("");
                let retry = req.subscription_state().and_then(|s| s.retry_after());
                if reason.eq_ignore_ascii_case("rejected")
                    || reason.eq_ignore_ascii_case("noresource")
                {
                    self.wanted.remove(&aor);
                } else {
                    let out = self.subscribe_new(&aor);
                    match retry {
                        Some(secs) if secs > 0 => {
                            if let Some(nb) = self.subs.get_mut(&aor) {
                                nb.due = Some(now + u64::from(secs) * 1000);
                            }
                        }
                        _ => sends.push(out),
                    }
                }
            }
            return (200, Some(Update { aor, state: None }), sends);
        }
        if b.phase == Phase::Ending {
            // A NOTIFY made the dialog after the last watcher left: end it.
            if !b.unsubscribed {
                b.unsubscribed = true;
                b.cseq += 1;
                b.due = Some(now + LINGER_MS);
                let out = b.clone();
                sends.push(self.outgoing(&out, 0));
            }
            return (200, None, sends);
        }
        (200, Some(Update { aor, state: body }), sends)
    }

    /// Refreshes and retries that are due.
    pub fn on_timeout(&mut self, now: u64) -> Vec<Outgoing> {
        let due: Vec<String> = self
            .subs
            .values()
            .filter(|b| b.due.is_some_and(|d| d <= now))
            .map(|b| b.aor.clone())
            .collect();
        let mut out = Vec::new();
        for aor in due {
            let Some(b) = self.subs.get_mut(&aor) else {
                continue;
            };
            b.due = None;
            if b.phase == Phase::Ending {
                // No final NOTIFY came: the dialog is over anyway.
                self.forget(&aor);
                continue;
            }
            if b.remote_tag.is_some() && b.phase == Phase::Active {
                b.cseq += 1;
                let b = b.clone();
                out.push(self.outgoing(&b, self.expires));
            } else if self.wanted.contains(&aor) {
                out.push(self.subscribe_new(&aor));
            }
        }
        out
    }

    pub fn next_deadline(&self) -> Option<u64> {
        self.subs.values().filter_map(|b| b.due).min()
    }

    /// The SUBSCRIBE's bytes, with our Via (`transport`, `sent_by`,
    /// `branch`).
    pub fn request(&self, o: &Outgoing, transport: &str, sent_by: &str, branch: &str) -> Vec<u8> {
        let (request_uri, routes) = request_target(&o.request_uri, &o.routes);
        let mut out = String::with_capacity(512);
        let _ = write!(out, "SUBSCRIBE {request_uri} SIP/2.0\r\n");
        let _ = write!(
            out,
            "Via: SIP/2.0/{transport} {sent_by};branch={branch};rport\r\n"
        );
        out.push_str("Max-Forwards: 70\r\n");
        for r in &routes {
            let _ = write!(out, "Route: {r}\r\n");
        }
        let _ = write!(
            out,
            "From: <sip:{}>;tag={}\r\n",
            self.subscriber(sent_by),
            o.local_tag
        );
        match &o.remote_tag {
            Some(t) => {
                let _ = write!(out, "To: <sip:{}>;tag={t}\r\n", o.aor);
            }
            None => {
                let _ = write!(out, "To: <sip:{}>\r\n", o.aor);
            }
        }
        let _ = write!(out, "Call-ID: {}\r\n", o.call_id);
        let _ = write!(out, "CSeq: {} SUBSCRIBE\r\n", o.cseq);
        let tp = if transport == "TCP" {
            ";transport=tcp"
        } else {
            ""
        };
        let _ = write!(out, "Contact: <sip:{}{tp}>\r\n", self.contact_for(sent_by));
        out.push_str("Event: presence\r\nAccept: application/pidf+xml\r\n");
        let _ = write!(out, "Expires: {}\r\nContent-Length: 0\r\n\r\n", o.expires);
        out.into_bytes()
    }

    fn contact_for<'s>(&'s self, sent_by: &'s str) -> &'s str {
        if self.contact.is_empty() {
            sent_by
        } else {
            &self.contact
        }
    }

    /// Who subscribes: the presence service of this node (a server, not
    /// one of the watchers).
    fn subscriber(&self, sent_by: &str) -> String {
        let contact = self.contact_for(sent_by);
        let host = contact.rsplit_once(':').map_or(contact, |(h, _)| h);
        format!("presence@{host}")
    }
}

#[cfg(test)]
mod tests;
