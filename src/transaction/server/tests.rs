use std::time::Duration;

use super::*;

const TRYING: &[u8] = b"SIP/2.0 100 Trying\r\n...";
const ACCEPTED: &[u8] = b"SIP/2.0 202 Accepted\r\n...";
const ERROR: &[u8] = b"SIP/2.0 500 Server Internal Error\r\n...";

fn udp() -> ServerNonInvite {
    ServerNonInvite::new(false, Timers::default())
}

fn sent(r: Result<Arc<[u8]>, ResponseError>) -> Vec<u8> {
    r.map(|w| w.to_vec())
        .unwrap_or_else(|e| panic!("refused: {e}"))
}

#[test]
fn rfc3261_s17_2_2_retransmitted_request_gets_last_response() {
    let mut tx = udp();
    assert_eq!(tx.state(), ServerState::Trying);
    assert_eq!(tx.on_retransmission(), None, "absorbed in Trying");

    assert_eq!(sent(tx.on_response(Millis(10), 100, TRYING)), TRYING);
    assert_eq!(tx.state(), ServerState::Proceeding);
    assert_eq!(tx.on_retransmission().as_deref(), Some(TRYING));

    assert_eq!(sent(tx.on_response(Millis(20), 202, ACCEPTED)), ACCEPTED);
    assert_eq!(tx.state(), ServerState::Completed);
    assert_eq!(tx.on_retransmission().as_deref(), Some(ACCEPTED));
    assert_eq!(tx.on_retransmission().as_deref(), Some(ACCEPTED));
}

#[test]
fn rfc3261_s17_2_2_timer_j_absorbs_retransmissions_for_64_t1() {
    let mut tx = udp();
    assert_eq!(tx.poll_timeout(), None, "no timer before a final response");
    sent(tx.on_response(Millis(1_000), 202, ACCEPTED));
    assert_eq!(tx.poll_timeout(), Some(Millis(33_000)));

    tx.on_timeout(Millis(32_999));
    assert_eq!(tx.state(), ServerState::Completed);
    assert_eq!(tx.on_retransmission().as_deref(), Some(ACCEPTED));

    tx.on_timeout(Millis(33_000));
    assert!(tx.is_terminated());
    assert_eq!(tx.poll_timeout(), None);
    assert_eq!(tx.on_retransmission(), None);
}

#[test]
fn rfc3261_s17_2_2_timer_j_is_zero_on_tcp() {
    let mut tx = ServerNonInvite::new(true, Timers::default());
    sent(tx.on_response(Millis(1_000), 100, TRYING));
    assert_eq!(tx.poll_timeout(), None);
    assert_eq!(sent(tx.on_response(Millis(1_000), 202, ACCEPTED)), ACCEPTED);
    assert!(tx.is_terminated(), "J = 0: Terminated at once");
    assert_eq!(tx.poll_timeout(), None);
}

#[test]
fn rfc3261_s17_2_2_timer_j_follows_t1() {
    let timers = Timers {
        t1: Duration::from_millis(100),
        ..Timers::default()
    };
    let mut tx = ServerNonInvite::new(false, timers);
    sent(tx.on_response(Millis(0), 500, ERROR));
    assert_eq!(tx.poll_timeout(), Some(Millis(6_400)));
}

#[test]
fn rfc3261_s17_2_2_nothing_follows_a_final_response() {
    let mut tx = udp();
    sent(tx.on_response(Millis(0), 202, ACCEPTED));
    assert_eq!(
        tx.on_response(Millis(1), 500, ERROR),
        Err(ResponseError::AfterFinal {
            sent: 202,
            refused: 500
        })
    );
    assert_eq!(
        tx.on_response(Millis(1), 100, TRYING),
        Err(ResponseError::AfterFinal {
            sent: 202,
            refused: 100
        })
    );
    assert_eq!(
        tx.on_retransmission().as_deref(),
        Some(ACCEPTED),
        "a refused response does not replace the final"
    );
    tx.on_timeout(Millis(32_000));
    assert_eq!(
        tx.on_response(Millis(32_001), 500, ERROR),
        Err(ResponseError::Terminated)
    );
}

#[test]
fn a_status_out_of_range_is_refused() {
    let mut tx = udp();
    assert_eq!(
        tx.on_response(Millis(0), 99, TRYING),
        Err(ResponseError::NotAStatus(99))
    );
    assert_eq!(tx.state(), ServerState::Trying);
}

#[test]
fn rfc3261_s17_2_4_transport_error_terminates() {
    let mut tx = udp();
    sent(tx.on_response(Millis(0), 202, ACCEPTED));
    tx.on_transport_error();
    assert!(tx.is_terminated());
    assert_eq!(tx.poll_timeout(), None);
    assert_eq!(tx.on_retransmission(), None);

    let mut tx = udp();
    tx.on_transport_error();
    assert_eq!(
        tx.on_response(Millis(0), 202, ACCEPTED),
        Err(ResponseError::Terminated)
    );
}
