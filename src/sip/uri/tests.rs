use super::*;

fn uri(s: &str) -> Uri<'_> {
    Uri::parse(s).unwrap_or_else(|e| panic!("{s}: {e:?}"))
}

fn eq(a: &str, b: &str) -> bool {
    let (x, y) = (uri(a), uri(b));
    assert_eq!(x.equivalent(&y), y.equivalent(&x), "symmetry {a} {b}");
    x.equivalent(&y)
}

#[test]
fn rfc3261_s19_1_1_sip_uri_components() {
    let Uri::Sip(u) = uri("sips:alice:secret@atlanta.com:5061;transport=tcp;lr?subject=x&h=y")
    else {
        panic!()
    };
    assert!(u.secure);
    assert_eq!(u.user, Some("alice"));
    assert_eq!(u.password, Some("secret"));
    assert_eq!(u.host.raw, "atlanta.com");
    assert_eq!(u.port, Some(5061));
    assert_eq!(u.transport(), Some("tcp"));
    assert!(u.lr());
    assert_eq!(u.headers.len(), 2);
}

#[test]
fn rfc4475_s3_1_1_9_semicolon_in_user_part() {
    let Uri::Sip(u) = uri("sip:user;par=u%40example.net@example.com") else {
        panic!()
    };
    assert_eq!(u.user, Some("user;par=u%40example.net"));
    assert_eq!(u.host.raw, "example.com");
    assert!(u.params.is_empty());
}

#[test]
fn rfc3261_s19_1_host_forms() {
    let Uri::Sip(u) = uri("sip:[2001:db8::1]:5070") else {
        panic!()
    };
    assert_eq!(u.host.kind, HostKind::V6("2001:db8::1".parse().unwrap()));
    assert_eq!(u.port, Some(5070));
    let Uri::Sip(u) = uri("sip:192.0.2.1") else {
        panic!()
    };
    assert!(matches!(u.host.kind, HostKind::V4(_)));
    assert!(
        Uri::parse("sip:256.1.1.1").is_err(),
        "not an IPv4 and the toplabel is numeric"
    );
    assert!(Uri::parse("sip:host-.example.com").is_err());
    assert!(Uri::parse("sip:a@host:99999").is_err());
    assert!(Uri::parse("sip:a@host;=x").is_err());
    assert!(Uri::parse("sip:a%4@host").is_err(), "broken escape");
    assert!(Uri::parse("sip:a@b c").is_err());
}

#[test]
fn rfc3261_s19_1_2_socket_address_of_an_ip_host_with_the_default_port() {
    let at = |s: &str| uri(s).as_sip().unwrap().socket_addr();
    assert_eq!(
        at("sip:a@192.0.2.1"),
        Some("192.0.2.1:5060".parse().unwrap())
    );
    assert_eq!(
        at("sips:192.0.2.1"),
        Some("192.0.2.1:5061".parse().unwrap())
    );
    assert_eq!(
        at("sip:[2001:db8::1]:5070;lr"),
        Some("[2001:db8::1]:5070".parse().unwrap())
    );
    assert_eq!(at("sip:a@example.com:5060"), None);
    assert_eq!(HostKind::Domain.ip(), None);
}

#[test]
fn rfc3966_tel_uri() {
    let Uri::Tel(t) = uri("tel:+1-201-555-0123;ext=1234") else {
        panic!()
    };
    assert_eq!(t.number, "+1-201-555-0123");
    assert_eq!(t.params.iter().next().unwrap().name, "ext");
    assert!(eq("tel:+1-201-555-0123", "tel:+1.201.555.0123"));
    assert!(Uri::parse("tel:+").is_err());
}

#[test]
fn other_schemes_are_kept_opaque() {
    let u = uri("nobodyKnowsThisScheme:totallyopaque");
    assert_eq!(u.scheme(), "nobodyKnowsThisScheme");
    assert_eq!(u.to_string(), "nobodyKnowsThisScheme:totallyopaque");
    assert!(Uri::parse("1x:abc").is_err());
}

#[test]
fn rfc3261_s19_1_4_rule1_sip_and_sips_never_equal() {
    assert!(!eq("sip:alice@atlanta.com", "sips:alice@atlanta.com"));
}

