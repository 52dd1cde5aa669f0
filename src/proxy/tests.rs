use super::*;
use crate::sip::parse;

fn local() -> Local {
    Local {
        addrs: vec!["192.0.2.10:5060".parse().unwrap()],
    }
}

fn hop() -> Hop<'static> {
    Hop {
        transport: "UDP",
        sent_by: "192.0.2.10:5060".parse().unwrap(),
        record_route: "192.0.2.10:5060".parse().unwrap(),
        record_route_transport: "UDP",
    }
}

const INVITE: &str = "INVITE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.1:5070;branch=z9hG4bKa1\r\nMax-Forwards: 10\r\nFrom: <sip:alice@a.example>;tag=f1\r\nTo: <sip:bob@b.example>\r\nCall-ID: c1@x\r\nCSeq: 7 INVITE\r\nContact: <sip:alice@198.51.100.1:5070>\r\nX-Odd-Header:   kept   as IS  \r\nContent-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n";

/// The plan, the request built from it, and that request as text.
fn forwarded(text: &str) -> (Plan, Forward, String) {
    let bytes = text.as_bytes().to_vec();
    let m = parse(&bytes).unwrap();
    let top = m.top_via().unwrap().to_string() + ";received=198.51.100.1";
    let p = plan(&m, &local()).unwrap();
    let f = build(&m, &p, &hop(), "u1", &top);
    let s = String::from_utf8(f.bytes.clone()).unwrap();
    (p, f, s)
}

#[test]
fn rfc3261_s16_6_our_via_on_top_max_forwards_down_unknown_headers_and_body_untouched() {
    let (p, f, s) = forwarded(INVITE);
    let m = parse(s.as_bytes()).unwrap();
    let vias: Vec<String> = m.vias().map(|v| v.to_string()).collect();
    assert_eq!(vias.len(), 2);
    assert!(vias[0].starts_with("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-pc"));
    assert_eq!(m.top_via().unwrap().branch(), Some(f.branch.as_str()));
    assert!(vias[1].contains("received=198.51.100.1"));
    assert_eq!(m.max_forwards(), Some(9));
    assert!(s.contains("\r\nX-Odd-Header:   kept   as IS  \r\n"), "{s}");
    assert_eq!(m.body, b"v=0\n");
    assert_eq!(p.next_hop, "sip:bob@b.example");
    assert!(p.by_request_uri);
}

#[test]
fn rfc3261_s16_6_step_4_dialog_creating_requests_are_record_routed() {
    let (_, _, s) = forwarded(INVITE);
    let m = parse(s.as_bytes()).unwrap();
    let rr: Vec<String> = m.record_routes().map(|r| r.to_string()).collect();
    assert_eq!(
        rr,
        vec!["<sip:192.0.2.10:5060;transport=udp;lr>".to_string()]
    );
    // First among the headers after our Via.
    assert!(
        s.split("\r\n")
            .nth(2)
            .unwrap()
            .starts_with("Record-Route: "),
        "{s}"
    );
    let message = INVITE.replace("INVITE", "MESSAGE");
    let (_, _, s) = forwarded(&message);
    assert!(
        parse(s.as_bytes())
            .unwrap()
            .record_routes()
            .next()
            .is_none()
    );
}

#[test]
fn rfc3261_s16_6_step_3_max_forwards_is_added_when_absent() {
    let (_, _, s) = forwarded(&INVITE.replace("Max-Forwards: 10\r\n", ""));
    assert_eq!(parse(s.as_bytes()).unwrap().max_forwards(), Some(70));
}

#[test]
fn rfc3261_s16_3_step_4_the_same_request_back_is_a_loop_a_spiral_is_not() {
    let (_, _, once) = forwarded(INVITE);
    let back = parse(once.as_bytes()).unwrap();
    let e = plan(&back, &local()).unwrap_err();
    assert_eq!((e.status, e.reason), (482, "Loop Detected"));
    // Retargeted (a spiral): forwarded again.
    let spiral = once.replace("INVITE sip:bob@b.example", "INVITE sip:bob@c.example");
    let m = parse(spiral.as_bytes()).unwrap();
    assert!(plan(&m, &local()).is_ok());
}

#[test]
fn rfc3261_s16_4_a_top_route_naming_us_is_removed() {
    let text = INVITE.replace(
        "Max-Forwards: 10\r\n",
        "Max-Forwards: 10\r\nRoute: <sip:192.0.2.10;lr>, <sip:core.example;lr>\r\n",
    );
    let (p, _, s) = forwarded(&text);
    let m = parse(s.as_bytes()).unwrap();
    let routes: Vec<String> = m.routes().map(|r| r.to_string()).collect();
    assert_eq!(routes, vec!["<sip:core.example;lr>".to_string()]);
    assert_eq!(p.next_hop, "sip:core.example;lr");
    assert!(!p.by_request_uri);
    assert_eq!(m.request_uri().unwrap().to_string(), "sip:bob@b.example");
}

#[test]
fn rfc3261_s16_4_a_strict_router_before_us_is_fixed_up() {
    // The previous hop put our URI in the Request-URI and the real target
    // at the end of Route.
    let text = INVITE
        .replace("INVITE sip:bob@b.example", "INVITE sip:192.0.2.10:5060")
        .replace(
            "Max-Forwards: 10\r\n",
            "Max-Forwards: 10\r\nRoute: <sip:bob@b.example>\r\n",
        );
    let (p, _, s) = forwarded(&text);
    let m = parse(s.as_bytes()).unwrap();
    assert_eq!(m.request_uri().unwrap().to_string(), "sip:bob@b.example");
    assert!(m.routes().next().is_none());
    assert!(p.by_request_uri);
}

