//! Parameters: `;name[=value]` after header values (RFC 3261 §25.1
//! `generic-param`) and inside URIs. Values are kept as received, quotes
//! included, so printing gives back the same bytes.

use std::borrow::Cow;
use std::fmt;

use super::syntax::{PResult, class, equal, quoted_string, semi, take_class};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    pub name: &'a str,
    /// As received: a token, a host, or a quoted string with its quotes.
    pub value: Option<&'a str>,
}

impl<'a> Param<'a> {
    pub fn new(name: &'a str, value: Option<&'a str>) -> Self {
        Param { name, value }
    }

    /// The value without quotes and backslash escapes.
    pub fn unquoted(&self) -> Option<Cow<'a, str>> {
        self.value.map(super::syntax::unquote)
    }
}

impl fmt::Display for Param<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value {
            Some(v) => write!(f, "{}={}", self.name, v),
            None => f.write_str(self.name),
        }
    }
}

/// A parameter list kept as the text it was parsed from, validated at parse
/// time and read on demand: no allocation per message, and most lists are
/// read once (a branch, a tag) if at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct Params<'a> {
    raw: &'a str,
    style: Style,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Style {
    /// `*( SEMI generic-param )` after a header value: LWS allowed.
    #[default]
    Header,
    /// `*( ";" uri-parameter )` inside a URI.
    Uri,
    /// `"?" hname "=" hvalue *( "&" hname "=" hvalue )` inside a URI.
    UriHeaders,
}

impl<'a> Params<'a> {
    pub const EMPTY: Params<'static> = Params {
        raw: "",
        style: Style::Header,
    };

    /// Header parameters from byte `k` of `i` in their common shape, `*(";"
    /// token ["=" (token / host / quoted-string)])` with no whitespace or
    /// folds around the separators, in one pass: the parameters and where
    /// they end. None for any other shape, [`params`]' job; what this
    /// accepts, [`params`] reads the same way and ends at the same byte.
    #[inline(always)]
    pub(crate) fn scan_simple(i: &'a str, mut k: usize) -> Option<(Self, usize)> {
        let b = i.as_bytes();
        let start = k;
        while b.get(k) == Some(&b';') {
            let n = class::span(&b[k + 1..], class::TOKEN);
            if n == 0 {
                return None;
            }
            k += 1 + n;
            if b.get(k) == Some(&b'=') {
                let (r, _) = gen_value(&i[k + 1..]).ok()?;
                k = i.len() - r.len();
            }
        }
        // a fold, or whitespace that may come before another parameter
        if matches!(b.get(k), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            return None;
        }
        let params = Params {
            raw: i.get(start..k)?,
            style: Style::Header,
        };
        Some((params, k))
    }

    pub(crate) fn uri(raw: &'a str) -> Self {
        Params {
            raw,
            style: Style::Uri,
        }
    }

    pub(crate) fn uri_headers(raw: &'a str) -> Self {
        Params {
            raw,
            style: Style::UriHeaders,
        }
    }

    /// Header parameters from text such as `;tag=1;lr`.
    pub fn parse_header(raw: &'a str) -> Option<Self> {
        match params(raw) {
            Ok(("", p)) => Some(p),
            _ => None,
        }
    }

    /// The text the parameters were parsed from.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    pub fn iter(&self) -> ParamIter<'a> {
        ParamIter {
            rest: self.raw,
            style: self.style,
        }
    }

    /// Looks a parameter up by name, case-insensitively (RFC 3261 §7.3.1).
    pub fn get(&self, name: &str) -> Option<Param<'a>> {
        self.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// The value of a parameter that has one.
    pub fn value(&self, name: &str) -> Option<&'a str> {
        self.get(name).and_then(|p| p.value)
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

impl PartialEq for Params<'_> {
    /// Equal when they hold the same parameters in the same order, however
    /// they were spaced.
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Params<'_> {}

impl<'a> IntoIterator for &Params<'a> {
    type Item = Param<'a>;
    type IntoIter = ParamIter<'a>;
    fn into_iter(self) -> ParamIter<'a> {
        self.iter()
    }
}

