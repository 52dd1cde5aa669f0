use super::*;

const TRYING: &[u8] = b"SIP/2.0 100 Trying\r\n...";
const RINGING: &[u8] = b"SIP/2.0 180 Ringing\r\n...";
const OK: &[u8] = b"SIP/2.0 200 OK\r\n...";
const OK_FORK: &[u8] = b"SIP/2.0 200 OK\r\nTo: <sip:bob@example.com>;tag=fork2\r\n...";
const BUSY: &[u8] = b"SIP/2.0 486 Busy Here\r\n...";

fn udp() -> ServerInvite {
    ServerInvite::new(false, Timers::default())
}

fn tcp() -> ServerInvite {
    ServerInvite::new(true, Timers::default())
}

fn sent(r: Result<Arc<[u8]>, ResponseError>) -> Vec<u8> {
    r.map(|w| w.to_vec())
        .unwrap_or_else(|e| panic!("refused: {e}"))
}

/// Runs the timers, each at its exact deadline, until the transaction
/// terminates or `until`; returns (instant, action) for every action.
fn drive(tx: &mut ServerInvite, until: Millis) -> Vec<(u64, InviteServerAction)> {
    let mut out = Vec::new();
    while let Some(at) = tx.poll_timeout() {
        if at > until {
            break;
        }
        if let Some(action) = tx.on_timeout(at) {
            out.push((at.0, action));
        }
    }
    out
}

fn busy_again() -> InviteServerAction {
    InviteServerAction::Retransmit(Arc::from(BUSY))
}

#[test]
fn rfc3261_s17_2_1_retransmitted_invite_gets_last_provisional_then_final() {
    let mut tx = udp();
    assert_eq!(tx.state(), InviteServerState::Proceeding);
    assert_eq!(tx.poll_timeout(), None, "no timer in Proceeding");
    assert_eq!(tx.on_retransmission(), None, "nothing sent yet");
    assert_eq!(sent(tx.on_response(Millis(0), 100, TRYING)), TRYING);
    assert_eq!(tx.on_retransmission().as_deref(), Some(TRYING));
    assert_eq!(sent(tx.on_response(Millis(900), 180, RINGING)), RINGING);
    assert_eq!(tx.on_retransmission().as_deref(), Some(RINGING));
    assert_eq!(tx.state(), InviteServerState::Proceeding);
    assert_eq!(sent(tx.on_response(Millis(5_000), 486, BUSY)), BUSY);
    assert_eq!(tx.state(), InviteServerState::Completed);
    assert_eq!(tx.on_retransmission().as_deref(), Some(BUSY));
}

#[test]
fn rfc3261_s17_2_1_timer_g_retransmits_final_response_doubling_to_t2() {
    let mut tx = udp();
    sent(tx.on_response(Millis(0), 486, BUSY));
    assert_eq!(tx.poll_timeout(), Some(Millis(500)));
    let at: Vec<u64> = drive(&mut tx, Millis(31_999))
        .into_iter()
        .map(|(at, action)| {
            assert_eq!(action, busy_again());
            at
        })
        .collect();
    assert_eq!(
        at,
        [
            500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500
        ]
    );
    assert_eq!(tx.state(), InviteServerState::Completed);
}

#[test]
fn rfc3261_s17_2_1_timer_h_gives_up_waiting_for_ack() {
    let mut tx = udp();
    sent(tx.on_response(Millis(2_000), 486, BUSY));
    let actions = drive(&mut tx, Millis(u64::MAX));
    assert_eq!(actions.last(), Some(&(34_000, InviteServerAction::NoAck)));
    assert_eq!(actions.len(), 11, "ten retransmissions, then H");
    assert!(tx.is_terminated());
    assert_eq!(tx.poll_timeout(), None);
    assert_eq!(tx.on_retransmission(), None);

    // On TCP: no Timer G, but H all the same.
    let mut tx = tcp();
    sent(tx.on_response(Millis(2_000), 486, BUSY));
    assert_eq!(tx.poll_timeout(), Some(Millis(34_000)));
    assert_eq!(tx.on_timeout(Millis(33_999)), None);
    assert_eq!(
        tx.on_timeout(Millis(34_000)),
        Some(InviteServerAction::NoAck)
    );
    assert!(tx.is_terminated());
}

#[test]
fn rfc3261_s17_2_1_timer_h_wins_over_a_due_timer_g() {
    let mut tx = udp();
    sent(tx.on_response(Millis(0), 486, BUSY));
    assert_eq!(
        tx.on_timeout(Millis(40_000)),
        Some(InviteServerAction::NoAck)
    );
    assert!(tx.is_terminated());
}