#[test]
fn rfc3261_s19_1_4_rule2_userinfo_case_sensitive_rest_insensitive() {
    assert!(!eq(
        "SIP:ALICE@AtLanTa.CoM;Transport=udp",
        "sip:alice@AtLanTa.CoM;Transport=UDP"
    ));
    assert!(!eq("sip:alice:Pw@atlanta.com", "sip:alice:pw@atlanta.com"));
    assert!(eq(
        "sip:alice@AtLanTa.CoM;Transport=udp",
        "SIP:alice@atlanta.com;transport=UDP"
    ));
}

#[test]
fn rfc3261_s19_1_4_rule3_parameter_and_header_order_irrelevant() {
    assert!(eq(
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"
    ));
    assert!(eq(
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x"
    ));
}

#[test]
fn rfc3261_s19_1_4_rule4_unreserved_escapes_equal_their_characters() {
    assert!(eq(
        "sip:%61lice@atlanta.com;transport=TCP",
        "sip:alice@AtLanTa.CoM;Transport=tcp"
    ));
    // an escaped reserved character is not the character itself
    assert!(!eq("sip:a%3Bb@atlanta.com", "sip:a;b@atlanta.com"));
    assert!(eq("sip:a%3bb@atlanta.com", "sip:a%3Bb@atlanta.com"));
}

#[test]
fn rfc3261_s19_1_4_rule5_ip_address_never_equals_host_name() {
    assert!(!eq("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"));
    assert!(eq("sip:bob@[::1]", "sip:bob@[0:0::1]"));
}

#[test]
fn rfc3261_s19_1_4_rule6_user_password_host_port_must_match() {
    assert!(!eq("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));
    assert!(!eq("sip:biloxi.com", "sip:bob@biloxi.com"));
    assert!(!eq("sip:bob@biloxi.com", "sip:bob:pw@biloxi.com"));
    assert!(!eq(
        "sip:bob@biloxi.com",
        "sip:bob@biloxi.com;transport=udp"
    ));
    assert!(!eq(
        "sip:bob@biloxi.com",
        "sip:bob@biloxi.com:6000;transport=tcp"
    ));
}

#[test]
fn rfc3261_s19_1_4_rule7_uri_parameters() {
    assert!(eq(
        "sip:carol@chicago.com",
        "sip:carol@chicago.com;newparam=5"
    ));
    assert!(eq(
        "sip:carol@chicago.com",
        "sip:carol@chicago.com;security=on"
    ));
    assert!(eq(
        "sip:carol@chicago.com;security=on",
        "sip:carol@chicago.com;lr"
    ));
    assert!(!eq(
        "sip:carol@chicago.com;security=on",
        "sip:carol@chicago.com;security=off"
    ));
    for p in [
        "user=phone",
        "ttl=1",
        "method=INVITE",
        "maddr=239.255.255.1",
    ] {
        assert!(
            !eq(
                "sip:carol@chicago.com",
                &format!("sip:carol@chicago.com;{p}")
            ),
            "{p}"
        );
    }
}

#[test]
fn rfc3261_s19_1_4_rule8_headers_never_ignored() {
    assert!(!eq(
        "sip:carol@chicago.com",
        "sip:carol@chicago.com?Subject=next%20meeting"
    ));
    assert!(!eq(
        "sip:carol@chicago.com?Subject=a",
        "sip:carol@chicago.com?Subject=b"
    ));
    assert!(eq(
        "sip:carol@chicago.com?Subject=a",
        "sip:carol@chicago.com?subject=a"
    ));
}

#[test]
fn uris_print_as_received() {
    for s in [
        "sip:user;par=u%40example.net@example.com",
        "sips:a:b@[2001:db8::1]:5061;lr;transport=tls?x=y&z=",
        "tel:+1-201-555-0123;ext=1",
    ] {
        assert_eq!(uri(s).to_string(), s);
    }
}

/// What the one-pass scanner takes, the full URI parser parses to the same
/// value; the name-addr fast path relies on it.
#[test]
fn scan_simple_agrees_with_the_full_parser() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let parts = proptest::collection::vec(
        prop_oneof![
            Just("sip:"),
            Just("sips:"),
            Just("Sip:"),
            Just("tel:"),
            Just("@"),
            Just(":"),
            Just(";"),
            Just("="),
            Just(","),
            Just("?"),
            Just("&"),
            Just("%"),
            Just("%4a"),
            Just("["),
            Just("]"),
            Just("."),
            Just("-"),
            Just(">"),
            Just(" "),
            Just("alice"),
            Just("x9"),
            Just("example.com"),
            Just("10.0.0.1"),
            Just("65535"),
            Just("65536"),
            Just("transport=tcp"),
            Just("lr"),
            Just("$"),
            Just("/"),
        ],
        1..12,
    );
    let mut runner = TestRunner::new(Config {
        cases: 4000,
        ..Config::default()
    });
    runner
        .run(&parts, |p| {
            let s = p.concat();
            if let Some((u, n)) = SipUri::scan_simple(&s) {
                prop_assert_eq!(Uri::parse_full(&s[..n]), Ok(Uri::Sip(u)), "{:?}", s);
            }
            Ok(())
        })
        .unwrap();
    for s in [
        "sip:alice@example.com:5060;transport=udp",
        "sips:[::1]",
        "sip:a@b?x=y",
    ] {
        if let Some((u, n)) = SipUri::scan_simple(s) {
            assert_eq!(Uri::parse_full(&s[..n]), Ok(Uri::Sip(u)), "{s}");
        }
    }
    assert!(SipUri::scan_simple("sip:alice@example.com:5060;transport=udp").is_some());
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 6000, ..Default::default() })]

    /// URIs built slot by slot, mostly from valid pieces and sometimes from
    /// pieces that break the simple shape, so that the scanner's answers
    /// and its refusals are both exercised against the full grammar (which
    /// [`Uri::parse`] falls back to, and which the name-addr and Via fast
    /// paths' own agreement tests then rely on).
    #[test]
    fn scan_simple_agrees_with_the_full_parser_on_uri_shapes(
        slots in (
            crate::sip::syntax::slot(&["sip:", "sips:", "SIP:", "sIpS:"], &["tel:", "sip", "x:", "sip;"]),
            crate::sip::syntax::slot(&["", "bob@", "a;b@", "a.b-c@", "a&b=c$d,e@"], &["u:pw@", "%41@", "@", "a%2@", "u:@"]),
            crate::sip::syntax::slot(&["example.com", "192.0.2.1", "host.", "a-b.c", "X.Y"], &["[::1]", "-a.b", "a..b", "1.2.3", "1.2.3.256", "", "a-"]),
            crate::sip::syntax::slot(&["", ":5060", ":0", ":65535"], &[":", ":65536", ":50a"]),
            crate::sip::syntax::slot(&["", ";lr", ";transport=tcp", ";a=b;c", ";m=%zz", ";x=[::1]"], &[";a%41=1", ";=x", ";m=", "?h=v", ";", ";a=b?c=d"]),
            crate::sip::syntax::slot(&["", ">", ";tag=1", ",x"], &["%", "[", " "]),
        )
    ) {
        let (scheme, user, host, port, params, tail) = slots;
        let s = [scheme, user, host, port, params, tail].concat();
        if let Some((u, n)) = SipUri::scan_simple(&s) {
            proptest::prop_assert_eq!(Uri::parse_full(&s[..n]), Ok(Uri::Sip(u)), "{:?}", s);
        }
    }
}

