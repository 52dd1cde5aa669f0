//! PIDF presence documents: parse, compose, print (RFC 3863), with the RPID
//! activities (RFC 4480 §3.2) and the data-model person and device (RFC 4479
//! §3.3, §3.4) that presence needs.
//!
//! This module owns the document model [`Presence`] and the three things a
//! presence server does with it: [`parse`] a PUBLISH body (bytes in, an owned
//! model or a [`PidfError`] whose text is the `400` reason phrase), [`compose`]
//! the publications of one presentity into the document its watchers get, and
//! [`Presence::to_xml`] to print it. It is sans-io: no sockets, no tasks, no
//! clock; timestamps are carried as the text the publisher wrote.
//!
//! # Reading
//!
//! Elements are matched by namespace URI, never by prefix, so the default
//! namespace form and the prefixed form of RFC 3863 §4.2.2 give equal models.
//! What we model: `presence`, `tuple`, `status`, `basic`, `contact`, `note`,
//! `timestamp` (PIDF), `dm:person` with its `dm:note` and `dm:timestamp`, and
//! the activity names of `rpid:activities`. Everything else is kept as a
//! [`RawElement`] (a `dm:device`, a status extension, a tuple or person
//! extension such as `rpid:mood`, a presence-level extension) and printed
//! back unchanged in meaning, so [`compose`] carries it to watchers.
//!
//! RFC 3863 §4.3.3: an element carrying the PIDF-namespace attribute
//! `mustUnderstand` with value `true` or `1` that we do not model (it, or an
//! ancestor, would become a [`RawElement`] or be dropped) makes the whole
//! document rejected. The attribute must be namespace-qualified, as the PIDF
//! schema declares it; an unqualified `mustUnderstand` is an ordinary
//! attribute.
//!
//! What is deliberately lost: an `rpid:activities` element is reduced to its
//! activity names (its `from`/`until`, `rpid:note`s, the text of
//! `rpid:other` and foreign-namespace activities are dropped), and several
//! `rpid:activities` of one person are flattened into one list. Namespace
//! declarations that only QName-valued *content* would need are not kept,
//! because a [`RawElement`] re-declares exactly the namespaces its element and
//! attribute names use.
//!
//! Limits: nesting deeper than [`MAX_DEPTH`] elements is refused, so neither
//! the tree built here nor the recursive walks over it can exhaust the stack;
//! quick-xml reads the input as a stream. A DOCTYPE is ignored and its
//! entities are never expanded (an undefined entity is an error).
//!
//! # Composing several publications (RFC 3903 §4, one presentity, several devices)
//!
//! [`compose`] takes the publications oldest first and is deterministic:
//! - tuples are merged by `id`: a later publication's tuple replaces an
//!   earlier one with the same id *in the earlier one's position*; tuples with
//!   new ids are appended in the order they appear;
//! - persons are merged by `id` the same way, and so are devices that have an
//!   `id` attribute;
//! - presence-level notes, extensions and devices without an id are appended
//!   in order, an exact repeat of one already carried being dropped;
//! - the entity is the one the caller names, not the publishers' spelling;
//! - if no publication has a tuple, the result has none: the caller then sends
//!   [`closed`], the neutral document also used for polite blocking (RFC 3856
//!   §6.6.2), which reveals nothing but "closed".
//!
//! # The four everyday states ([`Availability`])
//!
//! | state     | document written by [`Availability::document`]          | read back by [`Availability::of`]                     |
//! |-----------|---------------------------------------------------------|-------------------------------------------------------|
//! | `Online`  | one tuple, `basic` open                                 | some tuple open, no person `busy` or `away`           |
//! | `Busy`    | tuple open + person with `rpid:activities` `busy`       | some tuple open, some person's activities hold `busy` |
//! | `Away`    | tuple open + person with `rpid:activities` `away`       | some tuple open, `away` but no `busy` anywhere        |
//! | `Offline` | one tuple, `basic` closed                               | no tuple open (all closed, no basic, or no tuple)     |
//!
//! `busy` wins over `away` when both are present (several devices).

use super::xml::{escape_attr, escape_text, is_xml_char, quote};
use std::collections::HashSet;
use std::fmt;

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use thiserror::Error;

