use super::*;
use crate::sip::parse;

fn fed() -> Federation {
    Federation::new("192.0.2.1:5060", 600, 7)
}

fn ok_for(req: &[u8], extra: &str) -> Vec<u8> {
    let m = parse(req).unwrap();
    let via = m.top_via().unwrap().to_string();
    let from = m.from().unwrap().to_string();
    let to = m.to().unwrap().to_string();
    format!(
        "SIP/2.0 200 OK\r\nVia: {via}\r\nFrom: {from}\r\nTo: {to};tag=remote1\r\nCall-ID: {}\r\nCSeq: {} SUBSCRIBE\r\nContact: <sip:ps@198.51.100.7:5070>\r\n{extra}Content-Length: 0\r\n\r\n",
        m.call_id().unwrap(),
        m.cseq().unwrap().seq
    )
    .into_bytes()
}

fn notify(call_id: &str, local_tag: &str, state: &str, body: &str) -> Vec<u8> {
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/pidf+xml\r\n"
    };
    format!(
        "NOTIFY sip:192.0.2.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5070;branch=z9hG4bKn1\r\nFrom: <sip:p@b.example>;tag=remote1\r\nTo: <sip:presence@192.0.2.1>;tag={local_tag}\r\nCall-ID: {call_id}\r\nCSeq: 1 NOTIFY\r\nContact: <sip:ps@198.51.100.7:5070>\r\nEvent: presence\r\nSubscription-State: {state}\r\n{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn tag_of(req: &[u8]) -> String {
    parse(req)
        .unwrap()
        .from()
        .unwrap()
        .tag()
        .unwrap()
        .to_string()
}

#[test]
fn one_backend_subscription_per_presentity_however_many_watch() {
    let mut f = fed();
    let o = f.watch("p@b.example").unwrap();
    assert!(o.routes.is_empty() && o.domain == "b.example" && !o.ending);
    assert_eq!(f.watch("p@b.example"), None);
    assert_eq!(f.len(), 1);
    let req = f.request(&o, "UDP", "192.0.2.1:5060", "z9hG4bKx");
    let m = parse(&req).unwrap();
    assert_eq!(m.request_uri().unwrap().to_string(), "sip:p@b.example");
    assert_eq!(m.expires(), Some(600));
    assert_eq!(m.event().unwrap().package(), "presence");
}

#[test]
fn rfc6665_s4_1_2_2_the_subscription_is_refreshed_before_it_expires() {
    let mut f = fed();
    let o = f.watch("p@b.example").unwrap();
    let req = f.request(&o, "UDP", "192.0.2.1:5060", "z9hG4bKx");
    let resp = ok_for(&req, "Expires: 100\r\n");
    let r = parse(&resp).unwrap();
    f.on_response(0, &o.call_id, Some(200), Some(&r));
    assert_eq!(f.next_deadline(), Some(80_000));
    let refresh = f.on_timeout(80_000);
    assert_eq!(refresh.len(), 1);
    let req = f.request(&refresh[0], "UDP", "192.0.2.1:5060", "z9hG4bKy");
    let m = parse(&req).unwrap();
    // In the dialog: to its Contact, with both tags, CSeq up.
    assert_eq!(
        m.request_uri().unwrap().to_string(),
        "sip:ps@198.51.100.7:5070"
    );
    assert_eq!(m.to().unwrap().tag(), Some("remote1"));
    assert_eq!(m.cseq().unwrap().seq, 2);
}

#[test]
fn rfc6665_s4_1_2_3_the_last_watcher_leaving_unsubscribes() {
    let mut f = fed();
    let o = f.watch("p@b.example").unwrap();
    let req = f.request(&o, "UDP", "192.0.2.1:5060", "z9hG4bKx");
    let resp = ok_for(&req, "Expires: 600\r\n");
    f.on_response(0, &o.call_id, Some(200), Some(&parse(&resp).unwrap()));
    let end = f.unwatch("p@b.example").unwrap();
    assert!(end.ending);
    let req = f.request(&end, "UDP", "192.0.2.1:5060", "z9hG4bKz");
    assert_eq!(parse(&req).unwrap().expires(), Some(0));
    assert_eq!(f.len(), 0);
    // A NOTIFY after it carries nothing the agent needs.
    let n = notify(&o.call_id, &tag_of(&req), "active", "<presence/>");
    let (status, update, _) = f.on_notify(1, &parse(&n).unwrap());
    assert_eq!((status, update), (200, None));
}

