//! The proxy face in the node (RFC 3261 §16): requests that are not ours
//! to answer go to the SIP core (for the served domains) or to the server
//! RFC 3263 finds (other domains), through a server transaction upstream
//! and a client transaction downstream; responses come back the same way.
//! [`crate::proxy`] builds the bytes; this drives the transactions, the
//! sockets, RFC 3263 lookups (off the core task) and Timer C.
//!
//! The proxy face is on when the node names its domains (`--domain`) or a
//! core (`--core`); a node with neither is a presence server only and
//! relays nothing, so it is never an open relay by default.
//!
//! One request in, at most one request out per target: retransmissions of
//! the incoming request are absorbed by its server transaction, and the
//! client transaction alone retransmits downstream. A target that does not
//! answer (timeout, transport error or 503) is replaced by the next
//! candidate of the lookup, with a fresh branch.

use std::sync::Arc;
use std::time::Duration;

use super::{Core, Entry, ServerTx, TimerKey};
use crate::locate::{self, Candidate};
use crate::proxy::{self, Hop};
use crate::sip::response::{self, Reply};
use crate::sip::{Message, Method, Uri};
use crate::telemetry;
use crate::transaction::{
    ClientAction, ClientEvent, ClientInvite, ClientKey, ClientNonInvite, InviteClientAction,
    InviteClientEvent, Millis, ServerInvite, ServerKey, ServerNonInvite, client_key,
};
use crate::transport::{Inbound, Target};

/// Timer C (§16.6 step 11): an INVITE with no final answer after 3 min is
/// cancelled.
const TIMER_C: Duration = Duration::from_secs(180);

pub(super) enum LegTx {
    NonInvite(ClientNonInvite),
    Invite(ClientInvite),
    /// A CANCEL we sent: its answer is absorbed.
    Cancel(ClientNonInvite),
}

/// One forwarded request: its client transaction downstream and the
/// server transaction its responses go up to.
pub(super) struct Leg {
    tx: LegTx,
    server: Option<ServerKey>,
    downstream: Target,
    /// What was sent (CANCEL and ACK are built from it).
    forwarded: Arc<[u8]>,
    /// The candidates not yet tried, for failover.
    rest: Vec<Candidate>,
    /// The request as it must be forwarded again to another candidate.
    retry: Option<Retry>,
    cancel_pending: bool,
    timer_c: Option<Millis>,
    /// A back-end SUBSCRIBE of ours (cross-domain presence): its outcome
    /// goes to the federation, not upstream.
    backend: Option<crate::presence::federation::Outgoing>,
}

impl Leg {
    pub(super) fn backend(
        tx: ClientNonInvite,
        downstream: Target,
        o: crate::presence::federation::Outgoing,
        rest: Vec<Candidate>,
    ) -> Leg {
        Leg {
            forwarded: Arc::from(tx.request().as_ref()),
            tx: LegTx::NonInvite(tx),
            server: None,
            downstream,
            rest,
            retry: None,
            cancel_pending: false,
            timer_c: None,
            backend: Some(o),
        }
    }
}

/// What is needed to send the request to the next candidate: the original
/// request bytes (forwarded again with a fresh branch).
#[derive(Clone)]
pub(super) struct Retry {
    original: Arc<[u8]>,
    /// Decided once, on arrival; built per candidate.
    plan: proxy::Plan,
    top_via: String,
    inbound_local: std::net::SocketAddr,
    inbound_transport: &'static str,
}

/// A lookup finished off the core task.
pub(super) struct Located {
    pub server: Option<ServerKey>,
    pub retry: Retry,
    pub candidates: Result<Vec<Candidate>, locate::LocateError>,
}

impl LegTx {
    fn poll_timeout(&self) -> Option<Millis> {
        match self {
            LegTx::NonInvite(t) | LegTx::Cancel(t) => t.poll_timeout(),
            LegTx::Invite(t) => t.poll_timeout(),
        }
    }

    fn is_terminated(&self) -> bool {
        match self {
            LegTx::NonInvite(t) | LegTx::Cancel(t) => t.is_terminated(),
            LegTx::Invite(t) => t.is_terminated(),
        }
    }
}

