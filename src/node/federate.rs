//! Cross-domain presence in the node: the first local watcher of a
//! presentity of a domain we do not serve starts one back-end SUBSCRIBE to
//! that domain's server (located by RFC 3263), its NOTIFYs become the
//! presentity's remote state in the agent (under the home
//! `domain:<domain>`), which fans them out to every local watcher; the
//! last watcher leaving ends it. [`crate::presence::federation`] keeps the
//! dialogs; this sends and receives.

use super::{Core, TimerKey};
use crate::locate::{self, Candidate};
use crate::presence::federation::{self, Outgoing, Update};
use crate::presence::subscription::route_uri;
use crate::sip::{Message, Uri};
use crate::telemetry;
use crate::transaction::{ClientKey, ClientNonInvite, Millis, ServerKey};
use crate::transport::Inbound;

/// A lookup for a back-end SUBSCRIBE finished off the core task.
pub(super) struct BackendLocated {
    pub outgoing: Outgoing,
    pub candidates: Result<Vec<Candidate>, locate::LocateError>,
}

impl Core {
    /// Whether presence of `aor` comes from another domain's server: the
    /// node names its domains and this is not one of them.
    pub(super) fn is_federated(&self, aor: &str) -> bool {
        !self.config.domains.is_empty() && !self.config.serves_domain(federation::domain_of(aor))
    }

    /// Sends a back-end SUBSCRIBE: to its dialog's next hop, or, for a new
    /// dialog, to the server RFC 3263 finds for its domain.
    pub(super) async fn backend_send(&mut self, o: Outgoing) {
        let hop = match o.routes.first() {
            Some(r) => route_uri(r),
            None => Uri::parse(&o.request_uri).ok(),
        };
        let target = match hop {
            Some(Uri::Sip(u)) => locate::Target::from_uri(&u),
            _ => Err(locate::LocateError::NoHost),
        };
        let target = match target {
            Ok(t) => t,
            Err(e) => {
                self.backend_start(BackendLocated {
                    outgoing: o,
                    candidates: Err(e),
                })
                .await;
                return;
            }
        };
        if let Some(numeric) = target.numeric().transpose() {
            self.backend_start(BackendLocated {
                outgoing: o,
                candidates: numeric.map(|c| vec![c]),
            })
            .await;
            return;
        }
        super::resolver::locate_later(
            self.resolver.clone(),
            target,
            self.tags,
            self.backend_tx.clone(),
            |candidates| BackendLocated {
                outgoing: o,
                candidates,
            },
        );
    }

