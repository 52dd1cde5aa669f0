//! The transaction layer (RFC 3261 §17): the state machines that absorb
//! retransmissions, retransmit over unreliable transports, and tell the
//! transaction user (TU) what happened, plus the keys that match an
//! incoming message to its transaction (§17.1.3, §17.2.3).
//!
//! What lives here:
//! - [`ServerNonInvite`]: the non-INVITE server transaction (§17.2.2, Figure 8);
//! - [`ClientNonInvite`]: the non-INVITE client transaction (§17.1.2, Figure 6);
//! - [`ClientInvite`]: the INVITE client transaction (§17.1.1, Figure 5), with
//!   the Accepted state of RFC 6026 §8.4;
//! - [`ServerInvite`]: the INVITE server transaction (§17.2.1, Figure 7), with
//!   the Accepted state of RFC 6026 §7.1 for 2xx responses;
//! - [`server_key`] and [`client_key`]: transaction matching;
//! - [`Timers`]: T1, T2, T4 and the timers derived from them (§17.1.1.1,
//!   Table 4); [`Millis`]: the machines' notion of time.
//!
//! Sans-io, like `sip`: nothing here owns a socket, a task or a clock. Time
//! is an input. The driver picks an epoch, turns its clock into [`Millis`],
//! passes `now` with every input that may start a timer, asks each machine
//! for its next deadline with `poll_timeout()`, and calls `on_timeout(now)`
//! when it has passed. The machines never build messages either: the driver
//! (or the TU) hands them the bytes it sent, and they hand those bytes back
//! when a retransmission is due, as an `Arc<[u8]>` so that every copy on
//! the wire shares one buffer.
//!
//! ```
//! use presencecloud::transaction::{ClientAction, ClientNonInvite, Millis, Timers};
//!
//! // A SUBSCRIBE over UDP, sent by the driver at t = 0.
//! let mut tx = ClientNonInvite::new(Millis(0), &b"SUBSCRIBE ..."[..], false, Timers::default());
//! assert_eq!(tx.poll_timeout(), Some(Millis(500))); // Timer E = T1
//! let resend = tx.on_timeout(Millis(500));
//! assert!(matches!(resend, Some(ClientAction::Retransmit(_))));
//! assert_eq!(tx.poll_timeout(), Some(Millis(1_500))); // then 2*T1
//! ```
//!
//! Two rules hold for every machine:
//! - a timer whose duration is zero (Timers I, J and K on a reliable
//!   transport) does not become a deadline: the machine moves to Terminated
//!   inside the call that would have started it;
//! - when several timers are due at one `on_timeout(now)`, the one that ends
//!   the transaction (F, H) wins over a retransmission (E, G), and one call
//!   performs at most one retransmission, so a driver that wakes late sends
//!   one copy, not a burst.

use std::ops::Add;
use std::time::Duration;

use thiserror::Error;

mod client;
mod invite_client;
mod invite_server;
mod key;
mod server;

pub use client::{ClientAction, ClientEvent, ClientNonInvite, ClientState};
pub use invite_client::{ClientInvite, InviteClientAction, InviteClientEvent, InviteClientState};
pub use invite_server::{InviteServerAction, InviteServerState, ServerInvite};
pub use key::{ClientKey, ServerKey, client_key, server_key};
pub use server::{ServerNonInvite, ServerState};

#[cfg(test)]
mod tests;

/// A point in time: milliseconds since an epoch the driver chose.
///
/// The machines compare and add these and nothing more, so the driver may
/// use any monotonic clock, and tests a plain counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl Millis {
    /// The time elapsed since `earlier`, or zero if `earlier` is later.
    pub fn saturating_sub(self, earlier: Millis) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Millis {
    type Output = Millis;

    /// Sub-millisecond parts are dropped; a sum past `u64::MAX` ms (half a
    /// billion years) saturates rather than wraps.
    fn add(self, d: Duration) -> Millis {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Millis(self.0.saturating_add(ms))
    }
}

/// The timer base values (RFC 3261 §17.1.1.1, Table 4) and the timers
/// derived from them.
///
/// Only T1, T2 and T4 are configurable; the rest follow Table 4. Timers D,
/// I, J and K exist to absorb retransmissions, so they are zero on a
/// reliable transport, where there are none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate; the first retransmission interval (Timers A, E, G).
    pub t1: Duration,
    /// The longest retransmission interval for non-INVITE requests and
    /// INVITE responses.
    pub t2: Duration,
    /// The longest time a message stays in the network.
    pub t4: Duration,
}

