use super::*;
use crate::presence::authorization::{Action, DefaultPolicy, Rule};
use crate::presence::subscription::Path;
use crate::presence::winfo::{self, Event as WinfoEvent, Status as WinfoStatus};
use crate::sip::parse;

const PIDF_OPEN: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@example.com">
  <tuple id="t1"><status><basic>open</basic></status></tuple>
</presence>"#;

const PIDF_CLOSED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@example.com">
  <tuple id="t1"><status><basic>closed</basic></status></tuple>
</presence>"#;

fn publish(extra: &str, body: &str) -> Vec<u8> {
    let ct = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/pidf+xml\r\n".into()
    };
    format!(
        "PUBLISH sip:alice@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKp\r\nFrom: <sip:alice@example.com>;tag=p1\r\nTo: <sip:alice@example.com>\r\nCall-ID: pub1\r\nCSeq: 1 PUBLISH\r\nEvent: presence\r\n{extra}{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn subscribe(extra: &str, to_tag: &str, cseq: u32) -> Vec<u8> {
    let to_tag = if to_tag.is_empty() {
        String::new()
    } else {
        format!(";tag={to_tag}")
    };
    format!(
        "SUBSCRIBE sip:alice@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2:5070;branch=z9hG4bKs{cseq}\r\nFrom: <sip:bob@example.com>;tag=w1\r\nTo: <sip:alice@example.com>{to_tag}\r\nCall-ID: sub1\r\nCSeq: {cseq} SUBSCRIBE\r\nContact: <sip:bob@192.0.2.2:5070>\r\nEvent: presence\r\n{extra}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn path() -> Path {
    Path {
        transport: "UDP",
        local: "198.51.100.1:5060".parse().unwrap(),
        peer: "192.0.2.2:5070".parse().unwrap(),
        conn: None,
        symmetric: false,
    }
}

fn header<'a>(a: &'a Answer, name: &str) -> Option<&'a str> {
    a.headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

fn agent() -> Agent {
    Agent::new(Policy::default(), 42)
}

fn do_publish(a: &mut Agent, now: u64, extra: &str, body: &str) -> (Answer, Vec<Notify>) {
    let bytes = publish(extra, body);
    let m = parse(&bytes).unwrap();
    a.on_publish(now, &m)
}

fn do_subscribe(
    a: &mut Agent,
    now: u64,
    extra: &str,
    to_tag: &str,
    cseq: u32,
) -> (Answer, Vec<Notify>) {
    let bytes = subscribe(extra, to_tag, cseq);
    let m = parse(&bytes).unwrap();
    a.on_subscribe(now, &m, path())
}

fn notify_body(n: &Notify) -> String {
    let m = parse(&n.bytes).unwrap();
    String::from_utf8(m.body.to_vec()).unwrap()
}

fn substate(n: &Notify) -> String {
    let m = parse(&n.bytes).unwrap();
    m.subscription_state().unwrap().to_string()
}

#[test]
fn rfc3903_s6_publish_lifecycle() {
    let mut a = agent();
    let (r, _) = do_publish(&mut a, 0, "Expires: 120\r\n", PIDF_OPEN);
    assert_eq!(r.status, 200);
    let etag = header(&r, "SIP-ETag").unwrap().to_string();
    assert_eq!(header(&r, "Expires"), Some("120"));
    // refresh: If-Match, no body → new tag
    let (r, n) = do_publish(
        &mut a,
        1000,
        &format!("SIP-If-Match: {etag}\r\nExpires: 120\r\n"),
        "",
    );
    assert_eq!(r.status, 200);
    assert!(n.is_empty());
    let etag2 = header(&r, "SIP-ETag").unwrap().to_string();
    assert_ne!(etag, etag2);
    // the old tag is spent: 412
    let (r, _) = do_publish(&mut a, 2000, &format!("SIP-If-Match: {etag}\r\n"), "");
    assert_eq!(r.status, 412);
    // remove
    let (r, _) = do_publish(
        &mut a,
        3000,
        &format!("SIP-If-Match: {etag2}\r\nExpires: 0\r\n"),
        "",
    );
    assert_eq!((r.status, header(&r, "Expires")), (200, Some("0")));
    assert_eq!(a.publications(), 0);
}

