//! The real binary on loopback: every RFC 4475 torture message over UDP and
//! over TCP, each answer (or its absence) checked against what the manifest
//! allows for a node in our role (a presence proxy that serves OPTIONS
//! itself and, until services are added, no other method), then OPTIONS
//! still answered. Also RFC 3261 §18.2.2 response routing, TCP connection
//! handling, CLI errors and shutdown.

#[path = "support/node.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use std::collections::HashMap;

use presencecloud::sip::parse;
use presencecloud::transaction::{ServerKey, server_key};
use support::{Node, Seen, ids, seen};

/// What our node must do with each message, and the manifest's words that
/// allow it. `None`: no answer at all.
fn expected(name: &str) -> (Option<u16>, &'static str) {
    match name {
        // Valid requests we serve: OPTIONS is answered here (RFC 3261 §11).
        "lwsdisp" | "semiuri" | "transports" => (Some(200), "accept"),
        "badbranch" => (Some(200), "or fall back to RFC 2543 transaction matching"),
        "zeromf" => (
            Some(200),
            "RFC 3261 s16.3 also lets a proxy answer an OPTIONS itself",
        ),
        // Valid requests for methods we know but do not serve (§8.2.1): 405.
        "wsinv" | "esc01" | "longreq" | "invut" | "sdp01" | "inv2543" | "baddate" | "mpart01" => (
            Some(405),
            "accept (parse); the method is not served here: 405 with Allow",
        ),
        "escnull" | "cparam01" | "cparam02" | "regescrt" | "regaut01" | "unksm2" | "dblreq" => {
            (Some(405), "a non-registrar answers 405")
        }
        // Unknown methods: 501 with Allow.
        "intmeth" | "esc02" => (Some(501), "an endpoint answers 501 with Allow"),
        "mismatch02" => (Some(501), "501 Not Implemented (preferred at proxies)"),
        "unkscm" | "novelsc" => (Some(416), "respond 416 Unsupported URI Scheme"),
        "bext01" => (Some(420), "respond 420 Bad Extension with Unsupported"),
        "badvers" => (Some(505), "reject with 505 Version Not Supported"),
        // Malformed requests: 400 with a reason phrase.
        "badinv01" | "clerr" | "ncl" | "scalar02" | "quotbal" | "ltgtruri" | "lwsruri"
        | "lwsstart" | "trws" | "escruri" | "regbadct" | "badaspec" | "baddn" | "mismatch01"
        | "insuf" | "multi01" | "mcl01" => (Some(400), "reject with 400"),
        // Responses are never answered; test.dat has no Via to answer to.
        "unreason" | "noreason" | "bcast" | "scalarlg" | "bigcode" => (None, "a response: discard"),
        "test" => (None, "reject as malformed (400) or drop: no Via, so drop"),
        other => panic!("no expectation for {other}"),
    }
}

/// Over TCP some answers differ, as the manifest says.
fn expected_tcp(name: &str) -> (Option<u16>, &'static str) {
    match name {
        "clerr" => (
            None,
            "over TCP: wait for more data and close the connection if none comes",
        ),
        "inv2543" => (
            Some(400),
            "no Content-Length: a stream cannot be framed (RFC 3261 s18.3)",
        ),
        _ => expected(name),
    }
}

fn torture() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rfc4475");
    let manifest = std::fs::read_to_string(format!("{dir}/MANIFEST.tsv")).unwrap();
    manifest
        .lines()
        .skip(1)
        .map(|l| {
            let name = l.split('\t').next().unwrap().to_string();
            let bytes = std::fs::read(format!("{dir}/{name}.dat")).unwrap();
            (name, bytes)
        })
        .collect()
}

fn key(s: &Seen) -> String {
    if s.call_id.is_empty() {
        s.cseq.clone()
    } else {
        s.call_id.clone()
    }
}

fn request_key(bytes: &[u8]) -> String {
    let (call_id, cseq) = ids(bytes);
    if call_id.is_empty() { cseq } else { call_id }
}

const CONFIG: &str =
    "[sip]\nforce_rport = true\n[tcp]\nidle_timeout_secs = 1\n[log]\nlevel = \"warn\"\n";

