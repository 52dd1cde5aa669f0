//! Presence authorization (RFC 3856 §6.6): which watchers may see which
//! presentity, and what each decision means for the subscription.
//!
//! This module owns the rule model ([`Rule`], [`Action`]), the node-wide
//! fallback ([`DefaultPolicy`]), the decision ([`decide`]) and the table
//! that turns a decision into a SUBSCRIBE answer and a subscription state
//! ([`subscription_outcome`], [`reauthorize`]). It is pure: rules come in
//! as a slice (the store keeps them), nothing is sent from here, and the
//! agent applies the outcome mechanically.
//!
//! # Which rule wins
//!
//! RFC 3856 §6.6 leaves the policy to the presence agent ("the PA SHOULD
//! authorize ... based on the presentity's wishes"). Ours, for one
//! presentity and one watcher:
//! 1. a watcher subscribing to itself is always allowed (a user's own
//!    devices see each other);
//! 2. among the presentity's rules that match the watcher, the most
//!    specific wins: the exact watcher AOR, then `*@domain` (every user of
//!    exactly that domain, no subdomains), then `*` (everyone);
//! 3. two matching rules equally specific (two exact rules for one
//!    watcher, say) resolve to the more permissive action, in the order of
//!    RFC 5025 §3.2.1 (`block` < `confirm` < `polite-block` < `allow`), so
//!    the answer never depends on the order the store returns rules in and
//!    reads the same as the IETF's own combining rule;
//! 4. no rule matches: the [`DefaultPolicy`].
//!
//! AORs are compared as RFC 3261 §19.1.4 compares SIP URIs: the host (and
//! a `*@domain` pattern's domain) case-insensitively, the user part
//! case-sensitively, with `%HH` escapes of characters outside the reserved
//! set equal to the characters themselves. A leading `sip:`, `sips:` or
//! `pres:` scheme is ignored, so rules may be written either way.
//!
//! # What each action means for the subscription
//!
//! | action         | SUBSCRIBE answer | subscription | NOTIFY bodies                         |
//! |----------------|------------------|--------------|---------------------------------------|
//! | `allow`        | 200 OK           | active       | the presentity's real state           |
//! | `polite-block` | 200 OK           | active       | always the neutral [`closed`] document |
//! | `confirm`      | 200 OK           | pending      | none, until the presentity decides    |
//! | `block`        | 403 Forbidden    | none         | none                                  |
//!
//! - `allow`: RFC 3856 §6.6: once authorized, the subscription is active
//!   and the watcher gets the presentity's state.
//! - `block`: RFC 3856 §6.6 lets the PA reject a subscription it will not
//!   authorize; 403 says so plainly.
//! - `polite-block`: RFC 3856 §6.6 also allows hiding the refusal ("polite
//!   blocking"): the subscription is accepted and kept active, and every
//!   NOTIFY carries [`closed`], which says only "closed", so the watcher
//!   cannot tell a blocked subscription from an offline presentity.
//! - `confirm`: the presentity must decide. The subscription is pending and
//!   its NOTIFYs say `Subscription-State: pending` with no body (RFC 6665
//!   §4.2.1.1, RFC 3856 §6.6) until a rule change decides: allowed or
//!   politely blocked, it becomes active (watcher-info event `approved`);
//!   blocked, it ends with `terminated;reason=rejected` (event
//!   `rejected`). See [`reauthorize`]. RFC 3856 §6.6, written against RFC
//!   3265, answers a pending subscription 202 Accepted; RFC 6665 §4.2.1.1
//!   answers 200 and deprecates 202, so `confirm` answers 200 like `allow`,
//!   which also keeps the answer from telling the watcher which rule it
//!   met.
//!
//! [`closed`]: super::pidf::closed

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use thiserror::Error;

use super::subscription::State;

/// A rule string or policy name that is not one we know.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthorizationError {
    #[error("unknown action {0:?} (allow, block, polite-block or confirm)")]
    UnknownAction(String),
    #[error("unknown default policy {0:?} (allow, same-domain or confirm)")]
    UnknownPolicy(String),
}

/// What to do with one watcher's subscription (table in the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Allow,
    Block,
    PoliteBlock,
    Confirm,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Block => "block",
            Action::PoliteBlock => "polite-block",
            Action::Confirm => "confirm",
        }
    }

    /// Read an action name as [`as_str`](Self::as_str) writes it (ASCII
    /// case and surrounding spaces forgiven).
    pub fn parse(s: &str) -> Result<Self, AuthorizationError> {
        let t = s.trim();
        [
            Action::Allow,
            Action::Block,
            Action::PoliteBlock,
            Action::Confirm,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(t))
        .ok_or_else(|| AuthorizationError::UnknownAction(s.to_owned()))
    }

    /// RFC 5025 §3.2.1's order of `sub-handling` values (block 0, confirm
    /// 10, polite-block 20, allow 30): used to break ties, the greater wins.
    fn permissiveness(self) -> u8 {
        match self {
            Action::Block => 0,
            Action::Confirm => 10,
            Action::PoliteBlock => 20,
            Action::Allow => 30,
        }
    }
}

