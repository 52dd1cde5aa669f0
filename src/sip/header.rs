//! Header fields: names (case-insensitive, compact forms of RFC 3261 §7.3.3
//! and the IANA registry), the typed values a presence proxy acts on, and
//! the raw form kept for every other header.
//!
//! A message read from the wire types a value when it is first asked for
//! ([`Field`]); [`Message::check_for`] makes a malformed Via or CSeq a 400
//! at the door rather than a surprise deep in a state machine. Comma lists
//! of small values (Allow, Supported, Accept, ...) are checked when typed
//! but kept as text, their items read when asked ([`List`]). Headers we do
//! not type keep their bytes and are printed back unchanged.
//!
//! [`Field`]: super::field::Field
//! [`Message::check_for`]: super::Message::check_for

pub mod auth;
pub mod event;
pub mod list;
pub mod media;
pub mod name_addr;
pub mod via;

use std::fmt;

pub use auth::{Auth, Challenge, Credentials};
pub use event::{Event, EventType, SubState, SubscriptionState};
pub use list::List;
pub use media::MediaType;
pub use name_addr::{Contact, DisplayName, NameAddr};
pub use via::Via;

use super::error::ErrorKind;
use super::method::Method;
use super::syntax::{self, SynErr, all, comma_list, token};

/// The header fields we parse into typed values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderName {
    Via,
    From,
    To,
    CallId,
    CSeq,
    MaxForwards,
    Contact,
    Route,
    RecordRoute,
    Expires,
    MinExpires,
    Event,
    AllowEvents,
    SubscriptionState,
    SipETag,
    SipIfMatch,
    ContentType,
    ContentLength,
    Require,
    ProxyRequire,
    Supported,
    Unsupported,
    Accept,
    Allow,
    Authorization,
    ProxyAuthorization,
    WwwAuthenticate,
    ProxyAuthenticate,
}

impl HeaderName {
    pub const ALL: [HeaderName; 28] = [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
        HeaderName::MaxForwards,
        HeaderName::Contact,
        HeaderName::Route,
        HeaderName::RecordRoute,
        HeaderName::Expires,
        HeaderName::MinExpires,
        HeaderName::Event,
        HeaderName::AllowEvents,
        HeaderName::SubscriptionState,
        HeaderName::SipETag,
        HeaderName::SipIfMatch,
        HeaderName::ContentType,
        HeaderName::ContentLength,
        HeaderName::Require,
        HeaderName::ProxyRequire,
        HeaderName::Supported,
        HeaderName::Unsupported,
        HeaderName::Accept,
        HeaderName::Allow,
        HeaderName::Authorization,
        HeaderName::ProxyAuthorization,
        HeaderName::WwwAuthenticate,
        HeaderName::ProxyAuthenticate,
    ];