/// The node decides with `plan` before it has a hop (and builds per
/// candidate later): refusals (§16.3 steps 3 and 4, 416 for a non-SIP
/// Request-URI) and the next hop (§16.4, §16.6 step 7).
#[test]
fn rfc3261_s16_3_the_plan_refuses_and_names_the_next_hop() {
    let routed = INVITE.replace(
        "Max-Forwards: 10\r\n",
        "Max-Forwards: 10\r\nRoute: <sip:192.0.2.10;lr>, <sip:core.example;lr>\r\n",
    );
    let strict = INVITE
        .replace("INVITE sip:bob@b.example", "INVITE sip:192.0.2.10:5060")
        .replace(
            "Max-Forwards: 10\r\n",
            "Max-Forwards: 10\r\nRoute: <sip:bob@b.example>\r\n",
        );
    let no_hops = INVITE.replace("Max-Forwards: 10", "Max-Forwards: 0");
    let tel = INVITE.replace("INVITE sip:bob@b.example", "INVITE tel:+15551234");
    // A Route is a name-addr (§20.34): a display name may hold "<" and ">".
    let named = INVITE.replace(
        "Max-Forwards: 10\r\n",
        "Max-Forwards: 10\r\nRoute: \"a<b>c\" <sip:core.example;lr>\r\n",
    );
    // the next hop and whether it is the Request-URI, or the refusal
    type Want = Result<(&'static str, bool), u16>;
    let cases: [(String, Want); 6] = [
        (INVITE.to_string(), Ok(("sip:bob@b.example", true))),
        (routed, Ok(("sip:core.example;lr", false))),
        (named, Ok(("sip:core.example;lr", false))),
        (strict, Ok(("sip:bob@b.example", true))),
        (no_hops, Err(483)),
        (tel, Err(416)),
    ];
    for (text, want) in cases {
        let m = parse(text.as_bytes()).unwrap();
        let got = plan(&m, &local())
            .map(|p| (p.next_hop, p.by_request_uri))
            .map_err(|r| r.status);
        let want = want.map(|(hop, by_uri)| (hop.to_string(), by_uri));
        assert_eq!(got, want, "{text}");
    }
}

#[test]
fn rfc3261_s16_3_step_3_no_hops_left_is_483() {
    let bytes = INVITE
        .replace("Max-Forwards: 10", "Max-Forwards: 0")
        .into_bytes();
    let m = parse(&bytes).unwrap();
    let e = plan(&m, &local()).unwrap_err();
    assert_eq!(e.status, 483);
}

#[test]
fn rfc3261_s16_7_step_3_responses_lose_our_via_and_keep_the_rest() {
    let (_, _, s) = forwarded(INVITE);
    let req = parse(s.as_bytes()).unwrap();
    let vias: Vec<String> = req.vias().map(|v| v.to_string()).collect();
    let resp = format!(
        "SIP/2.0 180 Ringing\r\nVia: {}, {}\r\nFrom: <sip:alice@a.example>;tag=f1\r\nTo: <sip:bob@b.example>;tag=t9\r\nCall-ID: c1@x\r\nCSeq: 7 INVITE\r\nX-Trace: abc\r\nContent-Length: 0\r\n\r\n",
        vias[0], vias[1]
    );
    let m = parse(resp.as_bytes()).unwrap();
    let relayed = relay_response(&m, &local()).unwrap();
    let r = parse(&relayed).unwrap();
    let left: Vec<String> = r.vias().map(|v| v.to_string()).collect();
    assert_eq!(left, vec![vias[1].clone()]);
    assert!(String::from_utf8_lossy(&relayed).contains("X-Trace: abc"));
    // A response whose top Via is not ours is not relayed.
    assert!(relay_response(&r, &local()).is_none());
}

#[test]
fn rfc3261_s9_1_cancel_and_s17_1_1_3_ack_copy_the_invite() {
    let (_, _, s) = forwarded(INVITE);
    let inv = parse(s.as_bytes()).unwrap();
    let cancel = cancel_for(&inv);
    let c = parse(&cancel).unwrap();
    assert_eq!(c.method(), Some(Method::Cancel));
    assert_eq!(c.request_uri(), inv.request_uri());
    assert_eq!(c.vias().count(), 1);
    assert_eq!(
        c.top_via().unwrap().branch(),
        inv.top_via().unwrap().branch()
    );
    assert_eq!(c.cseq().unwrap().seq, 7);
    assert_eq!(c.cseq().unwrap().method, Method::Cancel);
    let resp = "SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP x;branch=z9hG4bKz\r\nFrom: <sip:alice@a.example>;tag=f1\r\nTo: <sip:bob@b.example>;tag=t9\r\nCall-ID: c1@x\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n";
    let r = parse(resp.as_bytes()).unwrap();
    let ack = ack_for(&inv, &r);
    let a = parse(&ack).unwrap();
    assert_eq!(a.method(), Some(Method::Ack));
    assert_eq!(a.to().unwrap().tag(), Some("t9"));
    assert_eq!(a.cseq().unwrap().method, Method::Ack);
}

/// §16.6 step 8: the loop hash reads Proxy-Require and Proxy-Authorization
/// by value, so a proxy that respells them does not hide a loop.
#[test]
fn rfc3261_s16_6_step_8_the_loop_hash_ignores_how_headers_are_spelt() {
    let with = |line: &str| {
        let text = INVITE.replace(
            "Max-Forwards: 10\r\n",
            &format!("Max-Forwards: 10\r\n{line}\r\n"),
        );
        loop_hash(&parse(text.as_bytes()).unwrap())
    };
    assert_eq!(
        with("Proxy-Require: foo,bar"),
        with("proxy-require :   foo ,\r\n bar")
    );
    assert_ne!(with("Proxy-Require: foo"), with("Proxy-Require: baz"));
}
