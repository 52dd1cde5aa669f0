//! Event, Allow-Events (RFC 6665 §8.2.1, §8.2.2) and Subscription-State
//! (RFC 6665 §8.2.3).

use std::fmt;

use crate::sip::params::{Params, params};
use crate::sip::syntax::{PResult, class, fail, sws};

/// `event-type = event-package *( "." event-template )`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventType<'a>(pub &'a str);

impl<'a> EventType<'a> {
    pub fn package(&self) -> &'a str {
        self.0.split('.').next().unwrap_or(self.0)
    }

    pub fn templates(&self) -> impl Iterator<Item = &'a str> {
        self.0.split('.').skip(1)
    }

    /// Event packages compare case-sensitively by the token (RFC 6665 §8.2.1
    /// registers them in lower case; we match as received).
    pub fn is(&self, name: &str) -> bool {
        self.0 == name
    }
}

impl fmt::Display for EventType<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// `token-nodot` pieces joined by dots.
pub fn event_type(i: &str) -> PResult<'_, EventType<'_>> {
    let (s, ()) = sws(i)?;
    let b = s.as_bytes();
    let mut k = 0;
    loop {
        let n = class::span(&b[k..], class::NODOT);
        if n == 0 {
            return fail(&s[k..], "event package or template");
        }
        k += n;
        if b.get(k) == Some(&b'.') {
            k += 1;
        } else {
            break;
        }
    }
    Ok((&s[k..], EventType(&s[..k])))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<'a> {
    pub event_type: EventType<'a>,
    pub params: Params<'a>,
}

impl<'a> Event<'a> {
    pub fn package(&self) -> &'a str {
        self.event_type.package()
    }

    /// The `id` parameter that tells subscriptions of one dialog apart.
    pub fn id(&self) -> Option<&'a str> {
        self.params.get("id").and_then(|p| p.value)
    }

    /// RFC 6665 §8.2.1: events match when type and id match.
    pub fn matches(&self, other: &Event<'_>) -> bool {
        self.event_type.0 == other.event_type.0 && self.id() == other.id()
    }
}

pub fn event(i: &str) -> PResult<'_, Event<'_>> {
    let (r, event_type) = event_type(i)?;
    let (r, params) = params(r)?;
    Ok((r, Event { event_type, params }))
}

impl fmt::Display for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.event_type)?;
        write!(f, "{}", self.params)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubState<'a> {
    Active,
    Pending,
    Terminated,
    Extension(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState<'a> {
    pub state: SubState<'a>,
    pub params: Params<'a>,
}

impl<'a> SubscriptionState<'a> {
    fn number(&self, name: &str) -> Option<u32> {
        let v = self.params.get(name)?.value?;
        v.bytes().all(|b| b.is_ascii_digit()).then(|| {
            v.bytes().fold(0u64, |a, b| {
                (a * 10 + u64::from(b - b'0')).min(u64::from(u32::MAX))
            }) as u32
        })
    }

    pub fn expires(&self) -> Option<u32> {
        self.number("expires")
    }

    pub fn retry_after(&self) -> Option<u32> {
        self.number("retry-after")
    }

    /// `reason`: deactivated, probation, rejected, timeout, giveup,
    /// noresource, invariant or an extension.
    pub fn reason(&self) -> Option<&'a str> {
        self.params.get("reason").and_then(|p| p.value)
    }
}

/// `substate-value *( SEMI subexp-params )`
pub fn subscription_state(i: &str) -> PResult<'_, SubscriptionState<'_>> {
    let (r, ()) = sws(i)?;
    let (r, v) = crate::sip::syntax::token(r).or_else(|_| fail(r, "subscription state"))?;
    // ABNF literals are case-insensitive.
    let state = if v.eq_ignore_ascii_case("active") {
        SubState::Active
    } else if v.eq_ignore_ascii_case("pending") {
        SubState::Pending
    } else if v.eq_ignore_ascii_case("terminated") {
        SubState::Terminated
    } else {
        SubState::Extension(v)
    };
    let (r, params) = params(r)?;
    Ok((r, SubscriptionState { state, params }))
}

impl fmt::Display for SubscriptionState<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.state {
            SubState::Active => "active",
            SubState::Pending => "pending",
            SubState::Terminated => "terminated",
            SubState::Extension(e) => e,
        })?;
        write!(f, "{}", self.params)
    }
}
