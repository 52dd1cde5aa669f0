//! The proxy face (RFC 3261 §16), sans-io: what a transaction-stateful
//! proxy does to a request it forwards and to the responses it relays. The
//! node decides where a request goes (the SIP core, or the server RFC 3263
//! finds for another domain), runs the transactions and the sockets; this
//! module decides whether and where a request goes ([`plan`], before the
//! node has a hop) and builds the bytes ([`build`], per candidate).
//!
//! A forwarded request (§16.6) gets our Via on top with a fresh branch
//! that also carries a hash of what identifies the request, so that the
//! same request coming back is a loop (482, §16.3 step 4) while a spiral
//! (the same request, retargeted) is not; Max-Forwards one lower (70 when
//! absent); our Record-Route on requests that create dialogs, so in-dialog
//! requests come back through us; a top Route naming us removed (loose
//! routing, §16.4), or, when the Request-URI is ours (a strict router
//! before us), the last Route moved into the Request-URI. Every other
//! header goes out as it came: unknown ones byte for byte, and the body
//! untouched.

use core::net::SocketAddr;
use std::hash::{Hash, Hasher};
use std::io::Write as _;

use crate::sip::header::{Header, HeaderName, NameAddr, Via};
use crate::sip::uri::{SIP_PORT, SIPS_PORT, SipUri, host_port};
use crate::sip::{Message, Method, Uri};

/// Our addresses, to recognise Route and Request-URI values that name us
/// and Via values we wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Local {
    pub addrs: Vec<SocketAddr>,
}

impl Local {
    /// Whether `uri` names this proxy: one of our addresses (at the
    /// scheme's default port when the URI has none).
    pub fn is_me(&self, uri: &SipUri<'_>) -> bool {
        uri.socket_addr()
            .is_some_and(|at| self.listens_at(at.ip(), at.port()))
    }

    /// A Via's sent-by names us; without a port, at its transport's
    /// default (§18.2.2: 5061 for TLS, 5060 otherwise).
    fn sent_by_is_me(&self, via: &Via<'_>) -> bool {
        let default = if via.transport.eq_ignore_ascii_case("TLS") {
            SIPS_PORT
        } else {
            SIP_PORT
        };
        via.host
            .kind
            .ip()
            .is_some_and(|ip| self.listens_at(ip, via.port.unwrap_or(default)))
    }

    fn listens_at(&self, ip: core::net::IpAddr, port: u16) -> bool {
        self.addrs.iter().any(|a| a.ip() == ip && a.port() == port)
    }
}

/// Why a request is not forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: &'static str,
}

/// The header fields a request must hold well-formed to be forwarded: what
/// its server transaction, the request validation, the node's choice to
/// forward it and the forwarding read
/// (RFC 3261 §16.3 step 1; everything else goes on unchanged).
pub const REQUEST_READS: [HeaderName; 9] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
    HeaderName::MaxForwards,
    HeaderName::Route,
    HeaderName::ProxyRequire,
    // The node's choice between serving and forwarding reads it.
    HeaderName::Event,
];

/// The header fields a response must hold well-formed to be matched to its
/// client transaction and relayed (§17.1.3, §16.7).
pub const RESPONSE_READS: [HeaderName; 5] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
];

/// The branch prefix of our Via values: the magic cookie (§8.1.1.7), our
/// mark and the loop hash.
const MARK: &str = "z9hG4bK-pc";

/// A forwarded request (where it goes is its [`Plan`]'s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub bytes: Vec<u8>,
    /// Our branch (the client transaction's key).
    pub branch: String,
}

/// How our Via and Record-Route are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop<'a> {
    /// `UDP` or `TCP`: the transport towards the next hop.
    pub transport: &'a str,
    /// Our address on that transport (Via sent-by).
    pub sent_by: SocketAddr,
    /// Our address where the request came in (Record-Route).
    pub record_route: SocketAddr,
    pub record_route_transport: &'a str,
}

/// §16.6 step 8: what identifies a request for loop detection (the Via
/// this proxy adds aside).
pub fn loop_hash(req: &Message<'_>) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    if let Some(u) = req.request_uri() {
        u.to_string().hash(&mut h);
    }
    req.from().and_then(|f| f.tag()).hash(&mut h);
    req.to().and_then(|t| t.tag()).hash(&mut h);
    req.call_id().hash(&mut h);
    req.cseq().map(|c| c.seq).hash(&mut h);
    for hdr in req.fields() {
        if hdr.is("Proxy-Require") || hdr.is("Proxy-Authorization") {
            // Canonical, so a proxy that rewrites the spelling does not
            // hide the loop.
            let mut v = Vec::new();
            hdr.header().write_to(&mut v);
            v.hash(&mut h);
        }
    }
    format!("{:016x}", h.finish())
}

