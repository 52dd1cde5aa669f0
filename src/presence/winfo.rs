//! Watcher information: the `presence.winfo` event template-package (RFC
//! 3857) and its document format `application/watcherinfo+xml` (RFC 3858).
//! A presentity subscribes to `presence.winfo` to learn who subscribes to
//! its presence and in what state each of those subscriptions is, so that
//! it can authorize them (RFC 3857 §3.1).
//!
//! This module owns three things:
//! - the document model [`WatcherInfo`] (RFC 3858 §3, schema §6), printed by
//!   [`WatcherInfo::to_xml`] and read back by [`parse`];
//! - the watcher state machine of RFC 3857 §4.7 ([`Status`], [`Event`],
//!   [`transition_allowed`]);
//! - [`WinfoTracker`], which keeps, per presentity, the watchers of its
//!   presence subscriptions and the winfo subscriptions that watch them, and
//!   says which documents to send to whom.
//!
//! It is sans-io: no sockets, no tasks, no clock. `now` is an argument, in
//! milliseconds on the agent's clock (the clock of `Dialog::expires_at`).
//! It does not decide who may subscribe to watcher information (see
//! [`authorized_subscriber`]) nor send anything: the agent turns each
//! [`WinfoNotify`] into a NOTIFY on that winfo subscription's dialog.
//!
//! # The watcher state machine (RFC 3857 §4.7)
//!
//! Each presence subscription is one watcher with a status; the `event`
//! attribute names what moved it into that status. The event names are the
//! Subscription-State reason codes of RFC 6665 §4.1.3, plus `subscribe` and
//! `approved`. From no state ("init"):
//!
//! | from      | event                                               | to           |
//! |-----------|-----------------------------------------------------|--------------|
//! | init      | subscribe (policy: no decision / accept / reject)   | pending / active / terminated |
//! | pending   | approved                                            | active       |
//! | pending   | timeout (expired before anyone decided)             | waiting      |
//! | pending   | deactivated, probation, rejected, giveup, noresource | terminated  |
//! | active    | deactivated, probation, rejected, timeout, noresource | terminated |
//! | waiting   | subscribe (the watcher tries again)                 | pending      |
//! | waiting   | approved, rejected, giveup, noresource              | terminated   |
//!
//! `waiting` keeps an expired, never-decided subscription visible, so the
//! presentity can still see that someone tried; the agent ends it with
//! `giveup` when it stops remembering. We also accept init → terminated on
//! `rejected`, which is how a `block` rule (RFC 3856 §6.6) reads best to the
//! presentity (RFC 3857 §3.2, blacklist alerts).
//!
//! # Which documents (RFC 3857 §4.3 default policy, RFC 3858 §3, §4)
//!
//! - A new or refreshed winfo subscription gets the full state
//!   ([`WinfoTracker::subscribe`]): every current watcher, state `full`.
//! - A watcher changing status gets, to every winfo subscription of that
//!   presentity, a partial document holding only that watcher, state
//!   `partial` ([`WinfoTracker::watcher_changed`]).
//! - `version` counts documents per winfo subscription: 0 for the first,
//!   then one more for each document sent on it, whatever its kind (RFC
//!   3858 §4: a gap tells the subscriber it missed one, so it must never
//!   skip). A new subscription starts again at 0; a refresh does not.
//! - A refresh of a presence subscription (same status) changes no
//!   document: `expiration` and `duration-subscribed` tick with the clock
//!   and are not state changes; they are computed when a document is built.
//! - A watcher that reaches `terminated` is reported once, in the partial
//!   document, and then forgotten, so full documents list the current
//!   watchers (pending, active, waiting) and the table cannot grow without
//!   bound.
//!
//! # Reading
//!
//! Elements and attributes are matched by namespace URI and local name,
//! never by prefix. Elements in other namespaces (the schema's `##other`
//! extension points) are skipped with everything inside them; an unknown
//! element in the watcherinfo namespace, or any element inside a
//! `<watcher>`, is refused. Enumerated and numeric attribute values are
//! trimmed; `expiration` and `duration-subscribed` (`xs:unsignedLong`) are
//! capped at `u32::MAX` seconds. The watcher URI is the element's text,
//! trimmed. `xml:lang` is not kept. A DOCTYPE is ignored and its entities
//! never expanded.

