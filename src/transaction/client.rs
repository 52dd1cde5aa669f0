//! The non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6): it
//! retransmits the request over unreliable transports (Timer E), gives up
//! after 64*T1 (Timer F), passes the first of each kind of response to the
//! TU, and absorbs response retransmissions for T4 after the final one
//! (Timer K).
//!
//! The caller sends the request the first time, right after
//! [`ClientNonInvite::new`]; the transaction only ever resends it.

use std::sync::Arc;

use super::{Backoff, Class, Millis, Timers, earliest};

#[cfg(test)]
mod tests;

/// The states of Figure 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientState {
    /// The request is out; no response yet.
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// A final response arrived; Timer K runs.
    Completed,
    Terminated,
}

/// What the TU learns from the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientEvent {
    /// A provisional response (§17.1.2.2: each one goes to the TU).
    Provisional(u16),
    /// The final response; there is exactly one per transaction.
    Final(u16),
    /// Timer F fired with no final response: the TU treats it as a 408
    /// (§8.1.3.1).
    Timeout,
    /// The transport failed (§17.1.4): the TU treats it as a 503
    /// (§8.1.3.1) and may fail over (RFC 3263).
    TransportError,
}

/// What a timer asks the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAction {
    /// Timer E: send these bytes (the request) again.
    Retransmit(Arc<[u8]>),
    /// Timer F: the transaction has terminated; tell the TU
    /// [`ClientEvent::Timeout`].
    Timeout,
}

#[derive(Debug, Clone)]
pub struct ClientNonInvite {
    state: ClientState,
    reliable: bool,
    timers: Timers,
    request: Arc<[u8]>,
    /// Retransmission, unreliable transports only.
    timer_e: Option<Backoff>,
    /// Transaction timeout, every transport.
    timer_f: Option<Millis>,
    /// Linger after the final response.
    timer_k: Option<Millis>,
}

impl ClientNonInvite {
    /// A transaction for `request`, which the caller sends right after
    /// (§17.1.2.2: Trying is entered as the request goes out). Timer F starts
    /// now; Timer E too on an unreliable transport.
    pub fn new(now: Millis, request: impl Into<Arc<[u8]>>, reliable: bool, timers: Timers) -> Self {
        ClientNonInvite {
            state: ClientState::Trying,
            reliable,
            timers,
            request: request.into(),
            timer_e: (!reliable).then(|| Backoff::start(now, timers.t1)),
            timer_f: Some(now + timers.timer_f()),
            timer_k: None,
        }
    }

    pub fn state(&self) -> ClientState {
        self.state
    }

    pub fn is_terminated(&self) -> bool {
        self.state == ClientState::Terminated
    }

    /// The request, as the caller first sent it.
    pub fn request(&self) -> &Arc<[u8]> {
        &self.request
    }

    /// A response matched this transaction (§17.1.2.2). Provisionals move
    /// Trying to Proceeding and each goes to the TU; the first final moves
    /// to Completed (Timer K) and goes to the TU; responses in Completed
    /// are retransmissions and are absorbed (None), as is anything after
    /// Terminated or a status outside 100-699.
    pub fn on_response(&mut self, now: Millis, status: u16) -> Option<ClientEvent> {
        let class = Class::of(status)?;
        match self.state {
            ClientState::Trying | ClientState::Proceeding => {}
            ClientState::Completed | ClientState::Terminated => return None,
        }
        if class == Class::Provisional {
            self.state = ClientState::Proceeding;
            return Some(ClientEvent::Provisional(status));
        }
        self.timer_e = None;
        self.timer_f = None;
        let k = self.timers.timer_k(self.reliable);
        if k.is_zero() {
            self.state = ClientState::Terminated;
        } else {
            self.state = ClientState::Completed;
            self.timer_k = Some(now + k);
        }
        Some(ClientEvent::Final(status))
    }

    /// The transport could not send the request (§17.1.4): the transaction
    /// ends at once. Returns the event for the TU, unless the TU already had
    /// its final response.
    pub fn on_transport_error(&mut self) -> Option<ClientEvent> {
        let had_final = self.state != ClientState::Trying && self.state != ClientState::Proceeding;
        self.terminate();
        (!had_final).then_some(ClientEvent::TransportError)
    }

    /// When [`on_timeout`](Self::on_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Millis> {
        earliest(&[self.timer_e.map(|e| e.deadline), self.timer_f, self.timer_k])
    }

    /// Fires whatever timers are due at `now` (§17.1.2.2). Timer F before
    /// Timer E: a transaction that has timed out retransmits nothing more.
    pub fn on_timeout(&mut self, now: Millis) -> Option<ClientAction> {
        if self.timer_f.is_some_and(|f| now >= f) {
            self.terminate();
            return Some(ClientAction::Timeout);
        }
        if self.timer_k.is_some_and(|k| now >= k) {
            self.terminate();
            return None;
        }
        let (t2, proceeding) = (self.timers.t2, self.state == ClientState::Proceeding);
        let e = self.timer_e.as_mut().filter(|e| e.is_due(now))?;
        // Trying: the interval doubles up to T2. Proceeding: the server has
        // the request, so a retransmission every T2 is enough to make it
        // resend a final response that was lost.
        if proceeding {
            e.rearm_fixed(now, t2);
        } else {
            e.rearm(now, t2);
        }
        Some(ClientAction::Retransmit(Arc::clone(&self.request)))
    }

    fn terminate(&mut self) {
        self.state = ClientState::Terminated;
        self.timer_e = None;
        self.timer_f = None;
        self.timer_k = None;
    }
}
