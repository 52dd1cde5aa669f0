//! The proxy face (issue 8, RFC 3261 §16) with SIPp on both sides: SIPp's
//! built-in `uac` → presencecloud → SIPp's `uas`, 200 calls over UDP and
//! over TCP; MESSAGE and REGISTER through to a SIPp core and back; a CANCEL
//! in the middle of a call.

#[path = "support/node.rs"]
mod support;

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = "[log]\nlevel = \"warn\"\n";

fn free_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // Both free is likely enough for a port the OS just handed out.
    drop(t);
    s.local_addr().unwrap().port()
}

fn sipp() -> Command {
    let mut c = Command::new("sipp");
    c.args([
        "-nostdin",
        "-i",
        "127.0.0.1",
        "-timeout",
        "60s",
        "-timeout_error",
    ]);
    c
}

/// A SIPp server (built-in `uas`, or a scenario file) on `port`, for
/// `calls` calls; it exits by itself once they are done (or at 60 s).
fn server(scenario: &[&str], transport: &str, port: u16, calls: u32) -> Child {
    sipp()
        .args(scenario)
        .args([
            "-t",
            transport,
            "-p",
            &port.to_string(),
            "-m",
            &calls.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sipp is needed (apt-get install -y sip-tester, or run tests/run-all.sh)")
}

fn successes(out: &Output) -> u32 {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find(|l| l.contains("Successful call"))
        .and_then(|l| l.rsplit('|').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

fn failures(out: &Output) -> u32 {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find(|l| l.contains("Failed call"))
        .and_then(|l| l.rsplit('|').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(u32::MAX)
}

fn report(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    format!(
        "{}\n{}",
        text.lines().rev().take(30).collect::<Vec<_>>().join("\n"),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn wait(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// 200 calls: INVITE, 100, 180, 200, ACK, pause, BYE, 200, all through
/// the proxy.
fn calls_through(
    transport: &str,
    extra: &[&str],
    proxy: impl Fn(&support::Node) -> SocketAddr,
    uas_port: u16,
) {
    let uas = server(&["-sn", "uas"], transport, uas_port, 200);
    let mut args = vec!["--domain", "example.com"];
    args.extend_from_slice(extra);
    let node = support::Node::start(&format!("proxy-{transport}"), CONFIG, &args);
    std::thread::sleep(Duration::from_millis(200));
    let uac = sipp()
        .args(["-sn", "uac", &format!("127.0.0.1:{uas_port}")])
        .args(["-rsa", &proxy(&node).to_string()])
        .args([
            "-t", transport, "-p", "0", "-m", "200", "-r", "50", "-l", "50", "-d", "100",
        ])
        .output()
        .expect("sipp runs");
    assert!(
        uac.status.success(),
        "uac over {transport}: {}",
        report(&uac)
    );
    assert_eq!(successes(&uac), 200, "{}", report(&uac));
    assert_eq!(failures(&uac), 0, "{}", report(&uac));
    let uas = wait(uas, Duration::from_secs(30));
    assert_eq!(successes(&uas), 200, "uas: {}", report(&uas));
    let metrics = support::http(node.admin, "/metrics");
    assert!(
        metrics.contains("presencecloud_forwarded_requests_total{method=\"INVITE\"} 200"),
        "{metrics}"
    );
}

#[test]
fn sipp_calls_pass_through_over_udp() {
    // The Request-URI names the UAS (127.0.0.1:port): routed by RFC 3263
    // (a numeric host, UDP).
    calls_through("u1", &[], |n| n.udp, free_port());
}

#[test]
fn sipp_calls_pass_through_to_a_tcp_core() {
    // 127.0.0.1 served here: the requests go to the core, over TCP.
    let port = free_port();
    let core = format!("sip:127.0.0.1:{port};transport=tcp");
    calls_through(
        "t1",
        &["--domain", "127.0.0.1", "--core", &core],
        |n| n.tcp,
        port,
    );
}

/// Sends `text` from `sock` and returns the final response (provisionals
/// skipped).
fn final_response(sock: &UdpSocket, to: SocketAddr, text: &str) -> Vec<u8> {
    sock.send_to(text.as_bytes(), to).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, _) = sock.recv_from(&mut buf).expect("a final response");
        let m = presencecloud::sip::parse(&buf[..n]).unwrap();
        if m.status().is_some_and(|s| s >= 200) {
            return buf[..n].to_vec();
        }
    }
}

#[test]
fn message_and_register_reach_a_sipp_core_and_their_answers_come_back() {
    let port = free_port();
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/sipp-scenarios/core.xml");
    let calls = 20;
    let core = server(&["-sf", scenario], "u1", port, calls);
    let core_uri = format!("sip:127.0.0.1:{port}");
    let node = support::Node::start(
        "proxy-core",
        CONFIG,
        &["--domain", "example.com", "--core", &core_uri],
    );
    std::thread::sleep(Duration::from_millis(200));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = sock.local_addr().unwrap();
    for i in 0..calls {
        let body = format!("hello {i}");
        let message = format!(
            "MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKm{i}\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a{i}\r\nTo: <sip:bob@example.com>\r\nCall-ID: mr{i}@test\r\nCSeq: 1 MESSAGE\r\nX-Unknown: passes  as-is\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let r = final_response(&sock, node.udp, &message);
        let m = presencecloud::sip::parse(&r).unwrap();
        assert_eq!(m.status(), Some(200));
        assert!(String::from_utf8_lossy(&r).contains("X-Core: message-seen"));
        // Only the UAC's Via is left on the way back.
        assert_eq!(m.vias().count(), 1);
        let register = format!(
            "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKr{i}\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a{i}\r\nTo: <sip:alice@example.com>\r\nCall-ID: mr{i}@test\r\nCSeq: 2 REGISTER\r\nContact: <sip:alice@{me}>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n"
        );
        let r = final_response(&sock, node.udp, &register);
        assert_eq!(presencecloud::sip::parse(&r).unwrap().status(), Some(200));
        assert!(String::from_utf8_lossy(&r).contains("X-Core: register-seen"));
    }
    let core = wait(core, Duration::from_secs(30));
    assert_eq!(successes(&core), calls, "core: {}", report(&core));
    let metrics = support::http(node.admin, "/metrics");
    for want in [
        "presencecloud_forwarded_requests_total{method=\"MESSAGE\"} 20",
        "presencecloud_forwarded_requests_total{method=\"REGISTER\"} 20",
        "presencecloud_forwarded_responses_total{class=\"2xx\"} 40",
    ] {
        assert!(metrics.contains(want), "{want} missing:\n{metrics}");
    }
}

/// A UAS on a UDP socket for the CANCEL test: rings, then answers the
/// CANCEL with 200 and the INVITE with 487, and takes the ACK.
fn ringing_uas(sock: UdpSocket) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        use presencecloud::sip::response::{Reply, build};
        let mut seen = Vec::new();
        let mut buf = vec![0u8; 65536];
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut invite: Option<Vec<u8>> = None;
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let bytes = buf[..n].to_vec();
            let m = presencecloud::sip::parse(&bytes).unwrap();
            let method = m
                .method()
                .map(|x| x.as_str().to_string())
                .unwrap_or_default();
            seen.push(method.clone());
            let reply = |status, reason| Reply {
                status,
                reason,
                to_tag: Some("uas1"),
                headers: vec![],
                body: None,
            };
            match method.as_str() {
                "INVITE" => {
                    sock.send_to(&build(&m, None, &reply(180, "Ringing")), from)
                        .unwrap();
                    invite = Some(bytes.clone());
                }
                "CANCEL" => {
                    sock.send_to(&build(&m, None, &reply(200, "OK")), from)
                        .unwrap();
                    let inv = invite.clone().expect("the INVITE came first");
                    let inv = presencecloud::sip::parse(&inv).unwrap();
                    sock.send_to(&build(&inv, None, &reply(487, "Request Terminated")), from)
                        .unwrap();
                }
                "ACK" => break,
                _ => {}
            }
        }
        seen
    })
}

#[test]
fn rfc3261_s16_10_a_cancel_mid_call_ends_the_invite_with_487() {
    let uas = UdpSocket::bind("127.0.0.1:0").unwrap();
    let uas_addr = uas.local_addr().unwrap();
    let uas = ringing_uas(uas);
    let node = support::Node::start("proxy-cancel", CONFIG, &["--domain", "example.com"]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = sock.local_addr().unwrap();
    let head = |method: &str| {
        format!(
            "{method} sip:bob@{uas_addr} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKcancel1\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=c1\r\nTo: <sip:bob@{uas_addr}>\r\nCall-ID: cancel@test\r\nCSeq: 1 {method}\r\n"
        )
    };
    let invite = format!(
        "{}Contact: <sip:alice@{me}>\r\nContent-Length: 0\r\n\r\n",
        head("INVITE")
    );
    sock.send_to(invite.as_bytes(), node.udp).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 65536];
    let mut statuses = Vec::new();
    // 100 from the proxy, then the UAS's 180.
    while !statuses.contains(&180) {
        let (n, _) = sock.recv_from(&mut buf).expect("provisional responses");
        statuses.push(
            presencecloud::sip::parse(&buf[..n])
                .unwrap()
                .status()
                .unwrap(),
        );
    }
    assert_eq!(statuses[0], 100, "the proxy's 100 Trying comes first");
    let cancel = format!("{}Content-Length: 0\r\n\r\n", head("CANCEL"));
    sock.send_to(cancel.as_bytes(), node.udp).unwrap();
    let mut finals = Vec::new();
    while finals.len() < 2 {
        let (n, _) = sock.recv_from(&mut buf).expect("200 and 487");
        let m = presencecloud::sip::parse(&buf[..n]).unwrap();
        if let Some(s) = m.status().filter(|s| *s >= 200) {
            finals.push((s, m.cseq().unwrap().method.as_str().to_string()));
        }
    }
    finals.sort();
    assert_eq!(
        finals,
        vec![(200, "CANCEL".to_string()), (487, "INVITE".to_string())]
    );
    let ack = format!(
        "ACK sip:bob@{uas_addr} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKcancel1\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=c1\r\nTo: <sip:bob@{uas_addr}>;tag=uas1\r\nCall-ID: cancel@test\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send_to(ack.as_bytes(), node.udp).unwrap();
    let seen = uas.join().unwrap();
    // The UAS saw one INVITE (no amplification), the CANCEL, and the ACK
    // the proxy's client transaction sent for the 487.
    assert_eq!(seen, vec!["INVITE", "CANCEL", "ACK"]);
}

/// RFC 3261 §16.3 step 1: a proxy checks what it acts on, and "any other
/// components, well-formed or not, SHOULD be ignored and remain unchanged
/// when the message is forwarded". A MESSAGE with a malformed Contact and
/// Accept reaches the core with both lines as sent; a SUBSCRIBE served
/// here, which reads its Contact, is a 400 naming it.
#[test]
fn rfc3261_s16_3_malformed_fields_a_proxy_does_not_read_go_on_unchanged() {
    let core = UdpSocket::bind("127.0.0.1:0").unwrap();
    let core_uri = format!("sip:{}", core.local_addr().unwrap());
    let node = support::Node::start(
        "proxy-malformed",
        CONFIG,
        &["--domain", "example.com", "--core", &core_uri],
    );
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = sock.local_addr().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let odd = "Contact: <sip:alice@\r\nAccept: pidf\r\n";
    let message = format!(
        "MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKodd1\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=o1\r\nTo: <sip:bob@example.com>\r\nCall-ID: odd1@test\r\nCSeq: 1 MESSAGE\r\n{odd}Content-Length: 0\r\n\r\n"
    );
    sock.send_to(message.as_bytes(), node.udp).unwrap();
    core.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 65536];
    let Ok((n, _)) = core.recv_from(&mut buf) else {
        sock.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let answer = sock
            .recv(&mut buf)
            .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned());
        panic!("the MESSAGE did not reach the core; the node answered {answer:?}");
    };
    let forwarded = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(forwarded.starts_with("MESSAGE sip:bob@example.com SIP/2.0\r\n"));
    assert!(forwarded.contains(&format!("\r\n{odd}")), "{forwarded}");
    let subscribe = format!(
        "SUBSCRIBE sip:carol@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKodd2\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=o2\r\nTo: <sip:carol@example.com>\r\nCall-ID: odd2@test\r\nCSeq: 1 SUBSCRIBE\r\nEvent: presence\r\n{odd}Content-Length: 0\r\n\r\n"
    );
    let r = final_response(&sock, node.udp, &subscribe);
    let m = presencecloud::sip::parse(&r).unwrap();
    assert_eq!(m.status(), Some(400));
    let text = String::from_utf8_lossy(&r);
    assert!(text.lines().next().unwrap().contains("Contact"), "{text}");
    // The choice to serve or forward reads Event: a malformed one is a 400
    // here, not a request passed on to the core.
    let odd_event = subscribe
        .replace("Event: presence", "Event: presence;;")
        .replace(odd, "")
        .replace("odd2@test", "odd3@test")
        .replace("z9hG4bKodd2", "z9hG4bKodd3");
    let r = final_response(&sock, node.udp, &odd_event);
    let text = String::from_utf8_lossy(&r).into_owned();
    assert!(
        text.starts_with("SIP/2.0 400 ") && text.lines().next().unwrap().contains("Event"),
        "{text}"
    );
    core.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(
        core.recv_from(&mut buf).is_err(),
        "the SUBSCRIBE reached the core"
    );
}
