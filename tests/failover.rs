//! RFC 3263 end to end through the proxy face (issue 8, point 3): the real
//! binary serves `a.example` and routes requests for other domains by
//! NAPTR → SRV → A, asking a real DNS server on loopback (the in-process
//! hickory server of `support/dns.rs`) that serves test zones whose targets
//! are small SIP responders started by each test.
//!
//! Failover: a target that answers 503, one that never answers (the client
//! transaction times out: T1 is 50 ms here, so Timer F and Timer B are
//! 3.2 s) and one whose TCP port refuses the connection are each replaced by
//! the next candidate, and each gets no more than its one request.
//!
//! Statuses the UA sees: 200 from the next target after a 503, a timeout or
//! a refused connection; 408 (or 503) when every target is dead; 404 for a
//! domain that does not exist (NXDOMAIN); 503 when the DNS refuses.

#[path = "support/dns.rs"]
mod dns;
#[path = "support/node.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dns::{RecordType, TestDns, zone};
use presencecloud::sip::response::{Reply, build};

/// T1 = 50 ms: a dead target over UDP costs 64*T1 = 3.2 s, not 32 s.
const CONFIG: &str = "[log]\nlevel = \"warn\"\n[transaction]\nt1_ms = 50\n";

/// Timer F (and B) with that T1.
const TIMER_F: Duration = Duration::from_millis(64 * 50);

/// No UA waits longer than this for a final response.
const BOUND: Duration = Duration::from_secs(20);

/// The parent zone: unknown names under `example.` get NXDOMAIN.
const EXAMPLE: &str = "ns IN A 127.0.0.1\n";

/// b.example: NAPTR to UDP, two SRV targets, priority 10 then 20.
fn b_example(first: u16, second: u16) -> String {
    format!(
        r#"
@          IN NAPTR 10 10 "s" "SIP+D2U" "" _sip._udp.b.example.
_sip._udp  IN SRV   10 1 {first} first.b.example.
_sip._udp  IN SRV   20 1 {second} live.b.example.
first      IN A     127.0.0.1
live       IN A     127.0.0.1
"#
    )
}

/// A running proxy for a.example and the DNS it asks.
struct Proxy {
    node: support::Node,
    dns: TestDns,
}