/// Whether a request that names us in a Via is looping (§16.3 step 4): one
/// of our Via values carries `hash`, the loop hash this request gets.
fn is_loop(req: &Message<'_>, local: &Local, hash: &str) -> bool {
    req.vias().any(|v| {
        local.sent_by_is_me(v)
            && v.branch()
                .and_then(|b| b.strip_prefix(MARK))
                .and_then(|b| b.split('.').next())
                .is_some_and(|h| h == hash)
    })
}

/// Dialog-creating requests get our Record-Route (§16.6 step 4).
fn creates_dialog(req: &Message<'_>) -> bool {
    let in_dialog = req.to().and_then(|t| t.tag()).is_some();
    !in_dialog
        && matches!(
            req.method(),
            Some(Method::Invite | Method::Subscribe | Method::Refer)
        )
}

/// Where a request goes and whether it may, decided before anything is
/// built (§16.3 steps 4 and 5, §16.4, §16.6 step 7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The loop hash our branch carries (§16.6 step 8).
    hash: String,
    request_uri: String,
    /// The Route values to send on, ours removed.
    routes: Vec<String>,
    /// The URI to resolve for the next hop: the top Route left after ours
    /// is removed, else the Request-URI as forwarded.
    pub next_hop: String,
    /// Whether `next_hop` is the Request-URI (no Route: the node may send
    /// it to the configured core instead).
    pub by_request_uri: bool,
}

/// Refuses a looping request (482), one with no hops left (483) or one
/// whose Request-URI is not a SIP URI (416); otherwise plans its
/// Request-URI, Route set and next hop.
pub fn plan(req: &Message<'_>, local: &Local) -> Result<Plan, Refusal> {
    let hash = loop_hash(req);
    if is_loop(req, local, &hash) {
        return Err(Refusal {
            status: 482,
            reason: "Loop Detected",
        });
    }
    if req.max_forwards() == Some(0) {
        return Err(Refusal {
            status: 483,
            reason: "Too Many Hops",
        });
    }
    let Some(Uri::Sip(ruri)) = req.request_uri() else {
        return Err(Refusal {
            status: 416,
            reason: "Unsupported URI Scheme",
        });
    };
    let mut routes: Vec<&NameAddr<'_>> = req.routes().collect();
    let mut request_uri = ruri.to_string();
    // §16.4: a strict router before us put our URI in the Request-URI: the
    // real target is the last Route value.
    if local.is_me(ruri) {
        if let Some(last) = routes.pop() {
            request_uri = last.uri.to_string();
        }
    }
    // §16.4: our own URI on top of Route is ours to remove.
    if let Some(Uri::Sip(first)) = routes.first().map(|r| &r.uri) {
        if local.is_me(first) {
            routes.remove(0);
        }
    }
    let (next_hop, by_request_uri) = match routes.first() {
        // §16.6 step 7: a next hop that is a strict router (no lr) gets the
        // Request-URI in the last Route and its own URI as Request-URI.
        Some(r) => (r.uri.to_string(), false),
        None => (request_uri.clone(), true),
    };
    let routes = routes.iter().map(|r| r.to_string()).collect();
    Ok(Plan {
        hash,
        request_uri,
        routes,
        next_hop,
        by_request_uri,
    })
}