    /// The canonical spelling, as the printer writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            HeaderName::Via => "Via",
            HeaderName::From => "From",
            HeaderName::To => "To",
            HeaderName::CallId => "Call-ID",
            HeaderName::CSeq => "CSeq",
            HeaderName::MaxForwards => "Max-Forwards",
            HeaderName::Contact => "Contact",
            HeaderName::Route => "Route",
            HeaderName::RecordRoute => "Record-Route",
            HeaderName::Expires => "Expires",
            HeaderName::MinExpires => "Min-Expires",
            HeaderName::Event => "Event",
            HeaderName::AllowEvents => "Allow-Events",
            HeaderName::SubscriptionState => "Subscription-State",
            HeaderName::SipETag => "SIP-ETag",
            HeaderName::SipIfMatch => "SIP-If-Match",
            HeaderName::ContentType => "Content-Type",
            HeaderName::ContentLength => "Content-Length",
            HeaderName::Require => "Require",
            HeaderName::ProxyRequire => "Proxy-Require",
            HeaderName::Supported => "Supported",
            HeaderName::Unsupported => "Unsupported",
            HeaderName::Accept => "Accept",
            HeaderName::Allow => "Allow",
            HeaderName::Authorization => "Authorization",
            HeaderName::ProxyAuthorization => "Proxy-Authorization",
            HeaderName::WwwAuthenticate => "WWW-Authenticate",
            HeaderName::ProxyAuthenticate => "Proxy-Authenticate",
        }
    }

    /// Recognises a typed header by its full or compact name, ignoring case.
    pub fn from_name(name: &str) -> Option<HeaderName> {
        let b = name.as_bytes();
        if b.len() == 1 {
            return match b[0].to_ascii_lowercase() {
                b'v' => Some(HeaderName::Via),
                b'f' => Some(HeaderName::From),
                b't' => Some(HeaderName::To),
                b'i' => Some(HeaderName::CallId),
                b'm' => Some(HeaderName::Contact),
                b'l' => Some(HeaderName::ContentLength),
                b'c' => Some(HeaderName::ContentType),
                b'k' => Some(HeaderName::Supported),
                b'o' => Some(HeaderName::Event),
                b'u' => Some(HeaderName::AllowEvents),
                _ => None,
            };
        }
        // One candidate by length and first letter, then one comparison.
        let first = b.first()?.to_ascii_lowercase();
        let candidate = match (b.len(), first) {
            (2, b't') => HeaderName::To,
            (3, b'v') => HeaderName::Via,
            (4, b'f') => HeaderName::From,
            (4, b'c') => HeaderName::CSeq,
            (5, b'r') => HeaderName::Route,
            (5, b'e') => HeaderName::Event,
            (5, b'a') => HeaderName::Allow,
            (6, b'a') => HeaderName::Accept,
            (7, b'c') if b[1].eq_ignore_ascii_case(&b'o') => HeaderName::Contact,
            (7, b'c') => HeaderName::CallId,
            (7, b'e') => HeaderName::Expires,
            (7, b'r') => HeaderName::Require,
            (8, b's') => HeaderName::SipETag,
            (9, b's') => HeaderName::Supported,
            (11, b'm') => HeaderName::MinExpires,
            (11, b'u') => HeaderName::Unsupported,
            (12, b'm') => HeaderName::MaxForwards,
            (12, b'r') => HeaderName::RecordRoute,
            (12, b'a') => HeaderName::AllowEvents,
            (12, b's') => HeaderName::SipIfMatch,
            (12, b'c') => HeaderName::ContentType,
            (13, b'p') => HeaderName::ProxyRequire,
            (13, b'a') => HeaderName::Authorization,
            (14, b'c') => HeaderName::ContentLength,
            (16, b'w') => HeaderName::WwwAuthenticate,
            (18, b's') => HeaderName::SubscriptionState,
            (18, b'p') => HeaderName::ProxyAuthenticate,
            (19, b'p') => HeaderName::ProxyAuthorization,
            _ => return None,
        };
        eq_token_fold(b, candidate.as_str().as_bytes()).then_some(candidate)
    }

    /// This header's bit in a set of names held as a `u32`.
    pub(crate) const fn bit(self) -> u32 {
        1 << self as u32
    }

    /// Headers that may appear at most once in a message (RFC 3261 §7.3.1:
    /// only headers defined as comma lists may repeat).
    pub const fn is_single(self) -> bool {
        matches!(
            self,
            HeaderName::From
                | HeaderName::To
                | HeaderName::CallId
                | HeaderName::CSeq
                | HeaderName::MaxForwards
                | HeaderName::Expires
                | HeaderName::MinExpires
                | HeaderName::Event
                | HeaderName::SubscriptionState
                | HeaderName::SipETag
                | HeaderName::SipIfMatch
                | HeaderName::ContentType
                | HeaderName::ContentLength
        )
    }
}

