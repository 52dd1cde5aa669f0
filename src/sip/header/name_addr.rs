//! name-addr and addr-spec with header parameters: From, To, Contact, Route
//! and Record-Route (RFC 3261 §20.10, §20.20, §20.30, §20.34, §20.39).
//!
//! RFC 3261 §20 forbids a bare addr-spec whose URI holds a comma, semicolon
//! or question mark: there a `;` starts the header parameters, and a URI
//! with headers must be written as a name-addr (RFC 4475 §3.1.2.13).

use std::borrow::Cow;
use std::fmt;

use crate::sip::params::{Param, Params, params};
use crate::sip::syntax::class;
use crate::sip::syntax::{
    PResult, SynErr, fail, is_wsp, laquot, lws, quoted_string, raquot, sws, token, unquote,
};
use crate::sip::uri::{SipUri, Uri};

/// A display name as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisplayName<'a> {
    /// `*(token LWS)`: tokens and the whitespace between them.
    Tokens(&'a str),
    /// A quoted string, quotes included.
    Quoted(&'a str),
}

impl<'a> DisplayName<'a> {
    /// The name as a person would read it.
    pub fn text(&self) -> Cow<'a, str> {
        match *self {
            DisplayName::Tokens(t) => Cow::Borrowed(t),
            DisplayName::Quoted(q) => unquote(q),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr<'a> {
    pub display_name: Option<DisplayName<'a>>,
    pub uri: Uri<'a>,
    /// Written in angle brackets (name-addr) rather than as a bare addr-spec.
    pub angle: bool,
    pub params: Params<'a>,
}

impl<'a> NameAddr<'a> {
    /// A name-addr around `uri`, with no display name and no parameters.
    pub fn new(uri: Uri<'a>) -> Self {
        NameAddr {
            display_name: None,
            uri,
            angle: true,
            params: Params::EMPTY,
        }
    }

    pub fn param(&self, name: &str) -> Option<Param<'a>> {
        self.params.get(name)
    }

    pub fn tag(&self) -> Option<&'a str> {
        self.param("tag").and_then(|p| p.value)
    }

    /// Contact `expires` (RFC 3261 §20.10), saturating like Expires.
    pub fn expires(&self) -> Option<u32> {
        let v = self.param("expires")?.value?;
        v.bytes().all(|b| b.is_ascii_digit()).then(|| {
            v.bytes().fold(0u64, |a, b| {
                (a * 10 + u64::from(b - b'0')).min(u64::from(u32::MAX))
            }) as u32
        })
    }

    /// Contact `q`, in thousandths (`qvalue = ("0" ["." 0*3DIGIT]) / ("1" ["." 0*3("0")])`).
    pub fn q(&self) -> Option<u16> {
        parse_qvalue(self.param("q")?.value?)
    }
}

/// A qvalue in thousandths, or None when it is not one.
pub fn parse_qvalue(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// `Contact: *` or a list of contacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact<'a> {
    Star,
    List(Vec<NameAddr<'a>>),
}

/// Tokens separated by whitespace, then `<`: the `*(token LWS)` display name.
/// RFC 4475 §3.1.1.6 shows that the whitespace before `<` may be absent.
fn token_display(i: &str) -> PResult<'_, Option<DisplayName<'_>>> {
    let (start, ()) = sws(i)?;
    let mut end = 0;
    let mut r = start;
    while let Ok((after, _)) = token(r) {
        end = start.len() - after.len();
        r = match lws(after) {
            Ok((a, _)) => a,
            Err(_) => after,
        };
        if r.len() == after.len() {
            break;
        }
    }
    if r.as_bytes().first() != Some(&b'<') {
        return fail(i, "display name and \"<\"");
    }
    let name = (end > 0).then(|| DisplayName::Tokens(&start[..end]));
    Ok((r, name))
}

/// `[ display-name ] LAQUOT addr-spec RAQUOT`
fn name_addr(i: &str) -> PResult<'_, (Option<DisplayName<'_>>, Uri<'_>)> {
    let (r, display) = match sws(i)?.0.as_bytes().first() {
        Some(b'"') => {
            let (r, q) = quoted_string(i)?;
            (r, Some(DisplayName::Quoted(q)))
        }
        Some(b'<') => (sws(i)?.0, None),
        _ => token_display(i)?,
    };
    let (r, ()) = laquot(r)?;
    let end = r
        .bytes()
        .position(|c| c == b'>')
        .ok_or(nom::Err::Error(SynErr {
            input: r,
            expected: "\">\"",
        }))?;
    let uri = Uri::parse(&r[..end]).map_err(nom::Err::Error)?;
    let (r, ()) = raquot(&r[end..])?;
    Ok((r, (display, uri)))
}

/// Where the URI of a bare addr-spec ends: at the first `;`, `,` or
/// whitespace.
fn addr_spec_end(b: &[u8]) -> usize {
    b.iter()
        .position(|&c| matches!(c, b';' | b',' | b'\r' | b'\n') || is_wsp(c))
        .unwrap_or(b.len())
}

