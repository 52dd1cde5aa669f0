//! The INVITE client transaction (RFC 3261 §17.1.1, Figure 5), with the
//! Accepted state of RFC 6026 §8.4: it retransmits the INVITE over
//! unreliable transports (Timer A, doubling without a cap), gives up after
//! 64*T1 (Timer B), passes each provisional and the final response to the
//! TU, acknowledges a non-2xx final itself (the ACK is the driver's bytes:
//! machines build no messages) and resends that ACK for every retransmitted
//! final while Timer D runs. A 2xx ends the transaction's own work: the ACK
//! for it is end to end; 2xx retransmissions during Timer M are passed to
//! the TU, which (as a proxy) forwards them upstream.

use std::sync::Arc;

use super::{Backoff, Class, Millis, Timers, earliest};

/// The states of Figure 5, and Accepted (RFC 6026).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InviteClientState {
    Calling,
    Proceeding,
    /// A non-2xx final arrived and was acknowledged; Timer D runs.
    Completed,
    /// A 2xx arrived; Timer M runs.
    Accepted,
    Terminated,
}

/// What the TU learns from the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InviteClientEvent {
    Provisional(u16),
    /// A 2xx (the first, or a retransmission in Accepted): forward it.
    Success(u16),
    /// A 3xx-6xx: forward it; the driver must now give the ACK to
    /// [`ClientInvite::acknowledge`] and send it.
    Failure(u16),
    /// Timer B: no final response (the TU treats it as 408).
    Timeout,
    /// The transport failed (treated as 503, §8.1.3.1).
    TransportError,
}

/// What a response or a timer asks the driver to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteClientAction {
    /// Timer A: the INVITE again.
    Retransmit(Arc<[u8]>),
    /// A final retransmitted in Completed: the ACK again.
    ResendAck(Arc<[u8]>),
    /// Timer B fired: tell the TU [`InviteClientEvent::Timeout`].
    Timeout,
}

#[derive(Debug, Clone)]
pub struct ClientInvite {
    state: InviteClientState,
    reliable: bool,
    timers: Timers,
    request: Arc<[u8]>,
    ack: Option<Arc<[u8]>>,
    timer_a: Option<Backoff>,
    timer_b: Option<Millis>,
    timer_d: Option<Millis>,
    timer_m: Option<Millis>,
}

impl ClientInvite {
    /// A transaction for an INVITE the caller sends right after; Timer B
    /// starts now, Timer A too on an unreliable transport.
    pub fn new(now: Millis, request: impl Into<Arc<[u8]>>, reliable: bool, timers: Timers) -> Self {
        ClientInvite {
            state: InviteClientState::Calling,
            reliable,
            timers,
            request: request.into(),
            ack: None,
            timer_a: (!reliable).then(|| Backoff::start(now, timers.t1)),
            timer_b: Some(now + timers.timer_b()),
            timer_d: None,
            timer_m: None,
        }
    }

    pub fn state(&self) -> InviteClientState {
        self.state
    }

    pub fn is_terminated(&self) -> bool {
        self.state == InviteClientState::Terminated
    }

    pub fn request(&self) -> &Arc<[u8]> {
        &self.request
    }

    /// Whether a provisional response has come (§9.1: a CANCEL may only be
    /// sent once one has).
    pub fn has_provisional(&self) -> bool {
        self.state == InviteClientState::Proceeding
    }

    /// Whether the transaction still waits for its final response.
    pub fn is_pending(&self) -> bool {
        matches!(
            self.state,
            InviteClientState::Calling | InviteClientState::Proceeding
        )
    }

    /// A response matched this transaction (§17.1.1.2, RFC 6026 §8.4).
    /// Returns the event for the TU (None: absorbed) and what to send.
    pub fn on_response(
        &mut self,
        now: Millis,
        status: u16,
    ) -> (Option<InviteClientEvent>, Option<InviteClientAction>) {
        let Some(class) = Class::of(status) else {
            return (None, None);
        };
        match (self.state, class) {
            (InviteClientState::Calling | InviteClientState::Proceeding, Class::Provisional) => {
                self.state = InviteClientState::Proceeding;
                self.timer_a = None;
                (Some(InviteClientEvent::Provisional(status)), None)
            }
            (InviteClientState::Calling | InviteClientState::Proceeding, Class::Success) => {
                self.stop_request_timers();
                self.state = InviteClientState::Accepted;
                self.timer_m = Some(now + self.timers.timer_b());
                (Some(InviteClientEvent::Success(status)), None)
            }
            (InviteClientState::Calling | InviteClientState::Proceeding, Class::Failure) => {
                self.stop_request_timers();
                self.state = InviteClientState::Completed;
                let d = self.timers.timer_d(self.reliable);
                self.timer_d = Some(now + d);
                (Some(InviteClientEvent::Failure(status)), None)
            }
            // RFC 6026 §8.4: 2xx retransmissions go to the TU.
            (InviteClientState::Accepted, Class::Success) => {
                (Some(InviteClientEvent::Success(status)), None)
            }
            // §17.1.1.2: a retransmitted final is acknowledged again.
            (InviteClientState::Completed, Class::Failure) => {
                (None, self.ack.clone().map(InviteClientAction::ResendAck))
            }
            _ => (None, None),
        }
    }