/// RFC 3863 §4.1: the PIDF namespace.
pub const NS_PIDF: &str = "urn:ietf:params:xml:ns:pidf";
/// RFC 4479 §4: the data-model namespace (`person`, `device`, `deviceID`).
pub const NS_DATA_MODEL: &str = "urn:ietf:params:xml:ns:pidf:data-model";
/// RFC 4480 §4: the RPID namespace (`activities`, `mood`, ...).
pub const NS_RPID: &str = "urn:ietf:params:xml:ns:pidf:rpid";
/// The namespace the `xml:` prefix is always bound to (`xml:lang`).
const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// Deepest element nesting accepted. Real PIDF documents nest about five
/// deep; the bound keeps every walk over the tree shallow.
pub const MAX_DEPTH: usize = 64;

/// The tuple id of [`closed`]: a constant, so the document says nothing
/// about the presentity.
pub const CLOSED_TUPLE_ID: &str = "closed";

/// Why a PIDF body was refused. The Display text is the SIP reason phrase:
/// one short ASCII line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PidfError {
    #[error("not well-formed XML at byte {at}: {reason}")]
    Malformed { at: u64, reason: String },
    #[error("XML nested deeper than {0} elements")]
    TooDeep(usize),
    #[error("root element is not <presence> in the PIDF namespace")]
    NotPresence,
    #[error("missing entity attribute")]
    MissingEntity,
    #[error("tuple without id")]
    TupleWithoutId,
    #[error("person without id")]
    PersonWithoutId,
    /// Two tuples, two persons or two devices with one id (RFC 3863 §4.1.2:
    /// `id` is an `xs:ID`; merging by id needs it unique).
    #[error("duplicate id {0}")]
    DuplicateId(String),
    #[error("<basic> must be open or closed")]
    BadBasic,
    /// RFC 3863 §4.3.3.
    #[error("element {0} must be understood (mustUnderstand)")]
    MustUnderstand(String),
}

impl PidfError {
    /// The status a server answers a PUBLISH carrying this body with
    /// (RFC 3903 §6 step 5: a body the ESC cannot process is a 400).
    pub fn status(&self) -> u16 {
        400
    }

    fn malformed(at: u64, reason: impl fmt::Display) -> Self {
        PidfError::Malformed {
            at,
            reason: quote(&reason.to_string()),
        }
    }
}

/// RFC 3863 §4.1.4: the `basic` status of a tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Basic {
    Open,
    Closed,
}

impl Basic {
    pub fn as_str(self) -> &'static str {
        match self {
            Basic::Open => "open",
            Basic::Closed => "closed",
        }
    }
}

/// RFC 3863 §4.1.6: a human-readable note, with its language.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Note {
    pub lang: Option<String>,
    pub text: String,
}

impl Note {
    pub fn new(text: impl Into<String>) -> Self {
        Note {
            lang: None,
            text: text.into(),
        }
    }
}

/// RFC 3863 §4.1.2: one tuple (a service of the presentity).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tuple {
    pub id: String,
    pub basic: Option<Basic>,
    /// Elements inside `<status>` other than `<basic>` (RFC 3863 §4.2.4).
    pub status_extensions: Vec<RawElement>,
    /// The contact URI (whitespace trimmed) and its `priority` as written.
    pub contact: Option<(String, Option<String>)>,
    pub timestamp: Option<String>,
    pub notes: Vec<Note>,
    /// Tuple children we do not model (`dm:deviceID`, `rpid:class`, ...).
    pub extensions: Vec<RawElement>,
}

impl Tuple {
    pub fn new(id: impl Into<String>, basic: Basic) -> Self {
        Tuple {
            id: id.into(),
            basic: Some(basic),
            ..Tuple::default()
        }
    }
}

/// RFC 4479 §3.3: the person, with its RPID activities (RFC 4480 §3.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Person {
    pub id: String,
    /// Local names of the activities: `busy`, `away`, `on-the-phone`,
    /// `meeting`, ..., or `unknown`. A name that is not an XML name, or is
    /// `note`, is not printed.
    pub activities: Vec<String>,
    pub notes: Vec<Note>,
    pub timestamp: Option<String>,
    /// Person children we do not model (`rpid:mood`, `rpid:place-is`, ...).
    pub extensions: Vec<RawElement>,
}