#[test]
fn rfc3261_s17_2_1_ack_confirms_and_timer_i() {
    let mut tx = udp();
    sent(tx.on_response(Millis(0), 486, BUSY));
    assert_eq!(tx.on_timeout(Millis(500)), Some(busy_again()));
    assert!(tx.on_ack(Millis(2_000)));
    assert_eq!(tx.state(), InviteServerState::Confirmed);
    assert_eq!(
        tx.poll_timeout(),
        Some(Millis(7_000)),
        "I = T4; G and H stop"
    );
    assert!(
        tx.on_ack(Millis(2_100)),
        "an ACK retransmission is absorbed"
    );
    assert_eq!(tx.on_retransmission(), None, "Confirmed absorbs INVITEs");
    assert_eq!(tx.on_timeout(Millis(6_999)), None);
    assert_eq!(tx.state(), InviteServerState::Confirmed);
    assert_eq!(tx.on_timeout(Millis(7_000)), None);
    assert!(tx.is_terminated());
    assert!(!tx.on_ack(Millis(7_001)));

    // On TCP, Timer I is zero.
    let mut tx = tcp();
    sent(tx.on_response(Millis(0), 486, BUSY));
    assert!(tx.on_ack(Millis(2_000)));
    assert!(tx.is_terminated());
    assert_eq!(tx.poll_timeout(), None);
}

#[test]
fn rfc3261_s17_2_1_an_ack_before_a_final_is_not_ours() {
    let mut tx = udp();
    sent(tx.on_response(Millis(0), 100, TRYING));
    assert!(!tx.on_ack(Millis(1)));
    assert_eq!(tx.state(), InviteServerState::Proceeding);
}

#[test]
fn rfc3261_s17_2_1_nothing_follows_a_non_2xx_final() {
    let mut tx = udp();
    sent(tx.on_response(Millis(0), 486, BUSY));
    for status in [180, 200, 486] {
        assert_eq!(
            tx.on_response(Millis(1), status, OK),
            Err(ResponseError::AfterFinal {
                sent: 486,
                refused: status
            })
        );
    }
    assert_eq!(tx.on_timeout(Millis(500)), Some(busy_again()));
}

#[test]
fn rfc6026_s7_1_accepted_state_absorbs_invite_retransmissions() {
    let mut tx = udp();
    sent(tx.on_response(Millis(0), 180, RINGING));
    assert_eq!(sent(tx.on_response(Millis(1_000), 200, OK)), OK);
    assert_eq!(tx.state(), InviteServerState::Accepted);
    assert_eq!(
        tx.poll_timeout(),
        Some(Millis(33_000)),
        "Timer L = 64*T1, no Timer G for a 2xx"
    );
    assert_eq!(tx.on_retransmission(), None, "absorbed, not answered");

    // 2xx from the TU pass through: retransmissions and other forks.
    assert_eq!(sent(tx.on_response(Millis(1_500), 200, OK)), OK);
    assert_eq!(sent(tx.on_response(Millis(1_600), 200, OK_FORK)), OK_FORK);
    assert_eq!(
        tx.on_response(Millis(1_700), 486, BUSY),
        Err(ResponseError::AfterFinal {
            sent: 200,
            refused: 486
        })
    );
    assert_eq!(
        tx.on_response(Millis(1_700), 180, RINGING),
        Err(ResponseError::AfterFinal {
            sent: 200,
            refused: 180
        })
    );
    assert!(
        !tx.on_ack(Millis(2_000)),
        "the ACK for a 2xx goes to the core"
    );
    assert_eq!(tx.state(), InviteServerState::Accepted);

    assert_eq!(tx.on_timeout(Millis(32_999)), None);
    assert_eq!(tx.on_retransmission(), None);
    assert_eq!(tx.state(), InviteServerState::Accepted);
    assert_eq!(tx.on_timeout(Millis(33_000)), None);
    assert!(tx.is_terminated());
    assert_eq!(
        tx.on_response(Millis(33_001), 200, OK),
        Err(ResponseError::Terminated)
    );
}

#[test]
fn rfc6026_s7_1_timer_l_runs_on_tcp_too() {
    let mut tx = tcp();
    sent(tx.on_response(Millis(0), 200, OK));
    assert_eq!(tx.state(), InviteServerState::Accepted);
    assert_eq!(tx.poll_timeout(), Some(Millis(32_000)));
}

#[test]
fn rfc3261_s17_2_4_transport_error_terminates() {
    let mut tx = udp();
    sent(tx.on_response(Millis(0), 486, BUSY));
    tx.on_transport_error();
    assert!(tx.is_terminated());
    assert_eq!(tx.poll_timeout(), None);
    assert_eq!(tx.on_timeout(Millis(500)), None);
}

#[test]
fn a_status_out_of_range_is_refused() {
    let mut tx = udp();
    assert_eq!(
        tx.on_response(Millis(0), 700, BUSY),
        Err(ResponseError::NotAStatus(700))
    );
    assert_eq!(tx.state(), InviteServerState::Proceeding);
}