fn proxy(name: &str, zones: &[dns::Zone<'_>]) -> Proxy {
    let dns = TestDns::spawn(zones);
    let node = support::Node::start(
        name,
        CONFIG,
        &["--domain", "a.example", "--dns", &dns.addr.to_string()],
    );
    Proxy { node, dns }
}

/// One request a responder received.
#[derive(Debug, Clone)]
struct Got {
    method: String,
    request_uri: String,
    call_id: String,
    branch: String,
    /// The transport of the top Via (the proxy's).
    via_transport: String,
}

fn received(bytes: &[u8]) -> Option<Got> {
    let m = presencecloud::sip::parse(bytes).ok()?;
    let via = m.top_via()?;
    Some(Got {
        method: m.method()?.as_str().to_string(),
        request_uri: m.request_uri()?.to_string(),
        call_id: m.call_id()?.to_string(),
        branch: via.branch()?.to_string(),
        via_transport: via.transport.to_ascii_uppercase(),
    })
}

/// The response a responder gives to `bytes` (none to an ACK, none at
/// all when `status` is None).
fn answer(bytes: &[u8], status: Option<u16>) -> Option<Vec<u8>> {
    let status = status?;
    let m = presencecloud::sip::parse(bytes).ok()?;
    if m.method()?.as_str() == "ACK" {
        return None;
    }
    let reason = match status {
        200 => "OK",
        503 => "Service Unavailable",
        _ => "Whatever",
    };
    Some(build(
        &m,
        None,
        &Reply {
            status,
            reason,
            to_tag: Some("uas"),
            ..Reply::default()
        },
    ))
}

/// A SIP server in a thread: answers every request with one status (or
/// never, as a black hole), and notes what it received. It stops when
/// dropped.
struct Responder {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Got>>>,
    stop: Arc<AtomicBool>,
}

impl Responder {
    /// Over UDP on `bind`.
    fn udp(bind: SocketAddr, status: Option<u16>) -> std::io::Result<Responder> {
        let sock = UdpSocket::bind(bind)?;
        let addr = sock.local_addr()?;
        sock.set_read_timeout(Some(Duration::from_millis(50)))?;
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (got.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if let Some(r) = received(&buf[..n]) {
                    g.lock().unwrap().push(r);
                }
                if let Some(reply) = answer(&buf[..n], status) {
                    let _ = sock.send_to(&reply, from);
                }
            }
        });
        Ok(Responder { addr, got, stop })
    }

    fn udp_loopback(status: Option<u16>) -> Responder {
        Responder::udp("127.0.0.1:0".parse().unwrap(), status).unwrap()
    }

    /// Over TCP on 127.0.0.1: answers on the connection the request came on.
    fn tcp(status: u16) -> Responder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (got.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (g, s) = (g.clone(), s.clone());
                        std::thread::spawn(move || serve_tcp(stream, status, &g, &s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Responder { addr, got, stop }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// What it received, by method.
    fn methods(&self) -> Vec<String> {
        self.got().into_iter().map(|g| g.method).collect()
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Reads SIP messages off a stream (framed by Content-Length) and answers
/// each.
fn serve_tcp(mut stream: TcpStream, status: u16, log: &Mutex<Vec<Got>>, stop: &AtomicBool) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        while let Some(len) = framed(&buf) {
            let msg: Vec<u8> = buf.drain(..len).collect();
            if let Some(r) = received(&msg) {
                log.lock().unwrap().push(r);
            }
            if let Some(reply) = answer(&msg, Some(status)) {
                if stream.write_all(&reply).is_err() {
                    return;
                }
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

/// The length of the first whole message in `buf`, if there is one
/// (keep-alive CRLFs count as messages of their own and are dropped).
fn framed(buf: &[u8]) -> Option<usize> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]);
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            let n = n.trim();
            (n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("l"))
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    (buf.len() >= end + length).then_some(end + length)
}

/// A UDP port with nothing listening on it.
fn closed_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP port with nothing listening on it (connections are refused).
fn closed_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A test UA on UDP.
struct Ua {
    sock: UdpSocket,
    me: SocketAddr,
}

impl Ua {
    fn new() -> Ua {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let me = sock.local_addr().unwrap();
        Ua { sock, me }
    }

    /// A request from alice@a.example to `uri`.
    fn request(&self, method: &str, uri: &str, call_id: &str) -> String {
        let me = self.me;
        let body = if method == "MESSAGE" { "hello" } else { "" };
        let ctype = if body.is_empty() {
            String::new()
        } else {
            "Content-Type: text/plain\r\n".to_string()
        };
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{call_id}\r\nMax-Forwards: 70\r\nFrom: <sip:alice@a.example>;tag=ua\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\nContact: <sip:alice@{me}>\r\n{ctype}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    /// Sends `method` for `uri` to the proxy (once: loopback loses nothing)
    /// and waits for the final response: its status, how long it took,
    /// and the provisional statuses before it.
    /// Sends a request and collects every status answered to it within
    /// `wait`.
    fn statuses(
        &self,
        proxy: SocketAddr,
        method: &str,
        uri: &str,
        call_id: &str,
        wait: Duration,
    ) -> Vec<u16> {
        let started = Instant::now();
        self.sock
            .send_to(self.request(method, uri, call_id).as_bytes(), proxy)
            .unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        while let Some(left) = wait.checked_sub(started.elapsed()) {
            self.sock
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            let Ok((n, _)) = self.sock.recv_from(&mut buf) else {
                break;
            };
            if let Some(seen) = support::seen(&buf[..n]) {
                if seen.call_id == call_id {
                    out.push(seen.status);
                }
            }
        }
        out
    }

    fn send(&self, proxy: SocketAddr, method: &str, uri: &str, call_id: &str) -> Outcome {
        let started = Instant::now();
        self.sock
            .send_to(self.request(method, uri, call_id).as_bytes(), proxy)
            .unwrap();
        let mut provisional = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            let left = BOUND.saturating_sub(started.elapsed());
            assert!(!left.is_zero(), "{method} {uri}: no final response");
            self.sock.set_read_timeout(Some(left)).unwrap();
            let (n, _) = self
                .sock
                .recv_from(&mut buf)
                .unwrap_or_else(|e| panic!("{method} {uri}: no final response ({e})"));
            let Some(seen) = support::seen(&buf[..n]) else {
                continue;
            };
            if seen.call_id != call_id {
                continue;
            }
            if seen.status < 200 {
                provisional.push(seen.status);
                continue;
            }
            return Outcome {
                status: seen.status,
                took: started.elapsed(),
                provisional,
                raw: seen.raw,
            };
        }
    }
}

#[derive(Debug)]
struct Outcome {
    status: u16,
    took: Duration,
    provisional: Vec<u16>,
    raw: String,
}

// (1) The priority-10 target answers 503: the request goes on to the
// priority-20 target, whose 200 comes back; the 503 target got one request.

#[test]
fn rfc3263_s4_3_a_503_fails_over_to_the_next_srv_target() {
    let busy = Responder::udp_loopback(Some(503));
    let live = Responder::udp_loopback(Some(200));
    let b = b_example(busy.port(), live.port());
    let p = proxy(
        "failover-503",
        &[zone("example.", EXAMPLE), zone("b.example.", &b)],
    );
    let ua = Ua::new();
    let out = ua.send(p.node.udp, "MESSAGE", "sip:bob@b.example", "busy1");
    assert_eq!(out.status, 200, "{out:?}");
    assert!(
        out.raw.contains("To: <sip:bob@b.example>;tag=uas"),
        "{out:?}"
    );

    let to_busy = busy.got();
    let to_live = live.got();
    // No amplification: one request to each, the second with a branch of
    // its own.
    assert_eq!(busy.methods(), ["MESSAGE"], "{to_busy:?}");
    assert_eq!(live.methods(), ["MESSAGE"], "{to_live:?}");
    assert_ne!(to_busy[0].branch, to_live[0].branch);
    assert_eq!(to_live[0].request_uri, "sip:bob@b.example");
    assert_eq!(to_live[0].via_transport, "UDP");

    // The steps taken: NAPTR, then the SRV it named, then both targets.
    assert!(p.dns.was_asked("b.example.", RecordType::NAPTR));
    assert!(p.dns.was_asked("_sip._udp.b.example.", RecordType::SRV));
    assert!(p.dns.was_asked("first.b.example.", RecordType::A));
    assert!(p.dns.was_asked("live.b.example.", RecordType::A));

    // An INVITE the same way: the 503 is acknowledged by the proxy (same
    // branch), and the INVITE goes on to the next target.
    let out = ua.send(p.node.udp, "INVITE", "sip:bob@b.example", "busy2");
    assert_eq!(out.status, 200, "{out:?}");
    assert_eq!(out.provisional, [100], "{out:?}");
    let invites: Vec<Got> = busy
        .got()
        .into_iter()
        .filter(|g| g.call_id == "busy2")
        .collect();
    assert_eq!(
        invites
            .iter()
            .map(|g| g.method.as_str())
            .collect::<Vec<_>>(),
        ["INVITE", "ACK"],
        "{invites:?}"
    );
    assert_eq!(invites[0].branch, invites[1].branch);
    let to_live: Vec<String> = live
        .got()
        .into_iter()
        .filter(|g| g.call_id == "busy2")
        .map(|g| g.method)
        .collect();
    assert_eq!(to_live, ["INVITE"]);
}

// (2) The priority-10 target is dead (nothing listens on its UDP port):
// the client transaction times out (Timer F, 3.2 s here) and the request
// goes on to the priority-20 target.

#[test]
fn rfc3263_s4_3_a_dead_udp_target_times_out_and_fails_over() {
    let dead = closed_udp_port();
    let live = Responder::udp_loopback(Some(200));
    let b = b_example(dead, live.port());
    let p = proxy(
        "failover-dead",
        &[zone("example.", EXAMPLE), zone("b.example.", &b)],
    );
    let ua = Ua::new();
    let out = ua.send(p.node.udp, "MESSAGE", "sip:bob@b.example", "dead1");
    assert_eq!(out.status, 200, "{out:?}");
    // Only after the first target's transaction timed out.
    assert!(
        out.took >= TIMER_F - Duration::from_millis(300),
        "too soon: {out:?}"
    );
    assert!(out.took < TIMER_F + Duration::from_secs(5), "{out:?}");
    assert_eq!(live.methods(), ["MESSAGE"]);
}

// The same over TCP: a refused connection is a transport error, and the
// next candidate (here the UDP one NAPTR ranks second) is tried at once.

#[test]
fn rfc3263_s4_3_a_refused_tcp_connection_fails_over_at_once() {
    let refused = closed_tcp_port();
    let live = Responder::udp_loopback(Some(200));
    let c = format!(
        r#"
@          IN NAPTR 10 10 "s" "SIP+D2T" "" _sip._tcp.c.example.
@          IN NAPTR 10 20 "s" "SIP+D2U" "" _sip._udp.c.example.
_sip._tcp  IN SRV   10 1 {refused} host.c.example.
_sip._udp  IN SRV   10 1 {} host.c.example.
host       IN A     127.0.0.1
"#,
        live.port()
    );
    let p = proxy(
        "failover-refused",
        &[zone("example.", EXAMPLE), zone("c.example.", &c)],
    );
    let ua = Ua::new();
    let out = ua.send(p.node.udp, "MESSAGE", "sip:bob@c.example", "refused1");
    assert_eq!(out.status, 200, "{out:?}");
    assert!(out.took < Duration::from_secs(2), "no waiting: {out:?}");
    let to_live = live.got();
    assert_eq!(to_live.len(), 1, "{to_live:?}");
    assert_eq!(to_live[0].via_transport, "UDP");
}

// (3) Both targets dead: the first never answers (a socket that reads and
// says nothing), nothing listens on the second. Each costs one Timer F;
// then the UA gets a failure, for a MESSAGE and for an INVITE.

#[test]
fn rfc3263_s4_3_every_target_dead_ends_in_a_timeout_response() {
    let hole = Responder::udp_loopback(None);
    let dead = closed_udp_port();
    let b = b_example(hole.port(), dead);
    let p = proxy(
        "failover-all-dead",
        &[zone("example.", EXAMPLE), zone("b.example.", &b)],
    );
    let proxy_addr = p.node.udp;
    // Both at once: two UAs in two threads.
    let invite = std::thread::spawn(move || {
        Ua::new().send(proxy_addr, "INVITE", "sip:bob@b.example", "alldead2")
    });
    let message = Ua::new().statuses(
        proxy_addr,
        "MESSAGE",
        "sip:bob@b.example",
        "alldead1",
        2 * TIMER_F + Duration::from_secs(2),
    );
    let invite = invite.join().unwrap();

    // A non-INVITE: no answer at all (RFC 4320 §4.2: never a 408 to a
    // non-INVITE; the UA's own transaction times out).
    assert!(message.is_empty(), "MESSAGE got {message:?}");
    // An INVITE: 100 at once, then 408 after two Timer Bs.
    assert_eq!(invite.status, 408, "INVITE: {invite:?}");
    assert_eq!(invite.provisional, [100], "{invite:?}");
    let out = &invite;
    assert!(
        out.took >= 2 * TIMER_F - Duration::from_millis(300),
        "too soon: {out:?}"
    );
    assert!(out.took < 2 * TIMER_F + Duration::from_secs(6), "{out:?}");
    // The black hole got retransmissions of one client transaction per
    // request (one branch each), nothing more.
    let to_hole = hole.got();
    for call in ["alldead1", "alldead2"] {
        let seen: Vec<&Got> = to_hole.iter().filter(|g| g.call_id == call).collect();
        assert!(seen.len() > 1, "Timer E/A retransmits: {to_hole:?}");
        assert!(
            seen.iter().all(|g| g.branch == seen[0].branch),
            "{to_hole:?}"
        );
    }
    eprintln!(
        "all targets dead: MESSAGE → no answer, INVITE → {} after {:?}",
        invite.status, invite.took
    );
}

// Both targets answer 503: each gets its one request, and the UA gets a
// failure (today the last 503, relayed; RFC 3261 §16.7 step 6 would have
// the proxy answer 500 when it has nothing but 503s).

#[test]
fn rfc3263_s4_3_every_target_busy_ends_in_one_failure() {
    let first = Responder::udp_loopback(Some(503));
    let second = Responder::udp_loopback(Some(503));
    let b = b_example(first.port(), second.port());
    let p = proxy(
        "failover-all-busy",
        &[zone("example.", EXAMPLE), zone("b.example.", &b)],
    );
    let out = Ua::new().send(p.node.udp, "MESSAGE", "sip:bob@b.example", "allbusy1");
    assert_eq!(
        out.status, 500,
        "RFC 3261 §16.7 step 6: only 503s become a 500: {out:?}"
    );
    assert!(out.took < Duration::from_secs(3), "{out:?}");
    assert_eq!(first.methods(), ["MESSAGE"]);
    assert_eq!(second.methods(), ["MESSAGE"]);
    eprintln!("every target busy: MESSAGE → {}", out.status);
}

// (4) A domain that does not exist (NXDOMAIN): 404 at once. A domain the
// DNS refuses to answer for: 503 (the lookup failed; it may work later).

/// RFC 3263 §4.2 and RFC 3261 §26.2.2: a sips: target given by its IP goes
/// over TLS, never quietly over UDP. This node has no TLS: 503 at once, and
/// nothing reaches the address over UDP.
#[test]
fn rfc3263_s4_2_a_numeric_sips_target_is_not_downgraded_to_udp() {
    let p = proxy("failover-sips-numeric", &[zone("example.", EXAMPLE)]);
    let trap = UdpSocket::bind("127.0.0.1:0").unwrap();
    let uri = format!("sips:bob@127.0.0.1:{}", trap.local_addr().unwrap().port());
    let out = Ua::new().send(p.node.udp, "MESSAGE", &uri, "sips1");
    assert_eq!(out.status, 503, "{out:?}");
    trap.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 2048];
    assert!(
        trap.recv_from(&mut buf).is_err(),
        "the sips: request went out over UDP"
    );
}

#[test]
fn rfc3263_unknown_domain_is_404_and_a_failed_lookup_503() {
    let p = proxy("failover-nxdomain", &[zone("example.", EXAMPLE)]);
    let ua = Ua::new();
    let out = ua.send(p.node.udp, "MESSAGE", "sip:bob@nosuch.example", "nx1");
    assert_eq!(out.status, 404, "{out:?}");
    assert!(out.took < Duration::from_secs(3), "{out:?}");
    assert!(p.dns.was_asked("nosuch.example.", RecordType::NAPTR));

    let out = ua.send(p.node.udp, "MESSAGE", "sip:bob@other.test", "refused1");
    assert_eq!(out.status, 503, "{out:?}");
}

// (5) Each step of RFC 3263 through the proxy: NAPTR choosing TCP over
// UDP, SRV without NAPTR, and A alone (port 5060).

#[test]
fn rfc3263_s4_1_naptr_chooses_tcp_end_to_end() {
    let tcp = Responder::tcp(200);
    let udp = Responder::udp_loopback(Some(200));
    let c = format!(
        r#"
@          IN NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.c.example.
@          IN NAPTR 10 10 "s" "SIP+D2T" "" _sip._tcp.c.example.
_sip._udp  IN SRV   10 1 {} udp.c.example.
_sip._tcp  IN SRV   10 1 {} tcp.c.example.
udp        IN A     127.0.0.1
tcp        IN A     127.0.0.1
"#,
        udp.port(),
        tcp.port()
    );
    let p = proxy(
        "rfc3263-naptr-tcp",
        &[zone("example.", EXAMPLE), zone("c.example.", &c)],
    );
    let ua = Ua::new();
    for i in 0..3 {
        let out = ua.send(
            p.node.udp,
            "MESSAGE",
            "sip:bob@c.example",
            &format!("tcp{i}"),
        );
        assert_eq!(out.status, 200, "{out:?}");
    }
    let to_tcp = tcp.got();
    assert_eq!(to_tcp.len(), 3, "{to_tcp:?}");
    assert!(
        to_tcp.iter().all(|g| g.via_transport == "TCP"),
        "{to_tcp:?}"
    );
    assert!(udp.got().is_empty(), "UDP ranks second: {:?}", udp.got());
    let asked = p.dns.asked();
    assert_eq!(asked[0], ("c.example.".into(), RecordType::NAPTR));
    assert!(p.dns.was_asked("_sip._tcp.c.example.", RecordType::SRV));
    assert!(p.dns.was_asked("tcp.c.example.", RecordType::A));
    // TCP's SRV before UDP's, if UDP's is asked at all.
    let at = |name: &str| asked.iter().position(|q| q.0 == name);
    let (tcp_srv, udp_srv) = (at("_sip._tcp.c.example."), at("_sip._udp.c.example."));
    assert!(udp_srv.is_none_or(|u| tcp_srv < Some(u)), "{asked:?}");
}

#[test]
fn rfc3263_s4_1_srv_without_naptr_end_to_end() {
    let live = Responder::udp_loopback(Some(200));
    let d = format!(
        "_sip._udp IN SRV 10 1 {} host.d.example.\nhost IN A 127.0.0.1\n",
        live.port()
    );
    let p = proxy(
        "rfc3263-srv-only",
        &[zone("example.", EXAMPLE), zone("d.example.", &d)],
    );
    let out = Ua::new().send(p.node.udp, "MESSAGE", "sip:bob@d.example", "srv1");
    assert_eq!(out.status, 200, "{out:?}");
    assert_eq!(live.methods(), ["MESSAGE"]);
    let asked: Vec<(String, RecordType)> = p.dns.asked();
    let steps: Vec<(&str, RecordType)> = asked.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    // NAPTR (nothing), SRV for UDP (found), then the target's address.
    assert_eq!(steps[0], ("d.example.", RecordType::NAPTR), "{steps:?}");
    assert_eq!(
        steps[1],
        ("_sip._udp.d.example.", RecordType::SRV),
        "{steps:?}"
    );
    assert!(p.dns.was_asked("host.d.example.", RecordType::A));
    // SRV records exist: the domain's own address is not asked.
    assert!(!p.dns.was_asked("d.example.", RecordType::A), "{steps:?}");
}

#[test]
fn rfc3263_s4_2_a_record_alone_means_udp_port_5060_end_to_end() {
    // The A record names a loopback address of this test's own, so that
    // port 5060 on it is ours.
    let pid = std::process::id();
    let (live, ip) = (1..=250u8)
        .find_map(|i| {
            let ip = Ipv4Addr::new(127, 200, (pid % 250) as u8, i);
            Responder::udp(SocketAddr::new(IpAddr::V4(ip), 5060), Some(200))
                .ok()
                .map(|r| (r, ip))
        })
        .expect("a loopback address with port 5060 free");
    let e = format!("@ IN A {ip}\n");
    let p = proxy(
        "rfc3263-a-only",
        &[zone("example.", EXAMPLE), zone("e.example.", &e)],
    );
    let out = Ua::new().send(p.node.udp, "MESSAGE", "sip:bob@e.example", "a1");
    assert_eq!(out.status, 200, "{out:?}");
    let to_live = live.got();
    assert_eq!(to_live.len(), 1, "{to_live:?}");
    assert_eq!(to_live[0].request_uri, "sip:bob@e.example");
    assert_eq!(to_live[0].via_transport, "UDP");
    let types: Vec<RecordType> = p
        .dns
        .asked()
        .into_iter()
        .filter(|(n, _)| n.ends_with("e.example."))
        .map(|(_, t)| t)
        .collect();
    // NAPTR, SRV for UDP and TCP (nothing), then the domain's address.
    assert_eq!(
        types[..4],
        [
            RecordType::NAPTR,
            RecordType::SRV,
            RecordType::SRV,
            RecordType::A
        ],
        "{types:?}"
    );
}

// A TCP target that never completes the handshake (its listen queue is
// full, so the kernel drops our SYNs): the connection attempt times out
// and the next candidate is tried. Meanwhile the node goes on serving
// other requests: one connection attempt must not hold up the others.

/// A TCP port whose listener never accepts and whose listen queue is full:
/// connection attempts hang (SYNs are dropped) instead of being refused.
fn syn_black_hole() -> (TcpListener, Vec<TcpStream>, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fill = Vec::new();
    while let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
        fill.push(s);
        assert!(fill.len() < 5000, "the listen queue never fills");
    }
    (listener, fill, addr.port())
}

#[test]
fn rfc3263_s4_3_a_hanging_tcp_connect_does_not_stall_the_node() {
    let (_hole, _fill, port) = syn_black_hole();
    let live = Responder::udp_loopback(Some(200));
    let c = format!(
        r#"
@          IN NAPTR 10 10 "s" "SIP+D2T" "" _sip._tcp.c.example.
@          IN NAPTR 10 20 "s" "SIP+D2U" "" _sip._udp.c.example.
_sip._tcp  IN SRV   10 1 {port} host.c.example.
_sip._udp  IN SRV   10 1 {} host.c.example.
host       IN A     127.0.0.1
"#,
        live.port()
    );
    let d = format!(
        "_sip._udp IN SRV 10 1 {} host.d.example.\nhost IN A 127.0.0.1\n",
        live.port()
    );
    let p = proxy(
        "failover-syn-hole",
        &[
            zone("example.", EXAMPLE),
            zone("c.example.", &c),
            zone("d.example.", &d),
        ],
    );
    let proxy_addr = p.node.udp;
    let slow = std::thread::spawn(move || {
        Ua::new().send(proxy_addr, "MESSAGE", "sip:bob@c.example", "hang1")
    });
    std::thread::sleep(Duration::from_millis(500));
    let other = Ua::new().send(proxy_addr, "MESSAGE", "sip:bob@d.example", "other1");
    let slow = slow.join().unwrap();
    eprintln!(
        "hanging connect: c.example → {} after {:?}; d.example meanwhile → {} after {:?}",
        slow.status, slow.took, other.status, other.took
    );
    assert_eq!(slow.status, 200, "{slow:?}");
    assert_eq!(other.status, 200, "{other:?}");
    assert!(
        other.took < Duration::from_secs(2),
        "the node stalled: {other:?}"
    );
}

/// Reads from `stream` until `done` holds for the messages framed so far
/// (RFC 3261 §18.3) or `wait` is over.
fn tcp_messages(
    stream: &mut TcpStream,
    wait: Duration,
    done: impl Fn(&[Vec<u8>]) -> bool,
) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + wait;
    let (mut buf, mut out) = (Vec::new(), Vec::new());
    let mut chunk = [0u8; 8192];
    while !done(&out) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        let Ok(n) = stream.read(&mut chunk) else {
            break;
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let limits = presencecloud::sip::Limits::default();
        while let Ok(Some(len)) = presencecloud::sip::frame(&buf, &limits) {
            out.push(buf.drain(..len).collect());
        }
    }
    out
}