    /// The ACK the driver built and sent for the non-2xx final
    /// (§17.1.1.3); kept to answer retransmitted finals. On a reliable
    /// transport Timer D is zero and the transaction ends here.
    pub fn acknowledge(&mut self, ack: impl Into<Arc<[u8]>>) {
        self.ack = Some(ack.into());
        if self.state == InviteClientState::Completed && self.reliable {
            self.terminate();
        }
    }

    pub fn on_transport_error(&mut self) -> Option<InviteClientEvent> {
        let pending = self.is_pending();
        self.terminate();
        pending.then_some(InviteClientEvent::TransportError)
    }

    pub fn poll_timeout(&self) -> Option<Millis> {
        earliest(&[
            self.timer_a.map(|a| a.deadline),
            self.timer_b,
            self.timer_d,
            self.timer_m,
        ])
    }

    /// Fires what is due: B before A (a transaction that has timed out
    /// retransmits nothing more); D and M end the transaction.
    pub fn on_timeout(&mut self, now: Millis) -> Option<InviteClientAction> {
        if self.timer_b.is_some_and(|b| now >= b) {
            self.terminate();
            return Some(InviteClientAction::Timeout);
        }
        if self.timer_d.is_some_and(|d| now >= d) || self.timer_m.is_some_and(|m| now >= m) {
            self.terminate();
            return None;
        }
        let a = self.timer_a.as_mut().filter(|a| a.is_due(now))?;
        // Timer A doubles without a cap (§17.1.1.2).
        a.rearm(now, std::time::Duration::MAX);
        Some(InviteClientAction::Retransmit(Arc::clone(&self.request)))
    }

    fn stop_request_timers(&mut self) {
        self.timer_a = None;
        self.timer_b = None;
    }

    fn terminate(&mut self) {
        self.state = InviteClientState::Terminated;
        self.timer_a = None;
        self.timer_b = None;
        self.timer_d = None;
        self.timer_m = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(reliable: bool) -> ClientInvite {
        ClientInvite::new(Millis(0), &b"INVITE"[..], reliable, Timers::default())
    }

    #[test]
    fn rfc3261_s17_1_1_2_timer_a_doubles_without_a_cap_until_timer_b() {
        let mut t = tx(false);
        let mut at = Vec::new();
        while let Some(when) = t.poll_timeout() {
            match t.on_timeout(when) {
                Some(InviteClientAction::Retransmit(_)) => at.push(when.0),
                Some(InviteClientAction::Timeout) => break,
                other => panic!("{other:?}"),
            }
        }
        // 1, 2, 4, 8, 16, 32 × T1 apart; then Timer B at 64 × T1 = 32 s.
        assert_eq!(at, vec![500, 1_500, 3_500, 7_500, 15_500, 31_500]);
        assert!(t.is_terminated());
    }

    #[test]
    fn rfc3261_s17_1_1_2_a_provisional_stops_retransmissions() {
        let mut t = tx(false);
        assert_eq!(
            t.on_response(Millis(100), 180),
            (Some(InviteClientEvent::Provisional(180)), None)
        );
        assert!(t.has_provisional());
        // Only Timer B is left.
        assert_eq!(t.poll_timeout(), Some(Millis(32_000)));
    }

    #[test]
    fn rfc3261_s17_1_1_3_a_failure_is_acknowledged_and_retransmissions_get_the_ack_again() {
        let mut t = tx(false);
        t.on_response(Millis(100), 180);
        assert_eq!(
            t.on_response(Millis(200), 486),
            (Some(InviteClientEvent::Failure(486)), None)
        );
        t.acknowledge(&b"ACK"[..]);
        assert_eq!(t.state(), InviteClientState::Completed);
        let (event, action) = t.on_response(Millis(300), 486);
        assert_eq!(event, None);
        assert_eq!(
            action,
            Some(InviteClientAction::ResendAck(Arc::from(&b"ACK"[..])))
        );
        // Timer D: 32 s on UDP.
        assert_eq!(t.poll_timeout(), Some(Millis(32_200)));
        assert_eq!(t.on_timeout(Millis(32_200)), None);
        assert!(t.is_terminated());
    }

    #[test]
    fn rfc3261_s17_1_1_3_timer_d_is_zero_over_tcp() {
        let mut t = tx(true);
        t.on_response(Millis(0), 603);
        t.acknowledge(&b"ACK"[..]);
        assert!(t.is_terminated());
    }

    #[test]
    fn rfc6026_s8_4_retransmitted_2xx_reach_the_tu_until_timer_m() {
        let mut t = tx(false);
        assert_eq!(
            t.on_response(Millis(10), 200).0,
            Some(InviteClientEvent::Success(200))
        );
        assert_eq!(t.state(), InviteClientState::Accepted);
        assert_eq!(
            t.on_response(Millis(600), 200).0,
            Some(InviteClientEvent::Success(200))
        );
        assert_eq!(t.poll_timeout(), Some(Millis(32_010)));
        t.on_timeout(Millis(32_010));
        assert!(t.is_terminated());
    }

    #[test]
    fn rfc3261_s17_1_4_a_transport_error_ends_a_pending_transaction() {
        let mut t = tx(true);
        assert_eq!(
            t.on_transport_error(),
            Some(InviteClientEvent::TransportError)
        );
        assert!(t.is_terminated());
    }
}