/// One presence document (RFC 3863 §4.1, RFC 4479 §4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Presence {
    pub entity: String,
    pub tuples: Vec<Tuple>,
    pub persons: Vec<Person>,
    /// `dm:device` elements, carried whole.
    pub devices: Vec<RawElement>,
    pub notes: Vec<Note>,
    /// Presence-level elements we do not model (RFC 3863 §4.3.2).
    pub extensions: Vec<RawElement>,
}

/// An element we do not model, kept as self-contained canonical XML: every
/// element is unprefixed and declares its namespace with `xmlns="..."`
/// where it changes, namespaced attributes get a fixed prefix (`pidf`, `dm`,
/// `rpid`, else `ns1`, `ns2`, ... in order of use) declared where first used.
/// So the text depends only on names and namespaces, never on the
/// publisher's prefixes, and reads the same wherever it is embedded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawElement {
    namespace: Option<String>,
    name: String,
    id: Option<String>,
    xml: String,
}

impl RawElement {
    /// Read one standalone element (with its own namespace declarations).
    pub fn parse(xml: &str) -> Result<Self, PidfError> {
        let element = read_tree(xml)?;
        reject_must_understand(&element)?;
        Ok(RawElement::from_element(&element))
    }

    /// The element's namespace URI.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The element's local name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its unqualified `id` attribute, if any (devices are merged by it).
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The canonical XML text.
    pub fn as_xml(&self) -> &str {
        &self.xml
    }

    fn from_element(element: &Element) -> Self {
        let mut xml = String::new();
        let mut prefixes = Prefixes::default();
        write_raw(&mut xml, element, None, &mut prefixes);
        RawElement {
            namespace: element.ns.clone(),
            name: element.local.clone(),
            id: element.attr(None, "id").map(str::to_owned),
            xml,
        }
    }
}

impl fmt::Display for RawElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.xml)
    }
}

// ---------------------------------------------------------------------------
// Reading: bytes -> a small namespace-resolved tree -> the model.

/// A namespace-resolved element: what the model is read from and what a
/// [`RawElement`] is printed from. Its depth is at most [`MAX_DEPTH`].
#[derive(Debug)]
struct Element {
    ns: Option<String>,
    local: String,
    /// Attributes other than namespace declarations, in document order.
    attrs: Vec<Attr>,
    children: Vec<Node>,
}

#[derive(Debug)]
struct Attr {
    ns: Option<String>,
    local: String,
    value: String,
}

#[derive(Debug)]
enum Node {
    Element(Element),
    /// Character data, adjacent pieces (text, CDATA, references) merged.
    Text(String),
}

impl Element {
    fn is(&self, ns: &str, local: &str) -> bool {
        self.ns.as_deref() == Some(ns) && self.local == local
    }

    fn attr(&self, ns: Option<&str>, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.as_deref() == ns && a.local == local)
            .map(|a| a.value.as_str())
    }

    fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// All character data directly inside this element.
    fn text(&self) -> String {
        let mut s = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                s.push_str(t);
            }
        }
        s
    }

    /// RFC 3863 §4.3.3: `pidf:mustUnderstand` is an `xs:boolean`.
    fn must_understand(&self) -> bool {
        matches!(
            self.attr(Some(NS_PIDF), "mustUnderstand").map(str::trim),
            Some("true" | "1")
        )
    }
}

/// Parse a PIDF document (a PUBLISH or NOTIFY body, UTF-8).
pub fn parse(body: &[u8]) -> Result<Presence, PidfError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| PidfError::malformed(e.valid_up_to() as u64, "invalid UTF-8"))?;
    let root = read_tree(text)?;
    presence(&root)
}

