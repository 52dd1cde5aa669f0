//! Logging: the tracing subscriber, and warnings about bad input that a
//! flood cannot turn into a full disk (at most N a minute; the rest are
//! counted and the count is reported with the next warning that passes).

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Installs the global subscriber; `filter` is a level or a tracing filter.
/// Logs go to stderr.
pub fn init(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Rate-limited warnings about malformed input, with the peer address.
pub struct BadInput {
    per_minute: u32,
    state: Mutex<Window>,
}

struct Window {
    start: Instant,
    logged: u32,
    suppressed: u64,
}

impl BadInput {
    pub fn new(per_minute: u32) -> Self {
        BadInput {
            per_minute,
            state: Mutex::new(Window {
                start: Instant::now(),
                logged: 0,
                suppressed: 0,
            }),
        }
    }

    /// Logs `what` from `peer` unless this minute's budget is spent.
    /// Returns whether it was logged.
    pub fn warn(&self, peer: SocketAddr, transport: &str, what: &str) -> bool {
        let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if now.duration_since(w.start) >= Duration::from_secs(60) {
            w.start = now;
            w.logged = 0;
        }
        if w.logged >= self.per_minute {
            w.suppressed += 1;
            return false;
        }
        w.logged += 1;
        let suppressed = std::mem::take(&mut w.suppressed);
        drop(w);
        if suppressed > 0 {
            tracing::warn!(%peer, transport, suppressed, "bad input: {what} ({suppressed} similar warnings suppressed)");
        } else {
            tracing::warn!(%peer, transport, "bad input: {what}");
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_cut_to_the_budget() {
        let b = BadInput::new(3);
        let peer: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        let logged = (0..1000).filter(|_| b.warn(peer, "UDP", "junk")).count();
        assert_eq!(logged, 3);
        assert_eq!(b.state.lock().unwrap().suppressed, 997);
    }
}
