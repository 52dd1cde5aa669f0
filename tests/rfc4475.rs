//! RFC 4475 torture messages: one test per message, named after it and its
//! section. Valid messages must parse (and keep what the RFC says they
//! hold); invalid ones must fail with an error that names the fault and maps
//! to the answer the manifest in tests/data/rfc4475/MANIFEST.tsv asks for.

use presencecloud::sip::header::HeaderName;
use presencecloud::sip::{Disposition, ErrorKind, Message, Method, ParseError, Uri, parse};

fn load(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/data/rfc4475/{name}.dat",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn manifest() -> Vec<(String, String, String)> {
    let path = format!(
        "{}/tests/data/rfc4475/MANIFEST.tsv",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect()
}

fn check_manifest(name: &str, section: &str, validity: &str) {
    let m = manifest();
    let entry = m
        .iter()
        .find(|(n, _, _)| n == name)
        .expect("listed in the manifest");
    assert_eq!(
        (entry.1.as_str(), entry.2.as_str()),
        (section, validity),
        "{name}"
    );
}

/// Parses a message the manifest calls valid, then checks that printing it
/// and parsing again gives the same message.
fn valid(name: &str, section: &str, check: impl FnOnce(&Message<'_>)) {
    check_manifest(name, section, "valid");
    let bytes = load(name);
    let msg = parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    check(&msg);
    let printed = msg.print();
    assert_eq!(
        parse(&printed).unwrap(),
        msg,
        "{name}: parse(print(m)) == m"
    );
}

/// Parses a message the manifest calls invalid and returns the error.
fn invalid(name: &str, section: &str) -> ParseError {
    check_manifest(name, section, "invalid");
    let bytes = load(name);
    match parse(&bytes) {
        Ok(m) => panic!("{name}: accepted {m:?}"),
        Err(e) => {
            assert!(!e.reason_phrase().is_empty());
            e
        }
    }
}

fn rejects(e: &ParseError, status: u16, reason_contains: &str) {
    match e.disposition() {
        Disposition::Reject { status: s, reason } => {
            assert_eq!(s, status, "{reason}");
            assert!(
                reason.contains(reason_contains),
                "{reason:?} should mention {reason_contains:?}"
            );
        }
        Disposition::Drop => panic!("dropped, expected {status}"),
    }
}

#[test]
fn manifest_lists_exactly_the_vendored_messages() {
    let dir = format!("{}/tests/data/rfc4475", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".dat").map(str::to_string))
        .collect();
    files.sort();
    let mut names: Vec<String> = manifest().into_iter().map(|e| e.0).collect();
    names.sort();
    assert_eq!(files, names);
    assert_eq!(
        names.len(),
        50,
        "the archive: 49 messages the RFC describes and test.dat"
    );
}

#[test]
fn wsinv_3_1_1_1_short_tortuous_invite() {
    valid("wsinv", "3.1.1.1", |m| {
        assert_eq!(m.method(), Some(Method::Invite));
        assert_eq!(m.vias().count(), 3);
        assert_eq!(m.vias().nth(2).unwrap().branch(), Some("z9hG4bK30239"));
        assert_eq!(m.cseq().unwrap().seq, 9);
        let unknown = m.raw("UnknownHeaderWithUnusualValue").next().unwrap();
        assert_eq!(unknown.value, ";;,,;;,;");
        assert_eq!(
            m.from().unwrap().display_name.unwrap().text(),
            "J Rosenberg \\\""
        );
        assert_eq!(m.from().unwrap().tag(), Some("98asjd8"));
        assert_eq!(m.to().unwrap().tag(), Some("1918181833n"));
        assert_eq!(m.max_forwards(), Some(68));
        assert_eq!(m.contacts().next().unwrap().q(), Some(330));
        assert_eq!(m.raw("Subject").next().unwrap().value, "");
    });
}

#[test]
fn intmeth_3_1_1_2_wide_range_of_valid_characters() {
    valid("intmeth", "3.1.1.2", |m| {
        assert_eq!(
            m.method(),
            Some(Method::Extension(
                "!interesting-Method0123456789_*+`.%indeed'~"
            ))
        );
        let uri = m.request_uri().unwrap().as_sip().unwrap();
        assert_eq!(
            uri.user,
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert_eq!(
            uri.password,
            Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        );
        assert_eq!(
            m.call_id(),
            Some("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
        );
        assert_eq!(m.from().unwrap().tag(), Some("_token~1'+`*%!-."));
    });
}

#[test]
fn esc01_3_1_1_3_valid_use_of_percent_escaping() {
    valid("esc01", "3.1.1.3", |m| {
        let u = m.request_uri().unwrap();
        let plain = Uri::parse("sip:sips%3Auser%40example.com@example.net").unwrap();
        assert!(u.equivalent(&plain));
    });
}

#[test]
fn escnull_3_1_1_4_escaped_nulls_in_uris() {
    valid("escnull", "3.1.1.4", |m| {
        assert_eq!(m.contacts().count(), 2);
        assert_eq!(
            m.to().unwrap().uri.as_sip().unwrap().user,
            Some("null-%00-null")
        );
    });
}

#[test]
fn esc02_3_1_1_5_percent_when_it_is_not_an_escape() {
    valid("esc02", "3.1.1.5", |m| {
        assert_eq!(m.method(), Some(Method::Extension("RE%47IST%45R")));
        assert_eq!(m.contacts().count(), 2, "C%6Fntact is an extension header");
        assert!(m.raw("C%6Fntact").next().is_some());
    });
}

#[test]
fn lwsdisp_3_1_1_6_no_lws_between_display_name_and_laquot() {
    valid("lwsdisp", "3.1.1.6", |m| {
        assert_eq!(m.from().unwrap().display_name.unwrap().text(), "caller");
    });
}

#[test]
fn longreq_3_1_1_7_long_values_in_header_fields() {
    valid("longreq", "3.1.1.7", |m| {
        assert_eq!(m.vias().count(), 34);
        assert_eq!(m.top_via().unwrap().host.raw, "sip33.example.com");
        assert_eq!(m.body.len(), 150);
    });
}

#[test]
fn dblreq_3_1_1_8_extra_trailing_octets_in_a_udp_datagram() {
    valid("dblreq", "3.1.1.8", |m| {
        assert_eq!(m.method(), Some(Method::Register));
        assert!(
            m.body.is_empty(),
            "the INVITE after Content-Length: 0 is ignored"
        );
    });
}

#[test]
fn semiuri_3_1_1_9_semicolon_separated_parameters_in_uri_user_part() {
    valid("semiuri", "3.1.1.9", |m| {
        let u = m.request_uri().unwrap().as_sip().unwrap();
        assert_eq!(u.user, Some("user;par=u%40example.net"));
        assert!(u.params.is_empty());
    });
}

#[test]
fn transports_3_1_1_10_varied_and_unknown_transport_types() {
    valid("transports", "3.1.1.10", |m| {
        let t: Vec<&str> = m.vias().map(|v| v.transport).collect();
        assert!(t.contains(&"UNKNOWN"), "{t:?}");
    });
}

#[test]
fn mpart01_3_1_1_11_multipart_mime_message() {
    valid("mpart01", "3.1.1.11", |m| {
        assert_eq!(m.body.len(), m.content_length().unwrap() as usize);
        assert!(m.body.contains(&0), "binary body with NUL octets kept");
        assert!(m.content_type().unwrap().is("multipart", "mixed"));
    });
}

#[test]
fn unreason_3_1_1_12_unusual_reason_phrase() {
    valid("unreason", "3.1.1.12", |m| {
        assert_eq!(m.status(), Some(200));
        let presencecloud::sip::StartLine::Response { reason, .. } = &m.start else {
            panic!()
        };
        assert!(reason.starts_with("= 2**3 * 5**2"));
    });
}

#[test]
fn noreason_3_1_1_13_empty_reason_phrase() {
    valid("noreason", "3.1.1.13", |m| {
        assert_eq!(
            m.start,
            presencecloud::sip::StartLine::Response {
                code: 100,
                reason: ""
            }
        );
    });
}

#[test]
fn badinv01_3_1_2_1_extraneous_header_field_separators() {
    rejects(&invalid("badinv01", "3.1.2.1"), 400, "Via");
}

#[test]
fn clerr_3_1_2_2_content_length_larger_than_message() {
    let e = invalid("clerr", "3.1.2.2");
    assert!(matches!(
        e.kind,
        ErrorKind::Truncated { declared: 9999, .. }
    ));
    rejects(&e, 400, "Content-Length 9999");
}

#[test]
fn ncl_3_1_2_3_negative_content_length() {
    rejects(&invalid("ncl", "3.1.2.3"), 400, "Content-Length");
}

#[test]
fn scalar02_3_1_2_4_request_scalar_fields_with_overlarge_values() {
    rejects(
        &invalid("scalar02", "3.1.2.4"),
        400,
        "CSeq number within 2**32-1",
    );
}

#[test]
fn scalarlg_3_1_2_5_response_scalar_fields_with_overlarge_values() {
    let e = invalid("scalarlg", "3.1.2.5");
    assert_eq!(e.disposition(), Disposition::Drop);
    assert!(e.to_string().contains("CSeq"));
}

#[test]
fn quotbal_3_1_2_6_unterminated_quoted_string_in_display_name() {
    rejects(&invalid("quotbal", "3.1.2.6"), 400, "To");
}

#[test]
fn ltgtruri_3_1_2_7_angle_brackets_around_request_uri() {
    rejects(&invalid("ltgtruri", "3.1.2.7"), 400, "Request-URI");
}

#[test]
fn lwsruri_3_1_2_8_embedded_lws_in_request_uri() {
    rejects(&invalid("lwsruri", "3.1.2.8"), 400, "Request-URI");
}

#[test]
fn lwsstart_3_1_2_9_multiple_sp_in_request_line() {
    rejects(&invalid("lwsstart", "3.1.2.9"), 400, "Malformed");
}

#[test]
fn trws_3_1_2_10_sp_at_end_of_request_line() {
    rejects(&invalid("trws", "3.1.2.10"), 400, "SIP-Version");
}

#[test]
fn escruri_3_1_2_11_escaped_headers_in_request_uri() {
    rejects(
        &invalid("escruri", "3.1.2.11"),
        400,
        "Request-URI must not carry headers",
    );
}

/// RFC 4475 §3.1.2.12 lets an element that does not act on Date ignore it,
/// and we do not: the message is accepted with Date kept as received.
#[test]
fn baddate_3_1_2_12_invalid_time_zone_in_date_is_ignored() {
    check_manifest("baddate", "3.1.2.12", "invalid");
    let bytes = load("baddate");
    let m = parse(&bytes).unwrap();
    assert_eq!(
        m.raw("Date").next().unwrap().value,
        "Fri, 01 Jan 2010 16:00:00 EST"
    );
}

#[test]
fn regbadct_3_1_2_13_name_addr_uri_not_enclosed() {
    rejects(&invalid("regbadct", "3.1.2.13"), 400, "Contact");
}

#[test]
fn badaspec_3_1_2_14_spaces_within_addr_spec() {
    rejects(&invalid("badaspec", "3.1.2.14"), 400, "To");
}

#[test]
fn baddn_3_1_2_15_non_token_characters_in_display_name() {
    rejects(&invalid("baddn", "3.1.2.15"), 400, "From");
}

#[test]
fn badvers_3_1_2_16_unknown_protocol_version() {
    let e = invalid("badvers", "3.1.2.16");
    assert_eq!(e.kind, ErrorKind::Version);
    rejects(&e, 505, "version");
}

#[test]
fn mismatch01_3_1_2_17_start_line_and_cseq_method_mismatch() {
    rejects(&invalid("mismatch01", "3.1.2.17"), 400, "CSeq method");
}

#[test]
fn mismatch02_3_1_2_18_unknown_method_with_cseq_mismatch() {
    rejects(&invalid("mismatch02", "3.1.2.18"), 501, "CSeq method");
}

#[test]
fn bigcode_3_1_2_19_overlarge_response_code() {
    let e = invalid("bigcode", "3.1.2.19");
    assert_eq!(e.kind, ErrorKind::StatusCode);
    assert_eq!(e.disposition(), Disposition::Drop);
}

#[test]
fn badbranch_3_2_1_missing_transaction_identifier() {
    valid("badbranch", "3.2.1", |m| {
        assert!(!m.top_via().unwrap().has_rfc3261_branch());
    });
}

#[test]
fn insuf_3_3_1_missing_required_header_fields() {
    rejects(&invalid("insuf", "3.3.1"), 400, "Missing");
}

#[test]
fn unkscm_3_3_2_request_uri_with_unknown_scheme() {
    valid("unkscm", "3.3.2", |m| {
        assert!(matches!(m.request_uri(), Some(Uri::Other { .. })));
    });
}

#[test]
fn novelsc_3_3_3_request_uri_with_known_but_atypical_scheme() {
    valid("novelsc", "3.3.3", |m| {
        assert!(m.request_uri().unwrap().as_sip().is_none());
    });
}

#[test]
fn unksm2_3_3_4_unknown_uri_schemes_in_header_fields() {
    valid("unksm2", "3.3.4", |m| {
        assert!(m.to().unwrap().uri.as_sip().is_none());
    });
}

#[test]
fn bext01_3_3_5_proxy_require_and_require() {
    valid("bext01", "3.3.5", |m| {
        assert!(m.require().count() > 0);
        assert!(m.proxy_require().count() > 0);
    });
}

#[test]
fn invut_3_3_6_unknown_content_type() {
    valid("invut", "3.3.6", |m| {
        assert!(m.content_type().unwrap().is("application", "unknownformat"));
    });
}

#[test]
fn regaut01_3_3_7_unknown_authorization_scheme() {
    valid("regaut01", "3.3.7", |m| {
        assert!(!m.authorization().unwrap().is_digest());
    });
}

#[test]
fn multi01_3_3_8_multiple_values_in_single_value_fields() {
    let e = invalid("multi01", "3.3.8");
    assert!(matches!(e.kind, ErrorKind::Duplicate(_)));
    rejects(&e, 400, "More than one");
}

#[test]
fn mcl01_3_3_9_multiple_content_length_values() {
    let e = invalid("mcl01", "3.3.9");
    assert_eq!(
        e.kind,
        ErrorKind::Duplicate(HeaderName::ContentLength.as_str())
    );
    rejects(&e, 400, "Content-Length");
}

#[test]
fn bcast_3_3_10_200_ok_with_broadcast_via() {
    valid("bcast", "3.3.10", |m| {
        assert_eq!(m.status(), Some(200));
        assert_eq!(m.vias().nth(1).unwrap().host.raw, "255.255.255.255");
    });
}

#[test]
fn zeromf_3_3_11_max_forwards_of_zero() {
    valid("zeromf", "3.3.11", |m| {
        assert_eq!(m.max_forwards(), Some(0))
    });
}

#[test]
fn cparam01_3_3_12_register_with_a_contact_header_parameter() {
    valid("cparam01", "3.3.12", |m| {
        let c = m.contacts().next().unwrap();
        assert!(c.param("unknownparam").is_some(), "a header parameter");
        assert!(c.uri.as_sip().unwrap().params.is_empty());
    });
}

#[test]
fn cparam02_3_3_13_register_with_a_url_parameter() {
    valid("cparam02", "3.3.13", |m| {
        let c = m.contacts().next().unwrap();
        assert!(
            c.uri.as_sip().unwrap().param("unknownparam").is_some(),
            "a URI parameter"
        );
    });
}

#[test]
fn regescrt_3_3_14_register_with_a_url_escaped_header() {
    valid("regescrt", "3.3.14", |m| {
        let c = m.contacts().next().unwrap();
        assert_eq!(
            c.uri.as_sip().unwrap().headers.iter().next().unwrap().name,
            "Route"
        );
    });
}

#[test]
fn sdp01_3_3_15_unacceptable_accept_offering() {
    valid("sdp01", "3.3.15", |m| {
        assert!(!m.accept().any(|a| a.admits("application", "sdp")));
    });
}

#[test]
fn inv2543_3_4_1_invite_with_rfc2543_syntax() {
    valid("inv2543", "3.4.1", |m| {
        assert!(m.top_via().unwrap().branch().is_none());
        assert!(m.from().unwrap().tag().is_none());
        assert!(m.max_forwards().is_none());
        assert!(m.content_length().is_none());
        assert!(
            !m.body.is_empty(),
            "no Content-Length: the body is the rest of the datagram"
        );
    });
}

#[test]
fn test_dat_extra_archive_member_is_malformed() {
    let e = invalid("test", "-");
    rejects(&e, 400, "Malformed");
}
