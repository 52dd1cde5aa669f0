//! URIs: SIP and SIPS (RFC 3261 §19.1), tel (RFC 3966) and any other absolute
//! URI kept opaque, with URI comparison by RFC 3261 §19.1.4.
//!
//! A URI is parsed from a slice its context has already delimited (the
//! Request-URI up to its SP, a name-addr up to `>`), so the parser here must
//! consume the whole slice. Components are kept exactly as received, escapes
//! included; comparison unescapes, never parsing or printing.
//!
//! IP addresses use `core::net` types: plain values, no sockets.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::borrow::Cow;
use std::fmt;

use super::params::Params;
use super::syntax::{SynErr, split};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri<'a> {
    Sip(SipUri<'a>),
    Tel(TelUri<'a>),
    /// Any other `absoluteURI`: scheme and the opaque rest after the colon.
    Other {
        scheme: &'a str,
        rest: &'a str,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri<'a> {
    /// `sips:` rather than `sip:`.
    pub secure: bool,
    pub user: Option<&'a str>,
    pub password: Option<&'a str>,
    pub host: Host<'a>,
    pub port: Option<u16>,
    /// uri-parameters, `;name[=value]`.
    pub params: Params<'a>,
    /// headers, `?name=value&...`.
    pub headers: Params<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelUri<'a> {
    /// The telephone-subscriber's number, visual separators included.
    pub number: &'a str,
    pub params: Params<'a>,
}

/// A host as written, with its address when it is an IP literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host<'a> {
    /// As received; an IPv6 reference keeps its brackets.
    pub raw: &'a str,
    pub kind: HostKind,
}

/// The default port of SIP over UDP and TCP (RFC 3261 §19.1.2).
pub const SIP_PORT: u16 = 5060;
/// The default port of SIP over TLS, and of SIPS URIs.
pub const SIPS_PORT: u16 = 5061;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    Domain,
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl HostKind {
    /// The address of an IP literal; None for a domain name.
    pub fn ip(self) -> Option<IpAddr> {
        match self {
            HostKind::V4(a) => Some(IpAddr::V4(a)),
            HostKind::V6(a) => Some(IpAddr::V6(a)),
            HostKind::Domain => None,
        }
    }
}

use super::syntax::class::{self, HEADER, PARAM, PASSWORD, RESERVED, UNRESERVED, USER};

fn is_reserved(b: u8) -> bool {
    class::is(b, RESERVED)
}

fn err<'a>(input: &'a str, expected: &'static str) -> SynErr<'a> {
    SynErr { input, expected }
}

/// Takes the longest prefix made of `flags` characters and `%HH` escapes.
fn escaped_run(i: &str, flags: u16) -> Result<(&str, &str), SynErr<'_>> {
    run(i, flags, false)
}

/// A URI parameter value: paramchar, or a token, since transport, user and
/// method take `token` values in which `%` and `` ` `` stand for themselves.
fn param_value(i: &str) -> Result<(&str, &str), SynErr<'_>> {
    run(i, PARAM | class::TOKEN, true)
}

fn run(i: &str, flags: u16, bare_percent: bool) -> Result<(&str, &str), SynErr<'_>> {
    let b = i.as_bytes();
    let mut k = 0;
    while k < b.len() {
        let c = b[k];
        if c == b'%' {
            match (b.get(k + 1), b.get(k + 2)) {
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => k += 3,
                _ if bare_percent => k += 1,
                _ => return Err(err(&i[k..], "%HH escape")),
            }
        } else if class::is(c, flags) {
            k += 1;
        } else {
            break;
        }
    }
    let (run, rest) = split(i, k);
    Ok((rest, run))
}

impl<'a> Uri<'a> {
    /// Parses a whole, already delimited URI.
    #[inline]
    pub fn parse(i: &'a str) -> Result<Uri<'a>, SynErr<'a>> {
        match SipUri::scan_simple(i) {
            Some((u, n)) if n == i.len() => Ok(Uri::Sip(u)),
            _ => Uri::parse_full(i),
        }
    }