/// Stream the text through quick-xml into a tree, checking what quick-xml
/// leaves to its caller: one root, no text outside it, bound prefixes, XML
/// characters only, and the nesting bound.
fn read_tree(text: &str) -> Result<Element, PidfError> {
    // A UTF-8 byte order mark is allowed before the XML declaration.
    let (text, base) = match text.strip_prefix('\u{feff}') {
        Some(rest) => (rest, 3),
        None => (text, 0),
    };
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let at = base + reader.buffer_position();
        let (ns, event) = match reader.read_resolved_event() {
            Ok((ns, event)) => (namespace(ns), event),
            Err(e) => return Err(PidfError::malformed(base + reader.error_position(), e)),
        };
        match event {
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err(PidfError::malformed(at, "content after the root element"));
            }
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(PidfError::TooDeep(MAX_DEPTH));
                }
                stack.push(element(&reader, ns, &start, at)?);
            }
            Event::Empty(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(PidfError::TooDeep(MAX_DEPTH));
                }
                let e = element(&reader, ns, &start, at)?;
                close(&mut stack, &mut root, e);
            }
            Event::End(_) => match stack.pop() {
                Some(e) => close(&mut stack, &mut root, e),
                None => return Err(PidfError::malformed(at, "end tag without start tag")),
            },
            Event::Text(t) => {
                let s = t.unescape().map_err(|e| PidfError::malformed(at, e))?;
                character_data(&mut stack, &s, at)?;
            }
            Event::CData(c) => {
                let s = std::str::from_utf8(&c).map_err(|e| PidfError::malformed(at, e))?;
                character_data(&mut stack, s, at)?;
            }
            Event::Eof => break,
            // The declaration, comments, processing instructions and a
            // DOCTYPE carry nothing for presence.
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    let end = base + text.len() as u64;
    if !stack.is_empty() {
        return Err(PidfError::malformed(end, "unclosed element"));
    }
    root.ok_or_else(|| PidfError::malformed(end, "no root element"))
}

fn namespace(ns: ResolveResult<'_>) -> Result<Option<String>, Vec<u8>> {
    match ns {
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Bound(n) => Ok(Some(String::from_utf8_lossy(n.into_inner()).into_owned())),
        ResolveResult::Unknown(prefix) => Err(prefix),
    }
}

fn unbound(at: u64, prefix: &[u8]) -> PidfError {
    PidfError::malformed(
        at,
        format_args!("unbound prefix {}", String::from_utf8_lossy(prefix)),
    )
}

fn element(
    reader: &NsReader<&[u8]>,
    ns: Result<Option<String>, Vec<u8>>,
    start: &BytesStart<'_>,
    at: u64,
) -> Result<Element, PidfError> {
    let ns = ns.map_err(|p| unbound(at, &p))?;
    let local = name(start.local_name().into_inner(), at)?;
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| PidfError::malformed(at, e))?;
        if attr.key.as_namespace_binding().is_some() {
            continue;
        }
        let (ans, alocal) = reader.resolve_attribute(attr.key);
        let ans = namespace(ans).map_err(|p| unbound(at, &p))?;
        let value = attr
            .unescape_value()
            .map_err(|e| PidfError::malformed(at, e))?;
        check_chars(&value, at)?;
        attrs.push(Attr {
            ns: ans,
            local: name(alocal.into_inner(), at)?,
            value: value.into_owned(),
        });
    }
    Ok(Element {
        ns,
        local,
        attrs,
        children: Vec::new(),
    })
}

/// A local name, refused if it could not be printed back as a name.
fn name(bytes: &[u8], at: u64) -> Result<String, PidfError> {
    let s = std::str::from_utf8(bytes).map_err(|e| PidfError::malformed(at, e))?;
    if is_name(s) {
        Ok(s.to_owned())
    } else {
        Err(PidfError::malformed(
            at,
            format_args!("bad name {}", quote(s)),
        ))
    }
}

/// Close enough to XML's NCName for our purpose: nothing that would break
/// the markup when printed (no markup characters, spaces or colons).
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let ok = |c: char| {
        !c.is_whitespace()
            && !c.is_control()
            && !matches!(
                c,
                '<' | '>' | '&' | '"' | '\'' | '=' | '/' | ':' | '!' | '?'
            )
    };
    ok(first) && !first.is_ascii_digit() && !matches!(first, '-' | '.') && chars.all(ok)
}

fn check_chars(s: &str, at: u64) -> Result<(), PidfError> {
    match s.chars().position(|c| !is_xml_char(c)) {
        None => Ok(()),
        Some(_) => Err(PidfError::malformed(at, "character not allowed in XML")),
    }
}