/// What a downstream event asks of the upstream side.
enum Upstream {
    Relay(u16),
    /// The target failed: try the next one, or answer this.
    Failed(u16, &'static str),
    Nothing,
}

impl Core {
    /// Whether this request is one to forward rather than answer here.
    pub(super) fn is_for_forwarding(&self, msg: &Message<'_>) -> bool {
        let Some(method) = msg.method() else {
            return false;
        };
        let Some(Uri::Sip(ruri)) = msg.request_uri() else {
            return false;
        };
        // A node that names no domains and no core is a presence server
        // only: it relays nothing (no open relay by default).
        if self.config.core.is_none() && self.config.domains.is_empty() {
            return false;
        }
        let to_us = self.local.is_me(ruri);
        // A Route to somewhere else: loose routing says forward (§16.4).
        let routed_on = msg.routes().next().is_some_and(|r| {
            !matches!(&r.uri, Uri::Sip(u) if self.local.is_me(u)) || msg.routes().nth(1).is_some()
        });
        if routed_on {
            return !matches!(method, Method::Cancel);
        }
        if to_us {
            return false;
        }
        let served = self.config.serves_domain(ruri.host.raw);
        match method {
            Method::Cancel => false,
            Method::Ack => true,
            // Presence of another domain is watched from here (one back-end
            // subscription per presentity), not relayed.
            Method::Subscribe
                if !served
                    && msg.to().and_then(|t| t.tag()).is_none()
                    && msg
                        .event()
                        .is_some_and(|e| e.package() == crate::presence::agent::PACKAGE) =>
            {
                false
            }
            Method::Subscribe | Method::Publish => {
                let ours = msg.event().is_some_and(|e| {
                    self.caps
                        .event_packages
                        .iter()
                        .any(|p| e.event_type.0.eq_ignore_ascii_case(p))
                });
                !served || (!ours && self.config.core.is_some())
            }
            Method::Options => ruri.user.is_some() && (!served || self.config.core.is_some()),
            _ => !served || self.config.core.is_some(),
        }
    }

    /// Forwards a request: a server transaction for it here (100 Trying
    /// for an INVITE), then the lookup of the next hop and the client
    /// transaction. An ACK (for a 2xx: end to end) goes on without either.
    pub(super) async fn forward(
        &mut self,
        inbound: &Inbound,
        msg: &Message<'_>,
        key: Option<ServerKey>,
    ) {
        let now = self.now();
        let Some(method) = msg.method() else { return };
        let Some(upstream) = self.answer_target(inbound, Some(msg)) else {
            return;
        };
        metrics::counter!(telemetry::names::FORWARDED, "method" => method.as_str().to_string())
            .increment(1);
        // Refusals (loop, hops) before anything is set up; the next hop
        // from the same pass. The bytes to send are built per candidate
        // (its transport is in our Via), in `send_leg`.
        let plan = match proxy::plan(msg, &self.local) {
            Ok(p) => p,
            Err(r) => {
                if method != Method::Ack {
                    self.answer_here(inbound, msg, key, upstream, r.status, r.reason, true)
                        .await;
                }
                return;
            }
        };
        let top_via = msg
            .top_via()
            .map(|v| response::stamp_via(v, inbound.source, self.config.force_rport))
            .unwrap_or_default();
        let retry = Retry {
            original: Arc::from(inbound.bytes.as_slice()),
            plan,
            top_via,
            inbound_local: self.local_toward(inbound),
            inbound_transport: inbound.transport().as_str(),
        };
        let server = if method == Method::Ack {
            None
        } else {
            let reliable = inbound.transport().reliable();
            let (tx, trying) = if method == Method::Invite {
                // §16.2 / §17.2.1: a proxy answers an INVITE with 100 at once.
                let mut t = ServerInvite::new(reliable, self.timers);
                let wire = response::build(
                    msg,
                    Some(&retry.top_via),
                    &Reply {
                        status: 100,
                        reason: "Trying",
                        ..Reply::default()
                    },
                );
                let sent = t.on_response(now, 100, wire).ok();
                (ServerTx::Invite(t), sent)
            } else {
                (
                    ServerTx::NonInvite(ServerNonInvite::new(reliable, self.timers)),
                    None,
                )
            };
            if let Some(bytes) = trying {
                self.send(upstream, bytes.to_vec()).await;
            }
            if let Some(k) = &key {
                self.servers.insert(
                    k.clone(),
                    Entry {
                        tx,
                        target: upstream,
                    },
                );
                self.schedule(k.clone());
            }
            key
        };
        // Where to: the core for the served domains, else RFC 3263.
        let served = match msg.request_uri() {
            Some(Uri::Sip(u)) => self.config.serves_domain(u.host.raw),
            _ => false,
        };
        if retry.plan.by_request_uri && served {
            if let Some(core) = self.core.clone() {
                self.start_leg(Located {
                    server,
                    retry,
                    candidates: Ok(core),
                })
                .await;
                return;
            }
        }
        let next_hop = &retry.plan.next_hop;
        let target = match Uri::parse(next_hop) {
            Ok(Uri::Sip(u)) => locate::Target::from_uri(&u).map_err(|e| e.to_string()),
            _ => Err(format!("{next_hop} is not a sip: URI")),
        };
        let target = match target {
            Ok(t) => t,
            Err(e) => {
                self.give_up(server, &retry, 400, "Bad Next Hop", &e).await;
                return;
            }
        };
        if let Some(numeric) = target.numeric().transpose() {
            let candidates = numeric.map(|c| vec![c]);
            self.start_leg(Located {
                server,
                retry,
                candidates,
            })
            .await;
            return;
        }
        // A name: RFC 3263 off the core task; the answer comes back as
        // `Located`.
        let seed = self.tags ^ now.0;
        super::resolver::locate_later(
            self.resolver.clone(),
            target,
            seed,
            self.located_tx.clone(),
            |candidates| Located {
                server,
                retry,
                candidates,
            },
        );
    }