    /// [`Uri::parse`] by the whole grammar, for every shape.
    fn parse_full(i: &'a str) -> Result<Uri<'a>, SynErr<'a>> {
        let colon = i
            .bytes()
            .position(|c| c == b':')
            .ok_or_else(|| err(i, "URI scheme"))?;
        let (scheme, rest) = (&i[..colon], &i[colon + 1..]);
        let sb = scheme.as_bytes();
        let valid_scheme = sb.first().is_some_and(u8::is_ascii_alphabetic)
            && sb
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !valid_scheme {
            return Err(err(i, "URI scheme"));
        }
        if scheme.eq_ignore_ascii_case("sip") {
            SipUri::parse_after_scheme(rest, false).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("sips") {
            SipUri::parse_after_scheme(rest, true).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("tel") {
            TelUri::parse_after_scheme(rest).map(Uri::Tel)
        } else {
            // absoluteURI: hier-part / opaque-part; kept opaque but it must
            // be made of URI characters (no LWS, quotes or angle brackets).
            let ok = !rest.is_empty()
                && rest.bytes().all(|b| {
                    class::is(b, UNRESERVED | RESERVED) || matches!(b, b'%' | b'[' | b']' | b'#')
                });
            if !ok {
                return Err(err(rest, "URI characters"));
            }
            Ok(Uri::Other { scheme, rest })
        }
    }

    pub fn scheme(&self) -> &str {
        match self {
            Uri::Sip(u) if u.secure => "sips",
            Uri::Sip(_) => "sip",
            Uri::Tel(_) => "tel",
            Uri::Other { scheme, .. } => scheme,
        }
    }

    pub fn as_sip(&self) -> Option<&SipUri<'a>> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }

    /// URI equality of RFC 3261 §19.1.4 (and RFC 3966 §4 for tel).
    pub fn equivalent(&self, other: &Uri<'_>) -> bool {
        match (self, other) {
            (Uri::Sip(a), Uri::Sip(b)) => a.equivalent(b),
            (Uri::Tel(a), Uri::Tel(b)) => a.equivalent(b),
            (
                Uri::Other {
                    scheme: s1,
                    rest: r1,
                },
                Uri::Other {
                    scheme: s2,
                    rest: r2,
                },
            ) => s1.eq_ignore_ascii_case(s2) && r1 == r2,
            _ => false,
        }
    }
}

impl<'a> SipUri<'a> {
    /// The socket address of a URI whose host is an IP literal, at its
    /// port or its scheme's default (RFC 3261 §19.1.2: 5060, 5061 for
    /// SIPS). None for a domain name.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        let ip = self.host.kind.ip()?;
        let port = self
            .port
            .unwrap_or(if self.secure { SIPS_PORT } else { SIP_PORT });
        Some(SocketAddr::new(ip, port))
    }

    /// The common shape of a SIP URI, `sip[s]:[user@]host[:port]
    /// *(;name[=value])` without escapes, password, IPv6 reference or
    /// headers, scanned in one pass. Returns the URI and how many bytes it
    /// took, stopping at the first byte that is not part of it; None for any
    /// other shape, which the full parser then takes (and explains when it
    /// is wrong). What it accepts, [`Uri::parse`] parses to the same value:
    /// `scan_simple_agrees_with_the_full_parser` holds it to that.
    #[inline(always)]
    pub(crate) fn scan_simple(i: &'a str) -> Option<(SipUri<'a>, usize)> {
        let b = i.as_bytes();
        let secure = if b.get(..4)?.eq_ignore_ascii_case(b"sip:") {
            false
        } else if b.get(..5)?.eq_ignore_ascii_case(b"sips:") {
            true
        } else {
            return None;
        };
        let mut k = if secure { 5 } else { 4 };
        // userinfo exists exactly when an "@" ends the run of user characters
        let n = class::span(&b[k..], USER);
        let user = match b.get(k + n) {
            Some(b'@') if n > 0 => {
                let user = &i[k..k + n];
                k += n + 1;
                Some(user)
            }
            Some(b'@' | b'%') => return None,
            Some(b':') => {
                // a port, or a password if an "@" follows: only a port is simple
                let m = class::span(&b[k + n + 1..], USER);
                if matches!(b.get(k + n + 1 + m), Some(b'@' | b'%')) {
                    return None;
                }
                None
            }
            _ => None,
        };
        let (host, port, mut k) = scan_host_port(i, k)?;
        let params_start = k;
        while b.get(k) == Some(&b';') {
            let n = class::span(&b[k + 1..], PARAM);
            if n == 0 {
                return None;
            }
            k += 1 + n;
            if b.get(k) == Some(&b'=') {
                // a value may hold "%" (token), as the full parser allows
                let n = class::span(&b[k + 1..], PARAM | class::TOKEN);
                if n == 0 {
                    return None;
                }
                k += 1 + n;
            }
        }
        // an escape, headers or an IPv6 reference: the full parser's job
        if matches!(b.get(k), Some(b'%' | b'?' | b'[')) {
            return None;
        }
        let uri = SipUri {
            secure,
            user,
            password: None,
            host,
            port,
            params: Params::uri(&i[params_start..k]),
            headers: Params::uri_headers(&i[k..k]),
        };
        Some((uri, k))
    }

    fn parse_after_scheme(i: &'a str, secure: bool) -> Result<SipUri<'a>, SynErr<'a>> {
        // userinfo exists exactly when an "@" ends the run of characters that
        // userinfo may hold (user, ":" and password).
        // The probe takes bare "%" too: before the "@" is found, a "%" may
        // just as well sit in a parameter that takes a token.
        let (after, userinfo) = run(i, USER | PASSWORD, true)?;
        let (after, userinfo) = if after.as_bytes().first() == Some(&b':') {
            // the password part: run on to the "@" if there is one
            let (a2, pw) = run(&after[1..], USER | PASSWORD, true)?;
            let whole = split(i, userinfo.len() + 1 + pw.len()).0;
            (a2, whole)
        } else {
            (after, userinfo)
        };
        let (user, password, rest) = if after.as_bytes().first() == Some(&b'@') {
            let (user, password) = match userinfo.bytes().position(|c| c == b':') {
                Some(c) => {
                    let pw = &userinfo[c + 1..];
                    if !pw.bytes().all(|b| class::is(b, PASSWORD) || b == b'%') {
                        return Err(err(pw, "password"));
                    }
                    (&userinfo[..c], Some(pw))
                }
                None => (userinfo, None),
            };
            if user.is_empty() {
                return Err(err(userinfo, "user"));
            }
            escaped_run(user, USER)?;
            if let Some(pw) = password {
                escaped_run(pw, PASSWORD)?;
            }
            (Some(user), password, &after[1..])
        } else {
            (None, None, i)
        };
        let (rest, host) = parse_host(rest)?;
        let (mut rest, port) = match rest.as_bytes().first() {
            Some(b':') => {
                let n = class::span(&rest.as_bytes()[1..], class::DIGIT);
                let port = rest[1..1 + n]
                    .parse::<u16>()
                    .map_err(|_| err(&rest[1..], "port (0-65535)"))?;
                (&rest[1 + n..], Some(port))
            }
            _ => (rest, None),
        };
        let params_start = rest;
        while rest.as_bytes().first() == Some(&b';') {
            let (r, name) = escaped_run(&rest[1..], PARAM)?;
            if name.is_empty() {
                return Err(err(&rest[1..], "URI parameter name"));
            }
            let r = if r.as_bytes().first() == Some(&b'=') {
                let (r2, v) = param_value(&r[1..])?;
                if v.is_empty() {
                    return Err(err(&r[1..], "URI parameter value"));
                }
                r2
            } else {
                r
            };
            rest = r;
        }
        let params = Params::uri(&params_start[..params_start.len() - rest.len()]);
        let headers_start = rest;
        if rest.as_bytes().first() == Some(&b'?') {
            loop {
                let (r, name) = escaped_run(&rest[1..], HEADER)?;
                if name.is_empty() || r.as_bytes().first() != Some(&b'=') {
                    return Err(err(&rest[1..], "URI header name=value"));
                }
                let (r, _value) = escaped_run(&r[1..], HEADER)?;
                rest = r;
                if rest.as_bytes().first() != Some(&b'&') {
                    break;
                }
            }
        }
        if !rest.is_empty() {
            return Err(err(rest, "end of SIP URI"));
        }
        let headers = Params::uri_headers(headers_start);
        Ok(SipUri {
            secure,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }

    /// The value of a URI parameter (names compare case-insensitively).
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        self.params.get(name).map(|p| p.value)
    }

    pub fn transport(&self) -> Option<&'a str> {
        self.param("transport").flatten()
    }

    /// `lr`: the loose-routing flag of RFC 3261 §19.1.1.
    pub fn lr(&self) -> bool {
        self.param("lr").is_some()
    }

    pub fn maddr(&self) -> Option<&'a str> {
        self.param("maddr").flatten()
    }

