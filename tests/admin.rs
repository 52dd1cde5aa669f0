//! The admin API of one node (issue 6, point 3): presentities, one
//! presentity, its watchers; the token rule; bad queries get 400.

#[path = "support/node.rs"]
mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use support::Node;

const TOKEN: &str = "s3cret-admin-token";

fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Sends one request and waits for its final response (NOTIFYs answered).
fn request(sock: &UdpSocket, node: SocketAddr, text: String) -> u16 {
    sock.send_to(text.as_bytes(), node).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = sock.recv_from(&mut buf).expect("a response");
        let m = presencecloud::sip::parse(&buf[..n]).unwrap();
        if m.is_request() {
            sock.send_to(&support::ok(&m), from).unwrap();
            continue;
        }
        if let Some(s) = m.status().filter(|s| *s >= 200) {
            return s;
        }
    }
}

fn sip(method: &str, me: SocketAddr, call: &str, extra: &str, body: &str) -> String {
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/pidf+xml\r\n"
    };
    format!(
        "{method} sip:dora@Example.com SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{call}\r\nMax-Forwards: 70\r\nFrom: <sip:{call}@example.com>;tag=f{call}\r\nTo: <sip:dora@example.com>\r\nCall-ID: {call}\r\nCSeq: 1 {method}\r\nContact: <sip:{call}@{me}>\r\nEvent: presence\r\nExpires: 600\r\n{extra}{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn the_admin_api_shows_presentities_and_watchers_behind_its_token() {
    let node = Node::start(
        "admin-api",
        "[log]\nlevel = \"warn\"\n",
        &["--admin-token", TOKEN],
    );
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = sock.local_addr().unwrap();
    let body = "<?xml version=\"1.0\"?>\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:dora@example.com\"><tuple id=\"d\"><status><basic>open</basic></status></tuple></presence>";
    assert_eq!(
        request(&sock, node.udp, sip("PUBLISH", me, "p1", "", body)),
        200
    );
    for w in ["w1", "w2"] {
        assert_eq!(
            request(&sock, node.udp, sip("SUBSCRIBE", me, w, "", "")),
            200
        );
    }
    // The token: /healthz is open, the rest is not.
    assert_eq!(get(node.admin, "/healthz", None).0, 200);
    assert_eq!(get(node.admin, "/api/presentities", None).0, 401);
    assert_eq!(get(node.admin, "/api/presentities", Some("wrong")).0, 401);
    let (status, list) = get(node.admin, "/api/presentities?limit=5", Some(TOKEN));
    assert_eq!(status, 200, "{list}");
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["aor"], "dora@example.com");
    assert_eq!(list[0]["watchers"], 2);
    assert_eq!(list[0]["publications"], 1);
    // One presentity, by its AOR with or without scheme and escapes.
    for path in [
        "/api/presentities/dora@example.com",
        "/api/presentities/sip%3Adora%40EXAMPLE.com",
    ] {
        let (status, one) = get(node.admin, path, Some(TOKEN));
        assert_eq!(status, 200, "{path}: {one}");
        let one: serde_json::Value = serde_json::from_str(&one).unwrap();
        assert_eq!(one["availability"], "online");
        assert!(
            one["document"]
                .as_str()
                .unwrap()
                .contains("<basic>open</basic>")
        );
        assert_eq!(one["publications"].as_array().unwrap().len(), 1);
        assert_eq!(one["watchers"].as_array().unwrap().len(), 2);
    }
    assert_eq!(
        get(
            node.admin,
            "/api/presentities/nobody@example.com",
            Some(TOKEN)
        )
        .0,
        404
    );
    let (status, watchers) = get(
        node.admin,
        "/api/watchers?presentity=dora%40example.com",
        Some(TOKEN),
    );
    assert_eq!(status, 200);
    let watchers: serde_json::Value = serde_json::from_str(&watchers).unwrap();
    let mut calls: Vec<&str> = watchers
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["call_id"].as_str().unwrap())
        .collect();
    calls.sort();
    assert_eq!(calls, ["w1", "w2"]);
    assert!(watchers[0]["state"] == "active");
    assert_eq!(get(node.admin, "/api/watchers", Some(TOKEN)).0, 400);
    assert_eq!(
        get(node.admin, "/api/presentities?limit=0", Some(TOKEN)).0,
        400
    );
    // Alone, the node has no overlay: no members, an empty matrix.
    let (status, nodes) = get(node.admin, "/api/nodes", Some(TOKEN));
    assert_eq!((status, nodes.as_str()), (200, "[]"));
}

#[test]
fn an_admin_listener_beyond_loopback_without_a_token_does_not_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_presencecloud"))
        .args(["run", "--admin", "0.0.0.0:0", "--sip", "udp:127.0.0.1:0"])
        .env_remove("PRESENCECLOUD_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("admin.token") && err.contains("--admin-token"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
