use super::*;
use crate::sip::parse;

const REQ: &[u8] = b"OPTIONS sip:pc.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;rport\r\n\
Via: SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1\r\n\
From: \"Alice\" <sip:alice@atlanta.com>;tag=1928301774\r\n\
To: <sip:pc.example.com>\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 63104 OPTIONS\r\n\
Max-Forwards: 70\r\n\
Content-Length: 0\r\n\r\n";

fn src() -> SocketAddr {
    "192.0.2.4:40000".parse().unwrap()
}

#[test]
fn rfc3261_s18_2_1_received_added_when_sent_by_differs() {
    let m = parse(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP a.example.com:5070;branch=z9hG4bKa\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n").unwrap();
    let v = m.top_via().unwrap();
    assert_eq!(
        stamp_via(v, src(), false),
        "SIP/2.0/UDP a.example.com:5070;branch=z9hG4bKa;received=192.0.2.4"
    );
    assert_eq!(
        response_target(v, src(), false),
        "192.0.2.4:5070".parse().unwrap(),
        "§18.2.2: received address, sent-by port"
    );
    let m = parse(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKa\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n").unwrap();
    let v = m.top_via().unwrap();
    assert_eq!(
        stamp_via(v, src(), false),
        "SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKa",
        "same address: nothing added"
    );
    assert_eq!(
        response_target(v, src(), false),
        "192.0.2.4:5060".parse().unwrap(),
        "no port in sent-by: 5060"
    );
}

#[test]
fn rfc3581_s4_rport_filled_in_with_received() {
    let m = parse(REQ).unwrap();
    let v = m.top_via().unwrap();
    assert_eq!(
        stamp_via(v, src(), false),
        "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;received=192.0.2.4;rport=40000"
    );
    assert_eq!(
        response_target(v, src(), false),
        src(),
        "RFC 3581 §4: back to the source port"
    );
}

#[test]
fn force_rport_answers_the_source_port() {
    let m = parse(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKa\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n").unwrap();
    let v = m.top_via().unwrap();
    assert_eq!(response_target(v, src(), true), src());
    assert!(stamp_via(v, src(), true).ends_with(";received=192.0.2.4;rport=40000"));
}

#[test]
fn rfc3261_s8_2_6_2_response_copies_the_dialog_headers_and_tags_to() {
    let m = parse(REQ).unwrap();
    let stamped = stamp_via(m.top_via().unwrap(), src(), false);
    let reply = Reply {
        status: 200,
        reason: "OK",
        to_tag: Some("abc"),
        headers: vec![("Allow", "OPTIONS".into())],
        body: None,
    };
    let bytes = build(&m, Some(&stamped), &reply);
    let r = parse(&bytes).unwrap();
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.vias().count(), 2);
    assert_eq!(r.top_via().unwrap().rport(), Some(Some(40000)));
    assert_eq!(r.from().unwrap().tag(), Some("1928301774"));
    assert_eq!(r.to().unwrap().tag(), Some("abc"));
    assert_eq!(r.call_id(), Some("a84b4c76e66710"));
    assert_eq!(r.cseq(), m.cseq());
    assert_eq!(r.raw("Allow").count() + r.allow().count(), 1);
    assert_eq!(r.content_length(), Some(0));
    let trying = build(
        &m,
        None,
        &Reply {
            status: 100,
            reason: "Trying",
            to_tag: Some("abc"),
            ..Reply::default()
        },
    );
    assert_eq!(
        parse(&trying).unwrap().to().unwrap().tag(),
        None,
        "§8.2.6.2: no tag on 100"
    );
}

#[test]
fn body_gets_type_and_length() {
    let m = parse(REQ).unwrap();
    let reply = Reply {
        status: 200,
        reason: "OK",
        to_tag: Some("t"),
        headers: vec![],
        body: Some(("text/plain", b"hi")),
    };
    let r = build(&m, None, &reply);
    let r = parse(&r).unwrap();
    assert_eq!(r.body, b"hi");
    assert!(r.content_type().unwrap().is("text", "plain"));
}

#[test]
fn rfc3261_s8_2_6_salvaged_400_for_an_unparsable_request() {
    let raw = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/rfc4475/badinv01.dat"
    ))
    .unwrap();
    let out = salvage(&raw, 400, "Malformed Via header", "x1", &[]).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("SIP/2.0 400 Malformed Via header\r\n"));
    assert!(text.contains("\r\nVia: SIP/2.0/UDP 192.0.2.15;;,;,,\r\n"));
    assert!(text.contains("\r\nTo: sip:j.user@example.com;tag=x1\r\n"));
    assert!(text.contains("\r\nCall-ID: badinv01.0ha0isndaksdjasdf3234nas\r\n"));
    assert!(text.contains("\r\nCSeq: 8 INVITE\r\n"));
    assert!(!text.contains("Contact"));
    assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
    // nothing to answer: a response, or no Via at all
    assert!(salvage(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n", 400, "x", "t", &[]).is_none());
    let test = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/rfc4475/test.dat"
    ))
    .unwrap();
    assert!(salvage(&test, 400, "x", "t", &[]).is_none());
}

#[test]
fn salvage_keeps_folded_lines_and_existing_tags() {
    let raw = b"FOO sip:x SIP/2.0\r\nv: SIP/2.0/UDP h\r\n ;branch=z9hG4bKa\r\nt: <sip:x>;tag=9\r\nX: y\r\n\r\n";
    let text =
        String::from_utf8(salvage(raw, 400, "Bad", "new", &[("Allow", "OPTIONS".into())]).unwrap())
            .unwrap();
    assert!(
        text.contains("v: SIP/2.0/UDP h\r\n ;branch=z9hG4bKa\r\n"),
        "{text}"
    );
    assert!(text.contains("t: <sip:x>;tag=9\r\n"), "{text}");
    assert!(!text.contains("new"));
    assert!(
        text.ends_with("Allow: OPTIONS\r\nContent-Length: 0\r\n\r\n"),
        "{text}"
    );
}
