use super::*;
use crate::sip::error::Disposition;
use crate::sip::header::SubState;

const SUBSCRIBE: &[u8] = b"SUBSCRIBE sip:resource@example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP watcherhost.example.com;branch=z9hG4bKnashds7\r\n\
To: <sip:resource@example.com>\r\n\
From: <sip:user@example.com>;tag=xfg9\r\n\
Call-ID: 2010@watcherhost.example.com\r\n\
CSeq: 17766 SUBSCRIBE\r\n\
Max-Forwards: 70\r\n\
Event: presence\r\n\
Accept: application/pidf+xml\r\n\
Contact: <sip:user@watcherhost.example.com>\r\n\
Expires: 600\r\n\
Content-Length: 0\r\n\r\n";

#[test]
fn rfc3261_s7_parses_a_request() {
    let m = parse(SUBSCRIBE).unwrap();
    assert_eq!(m.method(), Some(Method::Subscribe));
    assert_eq!(
        m.request_uri().unwrap().to_string(),
        "sip:resource@example.com"
    );
    assert_eq!(m.event().unwrap().package(), "presence");
    assert_eq!(m.expires(), Some(600));
    assert_eq!(m.cseq().unwrap().seq, 17766);
    assert_eq!(m.fields().len(), 11);
    assert!(m.body.is_empty());
}

#[test]
fn rfc3261_s7_2_parses_a_response_and_body() {
    let raw = b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP h;branch=z9hG4bKa\r\nf: <sip:a@b>;tag=1\r\n\
t: <sip:c@d>;tag=2\r\ni: x\r\nCSeq: 2 NOTIFY\r\nSubscription-State: active\r\nl: 5\r\n\r\nhelloEXTRA";
    let m = parse(raw).unwrap();
    assert_eq!(m.status(), Some(200));
    assert_eq!(
        m.body, b"hello",
        "RFC 3261 §18.3: octets past Content-Length are ignored"
    );
    assert_eq!(m.subscription_state().unwrap().state, SubState::Active);
}

#[test]
fn rfc3261_s18_3_datagram_without_content_length_takes_the_rest() {
    let raw = b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\nFrom: <sip:a@b>;tag=1\r\n\
To: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 2 MESSAGE\r\n\r\nhi there";
    assert_eq!(parse(raw).unwrap().body, b"hi there");
}

#[test]
fn rfc3261_s7_3_1_folded_lines_and_lws_around_colon() {
    let raw = b"OPTIONS sip:a@b SIP/2.0\r\nVia  :  SIP/2.0/UDP h\r\n  ;branch=z9hG4bKa\r\nFrom\t: <sip:a@b>;tag=1\r\n\
To: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 2\r\n OPTIONS\r\nSubject: a\r\n\tb\r\n\r\n";
    let m = parse(raw).unwrap();
    assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bKa"));
    assert_eq!(m.cseq().unwrap().method, Method::Options);
    let subject = m.raw("Subject").next().unwrap();
    assert_eq!(subject.value, "a\r\n\tb");
    let printed = m.print();
    assert!(
        printed.windows(14).any(|w| w == b"Subject: a\r\n\tb"),
        "raw header byte-identical"
    );
}

#[test]
fn unknown_headers_print_back_byte_identical() {
    let raw = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\nFrom: <sip:a@b>;tag=1\r\n\
To: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 2 OPTIONS\r\nX-Odd   :  v a l  \r\ns:subject\r\n\r\n";
    let m = parse(raw).unwrap();
    let out = m.print();
    assert!(out.windows(17).any(|w| w == b"X-Odd   :  v a l "));
    assert!(out.windows(11).any(|w| w == b"s:subject\r\n"));
    assert_eq!(parse(&out).unwrap(), m);
}

#[test]
fn rfc3261_s8_1_1_mandatory_headers() {
    let raw =
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\nCSeq: 1 OPTIONS\r\n\r\n";
    let e = parse(raw).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Missing("To"));
    assert_eq!(e.reason_phrase(), "Missing To header");
}

#[test]
fn limits_are_errors_with_status() {
    let limits = Limits {
        max_message: 100,
        max_headers: 3,
        max_header_len: 40,
    };
    let big = vec![b'a'; 101];
    let e = parse_with(&big, &limits).unwrap_err();
    assert_eq!((e.kind, e.status()), (ErrorKind::TooLarge(100), 513));
    let many = b"OPTIONS sip:a@b SIP/2.0\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\nX-D: 4\r\n\r\n";
    assert_eq!(
        parse_with(many, &limits).unwrap_err().kind,
        ErrorKind::TooManyHeaders(3)
    );
    let long = b"OPTIONS sip:a@b SIP/2.0\r\nA: 0123456789012345678901234567890123456789\r\n\r\n";
    assert_eq!(
        parse_with(long, &limits).unwrap_err().kind,
        ErrorKind::LineTooLong(40)
    );
}

