use super::*;

fn h<'a>(name: &'a str, value: &'a str) -> Header<'a> {
    Header::parse(name, value, value).unwrap_or_else(|e| panic!("{name}: {value}: {e}"))
}

fn bad(name: &str, value: &str) -> ErrorKind {
    Header::parse(name, value, value).unwrap_err()
}

#[test]
fn rfc3261_s7_3_3_compact_forms() {
    for (c, full) in [
        ("i", HeaderName::CallId),
        ("m", HeaderName::Contact),
        ("l", HeaderName::ContentLength),
        ("c", HeaderName::ContentType),
        ("f", HeaderName::From),
        ("k", HeaderName::Supported),
        ("t", HeaderName::To),
        ("v", HeaderName::Via),
        ("o", HeaderName::Event),
        ("u", HeaderName::AllowEvents),
        ("V", HeaderName::Via),
    ] {
        assert_eq!(HeaderName::from_name(c), Some(full), "{c}");
    }
    assert_eq!(expand_compact("s"), Some("Subject"));
    assert_eq!(expand_compact("e"), Some("Content-Encoding"));
    assert!(name_matches("r", "refer-to"));
    assert_eq!(HeaderName::from_name("vIA"), Some(HeaderName::Via));
    assert_eq!(HeaderName::from_name("sip-etag"), Some(HeaderName::SipETag));
    assert_eq!(HeaderName::from_name("X-Foo"), None);
}

#[test]
fn rfc3261_s20_42_via_with_all_parameters() {
    let Header::Via(v) = h(
        "Via",
        "SIP/2.0/UDP pc33.example.com:5066;branch=z9hG4bK776asdhds;received=192.0.2.1;rport=5070;maddr=224.2.0.1;ttl=16, SIP / 2.0 / TCP [2001:db8::9];rport",
    ) else {
        panic!()
    };
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].transport, "UDP");
    assert_eq!(v[0].host.raw, "pc33.example.com");
    assert_eq!(v[0].port, Some(5066));
    assert_eq!(v[0].branch(), Some("z9hG4bK776asdhds"));
    assert!(v[0].has_rfc3261_branch());
    assert_eq!(v[0].received(), Some("192.0.2.1".parse().unwrap()));
    assert_eq!(v[0].rport(), Some(Some(5070)));
    assert_eq!(v[0].maddr().unwrap().raw, "224.2.0.1");
    assert_eq!(v[0].ttl(), Some(16));
    assert_eq!(v[1].transport, "TCP");
    assert_eq!(
        v[1].rport(),
        Some(None),
        "RFC 3581 §3: empty rport asks to be filled in"
    );
    assert!(matches!(
        bad("Via", "SIP/2.0/UDP"),
        ErrorKind::Header { header: "Via", .. }
    ));
    assert!(matches!(
        bad("Via", "SIP/2.0/UDP host;;"),
        ErrorKind::Header { .. }
    ));
    assert!(matches!(
        bad("v", "SIP/2.0/UDP host:70000"),
        ErrorKind::Header { .. }
    ));
}

#[test]
fn rfc3581_received_holds_ipv6_without_brackets() {
    let Header::Via(v) = h(
        "Via",
        "SIP/2.0/UDP [2001:db8::1];received=2001:db8::2;branch=z9hG4bKx",
    ) else {
        panic!()
    };
    assert_eq!(v[0].received(), Some("2001:db8::2".parse().unwrap()));
}

#[test]
fn rfc3261_s20_20_from_to_name_addr_and_addr_spec() {
    let Header::From(f) = h(
        "From",
        "\"Alice \\\"A\\\"\" <sip:alice@atlanta.com>;tag=1928301774",
    ) else {
        panic!()
    };
    assert_eq!(f.display_name.unwrap().text(), "Alice \"A\"");
    assert_eq!(f.tag(), Some("1928301774"));
    let Header::To(t) = h("t", "sip:bob@biloxi.com;tag=a6c85cf") else {
        panic!()
    };
    assert!(!t.angle);
    assert_eq!(
        t.tag(),
        Some("a6c85cf"),
        "in addr-spec form ;tag is a header parameter"
    );
    assert!(t.uri.as_sip().unwrap().params.is_empty());
    let Header::To(t) = h("To", "Bob  Smith<sip:bob@biloxi.com;transport=tcp>") else {
        panic!()
    };
    assert_eq!(t.display_name, Some(DisplayName::Tokens("Bob  Smith")));
    assert_eq!(t.uri.as_sip().unwrap().transport(), Some("tcp"));
}