use super::xml::{escape_attr, escape_text, is_xml_char, quote};
use std::collections::BTreeMap;
use std::fmt;

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event as XmlEvent};
use quick_xml::name::ResolveResult;
use thiserror::Error;

use super::authorization::{self, SubState};

/// RFC 3858 §8.2: the watcherinfo namespace.
pub const NS_WATCHERINFO: &str = "urn:ietf:params:xml:ns:watcherinfo";
/// RFC 3858 §8.1: the body type of a winfo NOTIFY.
pub const CONTENT_TYPE: &str = "application/watcherinfo+xml";
/// RFC 3857 §4.1: the template-package name.
pub const TEMPLATE: &str = "winfo";
/// The Event header value of a subscription to presence watcher information.
pub const PRESENCE_WINFO: &str = "presence.winfo";

/// Why a watcherinfo body was refused. The Display text can serve as a SIP
/// reason phrase: one short ASCII line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WinfoError {
    #[error("not well-formed XML at byte {at}: {reason}")]
    Malformed { at: u64, reason: String },
    #[error("root element is not <watcherinfo> in the watcherinfo namespace")]
    NotWatcherInfo,
    #[error("<{element}> without {attribute}")]
    MissingAttribute {
        element: &'static str,
        attribute: &'static str,
    },
    #[error("bad {attribute} value {value}")]
    BadValue {
        attribute: &'static str,
        value: String,
    },
    /// An unknown element in our namespace, or an element inside a
    /// `<watcher>` (whose content is a URI only, RFC 3858 §6).
    #[error("unexpected element {0}")]
    UnexpectedElement(String),
    #[error("<watcher> without a URI")]
    MissingUri,
}

impl WinfoError {
    /// The status to answer a request carrying this body with.
    pub fn status(&self) -> u16 {
        400
    }

    fn malformed(at: u64, reason: impl fmt::Display) -> Self {
        WinfoError::Malformed {
            at,
            reason: quote(&reason.to_string()),
        }
    }

    fn bad(attribute: &'static str, value: &str) -> Self {
        WinfoError::BadValue {
            attribute,
            value: quote(value),
        }
    }
}

/// A change the RFC 3857 §4.7 state machine has no arrow for; the tracker
/// refuses it and keeps what it had.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("watcher {id}: no move from {} to {to} on {event} (RFC 3857 s4.7)", status_name(.from))]
pub struct TransitionError {
    pub id: String,
    /// `None` is "init": the tracker had no state for this watcher.
    pub from: Option<Status>,
    pub to: Status,
    pub event: Event,
}

fn status_name(s: &Option<Status>) -> &'static str {
    s.map_or("init", Status::as_str)
}

// ---------------------------------------------------------------------------
// The model.

/// RFC 3858 §3: whether a document is the whole watcher list or changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocState {
    Full,
    Partial,
}

impl DocState {
    pub fn as_str(self) -> &'static str {
        match self {
            DocState::Full => "full",
            DocState::Partial => "partial",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(DocState::Full),
            "partial" => Some(DocState::Partial),
            _ => None,
        }
    }
}

/// RFC 3857 §4.7, RFC 3858 §6: the status of one watcher's subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Pending,
    Active,
    /// Expired while pending; kept so the presentity sees the attempt.
    Waiting,
    Terminated,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Active => "active",
            Status::Waiting => "waiting",
            Status::Terminated => "terminated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Status::Pending),
            "active" => Some(Status::Active),
            "waiting" => Some(Status::Waiting),
            "terminated" => Some(Status::Terminated),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status an authorization outcome gives a new watcher (the event is
/// `subscribe`): accepted is active, waiting for the presentity is
/// pending, refused is terminated.
impl From<SubState> for Status {
    fn from(s: SubState) -> Self {
        match s {
            SubState::Active => Status::Active,
            SubState::Pending => Status::Pending,
            SubState::Rejected => Status::Terminated,
        }
    }
}

/// RFC 3857 §4.7, RFC 3858 §6: what moved a watcher into its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    Subscribe,
    Approved,
    Deactivated,
    Probation,
    Rejected,
    Timeout,
    Giveup,
    Noresource,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Subscribe => "subscribe",
            Event::Approved => "approved",
            Event::Deactivated => "deactivated",
            Event::Probation => "probation",
            Event::Rejected => "rejected",
            Event::Timeout => "timeout",
            Event::Giveup => "giveup",
            Event::Noresource => "noresource",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "subscribe" => Event::Subscribe,
            "approved" => Event::Approved,
            "deactivated" => Event::Deactivated,
            "probation" => Event::Probation,
            "rejected" => Event::Rejected,
            "timeout" => Event::Timeout,
            "giveup" => Event::Giveup,
            "noresource" => Event::Noresource,
            _ => return None,
        })
    }

    /// The Subscription-State `reason` (RFC 6665 §4.1.3) of the terminating
    /// NOTIFY that goes with this event on the watched subscription; RFC
    /// 3857 §4.7 names its events after those reasons. `None` for the two
    /// events that do not end a subscription.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Event::Subscribe | Event::Approved => None,
            e => Some(e.as_str()),
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// RFC 3858 §3: one watcher, that is one subscription to the resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watcher {
    /// Unique among the watchers of the list; stable for the subscription
    /// (see [`watcher_id`]).
    pub id: String,
    /// The watcher's URI (the From of its SUBSCRIBE), the element's text.
    pub uri: String,
    pub status: Status,
    pub event: Event,
    pub display_name: Option<String>,
    /// Seconds until the subscription expires.
    pub expiration: Option<u32>,
    /// Seconds since the subscription was created.
    pub duration_subscribed: Option<u32>,
}