#[test]
fn rfc3261_s18_3_stream_framing() {
    let mut stream = SUBSCRIBE.to_vec();
    stream.extend_from_slice(b"NOTIFY sip:x");
    let l = Limits::default();
    assert_eq!(frame(&stream, &l).unwrap(), Some(SUBSCRIBE.len()));
    assert_eq!(frame(&SUBSCRIBE[..40], &l).unwrap(), None);
    let body = b"MESSAGE sip:a@b SIP/2.0\r\nl: 5\r\n\r\nhel";
    assert_eq!(frame(body, &l).unwrap(), None, "body not complete yet");
    let no_cl = b"MESSAGE sip:a@b SIP/2.0\r\nFrom: x\r\n\r\n";
    assert_eq!(
        frame(no_cl, &l).unwrap_err().kind,
        ErrorKind::Missing("Content-Length")
    );
    let neg = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\n";
    assert!(frame(neg, &l).is_err());
    let two = b"MESSAGE sip:a@b SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\nab";
    assert_eq!(
        frame(two, &l).unwrap_err().kind,
        ErrorKind::Duplicate("Content-Length")
    );
    assert_eq!(skip_keepalive(b"\r\n\r\nSIP"), 4);
}

/// RFC 3261 §16.3 step 1: what a handler does not read need not be
/// well-formed. A malformed Contact reads as the raw header it is; checking
/// the fields a proxy reads passes, checking Contact names it.
#[test]
fn rfc3261_s16_3_a_malformed_field_fails_only_the_check_that_reads_it() {
    let text = std::str::from_utf8(SUBSCRIBE)
        .unwrap()
        .replace(
            "Contact: <sip:user@watcherhost.example.com>",
            "Contact: <sip:user@watcherhost",
        )
        .replace("Accept: application/pidf+xml", "Accept: pidf");
    let m = parse_lazy(text.as_bytes()).unwrap();
    assert_eq!(
        m.contacts().count(),
        0,
        "a malformed Contact types as nothing"
    );
    assert_eq!(m.accept().count(), 0);
    let raw: Vec<&str> = m
        .fields()
        .filter(|f| f.is("Contact"))
        .map(|f| f.raw().value)
        .collect();
    assert_eq!(raw, ["<sip:user@watcherhost"]);
    assert!(
        m.check_for(&[HeaderName::Via, HeaderName::CSeq, HeaderName::To])
            .is_ok()
    );
    let e = m.check_for(&[HeaderName::Contact]).unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::Header {
            header: "Contact",
            expected: match parse_header("Contact: <sip:user@watcherhost").unwrap_err() {
                ErrorKind::Header { expected, .. } => expected,
                other => panic!("{other:?}"),
            },
        }
    );
    // The first malformed field in order is the one `check` and `parse` name.
    let first = m.check().unwrap_err();
    assert!(
        matches!(
            first.kind,
            ErrorKind::Header {
                header: "Accept",
                ..
            }
        ),
        "{first:?}"
    );
    assert_eq!(parse(text.as_bytes()).unwrap_err(), first);
    let disposition = first.disposition();
    assert!(
        matches!(disposition, Disposition::Reject { status: 400, .. }),
        "{disposition:?}"
    );
}

/// RFC 3261 §8.2.2 / §12.2.1.1: the CSeq method is checked with CSeq.
#[test]
fn rfc3261_s8_2_2_a_cseq_method_mismatch_is_found_by_the_check_of_cseq() {
    let text = std::str::from_utf8(SUBSCRIBE)
        .unwrap()
        .replace("CSeq: 17766 SUBSCRIBE", "CSeq: 17766 NOTIFY");
    let m = parse_lazy(text.as_bytes()).unwrap();
    assert!(m.check_for(&[HeaderName::Via]).is_ok());
    assert!(matches!(
        m.check_for(&[HeaderName::CSeq]).unwrap_err().kind,
        ErrorKind::MethodMismatch { .. }
    ));
}

/// Fields as received (what a proxy forwards unchanged, RFC 3261 §16.3
/// step 1): the start line, every field written as received and the body
/// give back the message byte for byte, across the realistic corpus and the
/// RFC 4475 valid set.
#[test]
fn rfc3261_s16_3_fields_written_as_received_give_back_the_message() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut n = 0;
    for dir in ["corpus", "rfc-examples/wire", "rfc4475"] {
        for e in std::fs::read_dir(data.join(dir)).unwrap() {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let Ok(m) = parse_lazy(&bytes) else { continue };
            let first = find_crlf(&bytes).unwrap() + 2;
            let mut out = bytes[..first].to_vec();
            for f in m.fields() {
                f.write_to(&mut out);
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(m.body);
            assert!(
                bytes.starts_with(&out),
                "{}: {:?}",
                path.display(),
                String::from_utf8_lossy(&out)
            );
            n += 1;
        }
    }
    assert!(n > 50, "only {n} messages");
}

/// RFC 3261 §19.1.1: a Request-URI that is not a URI is read as text and
/// found by any check of the request (every handler reads it).
#[test]
fn rfc3261_s19_1_1_a_malformed_request_uri_is_found_by_any_check() {
    let text = std::str::from_utf8(SUBSCRIBE).unwrap().replace(
        "SUBSCRIBE sip:resource@example.com SIP/2.0",
        "SUBSCRIBE sip:resource@exa[mple.com SIP/2.0",
    );
    let m = parse_lazy(text.as_bytes()).unwrap();
    assert_eq!(m.request_uri(), None);
    let e = m.check_for(&[]).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::RequestUri(_)), "{e:?}");
    assert_eq!(parse(text.as_bytes()).unwrap_err(), e);
    assert_eq!(e.status(), 400);
}