#[test]
fn rfc3261_s20_10_contact_star_list_expires_q() {
    assert_eq!(h("Contact", "*"), Header::Contact(Contact::Star));
    let Header::Contact(Contact::List(l)) = h(
        "m",
        "\"Mr. Watson\" <sip:watson@worcester.bell-telephone.com>;q=0.7; expires=3600, \"Mr. Watson\" <mailto:watson@bell-telephone.com> ;q=0.1",
    ) else {
        panic!()
    };
    assert_eq!(l.len(), 2);
    assert_eq!(l[0].q(), Some(700));
    assert_eq!(l[0].expires(), Some(3600));
    assert_eq!(l[1].uri.scheme(), "mailto");
    assert_eq!(l[1].q(), Some(100));
}

#[test]
fn rfc3261_s7_3_1_commas_inside_quotes_and_brackets_do_not_split() {
    let Header::Contact(Contact::List(l)) = h(
        "Contact",
        "\"Watson, Thomas\" <sip:t,watson@example.org>, <sip:c@example.org>",
    ) else {
        panic!()
    };
    assert_eq!(l.len(), 2);
    assert_eq!(l[0].display_name.unwrap().text(), "Watson, Thomas");
}

#[test]
fn rfc3261_s20_34_route_requires_name_addr() {
    let Header::Route(r) = h("Route", "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>") else {
        panic!()
    };
    assert_eq!(r.len(), 2);
    assert!(r[1].uri.as_sip().unwrap().lr());
    assert!(matches!(
        bad("Route", "sip:p1.example.com;lr"),
        ErrorKind::Header { .. }
    ));
    assert!(matches!(
        h("Record-Route", "<sip:p1.example.com;lr>"),
        Header::RecordRoute(_)
    ));
}

#[test]
fn rfc3261_s20_16_cseq_and_scalars() {
    assert_eq!(
        h("CSeq", "4711  SUBSCRIBE"),
        Header::CSeq(CSeq {
            seq: 4711,
            method: Method::Subscribe
        })
    );
    assert!(matches!(
        bad("CSeq", "36893488147419103232 REGISTER"),
        ErrorKind::Header {
            expected: "CSeq number within 2**32-1",
            ..
        }
    ));
    assert_eq!(h("Max-Forwards", "70"), Header::MaxForwards(70));
    assert_eq!(h("Expires", "99999999999999"), Header::Expires(u32::MAX));
    assert_eq!(h("Min-Expires", "60"), Header::MinExpires(60));
    assert_eq!(h("l", "150"), Header::ContentLength(150));
    assert!(bad("Content-Length", "-999").status() == 400);
    assert!(matches!(
        bad("Content-Length", "0, 10"),
        ErrorKind::Header { .. }
    ));
    assert_eq!(
        h("i", "a84b4c76e66710@pc33.atlanta.com"),
        Header::CallId("a84b4c76e66710@pc33.atlanta.com")
    );
}

#[test]
fn rfc6665_s8_2_1_event_package_template_and_id() {
    let Header::Event(e) = h("o", "presence.winfo;id=7;foo") else {
        panic!()
    };
    assert_eq!(e.package(), "presence");
    assert_eq!(e.event_type.templates().collect::<Vec<_>>(), vec!["winfo"]);
    assert_eq!(e.id(), Some("7"));
    let Header::AllowEvents(a) = h("u", "presence, presence.winfo,dialog") else {
        panic!()
    };
    assert_eq!(a.len(), 3);
    assert!(matches!(
        bad("Event", "presence..winfo"),
        ErrorKind::Header { .. }
    ));
}

#[test]
fn rfc6665_s8_2_3_subscription_state() {
    let Header::SubscriptionState(s) = h("Subscription-State", "active;expires=3600") else {
        panic!()
    };
    assert_eq!(s.state, SubState::Active);
    assert_eq!(s.expires(), Some(3600));
    let Header::SubscriptionState(s) = h(
        "Subscription-State",
        "TERMINATED;reason=timeout;retry-after=30",
    ) else {
        panic!()
    };
    assert_eq!(s.state, SubState::Terminated);
    assert_eq!(s.reason(), Some("timeout"));
    assert_eq!(s.retry_after(), Some(30));
    let Header::SubscriptionState(s) = h("Subscription-State", "waiting") else {
        panic!()
    };
    assert_eq!(s.state, SubState::Extension("waiting"));
}