    /// RFC 3261 §19.1.4.
    pub fn equivalent(&self, o: &SipUri<'_>) -> bool {
        // SIP and SIPS never match; userinfo is case-sensitive, host and
        // everything else case-insensitive; escapes of unreserved characters
        // equal the characters.
        if self.secure != o.secure
            || !opt_eq(self.user, o.user, false)
            || !opt_eq(self.password, o.password, false)
            || !self.host.equivalent(&o.host)
            || self.port != o.port
        {
            return false;
        }
        // Parameters present in both must match; user, ttl, method, maddr and
        // transport must also be present in both; others may be missing.
        for p in &self.params {
            let mine = self
                .params
                .iter()
                .filter(|q| eq_escaped(p.name, q.name, true));
            let theirs = o.params.iter().filter(|q| eq_escaped(p.name, q.name, true));
            match (theirs.clone().next(), is_must_match_param(p.name)) {
                (None, true) => return false,
                (None, false) => {}
                // a repeated name matches when its values match in order
                (Some(_), _) => {
                    let mut mine = mine.map(|q| q.value);
                    let mut theirs = theirs.map(|q| q.value);
                    loop {
                        match (mine.next(), theirs.next()) {
                            (None, None) => break,
                            (Some(a), Some(b)) if opt_eq(a, b, true) => {}
                            _ => return false,
                        }
                    }
                }
            }
        }
        for q in &o.params {
            let in_self = self.params.iter().any(|p| eq_escaped(p.name, q.name, true));
            if !in_self && is_must_match_param(q.name) {
                return false;
            }
        }
        // Header components are never ignored: same set, same values.
        self.headers.len() == o.headers.len()
            && self.headers.iter().all(|h| {
                o.headers
                    .iter()
                    .any(|k| eq_escaped(h.name, k.name, true) && opt_eq(h.value, k.value, false))
            })
    }
}