impl FromStr for Action {
    type Err = AuthorizationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::parse(s)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One authorization rule of one presentity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The presentity's AOR, `user@host`.
    pub presentity: String,
    /// A watcher AOR `user@host`, or `*@domain` for every user of a domain,
    /// or `*` for everyone.
    pub watcher: String,
    pub action: Action,
}

impl Rule {
    pub fn new(presentity: impl Into<String>, watcher: impl Into<String>, action: Action) -> Self {
        Rule {
            presentity: presentity.into(),
            watcher: watcher.into(),
            action,
        }
    }
}

/// What happens to a watcher no rule of the presentity matches. The
/// default, `allow`, is what the agent did before rules existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
pub enum DefaultPolicy {
    /// Everyone may watch everyone.
    #[default]
    #[serde(rename = "allow")]
    AllowAll,
    /// Watchers of the presentity's own domain are allowed; others wait
    /// for the presentity to confirm.
    #[serde(rename = "same-domain")]
    AllowSameDomain,
    /// Every watcher waits for the presentity to confirm.
    #[serde(rename = "confirm")]
    ConfirmAll,
}

impl DefaultPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            DefaultPolicy::AllowAll => "allow",
            DefaultPolicy::AllowSameDomain => "same-domain",
            DefaultPolicy::ConfirmAll => "confirm",
        }
    }

    /// Read a policy name as [`as_str`](Self::as_str) writes it (ASCII case
    /// and surrounding spaces forgiven).
    pub fn parse(s: &str) -> Result<Self, AuthorizationError> {
        let t = s.trim();
        [
            DefaultPolicy::AllowAll,
            DefaultPolicy::AllowSameDomain,
            DefaultPolicy::ConfirmAll,
        ]
        .into_iter()
        .find(|p| p.as_str().eq_ignore_ascii_case(t))
        .ok_or_else(|| AuthorizationError::UnknownPolicy(s.to_owned()))
    }

    /// The action for a watcher no rule matches.
    pub fn decide(self, presentity: &str, watcher: &str) -> Action {
        match self {
            DefaultPolicy::AllowAll => Action::Allow,
            DefaultPolicy::ConfirmAll => Action::Confirm,
            DefaultPolicy::AllowSameDomain => {
                if Aor::new(presentity).host_is(Aor::new(watcher).host) {
                    Action::Allow
                } else {
                    Action::Confirm
                }
            }
        }
    }
}

impl FromStr for DefaultPolicy {
    type Err = AuthorizationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DefaultPolicy::parse(s)
    }
}

impl fmt::Display for DefaultPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How closely a rule's watcher pattern names a watcher; greater wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Specificity {
    Everyone,
    Domain,
    Exact,
}

/// The action for `watcher` subscribing to `presentity` (precedence in the
/// module doc). Both are AORs, `user@host`, with or without a scheme.
pub fn decide(rules: &[Rule], presentity: &str, watcher: &str, default: DefaultPolicy) -> Action {
    let p = Aor::new(presentity);
    let w = Aor::new(watcher);
    if p.same(&w) {
        return Action::Allow;
    }
    let mut best: Option<(Specificity, Action)> = None;
    for rule in rules {
        if !Aor::new(&rule.presentity).same(&p) {
            continue;
        }
        let Some(s) = specificity(&rule.watcher, &w) else {
            continue;
        };
        best = match best {
            Some((b, a)) if b > s => Some((b, a)),
            Some((b, a)) if b == s && a.permissiveness() >= rule.action.permissiveness() => {
                Some((b, a))
            }
            _ => Some((s, rule.action)),
        };
    }
    best.map_or_else(|| default.decide(presentity, watcher), |(_, a)| a)
}

/// Whether the pattern of a rule names the watcher, and how closely.
fn specificity(pattern: &str, watcher: &Aor<'_>) -> Option<Specificity> {
    let pattern = strip_scheme(pattern.trim());
    if pattern == "*" {
        return Some(Specificity::Everyone);
    }
    if let Some(domain) = pattern.strip_prefix("*@") {
        return watcher.host_is(domain).then_some(Specificity::Domain);
    }
    Aor::new(pattern)
        .same(watcher)
        .then_some(Specificity::Exact)
}

/// Whether two AORs name the same user (RFC 3261 §19.1.4, as in the module
/// doc). Also what watcher information uses to recognise the presentity.
pub fn same_aor(a: &str, b: &str) -> bool {
    Aor::new(a).same(&Aor::new(b))
}

/// An AOR split for comparison: `user@host`, scheme and URI parameters
/// left out.
#[derive(Debug, Clone, Copy)]
struct Aor<'a> {
    user: Option<&'a str>,
    host: &'a str,
}