#[test]
fn rfc3903_s6_errors() {
    let mut a = agent();
    assert_eq!(
        do_publish(&mut a, 0, "Expires: 10\r\n", PIDF_OPEN).0.status,
        423
    );
    let r = do_publish(&mut a, 0, "Expires: 10\r\n", PIDF_OPEN).0;
    assert_eq!(header(&r, "Min-Expires"), Some("60"));
    let r = do_publish(&mut a, 0, "", "").0;
    assert_eq!(r.status, 400, "initial without body");
    let bytes = publish("", PIDF_OPEN);
    let text = String::from_utf8(bytes).unwrap().replace(
        "Content-Type: application/pidf+xml",
        "Content-Type: text/plain",
    );
    let m = parse(text.as_bytes()).unwrap();
    let r = a.on_publish(0, &m).0;
    assert_eq!((r.status, header(&r, "Accept")), (415, Some(PIDF)));
    let r = do_publish(&mut a, 0, "", "<presence").0;
    assert_eq!(r.status, 400);
    assert!(r.reason.starts_with("Bad PIDF"), "{}", r.reason);
    let text = String::from_utf8(publish("", PIDF_OPEN))
        .unwrap()
        .replace("Event: presence", "Event: dialog");
    let r = a.on_publish(0, &parse(text.as_bytes()).unwrap()).0;
    assert_eq!(
        (r.status, header(&r, "Allow-Events")),
        (489, Some("presence, presence.winfo"))
    );
    let r = do_publish(&mut a, 0, "Expires: 999999\r\n", PIDF_OPEN).0;
    assert_eq!(header(&r, "Expires"), Some("7200"), "cut to the maximum");
}

#[test]
fn rfc6665_s4_2_1_subscribe_creates_a_dialog_and_notifies_at_once() {
    let mut a = agent();
    let (r, n) = do_subscribe(&mut a, 0, "Expires: 600\r\n", "", 1);
    assert_eq!(r.status, 200);
    assert!(r.to_tag.is_some());
    assert_eq!(header(&r, "Expires"), Some("600"));
    assert_eq!(n.len(), 1);
    assert!(
        notify_body(&n[0]).contains("closed"),
        "nothing published: a closed document"
    );
    assert_eq!(substate(&n[0]), "active;expires=600");
    assert_eq!(n[0].to, "192.0.2.2:5070".parse().unwrap());
}

#[test]
fn rfc3856_s6_6_published_state_reaches_watchers() {
    let mut a = agent();
    let (_, n) = do_subscribe(&mut a, 0, "", "", 1);
    let dialog = n[0].dialog.clone();
    let (_, n) = do_publish(&mut a, 10, "", PIDF_OPEN);
    assert!(n.is_empty(), "the first NOTIFY is still in flight");
    let n = a.on_notify_result(20, &dialog, Some(200));
    assert_eq!(
        n.len(),
        1,
        "the change made meanwhile goes out when it is answered"
    );
    assert!(notify_body(&n[0]).contains("open"));
    assert!(a.on_notify_result(30, &dialog, Some(200)).is_empty());
}

#[test]
fn notify_cseq_strictly_increases_and_last_state_wins() {
    let mut a = agent();
    let (_, n) = do_subscribe(&mut a, 0, "", "", 1);
    let dialog = n[0].dialog.clone();
    let mut cseqs = vec![parse(&n[0].bytes).unwrap().cseq().unwrap().seq];
    let mut last_body = String::new();
    let mut in_flight = true;
    let r = do_publish(&mut a, 1, "", PIDF_OPEN).0;
    let mut etag = header(&r, "SIP-ETag").unwrap().to_string();
    for k in 0..50u64 {
        let body = if k % 2 == 0 { PIDF_CLOSED } else { PIDF_OPEN };
        let (r, n) = do_publish(&mut a, 2 + k, &format!("SIP-If-Match: {etag}\r\n"), body);
        etag = header(&r, "SIP-ETag").unwrap().to_string();
        assert!(n.is_empty() || !in_flight);
        if k % 7 == 0 {
            let n = a.on_notify_result(2 + k, &dialog, Some(200));
            in_flight = !n.is_empty();
            for x in &n {
                cseqs.push(parse(&x.bytes).unwrap().cseq().unwrap().seq);
                last_body = notify_body(x);
            }
        }
    }
    let n = a.on_notify_result(100, &dialog, Some(200));
    for x in &n {
        cseqs.push(parse(&x.bytes).unwrap().cseq().unwrap().seq);
        last_body = notify_body(x);
    }
    assert!(cseqs.windows(2).all(|w| w[1] > w[0]), "{cseqs:?}");
    assert!(
        last_body.contains("open"),
        "the last state published (k=49 is open)"
    );
}

