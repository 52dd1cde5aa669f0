//! Parameters: `;name[=value]` after header values (RFC 3261 §25.1
//! `generic-param`) and inside URIs. Values are kept as received, quotes
//! included, so printing gives back the same bytes.

use std::borrow::Cow;
use std::fmt;

use super::syntax::{PResult, ascii, equal, fail, is_token_char, quoted_string, semi, token};

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

/// Looks a parameter up by name, case-insensitively (RFC 3261 §7.3.1).
pub fn find<'a, 'p>(params: &'p [Param<'a>], name: &str) -> Option<&'p Param<'a>> {
    params.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// `gen-value = token / host / quoted-string`. A host adds IPv6 references
/// and, for Via `received`, bare IPv6 addresses: both are taken as one run of
/// token characters, colons and brackets.
pub fn gen_value(i: &[u8]) -> PResult<'_, &str> {
    if i.first() == Some(&b'"') {
        return quoted_string(i);
    }
    let n = i
        .iter()
        .take_while(|&&b| is_token_char(b) || matches!(b, b':' | b'[' | b']'))
        .count();
    if n == 0 {
        return fail(i, "parameter value");
    }
    Ok((&i[n..], ascii(&i[..n])))
}

/// `generic-param = token [ EQUAL gen-value ]`
pub fn generic_param(i: &[u8]) -> PResult<'_, Param<'_>> {
    let (r, name) = token(i).or_else(|_| fail(i, "parameter name"))?;
    match equal(r) {
        Ok((r, ())) => {
            let (r, value) = gen_value(r)?;
            Ok((r, Param::new(name, Some(value))))
        }
        Err(_) => Ok((r, Param::new(name, None))),
    }
}

/// `*( SEMI generic-param )`
pub fn params(mut i: &[u8]) -> PResult<'_, Vec<Param<'_>>> {
    let mut out = Vec::new();
    while let Ok((r, ())) = semi(i) {
        let (r, p) = generic_param(r)?;
        out.push(p);
        i = r;
    }
    Ok((i, out))
}

/// Writes `;name=value` for each parameter.
pub fn write_params(f: &mut fmt::Formatter<'_>, params: &[Param<'_>]) -> fmt::Result {
    for p in params {
        write!(f, ";{p}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3261_s25_1_generic_params() {
        let (r, ps) = params(b" ; tag = abc ;lr;q=\"x;y\";received=2001:db8::1,next").unwrap();
        assert_eq!(r, b",next");
        assert_eq!(ps.len(), 4);
        assert_eq!(ps[0], Param::new("tag", Some("abc")));
        assert_eq!(ps[1], Param::new("lr", None));
        assert_eq!(ps[2].unquoted().unwrap(), "x;y");
        assert_eq!(ps[3].value, Some("2001:db8::1"));
        assert_eq!(find(&ps, "TAG").unwrap().value, Some("abc"));
    }

    #[test]
    fn rfc4475_s3_1_2_1_empty_parameters_are_errors() {
        assert!(params(b";;").is_err());
        assert!(params(b";a=").is_err());
    }
}
