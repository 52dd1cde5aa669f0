//! The grammar is the spec: random strings generated from grammars/*.abnf
//! (RFC 3261 §25, RFC 6665 §8.4, RFC 3903 §11, RFC 3966 for tel) for every
//! typed header and the SIP URI must be accepted by the parser, and the
//! parsed value must hold what the generator put there (the derivation tree
//! says which substring came from which rule).
//!
//! A failure prints the seed and the generated text, so it can be replayed.

#[path = "support/abnf.rs"]
mod abnf;

use abnf::{Grammar, Rng, Tree};
use presencecloud::sip::header::{
    Auth, Contact, DisplayName, HeaderName, List, MediaType, NameAddr, SubState, TypedValue,
};
use presencecloud::sip::params::Params;
use presencecloud::sip::{Header, Message, StartLine, Uri, parse, parse_header};

/// Samples per rule; `GRAMMAR_SAMPLES=20000 cargo test --test grammar` to
/// search harder.
fn samples() -> u64 {
    std::env::var("GRAMMAR_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500)
}

fn grammar() -> Grammar {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("grammars");
    let g = Grammar::load_dir(&dir).expect("grammars/ loads");
    g.check().expect("every rule is defined");
    g
}

fn text(t: &Tree) -> String {
    String::from_utf8(t.text.clone()).expect("the grammar generates UTF-8")
}

fn trim_lws(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// Nodes of any of `rules`, in text order, not descending into a match.
fn collect<'t>(tree: &'t Tree, rules: &[&str]) -> Vec<&'t Tree> {
    fn walk<'t>(t: &'t Tree, rules: &[&str], out: &mut Vec<&'t Tree>) {
        for c in &t.children {
            if rules.contains(&c.rule.as_str()) {
                out.push(c);
            } else {
                walk(c, rules, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(tree, rules, &mut out);
    out
}

/// `name [EQUAL value]` as the generator wrote it, LWS removed around both.
fn param_of(t: &Tree) -> (String, Option<String>) {
    let s = text(t);
    match s.split_once('=') {
        Some((n, v)) => (trim_lws(n).to_string(), Some(trim_lws(v).to_string())),
        None => (trim_lws(&s).to_string(), None),
    }
}

fn params_of(tree: &Tree, rules: &[&str]) -> Vec<(String, Option<String>)> {
    collect(tree, rules).into_iter().map(param_of).collect()
}

fn parsed_params(p: &Params<'_>) -> Vec<(String, Option<String>)> {
    p.iter()
        .map(|p| (p.name.to_string(), p.value.map(str::to_string)))
        .collect()
}

/// Generates `SAMPLES` strings of `rule` and hands each parsed header to
/// `check`, with the tree; then prints the typed value canonically and
/// checks that it parses back to the same value.
fn each_header(rule: &str, mut check: impl FnMut(&Tree, &Header<'_>)) {
    let g = grammar();
    let expected = HeaderName::from_name(rule).expect("a typed header");
    for seed in 0..samples() {
        let mut rng = Rng::new(seed ^ 0x5eed);
        let tree = g.generate(rule, &mut rng);
        let line = text(&tree);
        let header = parse_header(&line)
            .unwrap_or_else(|e| panic!("{rule} seed {seed}: {line:?} rejected: {e}"));
        assert_eq!(header.name(), Some(expected), "{line:?}");
        check(&tree, &header);
        let canonical = format!("{}: {}", expected.as_str(), TypedValue(&header));
        let again = parse_header(&canonical)
            .unwrap_or_else(|e| panic!("{rule} seed {seed}: printed {canonical:?} rejected: {e}"));
        assert_eq!(
            again, header,
            "{rule} seed {seed}: {line:?} printed as {canonical:?}"
        );
    }
}

fn check_uri(tree: &Tree, uri: &Uri<'_>) {
    let ctx = text(tree);
    match uri {
        Uri::Sip(u) => {
            let user = tree
                .find("user")
                .or_else(|| tree.find("user-plain"))
                .or_else(|| tree.find("telephone-subscriber"));
            assert_eq!(
                u.user.map(str::to_string),
                user.map(text),
                "user of {ctx:?}"
            );
            let pw = tree
                .find("password")
                .or_else(|| tree.find("password-plain"));
            assert_eq!(
                u.password.map(str::to_string),
                pw.map(text),
                "password of {ctx:?}"
            );
            assert_eq!(
                u.host.raw,
                text(tree.find("host").unwrap()),
                "host of {ctx:?}"
            );
            let port = tree.find("port").map(|p| text(p).parse::<u16>().unwrap());
            assert_eq!(u.port, port, "port of {ctx:?}");
            assert_eq!(
                parsed_params(&u.params),
                params_of(tree, &["uri-parameter"]),
                "{ctx:?}"
            );
            assert_eq!(
                parsed_params(&u.headers),
                params_of(tree, &["header"]),
                "{ctx:?}"
            );
        }
        Uri::Other { scheme, rest } => {
            assert_eq!(format!("{scheme}:{rest}"), ctx, "absolute URI");
        }
        Uri::Tel(_) => panic!("the SIP grammar made a tel URI: {ctx:?}"),
    }
}

fn check_name_addr(tree: &Tree, na: &NameAddr<'_>, param_rules: &[&str]) {
    let ctx = text(tree);
    match tree.find("name-addr") {
        Some(n) => {
            assert!(na.angle, "{ctx:?}");
            let display = n
                .find("display-name")
                .map(|d| trim_lws(&text(d)).to_string());
            let got = na.display_name.map(|d| match d {
                DisplayName::Tokens(t) | DisplayName::Quoted(t) => t.to_string(),
            });
            assert_eq!(
                got,
                display.filter(|d| !d.is_empty()),
                "display name of {ctx:?}"
            );
            check_uri(n.find("addr-spec").unwrap(), &na.uri);
        }
        None => {
            assert!(!na.angle, "{ctx:?}");
            check_uri(tree.find("addr-spec-plain").unwrap(), &na.uri);
        }
    }
    assert_eq!(
        parsed_params(&na.params),
        params_of(tree, param_rules),
        "params of {ctx:?}"
    );
}

fn check_media(tree: &Tree, m: &MediaType<'_>, param_rules: &[&str]) {
    let ctx = text(tree);
    let (ty, sub) = match tree.find("m-type") {
        Some(t) if tree.find("m-subtype").is_some() => {
            (text(t), text(tree.find("m-subtype").unwrap()))
        }
        // "*/*" and "type/*" in Accept
        _ => {
            let whole = text(tree);
            let range = trim_lws(whole.split(';').next().unwrap());
            let (a, b) = range.split_once('/').unwrap();
            (trim_lws(a).to_string(), trim_lws(b).to_string())
        }
    };
    assert_eq!((m.mtype, m.subtype), (ty.as_str(), sub.as_str()), "{ctx:?}");
    assert_eq!(
        parsed_params(&m.params),
        params_of(tree, param_rules),
        "{ctx:?}"
    );
}

fn check_auth(tree: &Tree, a: &Auth<'_>) {
    let ctx = text(tree);
    let scheme = match tree.find("auth-scheme") {
        Some(s) => text(s),
        // `"Digest" LWS ...`: the literal, in whatever case it came
        None => {
            let value = trim_lws(ctx.split_once(':').unwrap().1);
            value.get(..6).unwrap().to_string()
        }
    };
    assert_eq!(a.scheme, scheme, "{ctx:?}");
    let got: Vec<(String, Option<String>)> = a
        .params
        .iter()
        .map(|p| (p.name.to_string(), p.value.map(str::to_string)))
        .collect();
    assert_eq!(
        got,
        params_of(tree, &["dig-resp", "digest-cln", "auth-param"]),
        "{ctx:?}"
    );
}

fn single_text(tree: &Tree, rule: &str) -> String {
    text(
        tree.find(rule)
            .unwrap_or_else(|| panic!("no {rule} in {:?}", text(tree))),
    )
}

#[test]
fn rfc3261_s20_42_via() {
    each_header("Via", |tree, h| {
        let Header::Via(vias) = h else { panic!() };
        let parms = tree.find_all("via-parm");
        assert_eq!(vias.len(), parms.len());
        for (v, t) in vias.iter().zip(parms) {
            assert_eq!(v.protocol, single_text(t, "protocol-name"));
            assert_eq!(v.version, single_text(t, "protocol-version"));
            assert_eq!(v.transport, single_text(t, "transport"));
            let sent_by = t.find("sent-by").unwrap();
            assert_eq!(v.host.raw, single_text(sent_by, "host"));
            assert_eq!(
                v.port,
                sent_by.find("port").map(|p| text(p).parse().unwrap())
            );
            assert_eq!(parsed_params(&v.params), params_of(t, &["via-params"]));
        }
    });
}

#[test]
fn rfc3261_s20_20_from() {
    each_header("From", |tree, h| {
        let Header::From(f) = h else { panic!() };
        check_name_addr(tree, f, &["from-param"]);
    });
}

#[test]
fn rfc3261_s20_39_to() {
    each_header("To", |tree, h| {
        let Header::To(t) = h else { panic!() };
        check_name_addr(tree, t, &["to-param"]);
    });
}

#[test]
fn rfc3261_s20_8_call_id() {
    each_header("Call-ID", |tree, h| {
        assert_eq!(h, &Header::CallId(&single_text(tree, "callid")));
    });
}

#[test]
fn rfc3261_s20_16_cseq() {
    each_header("CSeq", |tree, h| {
        let Header::CSeq(c) = h else { panic!() };
        let all = text(tree);
        let digits: String = all
            .split_once(':')
            .unwrap()
            .1
            .trim_start_matches([' ', '\t', '\r', '\n'])
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        assert_eq!(c.seq, digits.parse::<u32>().unwrap());
        assert_eq!(c.method.as_str(), single_text(tree, "Method"));
    });
}

#[test]
fn rfc3261_s20_22_max_forwards() {
    each_header("Max-Forwards", |tree, h| {
        let n: String = text(tree).chars().filter(char::is_ascii_digit).collect();
        assert_eq!(h, &Header::MaxForwards(n.parse().unwrap()));
    });
}

#[test]
fn rfc3261_s20_10_contact() {
    each_header("Contact", |tree, h| match h {
        Header::Contact(Contact::Star) => {
            assert!(tree.find("contact-param").is_none(), "{:?}", text(tree))
        }
        Header::Contact(Contact::List(list)) => {
            let params = tree.find_all("contact-param");
            assert_eq!(list.len(), params.len());
            for (c, t) in list.iter().zip(params) {
                check_name_addr(t, c, &["contact-params"]);
            }
        }
        _ => panic!(),
    });
}

#[test]
fn rfc3261_s20_34_route() {
    each_header("Route", |tree, h| {
        let Header::Route(r) = h else { panic!() };
        let params = tree.find_all("route-param");
        assert_eq!(r.len(), params.len());
        for (na, t) in r.iter().zip(params) {
            check_name_addr(t, na, &["rr-param"]);
        }
    });
}

#[test]
fn rfc3261_s20_30_record_route() {
    each_header("Record-Route", |tree, h| {
        let Header::RecordRoute(r) = h else { panic!() };
        let params = tree.find_all("rec-route");
        assert_eq!(r.len(), params.len());
        for (na, t) in r.iter().zip(params) {
            check_name_addr(t, na, &["rr-param"]);
        }
    });
}

#[test]
fn rfc3261_s20_19_expires() {
    each_header("Expires", |tree, h| {
        let n = single_text(tree, "delta-seconds").parse().unwrap();
        assert_eq!(h, &Header::Expires(n));
    });
}

#[test]
fn rfc3261_s20_23_min_expires() {
    each_header("Min-Expires", |tree, h| {
        let n = single_text(tree, "delta-seconds").parse().unwrap();
        assert_eq!(h, &Header::MinExpires(n));
    });
}

#[test]
fn rfc6665_s8_2_1_event() {
    each_header("Event", |tree, h| {
        let Header::Event(e) = h else { panic!() };
        assert_eq!(e.event_type.0, single_text(tree, "event-type"));
        assert_eq!(parsed_params(&e.params), params_of(tree, &["event-param"]));
    });
}

#[test]
fn rfc6665_s8_2_2_allow_events() {
    each_header("Allow-Events", |tree, h| {
        let Header::AllowEvents(list) = h else {
            panic!()
        };
        let want: Vec<String> = tree.find_all("event-type").into_iter().map(text).collect();
        let got: Vec<String> = list.iter().map(|e| e.0.to_string()).collect();
        assert_eq!(got, want);
    });
}

#[test]
fn rfc6665_s8_2_3_subscription_state() {
    each_header("Subscription-State", |tree, h| {
        let Header::SubscriptionState(s) = h else {
            panic!()
        };
        let v = single_text(tree, "substate-value");
        let want = match v.to_ascii_lowercase().as_str() {
            "active" => SubState::Active,
            "pending" => SubState::Pending,
            "terminated" => SubState::Terminated,
            _ => SubState::Extension(&v),
        };
        assert_eq!(s.state, want);
        assert_eq!(
            parsed_params(&s.params),
            params_of(tree, &["subexp-params"])
        );
    });
}

#[test]
fn rfc3903_s11_3_1_sip_etag() {
    each_header("SIP-ETag", |tree, h| {
        assert_eq!(h, &Header::SipETag(&single_text(tree, "entity-tag")));
    });
}

#[test]
fn rfc3903_s11_3_2_sip_if_match() {
    each_header("SIP-If-Match", |tree, h| {
        assert_eq!(h, &Header::SipIfMatch(&single_text(tree, "entity-tag")));
    });
}

#[test]
fn rfc3261_s20_15_content_type() {
    each_header("Content-Type", |tree, h| {
        let Header::ContentType(m) = h else { panic!() };
        check_media(tree.find("media-type").unwrap(), m, &["m-parameter"]);
    });
}

#[test]
fn rfc3261_s20_14_content_length() {
    each_header("Content-Length", |tree, h| {
        let n: String = text(tree).chars().filter(char::is_ascii_digit).collect();
        assert_eq!(h, &Header::ContentLength(n.parse().unwrap()));
    });
}

fn option_tags(tree: &Tree) -> Vec<String> {
    tree.find_all("option-tag").into_iter().map(text).collect()
}

fn strs(v: &List<'_, &str>) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn rfc3261_s20_32_require() {
    each_header("Require", |tree, h| {
        let Header::Require(t) = h else { panic!() };
        assert_eq!(strs(t), option_tags(tree));
    });
}

#[test]
fn rfc3261_s20_29_proxy_require() {
    each_header("Proxy-Require", |tree, h| {
        let Header::ProxyRequire(t) = h else { panic!() };
        assert_eq!(strs(t), option_tags(tree));
    });
}

#[test]
fn rfc3261_s20_37_supported() {
    each_header("Supported", |tree, h| {
        let Header::Supported(t) = h else { panic!() };
        assert_eq!(strs(t), option_tags(tree));
    });
}

#[test]
fn rfc3261_s20_40_unsupported() {
    each_header("Unsupported", |tree, h| {
        let Header::Unsupported(t) = h else { panic!() };
        assert_eq!(strs(t), option_tags(tree));
    });
}

#[test]
fn rfc3261_s20_1_accept() {
    each_header("Accept", |tree, h| {
        let Header::Accept(list) = h else { panic!() };
        let ranges = tree.find_all("accept-range");
        assert_eq!(list.len(), ranges.len(), "{:?}", text(tree));
        for (m, t) in list.iter().zip(ranges) {
            check_media(t, &m, &["m-parameter", "accept-param"]);
        }
    });
}

#[test]
fn rfc3261_s20_5_allow() {
    each_header("Allow", |tree, h| {
        let Header::Allow(list) = h else { panic!() };
        let want: Vec<String> = tree.find_all("Method").into_iter().map(text).collect();
        let got: Vec<String> = list.iter().map(|m| m.as_str().to_string()).collect();
        assert_eq!(got, want);
    });
}

#[test]
fn rfc3261_s20_7_authorization() {
    each_header("Authorization", |tree, h| {
        let Header::Authorization(a) = h else {
            panic!()
        };
        check_auth(tree, a);
    });
}

#[test]
fn rfc3261_s20_28_proxy_authorization() {
    each_header("Proxy-Authorization", |tree, h| {
        let Header::ProxyAuthorization(a) = h else {
            panic!()
        };
        check_auth(tree, a);
    });
}

#[test]
fn rfc3261_s20_44_www_authenticate() {
    each_header("WWW-Authenticate", |tree, h| {
        let Header::WwwAuthenticate(a) = h else {
            panic!()
        };
        check_auth(tree, a);
    });
}

#[test]
fn rfc3261_s20_27_proxy_authenticate() {
    each_header("Proxy-Authenticate", |tree, h| {
        let Header::ProxyAuthenticate(a) = h else {
            panic!()
        };
        check_auth(tree, a);
    });
}

fn each_uri(rule: &str) {
    let g = grammar();
    for seed in 0..samples() {
        let mut rng = Rng::new(seed ^ 0x0071);
        let tree = g.generate(rule, &mut rng);
        let s = text(&tree);
        let uri = Uri::parse(&s).unwrap_or_else(|e| panic!("{rule} seed {seed}: {s:?}: {e:?}"));
        let Uri::Sip(u) = &uri else { panic!("{s:?}") };
        assert_eq!(u.secure, rule == "SIPS-URI");
        check_uri(&tree, &uri);
        let printed = uri.to_string();
        let again = Uri::parse(&printed).unwrap();
        assert_eq!(again, uri, "{s:?} printed as {printed:?}");
        assert!(
            again.equivalent(&uri),
            "RFC 3261 §19.1.4: {s:?} equals itself"
        );
    }
}

#[test]
fn rfc3261_s19_1_1_sip_uri() {
    each_uri("SIP-URI");
}

#[test]
fn rfc3261_s19_1_1_sips_uri() {
    each_uri("SIPS-URI");
}

/// Request-Line and Status-Line inside a minimal message.
#[test]
fn rfc3261_s7_1_request_line_and_s7_2_status_line() {
    let g = grammar();
    for seed in 0..samples() {
        let mut rng = Rng::new(seed ^ 0x1e);
        let tree = g.generate("Request-Line", &mut rng);
        let line = text(&tree);
        let method = single_text(&tree, "Method");
        let ruri = tree.find("Request-URI").unwrap();
        let msg = format!(
            "{line}Via: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 {method}\r\n\r\n"
        );
        if ruri.find("headers").is_some() {
            // the grammar allows them; RFC 3261 §19.1.1's table does not
            let e = parse(msg.as_bytes()).unwrap_err();
            assert_eq!(
                e.kind,
                presencecloud::sip::ErrorKind::RequestUriHeaders,
                "{line:?}"
            );
            continue;
        }
        let m: Message<'_> =
            parse(msg.as_bytes()).unwrap_or_else(|e| panic!("seed {seed}: {line:?}: {e}"));
        assert_eq!(m.method().unwrap().as_str(), method);
        check_uri(
            ruri.find("SIP-URI")
                .or(ruri.find("SIPS-URI"))
                .unwrap_or(ruri),
            m.request_uri().unwrap(),
        );

        let tree = g.generate("Status-Line", &mut rng);
        let line = text(&tree);
        let msg = format!(
            "{line}Via: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n"
        );
        let m = parse(msg.as_bytes()).unwrap_or_else(|e| panic!("seed {seed}: {line:?}: {e}"));
        let StartLine::Response { code, reason } = m.start else {
            panic!()
        };
        assert_eq!(code.to_string(), single_text(&tree, "Status-Code"));
        assert_eq!(reason, single_text(&tree, "Reason-Phrase"));
    }
}
