//! The message model: a start line, header fields in order, and a body, all
//! borrowing the buffer the message was parsed from (RFC 3261 §7); the
//! accessors that find a header by name, typing its value on first use;
//! the checks that hold those values to their grammar.

use std::sync::OnceLock;

use super::error::{ErrorKind, ParseError};
use super::field::{Field, FieldText};
use super::header::{
    CSeq, Challenge, Contact, Credentials, Event, EventType, Header, HeaderName, MediaType,
    NameAddr, RawHeader, SubscriptionState, Via,
};
use super::method::Method;
use super::uri::Uri;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `Method SP Request-URI SP SIP-Version` (the version is always SIP/2.0:
    /// anything else is refused with 505 while parsing). The Request-URI as
    /// received; [`Message::request_uri`] types it.
    Request { method: Method<'a>, uri: &'a str },
    /// `SIP-Version SP Status-Code SP Reason-Phrase`; the reason may be
    /// UTF-8 or even empty (RFC 4475 §3.1.1.12, §3.1.1.13).
    Response { code: u16, reason: &'a str },
}

#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub start: StartLine<'a>,
    /// Header fields in the order received.
    headers: Vec<FieldText<'a>>,
    /// The Request-URI and header values typed, read when the first value
    /// is asked for.
    typed: OnceLock<Typed<'a>>,
    pub body: &'a [u8],
}

#[derive(Debug, Clone)]
struct Typed<'a> {
    /// None for a response.
    uri: Option<Result<Uri<'a>, ErrorKind>>,
    /// One per field, in order.
    headers: Box<[Header<'a>]>,
}

/// Two messages are equal when their start lines, headers and bodies are:
/// a value read lazily equals the same value typed at once.
impl PartialEq for Message<'_> {
    fn eq(&self, other: &Self) -> bool {
        let start = match (&self.start, &other.start) {
            (
                StartLine::Request { method: m, uri: u },
                StartLine::Request {
                    method: om,
                    uri: ou,
                },
            ) => {
                m == om
                    && match (self.request_uri(), other.request_uri()) {
                        (Some(a), Some(b)) => a == b,
                        // Malformed: the same text.
                        (None, None) => u == ou,
                        _ => false,
                    }
            }
            (a, b) => a == b,
        };
        start
            && self.body == other.body
            && self.headers.len() == other.headers.len()
            && self
                .fields()
                .zip(other.fields())
                .all(|(a, b)| a.header() == b.header())
    }
}

impl Eq for Message<'_> {}