/// A bare addr-spec: its URI ends at the first `;`, `,` or whitespace.
fn addr_spec(i: &str) -> PResult<'_, Uri<'_>> {
    let (start, ()) = sws(i)?;
    let end = addr_spec_end(start.as_bytes());
    if end == 0 {
        return fail(start, "URI");
    }
    let uri = Uri::parse(&start[..end]).map_err(nom::Err::Error)?;
    if let Uri::Sip(u) = &uri {
        if !u.headers.is_empty() {
            return fail(start, "<> around a URI with headers");
        }
    }
    Ok((&start[end..], uri))
}

/// The common shapes of `(name-addr / addr-spec) *(SEMI generic-param)` in
/// one pass: a display name that is a quoted string or tokens separated by
/// spaces, a SIP URI of [`SipUri::scan_simple`]'s shape,
/// and parameters with no folding or spaces around their separators. None
/// for anything else, which the full grammar then parses (and explains when
/// it is wrong); what it accepts, the full grammar parses to the same value
/// and leaves the same rest (`fast_path_agrees_with_the_grammar`).
#[inline(always)]
fn name_addr_fast(i: &str, angle_required: bool) -> Option<(&str, NameAddr<'_>)> {
    let b = i.as_bytes();
    let mut k = 0;
    let display_name = match b.first()? {
        b'"' => {
            let (r, quoted) = quoted_string(i).ok()?;
            k = i.len() - r.len();
            while b.get(k).is_some_and(|&c| is_wsp(c)) {
                k += 1;
            }
            Some(DisplayName::Quoted(quoted))
        }
        _ => {
            // *(token LWS): tokens, each followed by spaces, or the last by "<"
            let mut end = 0;
            loop {
                let n = class::span(&b[k..], class::TOKEN);
                if n == 0 {
                    break;
                }
                k += n;
                end = k;
                let ws = b[k..].iter().take_while(|&&c| is_wsp(c)).count();
                if ws == 0 {
                    break;
                }
                k += ws;
            }
            (end > 0).then(|| DisplayName::Tokens(&i[..end]))
        }
    };
    let (uri, angle, k) = if b.get(k) == Some(&b'<') {
        k += 1;
        let (uri, n) = SipUri::scan_simple(&i[k..])?;
        k += n;
        let (r, ()) = raquot(&i[k..]).ok()?;
        (uri, true, i.len() - r.len())
    } else {
        // a bare addr-spec: its URI ends at the first ";", "," or space
        if angle_required || !matches!(b[0], b's' | b'S') {
            return None;
        }
        let end = addr_spec_end(b);
        let (uri, n) = SipUri::scan_simple(&i[..end])?;
        if n != end {
            return None;
        }
        (uri, false, end)
    };
    let display_name = if angle { display_name } else { None };
    let (params, k) = Params::scan_simple(i, k)?;
    let addr = NameAddr {
        display_name,
        uri: Uri::Sip(uri),
        angle,
        params,
    };
    Some((&i[k..], addr))
}

/// `(name-addr / addr-spec) *(SEMI param)`; `angle_required` for Route and
/// Record-Route, which allow only name-addr.
pub fn name_addr_params(angle_required: bool) -> impl Fn(&str) -> PResult<'_, NameAddr<'_>> {
    move |i| match name_addr_fast(i, angle_required) {
        Some(fast) => Ok(fast),
        None => name_addr_params_full(i, angle_required),
    }
}

/// The whole grammar of [`name_addr_params`], for every shape.
fn name_addr_params_full(i: &str, angle_required: bool) -> PResult<'_, NameAddr<'_>> {
    let (r, (display_name, uri, angle)) = match name_addr(i) {
        Ok((r, (d, u))) => (r, (d, u, true)),
        Err(nom::Err::Error(e)) => {
            // Only fall back to addr-spec when nothing in the value looked
            // like a name-addr; otherwise report the name-addr's error.
            let seen = &i[..crate::sip::syntax::offset(i, e.input)];
            let started = seen.contains('<') || sws(i).is_ok_and(|(s, ())| s.starts_with('"'));
            if angle_required || started {
                return Err(nom::Err::Error(e));
            }
            let (r, u) = addr_spec(i)?;
            (r, (None, u, false))
        }
        Err(e) => return Err(e),
    };
    let (r, params) = params(r)?;
    Ok((
        r,
        NameAddr {
            display_name,
            uri,
            angle,
            params,
        },
    ))
}

/// Contact: `STAR / (contact-param *(COMMA contact-param))`
pub fn contact(i: &str) -> PResult<'_, Contact<'_>> {
    let (s, ()) = sws(i)?;
    if s.starts_with('*')
        && s[1..]
            .bytes()
            .all(|b| is_wsp(b) || b == b'\r' || b == b'\n')
    {
        return Ok((&s[1..], Contact::Star));
    }
    let (r, list) = crate::sip::syntax::comma_list(name_addr_params(false))(i)?;
    Ok((r, Contact::List(list)))
}

fn write_display(f: &mut fmt::Formatter<'_>, d: &DisplayName<'_>) -> fmt::Result {
    match d {
        DisplayName::Tokens(t) | DisplayName::Quoted(t) => write!(f, "{t} "),
    }
}