fn is_must_match_param(name: &str) -> bool {
    // transport too: rule 6 says a component with a default value (udp)
    // never matches its absence, and the section's examples confirm it.
    ["user", "ttl", "method", "maddr", "transport"]
        .iter()
        .any(|m| eq_escaped(name, m, true))
}

fn opt_eq(a: Option<&str>, b: Option<&str>, fold_case: bool) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => eq_escaped(a, b, fold_case),
        (None, None) => true,
        _ => false,
    }
}

/// Decodes `%HH` escapes except those of reserved characters, whose escaped
/// and literal forms differ in meaning (RFC 3261 §19.1.4); a kept escape has
/// its hex digits upper-cased so `%3a` equals `%3A`.
fn normalize_escapes(s: &str) -> Cow<'_, [u8]> {
    if !s.contains('%') {
        return Cow::Borrowed(s.as_bytes());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut k = 0;
    while k < b.len() {
        if b[k] == b'%' && k + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[k + 1]), hex(b[k + 2])) {
                let v = (h * 16 + l) as u8;
                if is_reserved(v) {
                    out.push(b'%');
                    out.push(b[k + 1].to_ascii_uppercase());
                    out.push(b[k + 2].to_ascii_uppercase());
                } else {
                    out.push(v);
                }
                k += 3;
                continue;
            }
        }
        out.push(b[k]);
        k += 1;
    }
    Cow::Owned(out)
}

