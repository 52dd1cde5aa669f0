//! Interop (issue 8, point 5): the cross-domain test of tests/federation.rs
//! with Kamailio 5.6 (presence + presence_xml, memory only, config written
//! by tests/support/kamailio.rs) serving b.example on loopback, found
//! through the test DNS (SRV `_sip._udp.b.example`). 100 watchers in
//! a.example of carol@b.example cost node A exactly one back-end
//! subscription and one cross-domain NOTIFY per state change published at
//! Kamailio, every watcher sees every state, and the last watcher leaving
//! ends the back-end subscription (Kamailio's final NOTIFY, terminated).
//!
//! Kamailio logs every request it gets and sends, so the test also counts
//! from the other side: one SUBSCRIBE dialog, one NOTIFY per change.

#[path = "support/dns.rs"]
mod dns;
#[path = "support/kamailio.rs"]
mod kamailio;
#[path = "support/cluster.rs"]
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use kamailio::{Event, Kamailio};
use support::{Node, Ua, metric, scratch};

const CONFIG: &str = "[log]\nlevel = \"warn\"\n";
const WATCHERS: usize = 100;

/// The Call-IDs of the SUBSCRIBE dialogs Kamailio was asked for.
fn dialogs(events: &[Event]) -> BTreeSet<String> {
    events
        .iter()
        .filter(|e| e.kind == "in" && e.get("m") == "SUBSCRIBE")
        .map(|e| e.get("ci").to_string())
        .collect()
}

/// The NOTIFYs Kamailio sent in dialog `call_id`.
fn notifies_out<'a>(events: &'a [Event], call_id: &str) -> Vec<&'a Event> {
    events
        .iter()
        .filter(|e| e.kind == "out" && e.get("m") == "NOTIFY" && e.get("ci") == call_id)
        .collect()
}