impl Watcher {
    pub fn new(
        id: impl Into<String>,
        uri: impl Into<String>,
        status: Status,
        event: Event,
    ) -> Self {
        Watcher {
            id: id.into(),
            uri: uri.into(),
            status,
            event,
            display_name: None,
            expiration: None,
            duration_subscribed: None,
        }
    }
}

/// RFC 3858 §3: the watchers of one resource in one event package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatcherList {
    /// The presentity's URI.
    pub resource: String,
    /// The watched package: `presence`.
    pub package: String,
    pub watchers: Vec<Watcher>,
}

/// RFC 3858 §3: one watcherinfo document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatcherInfo {
    pub version: u32,
    pub state: DocState,
    pub lists: Vec<WatcherList>,
}

// ---------------------------------------------------------------------------
// Printing.

impl WatcherInfo {
    /// Print the document: XML declaration, the watcherinfo namespace as
    /// default namespace, attributes in schema order. [`parse`] of the
    /// result gives back an equal model (watcher URIs are trimmed there, so
    /// a URI with surrounding spaces does not survive).
    pub fn to_xml(&self) -> String {
        let watchers: usize = self.lists.iter().map(|l| l.watchers.len()).sum();
        let mut out = String::with_capacity(160 + 96 * self.lists.len() + 160 * watchers);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str("<watcherinfo xmlns=\"");
        out.push_str(NS_WATCHERINFO);
        out.push_str("\" version=\"");
        out.push_str(&self.version.to_string());
        out.push_str("\" state=\"");
        out.push_str(self.state.as_str());
        out.push_str("\">\n");
        for list in &self.lists {
            out.push_str("  <watcher-list resource=\"");
            escape_attr(&mut out, &list.resource);
            out.push_str("\" package=\"");
            escape_attr(&mut out, &list.package);
            if list.watchers.is_empty() {
                out.push_str("\"/>\n");
                continue;
            }
            out.push_str("\">\n");
            for w in &list.watchers {
                write_watcher(&mut out, w);
            }
            out.push_str("  </watcher-list>\n");
        }
        out.push_str("</watcherinfo>\n");
        out
    }

    /// Every watcher of every list.
    pub fn watchers(&self) -> impl Iterator<Item = &Watcher> {
        self.lists.iter().flat_map(|l| l.watchers.iter())
    }
}

fn write_watcher(out: &mut String, w: &Watcher) {
    out.push_str("    <watcher id=\"");
    escape_attr(out, &w.id);
    out.push_str("\" status=\"");
    out.push_str(w.status.as_str());
    out.push_str("\" event=\"");
    out.push_str(w.event.as_str());
    out.push('"');
    if let Some(name) = &w.display_name {
        out.push_str(" display-name=\"");
        escape_attr(out, name);
        out.push('"');
    }
    if let Some(e) = w.expiration {
        out.push_str(" expiration=\"");
        out.push_str(&e.to_string());
        out.push('"');
    }
    if let Some(d) = w.duration_subscribed {
        out.push_str(" duration-subscribed=\"");
        out.push_str(&d.to_string());
        out.push('"');
    }
    out.push('>');
    escape_text(out, &w.uri);
    out.push_str("</watcher>\n");
}