    pub(super) async fn backend_start(&mut self, located: BackendLocated) {
        let BackendLocated {
            outgoing,
            candidates,
        } = located;
        let mut candidates = match candidates {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(aor = %outgoing.aor, error = %e, "presence server of the domain not found");
                Vec::new()
            }
        };
        candidates.retain(|c| c.transport.listen().is_some());
        if candidates.is_empty() {
            self.backend_result(&outgoing.call_id, None, None).await;
            return;
        }
        let first = candidates.remove(0);
        self.backend_leg(outgoing, first, candidates).await;
    }

    /// Sends the back-end SUBSCRIBE to one candidate, in a client
    /// transaction; the rest are for failover.
    pub(super) async fn backend_leg(&mut self, o: Outgoing, to: Candidate, rest: Vec<Candidate>) {
        let now = self.now();
        let transport: &'static str = match to.transport {
            locate::Transport::Tcp => "TCP",
            _ => "UDP",
        };
        let Some(bound) = self.local_for(transport) else {
            self.backend_result(&o.call_id, None, None).await;
            return;
        };
        let sent_by = self.reachable(bound, to.addr.ip());
        self.tags += 1;
        let branch = format!("z9hG4bK-pcfed{:x}{:x}", now.0, self.tags);
        let bytes =
            self.federation
                .request(&o, transport, &crate::sip::uri::host_port(sent_by), &branch);
        let Some(downstream) = self.target_for(to) else {
            self.backend_result(&o.call_id, None, None).await;
            return;
        };
        let reliable = to.transport != locate::Transport::Udp;
        let key = ClientKey {
            branch: branch.to_ascii_lowercase(),
            method: "SUBSCRIBE".into(),
        };
        metrics::counter!(telemetry::names::BACKEND_SUBSCRIBES, "kind" => if o.ending { "end" } else { "subscribe" })
            .increment(1);
        let tx = ClientNonInvite::new(now, bytes.clone(), reliable, self.timers);
        self.legs.insert(
            key.clone(),
            super::forward::Leg::backend(tx, downstream, o, rest),
        );
        self.schedule_leg(key.clone());
        self.send_downstream(key, downstream, bytes).await;
    }

    /// The end of a back-end SUBSCRIBE's transaction: its final status and
    /// response, or None for a timeout or an unreachable server.
    pub(super) async fn backend_result(
        &mut self,
        call_id: &str,
        status: Option<u16>,
        msg: Option<&Message<'_>>,
    ) {
        let now = self.unix_now();
        let (updates, sends) = self.federation.on_response(now, call_id, status, msg);
        self.apply_federation(updates, sends).await;
    }

    /// Remote states to the agent (one NOTIFY per local watcher), and the
    /// SUBSCRIBEs the federation asks for.
    pub(super) async fn apply_federation(&mut self, updates: Vec<Update>, sends: Vec<Outgoing>) {
        let unix = self.unix_now();
        let mut notifies = Vec::new();
        for u in updates {
            let home = federation::home_of(federation::domain_of(&u.aor));
            self.start_notifications(unix, &u.aor);
            notifies.extend(
                self.agent
                    .set_remote(unix, &u.aor, &home, u.state.as_deref()),
            );
        }
        if !notifies.is_empty() {
            let now = self.now();
            self.send_notifies(now, notifies).await;
        }
        for o in sends {
            // Boxed: sending may fail at once and ask for another.
            Box::pin(self.backend_send(o)).await;
        }
        self.count_backend();
        self.schedule_federation();
    }

    /// The back-end dialogs held, for the gauge.
    pub(super) fn count_backend(&self) {
        metrics::gauge!(telemetry::names::BACKEND_SUBSCRIPTIONS).set(self.federation.len() as f64);
    }

    pub(super) fn schedule_federation(&mut self) {
        if let Some(t) = self.federation.next_deadline() {
            let relative = Millis(t.saturating_sub(self.epoch_unix));
            self.deadlines
                .push(std::cmp::Reverse((relative, TimerKey::Federation)));
        }
    }

    pub(super) async fn on_federation_timer(&mut self) {
        let sends = self.federation.on_timeout(self.unix_now());
        self.apply_federation(Vec::new(), sends).await;
    }

    /// A NOTIFY of one of our back-end subscriptions; false when it is not
    /// one (the router answers it).
    pub(super) async fn on_backend_notify(
        &mut self,
        inbound: &Inbound,
        msg: &Message<'_>,
        key: Option<ServerKey>,
    ) -> bool {
        let call_id = msg.call_id().unwrap_or("");
        if !self.federation.knows(call_id) {
            return false;
        }
        // Served here, whatever its Route said: read in full.
        if let Err(e) = msg.check() {
            self.reject_unparsable(inbound, &e).await;
            return true;
        }
        metrics::counter!(telemetry::names::CROSS_DOMAIN_NOTIFIES, "direction" => "in")
            .increment(1);
        let (status, update, sends) = self.federation.on_notify(self.unix_now(), msg);
        let Some(upstream) = self.answer_target(inbound, Some(msg)) else {
            return true;
        };
        let reason = if status == 200 {
            "OK"
        } else {
            "Call/Transaction Does Not Exist"
        };
        self.answer_here(inbound, msg, key, upstream, status, reason, true)
            .await;
        self.apply_federation(update.into_iter().collect(), sends)
            .await;
        self.persist().await;
        true
    }
}
