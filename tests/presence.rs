//! Presence on one node, end to end against the real binary over UDP:
//! a watcher subscribes (RFC 6665, RFC 3856), a publisher publishes (RFC
//! 3903), and the watcher's NOTIFYs carry the published states in order.

#[path = "support/node.rs"]
mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use presencecloud::sip::{Message, parse};
use support::Node;

const CONFIG: &str = "[log]\nlevel = \"warn\"\n";

fn pidf(basic: &str, note: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:alice@example.com\">\n<tuple id=\"phone\"><status><basic>{basic}</basic></status><note>{note}</note></tuple>\n</presence>\n"
    )
}

/// A phone on a UDP socket: sends requests, answers NOTIFYs with 200.
struct Phone {
    sock: UdpSocket,
    node: SocketAddr,
    cseq: u32,
    /// The Event header's package.
    event: &'static str,
    notifies: Vec<Vec<u8>>,
}

impl Phone {
    fn new(node: SocketAddr) -> Phone {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        Phone {
            sock,
            node,
            cseq: 0,
            event: "presence",
            notifies: Vec::new(),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    /// Sends a request and waits for its final response, answering (and
    /// keeping) any NOTIFY that arrives meanwhile.
    fn request(
        &mut self,
        method: &str,
        call_id: &str,
        to_tag: Option<&str>,
        extra: &str,
        body: &str,
    ) -> Vec<u8> {
        self.cseq += 1;
        let me = self.addr();
        let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
        let ct = if body.is_empty() {
            String::new()
        } else {
            "Content-Type: application/pidf+xml\r\n".into()
        };
        let branch = format!("z9hG4bK{call_id}{}", self.cseq);
        let req = format!(
            "{method} sip:alice@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{call_id}@example.com>;tag=ft{call_id}\r\nTo: <sip:alice@example.com>{to_tag}\r\nCall-ID: {call_id}\r\nCSeq: {} {method}\r\nContact: <sip:{call_id}@{me}>\r\nEvent: {}\r\n{extra}{ct}Content-Length: {}\r\n\r\n{body}",
            self.cseq,
            self.event,
            body.len()
        );
        self.sock.send_to(req.as_bytes(), self.node).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let bytes = self.recv(deadline).expect("a final response");
            let m = parse(&bytes).unwrap();
            if m.is_request() {
                continue;
            }
            if m.call_id() == Some(call_id) && m.status().is_some_and(|s| s >= 200) {
                return bytes;
            }
        }
    }

    /// The next datagram; NOTIFYs are answered 200 and kept.
    fn recv(&mut self, deadline: Instant) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.sock.set_read_timeout(Some(left)).unwrap();
            let Ok((n, from)) = self.sock.recv_from(&mut buf) else {
                return None;
            };
            let bytes = buf[..n].to_vec();
            let Ok(m) = parse(&bytes) else { continue };
            if m.method().is_some_and(|x| x.as_str() == "NOTIFY") {
                self.sock.send_to(&support::ok(&m), from).unwrap();
                self.notifies.push(bytes.clone());
            }
            return Some(bytes);
        }
    }

    /// Keeps answering NOTIFYs until `done` holds for the list or time is up.
    fn notifies_until(&mut self, wait: Duration, done: impl Fn(&[Vec<u8>]) -> bool) {
        let deadline = Instant::now() + wait;
        while !done(&self.notifies) {
            if self.recv(deadline).is_none() {
                return;
            }
        }
    }
}