// ---------------------------------------------------------------------------
// Reading.

/// Parse a watcherinfo document (a NOTIFY body, UTF-8).
pub fn parse(body: &[u8]) -> Result<WatcherInfo, WinfoError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| WinfoError::malformed(e.valid_up_to() as u64, "invalid UTF-8"))?;
    // A UTF-8 byte order mark is allowed before the XML declaration.
    let (text, base) = match text.strip_prefix('\u{feff}') {
        Some(rest) => (rest, 3),
        None => (text, 0),
    };
    let mut reader = NsReader::from_str(text);
    let mut p = Reader::default();
    loop {
        let at = base + reader.buffer_position();
        let (ns, event) = match reader.read_resolved_event() {
            Ok((ns, event)) => (namespace(ns, at)?, event),
            Err(e) => return Err(WinfoError::malformed(base + reader.error_position(), e)),
        };
        match event {
            XmlEvent::Start(start) => p.open(&reader, ns, &start, at, false)?,
            XmlEvent::Empty(start) => p.open(&reader, ns, &start, at, true)?,
            XmlEvent::End(_) => p.close(at)?,
            XmlEvent::Text(t) => {
                let s = t.unescape().map_err(|e| WinfoError::malformed(at, e))?;
                p.text(&s, at)?;
            }
            XmlEvent::CData(c) => {
                let s = std::str::from_utf8(&c).map_err(|e| WinfoError::malformed(at, e))?;
                p.text(s, at)?;
            }
            XmlEvent::Eof => break,
            // The declaration, comments, processing instructions and a
            // DOCTYPE carry nothing here.
            XmlEvent::Decl(_) | XmlEvent::Comment(_) | XmlEvent::PI(_) | XmlEvent::DocType(_) => {}
        }
    }
    let end = base + text.len() as u64;
    if p.depth != 0 {
        return Err(WinfoError::malformed(end, "unclosed element"));
    }
    p.doc
        .ok_or_else(|| WinfoError::malformed(end, "no root element"))
}

/// Where the streaming reader is. Depth 1 is inside `<watcherinfo>`, 2
/// inside a `<watcher-list>`, 3 inside a `<watcher>`; `skip` is the depth
/// at which a foreign subtree being skipped started. No recursion, so deep
/// input costs no stack.
#[derive(Default)]
struct Reader {
    doc: Option<WatcherInfo>,
    /// The root element has been closed.
    done: bool,
    depth: usize,
    skip: Option<usize>,
    /// The open `<watcher>` and its text so far.
    watcher: Option<(Watcher, String)>,
}

impl Reader {
    fn open(
        &mut self,
        reader: &NsReader<&[u8]>,
        ns: Option<String>,
        start: &BytesStart<'_>,
        at: u64,
        empty: bool,
    ) -> Result<(), WinfoError> {
        if self.skip.is_none() {
            let local = local_name(start, at)?;
            let ours = ns.as_deref() == Some(NS_WATCHERINFO);
            match self.depth {
                0 if self.done => {
                    return Err(WinfoError::malformed(at, "content after the root element"));
                }
                0 if ours && local == "watcherinfo" => {
                    let attrs = attributes(reader, start, at)?;
                    self.doc = Some(watcherinfo(&attrs)?);
                    if empty {
                        self.done = true;
                    }
                }
                0 => return Err(WinfoError::NotWatcherInfo),
                1 if ours && local == "watcher-list" => {
                    let attrs = attributes(reader, start, at)?;
                    let list = watcher_list(&attrs)?;
                    if let Some(doc) = &mut self.doc {
                        doc.lists.push(list);
                    }
                }
                2 if ours && local == "watcher" => {
                    if empty {
                        return Err(WinfoError::MissingUri);
                    }
                    let attrs = attributes(reader, start, at)?;
                    self.watcher = Some((watcher(&attrs)?, String::new()));
                }
                // RFC 3858 §6: `<watcher>` has simple content.
                3 => return Err(WinfoError::UnexpectedElement(quote(&local))),
                _ if ours => return Err(WinfoError::UnexpectedElement(quote(&local))),
                // An extension in another namespace: skipped whole.
                _ if !empty => self.skip = Some(self.depth),
                _ => {}
            }
        }
        if !empty {
            self.depth += 1;
        }
        Ok(())
    }