macro_rules! single {
    ($(#[$doc:meta])* $fn:ident, $variant:ident, $ty:ty) => {
        $(#[$doc])*
        pub fn $fn(&self) -> Option<$ty> {
            self.named(HeaderName::$variant).find_map(|h| match h {
                Header::$variant(v) => Some(v),
                _ => None,
            })
        }
    };
}

macro_rules! single_copy {
    ($(#[$doc:meta])* $fn:ident, $variant:ident, $ty:ty) => {
        $(#[$doc])*
        pub fn $fn(&self) -> Option<$ty> {
            self.named(HeaderName::$variant).find_map(|h| match h {
                Header::$variant(v) => Some(*v),
                _ => None,
            })
        }
    };
}

/// Every item of every field of a list header, in order: references into a
/// typed vector (Via, Route), or values read from a [`List`]'s text.
///
/// [`List`]: super::header::List
macro_rules! list {
    ($(#[$doc:meta])* $fn:ident, $variant:ident, $ty:ty) => {
        $(#[$doc])*
        pub fn $fn(&self) -> impl Iterator<Item = $ty> + '_ {
            self.named(HeaderName::$variant)
                .filter_map(|h| match h {
                    Header::$variant(v) => Some(v.iter()),
                    _ => None,
                })
                .flatten()
        }
    };
}

impl<'a> Message<'a> {
    pub(crate) fn new(start: StartLine<'a>, headers: Vec<FieldText<'a>>, body: &'a [u8]) -> Self {
        Message {
            start,
            headers,
            typed: OnceLock::new(),
            body,
        }
    }

    /// The header fields in the order received (their values are read on
    /// the first call).
    pub fn fields(&self) -> impl ExactSizeIterator<Item = Field<'_, 'a>> + Clone {
        self.headers
            .iter()
            .zip(self.values().headers.iter())
            .map(|(text, header)| Field::new(text, header))
    }

    fn values(&self) -> &Typed<'a> {
        self.typed.get_or_init(|| Typed {
            uri: match self.start {
                StartLine::Request { uri, .. } => Some(super::parser::request_uri(uri)),
                StartLine::Response { .. } => None,
            },
            headers: self.headers.iter().map(FieldText::typed).collect(),
        })
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    pub fn method(&self) -> Option<Method<'a>> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI, typed; None for a response, or when it does not
    /// match its grammar (see [`Message::check_for`]).
    pub fn request_uri(&self) -> Option<&Uri<'a>> {
        self.values().uri.as_ref()?.as_ref().ok()
    }

    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    list!(
        /// Every Via value, top first, across all Via header fields.
        vias, Via, &Via<'a>);
    list!(routes, Route, &NameAddr<'a>);
    list!(record_routes, RecordRoute, &NameAddr<'a>);
    list!(allow_events, AllowEvents, EventType<'a>);
    list!(require, Require, &'a str);
    list!(proxy_require, ProxyRequire, &'a str);
    list!(supported, Supported, &'a str);
    list!(unsupported, Unsupported, &'a str);
    list!(accept, Accept, MediaType<'a>);
    list!(allow, Allow, Method<'a>);
    pub fn from(&self) -> Option<&NameAddr<'a>> {
        self.named(HeaderName::From).find_map(|h| match h {
            Header::From(v) => Some(&**v),
            _ => None,
        })
    }

    pub fn to(&self) -> Option<&NameAddr<'a>> {
        self.named(HeaderName::To).find_map(|h| match h {
            Header::To(v) => Some(&**v),
            _ => None,
        })
    }

    single!(event, Event, &Event<'a>);
    single!(
        subscription_state,
        SubscriptionState,
        &SubscriptionState<'a>
    );
    single!(content_type, ContentType, &MediaType<'a>);
    single!(authorization, Authorization, &Credentials<'a>);
    single!(proxy_authorization, ProxyAuthorization, &Credentials<'a>);
    single!(www_authenticate, WwwAuthenticate, &Challenge<'a>);
    single!(proxy_authenticate, ProxyAuthenticate, &Challenge<'a>);
    single_copy!(call_id, CallId, &'a str);
    single_copy!(cseq, CSeq, CSeq<'a>);
    single_copy!(max_forwards, MaxForwards, u32);
    single_copy!(expires, Expires, u32);
    single_copy!(min_expires, MinExpires, u32);
    single_copy!(sip_etag, SipETag, &'a str);
    single_copy!(sip_if_match, SipIfMatch, &'a str);
    single_copy!(content_length, ContentLength, u32);

    pub fn top_via(&self) -> Option<&Via<'a>> {
        self.vias().next()
    }

    /// Contact values; `Contact: *` yields none (see [`Message::contact_star`]).
    pub fn contacts(&self) -> impl Iterator<Item = &NameAddr<'a>> {
        self.named(HeaderName::Contact)
            .filter_map(|h| match h {
                Header::Contact(Contact::List(l)) => Some(l.iter()),
                _ => None,
            })
            .flatten()
    }

    pub fn contact_star(&self) -> bool {
        self.named(HeaderName::Contact)
            .any(|h| matches!(h, Header::Contact(Contact::Star)))
    }

    /// Headers we keep raw, by full name (compact forms match too).
    pub fn raw(&self, full_name: &'a str) -> impl Iterator<Item = &RawHeader<'a>> + '_ {
        self.headers
            .iter()
            .filter(|f| f.name.is_none())
            .map(|f| &f.raw)
            .filter(move |r| super::header::name_matches(r.name, full_name))
    }

    /// The headers called `name`, their values typed (read now if they were
    /// not yet; a malformed one is the raw header it is).
    fn named(&self, name: HeaderName) -> impl Iterator<Item = &Header<'a>> {
        self.fields()
            .filter(move |f| f.name() == Some(name))
            .map(|f| f.header())
    }

    /// Holds a request's Request-URI (every handler reads it) and the
    /// values of the headers called `names` to their grammar: the first
    /// that does not match is the error (a 400 naming it), and with CSeq,
    /// its method must be the request's (RFC 3261 §8.2.2, §12.2.1.1). What
    /// a handler does not read need not be well-formed (RFC 3261 §16.3
    /// step 1).
    pub fn check_for(&self, names: &[HeaderName]) -> Result<(), ParseError> {
        let err = |kind| ParseError {
            kind,
            response: !self.is_request(),
        };
        if let Some(Err(e)) = &self.values().uri {
            return Err(err(*e));
        }
        let wanted = names.iter().fold(0, |m, n| m | n.bit());
        for f in self.fields() {
            if f.name().is_some_and(|n| wanted & n.bit() != 0) {
                f.check().map_err(err)?;
            }
        }
        if let (StartLine::Request { method, .. }, true, Some(cseq)) = (
            &self.start,
            wanted & HeaderName::CSeq.bit() != 0,
            self.cseq(),
        ) {
            if cseq.method != *method {
                return Err(err(ErrorKind::MethodMismatch {
                    unknown_method: method.is_extension(),
                }));
            }
        }
        Ok(())
    }

    /// [`Message::check_for`] every typed header.
    pub fn check(&self) -> Result<(), ParseError> {
        self.check_for(&HeaderName::ALL)
    }
}