#[test]
fn kamailio_serves_b_example_to_a_hundred_watchers_through_one_backend_subscription() {
    let kam = Kamailio::start(&scratch("kamailio-b"), "b.example");
    let records = format!(
        "_sip._udp IN SRV 10 10 {} ps.b.example.\nps IN A 127.0.0.1\n",
        kam.addr.port()
    );
    let dns = dns::TestDns::spawn(&[dns::zone("b.example.", &records)]);
    let dns_addr = dns.addr.to_string();
    let a = Node::start(
        "kam-a",
        CONFIG,
        &["--domain", "a.example", "--dns", &dns_addr],
    );
    let ctx = |what: &str| {
        format!(
            "{what}\n--- kamailio log (tail of {}) ---\n{}",
            kam.log_path().display(),
            kam.tail(60)
        )
    };
    let p = "carol@b.example";
    let mut publisher = Ua::new();
    publisher.publish(kam.addr, p, "open", "state-0");
    let mut watchers = Ua::new();
    for w in 0..WATCHERS {
        watchers.subscribe(a.udp, p, &format!("kw{w}"));
    }
    let all =
        |ua: &Ua, note: &str| (0..WATCHERS).all(|w| ua.last(&format!("kw{w}")).contains(note));
    assert!(
        watchers.until(Duration::from_secs(15), |u| all(u, "state-0")),
        "{}",
        ctx("not every watcher saw the state published at Kamailio")
    );
    assert!(dns.was_asked("_sip._udp.b.example.", dns::RecordType::SRV));

    // One back-end subscription at A, one SUBSCRIBE dialog at Kamailio.
    assert_eq!(
        metric(a.admin, "presencecloud_backend_subscriptions", &[]),
        1.0
    );
    assert_eq!(
        metric(
            a.admin,
            "presencecloud_backend_subscribes_total",
            &[("kind", "subscribe")]
        ),
        1.0,
        "one initial back-end SUBSCRIBE (no refresh is due within the test)"
    );
    let events = kam.events();
    let backend = dialogs(&events);
    assert_eq!(backend.len(), 1, "{}", ctx("one dialog at Kamailio"));
    let backend = backend.into_iter().next().unwrap();
    let subscribes: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind == "in" && e.get("m") == "SUBSCRIBE")
        .collect();
    assert_eq!(subscribes.len(), 1, "{}", ctx("one SUBSCRIBE at Kamailio"));
    eprintln!("back-end SUBSCRIBE at Kamailio: {:?}", subscribes[0].fields);

    // Each change published at Kamailio: one NOTIFY out of Kamailio, one
    // cross-domain NOTIFY into A, and every watcher sees it.
    let notifies_in = || {
        metric(
            a.admin,
            "presencecloud_cross_domain_notifies_total",
            &[("direction", "in")],
        )
    };
    let changes = 3;
    for v in 1..=changes {
        let note = format!("state-{v}");
        let in_before = notifies_in();
        let out_before = notifies_out(&kam.events(), &backend).len();
        publisher.publish(kam.addr, p, "open", &note);
        assert!(
            watchers.until(Duration::from_secs(10), |u| all(u, &note)),
            "{}",
            ctx(&format!("not every watcher saw {note}"))
        );
        assert_eq!(
            notifies_in() - in_before,
            1.0,
            "one cross-domain NOTIFY in at A for {note}"
        );
        let out = notifies_out(&kam.events(), &backend).len() - out_before;
        assert_eq!(
            out,
            1,
            "{}",
            ctx(&format!("one NOTIFY from Kamailio for {note}"))
        );
    }
    assert_eq!(
        dialogs(&kam.events()).len(),
        1,
        "{}",
        ctx("still one dialog at Kamailio")
    );

    // The last watcher leaving ends the back-end subscription: A's
    // unsubscribe, Kamailio's final NOTIFY (terminated).
    for w in 0..WATCHERS {
        watchers.unsubscribe(a.udp, p, &format!("kw{w}"));
    }
    let terminated = |events: &[Event]| {
        notifies_out(events, &backend)
            .iter()
            .any(|e| e.get("ss").starts_with("terminated"))
    };
    assert!(
        kam.until(Duration::from_secs(10), terminated),
        "{}",
        ctx("no terminating NOTIFY from Kamailio")
    );
    let events = kam.events();
    let unsubscribes: Vec<&Event> = events
        .iter()
        .filter(|e| {
            e.kind == "in"
                && e.get("m") == "SUBSCRIBE"
                && e.get("ci") == backend
                && e.get("exp").trim() == "0"
        })
        .collect();
    assert_eq!(unsubscribes.len(), 1, "{}", ctx("one unsubscribe"));
    assert_eq!(
        metric(
            a.admin,
            "presencecloud_backend_subscribes_total",
            &[("kind", "end")]
        ),
        1.0
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while metric(a.admin, "presencecloud_backend_subscriptions", &[]) != 0.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "back-end subscription still held at A"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        dialogs(&kam.events()).len(),
        1,
        "{}",
        ctx("no new dialog at Kamailio after the end")
    );
    // Every NOTIFY Kamailio sent was answered 200, the final one
    // (terminated) included: RFC 6665 §4.4.1, the subscription lasts until
    // that NOTIFY, and §4.1.2.3, a successful unsubscription triggers it.
    let sent = notifies_out(&kam.events(), &backend).len();
    let answers = |events: &[Event]| -> Vec<String> {
        events
            .iter()
            .filter(|e| e.kind == "reply" && e.get("m") == "NOTIFY" && e.get("ci") == backend)
            .map(|e| e.get("s").to_string())
            .collect()
    };
    assert!(
        kam.until(Duration::from_secs(10), |ev| answers(ev).len() >= sent),
        "{}",
        ctx("a NOTIFY of Kamailio unanswered")
    );
    let answers = answers(&kam.events());
    assert!(
        answers.iter().all(|s| s == "200"),
        "{}",
        ctx(&format!(
            "A's answers to Kamailio's NOTIFYs (the last one is the final NOTIFY, terminated): {answers:?}"
        ))
    );
}