fn character_data(stack: &mut [Element], s: &str, at: u64) -> Result<(), PidfError> {
    check_chars(s, at)?;
    let Some(parent) = stack.last_mut() else {
        return if s.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r')) {
            Ok(())
        } else {
            Err(PidfError::malformed(at, "text outside the root element"))
        };
    };
    if s.is_empty() {
        return Ok(());
    }
    match parent.children.last_mut() {
        Some(Node::Text(t)) => t.push_str(s),
        _ => parent.children.push(Node::Text(s.to_owned())),
    }
    Ok(())
}

fn close(stack: &mut [Element], root: &mut Option<Element>, e: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(e)),
        None => *root = Some(e),
    }
}

/// RFC 3863 §4.3.3: the recipient "MUST" reject a document carrying an
/// element it does not understand that is marked `mustUnderstand`. Called
/// on every subtree we keep raw or drop.
fn reject_must_understand(top: &Element) -> Result<(), PidfError> {
    // An explicit stack: the depth is bounded anyway, but this costs nothing.
    let mut todo = vec![top];
    while let Some(e) = todo.pop() {
        if e.must_understand() {
            return Err(PidfError::MustUnderstand(quote(&e.local)));
        }
        todo.extend(e.elements());
    }
    Ok(())
}

fn raw(e: &Element) -> Result<RawElement, PidfError> {
    reject_must_understand(e)?;
    Ok(RawElement::from_element(e))
}

fn note(e: &Element) -> Note {
    Note {
        lang: e.attr(Some(NS_XML), "lang").map(str::to_owned),
        text: e.text(),
    }
}