    fn close(&mut self, at: u64) -> Result<(), WinfoError> {
        self.depth = self
            .depth
            .checked_sub(1)
            .ok_or_else(|| WinfoError::malformed(at, "end tag without start tag"))?;
        if self.skip.is_some() {
            if self.skip == Some(self.depth) {
                self.skip = None;
            }
            return Ok(());
        }
        match self.depth {
            0 => self.done = true,
            2 => {
                if let Some((mut w, text)) = self.watcher.take() {
                    let uri = text.trim();
                    if uri.is_empty() {
                        return Err(WinfoError::MissingUri);
                    }
                    w.uri = uri.to_owned();
                    if let Some(list) = self.doc.as_mut().and_then(|d| d.lists.last_mut()) {
                        list.watchers.push(w);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn text(&mut self, s: &str, at: u64) -> Result<(), WinfoError> {
        if self.depth == 0 {
            return if s.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r')) {
                Ok(())
            } else {
                Err(WinfoError::malformed(at, "text outside the root element"))
            };
        }
        if self.skip.is_none() {
            if let Some((_, text)) = &mut self.watcher {
                check_chars(s, at)?;
                text.push_str(s);
            }
        }
        // Whitespace between structure elements carries nothing.
        Ok(())
    }
}

fn namespace(ns: ResolveResult<'_>, at: u64) -> Result<Option<String>, WinfoError> {
    match ns {
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Bound(n) => Ok(Some(String::from_utf8_lossy(n.into_inner()).into_owned())),
        ResolveResult::Unknown(prefix) => Err(WinfoError::malformed(
            at,
            format_args!("unbound prefix {}", String::from_utf8_lossy(&prefix)),
        )),
    }
}

fn local_name(start: &BytesStart<'_>, at: u64) -> Result<String, WinfoError> {
    std::str::from_utf8(start.local_name().into_inner())
        .map(str::to_owned)
        .map_err(|e| WinfoError::malformed(at, e))
}

/// The unqualified attributes of an element (namespace declarations and
/// qualified attributes such as `xml:lang` left out), values unescaped.
fn attributes(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    at: u64,
) -> Result<Vec<(String, String)>, WinfoError> {
    let mut out = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| WinfoError::malformed(at, e))?;
        if attr.key.as_namespace_binding().is_some() {
            continue;
        }
        let (ns, local) = reader.resolve_attribute(attr.key);
        if namespace(ns, at)?.is_some() {
            continue;
        }
        let name =
            std::str::from_utf8(local.into_inner()).map_err(|e| WinfoError::malformed(at, e))?;
        let value = attr
            .unescape_value()
            .map_err(|e| WinfoError::malformed(at, e))?;
        check_chars(&value, at)?;
        out.push((name.to_owned(), value.into_owned()));
    }
    Ok(out)
}

fn check_chars(s: &str, at: u64) -> Result<(), WinfoError> {
    if s.chars().all(is_xml_char) {
        Ok(())
    } else {
        Err(WinfoError::malformed(at, "character not allowed in XML"))
    }
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn required<'a>(
    attrs: &'a [(String, String)],
    element: &'static str,
    attribute: &'static str,
) -> Result<&'a str, WinfoError> {
    attr(attrs, attribute).ok_or(WinfoError::MissingAttribute { element, attribute })
}

/// An `xs:nonNegativeInteger` / `xs:unsignedLong` (whitespace collapses).
fn number(attribute: &'static str, value: &str) -> Result<u64, WinfoError> {
    let v = value.trim();
    let digits = v.strip_prefix('+').unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WinfoError::bad(attribute, value));
    }
    digits
        .parse()
        .map_err(|_| WinfoError::bad(attribute, value))
}

/// `expiration` and `duration-subscribed`: seconds, capped at `u32::MAX`.
fn seconds(attrs: &[(String, String)], attribute: &'static str) -> Result<Option<u32>, WinfoError> {
    attr(attrs, attribute)
        .map(|v| number(attribute, v).map(|n| u32::try_from(n).unwrap_or(u32::MAX)))
        .transpose()
}