fn eq_escaped(a: &str, b: &str, fold_case: bool) -> bool {
    let (a, b) = (normalize_escapes(a), normalize_escapes(b));
    if fold_case {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

impl<'a> Host<'a> {
    pub fn domain(name: &'a str) -> Host<'a> {
        Host {
            raw: name,
            kind: HostKind::Domain,
        }
    }

    /// Host names compare case-insensitively; IP literals by address, so
    /// `[::1]` equals `[0:0::1]`.
    pub fn equivalent(&self, o: &Host<'_>) -> bool {
        match (self.kind, o.kind) {
            (HostKind::Domain, HostKind::Domain) => self
                .raw
                .trim_end_matches('.')
                .eq_ignore_ascii_case(o.raw.trim_end_matches('.')),
            (a, b) => a == b,
        }
    }

    /// The host as it would appear in a URI (IPv6 in brackets).
    pub fn as_str(&self) -> &'a str {
        self.raw
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw)
    }
}

/// `host = hostname / IPv4address / IPv6reference`, returning the rest.
pub fn parse_host(i: &str) -> Result<(&str, Host<'_>), SynErr<'_>> {
    let b = i.as_bytes();
    if b.first() == Some(&b'[') {
        let end = i
            .bytes()
            .position(|c| c == b']')
            .ok_or_else(|| err(i, "IPv6 reference"))?;
        let addr = i[1..end]
            .parse::<Ipv6Addr>()
            .map_err(|_| err(i, "IPv6 address"))?;
        return Ok((
            &i[end + 1..],
            Host {
                raw: &i[..=end],
                kind: HostKind::V6(addr),
            },
        ));
    }
    let n = class::span(b, class::HOST);
    let (raw, rest) = split(i, n);
    let host = host_from(raw).ok_or_else(|| err(i, "host"))?;
    Ok((rest, host))
}

/// `hostport` (RFC 3261 §25.1) for an address, IPv6 in brackets, as Via
/// sent-by, Contact and Record-Route write it.
pub fn host_port(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        SocketAddr::V6(v) => format!("[{}]:{}", v.ip(), v.port()),
    }
}

/// `hostname / IPv4address [":" port]` from byte `k` of `i`, in one pass,
/// and where it ends; None for an IPv6 reference or anything malformed
/// (the full parsers' job).
#[inline(always)]
pub(crate) fn scan_host_port(i: &str, mut k: usize) -> Option<(Host<'_>, Option<u16>, usize)> {
    let b = i.as_bytes();
    let n = class::span(b.get(k..)?, class::HOST);
    let host = host_from(&i[k..k + n])?;
    k += n;
    let port = if b.get(k) == Some(&b':') {
        let n = class::span(&b[k + 1..], class::DIGIT);
        let port = i[k + 1..k + 1 + n].parse::<u16>().ok()?;
        k += 1 + n;
        Some(port)
    } else {
        None
    };
    Some((host, port, k))
}

/// `dec-octet "." dec-octet "." dec-octet "." dec-octet`, no leading zeros
/// beyond the RFC 3986 forms.
fn parse_ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut k = 0;
    for (n, octet) in octets.iter_mut().enumerate() {
        let digits = class::span(&b[k..], class::DIGIT);
        if digits == 0 || digits > 3 || (digits > 1 && b[k] == b'0') {
            return None;
        }
        let mut v = 0u16;
        for &d in &b[k..k + digits] {
            v = v * 10 + u16::from(d - b'0');
        }
        *octet = u8::try_from(v).ok()?;
        k += digits;
        if n < 3 {
            if b.get(k) != Some(&b'.') {
                return None;
            }
            k += 1;
        }
    }
    (k == b.len()).then(|| Ipv4Addr::from(octets))
}

/// An IPv6 address without brackets (Via `received`).
pub fn parse_ipv6(raw: &str) -> Option<Ipv6Addr> {
    raw.parse().ok()
}

