//! Building responses (RFC 3261 §8.2.6): the request's Via, From, To,
//! Call-ID and CSeq, a To tag on every response but 100, then the headers
//! the answer needs and Content-Length.
//!
//! Also the two things a server transport does to the top Via of a request
//! it receives (RFC 3261 §18.2.1, RFC 3581 §4): `received` when the
//! source address differs from sent-by, and `rport` filled in when asked
//! for; and, for a request that could not be parsed, a response built from
//! its raw header lines, so that even a 400 finds its way back.

use core::net::SocketAddr;
use std::fmt::Write as _;

use super::header::{Header, HeaderName, RawHeader, TypedValue, Via, expand_compact};
use super::message::Message;
use super::syntax::is_token_char;

/// The top Via as it must be copied into responses (and, for a proxy,
/// forwarded): with `received` and `rport` set per RFC 3261 §18.2.1 and
/// RFC 3581 §4. `force_rport` fills in rport even when the client did not
/// ask for it (symmetric response routing for clients behind NAT).
pub fn stamp_via(via: &Via<'_>, source: SocketAddr, force_rport: bool) -> String {
    let wants_rport = force_rport || via.param("rport").is_some();
    let host_is_source = via.host.kind.ip() == Some(source.ip());
    let mut out = format!(
        "{}/{}/{} {}",
        via.protocol, via.version, via.transport, via.host
    );
    if let Some(p) = via.port {
        let _ = write!(out, ":{p}");
    }
    for p in via.params.iter() {
        if p.name.eq_ignore_ascii_case("received") {
            continue;
        }
        if p.name.eq_ignore_ascii_case("rport") && wants_rport {
            continue;
        }
        let _ = write!(out, ";{p}");
    }
    // RFC 3581 §4: with rport, received is added even when it equals sent-by.
    if !host_is_source || wants_rport {
        let _ = write!(out, ";received={}", source.ip());
    }
    if wants_rport {
        let _ = write!(out, ";rport={}", source.port());
    }
    out
}

/// Where a response to a request with this top Via goes over an
/// unreliable transport (RFC 3261 §18.2.2, RFC 3581 §4): maddr aside, the
/// `received` address (the source address, which [`stamp_via`] records)
/// and the `rport` port, else sent-by's port or 5060.
pub fn response_target(via: &Via<'_>, source: SocketAddr, force_rport: bool) -> SocketAddr {
    let port = match via.rport() {
        Some(_) => source.port(),
        None if force_rport => source.port(),
        None => via.port.unwrap_or(super::uri::SIP_PORT),
    };
    SocketAddr::new(source.ip(), port)
}

/// What a response says beyond what it copies from the request.
#[derive(Debug, Clone, Default)]
pub struct Reply<'r> {
    pub status: u16,
    pub reason: &'r str,
    /// The To tag to add when the request's To has none (not used for 100).
    pub to_tag: Option<&'r str>,
    pub headers: Vec<(&'r str, String)>,
    /// Content-Type and body.
    pub body: Option<(&'r str, &'r [u8])>,
}

/// Writes the response to `req`; `top_via` replaces the first Via value
/// (see [`stamp_via`]).
pub fn build(req: &Message<'_>, top_via: Option<&str>, reply: &Reply<'_>) -> Vec<u8> {
    let mut out = String::with_capacity(512);
    let _ = write!(out, "SIP/2.0 {} {}\r\n", reply.status, reply.reason);
    let mut first_via = true;
    for f in req.fields() {
        // Only the fields copied into the response are read.
        if !matches!(
            f.name(),
            Some(
                HeaderName::Via
                    | HeaderName::From
                    | HeaderName::To
                    | HeaderName::CallId
                    | HeaderName::CSeq
            )
        ) {
            continue;
        }
        let h = f.header();
        match h {
            Header::Via(vias) => {
                for v in vias {
                    match (first_via, top_via) {
                        (true, Some(stamped)) => {
                            let _ = write!(out, "Via: {stamped}\r\n");
                        }
                        _ => {
                            let _ = write!(out, "Via: {v}\r\n");
                        }
                    }
                    first_via = false;
                }
            }
            Header::From(_) | Header::CallId(_) | Header::CSeq(_) => {
                if let Some(name) = h.name() {
                    let _ = write!(out, "{}: {}\r\n", name, TypedValue(h));
                }
            }
            // Malformed: copied as received.
            Header::Other(RawHeader {
                line: Some(line), ..
            }) => {
                out.push_str(line);
                out.push_str("\r\n");
            }
            Header::To(to) => {
                let _ = write!(out, "To: {to}");
                if to.tag().is_none() && reply.status > 100 {
                    if let Some(tag) = reply.to_tag {
                        let _ = write!(out, ";tag={tag}");
                    }
                }
                out.push_str("\r\n");
            }
            _ => {}
        }
    }
    for (name, value) in &reply.headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    let mut bytes = out.into_bytes();
    match reply.body {
        Some((content_type, body)) => {
            let _ = write!(
                Writer(&mut bytes),
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            bytes.extend_from_slice(body);
        }
        None => bytes.extend_from_slice(b"Content-Length: 0\r\n\r\n"),
    }
    bytes
}

struct Writer<'v>(&'v mut Vec<u8>);

impl std::fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// A response to a request that did not parse, built from its raw header
/// lines: every Via, From, To (tagged), Call-ID and CSeq line found, copied
/// as received. None when the input looks like a response or has no Via
/// line (then there is nobody to answer: RFC 3261 §18.1.2, §8.2.6.2).
pub fn salvage(
    buf: &[u8],
    status: u16,
    reason: &str,
    to_tag: &str,
    extra: &[(&str, String)],
) -> Option<Vec<u8>> {
    if buf
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
    {
        return None;
    }
    let mut lines = buf
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    lines.next()?; // the start line
    let mut out = format!("SIP/2.0 {status} {reason}\r\n").into_bytes();
    let mut has_via = false;
    let mut current: Option<&str> = None;
    for line in lines.take(256) {
        if line.is_empty() {
            break;
        }
        // a folded continuation belongs to the field before it
        if matches!(line[0], b' ' | b'\t') {
            if current.is_some() {
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(line);
            }
            continue;
        }
        if current == Some("To") && !ends_with_tag(&out) {
            let _ = write!(Writer(&mut out), ";tag={to_tag}");
        }
        if current.is_some() {
            out.extend_from_slice(b"\r\n");
        }
        let n = line.iter().take_while(|&&b| is_token_char(b)).count();
        let name = std::str::from_utf8(&line[..n]).unwrap_or("");
        let full = expand_compact(name).unwrap_or(name);
        current = ["Via", "From", "To", "Call-ID", "CSeq"]
            .into_iter()
            .find(|k| k.eq_ignore_ascii_case(full));
        if current.is_some() {
            has_via |= current == Some("Via");
            out.extend_from_slice(line);
        }
    }
    if current == Some("To") && !ends_with_tag(&out) {
        let _ = write!(Writer(&mut out), ";tag={to_tag}");
    }
    if current.is_some() {
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in extra {
        let _ = write!(Writer(&mut out), "{name}: {value}\r\n");
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    has_via.then_some(out)
}

/// Whether the To line just written already carries a tag.
fn ends_with_tag(out: &[u8]) -> bool {
    let line_start = out
        .windows(2)
        .rposition(|w| w == b"\r\n")
        .map_or(0, |k| k + 2);
    let line = &out[line_start..];
    line.windows(4).any(|w| w.eq_ignore_ascii_case(b"tag="))
}

#[cfg(test)]
mod tests;