fn header(bytes: &[u8], f: impl Fn(&Message<'_>) -> Option<String>) -> Option<String> {
    f(&parse(bytes).unwrap())
}

fn body(bytes: &[u8]) -> String {
    String::from_utf8(parse(bytes).unwrap().body.to_vec()).unwrap()
}

#[test]
fn rfc3856_subscribe_publish_notify_unsubscribe() {
    let node = Node::start("presence-flow", CONFIG, &[]);
    let mut watcher = Phone::new(node.udp);
    let mut publisher = Phone::new(node.udp);
    let r = watcher.request("SUBSCRIBE", "w1", None, "Expires: 600\r\n", "");
    let m = parse(&r).unwrap();
    assert_eq!(m.status(), Some(200));
    assert_eq!(m.expires(), Some(600));
    let tag = m.to().unwrap().tag().unwrap().to_string();
    watcher.notifies_until(Duration::from_secs(5), |n| !n.is_empty());
    assert_eq!(watcher.notifies.len(), 1);
    let first = &watcher.notifies[0];
    assert!(
        body(first).contains("closed"),
        "nothing published yet: {}",
        body(first)
    );
    assert_eq!(
        header(first, |m| m.subscription_state().map(|s| s.to_string())),
        Some("active;expires=600".into())
    );

    let r = publisher.request(
        "PUBLISH",
        "p1",
        None,
        "Expires: 120\r\n",
        &pidf("open", "hello"),
    );
    let m = parse(&r).unwrap();
    assert_eq!(m.status(), Some(200));
    let etag = m.sip_etag().unwrap().to_string();
    watcher.notifies_until(Duration::from_secs(5), |n| n.len() >= 2);
    assert!(body(&watcher.notifies[1]).contains("open"));
    assert!(body(&watcher.notifies[1]).contains("hello"));

    // modify, then remove: each reaches the watcher
    let r = publisher.request(
        "PUBLISH",
        "p1",
        None,
        &format!("SIP-If-Match: {etag}\r\n"),
        &pidf("closed", "bye"),
    );
    let etag = parse(&r).unwrap().sip_etag().unwrap().to_string();
    watcher.notifies_until(Duration::from_secs(5), |n| n.len() >= 3);
    assert!(body(&watcher.notifies[2]).contains("bye"));
    let r = publisher.request(
        "PUBLISH",
        "p1",
        None,
        &format!("SIP-If-Match: {etag}\r\nExpires: 0\r\n"),
        "",
    );
    assert_eq!(parse(&r).unwrap().status(), Some(200));
    let r = publisher.request(
        "PUBLISH",
        "p1",
        None,
        &format!("SIP-If-Match: {etag}\r\n"),
        "",
    );
    assert_eq!(
        parse(&r).unwrap().status(),
        Some(412),
        "RFC 3903: a spent entity-tag"
    );

    let r = watcher.request("SUBSCRIBE", "w1", Some(&tag), "Expires: 0\r\n", "");
    assert_eq!(parse(&r).unwrap().status(), Some(200));
    watcher.notifies_until(Duration::from_secs(5), |n| {
        n.last().is_some_and(|b| {
            body(b).is_empty() && String::from_utf8_lossy(b).contains("terminated")
        })
    });
    let last = watcher.notifies.last().unwrap();
    assert!(String::from_utf8_lossy(last).contains("Subscription-State: terminated"));
    let cseqs: Vec<u32> = watcher
        .notifies
        .iter()
        .map(|b| parse(b).unwrap().cseq().unwrap().seq)
        .collect();
    assert!(
        cseqs.windows(2).all(|w| w[1] > w[0]),
        "NOTIFY CSeq strictly increases: {cseqs:?}"
    );
}

/// RFC 6665 §4.2.2 and the order the issue asks for: 1,000 PUBLISHes of
/// alternating states, fired as fast as possible; every NOTIFY carries a
/// published state and the last NOTIFY carries the last one.
#[test]
fn a_thousand_publishes_keep_their_order() {
    let node = Node::start("presence-order", CONFIG, &[]);
    let mut watchers: Vec<Phone> = (0..3).map(|_| Phone::new(node.udp)).collect();
    for (k, w) in watchers.iter_mut().enumerate() {
        let r = w.request("SUBSCRIBE", &format!("ow{k}"), None, "Expires: 600\r\n", "");
        assert_eq!(parse(&r).unwrap().status(), Some(200));
    }
    // The publisher pipelines: it sends the next PUBLISH as soon as the last
    // one's 200 gives it the new entity-tag.
    let mut publisher = Phone::new(node.udp);
    let r = publisher.request(
        "PUBLISH",
        "op",
        None,
        "Expires: 600\r\n",
        &pidf("open", "state-0"),
    );
    let mut etag = parse(&r).unwrap().sip_etag().unwrap().to_string();
    let mut published = vec!["state-0".to_string()];
    for k in 1..1000 {
        let basic = if k % 2 == 0 { "open" } else { "closed" };
        let note = format!("state-{k}");
        let r = publisher.request(
            "PUBLISH",
            "op",
            None,
            &format!("SIP-If-Match: {etag}\r\n"),
            &pidf(basic, &note),
        );
        let m = parse(&r).unwrap();
        assert_eq!(m.status(), Some(200), "PUBLISH {k}");
        etag = m.sip_etag().unwrap().to_string();
        published.push(note);
    }
    let last = published.last().unwrap().clone();
    for w in &mut watchers {
        w.notifies_until(Duration::from_secs(10), |n| {
            n.last()
                .is_some_and(|b| body(b).contains(&format!(">{last}<")))
        });
        assert!(!w.notifies.is_empty());
        let mut seen_index = 0usize;
        for n in &w.notifies {
            let b = body(n);
            if b.contains("<basic>closed</basic>") && !b.contains("state-") {
                continue; // the first NOTIFY, before anything was published
            }
            let note = published
                .iter()
                .position(|p| b.contains(&format!(">{p}<")))
                .unwrap_or_else(|| panic!("a NOTIFY with a state never published: {b}"));
            assert!(
                note >= seen_index,
                "NOTIFYs went back in time: {note} after {seen_index}"
            );
            seen_index = note;
        }
        assert_eq!(
            seen_index,
            published.len() - 1,
            "the last NOTIFY carries the last state"
        );
    }
}

#[test]
fn options_now_lists_the_presence_package() {
    let node = Node::start("presence-options", CONFIG, &[]);
    let mut phone = Phone::new(node.udp);
    let r = phone.request("OPTIONS", "opt", None, "", "");
    let text = String::from_utf8_lossy(&r);
    assert!(
        text.contains("\r\nAllow: OPTIONS, SUBSCRIBE, PUBLISH\r\n"),
        "{text}"
    );
    assert!(
        text.contains("\r\nAllow-Events: presence, presence.winfo\r\n"),
        "{text}"
    );
    assert!(
        text.contains("\r\nAccept: application/pidf+xml, application/watcherinfo+xml\r\n"),
        "{text}"
    );
    assert!(text.contains("\r\nSupported: "), "{text}");
}

fn substate(bytes: &[u8]) -> String {
    parse(bytes)
        .unwrap()
        .subscription_state()
        .unwrap()
        .to_string()
}

/// RFC 6665 §4.2.2 and the store's promise (DESIGN.md, "Storage"): after
/// SIGKILL and a restart on the same database, the watcher's old dialog
/// carries on, with NOTIFY CSeq numbers above the ones it saw.
#[test]
fn restart_after_sigkill_keeps_the_dialog() {
    let dir = support::scratch("restart-kill-db");
    let db = format!("sqlite://{}", dir.join("state.db").display());
    let mut a = Node::start_with_db("restart-a", CONFIG, &db, &[]);
    let mut watcher = Phone::new(a.udp);
    let mut publisher = Phone::new(a.udp);
    let r = watcher.request("SUBSCRIBE", "rw", None, "Expires: 600\r\n", "");
    let local_tag = parse(&r).unwrap().to().unwrap().tag().unwrap().to_string();
    publisher.request(
        "PUBLISH",
        "rp",
        None,
        "Expires: 600\r\n",
        &pidf("open", "before"),
    );
    watcher.notifies_until(Duration::from_secs(5), |n| n.len() >= 2);
    let seen = parse(watcher.notifies.last().unwrap())
        .unwrap()
        .cseq()
        .unwrap()
        .seq;
    // Past the flush interval, then no chance to flush at all.
    std::thread::sleep(Duration::from_millis(500));
    a.kill();

    let b = Node::start_with_db("restart-b", CONFIG, &db, &[]);
    publisher.node = b.udp;
    let r = publisher.request(
        "PUBLISH",
        "rp2",
        None,
        "Expires: 600\r\n",
        &pidf("closed", "after"),
    );
    assert_eq!(parse(&r).unwrap().status(), Some(200));
    let before = watcher.notifies.len();
    watcher.notifies_until(Duration::from_secs(5), |n| {
        n.len() > before && body(n.last().unwrap()).contains("after")
    });
    let last = parse(watcher.notifies.last().unwrap()).unwrap();
    assert_eq!(last.call_id(), Some("rw"), "the old dialog");
    assert_eq!(last.from().unwrap().tag(), Some(local_tag.as_str()));
    assert!(
        last.cseq().unwrap().seq > seen,
        "{} > {seen}",
        last.cseq().unwrap().seq
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A subscription that expired while the node was down ends with
/// `terminated;reason=timeout` at start, not with an empty NOTIFY.
#[test]
fn subscriptions_expired_while_down_end_at_start() {
    let dir = support::scratch("restart-expired-db");
    let db = format!("sqlite://{}", dir.join("state.db").display());
    let config = "[log]\nlevel = \"warn\"\n[presence]\nsubscribe_min_expires = 1\nsubscribe_default_expires = 1\n";
    let mut a = Node::start_with_db("expired-a", config, &db, &[]);
    let mut watcher = Phone::new(a.udp);
    let r = watcher.request("SUBSCRIBE", "ew", None, "Expires: 2\r\n", "");
    assert_eq!(parse(&r).unwrap().expires(), Some(2));
    watcher.notifies_until(Duration::from_secs(5), |n| !n.is_empty());
    std::thread::sleep(Duration::from_millis(300));
    a.kill();
    std::thread::sleep(Duration::from_millis(2500));
    let _b = Node::start_with_db("expired-b", config, &db, &[]);
    watcher.notifies_until(Duration::from_secs(5), |n| n.len() >= 2);
    let last = watcher.notifies.last().expect("a NOTIFY at start");
    assert_eq!(substate(last), "terminated;reason=timeout");
    assert_eq!(parse(last).unwrap().call_id(), Some("ew"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Nothing acknowledged is lost on a clean shutdown: a PUBLISH answered just
/// before SIGTERM is there after the restart.
#[test]
fn clean_shutdown_loses_nothing() {
    let dir = support::scratch("restart-clean-db");
    let db = format!("sqlite://{}", dir.join("state.db").display());
    let mut a = Node::start_with_db("clean-a", CONFIG, &db, &[]);
    let mut publisher = Phone::new(a.udp);
    for k in 0..20 {
        let r = publisher.request(
            "PUBLISH",
            &format!("cp{k}"),
            None,
            "Expires: 600\r\n",
            &pidf("open", &format!("kept-{k}")),
        );
        assert_eq!(parse(&r).unwrap().status(), Some(200));
    }
    assert!(a.terminate().success());
    // Every one of the 20 acknowledged publications is in the database.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let kept = rt.block_on(async {
        let store = presencecloud::store::Store::open(&db).await.unwrap();
        let n = store.all_publications().await.unwrap().len();
        store.close().await;
        n
    });
    assert_eq!(kept, 20);
    let b = Node::start_with_db("clean-b", CONFIG, &db, &[]);
    let mut watcher = Phone::new(b.udp);
    watcher.request("SUBSCRIBE", "cw", None, "", "");
    watcher.notifies_until(Duration::from_secs(5), |n| !n.is_empty());
    let doc = body(&watcher.notifies[0]);
    // All publish tuple "phone": the newest wins the composition.
    assert!(
        doc.contains("kept-19"),
        "the last publication survived: {doc}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The flush bound (store.flush_interval_ms, 50 ms here): what was
/// acknowledged well over that interval before a kill -9 is in the
/// database; only the last interval's changes may be lost.
#[test]
fn sigkill_loses_at_most_the_flush_interval() {
    let dir = support::scratch("kill-bound-db");
    let db = format!("sqlite://{}", dir.join("state.db").display());
    let config = "[log]\nlevel = \"warn\"\n[store]\nflush_interval_ms = 50\n";
    let mut a = Node::start_with_db("kill-bound", config, &db, &[]);
    let mut publisher = Phone::new(a.udp);
    for k in 0..30 {
        let r = publisher.request(
            "PUBLISH",
            &format!("early{k}"),
            None,
            "Expires: 600\r\n",
            &pidf("open", "early"),
        );
        assert_eq!(parse(&r).unwrap().status(), Some(200));
    }
    // 20 flush intervals: the early publications must be durable by now.
    std::thread::sleep(Duration::from_secs(1));
    for k in 0..30 {
        publisher.request(
            "PUBLISH",
            &format!("late{k}"),
            None,
            "Expires: 600\r\n",
            &pidf("open", "late"),
        );
    }
    a.kill();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rows = rt.block_on(async {
        let store = presencecloud::store::Store::open(&db).await.unwrap();
        let rows = store.all_publications().await.unwrap();
        store.close().await;
        rows
    });
    let early = rows
        .iter()
        .filter(|p| String::from_utf8_lossy(&p.body).contains("early"))
        .count();
    assert_eq!(early, 30, "acknowledged a second before the kill: all kept");
    assert!(rows.len() <= 60);
    let _ = std::fs::remove_dir_all(&dir);
}

fn rule(db: &str, args: &[&str]) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_presencecloud"))
        .args(["rule", "--db", db])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// RFC 3856 §6.6 with rules from the CLI, and RFC 3857 watcher
/// information: a confirm rule keeps bob pending (no state in his NOTIFY),
/// alice sees him pending in her watcher list, then allows him; bob gets
/// the state and alice sees him active.
#[test]
fn rules_decide_pending_watchers_and_winfo_shows_it() {
    let dir = support::scratch("rules-db");
    let db = format!("sqlite://{}", dir.join("state.db").display());
    rule(
        &db,
        &["set", "alice@example.com", "bob@example.com", "confirm"],
    );
    let node = Node::start_with_db("rules", CONFIG, &db, &[]);
    let mut publisher = Phone::new(node.udp);
    publisher.request("PUBLISH", "pub", None, "", &pidf("open", "secret"));
    // alice watches her watchers (the From of this phone is alice@example.com)
    let mut alice = Phone::new(node.udp);
    alice.event = "presence.winfo";
    let r = alice.request(
        "SUBSCRIBE",
        "alice",
        None,
        "Accept: application/watcherinfo+xml\r\n",
        "",
    );
    assert_eq!(parse(&r).unwrap().status(), Some(200));
    alice.notifies_until(Duration::from_secs(5), |n| !n.is_empty());
    assert!(
        body(&alice.notifies[0]).contains("state=\"full\""),
        "{}",
        body(&alice.notifies[0])
    );

    let mut bob = Phone::new(node.udp);
    let r = bob.request("SUBSCRIBE", "bob", None, "", "");
    assert_eq!(parse(&r).unwrap().status(), Some(200));
    bob.notifies_until(Duration::from_secs(5), |n| !n.is_empty());
    assert!(substate(&bob.notifies[0]).starts_with("pending"));
    assert!(
        !body(&bob.notifies[0]).contains("secret"),
        "nothing leaks while pending"
    );
    alice.notifies_until(Duration::from_secs(5), |n| n.len() >= 2);
    let partial = body(&alice.notifies[1]);
    assert!(
        partial.contains("state=\"partial\"") && partial.contains("status=\"pending\""),
        "{partial}"
    );

    rule(
        &db,
        &["set", "alice@example.com", "bob@example.com", "allow"],
    );
    bob.notifies_until(Duration::from_secs(5), |n| n.len() >= 2);
    assert!(substate(bob.notifies.last().unwrap()).starts_with("active"));
    assert!(body(bob.notifies.last().unwrap()).contains("secret"));
    alice.notifies_until(Duration::from_secs(5), |n| {
        n.iter().any(|b| body(b).contains("event=\"approved\""))
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// The node on PostgreSQL (chosen by the --db URL), in a schema of its own
/// in the test database: state survives a restart as it does on SQLite.
/// Required in CI (PRESENCECLOUD_REQUIRE_POSTGRES=1), like the store tests.
#[test]
fn the_node_keeps_its_state_in_postgresql() {
    let base = std::env::var("PRESENCECLOUD_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("pc_node_{}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let admin = |sql: String| {
        rt.block_on(async {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&base)
                .await
                .unwrap_or_else(|e| {
                    panic!("PostgreSQL at {base} is needed (set PRESENCECLOUD_TEST_POSTGRES): {e}")
                });
            sqlx::query(&sql).execute(&mut c).await.unwrap();
        })
    };
    admin(format!("CREATE SCHEMA {schema}"));
    let sep = if base.contains('?') { '&' } else { '?' };
    let db = format!("{base}{sep}options=-csearch_path%3D{schema}");
    let mut a = Node::start_with_db("pg-a", CONFIG, &db, &[]);
    let mut publisher = Phone::new(a.udp);
    let r = publisher.request(
        "PUBLISH",
        "pgp",
        None,
        "Expires: 600\r\n",
        &pidf("open", "in-postgres"),
    );
    assert_eq!(parse(&r).unwrap().status(), Some(200));
    assert!(a.terminate().success());
    let b = Node::start_with_db("pg-b", CONFIG, &db, &[]);
    let mut watcher = Phone::new(b.udp);
    watcher.request("SUBSCRIBE", "pgw", None, "", "");
    watcher.notifies_until(Duration::from_secs(5), |n| !n.is_empty());
    let doc = body(&watcher.notifies[0]);
    drop(b);
    admin(format!("DROP SCHEMA {schema} CASCADE"));
    assert!(doc.contains("in-postgres"), "{doc}");
}

/// A DNS server that refuses every query (RCODE 5), for a few seconds.
fn refusing_dns() -> String {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap().to_string();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if n < 12 {
                continue;
            }
            let mut answer = buf[..n].to_vec();
            answer[2] |= 0x80; // QR: a response
            answer[3] = (answer[3] & 0xf0) | 5; // REFUSED
            let _ = sock.send_to(&answer, from);
        }
    });
    addr
}

/// `--domain` limits what the node serves: presence for another domain is
/// not answered as if it were ours but routed on by RFC 3263; with the DNS
/// refusing to answer, that is a 503.
#[test]
fn presence_of_an_unserved_domain_is_not_served_here() {
    let dns = refusing_dns();
    let node = Node::start(
        "domains",
        CONFIG,
        &["--domain", "other.example", "--dns", &dns],
    );
    let mut phone = Phone::new(node.udp);
    let r = phone.request("PUBLISH", "dom", None, "", &pidf("open", "x"));
    assert_eq!(parse(&r).unwrap().status(), Some(503));
    let node = Node::start("domains-served", CONFIG, &["--domain", "EXAMPLE.com"]);
    let mut phone = Phone::new(node.udp);
    let r = phone.request("PUBLISH", "dom2", None, "", &pidf("open", "x"));
    assert_eq!(
        parse(&r).unwrap().status(),
        Some(200),
        "domains compare case-insensitively"
    );
}

/// Measured presence (latency transactions with correlators): a
/// subscription and a notification are measured, show in Prometheus, in
/// the admin API and in the CSV records file.
#[test]
fn presence_latency_is_measured() {
    let dir = support::scratch("telemetry-records");
    let csv = dir.join("records.csv");
    let config = format!("{CONFIG}[telemetry]\nrecords_csv = \"{}\"\n", csv.display());
    let node = Node::start("telemetry", &config, &[]);
    let mut watcher = Phone::new(node.udp);
    let mut publisher = Phone::new(node.udp);
    watcher.request("SUBSCRIBE", "mw", None, "", "");
    watcher.notifies_until(Duration::from_secs(5), |n| !n.is_empty());
    publisher.request("PUBLISH", "mp", None, "", &pidf("open", "measured"));
    watcher.notifies_until(Duration::from_secs(5), |n| n.len() >= 2);
    // the watcher's 200 to the second NOTIFY finishes the notification
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let api = loop {
        let page = support::http(node.admin, "/api/transactions?kind=notification");
        if page.contains("\"completed\":true") || std::time::Instant::now() > deadline {
            break page;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(api.starts_with("HTTP/1.1 200"), "{api}");
    assert!(
        api.contains("\"kind\":\"notification\"") && api.contains("\"completed\":true"),
        "{api}"
    );
    let subs = support::http(node.admin, "/api/transactions?kind=subscription");
    assert!(subs.contains("\"kind\":\"subscription\""), "{subs}");
    assert!(support::http(node.admin, "/api/transactions?kind=bogus").starts_with("HTTP/1.1 400"));
    let metrics = support::http(node.admin, "/metrics");
    for name in [
        "presencecloud_notification_latency_seconds",
        "presencecloud_subscription_latency_seconds",
        "presencecloud_requests_total",
        "presencecloud_responses_total",
        "presencecloud_subscriptions",
        "presencecloud_publications",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    let rows = std::fs::read_to_string(&csv).unwrap();
    let mut lines = rows.lines();
    assert_eq!(
        lines.next(),
        Some("started_ms,kind,origin,peer,status,completed,correlator,duration_ms")
    );
    assert!(
        rows.contains(",notification,") && rows.contains(",subscription,"),
        "{rows}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