#[test]
fn rfc6665_s4_2_1_4_unsubscribe_gets_a_terminated_notify() {
    let mut a = agent();
    let (r, n) = do_subscribe(&mut a, 0, "", "", 1);
    let tag = r.to_tag.unwrap();
    a.on_notify_result(1, &n[0].dialog, Some(200));
    let (r, n) = do_subscribe(&mut a, 2, "Expires: 0\r\n", &tag, 2);
    assert_eq!(r.status, 200);
    assert_eq!(n.len(), 1);
    assert!(n[0].last);
    assert!(substate(&n[0]).starts_with("terminated"));
    a.on_notify_result(3, &n[0].dialog, Some(200));
    assert_eq!(a.subscriptions(), 0);
    let (r, _) = do_subscribe(&mut a, 4, "", &tag, 3);
    assert_eq!(r.status, 481, "the dialog is gone");
}

#[test]
fn rfc6665_s4_2_2_expiry_sends_terminated_with_reason_timeout() {
    let mut a = agent();
    let (_, n) = do_subscribe(&mut a, 0, "Expires: 60\r\n", "", 1);
    a.on_notify_result(1, &n[0].dialog, Some(200));
    assert_eq!(a.next_deadline(), Some(60_000));
    assert!(a.on_timeout(59_999).is_empty());
    let n = a.on_timeout(60_000);
    assert_eq!(n.len(), 1);
    assert_eq!(substate(&n[0]), "terminated;reason=timeout");
}

#[test]
fn rfc6665_s4_2_1_2_refresh_extends_and_notifies() {
    let mut a = agent();
    let (r, n) = do_subscribe(&mut a, 0, "Expires: 60\r\n", "", 1);
    a.on_notify_result(1, &n[0].dialog, Some(200));
    let (r2, n) = do_subscribe(
        &mut a,
        30_000,
        "Expires: 120\r\n",
        r.to_tag.as_deref().unwrap(),
        2,
    );
    assert_eq!((r2.status, header(&r2, "Expires")), (200, Some("120")));
    assert_eq!(substate(&n[0]), "active;expires=120");
    assert_eq!(a.next_deadline(), Some(150_000));
}

#[test]
fn rfc6665_s4_1_3_481_ends_the_subscription_and_timeout_is_configurable() {
    let mut a = agent();
    let (_, n) = do_subscribe(&mut a, 0, "", "", 1);
    a.on_notify_result(1, &n[0].dialog, Some(481));
    assert_eq!(a.subscriptions(), 0);
    let mut keep = Agent::new(
        Policy {
            end_on_notify_timeout: false,
            ..Policy::default()
        },
        1,
    );
    let (_, n) = do_subscribe(&mut keep, 0, "", "", 1);
    keep.on_notify_result(1, &n[0].dialog, None);
    assert_eq!(
        keep.subscriptions(),
        1,
        "kept after a timeout when configured so"
    );
    let mut end = agent();
    let (_, n) = do_subscribe(&mut end, 0, "", "", 1);
    end.on_notify_result(1, &n[0].dialog, None);
    assert_eq!(end.subscriptions(), 0);
}

#[test]
fn rfc3856_s6_3_accept_without_pidf_is_406_and_bad_event_489() {
    let mut a = agent();
    assert_eq!(
        do_subscribe(&mut a, 0, "Accept: text/plain\r\n", "", 1)
            .0
            .status,
        406
    );
    let text = String::from_utf8(subscribe("", "", 1))
        .unwrap()
        .replace("Event: presence", "Event: dialog");
    let r = a
        .on_subscribe(0, &parse(text.as_bytes()).unwrap(), path())
        .0;
    assert_eq!(r.status, 489);
    assert_eq!(
        do_subscribe(&mut a, 0, "Expires: 5\r\n", "", 1).0.status,
        423
    );
}

