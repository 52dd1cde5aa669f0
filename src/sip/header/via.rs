//! Via (RFC 3261 §20.42, §18.2.2) with the RFC 3581 `rport` parameter.
//!
//! `received`, `rport`, `maddr` and `ttl` are kept as parameters like any
//! other (the grammar's `via-extension` admits any token there) and read
//! through typed accessors, which answer None when a value is not of its type.

use core::net::IpAddr;
use std::fmt;

use crate::sip::params::{Param, Params, params};
use crate::sip::syntax::{PResult, colon, digits, fail, lws, slash, sws, token};
use crate::sip::uri::{Host, HostKind, parse_host};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via<'a> {
    /// protocol-name, normally `SIP`.
    pub protocol: &'a str,
    /// protocol-version, normally `2.0`.
    pub version: &'a str,
    /// `UDP`, `TCP`, `TLS`, `SCTP` or any other token.
    pub transport: &'a str,
    pub host: Host<'a>,
    pub port: Option<u16>,
    pub params: Params<'a>,
}

impl<'a> Via<'a> {
    pub fn param(&self, name: &str) -> Option<Param<'a>> {
        self.params.get(name)
    }

    pub fn branch(&self) -> Option<&'a str> {
        self.param("branch").and_then(|p| p.value)
    }

    /// RFC 3261 §8.1.1.7: branches of RFC 3261 elements start with the
    /// magic cookie, and a cookie alone identifies nothing (RFC 4475 §3.2.1).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.len() > 7 && b.starts_with("z9hG4bK"))
    }

    /// `received`: the source address a server saw (RFC 3261 §18.2.1).
    pub fn received(&self) -> Option<IpAddr> {
        let v = self.param("received")?.value?;
        let v = v.trim_start_matches('[').trim_end_matches(']');
        v.parse().ok()
    }

    /// RFC 3581: `Some(None)` for a bare `rport` (please fill it in),
    /// `Some(Some(port))` once a server filled it in.
    pub fn rport(&self) -> Option<Option<u16>> {
        let p = self.param("rport")?;
        match p.value {
            None => Some(None),
            Some(v) => v.parse().ok().map(Some),
        }
    }

    pub fn maddr(&self) -> Option<Host<'a>> {
        let v = self.param("maddr")?.value?;
        match parse_host(v) {
            Ok(("", h)) => Some(h),
            _ => None,
        }
    }

    /// `ttl = 1*3DIGIT ; 0 to 255`
    pub fn ttl(&self) -> Option<u8> {
        self.param("ttl")?.value?.parse().ok()
    }

    /// True when sent-by is an IP literal.
    pub fn sent_by_is_ip(&self) -> bool {
        !matches!(self.host.kind, HostKind::Domain)
    }
}

/// `via-parm = sent-protocol LWS sent-by *( SEMI via-params )`
pub fn via_parm(i: &str) -> PResult<'_, Via<'_>> {
    let (r, ()) = sws(i)?;
    let (r, protocol) = token(r).or_else(|_| fail(r, "protocol name"))?;
    let (r, ()) = slash(r)?;
    let (r, version) = token(r).or_else(|_| fail(r, "protocol version"))?;
    let (r, ()) = slash(r)?;
    let (r, transport) = token(r).or_else(|_| fail(r, "transport"))?;
    let (r, _) = lws(r).or_else(|_| fail(r, "whitespace before sent-by"))?;
    let (r, host) = parse_host(r).map_err(nom::Err::Error)?;
    // COLON = SWS ":" SWS
    let (r, port) = match colon(r) {
        Ok((r2, ())) => {
            let (r3, d) = digits(r2)?;
            match d.parse::<u16>() {
                Ok(p) => (r3, Some(p)),
                Err(_) => return fail(r2, "port (0-65535)"),
            }
        }
        Err(_) => (r, None),
    };
    let (r, params) = params(r)?;
    Ok((
        r,
        Via {
            protocol,
            version,
            transport,
            host,
            port,
            params,
        },
    ))
}

impl fmt::Display for Via<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{} {}",
            self.protocol, self.version, self.transport, self.host
        )?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}