/// Case-insensitive equality of a header name as received (a token) with a
/// canonical name (letters and "-"). Setting bit 5 folds case; among token
/// characters only letters change under it, and no token character folds
/// onto "-", so the comparison is exact.
#[inline]
fn eq_token_fold(token: &[u8], canonical: &[u8]) -> bool {
    token.len() == canonical.len()
        && token
            .iter()
            .zip(canonical)
            .all(|(a, b)| a | 0x20 == b | 0x20)
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The full name for a compact form (RFC 3261 §7.3.3, RFC 6665 §8.2,
/// RFC 3515, RFC 3892, RFC 4028, RFC 3841, RFC 4474).
pub fn expand_compact(name: &str) -> Option<&'static str> {
    let [c] = name.as_bytes() else { return None };
    Some(match c.to_ascii_lowercase() {
        b'a' => "Accept-Contact",
        b'b' => "Referred-By",
        b'c' => "Content-Type",
        b'd' => "Request-Disposition",
        b'e' => "Content-Encoding",
        b'f' => "From",
        b'i' => "Call-ID",
        b'j' => "Reject-Contact",
        b'k' => "Supported",
        b'l' => "Content-Length",
        b'm' => "Contact",
        b'n' => "Identity-Info",
        b'o' => "Event",
        b'r' => "Refer-To",
        b's' => "Subject",
        b't' => "To",
        b'u' => "Allow-Events",
        b'v' => "Via",
        b'x' => "Session-Expires",
        b'y' => "Identity",
        _ => return None,
    })
}

/// True when `raw` (a header name as received, full or compact) names the
/// header whose full name is `full`.
pub fn name_matches(raw: &str, full: &str) -> bool {
    expand_compact(raw)
        .unwrap_or(raw)
        .eq_ignore_ascii_case(full)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    pub seq: u32,
    pub method: Method<'a>,
}

impl fmt::Display for CSeq<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// A header we keep as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawHeader<'a> {
    pub name: &'a str,
    /// The value without the leading and trailing whitespace.
    pub value: &'a str,
    /// The whole field as received (without its CRLF), for byte-identical
    /// printing; None for a header built in code.
    pub line: Option<&'a str>,
}

