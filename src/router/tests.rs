use super::*;
use crate::sip::parse;

fn req(start: &str, extra: &str) -> Vec<u8> {
    let method = start.split(' ').next().unwrap();
    format!(
        "{start} SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 {method}\r\n{extra}\r\n"
    )
    .into_bytes()
}

fn decide(start: &str, extra: &str) -> Decision {
    let bytes = req(start, extra);
    let m = parse(&bytes).unwrap();
    route(&m, &Capabilities::node())
}

fn status(d: &Decision) -> u16 {
    match d {
        Decision::Answer(a) => a.status,
        other => panic!("{other:?}"),
    }
}

fn header<'d>(d: &'d Decision, name: &str) -> Option<&'d str> {
    match d {
        Decision::Answer(a) => a
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str()),
        _ => None,
    }
}

#[test]
fn rfc3261_s11_2_options_answered_with_capabilities() {
    let d = decide("OPTIONS sip:pc.example.com", "");
    assert_eq!(status(&d), 200);
    assert_eq!(header(&d, "Allow"), Some("OPTIONS"));
    assert_eq!(header(&d, "Supported"), Some(""));
    assert_eq!(header(&d, "Accept"), Some(""));
    assert_eq!(
        header(&d, "Allow-Events"),
        None,
        "empty Allow-Events is not valid SIP"
    );
    let mut caps = Capabilities::node();
    caps.event_packages.push("presence");
    caps.methods.push(Method::Subscribe);
    let bytes = req("OPTIONS sip:pc.example.com", "");
    let Decision::Answer(a) = route(&parse(&bytes).unwrap(), &caps) else {
        panic!()
    };
    assert!(a.headers.contains(&("Allow-Events", "presence".into())));
    assert!(a.headers.contains(&("Allow", "OPTIONS, SUBSCRIBE".into())));
}

#[test]
fn rfc3261_s8_2_1_known_method_not_served_is_405_with_allow() {
    let d = decide("INVITE sip:bob@example.com", "");
    assert_eq!(status(&d), 405);
    assert_eq!(header(&d, "Allow"), Some("OPTIONS"));
}

#[test]
fn rfc6665_s4_1_3_notify_reaching_the_router_is_481_without_allow() {
    let d = decide(
        "NOTIFY sip:a@b",
        "Event: presence\r\nSubscription-State: active\r\n",
    );
    assert_eq!(status(&d), 481);
    assert_eq!(header(&d, "Allow"), None);
    match d {
        Decision::Answer(a) => assert_eq!(a.reason, "Subscription Does Not Exist"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn rfc3261_s8_2_1_unknown_method_is_501_with_allow() {
    let d = decide("FOO sip:bob@example.com", "");
    assert_eq!(status(&d), 501);
    assert_eq!(header(&d, "Allow"), Some("OPTIONS"));
}

#[test]
fn rfc3261_s16_3_unknown_scheme_is_416() {
    assert_eq!(status(&decide("OPTIONS tel:+15551234", "")), 416);
    assert_eq!(status(&decide("OPTIONS mailto:a@b", "")), 416);
}

#[test]
fn rfc3261_s16_3_max_forwards_zero_is_483_except_options() {
    assert_eq!(
        status(&decide(
            "MESSAGE sip:bob@example.com",
            "Max-Forwards: 0\r\n"
        )),
        483
    );
    assert_eq!(
        status(&decide(
            "OPTIONS sip:bob@example.com",
            "Max-Forwards: 0\r\n"
        )),
        200
    );
    assert_eq!(
        status(&decide(
            "MESSAGE sip:bob@example.com",
            "Max-Forwards: 1\r\n"
        )),
        405
    );
}

#[test]
fn rfc3261_s16_3_and_s8_2_2_3_unsupported_extensions_are_420() {
    let d = decide(
        "OPTIONS sip:x@example.com",
        "Proxy-Require: foo, bar\r\nRequire: baz\r\n",
    );
    assert_eq!(status(&d), 420);
    assert_eq!(
        header(&d, "Unsupported"),
        Some("foo, bar"),
        "the proxy check comes first"
    );
    let d = decide("OPTIONS sip:x@example.com", "Require: baz\r\n");
    assert_eq!(header(&d, "Unsupported"), Some("baz"));
}

#[test]
fn rfc3261_s17_ack_is_never_answered_and_cancel_finds_nothing() {
    assert_eq!(decide("ACK sip:x@example.com", ""), Decision::Absorb);
    assert_eq!(status(&decide("CANCEL sip:x@example.com", "")), 481);
}

#[test]
fn served_methods_go_to_their_service() {
    let mut caps = Capabilities::node();
    caps.methods.push(Method::Publish);
    let bytes = req("PUBLISH sip:a@example.com", "");
    assert_eq!(
        route(&parse(&bytes).unwrap(), &caps),
        Decision::Serve(Method::Publish)
    );
}
