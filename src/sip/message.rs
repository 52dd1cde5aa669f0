//! The message model: a start line, header fields in order, and a body, all
//! borrowing the buffer the message was parsed from (RFC 3261 §7).

use super::header::{
    CSeq, Challenge, Contact, Credentials, Event, EventType, Header, MediaType, NameAddr,
    RawHeader, SubscriptionState, Via,
};
use super::method::Method;
use super::uri::Uri;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `Method SP Request-URI SP SIP-Version` (the version is always SIP/2.0:
    /// anything else is refused with 505 while parsing).
    Request { method: Method<'a>, uri: Uri<'a> },
    /// `SIP-Version SP Status-Code SP Reason-Phrase`; the reason may be
    /// UTF-8 or even empty (RFC 4475 §3.1.1.12, §3.1.1.13).
    Response { code: u16, reason: &'a str },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub start: StartLine<'a>,
    /// Header fields in the order received.
    pub headers: Vec<Header<'a>>,
    pub body: &'a [u8],
}

macro_rules! single {
    ($(#[$doc:meta])* $fn:ident, $variant:ident, $ty:ty) => {
        $(#[$doc])*
        pub fn $fn(&self) -> Option<$ty> {
            self.headers.iter().find_map(|h| match h {
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
            self.headers.iter().find_map(|h| match h {
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
            self.headers
                .iter()
                .filter_map(|h| match h {
                    Header::$variant(v) => Some(v.iter()),
                    _ => None,
                })
                .flatten()
        }
    };
}

impl<'a> Message<'a> {
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    pub fn method(&self) -> Option<Method<'a>> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn request_uri(&self) -> Option<&Uri<'a>> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
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
        self.headers.iter().find_map(|h| match h {
            Header::From(v) => Some(&**v),
            _ => None,
        })
    }

    pub fn to(&self) -> Option<&NameAddr<'a>> {
        self.headers.iter().find_map(|h| match h {
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
        self.headers
            .iter()
            .filter_map(|h| match h {
                Header::Contact(Contact::List(l)) => Some(l.iter()),
                _ => None,
            })
            .flatten()
    }

    pub fn contact_star(&self) -> bool {
        self.headers
            .iter()
            .any(|h| matches!(h, Header::Contact(Contact::Star)))
    }

    /// Headers we keep raw, by full name (compact forms match too).
    pub fn raw(&self, full_name: &'a str) -> impl Iterator<Item = &RawHeader<'a>> + '_ {
        self.headers.iter().filter_map(move |h| match h {
            Header::Other(r) if super::header::name_matches(r.name, full_name) => Some(r),
            _ => None,
        })
    }
}