impl fmt::Display for NameAddr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display_name {
            write_display(f, d)?;
        }
        if self.angle || self.display_name.is_some() {
            write!(f, "<{}>", self.uri)?;
        } else {
            write!(f, "{}", self.uri)?;
        }
        write!(f, "{}", self.params)
    }
}

impl fmt::Display for Contact<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Contact::Star => f.write_str("*"),
            Contact::List(l) => super::write_list(f, l),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::syntax::slot;
    use proptest::prelude::*;

    /// What the fast path accepts, the full grammar must accept the same
    /// way: same value, same rest.
    fn agree(i: &str) {
        for angle_required in [false, true] {
            if let Some((rest, fast)) = name_addr_fast(i, angle_required) {
                let full = name_addr_params_full(i, angle_required);
                assert_eq!(full, Ok((rest, fast.clone())), "{i:?}");
                // and the parameters read back the same
                let (_, f) = full.unwrap();
                assert!(fast.params.iter().eq(f.params.iter()), "{i:?}");
            }
        }
    }

    #[test]
    fn fast_path_agrees_with_the_grammar_on_known_values() {
        for i in [
            "<sip:bob@example.com>",
            "\"Alice\" <sip:alice@example.com>;tag=4fa3c1b2",
            "\"Alice\"<sip:alice@example.com>;tag=4fa3c1b2",
            "Bob Smith <sips:bob@[2001:db8::1]:5061>",
            "Bob Smith <sip:bob@host.example.>;tag=1",
            "<sip:alice@192.0.2.10:5060;transport=udp>;+sip.instance=\"<urn:uuid:0>\"",
            "sip:joe@example.com;tag=xyzygg",
            "sip:server19.example.com",
            "sip:joe;x@host;tag=1",
            "<sip:198.51.100.5;lr>, <sip:a.example;lr>",
            "<sip:a@b> ;tag=1",
            "<sip:a@b>;tag=1 ;x",
            "<sip:a@b>;tag = 1",
            "<sip:a@b>;q=0.5, sip:c@d",
            "<sip:user:pw@host>",
            "<sip:host:5060>",
            "<sip:a%20b@host>",
            "<sip:a@b?subject=x>",
            "<sip:a@1.2.3.4.5>",
            "<sip:a@-x.com>",
            "<sip:a@99999>",
            "<SIP:A@B:65536>",
            "tel:+1-555 <sip:a@b>",
            "<sip:a@b;maddr=%41>",
            "<sip:a@b\r\n ;x>",
            "\"a\\\"b\" <sip:a@b>",
        ] {
            agree(i);
        }
        // the common shapes do take the fast path
        for i in [
            "<sip:bob@example.com>",
            "\"Alice\" <sip:alice@example.com>;tag=4fa3c1b2",
            "sip:joe@example.com;tag=xyzygg",
            "Bob <sip:bob@example.com:5070;transport=tcp>;expires=60",
        ] {
            assert!(name_addr_fast(i, false).is_some(), "{i}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 6000, ..ProptestConfig::default() })]

        /// Values built slot by slot in the shape of a name-addr, each slot
        /// drawn from valid pieces and from pieces that break them
        /// (separators, quotes, escapes, spaces and folds), so that both the
        /// fast path and its refusals are exercised.
        #[test]
        fn fast_path_agrees_with_the_grammar(
            slots in (
                slot(&["", "\"Alice\" ", "\"Alice\"", "Bob ", "Bob Smith ", "Bob"], &["\"A\\\"b\"", "Bob  Smith ", "\"x\r\n y\" ", " ", "\"open"]),
                slot(&["<", ""], &["< ", "<<"]),
                slot(&["sip:", "sips:", "SIP:"], &["tel:", "sip", "x:"]),
                slot(&["", "bob@", "a;b@", "a.b-c@"], &["u:pw@", "%41@", "@", "a%2@"]),
                slot(&["example.com", "192.0.2.1", "host.", "a-b.c"], &["[::1]", "-a.b", "a..b", "1.2.3", "1.2.3.256", ""]),
                slot(&["", ":5060", ":0"], &[":", ":65536", ":50a"]),
                slot(&["", ";lr", ";transport=tcp", ";a=b;c", ";m=%zz"], &[";a=%zz%", ";=x", ";m=", "?h=v", ";x%41=1"]),
                (
                    slot(&[">", "> "], &["", ">\t", ">\r\n "]),
                    slot(&["", ";tag=1", ";tag=\"q;x\"", ";tag", ";t=[::1]", ";a=1;b"], &["; tag=1", ";tag =1", ";=1", ";t=", " ;x", ";t=\"o"]),
                ),
                slot(&["", ",<sip:c@d>", ",sip:e@f"], &[" , sip:e@f", ",", "\r\n", " "]),
            )
        ) {
            let (d, l, sch, user, host, port, up, (r, hp), tail) = slots;
            agree(&[d, l, sch, user, host, port, up, r, hp, tail].concat());
        }
    }
}