#[test]
fn rfc3903_s6_expired_publication_notifies_watchers() {
    let mut a = agent();
    let (_, n) = do_subscribe(&mut a, 0, "Expires: 3600\r\n", "", 1);
    a.on_notify_result(1, &n[0].dialog, Some(200));
    let (_, n) = do_publish(&mut a, 2, "Expires: 60\r\n", PIDF_OPEN);
    a.on_notify_result(3, &n[0].dialog, Some(200));
    let n = a.on_timeout(60_002);
    assert_eq!(n.len(), 1);
    assert!(
        notify_body(&n[0]).contains("closed"),
        "{}",
        notify_body(&n[0])
    );
}

#[test]
fn every_change_is_reported_for_the_store() {
    let mut a = agent();
    let (r, n) = do_subscribe(&mut a, 0, "", "", 1);
    let changes = a.take_changes();
    assert!(matches!(changes.last(), Some(Change::Subscription(d)) if d.local_cseq == 1));
    let etag = {
        do_publish(&mut a, 1, "", PIDF_OPEN);
        let c = a.take_changes();
        match c.first() {
            Some(Change::Publication(p)) => p.etag.clone(),
            other => panic!("{other:?}"),
        }
    };
    do_publish(&mut a, 2, &format!("SIP-If-Match: {etag}\r\n"), "");
    let c = a.take_changes();
    assert_eq!(
        c.first(),
        Some(&Change::PublicationGone(etag)),
        "a refresh retires the old tag"
    );
    assert!(matches!(c.get(1), Some(Change::Publication(_))));
    a.on_notify_result(3, &n[0].dialog, Some(481));
    assert_eq!(
        a.take_changes(),
        vec![Change::SubscriptionGone(n[0].dialog.clone())]
    );
    let _ = r;
}

#[test]
fn rfc6665_s4_2_2_restored_state_resumes_with_higher_cseq() {
    let mut a = agent();
    let (_, n) = do_subscribe(&mut a, 0, "Expires: 600\r\n", "", 1);
    a.on_notify_result(1, &n[0].dialog, Some(200));
    do_publish(&mut a, 2, "", PIDF_OPEN);
    let mut pubs = Vec::new();
    let mut dialogs = std::collections::HashMap::new();
    for c in a.take_changes() {
        match c {
            Change::Publication(p) => pubs.push(p),
            Change::Subscription(d) => {
                dialogs.insert(d.id.clone(), d);
            }
            _ => {}
        }
    }
    let dialogs: Vec<_> = dialogs.into_values().collect();
    let seen = dialogs[0].local_cseq;
    // A new agent (the node restarted) on the same state.
    let mut b = agent();
    let n = b.restore(10_000, pubs, dialogs.clone(), 100);
    assert!(n.is_empty(), "nothing expired");
    assert_eq!(b.subscriptions(), 1);
    assert_eq!(b.publications(), 1);
    let (_, n) = do_publish(&mut b, 11_000, "", PIDF_CLOSED);
    assert_eq!(n.len(), 1);
    let cseq = parse(&n[0].bytes).unwrap().cseq().unwrap().seq;
    assert!(cseq > seen, "{cseq} > {seen}");
    // Restored after the subscription expired: a terminated NOTIFY at once.
    let mut c = agent();
    let n = c.restore(700_000, vec![], dialogs, 100);
    assert_eq!(n.len(), 1);
    assert_eq!(substate(&n[0]), "terminated;reason=timeout");
}

fn rule(watcher: &str, action: Action) -> Rule {
    Rule::new("alice@example.com", watcher, action)
}

#[test]
fn rfc3856_s6_6_block_is_403() {
    let mut a = agent();
    a.set_rules(0, vec![rule("bob@example.com", Action::Block)]);
    let (r, n) = do_subscribe(&mut a, 0, "", "", 1);
    assert_eq!(r.status, 403);
    assert!(n.is_empty());
    assert_eq!(a.subscriptions(), 0);
}