/// `repr(u64)`: a full-width tag is written and read with the same width
/// as the payload words beside it. With a one-byte tag, copying a header
/// into the message's list read back a byte store as part of a wider load,
/// which the CPU cannot forward: about 6% of the parse time, measured.
#[derive(Debug, Clone, PartialEq, Eq)]
#[repr(u64)]
pub enum Header<'a> {
    Via(Vec<Via<'a>>),
    /// Boxed: a name-addr is several times larger than any other value, and
    /// every header of a message would pay for its size.
    From(Box<NameAddr<'a>>),
    To(Box<NameAddr<'a>>),
    CallId(&'a str),
    CSeq(CSeq<'a>),
    MaxForwards(u32),
    Contact(Contact<'a>),
    Route(Vec<NameAddr<'a>>),
    RecordRoute(Vec<NameAddr<'a>>),
    Expires(u32),
    MinExpires(u32),
    Event(Event<'a>),
    AllowEvents(List<'a, EventType<'a>>),
    SubscriptionState(SubscriptionState<'a>),
    SipETag(&'a str),
    SipIfMatch(&'a str),
    ContentType(MediaType<'a>),
    ContentLength(u32),
    Require(List<'a, &'a str>),
    ProxyRequire(List<'a, &'a str>),
    Supported(List<'a, &'a str>),
    Unsupported(List<'a, &'a str>),
    Accept(List<'a, MediaType<'a>>),
    Allow(List<'a, Method<'a>>),
    Authorization(Credentials<'a>),
    ProxyAuthorization(Credentials<'a>),
    WwwAuthenticate(Challenge<'a>),
    ProxyAuthenticate(Challenge<'a>),
    Other(RawHeader<'a>),
}

impl<'a> Header<'a> {
    /// The typed name, None for a raw header.
    pub fn name(&self) -> Option<HeaderName> {
        Some(match self {
            Header::Via(_) => HeaderName::Via,
            Header::From(_) => HeaderName::From,
            Header::To(_) => HeaderName::To,
            Header::CallId(_) => HeaderName::CallId,
            Header::CSeq(_) => HeaderName::CSeq,
            Header::MaxForwards(_) => HeaderName::MaxForwards,
            Header::Contact(_) => HeaderName::Contact,
            Header::Route(_) => HeaderName::Route,
            Header::RecordRoute(_) => HeaderName::RecordRoute,
            Header::Expires(_) => HeaderName::Expires,
            Header::MinExpires(_) => HeaderName::MinExpires,
            Header::Event(_) => HeaderName::Event,
            Header::AllowEvents(_) => HeaderName::AllowEvents,
            Header::SubscriptionState(_) => HeaderName::SubscriptionState,
            Header::SipETag(_) => HeaderName::SipETag,
            Header::SipIfMatch(_) => HeaderName::SipIfMatch,
            Header::ContentType(_) => HeaderName::ContentType,
            Header::ContentLength(_) => HeaderName::ContentLength,
            Header::Require(_) => HeaderName::Require,
            Header::ProxyRequire(_) => HeaderName::ProxyRequire,
            Header::Supported(_) => HeaderName::Supported,
            Header::Unsupported(_) => HeaderName::Unsupported,
            Header::Accept(_) => HeaderName::Accept,
            Header::Allow(_) => HeaderName::Allow,
            Header::Authorization(_) => HeaderName::Authorization,
            Header::ProxyAuthorization(_) => HeaderName::ProxyAuthorization,
            Header::WwwAuthenticate(_) => HeaderName::WwwAuthenticate,
            Header::ProxyAuthenticate(_) => HeaderName::ProxyAuthenticate,
            Header::Other(_) => return None,
        })
    }

    /// Whether this header is the one called `full` (any header, typed or raw,
    /// full name or compact form as received).
    pub fn is(&self, full: &str) -> bool {
        match (self.name(), self) {
            (Some(n), _) => n.as_str().eq_ignore_ascii_case(full),
            (None, Header::Other(raw)) => name_matches(raw.name, full),
            _ => false,
        }
    }

    /// Parses one header value. `name` may be a compact form; `value` is the
    /// value with its surrounding whitespace removed (it may hold folded
    /// lines); `line` is the whole field, kept for raw headers.
    #[inline]
    pub fn parse(name: &'a str, value: &'a str, line: &'a str) -> Result<Header<'a>, ErrorKind> {
        let Some(typed) = HeaderName::from_name(name) else {
            return Ok(Header::Other(RawHeader {
                name,
                value,
                line: Some(line),
            }));
        };
        parse_typed(typed, value).map_err(|e| ErrorKind::Header {
            header: typed.as_str(),
            expected: e.expected,
        })
    }
}

fn u32_value<'a>(i: &'a str, what: &'static str) -> Result<u32, SynErr<'a>> {
    all(i, syntax::number_u32(what))
}

#[inline]
pub(crate) fn parse_typed(name: HeaderName, v: &str) -> Result<Header<'_>, SynErr<'_>> {
    use HeaderName as N;
    Ok(match name {
        N::Via => Header::Via(all(v, comma_list(via::via_parm))?),
        N::From => Header::From(Box::new(all(v, name_addr::name_addr_params(false))?)),
        N::To => Header::To(Box::new(all(v, name_addr::name_addr_params(false))?)),
        // callid = word [ "@" word ]
        N::CallId => Header::CallId(all(v, |i| {
            let (r, _) = syntax::word(i)?;
            let r = match r.as_bytes().first() {
                Some(b'@') => syntax::word(&r[1..])?.0,
                _ => r,
            };
            Ok((r, &i[..i.len() - r.len()]))
        })?),
        N::CSeq => Header::CSeq(all(v, |i| {
            let (r, seq) = syntax::number_u32("CSeq number within 2**32-1")(i)?;
            let (r, _) = syntax::lws(r)?;
            let (r, m) = <Method as list::Item>::item(r)?;
            Ok((r, CSeq { seq, method: m }))
        })?),
        N::MaxForwards => Header::MaxForwards(u32_value(v, "Max-Forwards within 2**32-1")?),
        N::Contact => Header::Contact(all(v, name_addr::contact)?),
        N::Route => Header::Route(all(v, comma_list(name_addr::name_addr_params(true)))?),
        N::RecordRoute => {
            Header::RecordRoute(all(v, comma_list(name_addr::name_addr_params(true)))?)
        }
        N::Expires => Header::Expires(all(v, syntax::number_saturating)?),
        N::MinExpires => Header::MinExpires(all(v, syntax::number_saturating)?),
        N::Event => Header::Event(all(v, event::event)?),
        N::AllowEvents => Header::AllowEvents(all(v, List::parse)?),
        N::SubscriptionState => Header::SubscriptionState(all(v, event::subscription_state)?),
        N::SipETag => Header::SipETag(all(v, token)?),
        N::SipIfMatch => Header::SipIfMatch(all(v, token)?),
        N::ContentType => Header::ContentType(all(v, media::media_type)?),
        N::ContentLength => Header::ContentLength(u32_value(v, "Content-Length digits")?),
        N::Require => Header::Require(all(v, List::parse)?),
        N::ProxyRequire => Header::ProxyRequire(all(v, List::parse)?),
        N::Supported => Header::Supported(List::maybe_empty(v)?),
        N::Unsupported => Header::Unsupported(all(v, List::parse)?),
        N::Accept => Header::Accept(List::maybe_empty(v)?),
        N::Allow => Header::Allow(List::maybe_empty(v)?),
        N::Authorization => Header::Authorization(all(v, auth::auth)?),
        N::ProxyAuthorization => Header::ProxyAuthorization(all(v, auth::auth)?),
        N::WwwAuthenticate => Header::WwwAuthenticate(all(v, auth::auth)?),
        N::ProxyAuthenticate => Header::ProxyAuthenticate(all(v, auth::auth)?),
    })
}

/// Writes `items` separated by ", ".
pub(crate) fn write_list<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: impl IntoIterator<Item = T>,
) -> fmt::Result {
    for (k, it) in items.into_iter().enumerate() {
        if k > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{it}")?;
    }
    Ok(())
}

/// The value of a typed header in canonical form (raw headers excluded).
pub struct TypedValue<'h, 'a>(pub &'h Header<'a>);

impl fmt::Display for TypedValue<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Header::Via(v) => write_list(f, v),
            Header::From(a) | Header::To(a) => write!(f, "{a}"),
            Header::CallId(s) | Header::SipETag(s) | Header::SipIfMatch(s) => f.write_str(s),
            Header::CSeq(c) => write!(f, "{c}"),
            Header::MaxForwards(n)
            | Header::Expires(n)
            | Header::MinExpires(n)
            | Header::ContentLength(n) => write!(f, "{n}"),
            Header::Contact(c) => write!(f, "{c}"),
            Header::Route(r) | Header::RecordRoute(r) => write_list(f, r),
            Header::Event(e) => write!(f, "{e}"),
            Header::AllowEvents(e) => write_list(f, e),
            Header::SubscriptionState(s) => write!(f, "{s}"),
            Header::ContentType(m) => write!(f, "{m}"),
            Header::Require(t)
            | Header::ProxyRequire(t)
            | Header::Supported(t)
            | Header::Unsupported(t) => write_list(f, t),
            Header::Accept(a) => write_list(f, a),
            Header::Allow(m) => write_list(f, m),
            Header::Authorization(a)
            | Header::ProxyAuthorization(a)
            | Header::WwwAuthenticate(a)
            | Header::ProxyAuthenticate(a) => write!(f, "{a}"),
            Header::Other(raw) => f.write_str(raw.value),
        }
    }
}

#[cfg(test)]
mod tests;