impl Default for Timers {
    /// T1 = 500 ms, T2 = 4 s, T4 = 5 s (Table 4's recommended values).
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// 64*T1: the lifetime limit of B, F, H, J and L.
    fn sixty_four_t1(&self) -> Duration {
        self.t1.saturating_mul(64)
    }

    /// Timer B, INVITE client transaction timeout: 64*T1.
    pub fn timer_b(&self) -> Duration {
        self.sixty_four_t1()
    }

    /// Timer D, wait time for response retransmissions to an INVITE
    /// client: at least 32 s on an unreliable transport, 0 on a reliable one.
    pub fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            Duration::from_secs(32)
        }
    }

    /// Timer F, non-INVITE client transaction timeout: 64*T1.
    pub fn timer_f(&self) -> Duration {
        self.sixty_four_t1()
    }

    /// Timer H, wait time for an ACK to a non-2xx final: 64*T1.
    pub fn timer_h(&self) -> Duration {
        self.sixty_four_t1()
    }

    /// Timer I, wait time for ACK retransmissions: T4 on an unreliable
    /// transport, 0 on a reliable one.
    pub fn timer_i(&self, reliable: bool) -> Duration {
        if reliable { Duration::ZERO } else { self.t4 }
    }

    /// Timer J, wait time for non-INVITE request retransmissions: 64*T1 on
    /// an unreliable transport, 0 on a reliable one.
    pub fn timer_j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.sixty_four_t1()
        }
    }

    /// Timer K, wait time for response retransmissions to a non-INVITE
    /// client: T4 on an unreliable transport, 0 on a reliable one.
    pub fn timer_k(&self, reliable: bool) -> Duration {
        if reliable { Duration::ZERO } else { self.t4 }
    }

    /// Timer L (RFC 6026 §7.1), how long an INVITE server transaction
    /// stays in Accepted after a 2xx: 64*T1 on every transport.
    pub fn timer_l(&self) -> Duration {
        self.sixty_four_t1()
    }
}

/// Why a server transaction refused a response the TU asked it to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ResponseError {
    #[error("{0} is not a SIP status code (100-699)")]
    NotAStatus(u16),
    /// RFC 3261 §17.2.1, §17.2.2: once a final response is out, the TU may
    /// not send another response in the same transaction (RFC 6026 §7.1
    /// excepts 2xx retransmissions to an INVITE).
    #[error("a {sent} final response was already sent; a {refused} cannot follow it")]
    AfterFinal { sent: u16, refused: u16 },
    #[error("the transaction has terminated")]
    Terminated,
}

/// What a response status means to a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Provisional,
    Success,
    /// 3xx-6xx.
    Failure,
}

impl Class {
    fn of(status: u16) -> Option<Class> {
        match status {
            100..=199 => Some(Class::Provisional),
            200..=299 => Some(Class::Success),
            300..=699 => Some(Class::Failure),
            _ => None,
        }
    }
}

/// A retransmission timer that doubles its interval up to a cap (Timer E
/// in Trying, Timer G): the first interval is T1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Backoff {
    deadline: Millis,
    interval: Duration,
}

impl Backoff {
    fn start(now: Millis, t1: Duration) -> Backoff {
        Backoff {
            deadline: now + t1,
            interval: t1,
        }
    }

    fn is_due(&self, now: Millis) -> bool {
        now >= self.deadline
    }

    /// Re-arms after a firing at `now`: the next interval is the doubled
    /// one, but never more than `cap`. Counting from `now` rather than from
    /// the old deadline keeps a late driver from bunching retransmissions.
    fn rearm(&mut self, now: Millis, cap: Duration) {
        self.interval = self.interval.saturating_mul(2).min(cap);
        self.deadline = now + self.interval;
    }

    /// Re-arms with a fixed interval (Timer E in Proceeding: always T2).
    fn rearm_fixed(&mut self, now: Millis, interval: Duration) {
        self.interval = interval;
        self.deadline = now + interval;
    }
}

/// The earliest of some optional deadlines.
fn earliest(deadlines: &[Option<Millis>]) -> Option<Millis> {
    deadlines.iter().flatten().copied().min()
}
