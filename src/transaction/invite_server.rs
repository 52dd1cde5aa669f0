//! The INVITE server transaction (RFC 3261 §17.2.1, Figure 7, as amended
//! by RFC 6026 §7.1), as far as a stateful proxy needs it.
//!
//! - Proceeding: retransmitted INVITEs get the last provisional response.
//! - A 3xx-6xx final moves to Completed: Timer G resends the final over
//!   unreliable transports until the ACK comes (then Confirmed, Timer I)
//!   or Timer H gives up.
//! - A 2xx final moves to Accepted (RFC 6026): the transaction no longer
//!   resends anything, because 2xx retransmission belongs to the UAS core,
//!   which a proxy forwards (§16.7 step 5, §13.3.1.4). It only absorbs
//!   retransmitted INVITEs until Timer L ends it, and lets further 2xx
//!   responses from the TU through (RFC 6026 §7.1).
//!
//! The caller sends the 100 Trying (§17.2.1: at once, unless the TU will
//! answer within 200 ms) by passing it through
//! [`ServerInvite::on_response`] like any provisional, so that a
//! retransmitted INVITE gets it again.

use std::sync::Arc;

use super::{Backoff, Class, Millis, ResponseError, Timers, earliest};

#[cfg(test)]
mod tests;

/// The states of Figure 7, with RFC 6026's Accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InviteServerState {
    /// The INVITE arrived; the TU has sent nothing final.
    Proceeding,
    /// A 3xx-6xx final went out; waiting for the ACK (Timers G, H).
    Completed,
    /// The ACK arrived; absorbing its retransmissions (Timer I).
    Confirmed,
    /// A 2xx final went out (RFC 6026 §7.1); Timer L runs.
    Accepted,
    Terminated,
}

/// What a timer asks the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InviteServerAction {
    /// Timer G: send these bytes (the final response) again.
    Retransmit(Arc<[u8]>),
    /// Timer H: no ACK came for the final response. The transaction has
    /// terminated; the TU is told (§17.2.1: "the TU has to be informed").
    NoAck,
}

#[derive(Debug, Clone)]
pub struct ServerInvite {
    state: InviteServerState,
    reliable: bool,
    timers: Timers,
    /// The last provisional, for retransmitted INVITEs in Proceeding.
    provisional: Option<Arc<[u8]>>,
    /// The final response and its status, once sent.
    last_final: Option<(u16, Arc<[u8]>)>,
    /// Final response retransmission, unreliable transports only.
    timer_g: Option<Backoff>,
    /// Wait for the ACK.
    timer_h: Option<Millis>,
    /// Wait in Confirmed for ACK retransmissions.
    timer_i: Option<Millis>,
    /// Wait in Accepted for INVITE retransmissions (RFC 6026).
    timer_l: Option<Millis>,
}

impl ServerInvite {
    /// A transaction for an INVITE that just arrived, in Proceeding. There
    /// is no timer in Proceeding: a proxy bounds the wait with Timer C
    /// (§16.6 step 11), which belongs to the proxy, not to the transaction.
    pub fn new(reliable: bool, timers: Timers) -> Self {
        ServerInvite {
            state: InviteServerState::Proceeding,
            reliable,
            timers,
            provisional: None,
            last_final: None,
            timer_g: None,
            timer_h: None,
            timer_i: None,
            timer_l: None,
        }
    }

    pub fn state(&self) -> InviteServerState {
        self.state
    }

    pub fn is_terminated(&self) -> bool {
        self.state == InviteServerState::Terminated
    }

    /// A retransmission of the INVITE matched this transaction: in
    /// Proceeding it gets the last provisional (None before the first), in
    /// Completed the final response (§17.2.1). Confirmed and Accepted
    /// absorb it (RFC 6026 §7.1).
    pub fn on_retransmission(&self) -> Option<Arc<[u8]>> {
        match self.state {
            InviteServerState::Proceeding => self.provisional.clone(),
            InviteServerState::Completed => self.last_final.as_ref().map(|(_, w)| Arc::clone(w)),
            InviteServerState::Confirmed
            | InviteServerState::Accepted
            | InviteServerState::Terminated => None,
        }
    }