#[derive(Clone)]
pub struct ParamIter<'a> {
    rest: &'a str,
    style: Style,
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = Param<'a>;

    fn next(&mut self) -> Option<Param<'a>> {
        match self.style {
            Style::Header => {
                let (r, ()) = semi(self.rest).ok()?;
                let (r, p) = generic_param(r).ok()?;
                self.rest = r;
                Some(p)
            }
            Style::Uri | Style::UriHeaders => {
                // validated at parse time: ";a=b;c" or "?a=b&c=d"
                let body = self.rest.get(1..).filter(|_| !self.rest.is_empty())?;
                let sep = if self.style == Style::Uri { b';' } else { b'&' };
                let end = body.bytes().position(|c| c == sep).unwrap_or(body.len());
                let (item, rest) = body.split_at(end);
                self.rest = rest;
                Some(match item.split_once('=') {
                    Some((name, value)) => Param::new(name, Some(value)),
                    None => Param::new(item, None),
                })
            }
        }
    }
}

impl fmt::Display for Params<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.style {
            Style::Header | Style::Uri => {
                for p in self.iter() {
                    write!(f, ";{p}")?;
                }
            }
            Style::UriHeaders => {
                for (k, h) in self.iter().enumerate() {
                    f.write_str(if k == 0 { "?" } else { "&" })?;
                    write!(f, "{}={}", h.name, h.value.unwrap_or(""))?;
                }
            }
        }
        Ok(())
    }
}

/// `gen-value = token / host / quoted-string`. A host adds IPv6 references
/// and, for Via `received`, bare IPv6 addresses: both are taken as one run of
/// token characters, colons and brackets.
pub fn gen_value(i: &str) -> PResult<'_, &str> {
    if i.as_bytes().first() == Some(&b'"') {
        return quoted_string(i);
    }
    take_class(i, class::GENVALUE, "parameter value")
}

/// `generic-param = token [ EQUAL gen-value ]`
pub fn generic_param(i: &str) -> PResult<'_, Param<'_>> {
    let (r, name) = take_class(i, class::TOKEN, "parameter name")?;
    match equal(r) {
        Ok((r, ())) => {
            let (r, value) = gen_value(r)?;
            Ok((r, Param::new(name, Some(value))))
        }
        Err(_) => Ok((r, Param::new(name, None))),
    }
}

/// `*( SEMI generic-param )`, validated now and read later.
pub fn params(i: &str) -> PResult<'_, Params<'_>> {
    let mut rest = i;
    loop {
        // fast exit: most values end without parameters
        let next = rest
            .as_bytes()
            .iter()
            .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
        if next != Some(&b';') {
            break;
        }
        let Ok((r, ())) = semi(rest) else { break };
        let (r, _) = generic_param(r)?;
        rest = r;
    }
    let raw = &i[..i.len() - rest.len()];
    Ok((
        rest,
        Params {
            raw,
            style: Style::Header,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3261_s25_1_generic_params() {
        let (r, ps) = params(" ; tag = abc ;lr;q=\"x;y\";received=2001:db8::1,next").unwrap();
        assert_eq!(r, ",next");
        assert_eq!(ps.len(), 4);
        let v: Vec<Param<'_>> = ps.iter().collect();
        assert_eq!(v[0], Param::new("tag", Some("abc")));
        assert_eq!(v[1], Param::new("lr", None));
        assert_eq!(v[2].unquoted().unwrap(), "x;y");
        assert_eq!(v[3].value, Some("2001:db8::1"));
        assert_eq!(ps.value("TAG"), Some("abc"));
        assert_eq!(
            ps,
            Params::parse_header(";tag=abc;lr;q=\"x;y\";received=2001:db8::1").unwrap()
        );
    }

    #[test]
    fn rfc4475_s3_1_2_1_empty_parameters_are_errors() {
        assert!(params(";;").is_err());
        assert!(params(";a=").is_err());
    }
}
