//! Via (RFC 3261 §20.42, §18.2.2) with the RFC 3581 `rport` parameter.
//!
//! `received`, `rport`, `maddr` and `ttl` are kept as parameters like any
//! other (the grammar's `via-extension` admits any token there) and read
//! through typed accessors, which answer None when a value is not of its type.

use core::net::IpAddr;
use std::fmt;

use crate::sip::params::{Param, Params, params};
use crate::sip::syntax::class;
use crate::sip::syntax::{PResult, colon, digits, fail, lws, slash, sws, token};
use crate::sip::uri::{Host, HostKind, parse_host, scan_host_port};

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
    match via_fast(i) {
        Some(fast) => Ok(fast),
        None => via_parm_full(i),
    }
}

/// The common shape of a via-parm, `token "/" token "/" token SP host
/// [":" port]` and parameters of [`Params::scan_simple`]'s shape, with no
/// spaces around the slashes and no IPv6 reference, in one pass. None for
/// anything else, which the full grammar then parses; what it accepts, the
/// full grammar parses to the same value and rest.
#[inline(always)]
fn via_fast(i: &str) -> Option<(&str, Via<'_>)> {
    let b = i.as_bytes();
    let mut k = 0;
    let mut protocol = [""; 3];
    for (n, part) in protocol.iter_mut().enumerate() {
        let len = class::span(&b[k..], class::TOKEN);
        let sep = if n < 2 { b'/' } else { b' ' };
        if len == 0 || b.get(k + len) != Some(&sep) {
            return None;
        }
        *part = &i[k..k + len];
        k += len + 1;
    }
    let (host, port, k) = scan_host_port(i, k)?;
    let (params, k) = Params::scan_simple(i, k)?;
    let [protocol, version, transport] = protocol;
    let via = Via {
        protocol,
        version,
        transport,
        host,
        port,
        params,
    };
    Some((&i[k..], via))
}

fn via_parm_full(i: &str) -> PResult<'_, Via<'_>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::syntax::slot;
    use proptest::prelude::*;

    fn agree(i: &str) {
        if let Some((rest, fast)) = via_fast(i) {
            let full = via_parm_full(i);
            assert_eq!(full, Ok((rest, fast.clone())), "{i:?}");
            let (_, f) = full.unwrap();
            assert!(fast.params.iter().eq(f.params.iter()), "{i:?}");
        }
    }

    #[test]
    fn fast_path_agrees_with_the_grammar_on_known_values() {
        for i in [
            "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---3f1b7c2d;rport",
            "SIP/2.0/TCP host.example.com;branch=z9hG4bK1;received=2001:db8::1",
            "SIP/2.0/UDP a.b ;branch=1",
            "SIP / 2.0 / UDP a.b",
            "SIP/2.0/UDP  a.b",
            "SIP/2.0/UDP [::1]:5060",
            "SIP/2.0/UDP a.b:65536",
            "SIP/2.0/UDP a.b;x=\"q\",SIP/2.0/TCP c",
            "SIP/2.0/UDP a.b;branch=z9hG4bK1\r\n ;rport",
        ] {
            agree(i);
        }
        assert!(via_fast("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1;rport").is_some());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

        /// Values built slot by slot in the shape of a via-parm, mostly
        /// valid pieces and sometimes pieces that break them.
        #[test]
        fn fast_path_agrees_with_the_grammar(
            slots in (
                slot(&["SIP/2.0/UDP ", "sip/2.0/tcp ", "SIP/2.0/TLS "], &["SIP / 2.0/UDP ", "SIP/2.0/UDP  ", "SIP/2.0/UDP\t", "SIP//UDP ", "SIP/2.0/UDP"]),
                slot(&["192.0.2.1", "pc33.example.com", "host."], &["[::1]", "a..b", "-a", "1.2.3", ""]),
                slot(&["", ":5060"], &[":", ":99999", " : 5060"]),
                slot(&["", ";branch=z9hG4bK1", ";rport", ";received=192.0.2.2;rport=5061", ";x=\"q;r\""], &["; branch=1", ";branch =1", ";=1", ";b=", ";x=\"open"]),
                slot(&["", ",SIP/2.0/TCP h", ", SIP/2.0/TCP h"], &[" ", "\r\n ;x", " ;rport"]),
            )
        ) {
            let (p, h, port, ps, tail) = slots;
            agree(&[p, h, port, ps, tail].concat());
        }
    }
}