fn id(e: &Element) -> Option<String> {
    e.attr(None, "id")
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

fn unique(seen: &mut HashSet<String>, id: &str) -> Result<(), PidfError> {
    if seen.insert(id.to_owned()) {
        Ok(())
    } else {
        Err(PidfError::DuplicateId(quote(id)))
    }
}

/// RFC 3863 §4.1.1, §4.3: the `<presence>` root.
fn presence(root: &Element) -> Result<Presence, PidfError> {
    if !root.is(NS_PIDF, "presence") {
        return Err(PidfError::NotPresence);
    }
    let entity = root.attr(None, "entity").ok_or(PidfError::MissingEntity)?;
    let mut doc = Presence {
        entity: entity.to_owned(),
        ..Presence::default()
    };
    let (mut tuple_ids, mut person_ids, mut device_ids) =
        (HashSet::new(), HashSet::new(), HashSet::new());
    for e in root.elements() {
        if e.is(NS_PIDF, "tuple") {
            let t = tuple(e)?;
            unique(&mut tuple_ids, &t.id)?;
            doc.tuples.push(t);
        } else if e.is(NS_PIDF, "note") {
            doc.notes.push(note(e));
        } else if e.is(NS_DATA_MODEL, "person") {
            let p = person(e)?;
            unique(&mut person_ids, &p.id)?;
            doc.persons.push(p);
        } else if e.is(NS_DATA_MODEL, "device") {
            let d = raw(e)?;
            if let Some(id) = d.id() {
                unique(&mut device_ids, id)?;
            }
            doc.devices.push(d);
        } else {
            doc.extensions.push(raw(e)?);
        }
    }
    Ok(doc)
}

/// RFC 3863 §4.1.2-§4.1.7: a `<tuple>`.
fn tuple(e: &Element) -> Result<Tuple, PidfError> {
    let mut t = Tuple {
        id: id(e).ok_or(PidfError::TupleWithoutId)?,
        ..Tuple::default()
    };
    for c in e.elements() {
        if c.is(NS_PIDF, "status") {
            for s in c.elements() {
                if s.is(NS_PIDF, "basic") {
                    t.basic = Some(match s.text().trim() {
                        "open" => Basic::Open,
                        "closed" => Basic::Closed,
                        _ => return Err(PidfError::BadBasic),
                    });
                } else {
                    t.status_extensions.push(raw(s)?);
                }
            }
        } else if c.is(NS_PIDF, "contact") {
            let priority = c.attr(None, "priority").map(str::to_owned);
            t.contact = Some((c.text().trim().to_owned(), priority));
        } else if c.is(NS_PIDF, "note") {
            t.notes.push(note(c));
        } else if c.is(NS_PIDF, "timestamp") {
            t.timestamp = Some(c.text().trim().to_owned());
        } else {
            t.extensions.push(raw(c)?);
        }
    }
    Ok(t)
}

/// RFC 4479 §3.3 person, RFC 4480 §3.2 activities.
fn person(e: &Element) -> Result<Person, PidfError> {
    let mut p = Person {
        id: id(e).ok_or(PidfError::PersonWithoutId)?,
        ..Person::default()
    };
    for c in e.elements() {
        if c.is(NS_RPID, "activities") {
            for a in c.elements() {
                if a.ns.as_deref() == Some(NS_RPID) && a.local != "note" {
                    // We read the activity's name, not what is inside it.
                    reject_must_understand_children(a)?;
                    p.activities.push(a.local.clone());
                } else {
                    // Dropped: activity notes and foreign activities.
                    reject_must_understand(a)?;
                }
            }
        } else if c.is(NS_DATA_MODEL, "note") {
            p.notes.push(note(c));
        } else if c.is(NS_DATA_MODEL, "timestamp") {
            p.timestamp = Some(c.text().trim().to_owned());
        } else {
            p.extensions.push(raw(c)?);
        }
    }
    Ok(p)
}

fn reject_must_understand_children(e: &Element) -> Result<(), PidfError> {
    e.elements().try_for_each(reject_must_understand)
}

// ---------------------------------------------------------------------------
// Printing.

/// Namespaced attribute prefixes of one [`RawElement`]: which URI got which
/// prefix, and which bindings are declared at the current point.
#[derive(Default)]
struct Prefixes {
    assigned: Vec<(String, String)>,
    in_scope: Vec<(String, String)>,
}

impl Prefixes {
    fn prefix(&mut self, uri: &str) -> String {
        if let Some((_, p)) = self.assigned.iter().find(|(u, _)| u == uri) {
            return p.clone();
        }
        let p = match uri {
            NS_PIDF => "pidf".to_owned(),
            NS_DATA_MODEL => "dm".to_owned(),
            NS_RPID => "rpid".to_owned(),
            _ => {
                let n = self
                    .assigned
                    .iter()
                    .filter(|(_, p)| p.starts_with("ns"))
                    .count();
                format!("ns{}", n + 1)
            }
        };
        self.assigned.push((uri.to_owned(), p.clone()));
        p
    }
}

/// Print one element canonically (see [`RawElement`]). `default` is the
/// default namespace declared so far in this output, `None` before any.
/// Recursion depth is bounded by [`MAX_DEPTH`], the tree's own bound.
fn write_raw(
    out: &mut String,
    e: &Element,
    default: Option<Option<&str>>,
    prefixes: &mut Prefixes,
) {
    let scope = prefixes.in_scope.len();
    out.push('<');
    out.push_str(&e.local);
    let ns = e.ns.as_deref();
    if default != Some(ns) {
        out.push_str(" xmlns=\"");
        escape_attr(out, ns.unwrap_or(""));
        out.push('"');
    }
    let mut attrs = String::new();
    for a in &e.attrs {
        attrs.push(' ');
        match a.ns.as_deref() {
            None => {}
            Some(NS_XML) => attrs.push_str("xml:"),
            Some(uri) => {
                let p = prefixes.prefix(uri);
                if !prefixes.in_scope.iter().any(|(q, u)| *q == p && u == uri) {
                    out.push_str(" xmlns:");
                    out.push_str(&p);
                    out.push_str("=\"");
                    escape_attr(out, uri);
                    out.push('"');
                    prefixes.in_scope.push((p.clone(), uri.to_owned()));
                }
                attrs.push_str(&p);
                attrs.push(':');
            }
        }
        attrs.push_str(&a.local);
        attrs.push_str("=\"");
        escape_attr(&mut attrs, &a.value);
        attrs.push('"');
    }
    out.push_str(&attrs);
    if e.children.is_empty() {
        out.push_str("/>");
    } else {
        out.push('>');
        for child in &e.children {
            match child {
                Node::Text(t) => escape_text(out, t),
                Node::Element(c) => write_raw(out, c, Some(ns), prefixes),
            }
        }
        out.push_str("</");
        out.push_str(&e.local);
        out.push('>');
    }
    prefixes.in_scope.truncate(scope);
}

fn is_activity(name: &str) -> bool {
    is_name(name) && name != "note"
}

fn write_note(out: &mut String, indent: &str, tag: &str, n: &Note) {
    out.push_str(indent);
    out.push('<');
    out.push_str(tag);
    if let Some(lang) = &n.lang {
        out.push_str(" xml:lang=\"");
        escape_attr(out, lang);
        out.push('"');
    }
    out.push('>');
    escape_text(out, &n.text);
    out.push_str("</");
    out.push_str(tag);
    out.push_str(">\n");
}

fn write_text_element(out: &mut String, indent: &str, tag: &str, text: &str) {
    out.push_str(indent);
    out.push('<');
    out.push_str(tag);
    out.push('>');
    escape_text(out, text);
    out.push_str("</");
    out.push_str(tag);
    out.push_str(">\n");
}

fn write_raws(out: &mut String, indent: &str, raws: &[RawElement]) {
    for r in raws {
        out.push_str(indent);
        out.push_str(r.as_xml());
        out.push('\n');
    }
}

impl Presence {
    /// Print a canonical PIDF document: XML declaration, PIDF as the
    /// default namespace, `dm:` and `rpid:` declared when used, the
    /// elements in schema order (RFC 3863 §4.1, RFC 4479 §4). [`parse`] of
    /// the result gives back an equal model.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(256 + 256 * self.tuples.len());
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str("<presence xmlns=\"");
        out.push_str(NS_PIDF);
        out.push('"');
        if !self.persons.is_empty() {
            out.push_str(" xmlns:dm=\"");
            out.push_str(NS_DATA_MODEL);
            out.push('"');
        }
        if self
            .persons
            .iter()
            .any(|p| p.activities.iter().any(|a| is_activity(a)))
        {
            out.push_str(" xmlns:rpid=\"");
            out.push_str(NS_RPID);
            out.push('"');
        }
        out.push_str(" entity=\"");
        escape_attr(&mut out, &self.entity);
        out.push_str("\">\n");
        for t in &self.tuples {
            write_tuple(&mut out, t);
        }
        for n in &self.notes {
            write_note(&mut out, "  ", "note", n);
        }
        for p in &self.persons {
            write_person(&mut out, p);
        }
        write_raws(&mut out, "  ", &self.devices);
        write_raws(&mut out, "  ", &self.extensions);
        out.push_str("</presence>\n");
        out
    }
}