    fn hop(
        &mut self,
        retry: &Retry,
        transport: &'static str,
        toward: std::net::IpAddr,
    ) -> Hop<'static> {
        let sent_by = match self.local_for(transport) {
            Some(bound) => self.reachable(bound, toward),
            None => retry.inbound_local,
        };
        Hop {
            transport,
            sent_by,
            record_route: retry.inbound_local,
            record_route_transport: retry.inbound_transport,
        }
    }

    /// Our listening address on a transport.
    pub(super) fn local_for(&self, transport: &str) -> Option<std::net::SocketAddr> {
        self.listening
            .iter()
            .find(|l| l.transport.as_str() == transport)
            .map(|l| l.addr)
    }

    /// Answers a request here, in a server transaction of its own kept to
    /// absorb retransmissions: a refusal of one we were to forward, a
    /// CANCEL, a NOTIFY of a back-end subscription. `tag`: add a To tag
    /// when the request has none (not for the 200 to a CANCEL, whose tag
    /// would have to be the INVITE's, §9.2).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn answer_here(
        &mut self,
        inbound: &Inbound,
        msg: &Message<'_>,
        key: Option<ServerKey>,
        upstream: Target,
        status: u16,
        reason: &str,
        tag: bool,
    ) {
        let now = self.now();
        let tag = tag.then(|| self.new_tag());
        let stamped = msg
            .top_via()
            .map(|v| response::stamp_via(v, inbound.source, self.config.force_rport));
        let wire = response::build(
            msg,
            stamped.as_deref(),
            &Reply {
                status,
                reason,
                to_tag: tag.as_deref(),
                ..Reply::default()
            },
        );
        let reliable = inbound.transport().reliable();
        let (tx, sent) = if msg.method() == Some(Method::Invite) {
            let mut t = ServerInvite::new(reliable, self.timers);
            let r = t.on_response(now, status, wire);
            (ServerTx::Invite(t), r)
        } else {
            let mut t = ServerNonInvite::new(reliable, self.timers);
            let r = t.on_response(now, status, wire);
            (ServerTx::NonInvite(t), r)
        };
        if let Ok(bytes) = sent {
            self.send(upstream, bytes.to_vec()).await;
        }
        if let Some(k) = key {
            let entry = Entry {
                tx,
                target: upstream,
            };
            if !entry.is_terminated() {
                self.servers.insert(k.clone(), entry);
                self.schedule(k);
            }
        }
    }

    /// The lookup is done: forward to the first candidate.
    pub(super) async fn start_leg(&mut self, located: Located) {
        let Located {
            server,
            retry,
            candidates,
        } = located;
        let mut candidates = match candidates {
            Ok(c) if !c.is_empty() => c,
            Ok(_) => {
                self.give_up(
                    server,
                    &retry,
                    503,
                    "Service Unavailable",
                    "no server found",
                )
                .await;
                return;
            }
            Err(e) => {
                // A domain DNS says does not exist, or has no SIP server,
                // is 404; a lookup that failed may work later: 503.
                let (status, reason) = match e {
                    locate::LocateError::NoSuchDomain { .. }
                    | locate::LocateError::NotFound { .. } => (404, "Not Found"),
                    _ => (503, "Service Unavailable"),
                };
                self.give_up(server, &retry, status, reason, &e.to_string())
                    .await;
                return;
            }
        };
        candidates.retain(|c| c.transport.listen().is_some());
        if candidates.is_empty() {
            self.give_up(
                server,
                &retry,
                503,
                "Service Unavailable",
                "no usable transport",
            )
            .await;
            return;
        }
        let first = candidates.remove(0);
        self.send_leg(server, retry, first, candidates).await;
    }

    async fn send_leg(
        &mut self,
        server: Option<ServerKey>,
        retry: Retry,
        to: Candidate,
        rest: Vec<Candidate>,
    ) {
        let now = self.now();
        let original = retry.original.clone();
        let Ok(msg) = crate::sip::parse_lazy(&original) else {
            return;
        };
        let transport: &'static str = match to.transport {
            locate::Transport::Tcp => "TCP",
            _ => "UDP",
        };
        let hop = self.hop(&retry, transport, to.addr.ip());
        self.tags += 1;
        let unique = format!("{:x}{:x}", now.0, self.tags);
        let fwd = proxy::build(&msg, &retry.plan, &hop, &unique, &retry.top_via);
        let Some(downstream) = self.target_for(to) else {
            self.give_up(server, &retry, 503, "Service Unavailable", "no UDP socket")
                .await;
            return;
        };
        let method = msg.method();
        tracing::debug!(method = method.map(|m| m.as_str()).unwrap_or(""), to = %to, "forward");
        if method == Some(Method::Ack) {
            // End to end: no transaction (§16.6 step 10 for a 2xx ACK).
            self.send(downstream, fwd.bytes).await;
            return;
        }
        let reliable = to.transport != locate::Transport::Udp;
        let forwarded: Arc<[u8]> = Arc::from(fwd.bytes.as_slice());
        let tx = if method == Some(Method::Invite) {
            LegTx::Invite(ClientInvite::new(
                now,
                forwarded.clone(),
                reliable,
                self.timers,
            ))
        } else {
            LegTx::NonInvite(ClientNonInvite::new(
                now,
                forwarded.clone(),
                reliable,
                self.timers,
            ))
        };
        let key = ClientKey {
            branch: fwd.branch.to_ascii_lowercase(),
            method: method.map(|m| m.as_str().to_string()).unwrap_or_default(),
        };
        if method == Some(Method::Invite) {
            if let Some(s) = &server {
                self.invites.insert(s.clone(), key.clone());
            }
        }
        self.legs.insert(
            key.clone(),
            Leg {
                tx,
                server,
                downstream,
                forwarded,
                rest,
                retry: Some(retry),
                cancel_pending: false,
                timer_c: (method == Some(Method::Invite)).then(|| now + TIMER_C),
                backend: None,
            },
        );
        self.schedule_leg(key.clone());
        self.send_downstream(key, downstream, fwd.bytes).await;
    }

    /// Sends a leg's request. Over UDP at once; over TCP in a task of its
    /// own, since opening a connection may take seconds (a host that drops
    /// SYNs) and the core must not wait: a failure comes back as a
    /// transport error for the leg (§17.1.4, and the next candidate).
    pub(super) async fn send_downstream(&mut self, key: ClientKey, to: Target, bytes: Vec<u8>) {
        match to {
            Target::Udp { .. } => {
                if let Err(e) = self.transports.send(to, bytes).await {
                    tracing::debug!(error = %e, "forward failed");
                    self.leg_transport_error(key).await;
                }
            }
            Target::Tcp { .. } => {
                self.spawn_send(to, bytes, Some((self.leg_errors_tx.clone(), key)));
            }
        }
    }

    /// The transport could not carry a leg's request.
    pub(super) async fn leg_transport_error(&mut self, key: ClientKey) {
        let failed = self.legs.get_mut(&key).and_then(|l| match &mut l.tx {
            LegTx::NonInvite(t) | LegTx::Cancel(t) => t.on_transport_error().map(|_| ()),
            LegTx::Invite(t) => t.on_transport_error().map(|_| ()),
        });
        if failed.is_some() {
            self.leg_failed(key, 503, "Service Unavailable").await;
        }
    }

    /// How to reach a candidate: over TCP its (new) connection, over UDP
    /// our socket of its address family (None: we have none).
    pub(super) fn target_for(&self, to: Candidate) -> Option<Target> {
        match to.transport {
            locate::Transport::Tcp => Some(Target::Tcp {
                conn: None,
                addr: to.addr,
            }),
            _ => self.transports.udp_for(to.addr).map(|socket| Target::Udp {
                socket,
                addr: to.addr,
            }),
        }
    }

    /// No way forward: answer upstream.
    async fn give_up(
        &mut self,
        server: Option<ServerKey>,
        retry: &Retry,
        status: u16,
        reason: &str,
        why: &str,
    ) {
        tracing::info!(status, why, "request not forwarded");
        let Some(k) = server else { return };
        let Ok(msg) = crate::sip::parse_lazy(&retry.original) else {
            return;
        };
        let tag = self.new_tag();
        let wire = response::build(
            &msg,
            Some(&retry.top_via),
            &Reply {
                status,
                reason,
                to_tag: Some(&tag),
                ..Reply::default()
            },
        );
        self.respond_upstream(&k, status, wire).await;
    }

    /// Sends a response through the server transaction `k`.
    async fn respond_upstream(&mut self, k: &ServerKey, status: u16, wire: Vec<u8>) {
        let now = self.now();
        let Some(entry) = self.servers.get_mut(k) else {
            return;
        };
        let sent = match &mut entry.tx {
            ServerTx::Invite(t) => t.on_response(now, status, wire),
            ServerTx::NonInvite(t) => t.on_response(now, status, wire),
        };
        let target = entry.target;
        match sent {
            Ok(bytes) => self.send(target, bytes.to_vec()).await,
            Err(e) => tracing::debug!(error = %e, "response not relayed"),
        }
        metrics::counter!(telemetry::names::FORWARDED_RESPONSES, "class" => format!("{}xx", status / 100))
            .increment(1);
        if status >= 200 {
            self.invites.remove(k);
        }
        if self.servers.get(k).is_some_and(Entry::is_terminated) {
            self.servers.remove(k);
        } else {
            self.schedule(k.clone());
        }
    }

    /// A response to one of our forwarded requests; false when it is not
    /// one.
    pub(super) async fn on_leg_response(&mut self, msg: &Message<'_>) -> bool {
        let now = self.now();
        let (Some(key), Some(status)) = (client_key(msg), msg.status()) else {
            return false;
        };
        let Some(leg) = self.legs.get_mut(&key) else {
            return false;
        };
        if leg.backend.is_some() {
            // Our own request: the response is read in full (§18.1.2: one
            // that does not parse is dropped, and the leg times out).
            if msg.check().is_ok() {
                self.on_backend_response(key, status, msg).await;
            }
            return true;
        }
        let mut resend = None;
        let upstream = match &mut leg.tx {
            LegTx::Cancel(t) => {
                t.on_response(now, status);
                Upstream::Nothing
            }
            LegTx::NonInvite(t) => match t.on_response(now, status) {
                // A 503 fails over; the last one becomes a 500 upstream.
                Some(ClientEvent::Final(503)) => Upstream::Failed(503, "Service Unavailable"),
                Some(ClientEvent::Provisional(100)) => Upstream::Nothing,
                Some(ClientEvent::Provisional(s) | ClientEvent::Final(s)) => Upstream::Relay(s),
                _ => Upstream::Nothing,
            },
            LegTx::Invite(t) => {
                let (event, action) = t.on_response(now, status);
                if let Some(InviteClientAction::ResendAck(ack)) = action {
                    resend = Some(ack);
                }
                match event {
                    Some(InviteClientEvent::Provisional(100)) => Upstream::Nothing,
                    Some(InviteClientEvent::Failure(s)) => {
                        // §17.1.1.3: the transaction acknowledges a failure.
                        if let Ok(inv) = crate::sip::parse_lazy(&leg.forwarded) {
                            let ack = proxy::ack_for(&inv, msg);
                            if let LegTx::Invite(t) = &mut leg.tx {
                                t.acknowledge(ack.clone());
                            }
                            resend = Some(Arc::from(ack.as_slice()));
                        }
                        if s == 503 {
                            Upstream::Failed(503, "Service Unavailable")
                        } else {
                            Upstream::Relay(s)
                        }
                    }
                    Some(InviteClientEvent::Provisional(s) | InviteClientEvent::Success(s)) => {
                        Upstream::Relay(s)
                    }
                    _ => Upstream::Nothing,
                }
            }
        };
        let downstream = leg.downstream;
        let send_cancel = status > 100 && status < 200 && leg.cancel_pending;
        if status >= 200 {
            leg.timer_c = None;
        } else if status > 100 {
            // §16.7 step 2: a provisional restarts Timer C.
            if leg.timer_c.is_some() {
                leg.timer_c = Some(now + TIMER_C);
            }
        }
        let server = leg.server.clone();
        if let Some(ack) = resend {
            self.send(downstream, ack.to_vec()).await;
        }
        if send_cancel {
            self.send_cancel(&key).await;
        }
        match upstream {
            Upstream::Relay(s) => {
                if let (Some(k), Some(bytes)) = (server, proxy::relay_response(msg, &self.local)) {
                    self.respond_upstream(&k, s, bytes).await;
                }
            }
            Upstream::Failed(s, r) => self.leg_failed(key.clone(), s, r).await,
            Upstream::Nothing => {}
        }
        self.reap_leg(&key);
        true
    }

    /// The target failed: the next candidate, or the failure upstream.
    async fn leg_failed(&mut self, key: ClientKey, status: u16, reason: &'static str) {
        let Some(leg) = self.legs.get_mut(&key) else {
            return;
        };
        if let Some(o) = leg.backend.take() {
            let rest = std::mem::take(&mut leg.rest);
            self.reap_leg(&key);
            match rest.split_first() {
                Some((next, others)) => {
                    Box::pin(self.backend_leg(o, *next, others.to_vec())).await;
                }
                None => self.backend_result(&o.call_id, None, None).await,
            }
            return;
        }
        let server = leg.server.clone();
        let rest = std::mem::take(&mut leg.rest);
        let retry = leg.retry.take();
        self.reap_leg(&key);
        match (retry, rest.split_first()) {
            (Some(retry), Some((next, others))) => {
                tracing::debug!(next = %next, "failing over to the next server");
                // Boxed: a failed send fails over again, recursively.
                Box::pin(self.send_leg(server, retry, *next, others.to_vec())).await;
            }
            (Some(retry), None) => {
                let invite = crate::sip::parse_lazy(&retry.original)
                    .ok()
                    .and_then(|m| m.method())
                    == Some(Method::Invite);
                match status {
                    // RFC 4320 §4.2: never a 408 to a non-INVITE request;
                    // the client's own transaction times out.
                    408 if !invite => {
                        if let Some(k) = &server {
                            self.servers.remove(k);
                        }
                    }
                    // RFC 3261 §16.7 step 6: 503s only from downstream
                    // become a 500 (the 503 would make the client fail
                    // over away from us).
                    503 => {
                        self.give_up(
                            server,
                            &retry,
                            500,
                            "Server Internal Error",
                            "every candidate failed",
                        )
                        .await;
                    }
                    _ => {
                        self.give_up(server, &retry, status, reason, "every candidate failed")
                            .await;
                    }
                }
            }
            _ => {}
        }
    }

    /// A response to a back-end SUBSCRIBE: a 503 fails over to the next
    /// server of the domain; any other final goes to the federation.
    async fn on_backend_response(&mut self, key: ClientKey, status: u16, msg: &Message<'_>) {
        let now = self.now();
        let Some(leg) = self.legs.get_mut(&key) else {
            return;
        };
        let event = match &mut leg.tx {
            LegTx::NonInvite(t) => t.on_response(now, status),
            _ => None,
        };
        match event {
            Some(ClientEvent::Final(503)) if !leg.rest.is_empty() => {
                self.leg_failed(key, 503, "Service Unavailable").await;
            }
            Some(ClientEvent::Final(s)) => {
                let call_id = leg.backend.as_ref().map(|o| o.call_id.clone());
                self.reap_leg(&key);
                if let Some(c) = call_id {
                    self.backend_result(&c, Some(s), Some(msg)).await;
                }
            }
            _ => self.reap_leg(&key),
        }
    }

    fn reap_leg(&mut self, key: &ClientKey) {
        let done = self
            .legs
            .get(key)
            .is_some_and(|l| l.tx.is_terminated() && l.timer_c.is_none());
        if done {
            self.legs.remove(key);
        } else {
            self.schedule_leg(key.clone());
        }
    }

    pub(super) fn schedule_leg(&mut self, key: ClientKey) {
        if let Some(leg) = self.legs.get(&key) {
            let at = [leg.tx.poll_timeout(), leg.timer_c]
                .into_iter()
                .flatten()
                .min();
            if let Some(t) = at {
                self.deadlines
                    .push(std::cmp::Reverse((t, TimerKey::Leg(key))));
            }
        }
    }

    pub(super) async fn on_leg_timer(&mut self, now: Millis, key: ClientKey) {
        let Some(leg) = self.legs.get_mut(&key) else {
            return;
        };
        let downstream = leg.downstream;
        if leg.timer_c.is_some_and(|c| now >= c) {
            // Timer C: cancel what rings, answer 408 for what never did.
            leg.timer_c = None;
            let ringing = matches!(&leg.tx, LegTx::Invite(t) if t.has_provisional());
            if ringing {
                self.send_cancel(&key).await;
            } else {
                self.leg_failed(key.clone(), 408, "Request Timeout").await;
                return;
            }
        }
        let Some(leg) = self.legs.get_mut(&key) else {
            return;
        };
        if leg.tx.poll_timeout().is_none_or(|t| t > now) {
            self.reap_leg(&key);
            return;
        }
        let mut failed = false;
        let resend = match &mut leg.tx {
            LegTx::NonInvite(t) | LegTx::Cancel(t) => match t.on_timeout(now) {
                Some(ClientAction::Retransmit(b)) => Some(b),
                Some(ClientAction::Timeout) => {
                    failed = matches!(leg.tx, LegTx::NonInvite(_));
                    None
                }
                None => None,
            },
            LegTx::Invite(t) => match t.on_timeout(now) {
                Some(InviteClientAction::Retransmit(b)) => Some(b),
                Some(InviteClientAction::Timeout) => {
                    failed = true;
                    None
                }
                _ => None,
            },
        };
        if let Some(b) = resend {
            self.send(downstream, b.to_vec()).await;
        }
        if failed {
            // §16.7 step 6 / §8.1.3.1: a timeout is a 408.
            self.leg_failed(key.clone(), 408, "Request Timeout").await;
            return;
        }
        self.reap_leg(&key);
    }

    /// An incoming CANCEL (§16.10): 200 for it, and a CANCEL downstream once
    /// the INVITE has had a provisional answer. Returns false when it
    /// matches no INVITE we forward (the router answers 481).
    pub(super) async fn on_cancel(
        &mut self,
        inbound: &Inbound,
        msg: &Message<'_>,
        key: &ServerKey,
    ) -> bool {
        let Some(invite) = key.cancelled_invite() else {
            return false;
        };
        let Some(leg_key) = self.invites.get(&invite).cloned() else {
            return false;
        };
        let Some(upstream) = self.answer_target(inbound, Some(msg)) else {
            return true;
        };
        self.answer_here(inbound, msg, Some(key.clone()), upstream, 200, "OK", false)
            .await;
        let ringing = matches!(
            self.legs.get(&leg_key).map(|l| &l.tx),
            Some(LegTx::Invite(t)) if t.has_provisional()
        );
        if ringing {
            self.send_cancel(&leg_key).await;
        } else if let Some(l) = self.legs.get_mut(&leg_key) {
            // §9.1: not before a provisional response.
            l.cancel_pending = true;
        }
        true
    }

    async fn send_cancel(&mut self, leg_key: &ClientKey) {
        let now = self.now();
        let Some(leg) = self.legs.get_mut(leg_key) else {
            return;
        };
        leg.cancel_pending = false;
        let Ok(inv) = crate::sip::parse_lazy(&leg.forwarded) else {
            return;
        };
        let bytes = proxy::cancel_for(&inv);
        let downstream = leg.downstream;
        let reliable = matches!(downstream, Target::Tcp { .. });
        let key = ClientKey {
            branch: leg_key.branch.clone(),
            method: "CANCEL".into(),
        };
        self.legs.insert(
            key.clone(),
            Leg {
                tx: LegTx::Cancel(ClientNonInvite::new(
                    now,
                    bytes.clone(),
                    reliable,
                    self.timers,
                )),
                server: None,
                downstream,
                forwarded: Arc::from(bytes.as_slice()),
                rest: Vec::new(),
                retry: None,
                cancel_pending: false,
                timer_c: None,
                backend: None,
            },
        );
        self.schedule_leg(key);
        self.send(downstream, bytes).await;
    }
}
