//! The non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8): it
//! answers request retransmissions with the last response the TU sent,
//! and lingers for Timer J after a final response so that late
//! retransmissions still get it.
//!
//! The transaction never builds a response. The TU's responses pass
//! through [`ServerNonInvite::on_response`], which keeps the bytes and
//! returns them for sending.

use std::sync::Arc;

use super::{Class, Millis, ResponseError, Timers};

#[cfg(test)]
mod tests;

/// The states of Figure 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerState {
    /// The request arrived; the TU has not responded yet.
    Trying,
    /// The TU sent a provisional response.
    Proceeding,
    /// The TU sent a final response; Timer J runs.
    Completed,
    Terminated,
}

#[derive(Debug, Clone)]
pub struct ServerNonInvite {
    state: ServerState,
    reliable: bool,
    timers: Timers,
    /// The last response the TU sent, with its status: what a
    /// retransmitted request gets (§17.2.2).
    last: Option<(u16, Arc<[u8]>)>,
    timer_j: Option<Millis>,
}

impl ServerNonInvite {
    /// A transaction for a request that just arrived, in Trying. `reliable`
    /// is the transport the request came over (§18.2.1 answers on the same
    /// connection or address).
    ///
    /// There is no timer in Trying: RFC 3261 leaves answering to the TU.
    pub fn new(reliable: bool, timers: Timers) -> Self {
        ServerNonInvite {
            state: ServerState::Trying,
            reliable,
            timers,
            last: None,
            timer_j: None,
        }
    }

    pub fn state(&self) -> ServerState {
        self.state
    }

    pub fn is_terminated(&self) -> bool {
        self.state == ServerState::Terminated
    }

    /// A retransmission of the request matched this transaction (§17.2.2):
    /// absorbed in Trying (None), answered with the last response in
    /// Proceeding and Completed.
    pub fn on_retransmission(&self) -> Option<Arc<[u8]>> {
        match self.state {
            ServerState::Proceeding | ServerState::Completed => {
                self.last.as_ref().map(|(_, wire)| Arc::clone(wire))
            }
            ServerState::Trying | ServerState::Terminated => None,
        }
    }

    /// The TU sends a response; returns the bytes to pass to the transport.
    ///
    /// A provisional response moves Trying to Proceeding; a final one moves
    /// to Completed and starts Timer J (64*T1), or, on a reliable transport
    /// where J is zero, ends the transaction at once. After a final
    /// response every further response is refused (§17.2.2: "any other
    /// final responses passed by the TU ... MUST be discarded").
    pub fn on_response(
        &mut self,
        now: Millis,
        status: u16,
        wire: impl Into<Arc<[u8]>>,
    ) -> Result<Arc<[u8]>, ResponseError> {
        let class = Class::of(status).ok_or(ResponseError::NotAStatus(status))?;
        match (self.state, &self.last) {
            (ServerState::Trying | ServerState::Proceeding, _) => {}
            (ServerState::Completed, Some((sent, _))) => {
                return Err(ResponseError::AfterFinal {
                    sent: *sent,
                    refused: status,
                });
            }
            // Completed always has a response; Terminated may have none
            // (a transport error in Trying).
            (ServerState::Completed | ServerState::Terminated, _) => {
                return Err(ResponseError::Terminated);
            }
        }
        let wire = wire.into();
        self.last = Some((status, Arc::clone(&wire)));
        if class == Class::Provisional {
            self.state = ServerState::Proceeding;
            return Ok(wire);
        }
        let j = self.timers.timer_j(self.reliable);
        if j.is_zero() {
            self.state = ServerState::Terminated;
        } else {
            self.state = ServerState::Completed;
            self.timer_j = Some(now + j);
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
        self.timer_j
    }

    /// Timer J fired: Completed ends (§17.2.2). Early calls do nothing.
    pub fn on_timeout(&mut self, now: Millis) {
        if self.timer_j.is_some_and(|j| now >= j) {
            self.terminate();
        }
    }

    fn terminate(&mut self) {
        self.state = ServerState::Terminated;
        self.timer_j = None;
    }
}