/// RFC 3863 §4.1.2: status, extensions, contact, notes, timestamp.
fn write_tuple(out: &mut String, t: &Tuple) {
    out.push_str("  <tuple id=\"");
    escape_attr(out, &t.id);
    out.push_str("\">\n");
    if t.basic.is_none() && t.status_extensions.is_empty() {
        out.push_str("    <status/>\n");
    } else {
        out.push_str("    <status>\n");
        if let Some(basic) = t.basic {
            write_text_element(out, "      ", "basic", basic.as_str());
        }
        write_raws(out, "      ", &t.status_extensions);
        out.push_str("    </status>\n");
    }
    write_raws(out, "    ", &t.extensions);
    if let Some((uri, priority)) = &t.contact {
        out.push_str("    <contact");
        if let Some(q) = priority {
            out.push_str(" priority=\"");
            escape_attr(out, q);
            out.push('"');
        }
        out.push('>');
        escape_text(out, uri);
        out.push_str("</contact>\n");
    }
    for n in &t.notes {
        write_note(out, "    ", "note", n);
    }
    if let Some(ts) = &t.timestamp {
        write_text_element(out, "    ", "timestamp", ts);
    }
    out.push_str("  </tuple>\n");
}

/// RFC 4479 §4 person: foreign elements first, then notes and timestamp.
fn write_person(out: &mut String, p: &Person) {
    out.push_str("  <dm:person id=\"");
    escape_attr(out, &p.id);
    out.push_str("\">\n");
    let activities: Vec<&String> = p.activities.iter().filter(|a| is_activity(a)).collect();
    if !activities.is_empty() {
        out.push_str("    <rpid:activities>");
        for a in activities {
            out.push_str("<rpid:");
            out.push_str(a);
            out.push_str("/>");
        }
        out.push_str("</rpid:activities>\n");
    }
    write_raws(out, "    ", &p.extensions);
    for n in &p.notes {
        write_note(out, "    ", "dm:note", n);
    }
    if let Some(ts) = &p.timestamp {
        write_text_element(out, "    ", "dm:timestamp", ts);
    }
    out.push_str("  </dm:person>\n");
}

