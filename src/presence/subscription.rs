//! Subscriptions (RFC 6665) as dialogs (RFC 3261 §12): the dialog state a
//! notifier keeps for each watcher, and the NOTIFY requests it sends on
//! that dialog. Sans-io.
//!
//! A dialog is keyed by Call-ID, our tag and the watcher's tag. Its route
//! set comes from the SUBSCRIBE's Record-Route, in order (§12.1.1); its
//! remote target from the Contact; NOTIFY CSeq numbers strictly increase
//! (§12.2.1.1). At most one NOTIFY per dialog is in flight: a change that
//! happens meanwhile is sent when the watcher answers, with the state as it
//! is then, so the last NOTIFY always carries the last state and a burst of
//! changes never reorders on the way (RFC 6665 §4.2.2 lets a notifier
//! limit its rate this way).

use core::net::SocketAddr;
use std::fmt::Write as _;

use crate::sip::header::name_addr::name_addr_params;
use crate::sip::uri::{Uri, host_port};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Active,
    Terminated,
}

/// How the watcher's requests reach us, and ours reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// "UDP" or "TCP".
    pub transport: &'static str,
    /// Our address the SUBSCRIBE arrived on (Via sent-by and Contact).
    pub local: SocketAddr,
    /// Where the SUBSCRIBE came from.
    pub peer: SocketAddr,
    /// The TCP connection it came on, reused for NOTIFYs while open.
    pub conn: Option<u64>,
    /// Send NOTIFYs to `peer` whatever the Contact says (clients behind
    /// NAT, the symmetric-routing choice of RFC 3581).
    pub symmetric: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dialog {
    pub id: DialogId,
    /// The Event header value of the subscription (package and id).
    pub event: String,
    pub presentity: String,
    pub watcher: String,
    /// Our URI (the SUBSCRIBE's To) and the watcher's (its From).
    pub local_uri: String,
    pub remote_uri: String,
    /// The Contact of the SUBSCRIBE.
    pub remote_target: String,
    /// Record-Route of the SUBSCRIBE, in order.
    pub route_set: Vec<String>,
    /// CSeq of the last NOTIFY we sent.
    pub local_cseq: u32,
    /// CSeq of the last SUBSCRIBE we accepted.
    pub remote_cseq: u32,
    pub expires_at: u64,
    pub state: State,
    pub path: Path,
    /// Polite blocking (RFC 3856 §6.6.2): NOTIFYs carry a neutral closed
    /// document, never the presentity's state.
    pub neutral: bool,
    /// A NOTIFY is waiting for its answer.
    pub in_flight: bool,
    /// The state changed while a NOTIFY was in flight.
    pub dirty: bool,
}

impl Dialog {
    /// Seconds left, for Subscription-State's expires.
    pub fn remaining(&self, now: u64) -> u64 {
        self.expires_at.saturating_sub(now).div_ceil(1000)
    }

    /// Where NOTIFYs go: the first route (loose routing) or the remote
    /// target, as an address; a host name we cannot resolve here, or the
    /// symmetric choice, sends to the peer the SUBSCRIBE came from.
    pub fn next_hop(&self) -> SocketAddr {
        if self.path.symmetric {
            return self.path.peer;
        }
        let uri = match self.route_set.first() {
            Some(r) => route_uri(r),
            None => Uri::parse(&self.remote_target).ok(),
        };
        match uri {
            Some(Uri::Sip(u)) => u.socket_addr().unwrap_or(self.path.peer),
            _ => self.path.peer,
        }
    }