/// Builds the request to forward (§16.4 to §16.6) as `plan` decided it.
/// `unique` makes the branch unique (§8.1.1.7); `top_via` is the received
/// top Via as it must go on (received/rport stamped by the caller,
/// §18.2.1).
pub fn build(
    req: &Message<'_>,
    plan: &Plan,
    hop: &Hop<'_>,
    unique: &str,
    top_via: &str,
) -> Forward {
    let branch = format!("{MARK}{}.{unique}", plan.hash);
    let method = req.method().map(|m| m.as_str()).unwrap_or("");
    let mut out: Vec<u8> = Vec::with_capacity(512 + req.body.len());
    let _ = write!(out, "{method} {} SIP/2.0\r\n", plan.request_uri);
    let _ = write!(
        out,
        "Via: SIP/2.0/{} {};branch={branch};rport\r\n",
        hop.transport,
        host_port(hop.sent_by)
    );
    if creates_dialog(req) {
        // Record-Route goes first among the headers after Via.
        let _ = write!(
            out,
            "Record-Route: <sip:{};transport={};lr>\r\n",
            host_port(hop.record_route),
            hop.record_route_transport.to_ascii_lowercase()
        );
    }
    let mut wrote_top_via = false;
    let mut wrote_routes = false;
    let mut max_forwards = false;
    for f in req.fields() {
        // What the proxy does not act on goes on as received (§16.3 step 1).
        let acted_on = matches!(
            f.name(),
            Some(HeaderName::Via | HeaderName::MaxForwards | HeaderName::Route)
        );
        if !acted_on {
            f.write_to(&mut out);
            continue;
        }
        match f.header() {
            Header::Via(vias) if !wrote_top_via => {
                wrote_top_via = true;
                let _ = write!(out, "Via: {top_via}");
                for v in vias.iter().skip(1) {
                    let _ = write!(out, ", {v}");
                }
                out.extend_from_slice(b"\r\n");
            }
            Header::MaxForwards(n) => {
                max_forwards = true;
                let _ = write!(out, "Max-Forwards: {}\r\n", n.saturating_sub(1));
            }
            Header::Route(_) => {
                if !wrote_routes && !plan.routes.is_empty() {
                    let _ = write!(out, "Route: {}\r\n", plan.routes.join(", "));
                }
                wrote_routes = true;
            }
            _ => f.write_to(&mut out),
        }
    }
    if !max_forwards {
        out.extend_from_slice(b"Max-Forwards: 70\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(req.body);
    Forward { bytes: out, branch }
}

/// A response relayed upstream (§16.7 step 9): our Via removed, the rest
/// as received. None when the top Via is not ours (not for us to relay).
pub fn relay_response(resp: &Message<'_>, local: &Local) -> Option<Vec<u8>> {
    let top = resp.vias().next()?;
    if !local.sent_by_is_me(top) || !top.branch()?.starts_with(MARK) {
        return None;
    }
    let (code, reason) = match &resp.start {
        crate::sip::message::StartLine::Response { code, reason } => (*code, *reason),
        _ => return None,
    };
    let mut out = Vec::with_capacity(512 + resp.body.len());
    let _ = write!(out, "SIP/2.0 {code} {reason}\r\n");
    let mut dropped = false;
    for f in resp.fields() {
        if f.name() != Some(HeaderName::Via) || dropped {
            f.write_to(&mut out);
            continue;
        }
        match f.header() {
            Header::Via(vias) => {
                dropped = true;
                if vias.len() > 1 {
                    let rest: Vec<String> = vias.iter().skip(1).map(|v| v.to_string()).collect();
                    let _ = write!(out, "Via: {}\r\n", rest.join(", "));
                }
            }
            _ => f.write_to(&mut out),
        }
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(resp.body);
    Some(out)
}

/// The CANCEL for a forwarded INVITE (§9.1, §16.10): its Request-URI,
/// Call-ID, To, From, CSeq number and Route, and only its top Via (ours:
/// the CANCEL's branch is the INVITE's).
pub fn cancel_for(invite: &Message<'_>) -> Vec<u8> {
    end_to_end_of(invite, "CANCEL", None)
}

/// The ACK for a non-2xx final to a forwarded INVITE (§17.1.1.3): as the
/// CANCEL, with the To of the response (its tag).
pub fn ack_for(invite: &Message<'_>, response: &Message<'_>) -> Vec<u8> {
    end_to_end_of(invite, "ACK", response.to().map(|t| t.to_string()))
}

fn end_to_end_of(invite: &Message<'_>, method: &str, to: Option<String>) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let uri = invite
        .request_uri()
        .map(|u| u.to_string())
        .unwrap_or_default();
    let _ = std::io::Write::write_fmt(&mut out, format_args!("{method} {uri} SIP/2.0\r\n"));
    if let Some(v) = invite.vias().next() {
        let _ = std::io::Write::write_fmt(&mut out, format_args!("Via: {v}\r\n"));
    }
    for f in invite.fields() {
        let Some(name) = f.name() else { continue };
        match name {
            HeaderName::Route | HeaderName::From | HeaderName::CallId | HeaderName::MaxForwards => {
                f.write_to(&mut out)
            }
            HeaderName::To => match &to {
                Some(t) => {
                    let _ = std::io::Write::write_fmt(&mut out, format_args!("To: {t}\r\n"));
                }
                None => f.write_to(&mut out),
            },
            HeaderName::CSeq => {
                let Header::CSeq(c) = f.header() else {
                    continue;
                };
                let _ = std::io::Write::write_fmt(
                    &mut out,
                    format_args!("CSeq: {} {method}\r\n", c.seq),
                );
            }
            _ => {}
        }
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    out
}

#[cfg(test)]
mod tests;