/// RFC 3261 §18.2.2 and §18.3: a NOTIFY whose TCP connection closed goes
/// on a new one, to the watcher's Contact. A connect that hangs (a SYN
/// black hole) is waited for off the core task: a request meanwhile is
/// answered at once.
#[test]
fn rfc3261_s18_2_2_a_hanging_connect_for_a_notify_does_not_stall_the_node() {
    let (_hole, _fill, port) = syn_black_hole();
    let p = proxy("failover-notify-hole", &[zone("example.", EXAMPLE)]);
    let mut watcher = TcpStream::connect(p.node.tcp).unwrap();
    let me = watcher.local_addr().unwrap();
    let subscribe = format!(
        "SUBSCRIBE sip:carol@a.example SIP/2.0\r\nVia: SIP/2.0/TCP {me};branch=z9hG4bKhole1\r\nMax-Forwards: 70\r\nFrom: <sip:watcher@a.example>;tag=w1\r\nTo: <sip:carol@a.example>\r\nCall-ID: hole-sub\r\nCSeq: 1 SUBSCRIBE\r\nContact: <sip:watcher@127.0.0.1:{port};transport=tcp>\r\nEvent: presence\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n"
    );
    watcher.write_all(subscribe.as_bytes()).unwrap();
    let is_notify = |m: &Vec<u8>| m.starts_with(b"NOTIFY ");
    let got = tcp_messages(&mut watcher, Duration::from_secs(5), |ms| {
        ms.iter().any(is_notify) && ms.iter().any(|m| m.starts_with(b"SIP/2.0 200"))
    });
    let notify = got.iter().find(|m| is_notify(m)).expect("the first NOTIFY");
    let notify = presencecloud::sip::parse(notify).unwrap();
    watcher.write_all(&support::ok(&notify)).unwrap();
    // The watcher goes away; its Contact is the black hole.
    std::thread::sleep(Duration::from_millis(200));
    drop(watcher);
    std::thread::sleep(Duration::from_millis(500));

    let ua = Ua::new();
    let pidf = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:carol@a.example\"><tuple id=\"t\"><status><basic>open</basic></status></tuple></presence>";
    let me = ua.me;
    let publish = format!(
        "PUBLISH sip:carol@a.example SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKholepub\r\nMax-Forwards: 70\r\nFrom: <sip:carol@a.example>;tag=p1\r\nTo: <sip:carol@a.example>\r\nCall-ID: hole-pub\r\nCSeq: 1 PUBLISH\r\nEvent: presence\r\nExpires: 600\r\nContent-Type: application/pidf+xml\r\nContent-Length: {}\r\n\r\n{pidf}",
        pidf.len()
    );
    ua.sock.send_to(publish.as_bytes(), p.node.udp).unwrap();
    // The PUBLISH's change sends the NOTIFY, which must connect first.
    std::thread::sleep(Duration::from_millis(300));
    let options = ua.send(p.node.udp, "OPTIONS", "sip:a.example", "hole-options");
    assert_eq!(options.status, 200, "{options:?}");
    assert!(
        options.took < Duration::from_secs(2),
        "the node stalled on the NOTIFY's connect: {options:?}"
    );
}