fn options(call_id: &str, via: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:node@127.0.0.1 SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: <sip:t@example.com>;tag=1\r\nTo: <sip:node@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn udp_exchange(
    sock: &UdpSocket,
    to: std::net::SocketAddr,
    bytes: &[u8],
    want: &str,
    wait: Duration,
) -> Option<Seen> {
    sock.send_to(bytes, to).unwrap();
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        sock.set_read_timeout(Some(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ))
        .unwrap();
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            continue;
        };
        // Answers to earlier messages (Timer G retransmissions) are skipped.
        if let Some(s) = seen(&buf[..n]) {
            if key(&s) == want {
                return Some(s);
            }
        }
    }
    None
}

#[test]
fn rfc4475_over_udp_then_options() {
    let node = Node::start("rfc4475-udp", CONFIG, &[]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut failures = Vec::new();
    // Several torture messages share branch, sent-by and method: over UDP
    // the later one matches the earlier one's transaction (RFC 3261
    // §17.2.3) and gets its response again, Call-ID and all.
    let mut transactions: HashMap<ServerKey, String> = HashMap::new();
    for (name, bytes) in torture() {
        let (want, why) = expected(&name);
        let wait = if want.is_some() {
            Duration::from_secs(3)
        } else {
            Duration::from_millis(400)
        };
        let mut answer_key = request_key(&bytes);
        if let Some(k) = parse(&bytes).ok().as_ref().and_then(server_key) {
            match transactions.get(&k) {
                Some(first) => answer_key = first.clone(),
                None => {
                    transactions.insert(k, answer_key.clone());
                }
            }
        }
        let got = udp_exchange(&sock, node.udp, &bytes, &answer_key, wait);
        let status = got.as_ref().map(|s| s.status);
        if status != want {
            failures.push(format!("{name}: got {status:?}, want {want:?} ({why})"));
        }
        if let Some(s) = &got {
            let reason = s
                .raw
                .lines()
                .next()
                .unwrap_or("")
                .splitn(3, ' ')
                .nth(2)
                .unwrap_or("");
            if s.status == 400 && reason.len() < 8 {
                failures.push(format!(
                    "{name}: 400 without a reason that says why: {reason:?}"
                ));
            }
            if matches!(s.status, 405 | 501) && !s.raw.contains("\r\nAllow: ") {
                failures.push(format!("{name}: {} without Allow", s.status));
            }
            if s.status == 420 && !s.raw.contains("\r\nUnsupported: ") {
                failures.push(format!("{name}: 420 without Unsupported"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let got = udp_exchange(
        &sock,
        node.udp,
        &options("after-udp", "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKafter"),
        "after-udp",
        Duration::from_secs(3),
    );
    assert_eq!(
        got.map(|s| s.status),
        Some(200),
        "the node still answers OPTIONS"
    );
}

/// Reads from a TCP stream until `deadline`, EOF or an error.
fn tcp_read_all(stream: &mut TcpStream, deadline: Instant) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (out, false);
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (out, false);
            }
            Err(_) => return (out, true),
        }
    }
}

/// Splits a stream of responses at Content-Length boundaries.
fn responses(mut bytes: &[u8]) -> Vec<Seen> {
    let mut out = Vec::new();
    while let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = &bytes[..end + 4];
        let s = seen(head);
        let len = String::from_utf8_lossy(head)
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                (n.trim().eq_ignore_ascii_case("Content-Length")
                    || n.trim().eq_ignore_ascii_case("l"))
                .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        out.extend(s);
        bytes = &bytes[(end + 4 + len).min(bytes.len())..];
    }
    out
}

#[test]
fn rfc4475_over_tcp_then_options() {
    let node = Node::start("rfc4475-tcp", CONFIG, &[]);
    let mut failures = Vec::new();
    for (name, bytes) in torture() {
        let (want, why) = expected_tcp(&name);
        let mut stream = TcpStream::connect(node.tcp).unwrap();
        stream.write_all(&bytes).unwrap();
        // An answer comes at once; a connection left waiting for more data
        // is closed by the idle timeout (1 s here).
        let wait = if want.is_some() {
            Duration::from_secs(3)
        } else {
            Duration::from_millis(2500)
        };
        let (got, closed) = tcp_read_all(&mut stream, Instant::now() + wait);
        let all = responses(&got);
        let mine: Vec<&Seen> = all
            .iter()
            .filter(|s| key(s) == request_key(&bytes))
            .collect();
        let status = mine.first().map(|s| s.status);
        if status != want {
            failures.push(format!("{name}: got {status:?}, want {want:?} ({why})"));
        }
        if name == "clerr" && !closed {
            failures.push("clerr: the connection waiting for 9999 bytes was not closed".into());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let mut stream = TcpStream::connect(node.tcp).unwrap();
    stream
        .write_all(&options(
            "after-tcp",
            "SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKaftert",
        ))
        .unwrap();
    let (got, _) = tcp_read_all(&mut stream, Instant::now() + Duration::from_millis(1500));
    let r = responses(&got);
    assert_eq!(r.first().map(|s| s.status), Some(200), "{r:?}");
    assert!(r[0].raw.contains("\r\nAllow: OPTIONS"), "{}", r[0].raw);
    assert!(r[0].raw.contains("\r\nSupported: "));
    assert!(r[0].raw.contains("\r\nAccept: "));
}

#[test]
fn rfc3261_s18_2_2_udp_responses_go_to_sent_by_or_rport() {
    let node = Node::start("routing", "[log]\nlevel = \"warn\"\n", &[]);
    let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    // No rport: the response goes to the received address and sent-by port,
    // not to the socket the request came from.
    let port = listener.local_addr().unwrap().port();
    let req = options(
        "sent-by",
        &format!("SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKsentby"),
    );
    sender.send_to(&req, node.udp).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = listener
        .recv_from(&mut buf)
        .expect("response at the sent-by port");
    assert_eq!(seen(&buf[..n]).unwrap().call_id, "sent-by");
    // rport (RFC 3581): back to the source port, with received and rport set.
    let req = options(
        "rport",
        "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKrport;rport",
    );
    let got = udp_exchange(&sender, node.udp, &req, "rport", Duration::from_secs(3))
        .expect("response to the source port");
    let sport = sender.local_addr().unwrap().port();
    assert!(
        got.raw
            .contains(&format!(";received=127.0.0.1;rport={sport}")),
        "{}",
        got.raw
    );
}

#[test]
fn rfc3261_s17_2_2_retransmission_gets_the_same_response() {
    let node = Node::start(
        "retrans",
        "[log]\nlevel = \"warn\"\n[sip]\nforce_rport = true\n",
        &[],
    );
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let req = options("retrans", "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKretrans");
    let first = udp_exchange(&sock, node.udp, &req, "retrans", Duration::from_secs(3)).unwrap();
    let again = udp_exchange(&sock, node.udp, &req, "retrans", Duration::from_secs(3)).unwrap();
    assert_eq!(
        first.raw, again.raw,
        "same To tag: the transaction answered, not a new one"
    );
}

#[test]
fn tcp_reuses_the_connection_and_caps_connections() {
    let node = Node::start(
        "tcp-cap",
        "[log]\nlevel = \"warn\"\n[tcp]\nmax_connections = 2\nidle_timeout_secs = 30\n",
        &[],
    );
    let mut a = TcpStream::connect(node.tcp).unwrap();
    let mut both = options("one", "SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKone");
    both.extend(options("two", "SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKtwo"));
    a.write_all(&both).unwrap();
    let (got, _) = tcp_read_all(&mut a, Instant::now() + Duration::from_millis(1500));
    let r = responses(&got);
    assert_eq!(
        r.iter().map(|s| s.call_id.as_str()).collect::<Vec<_>>(),
        ["one", "two"],
        "both answered on the same connection"
    );
    let _b = TcpStream::connect(node.tcp).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut c = TcpStream::connect(node.tcp).unwrap();
    let _ = c.write_all(&options(
        "three",
        "SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKthree",
    ));
    let (got, closed) = tcp_read_all(&mut c, Instant::now() + Duration::from_secs(2));
    assert!(got.is_empty() && closed, "the third connection is refused");
}

#[test]
fn bad_flags_and_config_are_one_line_errors() {
    let bin = env!("CARGO_BIN_EXE_presencecloud");
    let out = std::process::Command::new(bin)
        .args(["run", "--sip", "sctp:1.2.3.4:5"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("--sip"), "{err}");
    let dir = support::scratch("badconf");
    let conf = dir.join("bad.toml");
    std::fs::write(&conf, "[tcp]\nmax_connections = \"many\"\n").unwrap();
    let out = std::process::Command::new(bin)
        .args(["run", "--config"])
        .arg(&conf)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("tcp.max_connections"), "{err}");
    let out = std::process::Command::new(bin)
        .args(["run", "--bogus"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr)
            .trim_end()
            .lines()
            .count(),
        1
    );
}

#[test]
fn sigterm_drains_and_exits_zero() {
    let mut node = Node::start("sigterm", "[log]\nlevel = \"info\"\n", &[]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let req = options(
        "before-stop",
        &format!(
            "SIP/2.0/UDP {};branch=z9hG4bKstop;rport",
            sock.local_addr().unwrap()
        ),
    );
    assert!(udp_exchange(&sock, node.udp, &req, "before-stop", Duration::from_secs(3)).is_some());
    let status = node.terminate();
    assert!(status.success(), "exit status {status}");
    let err = node.stderr();
    assert!(err.contains("stopped"), "{err}");
}

#[test]
fn admin_healthz() {
    let node = Node::start("healthz", "[log]\nlevel = \"warn\"\n", &[]);
    let mut s = TcpStream::connect(node.admin).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
}

#[test]
fn malformed_input_is_logged_with_the_peer_and_rate_limited() {
    let mut node = Node::start(
        "flood",
        "[log]\nlevel = \"warn\"\nbad_input_warnings_per_minute = 5\n[sip]\nforce_rport = true\n",
        &[],
    );
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for k in 0..200 {
        let junk = format!(
            "INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK{k}\r\nCSeq: x\r\n\r\n"
        );
        sock.send_to(junk.as_bytes(), node.udp).unwrap();
    }
    // The node still answers, and the flood logged at most 5 warnings.
    let req = options("after-flood", "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKflood");
    assert!(udp_exchange(&sock, node.udp, &req, "after-flood", Duration::from_secs(5)).is_some());
    assert!(node.terminate().success());
    let err = node.stderr();
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("bad input")).collect();
    assert!(!warnings.is_empty() && warnings.len() <= 5, "{warnings:?}");
    let port = sock.local_addr().unwrap().port().to_string();
    assert!(
        warnings[0].contains(&port),
        "the peer address is logged: {}",
        warnings[0]
    );
}

/// A listener bound to every interface (0.0.0.0, as in a container) never
/// writes 0.0.0.0 into what the peer must answer to: the NOTIFY's Via and
/// Contact carry the address the kernel routes to the watcher from.
#[test]
fn a_listener_on_every_interface_writes_a_reachable_address() {
    use std::io::BufRead;
    let dir = support::scratch("any-interface");
    let db = format!("sqlite://{}", dir.join("n.db").display());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_presencecloud"))
        .args([
            "run",
            "--sip",
            "udp:0.0.0.0:0",
            "--admin",
            "127.0.0.1:0",
            "--db",
            &db,
        ])
        .args(["--log-level", "warn"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let port: u16 = std::io::BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("listening udp:0.0.0.0:")
                .map(|p| p.parse().unwrap())
        })
        .expect("the listener's port");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = sock.local_addr().unwrap();
    let sub = format!(
        "SUBSCRIBE sip:alice@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKany1\r\nMax-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=b1\r\nTo: <sip:alice@example.com>\r\nCall-ID: any1\r\nCSeq: 1 SUBSCRIBE\r\nContact: <sip:bob@{me}>\r\nEvent: presence\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send_to(sub.as_bytes(), ("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 65536];
    let notify = loop {
        let (n, _) = sock.recv_from(&mut buf).expect("200 and a NOTIFY");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("NOTIFY") {
            break text;
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let want = format!("127.0.0.1:{port}");
    let m = parse(notify.as_bytes()).unwrap();
    assert_eq!(
        m.top_via().unwrap().to_string().split(';').next().unwrap(),
        format!("SIP/2.0/UDP {want}")
    );
    let contact = m.contacts().next().unwrap().uri.to_string();
    assert_eq!(contact, format!("sip:{want}"), "{notify}");
    assert!(!notify.contains("0.0.0.0"), "{notify}");
}