// ---------------------------------------------------------------------------
// Composition.

/// Put `item` in place of the element with the same key, or append it.
fn upsert<T: Clone>(into: &mut Vec<T>, item: &T, key: impl Fn(&T) -> Option<&str>) {
    let k = key(item);
    match into.iter_mut().find(|x| k.is_some() && key(x) == k) {
        Some(slot) => *slot = item.clone(),
        None => into.push(item.clone()),
    }
}

/// Append `item` unless an equal one is already there.
fn push_new<T: Clone + PartialEq>(into: &mut Vec<T>, item: &T) {
    if !into.contains(item) {
        into.push(item.clone());
    }
}

/// Merge the publications of one presentity, oldest first, into the
/// document its watchers get (rules in the module doc). Deterministic: the
/// same publications in the same order give the same document.
pub fn compose(entity: &str, publications: &[Presence]) -> Presence {
    let mut doc = Presence {
        entity: entity.to_owned(),
        ..Presence::default()
    };
    for p in publications {
        for t in &p.tuples {
            upsert(&mut doc.tuples, t, |t| Some(t.id.as_str()));
        }
        for person in &p.persons {
            upsert(&mut doc.persons, person, |p| Some(p.id.as_str()));
        }
        for d in &p.devices {
            if d.id().is_some() {
                upsert(&mut doc.devices, d, RawElement::id);
            } else {
                push_new(&mut doc.devices, d);
            }
        }
        for n in &p.notes {
            push_new(&mut doc.notes, n);
        }
        for x in &p.extensions {
            push_new(&mut doc.extensions, x);
        }
    }
    doc
}

/// The neutral document: one tuple, closed, nothing else. Sent when nothing
/// is published and for polite blocking (RFC 3856 §6.6.2), so a blocked
/// watcher cannot tell it from a presentity that is simply offline.
pub fn closed(entity: &str) -> Presence {
    Presence {
        entity: entity.to_owned(),
        tuples: vec![Tuple::new(CLOSED_TUPLE_ID, Basic::Closed)],
        ..Presence::default()
    }
}

// ---------------------------------------------------------------------------
// The everyday states.

/// The four states a phone shows (table in the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Availability {
    Online,
    Busy,
    Away,
    Offline,
}

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Online => "online",
            Availability::Busy => "busy",
            Availability::Away => "away",
            Availability::Offline => "offline",
        }
    }

    /// The document that says this state: one tuple `tuple_id`, and for busy
    /// and away a person `<tuple_id>-person` with that activity.
    pub fn document(self, entity: &str, tuple_id: &str) -> Presence {
        let basic = match self {
            Availability::Offline => Basic::Closed,
            _ => Basic::Open,
        };
        let activity = match self {
            Availability::Busy => Some("busy"),
            Availability::Away => Some("away"),
            Availability::Online | Availability::Offline => None,
        };
        Presence {
            entity: entity.to_owned(),
            tuples: vec![Tuple::new(tuple_id, basic)],
            persons: activity
                .map(|a| Person {
                    id: format!("{tuple_id}-person"),
                    activities: vec![a.to_owned()],
                    ..Person::default()
                })
                .into_iter()
                .collect(),
            ..Presence::default()
        }
    }

    /// Read the state back from any document (busy wins over away, an open
    /// tuple is needed for anything but offline).
    pub fn of(doc: &Presence) -> Availability {
        if !doc.tuples.iter().any(|t| t.basic == Some(Basic::Open)) {
            return Availability::Offline;
        }
        let has = |name: &str| {
            doc.persons
                .iter()
                .any(|p| p.activities.iter().any(|a| a == name))
        };
        if has("busy") {
            Availability::Busy
        } else if has("away") {
            Availability::Away
        } else {
            Availability::Online
        }
    }
}

#[cfg(test)]
mod tests;