#[inline(always)]
fn host_from(raw: &str) -> Option<Host<'_>> {
    // One pass over the labels. `hostname = *( domainlabel "." ) toplabel
    // [ "." ]`: labels are non-empty and start and end with alphanum; the
    // last label decides the kind, since a toplabel starts with a letter
    // and a final label that starts with a digit can only end a
    // dotted-decimal IPv4.
    let b = raw.as_bytes();
    let mut prev = b'.';
    let mut top_first = 0u8;
    for &c in b {
        match c {
            b'.' if prev == b'.' || prev == b'-' => return None,
            b'-' if prev == b'.' => return None,
            b'.' | b'-' => {}
            _ if prev == b'.' => top_first = c,
            _ => {}
        }
        prev = c;
    }
    if prev == b'-' || top_first == 0 {
        return None;
    }
    if top_first.is_ascii_digit() {
        return parse_ipv4(b).map(|a| Host {
            raw,
            kind: HostKind::V4(a),
        });
    }
    top_first.is_ascii_alphabetic().then(|| Host::domain(raw))
}

impl<'a> TelUri<'a> {
    fn parse_after_scheme(i: &'a str) -> Result<TelUri<'a>, SynErr<'a>> {
        let end = i.find(';').unwrap_or(i.len());
        let number = &i[..end];
        // global-number-digits = "+" *phonedigit DIGIT *phonedigit;
        // local-number-digits = *phonedigit-hex (HEXDIG / "*" / "#") *phonedigit-hex
        let digits = number.strip_prefix('+').unwrap_or(number).as_bytes();
        let global = digits.len() != number.len();
        let ok = digits.iter().all(|&b| {
            matches!(b, b'-' | b'.' | b'(' | b')')
                || b.is_ascii_digit()
                || (!global && (b.is_ascii_hexdigit() || matches!(b, b'*' | b'#')))
        }) && digits.iter().any(|&b| {
            if global {
                b.is_ascii_digit()
            } else {
                b.is_ascii_hexdigit() || matches!(b, b'*' | b'#')
            }
        });
        if !ok {
            return Err(err(i, "telephone number"));
        }
        let mut rest = &i[end..];
        let params_start = rest;
        while rest.as_bytes().first() == Some(&b';') {
            let n = rest.as_bytes()[1..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
                .count();
            if n == 0 {
                return Err(err(&rest[1..], "tel parameter name"));
            }
            let r = &rest[1 + n..];
            let r = if r.as_bytes().first() == Some(&b'=') {
                let (r2, v) = escaped_run(&r[1..], PARAM)?;
                if v.is_empty() {
                    return Err(err(&r[1..], "tel parameter value"));
                }
                r2
            } else {
                r
            };
            rest = r;
        }
        if !rest.is_empty() {
            return Err(err(rest, "end of tel URI"));
        }
        let params = Params::uri(params_start);
        Ok(TelUri { number, params })
    }

    /// RFC 3966 §4: visual separators are ignored, parameters compare
    /// case-insensitively and in any order.
    pub fn equivalent(&self, o: &TelUri<'_>) -> bool {
        let digits = |s: &str| -> String {
            s.chars()
                .filter(|c| !matches!(c, '-' | '.' | '(' | ')'))
                .map(|c| c.to_ascii_lowercase())
                .collect()
        };
        digits(self.number) == digits(o.number)
            && self.params.len() == o.params.len()
            && self.params.iter().all(|p| {
                o.params
                    .iter()
                    .any(|q| p.name.eq_ignore_ascii_case(q.name) && opt_eq(p.value, q.value, true))
            })
    }
}

impl fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => u.fmt(f),
            Uri::Tel(t) => {
                write!(f, "tel:{}{}", t.number, t.params)
            }
            Uri::Other { scheme, rest } => write!(f, "{scheme}:{rest}"),
        }
    }
}

impl fmt::Display for SipUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(user) = self.user {
            f.write_str(user)?;
            if let Some(pw) = self.password {
                write!(f, ":{pw}")?;
            }
            f.write_str("@")?;
        }
        f.write_str(self.host.raw)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "{}{}", self.params, self.headers)
    }
}

#[cfg(test)]
mod tests;