/// RFC 3858 §3, §6: the `<watcherinfo>` attributes, both required.
fn watcherinfo(attrs: &[(String, String)]) -> Result<WatcherInfo, WinfoError> {
    let version = required(attrs, "watcherinfo", "version")?;
    let version = u32::try_from(number("version", version)?)
        .map_err(|_| WinfoError::bad("version", version))?;
    let state = required(attrs, "watcherinfo", "state")?;
    let state = DocState::parse(state.trim()).ok_or_else(|| WinfoError::bad("state", state))?;
    Ok(WatcherInfo {
        version,
        state,
        lists: Vec::new(),
    })
}

/// RFC 3858 §3, §6: `<watcher-list resource=... package=...>`.
fn watcher_list(attrs: &[(String, String)]) -> Result<WatcherList, WinfoError> {
    Ok(WatcherList {
        resource: required(attrs, "watcher-list", "resource")?
            .trim()
            .to_owned(),
        package: required(attrs, "watcher-list", "package")?.to_owned(),
        watchers: Vec::new(),
    })
}

/// RFC 3858 §3, §6: the attributes of a `<watcher>`; the URI comes later.
fn watcher(attrs: &[(String, String)]) -> Result<Watcher, WinfoError> {
    let id = required(attrs, "watcher", "id")?;
    let status = required(attrs, "watcher", "status")?;
    let status = Status::parse(status.trim()).ok_or_else(|| WinfoError::bad("status", status))?;
    let event = required(attrs, "watcher", "event")?;
    let event = Event::parse(event.trim()).ok_or_else(|| WinfoError::bad("event", event))?;
    Ok(Watcher {
        id: id.to_owned(),
        uri: String::new(),
        status,
        event,
        display_name: attr(attrs, "display-name").map(str::to_owned),
        expiration: seconds(attrs, "expiration")?,
        duration_subscribed: seconds(attrs, "duration-subscribed")?,
    })
}

// ---------------------------------------------------------------------------
// The state machine and helpers for the agent.

/// RFC 3857 §4.7: may a watcher in `from` (`None`: no state yet) move to
/// `to` on `event`? The table is in the module doc.
pub fn transition_allowed(from: Option<Status>, event: Event, to: Status) -> bool {
    use Event::*;
    use Status::*;
    match (from, event, to) {
        (None, Subscribe, Pending | Active | Terminated) => true,
        // A refusal of a watcher we never saw (a `block` rule).
        (None, Rejected, Terminated) => true,
        (Some(Pending), Approved, Active) => true,
        (Some(Pending), Timeout, Waiting) => true,
        (Some(Pending), Deactivated | Probation | Rejected | Giveup | Noresource, Terminated) => {
            true
        }
        (Some(Active), Deactivated | Probation | Rejected | Timeout | Noresource, Terminated) => {
            true
        }
        (Some(Waiting), Subscribe, Pending) => true,
        (Some(Waiting), Approved | Rejected | Giveup | Noresource, Terminated) => true,
        _ => false,
    }
}

/// A watcher `id` for the presence subscription on one dialog: stable for
/// the dialog's life (and across a restart, being a function of the dialog
/// identifiers), and opaque, so the document does not hand the Call-ID and
/// tags to the winfo subscriber, who could otherwise forge requests inside
/// someone else's dialog. FNV-1a, 64 bits, in hex.
pub fn watcher_id(call_id: &str, local_tag: &str, remote_tag: &str) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for part in [call_id, local_tag, remote_tag] {
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        for b in part.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
    }
    format!("{h:016x}")
}

/// The `resource` URI of a presentity the agent names as `user@host`: a
/// `sip:` URI unless it already carries a scheme we know.
pub fn resource_uri(presentity: &str) -> String {
    let has_scheme = ["sip:", "sips:", "pres:", "tel:"].iter().any(|s| {
        presentity
            .get(..s.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(s))
    });
    if has_scheme {
        presentity.to_owned()
    } else {
        format!("sip:{presentity}")
    }
}

/// Who may subscribe to a presentity's watcher information. RFC 3857 §4.6
/// leaves the policy to the notifier; ours is the usual one: the presentity
/// itself, and nobody else (who watches you is your business).
pub fn authorized_subscriber(subscriber: &str, presentity: &str) -> bool {
    authorization::same_aor(subscriber, presentity)
}

// ---------------------------------------------------------------------------
// The tracker.

/// One document to send, on the winfo subscription `subscriber`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WinfoNotify<K> {
    pub subscriber: K,
    pub document: WatcherInfo,
}

