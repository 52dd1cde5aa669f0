use super::*;
use crate::sip::parse;

/// A request with the given start line method and top Via, and the
/// To tag (if any); CSeq follows the method.
fn request(method: &str, via: &str, to_tag: &str, cseq: u32) -> Vec<u8> {
    format!(
        "{method} sip:bob@example.com SIP/2.0\r\n\
         Via: {via}\r\n\
         Via: SIP/2.0/UDP upstream.example.net;branch=z9hG4bKup\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@example.com>;tag=a1\r\n\
         To: <sip:bob@example.com>{to_tag}\r\n\
         Call-ID: 3848276298220188511@client.example.com\r\n\
         CSeq: {cseq} {method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn key(bytes: &[u8]) -> ServerKey {
    let msg = parse(bytes).unwrap_or_else(|e| panic!("{e}"));
    server_key(&msg).unwrap_or_else(|| panic!("no key for {}", String::from_utf8_lossy(bytes)))
}

const VIA: &str = "SIP/2.0/UDP client.example.com:5060;branch=z9hG4bK74bf9";

#[test]
fn rfc3261_s17_2_3_branch_key_matching() {
    let invite = key(&request("INVITE", VIA, "", 1));
    assert_eq!(
        invite,
        ServerKey::Branch {
            branch: "z9hg4bk74bf9".into(),
            host: "client.example.com".into(),
            port: Some(5060),
            method: "INVITE".into(),
        }
    );
    // A retransmission matches.
    assert_eq!(key(&request("INVITE", VIA, "", 1)), invite);
    // The ACK for a non-2xx final carries our To tag and the same branch.
    assert_eq!(key(&request("ACK", VIA, ";tag=b2", 1)), invite);
    // sent-by hosts compare case-insensitively.
    let shouting = "SIP/2.0/UDP CLIENT.Example.COM:5060;branch=z9hG4bK74bf9";
    assert_eq!(key(&request("INVITE", shouting, "", 1)), invite);

    // Same branch from another sent-by is another transaction...
    let elsewhere = "SIP/2.0/UDP other.example.com:5060;branch=z9hG4bK74bf9";
    assert_ne!(key(&request("INVITE", elsewhere, "", 1)), invite);
    // ... and so from another port, or with the port left out.
    let port = "SIP/2.0/UDP client.example.com:5070;branch=z9hG4bK74bf9";
    assert_ne!(key(&request("INVITE", port, "", 1)), invite);
    let no_port = "SIP/2.0/UDP client.example.com;branch=z9hG4bK74bf9";
    assert_ne!(key(&request("INVITE", no_port, "", 1)), invite);
    // Another branch is another transaction.
    let branch = "SIP/2.0/UDP client.example.com:5060;branch=z9hG4bK74bfA";
    assert_ne!(key(&request("INVITE", branch, "", 1)), invite);
}

#[test]
fn rfc3261_s9_2_cancel_is_its_own_transaction_but_finds_its_invite() {
    let invite = key(&request("INVITE", VIA, "", 1));
    let cancel = key(&request("CANCEL", VIA, "", 1));
    assert_ne!(cancel, invite);
    assert_eq!(cancel.cancelled_invite(), Some(invite.clone()));
    assert_eq!(invite.cancelled_invite(), None);
}

#[test]
fn rfc3261_s17_2_3_rfc2543_key_matching() {
    // RFC 2543 branches have no cookie (or there is no branch at all).
    let old_via = "SIP/2.0/UDP client.example.com:5060;branch=1";
    let invite = key(&request("INVITE", old_via, "", 1));
    assert!(matches!(invite, ServerKey::Rfc2543 { .. }), "{invite:?}");
    assert_eq!(key(&request("INVITE", old_via, "", 1)), invite);
    // The ACK carries the To tag of our response; it still matches.
    assert_eq!(key(&request("ACK", old_via, ";tag=b2", 1)), invite);
    // Another CSeq, Via or Request-URI is another transaction.
    assert_ne!(key(&request("INVITE", old_via, "", 2)), invite);
    assert_ne!(key(&request("ACK", old_via, ";tag=b2", 2)), invite);
    let other_via = "SIP/2.0/UDP client.example.com:5060;branch=2";
    assert_ne!(key(&request("INVITE", other_via, "", 1)), invite);
    let bare = "SIP/2.0/UDP client.example.com:5060";
    assert_ne!(key(&request("INVITE", bare, "", 1)), invite);
    let moved = String::from_utf8(request("INVITE", old_via, "", 1))
        .map(|s| s.replacen("sip:bob@example.com", "sip:bob@example.org", 1))
        .unwrap_or_default();
    assert_ne!(key(moved.as_bytes()), invite);
    // A cookie-less CANCEL finds its INVITE too.
    let cancel = key(&request("CANCEL", old_via, "", 1));
    assert_ne!(cancel, invite);
    assert_eq!(cancel.cancelled_invite(), Some(invite));

    // Other methods keep the To tag.
    let bye = key(&request("BYE", old_via, ";tag=b2", 5));
    assert_eq!(key(&request("BYE", old_via, ";tag=b2", 5)), bye);
    assert_ne!(key(&request("BYE", old_via, ";tag=b3", 5)), bye);
    match bye {
        ServerKey::Rfc2543 {
            to_tag,
            from_tag,
            cseq,
            method,
            call_id,
            ..
        } => {
            assert_eq!(to_tag.as_deref(), Some("b2"));
            assert_eq!(from_tag.as_deref(), Some("a1"));
            assert_eq!(cseq, 5);
            assert_eq!(method, "BYE");
            assert_eq!(call_id, "3848276298220188511@client.example.com");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rfc3261_s8_1_1_7_a_lone_cookie_is_an_rfc2543_branch() {
    let cookie_only = "SIP/2.0/UDP client.example.com:5060;branch=z9hG4bK";
    let k = key(&request("OPTIONS", cookie_only, "", 1));
    assert!(matches!(k, ServerKey::Rfc2543 { .. }), "{k:?}");
}

const RESPONSE: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP client.example.com:5060;branch=z9hG4bK74bf9\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>;tag=b2\r\n\
Call-ID: 3848276298220188511@client.example.com\r\n\
CSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n";

#[test]
fn rfc3261_s17_1_3_client_key_matching() {
    let sent = parse(&request("INVITE", VIA, "", 1)).map(|m| client_key(&m));
    let got = parse(RESPONSE).map(|m| client_key(&m));
    let expected = ClientKey {
        branch: "z9hg4bk74bf9".into(),
        method: "INVITE".into(),
    };
    assert_eq!(sent, Ok(Some(expected.clone())));
    assert_eq!(got, Ok(Some(expected.clone())));

    // The response to a CANCEL shares the branch, not the transaction.
    let cancel_ok = String::from_utf8_lossy(RESPONSE).replace("1 INVITE", "1 CANCEL");
    let cancel = parse(cancel_ok.as_bytes()).map(|m| client_key(&m));
    assert_eq!(
        cancel,
        Ok(Some(ClientKey {
            branch: expected.branch,
            method: "CANCEL".into(),
        }))
    );

    // We only send RFC 3261 branches: a response without one is not ours.
    let old = String::from_utf8_lossy(RESPONSE).replace("z9hG4bK74bf9", "74bf9");
    assert_eq!(parse(old.as_bytes()).map(|m| client_key(&m)), Ok(None));
}

#[test]
fn rfc3261_s17_2_3_responses_have_no_server_key() {
    assert_eq!(parse(RESPONSE).map(|m| server_key(&m)), Ok(None));
}
