//! Cross-domain presence, collapsed (issue 8, point 4): two presencecloud
//! nodes serving a.example and b.example, b.example found through a real
//! DNS server on loopback (SRV and A records). 100 watchers in a.example
//! of one presentity in b.example cost exactly one back-end subscription
//! and one cross-domain NOTIFY per state change, and every watcher is
//! notified; the back-end subscription ends with the last watcher.

#[path = "support/dns.rs"]
mod dns;
#[path = "support/cluster.rs"]
mod support;

use std::time::Duration;

use support::{Node, Ua, json, metric};

const CONFIG: &str = "[log]\nlevel = \"warn\"\n";
const WATCHERS: usize = 100;

#[test]
fn a_hundred_watchers_of_another_domain_share_one_backend_subscription() {
    let b = Node::start("fed-b", CONFIG, &["--domain", "b.example"]);
    let records = format!(
        "_sip._udp IN SRV 10 10 {} ps.b.example.\nps IN A 127.0.0.1\n",
        b.udp.port()
    );
    let dns = dns::TestDns::spawn(&[dns::zone("b.example.", &records)]);
    let dns_addr = dns.addr.to_string();
    let a = Node::start(
        "fed-a",
        CONFIG,
        &["--domain", "a.example", "--dns", &dns_addr],
    );
    let p = "carol@b.example";
    let mut publisher = Ua::new();
    publisher.publish(b.udp, p, "open", "state-0");
    let mut watchers = Ua::new();
    for w in 0..WATCHERS {
        watchers.subscribe(a.udp, p, &format!("fw{w}"));
    }
    let all =
        |ua: &Ua, note: &str| (0..WATCHERS).all(|w| ua.last(&format!("fw{w}")).contains(note));
    assert!(
        watchers.until(Duration::from_secs(15), |u| all(u, "state-0")),
        "not every watcher saw the remote state"
    );
    // b.example sees one watcher: a.example's back-end subscription.
    let at_b = json(b.admin, "/api/watchers?presentity=carol%40b.example");
    assert_eq!(at_b.as_array().unwrap().len(), 1, "{at_b}");
    assert_eq!(
        metric(a.admin, "presencecloud_backend_subscriptions", &[]),
        1.0
    );
    assert!(dns.was_asked("_sip._udp.b.example.", dns::RecordType::SRV));
    let notifies_in = || {
        metric(
            a.admin,
            "presencecloud_cross_domain_notifies_total",
            &[("direction", "in")],
        )
    };
    let before = notifies_in();
    let changes = 3;
    for v in 1..=changes {
        let note = format!("state-{v}");
        publisher.publish(b.udp, p, "open", &note);
        assert!(
            watchers.until(Duration::from_secs(10), |u| all(u, &note)),
            "not every watcher saw {note}"
        );
    }
    let per_change = (notifies_in() - before) / changes as f64;
    eprintln!("cross-domain NOTIFYs per state change: {per_change}");
    assert_eq!(per_change, 1.0, "one cross-domain NOTIFY per change");
    // b.example counted them going out: the initial one, then one per change.
    let out_at_b = metric(
        b.admin,
        "presencecloud_cross_domain_notifies_total",
        &[("direction", "out")],
    );
    assert!(out_at_b >= 1.0 + changes as f64, "{out_at_b}");
    // The last watcher leaving ends the back-end subscription.
    for w in 0..WATCHERS {
        watchers.unsubscribe(a.udp, p, &format!("fw{w}"));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let at_b = json(b.admin, "/api/watchers?presentity=carol%40b.example");
        if at_b.as_array().is_some_and(|l| l.is_empty()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still watched at b: {at_b}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        metric(a.admin, "presencecloud_backend_subscriptions", &[]),
        0.0
    );
}