/// What the tracker remembers of one watcher: the model without the two
/// clock-driven numbers, and what they are computed from.
#[derive(Debug, Clone)]
struct Record {
    watcher: Watcher,
    /// When the subscription was created (ms).
    since: u64,
    /// When it expires (ms), if the agent said.
    expires_at: Option<u64>,
}

impl Record {
    /// The watcher as a document shows it at `now`: `expiration` while the
    /// subscription runs (pending or active), `duration-subscribed` while
    /// it exists at all (not once terminated).
    fn at(&self, now: u64) -> Watcher {
        let status = self.watcher.status;
        let running = matches!(status, Status::Pending | Status::Active);
        let exists = status != Status::Terminated;
        Watcher {
            expiration: self
                .expires_at
                .filter(|_| running)
                .map(|t| secs(t.saturating_sub(now).div_ceil(1000))),
            duration_subscribed: exists.then(|| secs(now.saturating_sub(self.since) / 1000)),
            ..self.watcher.clone()
        }
    }

    /// Take the clock-driven numbers of a reported watcher, given as of
    /// `now` in seconds.
    fn time(&mut self, now: u64, expiration: Option<u32>, duration: Option<u32>) {
        if let Some(d) = duration {
            self.since = now.saturating_sub(u64::from(d) * 1000);
        }
        self.expires_at = expiration.map(|e| now.saturating_add(u64::from(e) * 1000));
    }
}