#[test]
fn rfc3903_s11_entity_tags() {
    assert_eq!(h("SIP-ETag", "dx200xyz"), Header::SipETag("dx200xyz"));
    assert_eq!(h("SIP-If-Match", "kwj449x"), Header::SipIfMatch("kwj449x"));
    assert!(matches!(bad("SIP-ETag", "a b"), ErrorKind::Header { .. }));
}

#[test]
fn rfc3261_s20_15_content_type_and_accept() {
    let Header::ContentType(c) = h("c", "application/pidf+xml;charset=\"UTF-8\"") else {
        panic!()
    };
    assert!(c.is("application", "PIDF+XML"));
    assert_eq!(c.param("charset").unwrap().unquoted().unwrap(), "UTF-8");
    let Header::Accept(a) = h("Accept", "application/pidf+xml;q=1, */*;q=0.1") else {
        panic!()
    };
    assert!(a.iter().nth(1).unwrap().admits("text", "plain"));
    let Header::Accept(none) = h("Accept", "") else {
        panic!()
    };
    assert!(none.is_empty() && none.iter().next().is_none());
}

#[test]
fn rfc3261_s20_option_tags_and_allow() {
    let Header::Require(r) = h("Require", "100rel, precondition") else {
        panic!()
    };
    assert_eq!(r.iter().collect::<Vec<_>>(), ["100rel", "precondition"]);
    let Header::Supported(none) = h("k", "") else {
        panic!()
    };
    assert_eq!(none.len(), 0);
    assert!(matches!(bad("Require", ""), ErrorKind::Header { .. }));
    let Header::Allow(m) = h("Allow", "INVITE, SUBSCRIBE,NOTIFY , PUBLISH") else {
        panic!()
    };
    assert_eq!(
        m.iter().collect::<Vec<_>>(),
        [
            Method::Invite,
            Method::Subscribe,
            Method::Notify,
            Method::Publish
        ]
    );
}

#[test]
fn rfc3261_s20_7_digest_credentials_and_challenge() {
    let Header::Authorization(a) = h(
        "Authorization",
        "Digest username=\"bob\", realm=\"biloxi.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"sip:bob@biloxi.com\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
    ) else {
        panic!()
    };
    assert!(a.is_digest());
    assert_eq!(a.username().unwrap(), "bob");
    assert_eq!(a.uri().unwrap(), "sip:bob@biloxi.com");
    assert_eq!(a.nc(), Some(1));
    assert_eq!(a.qop().unwrap(), "auth");
    let Header::WwwAuthenticate(c) = h(
        "WWW-Authenticate",
        "Digest realm=\"atlanta.com\", domain=\"sip:boxesbybob.com\", qop=\"auth\", nonce=\"f84f1cec41e6cbe5aea9c8e88d359\", opaque=\"\", stale=FALSE, algorithm=MD5",
    ) else {
        panic!()
    };
    assert_eq!(c.stale(), Some(false));
    assert_eq!(c.algorithm().unwrap(), "MD5");
    let Header::Authorization(o) = h("Authorization", "NoOneKnowsThisScheme opaque-data=here")
    else {
        panic!()
    };
    assert_eq!(o.scheme, "NoOneKnowsThisScheme");
    assert!(matches!(
        h("Proxy-Authenticate", "Digest realm=\"x\""),
        Header::ProxyAuthenticate(_)
    ));
    assert!(matches!(
        h("Proxy-Authorization", "Digest username=\"x\""),
        Header::ProxyAuthorization(_)
    ));
}

#[test]
fn typed_values_print_and_reparse_equal() {
    for (n, v) in [
        (
            "Via",
            "SIP/2.0/UDP a.example.com:5060;branch=z9hG4bKx;rport, SIP/2.0/TCP [::1]",
        ),
        ("From", "\"A\" <sip:a@b.c>;tag=x"),
        ("To", "sip:a@b.c;tag=y"),
        ("Contact", "<sip:a@b.c>;expires=60;q=0.5, sip:d@e.f"),
        ("Event", "presence;id=1"),
        ("Subscription-State", "pending;expires=60"),
        ("Authorization", "Digest username=\"a\", nc=00000001"),
    ] {
        let header = h(n, v);
        let printed = TypedValue(&header).to_string();
        assert_eq!(h(n, &printed), header, "{n}: {printed}");
    }
}