impl<'a> Aor<'a> {
    fn new(s: &'a str) -> Self {
        let s = strip_scheme(s.trim());
        // URI parameters and headers are not part of the address.
        let s = s.split([';', '?']).next().unwrap_or(s);
        // The host follows the last `@`: a user part carries `@` escaped.
        match s.rsplit_once('@') {
            Some((user, host)) => Aor {
                user: Some(user),
                host,
            },
            None => Aor {
                user: None,
                host: s,
            },
        }
    }

    fn host_is(&self, host: &str) -> bool {
        self.host.eq_ignore_ascii_case(host.trim())
    }

    fn same(&self, other: &Aor<'_>) -> bool {
        let users = match (self.user, other.user) {
            (None, None) => true,
            (Some(a), Some(b)) => unescape_user(a) == unescape_user(b),
            _ => false,
        };
        users && self.host_is(other.host)
    }
}

fn strip_scheme(s: &str) -> &str {
    for scheme in ["sip:", "sips:", "pres:"] {
        if let Some(head) = s.get(..scheme.len()) {
            if head.eq_ignore_ascii_case(scheme) {
                return &s[scheme.len()..];
            }
        }
    }
    s
}

/// RFC 3261 §19.1.4: in the user part, `%HH` equals the character it
/// encodes unless that is a reserved character (RFC 2396 §2.2), whose
/// escaped and literal forms differ. So unreserved escapes are decoded and
/// reserved ones kept, hex digits upper-cased; a `%` not followed by two
/// hex digits stays as it is.
fn unescape_user(user: &str) -> Cow<'_, [u8]> {
    const RESERVED: &[u8] = b";/?:@&=+$,";
    let b = user.as_bytes();
    if !b.contains(&b'%') {
        return Cow::Borrowed(b);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let decoded = match (b[i], b.get(i + 1), b.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match decoded {
            Some(c) if !RESERVED.contains(&c) => {
                out.push(c);
                i += 3;
            }
            Some(_) => {
                out.push(b'%');
                out.extend(b[i + 1..i + 3].iter().map(u8::to_ascii_uppercase));
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

fn hex(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

// ---------------------------------------------------------------------------
// What the decision means for the subscription.

/// The state a subscription is in after a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubState {
    Active,
    Pending,
    /// Refused: no subscription, no dialog, no NOTIFY.
    Rejected,
}

impl SubState {
    /// The dialog state to create the subscription in; `None` when it is
    /// refused and no dialog is made.
    pub fn dialog_state(self) -> Option<State> {
        match self {
            SubState::Active => Some(State::Active),
            SubState::Pending => Some(State::Pending),
            SubState::Rejected => None,
        }
    }
}

/// How to answer a SUBSCRIBE and run its subscription (table in the module
/// doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub status: u16,
    pub reason: &'static str,
    pub state: SubState,
    /// Every NOTIFY carries the neutral `pidf::closed` document instead of
    /// the presentity's state (polite blocking). A pending subscription's
    /// NOTIFYs carry no body at all.
    pub neutral_body: bool,
}

/// The answer and subscription state for a decision.
pub fn subscription_outcome(action: Action) -> Outcome {
    let (status, reason, state, neutral_body) = match action {
        Action::Allow => (200, "OK", SubState::Active, false),
        Action::PoliteBlock => (200, "OK", SubState::Active, true),
        Action::Confirm => (200, "OK", SubState::Pending, false),
        Action::Block => (403, "Forbidden", SubState::Rejected, false),
    };
    Outcome {
        status,
        reason,
        state,
        neutral_body,
    }
}

/// What a rule change does to a subscription that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reauthorization {
    /// Nothing to send.
    Unchanged,
    /// Send a NOTIFY, `Subscription-State: active`, with the real state or
    /// the neutral document: a pending subscription approved (watcher-info
    /// event `approved`), or an active one switched between `allow` and
    /// `polite-block`.
    Notify { neutral_body: bool },
    /// End it: `Subscription-State: terminated;reason=rejected` (RFC 6665
    /// §4.1.3), watcher-info event `rejected`.
    Terminate,
}

/// A subscription in `state` (sending the neutral document or not) meets
/// the action the rules now give. An active subscription the rules now
/// say to `confirm` stays as it is: neither RFC 6665 nor the watcher state
/// machine of RFC 3857 §4.7 moves a subscription back to pending.
pub fn reauthorize(state: SubState, neutral_body: bool, action: Action) -> Reauthorization {
    let now = subscription_outcome(action);
    match (state, now.state) {
        (SubState::Rejected, _) => Reauthorization::Unchanged,
        (_, SubState::Rejected) => Reauthorization::Terminate,
        (SubState::Pending, SubState::Active) => Reauthorization::Notify {
            neutral_body: now.neutral_body,
        },
        (SubState::Active, SubState::Active) if now.neutral_body != neutral_body => {
            Reauthorization::Notify {
                neutral_body: now.neutral_body,
            }
        }
        _ => Reauthorization::Unchanged,
    }
}

#[cfg(test)]
mod tests;