    /// The next NOTIFY on this dialog (RFC 6665 §4.2.2, RFC 3856 §6.7):
    /// CSeq advanced, Subscription-State from the dialog, and the body.
    pub fn notify(
        &mut self,
        now: u64,
        branch: &str,
        reason: Option<&str>,
        body: Option<(&str, &[u8])>,
    ) -> Vec<u8> {
        self.local_cseq += 1;
        let (request_uri, routes) = self.request_target();
        let mut out = String::with_capacity(768);
        let _ = write!(out, "NOTIFY {request_uri} SIP/2.0\r\n");
        let _ = write!(
            out,
            "Via: SIP/2.0/{} {};branch={branch};rport\r\n",
            self.path.transport,
            host_port(self.path.local)
        );
        out.push_str("Max-Forwards: 70\r\n");
        for r in &routes {
            let _ = write!(out, "Route: {r}\r\n");
        }
        let _ = write!(
            out,
            "From: <{}>;tag={}\r\n",
            self.local_uri, self.id.local_tag
        );
        let _ = write!(
            out,
            "To: <{}>;tag={}\r\n",
            self.remote_uri, self.id.remote_tag
        );
        let _ = write!(out, "Call-ID: {}\r\n", self.id.call_id);
        let _ = write!(out, "CSeq: {} NOTIFY\r\n", self.local_cseq);
        let transport_param = if self.path.transport == "TCP" {
            ";transport=tcp"
        } else {
            ""
        };
        let _ = write!(
            out,
            "Contact: <sip:{}{transport_param}>\r\n",
            host_port(self.path.local)
        );
        let _ = write!(out, "Event: {}\r\n", self.event);
        match self.state {
            State::Terminated => {
                let _ = write!(out, "Subscription-State: terminated");
                if let Some(r) = reason {
                    let _ = write!(out, ";reason={r}");
                }
                out.push_str("\r\n");
            }
            State::Active | State::Pending => {
                let s = if self.state == State::Active {
                    "active"
                } else {
                    "pending"
                };
                let _ = write!(
                    out,
                    "Subscription-State: {s};expires={}\r\n",
                    self.remaining(now)
                );
            }
        }
        let mut bytes = out.into_bytes();
        match body {
            Some((content_type, body)) => {
                let _ = write_bytes(
                    &mut bytes,
                    &format!(
                        "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    ),
                );
                bytes.extend_from_slice(body);
            }
            None => bytes.extend_from_slice(b"Content-Length: 0\r\n\r\n"),
        }
        bytes
    }

    /// RFC 3261 §12.2.1.1: with a loose first route, the Request-URI is the
    /// remote target and the route set goes in Route; with a strict one,
    /// the first route becomes the Request-URI and the remote target is
    /// appended to the routes.
    fn request_target(&self) -> (String, Vec<String>) {
        request_target(&self.remote_target, &self.route_set)
    }
}

fn write_bytes(out: &mut Vec<u8>, s: &str) -> std::fmt::Result {
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// RFC 3261 §12.2.1.1: the Request-URI and Route header values of a
/// request inside a dialog, from its remote target and route set (a strict
/// router first in the set takes the Request-URI, the remote target goes
/// last in Route).
pub(crate) fn request_target(remote_target: &str, route_set: &[String]) -> (String, Vec<String>) {
    let Some(first) = route_set.first() else {
        return (remote_target.to_string(), Vec::new());
    };
    let first_uri = route_uri(first);
    if matches!(&first_uri, Some(Uri::Sip(u)) if u.lr()) {
        (remote_target.to_string(), route_set.to_vec())
    } else {
        let mut routes: Vec<String> = route_set[1..].to_vec();
        routes.push(format!("<{remote_target}>"));
        let uri = first_uri.map_or_else(|| first.trim().to_string(), |u| u.to_string());
        (uri, routes)
    }
}

/// The URI of a route value (a name-addr, RFC 3261 §20.34, whose display
/// name may hold "<" and ">"), or of a bare URI.
pub(crate) fn route_uri(s: &str) -> Option<Uri<'_>> {
    let s = s.trim();
    match name_addr_params(true)(s) {
        Ok((rest, na)) if rest.trim().is_empty() => Some(na.uri),
        _ => Uri::parse(s).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse;

    fn dialog(routes: Vec<&str>) -> Dialog {
        Dialog {
            id: DialogId {
                call_id: "c1".into(),
                local_tag: "ours".into(),
                remote_tag: "theirs".into(),
            },
            event: "presence".into(),
            presentity: "bob@example.com".into(),
            watcher: "alice@example.com".into(),
            local_uri: "sip:bob@example.com".into(),
            remote_uri: "sip:alice@example.com".into(),
            remote_target: "sip:alice@192.0.2.10:5070".into(),
            route_set: routes.into_iter().map(String::from).collect(),
            local_cseq: 0,
            remote_cseq: 1,
            expires_at: 600_000,
            state: State::Active,
            path: Path {
                transport: "UDP",
                local: "198.51.100.1:5060".parse().unwrap(),
                peer: "192.0.2.10:40000".parse().unwrap(),
                conn: None,
                symmetric: false,
            },
            neutral: false,
            in_flight: false,
            dirty: false,
        }
    }

    #[test]
    fn rfc6665_s4_2_2_notify_carries_dialog_identifiers_and_state() {
        let mut d = dialog(vec![]);
        let bytes = d.notify(
            0,
            "z9hG4bKn1",
            None,
            Some(("application/pidf+xml", b"<x/>")),
        );
        let m = parse(&bytes).unwrap();
        assert_eq!(
            m.request_uri().unwrap().to_string(),
            "sip:alice@192.0.2.10:5070"
        );
        assert_eq!(m.from().unwrap().tag(), Some("ours"));
        assert_eq!(m.to().unwrap().tag(), Some("theirs"));
        assert_eq!(m.call_id(), Some("c1"));
        assert_eq!(m.event().unwrap().package(), "presence");
        let s = m.subscription_state().unwrap();
        assert_eq!(s.expires(), Some(600));
        assert_eq!(m.body, b"<x/>");
        assert_eq!(d.next_hop(), "192.0.2.10:5070".parse().unwrap());
    }

    #[test]
    fn rfc3261_s12_2_1_1_cseq_strictly_increases() {
        let mut d = dialog(vec![]);
        let a = d.notify(0, "z9hG4bKa", None, None);
        let b = d.notify(0, "z9hG4bKb", None, None);
        let (a, b) = (parse(&a).unwrap(), parse(&b).unwrap());
        assert!(b.cseq().unwrap().seq > a.cseq().unwrap().seq);
    }

    #[test]
    fn rfc3261_s12_2_1_1_loose_route_set() {
        let mut d = dialog(vec!["<sip:p1.example.com;lr>", "<sip:192.0.2.99;lr>"]);
        let m = d.notify(0, "z9hG4bKr", None, None);
        let m = parse(&m).unwrap();
        assert_eq!(
            m.request_uri().unwrap().to_string(),
            "sip:alice@192.0.2.10:5070"
        );
        assert_eq!(m.routes().count(), 2);
        assert_eq!(
            d.next_hop(),
            d.path.peer,
            "a host name we cannot resolve: back to the peer"
        );
    }

    #[test]
    fn rfc3261_s12_2_1_1_strict_route_set() {
        let mut d = dialog(vec!["<sip:192.0.2.99:5080>"]);
        let m = d.notify(0, "z9hG4bKs", None, None);
        let m = parse(&m).unwrap();
        assert_eq!(m.request_uri().unwrap().to_string(), "sip:192.0.2.99:5080");
        let routes: Vec<String> = m.routes().map(|r| r.uri.to_string()).collect();
        assert_eq!(routes, ["sip:alice@192.0.2.10:5070"]);
        assert_eq!(d.next_hop(), "192.0.2.99:5080".parse().unwrap());
    }

    /// A Route value is a name-addr (RFC 3261 §20.34): its display name
    /// may hold "<" and ">", which do not bracket the URI.
    #[test]
    fn rfc3261_s20_34_route_values_with_display_names() {
        let mut d = dialog(vec![r#""edge <a>" <sip:192.0.2.99:5080;lr>;x=1"#]);
        assert_eq!(d.next_hop(), "192.0.2.99:5080".parse().unwrap());
        let m = d.notify(0, "z9hG4bKn", None, None);
        let m = parse(&m).unwrap();
        assert_eq!(
            m.request_uri().unwrap().to_string(),
            "sip:alice@192.0.2.10:5070",
            "a loose router keeps the remote target"
        );
        let (uri, _) = request_target("sip:a@192.0.2.10", &[r#""x>" <sip:192.0.2.99>"#.into()]);
        assert_eq!(
            uri, "sip:192.0.2.99",
            "a strict router takes the Request-URI"
        );
        assert_eq!(
            route_uri(" sip:192.0.2.1 ").unwrap().to_string(),
            "sip:192.0.2.1"
        );
        assert!(route_uri("<not a uri>").is_none());
    }

    #[test]
    fn rfc6665_s4_1_3_terminated_notify_names_its_reason() {
        let mut d = dialog(vec![]);
        d.state = State::Terminated;
        let m = d.notify(0, "z9hG4bKt", Some("timeout"), None);
        let m = parse(&m).unwrap();
        let s = m.subscription_state().unwrap();
        assert_eq!(s.state, crate::sip::header::SubState::Terminated);
        assert_eq!(s.reason(), Some("timeout"));
    }

    #[test]
    fn symmetric_routing_answers_the_peer() {
        let mut d = dialog(vec![]);
        d.path.symmetric = true;
        assert_eq!(d.next_hop(), d.path.peer);
    }
}