#[test]
fn rfc6665_s4_1_2_4_a_notify_before_the_2xx_makes_the_dialog() {
    let mut f = fed();
    let o = f.watch("p@b.example").unwrap();
    let req = f.request(&o, "UDP", "192.0.2.1:5060", "z9hG4bKx");
    let n = notify(&o.call_id, &tag_of(&req), "active;expires=600", "<pidf/>");
    let (status, update, _) = f.on_notify(0, &parse(&n).unwrap());
    assert_eq!(status, 200);
    assert_eq!(update.unwrap().state.as_deref(), Some("<pidf/>"));
}

#[test]
fn rfc6665_s4_1_3_a_notify_matching_no_dialog_is_481() {
    let mut f = fed();
    let n = notify("nope", "x", "active", "");
    assert_eq!(f.on_notify(0, &parse(&n).unwrap()).0, 481);
}

#[test]
fn rfc6665_s4_1_3_terminated_ends_the_state_and_subscribes_again_while_watched() {
    let mut f = fed();
    let o = f.watch("p@b.example").unwrap();
    let req = f.request(&o, "UDP", "192.0.2.1:5060", "z9hG4bKx");
    let resp = ok_for(&req, "Expires: 600\r\n");
    f.on_response(0, &o.call_id, Some(200), Some(&parse(&resp).unwrap()));
    let n = notify(&o.call_id, &tag_of(&req), "terminated;reason=timeout", "");
    let (status, update, sends) = f.on_notify(5, &parse(&n).unwrap());
    assert_eq!(status, 200);
    assert_eq!(update.unwrap().state, None);
    assert_eq!(sends.len(), 1);
    assert_ne!(sends[0].call_id, o.call_id, "a new dialog");
    // reason=rejected: not again.
    let req = f.request(&sends[0], "UDP", "192.0.2.1:5060", "z9hG4bKq");
    let n = notify(
        &sends[0].call_id,
        &tag_of(&req),
        "terminated;reason=rejected",
        "",
    );
    let (_, _, sends) = f.on_notify(6, &parse(&n).unwrap());
    assert!(sends.is_empty());
}

#[test]
fn a_failed_subscription_is_tried_again_later_while_watched() {
    let mut f = fed();
    let o = f.watch("p@b.example").unwrap();
    let (updates, sends) = f.on_response(0, &o.call_id, None, None);
    assert_eq!(
        updates,
        vec![Update {
            aor: "p@b.example".into(),
            state: None
        }]
    );
    assert!(sends.is_empty());
    assert_eq!(f.next_deadline(), Some(30_000));
    let again = f.on_timeout(30_000);
    assert_eq!(again.len(), 1);
    assert!(again[0].routes.is_empty());
}

#[test]
fn rfc6665_s4_1_2_3_the_final_notify_after_an_unsubscribe_is_answered_200() {
    let mut f = fed();
    let o = f.watch("p@b.example").unwrap();
    let req = f.request(&o, "UDP", "192.0.2.1:5060", "z9hG4bKx");
    let tag = tag_of(&req);
    let resp = ok_for(&req, "Expires: 600\r\n");
    f.on_response(0, &o.call_id, Some(200), Some(&parse(&resp).unwrap()));
    let end = f.unwatch("p@b.example").unwrap();
    let end_req = f.request(&end, "UDP", "192.0.2.1:5060", "z9hG4bKe");
    let resp = ok_for(&end_req, "Expires: 0\r\n");
    f.on_response(1, &o.call_id, Some(200), Some(&parse(&resp).unwrap()));
    assert!(f.knows(&o.call_id), "kept for the final NOTIFY");
    let n = notify(&o.call_id, &tag, "terminated;reason=timeout", "<pidf/>");
    let (status, _, sends) = f.on_notify(2, &parse(&n).unwrap());
    assert_eq!(status, 200);
    assert!(sends.is_empty(), "not subscribed again: nobody watches");
    assert!(!f.knows(&o.call_id));
}

#[test]
fn a_watcher_leaving_before_the_2xx_still_ends_the_backend_subscription() {
    let mut f = fed();
    let o = f.watch("p@b.example").unwrap();
    assert_eq!(f.unwatch("p@b.example"), None, "no dialog to end yet");
    let req = f.request(&o, "UDP", "192.0.2.1:5060", "z9hG4bKx");
    let resp = ok_for(&req, "Expires: 600\r\n");
    let (_, sends) = f.on_response(0, &o.call_id, Some(200), Some(&parse(&resp).unwrap()));
    assert_eq!(sends.len(), 1);
    assert!(sends[0].ending, "the 2xx is answered by an unsubscribe");
    // Without a final NOTIFY the dialog is dropped after the linger time.
    assert_eq!(f.next_deadline(), Some(32_000));
    assert!(f.on_timeout(32_000).is_empty());
    assert!(!f.knows(&o.call_id));
}
