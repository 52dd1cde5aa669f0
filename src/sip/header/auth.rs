//! Authorization, Proxy-Authorization, WWW-Authenticate and
//! Proxy-Authenticate (RFC 3261 §20.7, §20.27, §20.28, §20.44; digest
//! parameters of §25.1, RFC 2617).
//!
//! Credentials and challenges share one shape: a scheme and a comma list of
//! `name=value` parameters, values kept as received (quoted or not).

use std::borrow::Cow;
use std::fmt;

use crate::sip::params::Param;
use crate::sip::syntax::{
    PResult, comma_list, equal, fail, lws, quoted_string, sws, token, unquote,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth<'a> {
    /// `Digest` or another auth-scheme.
    pub scheme: &'a str,
    pub params: Vec<Param<'a>>,
}

/// What a client sends: Authorization, Proxy-Authorization.
pub type Credentials<'a> = Auth<'a>;
/// What a server asks: WWW-Authenticate, Proxy-Authenticate.
pub type Challenge<'a> = Auth<'a>;

impl<'a> Auth<'a> {
    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("Digest")
    }

    /// A parameter's value, quotes removed.
    pub fn get(&self, name: &str) -> Option<Cow<'a, str>> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .and_then(|p| p.value)
            .map(unquote)
    }

    pub fn username(&self) -> Option<Cow<'a, str>> {
        self.get("username")
    }
    pub fn realm(&self) -> Option<Cow<'a, str>> {
        self.get("realm")
    }
    pub fn nonce(&self) -> Option<Cow<'a, str>> {
        self.get("nonce")
    }
    pub fn uri(&self) -> Option<Cow<'a, str>> {
        self.get("uri")
    }
    pub fn response(&self) -> Option<Cow<'a, str>> {
        self.get("response")
    }
    pub fn algorithm(&self) -> Option<Cow<'a, str>> {
        self.get("algorithm")
    }
    pub fn cnonce(&self) -> Option<Cow<'a, str>> {
        self.get("cnonce")
    }
    pub fn opaque(&self) -> Option<Cow<'a, str>> {
        self.get("opaque")
    }
    pub fn qop(&self) -> Option<Cow<'a, str>> {
        self.get("qop")
    }
    /// nonce-count, `8LHEX`.
    pub fn nc(&self) -> Option<u32> {
        u32::from_str_radix(&self.get("nc")?, 16).ok()
    }
    pub fn stale(&self) -> Option<bool> {
        let s = self.get("stale")?;
        if s.eq_ignore_ascii_case("true") {
            Some(true)
        } else if s.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            None
        }
    }
    /// `domain`: a space-separated list of URIs.
    pub fn domain(&self) -> Option<Cow<'a, str>> {
        self.get("domain")
    }
}

/// `auth-param-name EQUAL ( token / quoted-string )`
fn auth_param(i: &str) -> PResult<'_, Param<'_>> {
    let (r, ()) = sws(i)?;
    let (r, name) = token(r).or_else(|_| fail(r, "auth parameter name"))?;
    let (r, ()) = equal(r)?;
    let (r, value) = match sws(r)?.0.as_bytes().first() {
        Some(b'"') => quoted_string(r)?,
        _ => token(r).or_else(|_| fail(r, "auth parameter value"))?,
    };
    Ok((r, Param::new(name, Some(value))))
}

/// `auth-scheme LWS auth-param *(COMMA auth-param)`
pub fn auth(i: &str) -> PResult<'_, Auth<'_>> {
    let (r, ()) = sws(i)?;
    let (r, scheme) = token(r).or_else(|_| fail(r, "auth scheme"))?;
    let (r, _) = lws(r).or_else(|_| fail(r, "whitespace after auth scheme"))?;
    let (r, params) = comma_list(auth_param)(r)?;
    Ok((r, Auth { scheme, params }))
}

impl fmt::Display for Auth<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.scheme)?;
        for (k, p) in self.params.iter().enumerate() {
            if k > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}