    /// An ACK matched this transaction. In Completed it is the ACK for our
    /// non-2xx final: Confirmed, and Timer I (or, on a reliable transport
    /// where I is zero, Terminated at once). In Confirmed it is a
    /// retransmission. Both are absorbed: returns true.
    ///
    /// Otherwise returns false and changes nothing: an ACK in Accepted
    /// acknowledges a 2xx and is for the proxy core to forward (§16.7; it
    /// matches only through an RFC 2543 key, since an RFC 3261 ACK for a
    /// 2xx has a branch of its own).
    pub fn on_ack(&mut self, now: Millis) -> bool {
        match self.state {
            InviteServerState::Completed => {
                self.timer_g = None;
                self.timer_h = None;
                let i = self.timers.timer_i(self.reliable);
                if i.is_zero() {
                    self.terminate();
                } else {
                    self.state = InviteServerState::Confirmed;
                    self.timer_i = Some(now + i);
                }
                true
            }
            InviteServerState::Confirmed => true,
            InviteServerState::Proceeding
            | InviteServerState::Accepted
            | InviteServerState::Terminated => false,
        }
    }

    /// The TU sends a response; returns the bytes to pass to the transport.
    ///
    /// In Proceeding: a provisional stays there and is kept for
    /// retransmitted INVITEs; a 2xx moves to Accepted (Timer L); a 3xx-6xx
    /// moves to Completed (Timer H, and Timer G on an unreliable transport).
    /// In Accepted, further 2xx responses (the UAS core's retransmissions,
    /// or 2xx from other forks) pass through untouched (RFC 6026 §7.1).
    /// Anything else after a final response is refused.
    pub fn on_response(
        &mut self,
        now: Millis,
        status: u16,
        wire: impl Into<Arc<[u8]>>,
    ) -> Result<Arc<[u8]>, ResponseError> {
        let class = Class::of(status).ok_or(ResponseError::NotAStatus(status))?;
        match (self.state, class, &self.last_final) {
            (InviteServerState::Proceeding, _, _) => {}
            (InviteServerState::Accepted, Class::Success, _) => return Ok(wire.into()),
            (InviteServerState::Terminated, _, _) | (_, _, None) => {
                return Err(ResponseError::Terminated);
            }
            (_, _, Some((sent, _))) => {
                return Err(ResponseError::AfterFinal {
                    sent: *sent,
                    refused: status,
                });
            }
        }
        let wire = wire.into();
        match class {
            Class::Provisional => self.provisional = Some(Arc::clone(&wire)),
            Class::Success => {
                self.last_final = Some((status, Arc::clone(&wire)));
                self.state = InviteServerState::Accepted;
                self.timer_l = Some(now + self.timers.timer_l());
            }
            Class::Failure => {
                self.last_final = Some((status, Arc::clone(&wire)));
                self.state = InviteServerState::Completed;
                self.timer_g = (!self.reliable).then(|| Backoff::start(now, self.timers.t1));
                self.timer_h = Some(now + self.timers.timer_h());
            }
        }
        Ok(wire)
    }

    /// The transport could not send a response (§17.2.4): the transaction
    /// ends. Telling the TU is the driver's part, since it saw the failure.
    pub fn on_transport_error(&mut self) {
        self.terminate();
    }

    /// When [`on_timeout`](Self::on_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Millis> {
        earliest(&[
            self.timer_g.map(|g| g.deadline),
            self.timer_h,
            self.timer_i,
            self.timer_l,
        ])
    }

    /// Fires whatever timers are due at `now`. Timer H before Timer G: once
    /// the wait for the ACK is over, nothing more is resent.
    pub fn on_timeout(&mut self, now: Millis) -> Option<InviteServerAction> {
        if self.timer_h.is_some_and(|h| now >= h) {
            self.terminate();
            return Some(InviteServerAction::NoAck);
        }
        if [self.timer_i, self.timer_l]
            .into_iter()
            .flatten()
            .any(|t| now >= t)
        {
            self.terminate();
            return None;
        }
        let t2 = self.timers.t2;
        let g = self.timer_g.as_mut().filter(|g| g.is_due(now))?;
        g.rearm(now, t2);
        self.last_final
            .as_ref()
            .map(|(_, w)| InviteServerAction::Retransmit(Arc::clone(w)))
    }

    fn terminate(&mut self) {
        self.state = InviteServerState::Terminated;
        self.timer_g = None;
        self.timer_h = None;
        self.timer_i = None;
        self.timer_l = None;
    }
}