fn secs(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The watchers of one presentity and the winfo subscriptions that see them.
#[derive(Debug)]
struct Resource<K> {
    /// In order of arrival; a change keeps the watcher's place.
    watchers: Vec<Record>,
    /// Per winfo subscription, the version its next document carries.
    subscribers: BTreeMap<K, u32>,
}

impl<K> Default for Resource<K> {
    fn default() -> Self {
        Resource {
            watchers: Vec::new(),
            subscribers: BTreeMap::new(),
        }
    }
}

/// Watcher information of every presentity of this node, for one watched
/// package. `K` names a winfo subscription (the agent's `DialogId`).
///
/// The agent calls [`watcher_changed`](Self::watcher_changed) when a
/// presence subscription is created, authorized or ends, and sends each
/// returned document on its winfo subscription; it calls
/// [`subscribe`](Self::subscribe) when a winfo subscription is accepted or
/// refreshed and sends the full document returned, and
/// [`unsubscribe`](Self::unsubscribe) when one ends.
#[derive(Debug)]
pub struct WinfoTracker<K> {
    package: String,
    resources: BTreeMap<String, Resource<K>>,
}

impl<K: Ord + Clone> WinfoTracker<K> {
    /// A tracker for the watchers of `package` (`"presence"`).
    pub fn new(package: impl Into<String>) -> Self {
        WinfoTracker {
            package: package.into(),
            resources: BTreeMap::new(),
        }
    }

    pub fn package(&self) -> &str {
        &self.package
    }

    /// A winfo subscription to `presentity` was accepted, or refreshed: the
    /// full-state document to send on it now (RFC 3857 §4.3). A new
    /// subscription gets version 0; a refresh continues its count.
    pub fn subscribe(&mut self, now: u64, presentity: &str, subscriber: K) -> WatcherInfo {
        let resource = self.resources.entry(presentity.to_owned()).or_default();
        let next = resource.subscribers.entry(subscriber).or_insert(0);
        let version = *next;
        *next = next.saturating_add(1);
        self.full(now, presentity, version)
    }

    /// A winfo subscription ended; it gets no more documents. Whether it
    /// was known.
    pub fn unsubscribe(&mut self, presentity: &str, subscriber: &K) -> bool {
        let Some(resource) = self.resources.get_mut(presentity) else {
            return false;
        };
        let known = resource.subscribers.remove(subscriber).is_some();
        self.forget_if_empty(presentity);
        known
    }

    /// A presence subscription to `presentity` changed (created, authorized,
    /// terminated, refreshed). `watcher.expiration` and
    /// `watcher.duration_subscribed`, when given, are as of `now`.
    ///
    /// Returns the partial document to send to each winfo subscription of
    /// the presentity, holding only this watcher; none when the status did
    /// not change (a refresh: only the times are taken). A change the RFC
    /// 3857 §4.7 state machine does not allow is refused and nothing is
    /// recorded.
    pub fn watcher_changed(
        &mut self,
        now: u64,
        presentity: &str,
        watcher: Watcher,
    ) -> Result<Vec<WinfoNotify<K>>, TransitionError> {
        let resource = self.resources.entry(presentity.to_owned()).or_default();
        let at = resource
            .watchers
            .iter()
            .position(|r| r.watcher.id == watcher.id);
        let from = at.map(|i| resource.watchers[i].watcher.status);
        let (expiration, duration) = (watcher.expiration, watcher.duration_subscribed);
        if let Some(i) = at {
            if from == Some(watcher.status) {
                resource.watchers[i].time(now, expiration, duration);
                return Ok(Vec::new());
            }
        }
        if !transition_allowed(from, watcher.event, watcher.status) {
            let error = TransitionError {
                id: watcher.id,
                from,
                to: watcher.status,
                event: watcher.event,
            };
            self.forget_if_empty(presentity);
            return Err(error);
        }
        let mut record = Record {
            since: at.map_or(now, |i| resource.watchers[i].since),
            expires_at: None,
            watcher: Watcher {
                expiration: None,
                duration_subscribed: None,
                ..watcher
            },
        };
        record.time(now, expiration, duration);
        let shown = record.at(now);
        match (at, shown.status) {
            (Some(i), Status::Terminated) => {
                resource.watchers.remove(i);
            }
            (None, Status::Terminated) => {}
            (Some(i), _) => resource.watchers[i] = record,
            (None, _) => resource.watchers.push(record),
        }
        let resource_uri = resource_uri(presentity);
        let mut out = Vec::with_capacity(resource.subscribers.len());
        for (subscriber, next) in &mut resource.subscribers {
            out.push(WinfoNotify {
                subscriber: subscriber.clone(),
                document: WatcherInfo {
                    version: *next,
                    state: DocState::Partial,
                    lists: vec![WatcherList {
                        resource: resource_uri.clone(),
                        package: self.package.clone(),
                        watchers: vec![shown.clone()],
                    }],
                },
            });
            *next = next.saturating_add(1);
        }
        self.forget_if_empty(presentity);
        Ok(out)
    }

    /// The full-state document of `presentity` at `now`, with `version`:
    /// every current watcher, in order of arrival. Builds only; no version
    /// is counted (that is [`subscribe`](Self::subscribe)'s job).
    pub fn full(&self, now: u64, presentity: &str, version: u32) -> WatcherInfo {
        let watchers = self
            .resources
            .get(presentity)
            .map(|r| r.watchers.iter().map(|w| w.at(now)).collect())
            .unwrap_or_default();
        WatcherInfo {
            version,
            state: DocState::Full,
            lists: vec![WatcherList {
                resource: resource_uri(presentity),
                package: self.package.clone(),
                watchers,
            }],
        }
    }

    /// A partial-state document of `presentity` carrying `changes`, with
    /// `version`. Builds only; no version is counted.
    pub fn partial(&self, presentity: &str, changes: &[Watcher], version: u32) -> WatcherInfo {
        WatcherInfo {
            version,
            state: DocState::Partial,
            lists: vec![WatcherList {
                resource: resource_uri(presentity),
                package: self.package.clone(),
                watchers: changes.to_vec(),
            }],
        }
    }

    /// The current status of one watcher of `presentity`.
    pub fn status(&self, presentity: &str, id: &str) -> Option<Status> {
        self.resources
            .get(presentity)?
            .watchers
            .iter()
            .find(|r| r.watcher.id == id)
            .map(|r| r.watcher.status)
    }

    /// The winfo subscriptions to `presentity`.
    pub fn subscribers(&self, presentity: &str) -> impl Iterator<Item = &K> {
        self.resources
            .get(presentity)
            .into_iter()
            .flat_map(|r| r.subscribers.keys())
    }

    /// The version the next document to `subscriber` will carry.
    pub fn next_version(&self, presentity: &str, subscriber: &K) -> Option<u32> {
        self.resources
            .get(presentity)?
            .subscribers
            .get(subscriber)
            .copied()
    }

    fn forget_if_empty(&mut self, presentity: &str) {
        if self
            .resources
            .get(presentity)
            .is_some_and(|r| r.watchers.is_empty() && r.subscribers.is_empty())
        {
            self.resources.remove(presentity);
        }
    }
}

#[cfg(test)]
mod tests;