#[test]
fn rfc3856_s6_6_2_polite_block_sees_a_neutral_closed_document() {
    let mut a = agent();
    a.set_rules(0, vec![rule("bob@example.com", Action::PoliteBlock)]);
    do_publish(&mut a, 0, "", PIDF_OPEN);
    let (r, n) = do_subscribe(&mut a, 1, "", "", 1);
    assert_eq!(r.status, 200, "indistinguishable from allow");
    assert_eq!(substate(&n[0]), "active;expires=3600");
    let b = notify_body(&n[0]);
    assert!(b.contains("closed") && !b.contains("open"), "{b}");
}

#[test]
fn rfc3856_s6_6_confirm_is_pending_until_a_rule_decides() {
    let mut a = agent();
    a.set_rules(0, vec![rule("bob@example.com", Action::Confirm)]);
    do_publish(&mut a, 0, "", PIDF_OPEN);
    let (r, n) = do_subscribe(&mut a, 1, "", "", 1);
    assert_eq!(r.status, 200);
    assert!(substate(&n[0]).starts_with("pending"));
    assert!(
        notify_body(&n[0]).is_empty(),
        "pending NOTIFYs carry no state"
    );
    a.on_notify_result(2, &n[0].dialog, Some(200));
    let n = a.set_rules(3, vec![rule("bob@example.com", Action::Allow)]);
    assert_eq!(n.len(), 1);
    assert!(substate(&n[0]).starts_with("active"));
    assert!(notify_body(&n[0]).contains("open"));
}

#[test]
fn rfc3856_s6_6_confirm_then_reject_terminates_with_reason_rejected() {
    let mut a = agent();
    a.set_rules(0, vec![rule("*", Action::Confirm)]);
    let (_, n) = do_subscribe(&mut a, 1, "", "", 1);
    a.on_notify_result(2, &n[0].dialog, Some(200));
    let n = a.set_rules(3, vec![rule("bob@example.com", Action::Block)]);
    assert_eq!(substate(&n[0]), "terminated;reason=rejected");
}

#[test]
fn default_policy_same_domain() {
    let mut a = Agent::new(
        Policy {
            authorization: DefaultPolicy::AllowSameDomain,
            ..Policy::default()
        },
        1,
    );
    let (_, n) = do_subscribe(&mut a, 0, "", "", 1);
    assert!(
        substate(&n[0]).starts_with("active"),
        "bob@example.com watches alice@example.com"
    );
    let text = String::from_utf8(subscribe("", "", 1))
        .unwrap()
        .replace("sip:bob@example.com", "sip:eve@other.example");
    let (_, n) = a.on_subscribe(0, &parse(text.as_bytes()).unwrap(), path());
    assert!(
        substate(&n[0]).starts_with("pending"),
        "another domain waits"
    );
}

fn winfo_subscribe(a: &mut Agent, now: u64, from: &str) -> (Answer, Vec<Notify>) {
    let text = String::from_utf8(subscribe("Accept: application/watcherinfo+xml\r\n", "", 1))
        .unwrap()
        .replace("Event: presence", "Event: presence.winfo")
        .replace("Call-ID: sub1", "Call-ID: winfo1")
        .replace(
            "From: <sip:bob@example.com>",
            &format!("From: <sip:{from}>"),
        );
    a.on_subscribe(now, &parse(text.as_bytes()).unwrap(), path())
}

#[test]
fn rfc3857_winfo_full_then_partial_documents() {
    let mut a = agent();
    // someone else may not see alice's watchers
    assert_eq!(winfo_subscribe(&mut a, 0, "bob@example.com").0.status, 403);
    let (r, n) = winfo_subscribe(&mut a, 0, "alice@example.com");
    assert_eq!(r.status, 200);
    let full = winfo::parse(parse(&n[0].bytes).unwrap().body).unwrap();
    assert_eq!((full.version, full.state), (0, winfo::DocState::Full));
    assert_eq!(full.watchers().count(), 0);
    a.on_notify_result(1, &n[0].dialog, Some(200));
    // bob subscribes to alice's presence: the winfo subscriber hears of it
    a.set_rules(1, vec![rule("bob@example.com", Action::Confirm)]);
    let (_, n) = do_subscribe(&mut a, 2, "", "", 1);
    let to_winfo: Vec<&Notify> = n.iter().filter(|x| x.dialog.call_id == "winfo1").collect();
    assert_eq!(to_winfo.len(), 1);
    let partial = winfo::parse(parse(&to_winfo[0].bytes).unwrap().body).unwrap();
    assert_eq!(
        (partial.version, partial.state),
        (1, winfo::DocState::Partial)
    );
    let w = partial.watchers().next().unwrap();
    assert_eq!(
        (w.status, w.event),
        (WinfoStatus::Pending, WinfoEvent::Subscribe)
    );
}

