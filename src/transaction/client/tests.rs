use super::*;

const REQUEST: &[u8] = b"SUBSCRIBE sip:bob@example.com SIP/2.0\r\n...";

fn udp(now: Millis) -> ClientNonInvite {
    ClientNonInvite::new(now, REQUEST, false, Timers::default())
}

fn tcp(now: Millis) -> ClientNonInvite {
    ClientNonInvite::new(now, REQUEST, true, Timers::default())
}

/// Runs the transaction's timers, each at its exact deadline, until it
/// terminates or `until`; returns (instant, action) for every action.
fn drive(tx: &mut ClientNonInvite, until: Millis) -> Vec<(u64, ClientAction)> {
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

fn retransmit() -> ClientAction {
    ClientAction::Retransmit(Arc::from(REQUEST))
}

#[test]
fn rfc3261_s17_1_2_2_timer_e_doubles_to_t2_then_stays() {
    let mut tx = udp(Millis(0));
    assert_eq!(tx.poll_timeout(), Some(Millis(500)));
    let at: Vec<u64> = drive(&mut tx, Millis(31_999))
        .into_iter()
        .map(|(at, action)| {
            assert_eq!(action, retransmit());
            at
        })
        .collect();
    assert_eq!(
        at,
        [
            500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500
        ]
    );
    assert_eq!(tx.state(), ClientState::Trying);
}

#[test]
fn rfc3261_s17_1_2_2_timer_e_counts_from_the_epoch_the_driver_chose() {
    let mut tx = udp(Millis(1_000_000));
    let at: Vec<u64> = drive(&mut tx, Millis(1_008_000))
        .into_iter()
        .map(|(at, _)| at)
        .collect();
    assert_eq!(at, [1_000_500, 1_001_500, 1_003_500, 1_007_500]);
}

#[test]
fn rfc3261_s17_1_2_2_timer_e_is_t2_in_proceeding() {
    let mut tx = udp(Millis(0));
    assert_eq!(tx.on_timeout(Millis(500)), Some(retransmit()));
    assert_eq!(
        tx.on_response(Millis(600), 100),
        Some(ClientEvent::Provisional(100))
    );
    assert_eq!(tx.state(), ClientState::Proceeding);
    // The timer running when the provisional came still fires at 1500;
    // from then on every T2.
    let at: Vec<u64> = drive(&mut tx, Millis(20_000))
        .into_iter()
        .map(|(at, _)| at)
        .collect();
    assert_eq!(at, [1_500, 5_500, 9_500, 13_500, 17_500]);
}

#[test]
fn rfc3261_s17_1_2_2_timer_f_times_out_after_64_t1() {
    let mut tx = udp(Millis(0));
    let actions = drive(&mut tx, Millis(u64::MAX));
    assert_eq!(actions.last(), Some(&(32_000, ClientAction::Timeout)));
    assert_eq!(actions.len(), 11, "ten retransmissions, then the timeout");
    assert!(tx.is_terminated());
    assert_eq!(tx.poll_timeout(), None);
    assert_eq!(tx.on_timeout(Millis(40_000)), None);
}

#[test]
fn rfc3261_s17_1_2_2_timer_f_also_runs_in_proceeding_and_on_tcp() {
    let mut tx = tcp(Millis(0));
    assert_eq!(tx.poll_timeout(), Some(Millis(32_000)), "no Timer E on TCP");
    assert_eq!(
        tx.on_response(Millis(100), 180),
        Some(ClientEvent::Provisional(180))
    );
    assert_eq!(tx.on_timeout(Millis(31_999)), None);
    assert_eq!(tx.state(), ClientState::Proceeding);
    assert_eq!(tx.on_timeout(Millis(32_000)), Some(ClientAction::Timeout));
    assert!(tx.is_terminated());
    assert_eq!(tx.on_response(Millis(32_001), 200), None, "too late");
}

#[test]
fn rfc3261_s17_1_2_2_timer_f_wins_over_a_due_timer_e() {
    let mut tx = udp(Millis(0));
    // A driver that slept through everything: one call, one outcome.
    assert_eq!(tx.on_timeout(Millis(60_000)), Some(ClientAction::Timeout));
    assert!(tx.is_terminated());
}

#[test]
fn rfc3261_s17_1_2_2_a_late_driver_gets_one_retransmission_per_call() {
    let mut tx = udp(Millis(0));
    assert_eq!(tx.on_timeout(Millis(3_000)), Some(retransmit()));
    // Re-armed from the firing: 3000 + 2*T1.
    assert_eq!(tx.poll_timeout(), Some(Millis(4_000)));
    assert_eq!(tx.on_timeout(Millis(3_000)), None);
}

#[test]
fn rfc3261_s17_1_2_2_timer_k_waits_t4_on_udp_and_zero_on_tcp() {
    let mut tx = udp(Millis(0));
    assert_eq!(
        tx.on_response(Millis(700), 200),
        Some(ClientEvent::Final(200))
    );
    assert_eq!(tx.state(), ClientState::Completed);
    assert_eq!(
        tx.poll_timeout(),
        Some(Millis(5_700)),
        "K = T4, and E, F stop"
    );
    assert_eq!(tx.on_timeout(Millis(5_699)), None);
    assert_eq!(tx.state(), ClientState::Completed);
    assert_eq!(tx.on_timeout(Millis(5_700)), None);
    assert!(tx.is_terminated());
    assert_eq!(tx.poll_timeout(), None);

    let mut tx = tcp(Millis(0));
    assert_eq!(
        tx.on_response(Millis(700), 404),
        Some(ClientEvent::Final(404))
    );
    assert!(tx.is_terminated(), "K = 0: Terminated at once");
    assert_eq!(tx.poll_timeout(), None);
}

#[test]
fn rfc3261_s17_1_2_2_responses_in_completed_are_absorbed() {
    let mut tx = udp(Millis(0));
    assert_eq!(
        tx.on_response(Millis(10), 200),
        Some(ClientEvent::Final(200))
    );
    assert_eq!(tx.on_response(Millis(20), 200), None);
    assert_eq!(tx.on_response(Millis(30), 180), None);
    assert_eq!(tx.on_response(Millis(40), 500), None);
    assert_eq!(tx.state(), ClientState::Completed);
    assert_eq!(
        tx.on_timeout(Millis(4_000)),
        None,
        "no more retransmissions"
    );
}

#[test]
fn rfc3261_s17_1_2_2_every_provisional_goes_to_the_tu() {
    let mut tx = udp(Millis(0));
    assert_eq!(
        tx.on_response(Millis(1), 100),
        Some(ClientEvent::Provisional(100))
    );
    assert_eq!(
        tx.on_response(Millis(2), 183),
        Some(ClientEvent::Provisional(183))
    );
    assert_eq!(
        tx.on_response(Millis(3), 202),
        Some(ClientEvent::Final(202))
    );
}

#[test]
fn a_status_out_of_range_is_ignored() {
    let mut tx = udp(Millis(0));
    assert_eq!(tx.on_response(Millis(1), 99), None);
    assert_eq!(tx.on_response(Millis(1), 700), None);
    assert_eq!(tx.state(), ClientState::Trying);
}

#[test]
fn rfc3261_s17_1_4_transport_error_terminates() {
    let mut tx = udp(Millis(0));
    assert_eq!(tx.on_transport_error(), Some(ClientEvent::TransportError));
    assert!(tx.is_terminated());
    assert_eq!(tx.poll_timeout(), None);

    let mut tx = udp(Millis(0));
    tx.on_response(Millis(1), 200);
    assert_eq!(
        tx.on_transport_error(),
        None,
        "the TU already has its final response"
    );
    assert!(tx.is_terminated());
}

#[test]
fn the_request_is_kept_as_sent() {
    let tx = udp(Millis(0));
    assert_eq!(&**tx.request(), REQUEST);
}
