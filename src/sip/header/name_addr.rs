//! name-addr and addr-spec with header parameters: From, To, Contact, Route
//! and Record-Route (RFC 3261 §20.10, §20.20, §20.30, §20.34, §20.39).
//!
//! RFC 3261 §20 forbids a bare addr-spec whose URI holds a comma, semicolon
//! or question mark: there a `;` starts the header parameters, and a URI
//! with headers must be written as a name-addr (RFC 4475 §3.1.2.13).

use std::borrow::Cow;
use std::fmt;

use crate::sip::params::{Param, Params, params};
use crate::sip::syntax::{
    PResult, SynErr, fail, is_wsp, laquot, lws, quoted_string, raquot, sws, token, unquote,
};
use crate::sip::uri::Uri;

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

/// A bare addr-spec: its URI ends at the first `;`, `,` or whitespace.
fn addr_spec(i: &str) -> PResult<'_, Uri<'_>> {
    let (start, ()) = sws(i)?;
    let end = start
        .bytes()
        .position(|b| matches!(b, b';' | b',' | b'\r' | b'\n') || is_wsp(b))
        .unwrap_or(start.len());
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

/// `(name-addr / addr-spec) *(SEMI param)`; `angle_required` for Route and
/// Record-Route, which allow only name-addr.
pub fn name_addr_params(angle_required: bool) -> impl Fn(&str) -> PResult<'_, NameAddr<'_>> {
    move |i| {
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