mod numbers {
    use super::super::parse_ipv4;
    use proptest::prelude::*;

    /// RFC 3986 §3.2.2 IPv4address, which std's parser also reads (it
    /// refuses leading zeros too): our reading agrees with it.
    fn ipv4_agrees(s: &str) {
        assert_eq!(parse_ipv4(s.as_bytes()), s.parse().ok(), "{s:?}");
    }

    #[test]
    fn rfc3986_s3_2_2_ipv4_forms() {
        for ok in ["0.0.0.0", "192.0.2.1", "255.255.255.255", "10.0.0.10"] {
            assert!(parse_ipv4(ok.as_bytes()).is_some(), "{ok}");
        }
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "01.1.1.1",
            "1..2.3",
            "1.2.3.",
            ".1.2.3",
            "1.2.3.4a",
            "1.2.3.0004",
            "1.2.3.00",
            "+1.2.3.4",
        ] {
            assert_eq!(parse_ipv4(bad.as_bytes()), None, "{bad}");
            ipv4_agrees(bad);
        }
    }

    proptest! {
        #[test]
        fn ipv4_agrees_with_std(s in "[0-9.]{0,17}") {
            ipv4_agrees(&s);
        }

        #[test]
        fn ipv4_agrees_with_std_on_dotted_quads(
            q in proptest::collection::vec("0|[1-9][0-9]{0,3}|0[0-9]{1,2}", 3..6)
        ) {
            ipv4_agrees(&q.join("."));
        }
    }
}