#[test]
fn the_overlay_hears_of_the_first_and_last_watcher_and_of_local_state() {
    let mut a = agent();
    let (r, _) = do_subscribe(&mut a, 0, "Expires: 600\r\n", "", 1);
    let tag = r.to_tag.clone().unwrap();
    assert_eq!(
        a.take_interests(),
        vec![Interest::Watch("alice@example.com".into())]
    );
    assert_eq!(a.local_document("alice@example.com"), None);
    do_publish(&mut a, 10, "Expires: 120\r\n", PIDF_OPEN);
    assert_eq!(
        a.take_interests(),
        vec![Interest::Local("alice@example.com".into())]
    );
    let doc = a.local_document("alice@example.com").unwrap();
    assert!(doc.contains("<basic>open</basic>"), "{doc}");
    do_subscribe(&mut a, 20, "Expires: 0\r\n", &tag, 2);
    assert_eq!(
        a.take_interests(),
        vec![Interest::Unwatch("alice@example.com".into())]
    );
}

/// DESIGN.md "Several homes": the states of remote homes compose with the
/// local publications, and a home that goes away is taken out.
#[test]
fn remote_homes_compose_with_local_publications() {
    let mut a = agent();
    do_subscribe(&mut a, 0, "Expires: 600\r\n", "", 1);
    // A remote state for a presentity nobody here watches is ignored.
    assert!(
        a.set_remote(1, "carol@example.com", "pc2", Some(PIDF_OPEN))
            .is_empty()
    );
    let remote = PIDF_OPEN.replace("t1", "remote-tuple");
    let n = a.set_remote(2, "alice@example.com", "pc2", Some(&remote));
    // The initial NOTIFY is still unanswered: the change waits for it.
    assert!(n.is_empty());
    let first = a.dialogs.keys().next().unwrap().clone();
    let n = a.on_notify_result(3, &first, Some(200));
    assert_eq!(n.len(), 1);
    assert!(notify_body(&n[0]).contains("remote-tuple"));
    a.on_notify_result(4, &first, Some(200));
    do_publish(&mut a, 5, "Expires: 120\r\n", PIDF_CLOSED);
    let doc = a.document("alice@example.com");
    assert!(doc.contains("remote-tuple") && doc.contains("t1"), "{doc}");
    let detail = a.presentity(6, "alice@example.com").unwrap();
    assert_eq!(detail.homes, vec!["pc2".to_string()]);
    assert_eq!(detail.publications.len(), 1);
    assert_eq!(detail.watchers.len(), 1);
    // The view shows what watchers are told: the remote home is open, the
    // local publication closed. The overlay exports only the local one.
    assert_eq!(detail.document, doc);
    assert_eq!(detail.availability, "online");
    let local = a.local_document("alice@example.com").unwrap();
    assert!(
        local.contains("t1") && !local.contains("remote-tuple"),
        "{local}"
    );
    // The home is gone: only the local publication is left.
    a.on_notify_result(7, &first, Some(200));
    let n = a.set_remote(8, "alice@example.com", "pc2", None);
    assert_eq!(n.len(), 1);
    let body = notify_body(&n[0]);
    assert!(
        !body.contains("remote-tuple") && body.contains("t1"),
        "{body}"
    );
    // The same state twice notifies nobody.
    a.on_notify_result(9, &first, Some(200));
    assert!(
        a.set_remote(10, "alice@example.com", "pc3", Some(&remote))
            .len()
            == 1
    );
    a.on_notify_result(11, &first, Some(200));
    assert!(
        a.set_remote(12, "alice@example.com", "pc3", Some(&remote))
            .is_empty()
    );
    let list = a.presentities(10);
    assert_eq!(list[0].aor, "alice@example.com");
    assert_eq!(list[0].watchers, 1);
}
