//! The node: the one async driver. It owns the sockets (through
//! [`transport`](crate::transport)), the clock and the tasks; it feeds the
//! sans-io layers (parser, transactions, router) their input and the time,
//! and carries out what they return.
//!
//! One core task handles every message in order, so transaction state needs
//! no locks. Shutdown (SIGINT, SIGTERM or [`Running::stop`]) stops taking
//! new work (503 with Retry-After), lets in-flight transactions finish for
//! up to the drain timeout, then stops the transports and returns.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

mod federate;
mod forward;
mod peers;
pub mod resolver;

use crate::cloud::membership::Dest;
use crate::cloud::message::Message as CloudMessage;
use crate::cloud::overlay::{self, NodeView, Overlay};
use crate::config::{Config, Listen};
use crate::logging::BadInput;
use crate::presence::agent::{self, Agent, Change, Interest, Notify};
use crate::presence::authorization::{Action, Rule};
use crate::presence::pidf;
use crate::presence::publication::Publication;
use crate::presence::subscription::{Dialog, DialogId, Path, State};
use crate::router::{self, Capabilities, Decision};
use crate::sip::response::{self, Reply};
use crate::sip::{self, Disposition, Limits, Message, Method};
use crate::store::batch::{BatchConfig, Writer};
use crate::store::{self, Store, StoreError};
use crate::telemetry::{self, Kind, Record, Tracker};
use crate::transaction::{
    ClientAction, ClientEvent, ClientKey, ClientNonInvite, InviteServerAction, InviteServerState,
    Millis, ServerInvite, ServerKey, ServerNonInvite, ServerState, Timers, client_key, server_key,
};
use crate::transport::{Event, Inbound, Link, Settings, Target, Transports};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{0}")]
    Bind(std::io::Error),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("records file {path}: {source}")]
    Csv {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("SIP core {uri}: {message}")]
    Core { uri: String, message: String },
    #[error("cluster listener on {addr}: {source}")]
    Cluster {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("admin listener on {addr}: {source}")]
    Admin {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A started node.
pub struct Running {
    /// The addresses bound, in the order of the configured listeners.
    pub local: Vec<Listen>,
    pub admin: SocketAddr,
    /// The cluster listener, when the node is part of a PresenceCloud.
    pub cluster: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    core: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Asks the node to stop and waits until it has drained.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.core.await;
    }

    /// Waits for SIGINT or SIGTERM, then stops.
    pub async fn run_until_signal(self) {
        wait_for_signal().await;
        tracing::info!("stopping: draining in-flight transactions");
        self.stop().await;
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Binds every listener and starts the node. `metrics` renders the
/// Prometheus page when the binary installed the exporter.
pub async fn start(
    config: Config,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
) -> Result<Running, NodeError> {
    let config = Arc::new(config);
    let bad_input = Arc::new(BadInput::new(config.bad_input_warnings_per_minute));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (transport_stop_tx, transport_stop_rx) = watch::channel(false);
    let (in_tx, in_rx) = mpsc::channel(4096);
    let limits = Limits {
        max_message: config.max_message_size,
        ..Limits::default()
    };
    let settings = Settings {
        limits,
        idle_timeout: config.tcp_idle_timeout,
        max_connections: config.tcp_max_connections,
    };
    // The store first: a node that cannot keep its state does not start.
    let store = Store::open(&config.db).await?;
    let writer = Writer::spawn(
        store.clone(),
        BatchConfig {
            flush_interval: config.flush_interval,
            ..BatchConfig::default()
        },
    )?;
    let kept_publications = store.all_publications().await?;
    let kept_subscriptions = store.subscriptions().await?;
    let rules = rules_from(store.all_rules().await?);
    let (rules_tx, rules_rx) = mpsc::channel(4);
    tokio::spawn(watch_rules(
        store.clone(),
        rules.clone(),
        rules_tx,
        stop_rx.clone(),
    ));
    let bound = Transports::bind(
        &config.listen,
        settings,
        in_tx,
        bad_input.clone(),
        transport_stop_rx,
    )
    .await
    .map_err(NodeError::Bind)?;
    let origin = bound
        .local
        .first()
        .map_or_else(|| "node".to_string(), |l| l.addr.to_string());
    let telemetry = Arc::new(std::sync::Mutex::new(Tracker::new(origin, 1000, 60_000)));
    let csv = match &config.records_csv {
        Some(path) => Some(
            CsvRecords::open(path, config.records_csv_max_bytes).map_err(|source| {
                NodeError::Csv {
                    path: path.clone(),
                    source,
                }
            })?,
        ),
        None => None,
    };
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let cloud = match &config.cluster {
        Some(c) => {
            let (tx, rx) = mpsc::channel(4096);
            let peers = peers::Peers::bind(c.listen, &c.node, &c.secret, tx, stop_rx.clone())
                .await
                .map_err(|source| NodeError::Cluster {
                    addr: c.listen,
                    source,
                })?;
            // Peers dial the advertised address: the bound one, or the node's
            // name as a host name when bound to every interface (as in
            // docker-compose, where the service name resolves).
            let advertise = if peers.local.ip().is_unspecified() {
                format!("{}:{}", c.node, peers.local.port())
            } else {
                peers.local.to_string()
            };
            tracing::info!(node = %c.node, listen = %peers.local, %advertise, "cluster listener up");
            let overlay = Overlay::new(
                &c.node,
                &advertise,
                wall.as_millis() as u64,
                c.join.clone(),
                c.settings,
                wall.as_nanos() as u64,
            );
            Some(Cloud {
                overlay,
                peers,
                events: rx,
                pings: HashMap::new(),
                answered: HashMap::new(),
                rtt_us: std::collections::BTreeMap::new(),
            })
        }
        None => None,
    };
    let cluster_local = cloud.as_ref().map(|c| c.peers.local);
    let (query_tx, query_rx) = mpsc::channel(64);
    let (located_tx, located_rx) = mpsc::channel(256);
    let (backend_tx, backend_rx) = mpsc::channel(256);
    let (leg_errors_tx, leg_errors_rx) = mpsc::channel(256);
    let (notify_errors_tx, notify_errors_rx) = mpsc::channel(256);
    let contact = bound
        .local
        .iter()
        .find(|l| l.transport == crate::config::Transport::Udp)
        .or(bound.local.first())
        .filter(|l| !l.addr.ip().is_unspecified())
        .map(|l| crate::sip::uri::host_port(l.addr))
        .unwrap_or_default();
    let resolver = match resolver::Resolver::new(config.dns) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!(error = %e, "no DNS resolver: other domains cannot be reached");
            None
        }
    };
    let core_candidates = match &config.core {
        Some(uri) => Some(locate_core(uri, resolver.as_ref()).await?),
        None => None,
    };
    let admin = crate::admin::start(
        config.admin,
        crate::admin::Views {
            metrics,
            telemetry: telemetry.clone(),
            token: config.admin_token.clone(),
            queries: query_tx,
        },
        stop_rx.clone(),
    )
    .await
    .map_err(|source| NodeError::Admin {
        addr: config.admin,
        source,
    })?;
    for l in &bound.local {
        tracing::info!("listening on {l}");
    }
    tracing::info!(%admin, store = %crate::store::redact(&config.db), "admin listener up");
    let mut caps = Capabilities::node();
    caps.methods.extend([Method::Subscribe, Method::Publish]);
    caps.event_packages
        .extend([agent::PACKAGE, crate::presence::winfo::PRESENCE_WINFO]);
    caps.accept
        .extend([agent::PIDF, crate::presence::winfo::CONTENT_TYPE]);
    let seed = wall.as_nanos() as u64;
    let epoch_unix = wall.as_millis() as u64;
    let restored = restore(&config, &bound.local, kept_publications, kept_subscriptions);
    let core = Core {
        telemetry,
        csv,
        correlators: HashMap::new(),
        subscribing: HashMap::new(),
        store,
        writer,
        rules_rx,
        restored: Some((rules, restored)),
        epoch_unix,
        caps,
        agent: Agent::new(config.presence_policy(), seed),
        clients: HashMap::new(),
        timers: Timers {
            t1: config.t1,
            t2: config.t2,
            t4: config.t4,
        },
        limits,
        config: config.clone(),
        transports: bound.transports.clone(),
        bad_input,
        epoch: Instant::now(),
        servers: HashMap::new(),
        deadlines: BinaryHeap::new(),
        tags: 0,
        draining: false,
        cloud,
        queries: query_rx,
        local: crate::proxy::Local {
            addrs: bound.local.iter().map(|l| l.addr).collect(),
        },
        listening: bound.local.clone(),
        legs: HashMap::new(),
        invites: HashMap::new(),
        core: core_candidates,
        resolver,
        located_tx,
        located_rx,
        federation: crate::presence::federation::Federation::new(
            &contact,
            config.presence.subscribe.default,
            seed,
        ),
        backend_queue: Vec::new(),
        backend_tx,
        backend_rx,
        leg_errors_tx,
        leg_errors_rx,
        notify_errors_tx,
        notify_errors_rx,
        routes_to: HashMap::new(),
    };
    let core = tokio::spawn(core.run(in_rx, stop_rx, transport_stop_tx));
    Ok(Running {
        local: bound.local,
        admin,
        cluster: cluster_local,
        stop: stop_tx,
        core,
    })
}

enum ServerTx {
    NonInvite(ServerNonInvite),
    Invite(ServerInvite),
}

struct Entry {
    tx: ServerTx,
    /// Where its responses go.
    target: Target,
}

impl Entry {
    fn poll_timeout(&self) -> Option<Millis> {
        match &self.tx {
            ServerTx::NonInvite(t) => t.poll_timeout(),
            ServerTx::Invite(t) => t.poll_timeout(),
        }
    }

    fn is_terminated(&self) -> bool {
        match &self.tx {
            ServerTx::NonInvite(t) => t.is_terminated(),
            ServerTx::Invite(t) => t.is_terminated(),
        }
    }
}

/// A NOTIFY on its way: its client transaction and the dialog it serves.
struct ClientEntry {
    tx: ClientNonInvite,
    target: Target,
    dialog: DialogId,
}

/// What a timer deadline belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKey {
    Server(ServerKey),
    Client(ClientKey),
    /// Publication and subscription expiry in the presence agent.
    Agent,
    /// A forwarded request's client transaction or Timer C.
    Leg(ClientKey),
    /// Back-end subscription refreshes and retries.
    Federation,
}

struct Core {
    config: Arc<Config>,
    caps: Capabilities,
    agent: Agent,
    /// Latency transactions (shared with the admin API).
    telemetry: Arc<std::sync::Mutex<Tracker>>,
    csv: Option<CsvRecords>,
    /// The latency transactions a NOTIFY's answer finishes.
    correlators: HashMap<ClientKey, Vec<String>>,
    /// Subscriptions waiting for the answer to their first NOTIFY, with
    /// when the SUBSCRIBE came.
    subscribing: HashMap<DialogId, u64>,
    store: Store,
    writer: Writer,
    /// Rule sets read from the store when they change.
    rules_rx: mpsc::Receiver<Vec<Rule>>,
    /// Rules and state read from the store at start, handed to the agent
    /// when the core runs.
    restored: Option<(Vec<Rule>, Restored)>,
    /// Wall-clock milliseconds at `epoch`: the agent's time (publication
    /// and subscription expiry are kept in the store as wall-clock times).
    epoch_unix: u64,
    clients: HashMap<ClientKey, ClientEntry>,
    timers: Timers,
    limits: Limits,
    transports: Arc<Transports>,
    bad_input: Arc<BadInput>,
    epoch: Instant,
    servers: HashMap<ServerKey, Entry>,
    /// Timer deadlines; stale entries are skipped when they come up.
    deadlines: BinaryHeap<Reverse<(Millis, TimerKey)>>,
    tags: u64,
    draining: bool,
    /// The PresenceCloud overlay and its links, when clustered.
    cloud: Option<Cloud>,
    /// The admin API's questions about presence state.
    queries: mpsc::Receiver<crate::admin::AdminQuery>,
    /// The proxy face: our addresses, the requests we forward, the INVITE
    /// each forwarded one answers, the SIP core, RFC 3263 lookups.
    local: crate::proxy::Local,
    listening: Vec<Listen>,
    legs: HashMap<ClientKey, forward::Leg>,
    invites: HashMap<ServerKey, ClientKey>,
    core: Option<Vec<crate::locate::Candidate>>,
    resolver: Option<resolver::Resolver>,
    located_tx: mpsc::Sender<forward::Located>,
    located_rx: mpsc::Receiver<forward::Located>,
    /// Back-end subscriptions to other domains (cross-domain presence),
    /// and the SUBSCRIBEs waiting to be sent.
    federation: crate::presence::federation::Federation,
    backend_queue: Vec<crate::presence::federation::Outgoing>,
    backend_tx: mpsc::Sender<federate::BackendLocated>,
    backend_rx: mpsc::Receiver<federate::BackendLocated>,
    /// Legs whose TCP send failed (sent off the core task).
    leg_errors_tx: mpsc::Sender<ClientKey>,
    leg_errors_rx: mpsc::Receiver<ClientKey>,
    /// NOTIFYs sent from a task of their own that could not be sent.
    notify_errors_tx: mpsc::Sender<ClientKey>,
    notify_errors_rx: mpsc::Receiver<ClientKey>,
    /// Our source address toward each peer address (listeners bound to
    /// every interface).
    routes_to: HashMap<std::net::IpAddr, std::net::IpAddr>,
}

/// The overlay and what drives it.
struct Cloud {
    overlay: Overlay,
    peers: peers::Peers,
    events: mpsc::Receiver<peers::PeerEvent>,
    /// Probes on their way, timed here with the monotonic clock to the
    /// microsecond (the overlay's clock counts milliseconds).
    pings: HashMap<u64, Instant>,
    /// Round trips of answered probes, by probe id, until the overlay
    /// reports them; and the last one to each peer.
    answered: HashMap<u64, u64>,
    rtt_us: std::collections::BTreeMap<String, u64>,
}

/// What the admin API shows of the overlay, built by the core when asked.
#[derive(Debug, Clone, Default, serde::Serialize)]
struct ClusterView {
    pub node: String,
    pub nodes: Vec<NodeView>,
    /// Probe round trips in microseconds: `matrix[a][b]` as node a
    /// measured it to b (this node's row and every row its probes heard).
    pub matrix: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>>,
    pub aggregated_subscriptions: usize,
    pub subscribers: usize,
    pub local_users: usize,
    pub cached_users: usize,
}

impl Core {
    fn now(&self) -> Millis {
        Millis(self.epoch.elapsed().as_millis() as u64)
    }

    fn lock_telemetry(&self) -> std::sync::MutexGuard<'_, Tracker> {
        self.telemetry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A NOTIFY built now carries the state any open notification
    /// transaction of its dialog waits for, and the first NOTIFY of a new
    /// subscription finishes its subscription transaction.
    fn arm(&mut self, key: &ClientKey, dialog: &DialogId) {
        let mut correlators = Vec::new();
        if let Some(received) = self.subscribing.remove(dialog) {
            let c = format!("subscribe:{}", row_id(dialog));
            self.lock_telemetry().start(
                received,
                Kind::Subscription,
                c.clone(),
                dialog.remote_tag.clone(),
            );
            correlators.push(c);
        }
        let c = notification_correlator(dialog);
        if self.lock_telemetry().is_open(&c) {
            correlators.push(c);
        }
        if !correlators.is_empty() {
            self.correlators.insert(key.clone(), correlators);
        }
    }

    /// The answer (or timeout) of a NOTIFY finishes what it carried.
    fn finish_measures(&mut self, key: &ClientKey, status: Option<u16>) {
        let Some(correlators) = self.correlators.remove(key) else {
            return;
        };
        let now = self.unix_now();
        let records: Vec<Record> = {
            let mut t = self.lock_telemetry();
            correlators
                .iter()
                .filter_map(|c| match status {
                    Some(s) => t.finish(now, c, s),
                    None => t.time_out(now, c),
                })
                .collect()
        };
        for r in records {
            r.observe();
            if let Some(csv) = &mut self.csv {
                if let Err(e) = csv.write(&r) {
                    tracing::warn!(error = %e, "records file not written");
                }
            }
        }
    }

    fn unix_now(&self) -> u64 {
        self.epoch_unix + self.epoch.elapsed().as_millis() as u64
    }

    /// Hands what the agent changed to the batched writer (DESIGN.md,
    /// "Storage": writes never wait for the database).
    async fn persist(&mut self) {
        for change in self.agent.take_changes() {
            let write = match change {
                Change::Publication(p) => store::Write::PutPublication(publication_row(&p)),
                Change::PublicationGone(etag) => store::Write::RemovePublication { etag },
                Change::Subscription(d) => store::Write::PutSubscription(subscription_row(&d)),
                Change::SubscriptionGone(id) => {
                    store::Write::RemoveSubscription { id: row_id(&id) }
                }
            };
            if let Err(e) = self.writer.write(write).await {
                tracing::error!(error = %e, "state not persisted");
            }
        }
        self.feed_cloud();
        for o in std::mem::take(&mut self.backend_queue) {
            Box::pin(self.backend_send(o)).await;
        }
    }

    /// Hands the overlay what the agent's watchers want and its own
    /// presentities' new states, and sends what that makes it say.
    fn feed_cloud(&mut self) {
        let interests = self.agent.take_interests();
        let now = self.now().0;
        // Presentities of other domains are the federation's; the rest the
        // overlay's.
        let (federated, interests): (Vec<Interest>, Vec<Interest>) =
            interests.into_iter().partition(|i| match i {
                Interest::Watch(a) | Interest::Unwatch(a) => self.is_federated(a),
                Interest::Local(_) => false,
            });
        let federated_changed = !federated.is_empty();
        for i in federated {
            let out = match i {
                Interest::Watch(a) => self.federation.watch(&a),
                Interest::Unwatch(a) => self.federation.unwatch(&a),
                Interest::Local(_) => None,
            };
            self.backend_queue.extend(out);
        }
        if federated_changed {
            // An unwatch ends the dialog's count at once, not at its 2xx.
            self.count_backend();
        }
        let Some(c) = &mut self.cloud else {
            return;
        };
        for i in interests {
            match i {
                Interest::Watch(aor) => c.overlay.watch(now, &aor),
                Interest::Unwatch(aor) => c.overlay.unwatch(&aor),
                Interest::Local(aor) => {
                    let doc = self.agent.local_document(&aor);
                    c.overlay.set_local(now, &aor, doc.as_deref());
                }
            }
        }
        c.ship();
    }

    /// A state change of `presentity` starts a notification transaction
    /// per watcher here (its NOTIFY's 2xx ends it). For a remote state the
    /// span starts when the state reaches this node.
    fn start_notifications(&self, now_unix: u64, presentity: &str) {
        if !self.config.instrumentation {
            return;
        }
        let mut t = self.lock_telemetry();
        for (id, watcher) in self.agent.watchers_of(presentity) {
            t.start(
                now_unix,
                Kind::Notification,
                notification_correlator(&id),
                watcher,
            );
        }
    }

    fn answer(&self, query: crate::admin::Query) -> serde_json::Value {
        use crate::admin::{ClusterPart, Query};
        let now = self.unix_now();
        match query {
            Query::Cluster(part) => {
                let v = self.cluster_view();
                match part {
                    ClusterPart::Nodes => serde_json::json!(v.nodes),
                    ClusterPart::Rtt => {
                        serde_json::json!({"node": v.node, "unit": "us", "matrix": v.matrix})
                    }
                    ClusterPart::All => serde_json::json!(v),
                }
            }
            Query::Presentities { limit } => serde_json::json!(self.agent.presentities(limit)),
            Query::Presentity { aor } => match self.agent.presentity(now, &aor) {
                Some(d) => serde_json::json!(d),
                None => serde_json::Value::Null,
            },
            Query::Watchers { presentity } => {
                serde_json::json!(self.agent.watcher_details(now, &presentity))
            }
        }
    }

    /// The overlay as this node sees it (empty when it runs alone).
    fn cluster_view(&self) -> ClusterView {
        let Some(c) = &self.cloud else {
            return ClusterView::default();
        };
        ClusterView {
            node: c.overlay.me().to_string(),
            nodes: c.overlay.nodes(),
            matrix: c
                .overlay
                .reports()
                .into_iter()
                .map(|(n, r)| (n, r.rtt_us))
                .collect(),
            aggregated_subscriptions: c.overlay.aggregated_subscriptions(),
            subscribers: c.overlay.subscribers(),
            local_users: c.overlay.local_users(),
            cached_users: c.overlay.cached_users(),
        }
    }

    async fn on_peer_event(&mut self, ev: peers::PeerEvent) {
        let now = self.now().0;
        let Some(c) = &mut self.cloud else {
            return;
        };
        match ev {
            peers::PeerEvent::Up { peer } => c.overlay.link_up(&peer),
            peers::PeerEvent::Messages { peer, msgs } => {
                for m in msgs {
                    if let CloudMessage::Pong { id, .. } = &m {
                        if let Some(sent) = c.pings.remove(id) {
                            let us = sent.elapsed().as_micros() as u64;
                            c.answered.insert(*id, us);
                            c.rtt_us.insert(peer.clone(), us);
                        }
                    }
                    if !matches!(
                        m,
                        CloudMessage::Gossip { .. }
                            | CloudMessage::Ping { .. }
                            | CloudMessage::Pong { .. }
                    ) {
                        tracing::debug!(%peer, message = ?m, "cloud in");
                    }
                    count_message(&m, "in");
                    c.overlay.on_message(now, &peer, m);
                }
            }
        }
        self.cloud_events().await;
    }

    async fn cloud_tick(&mut self) {
        let now = self.now().0;
        let load = crate::cloud::message::Load {
            subscriptions: self.agent.subscriptions() as u64,
            publications: self.agent.publications() as u64,
        };
        if let Some(c) = &mut self.cloud {
            // Probes that were never answered are forgotten with the
            // overlay's own timeout (it reports them timed out).
            let horizon = Duration::from_secs(600);
            c.pings.retain(|_, t| t.elapsed() < horizon);
            c.overlay.set_report(crate::cloud::message::Report {
                rtt_us: c.rtt_us.clone(),
                load,
            });
            c.overlay.tick(now);
            c.peers.prune();
        }
        self.cloud_events().await;
    }

    /// Carries out what the overlay said: remote states to the agent (and
    /// the NOTIFYs they cause), measures to telemetry, messages to peers.
    async fn cloud_events(&mut self) {
        let unix = self.unix_now();
        let Some(c) = &mut self.cloud else {
            return;
        };
        let events = c.overlay.take_events();
        c.ship();
        let origin = c.overlay.me().to_string();
        let mut notifies = Vec::new();
        let mut records = Vec::new();
        let mut probes = Vec::new();
        let mut remote_changed = Vec::new();
        for e in events {
            match e {
                overlay::Event::RemoteState { aor, home, state } => {
                    notifies.extend(self.agent.set_remote(unix, &aor, &home, state.as_deref()));
                    remote_changed.push(aor);
                }
                overlay::Event::SearchDone { messages, .. } => {
                    metrics::histogram!(telemetry::names::CLOUD_SEARCH_MESSAGES)
                        .record(messages as f64);
                }
                overlay::Event::SearchAnswer { id, peer, elapsed } => {
                    records.push(cloud_record(Kind::Search, &origin, peer, id, elapsed, unix));
                }
                overlay::Event::Probe { id, peer, rtt } => {
                    let us = c.answered.remove(&id);
                    if let (Some(_), Some(us)) = (rtt, us) {
                        metrics::histogram!(telemetry::names::PROBE_RTT, "peer" => peer.clone())
                            .record(us as f64 / 1e6);
                    }
                    let ms = us.map(|u| u.div_ceil(1000)).or(rtt);
                    probes.push(cloud_record(
                        Kind::Probe,
                        &origin,
                        peer,
                        id,
                        rtt.and(ms),
                        unix,
                    ));
                }
                overlay::Event::Joined(n) => tracing::info!(node = %n, "cluster member joined"),
                overlay::Event::Died(n) => tracing::warn!(node = %n, "cluster member is dead"),
                overlay::Event::Restarted(n) => {
                    tracing::info!(node = %n, "cluster member restarted")
                }
            }
        }
        let measured = probes.into_iter().map(|r| (r, false));
        for (r, observe) in records.into_iter().map(|r| (r, true)).chain(measured) {
            // Answered probes went to the histogram above, to the µs.
            if observe || !r.completed {
                r.observe();
            }
            self.lock_telemetry().keep(r.clone());
            if let Some(csv) = &mut self.csv {
                if let Err(e) = csv.write(&r) {
                    tracing::warn!(error = %e, "records file not written");
                }
            }
        }
        if let Some(c) = &self.cloud {
            metrics::gauge!(telemetry::names::CLOUD_AGGREGATED)
                .set(c.overlay.aggregated_subscriptions() as f64);
        }
        for aor in remote_changed {
            self.start_notifications(unix, &aor);
        }
        if !notifies.is_empty() {
            let now = self.now();
            self.send_notifies(now, notifies).await;
        }
        self.persist().await;
    }

    fn instant(&self, m: Millis) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.epoch + Duration::from_millis(m.0))
    }

    async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut stop: watch::Receiver<bool>,
        transport_stop: watch::Sender<bool>,
    ) {
        let mut drain_deadline: Option<tokio::time::Instant> = None;
        // Latency transactions whose answer never comes (their subject went
        // away) finish as timed out.
        let mut housekeeping = tokio::time::interval(Duration::from_secs(5));
        if let Some((rules, r)) = self.restored.take() {
            let now = self.unix_now();
            let _ = self.agent.set_rules(now, rules);
            tracing::info!(
                publications = r.publications.len(),
                subscriptions = r.dialogs.len(),
                "state restored from the store"
            );
            let notifies = self
                .agent
                .restore(now, r.publications, r.dialogs, RESTART_CSEQ_GAP);
            let now = self.now();
            self.send_notifies(now, notifies).await;
            self.persist().await;
            self.schedule_agent();
        }
        loop {
            let next = self
                .deadlines
                .peek()
                .map(|Reverse((m, _))| self.instant(*m));
            let sleep_until = match (next, drain_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let sleep = async {
                match sleep_until {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            let cloud_at = self.cloud.as_ref().map(|c| {
                let at = c.overlay.next_deadline().min(self.now().0 + 3_600_000);
                self.instant(Millis(at))
            });
            let cloud_sleep = async {
                match cloud_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = inbound.recv() => match msg {
                    Some(m) => self.on_inbound(m).await,
                    None => break,
                },
                _ = sleep => {
                    let now = self.now();
                    self.on_timers(now).await;
                }
                _ = housekeeping.tick() => {
                    let now = self.unix_now();
                    let late = self.lock_telemetry().expire(now);
                    for r in late {
                        r.observe();
                    }
                }
                Some(l) = self.located_rx.recv() => {
                    self.start_leg(l).await;
                }
                Some(b) = self.backend_rx.recv() => {
                    self.backend_start(b).await;
                }
                Some(k) = self.leg_errors_rx.recv() => {
                    self.leg_transport_error(k).await;
                }
                Some(k) = self.notify_errors_rx.recv() => {
                    let notifies = self.notify_not_sent(&k);
                    let now = self.now();
                    self.send_notifies(now, notifies).await;
                }
                Some(q) = self.queries.recv() => {
                    let answer = self.answer(q.query);
                    let _ = q.reply.send(answer);
                }
                Some(ev) = next_peer_event(&mut self.cloud) => {
                    self.on_peer_event(ev).await;
                }
                _ = cloud_sleep => {
                    self.cloud_tick().await;
                }
                Some(rules) = self.rules_rx.recv() => {
                    let now_unix = self.unix_now();
                    let notifies = self.agent.set_rules(now_unix, rules);
                    let now = self.now();
                    self.send_notifies(now, notifies).await;
                    self.persist().await;
                }
                _ = stop.changed(), if !self.draining => {
                    self.draining = true;
                    drain_deadline = Some(tokio::time::Instant::now() + self.config.drain_timeout);
                }
            }
            if self.draining {
                let timed_out = drain_deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
                if self.in_flight() == 0 || timed_out {
                    break;
                }
            }
        }
        // Everything acknowledged reaches the store before we exit; the
        // transports stop last so the final responses are out.
        self.persist().await;
        if let Err(e) = self.writer.close().await {
            tracing::error!(error = %e, "state not fully flushed at shutdown");
        }
        self.store.close().await;
        let _ = transport_stop.send(true);
        tracing::info!(open_transactions = self.servers.len(), "stopped");
    }

    /// Transactions still waiting on us (the TU) to answer. Completed ones
    /// only absorb retransmissions and need not hold shutdown up.
    fn in_flight(&self) -> usize {
        self.clients.len()
            + self.legs.len()
            + self
                .servers
                .values()
                .filter(|e| match &e.tx {
                    ServerTx::NonInvite(t) => {
                        matches!(t.state(), ServerState::Trying | ServerState::Proceeding)
                    }
                    ServerTx::Invite(t) => t.state() == InviteServerState::Proceeding,
                })
                .count()
    }

    /// Our address as the peer of `inbound` must see it (Via sent-by,
    /// Contact, Record-Route): the address the request came to or, on a
    /// listener bound to every interface (0.0.0.0, as in a container), the
    /// address the kernel routes to that peer from, with the listener's
    /// port. Found addresses join the ones that name us (Route handling).
    pub(super) fn local_toward(&mut self, inbound: &Inbound) -> SocketAddr {
        let bound = self
            .transports
            .local_addr(inbound.link)
            .unwrap_or(inbound.source);
        self.reachable(bound, inbound.source.ip())
    }

    pub(super) fn reachable(&mut self, bound: SocketAddr, peer: std::net::IpAddr) -> SocketAddr {
        if !bound.ip().is_unspecified() {
            return bound;
        }
        let ip = match self.routes_to.get(&peer) {
            Some(ip) => *ip,
            None => {
                let any: SocketAddr = if peer.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                // connect() on a UDP socket sends nothing: it only asks the
                // kernel for the route, hence the source address.
                let found = std::net::UdpSocket::bind(any)
                    .and_then(|s| s.connect((peer, 9)).map(|()| s))
                    .and_then(|s| s.local_addr())
                    .map(|a| a.ip())
                    .unwrap_or(peer);
                self.routes_to.insert(peer, found);
                found
            }
        };
        let mine = SocketAddr::new(ip, bound.port());
        if !self.local.addrs.contains(&mine) {
            self.local.addrs.push(mine);
        }
        mine
    }

    fn new_tag(&mut self) -> String {
        self.tags += 1;
        let seed = self.epoch.elapsed().as_nanos() as u64;
        format!("pc{:x}{:x}", seed & 0xffff_ffff, self.tags)
    }

    /// A response or a request outside a transaction of ours.
    async fn send(&self, target: Target, bytes: Vec<u8>) {
        if let Err(e) = self.send_or_spawn(target, bytes, None).await {
            tracing::debug!(error = %e, "send failed");
        }
    }

    /// Sends now on what is open; what needs a new TCP connection (§18.2.2:
    /// the request's closed) goes from a task of its own, since the core
    /// must not wait for a connect. A failure there is logged, and reported
    /// on `failed` when given.
    async fn send_or_spawn(
        &self,
        target: Target,
        bytes: Vec<u8>,
        failed: Option<(mpsc::Sender<ClientKey>, ClientKey)>,
    ) -> Result<(), crate::transport::SendError> {
        if let Some(bytes) = self.transports.send_open(target, bytes).await? {
            self.spawn_send(target, bytes, failed);
        }
        Ok(())
    }

    /// Sends from a task of its own (a connect may take up to its timeout);
    /// a failure is logged, and reported on `failed` when given.
    fn spawn_send(
        &self,
        target: Target,
        bytes: Vec<u8>,
        failed: Option<(mpsc::Sender<ClientKey>, ClientKey)>,
    ) {
        let transports = self.transports.clone();
        tokio::spawn(async move {
            if let Err(e) = transports.send(target, bytes).await {
                tracing::debug!(error = %e, "send failed");
                if let Some((report, key)) = failed {
                    let _ = report.send(key).await;
                }
            }
        });
    }

    /// Where the answer to a request from `source` over `link` goes.
    fn answer_target(&self, inbound: &Inbound, msg: Option<&Message<'_>>) -> Option<Target> {
        match inbound.link {
            Link::Tcp(conn) => Some(Target::Tcp {
                conn: Some(conn),
                addr: inbound.source,
            }),
            Link::Udp(socket) => {
                let addr = match msg.and_then(|m| m.top_via()) {
                    Some(via) => {
                        response::response_target(via, inbound.source, self.config.force_rport)
                    }
                    // a salvaged answer: back where it came from
                    None => inbound.source,
                };
                Some(Target::Udp { socket, addr })
            }
        }
    }

    async fn on_inbound(&mut self, inbound: Inbound) {
        let conn = match inbound.link {
            Link::Tcp(id) => Some(id),
            Link::Udp(_) => None,
        };
        match &inbound.event {
            Event::Closed => {
                if let Some(id) = conn {
                    self.transports.close(id);
                }
                return;
            }
            Event::Broken(e) => {
                self.reject_unparsable(&inbound, e).await;
                if let Some(id) = conn {
                    self.transports.close(id);
                }
                return;
            }
            Event::Message => {}
        }
        let bytes = &inbound.bytes;
        let msg = match sip::parse_lazy_with(bytes, &self.limits) {
            Ok(m) => m,
            Err(e) => {
                self.reject_unparsable(&inbound, &e).await;
                return;
            }
        };
        if !msg.is_request() {
            // A response is held to what matching and relaying read of it
            // (RFC 3261 §16.3 step 1).
            if let Err(e) = msg.check_for(&crate::proxy::RESPONSE_READS) {
                self.reject_unparsable(&inbound, &e).await;
                return;
            }
            self.on_response(&inbound, &msg).await;
            return;
        }
        // Learn which of our addresses this peer reaches (bound to every
        // interface), so a Request-URI or Route naming it is known as ours
        // before the choice to forward.
        self.local_toward(&inbound);
        // A request forwarded is held to what is read of it (§16.3 step 1);
        // a request served here to all of it.
        let forward = !self.draining && self.is_for_forwarding(&msg);
        let reads: &[sip::HeaderName] = if forward {
            &crate::proxy::REQUEST_READS
        } else {
            &sip::HeaderName::ALL
        };
        if let Err(e) = msg.check_for(reads) {
            self.reject_unparsable(&inbound, &e).await;
            return;
        }
        self.on_request(&inbound, &msg, forward).await;
    }

    /// A 400 (or 505, 513, 501) for input that did not parse, built from its
    /// raw header lines, and a rate-limited warning naming the peer.
    async fn reject_unparsable(&mut self, inbound: &Inbound, e: &sip::ParseError) {
        self.bad_input
            .warn(inbound.source, inbound.transport().as_str(), &e.to_string());
        let Disposition::Reject { status, reason } = e.disposition() else {
            return;
        };
        let tag = self.new_tag();
        let extra = match status {
            501 => vec![("Allow", self.caps.allow())],
            _ => Vec::new(),
        };
        if let (Some(reply), Some(target)) = (
            response::salvage(&inbound.bytes, status, &reason, &tag, &extra),
            self.answer_target(inbound, None),
        ) {
            self.send(target, reply).await;
        }
    }

    /// A request that passed its checks; `forward` is the choice made
    /// for them (not ours to serve).
    async fn on_request(&mut self, inbound: &Inbound, msg: &Message<'_>, forward: bool) {
        let now = self.now();
        let Some(method) = msg.method() else { return };
        let key = server_key(msg);
        // §17.2.3: a request matching a transaction is a retransmission (or
        // the ACK of a non-2xx final of an INVITE transaction).
        if let Some(k) = &key {
            if let Some(entry) = self.servers.get_mut(k) {
                let resend = match (&mut entry.tx, method) {
                    (ServerTx::Invite(t), Method::Ack) => {
                        // An ACK the transaction does not absorb is for a
                        // 2xx: end to end, and we sent none.
                        t.on_ack(now);
                        None
                    }
                    (ServerTx::Invite(t), _) => t.on_retransmission(),
                    (ServerTx::NonInvite(t), _) => t.on_retransmission(),
                };
                let target = entry.target;
                self.schedule(k.clone());
                if let Some(bytes) = resend {
                    tracing::debug!(peer = %inbound.source, method = method.as_str(), "retransmission answered");
                    self.send(target, bytes.to_vec()).await;
                }
                return;
            }
        }
        if method == Method::Cancel {
            if let Some(k) = &key {
                if self.on_cancel(inbound, msg, k).await {
                    return;
                }
            }
        }
        if method == Method::Notify && self.on_backend_notify(inbound, msg, key.clone()).await {
            return;
        }
        if forward {
            self.forward(inbound, msg, key).await;
            return;
        }
        let Some(target) = self.answer_target(inbound, Some(msg)) else {
            return;
        };
        let decision = if self.draining && method != Method::Ack {
            Decision::Answer(router::Answer {
                status: 503,
                reason: "Service Unavailable",
                headers: vec![("Retry-After", "5".into())],
            })
        } else {
            router::route(msg, &self.caps)
        };
        let mut notifies = Vec::new();
        // Presence for a domain we do not serve is not ours to answer; until
        // requests are forwarded (RFC 3263), it is 404 here.
        let decision = match decision {
            Decision::Serve(m @ (Method::Publish | Method::Subscribe)) => {
                let host = msg
                    .request_uri()
                    .and_then(|u| u.as_sip())
                    .map(|u| u.host.raw)
                    .unwrap_or("");
                let in_dialog = msg.to().and_then(|t| t.tag()).is_some();
                let to_us =
                    matches!(msg.request_uri(), Some(sip::Uri::Sip(u)) if self.local.is_me(u));
                let federated = m == Method::Subscribe
                    && msg.event().is_some_and(|e| e.package() == agent::PACKAGE)
                    && !self.config.domains.is_empty();
                if self.config.serves_domain(host) || in_dialog || to_us || federated {
                    Decision::Serve(m)
                } else {
                    Decision::Answer(router::Answer {
                        status: 404,
                        reason: "Not Found",
                        headers: Vec::new(),
                    })
                }
            }
            other => other,
        };
        let answer = match decision {
            Decision::Absorb => return,
            Decision::Answer(a) => agent::Answer {
                status: a.status,
                reason: a.reason.to_string(),
                headers: a.headers,
                to_tag: None,
            },
            Decision::Serve(Method::Publish) => {
                let (a, n) = self.agent.on_publish(self.unix_now(), msg);
                notifies = n;
                // A state change starts a notification transaction per
                // watcher (PUBLISH accepted → that watcher's NOTIFY 2xx).
                let changed = !msg.body.is_empty() || msg.expires() == Some(0);
                if a.status == 200 && changed && self.config.instrumentation {
                    if let Some(p) = msg
                        .request_uri()
                        .and_then(crate::presence::agent::presentity_of)
                    {
                        self.start_notifications(self.unix_now(), &p);
                    }
                }
                a
            }
            Decision::Serve(Method::Subscribe) => {
                let local = self.local_toward(inbound);
                let path = Path {
                    transport: inbound.transport().as_str(),
                    local,
                    peer: inbound.source,
                    conn: match inbound.link {
                        Link::Tcp(id) => Some(id),
                        Link::Udp(_) => None,
                    },
                    symmetric: self.config.force_rport,
                };
                let received = self.unix_now();
                let (a, n) = self.agent.on_subscribe(received, msg, path);
                // A new subscription: SUBSCRIBE received → first NOTIFY 2xx.
                if a.to_tag.is_some() {
                    if let Some(first) = n.first() {
                        if self.config.instrumentation {
                            self.subscribing.insert(first.dialog.clone(), received);
                        }
                    }
                }
                notifies = n;
                a
            }
            Decision::Serve(m) => {
                tracing::error!(method = m.as_str(), "no service for a routed method");
                agent::Answer {
                    status: 500,
                    reason: "Server Internal Error".into(),
                    headers: Vec::new(),
                    to_tag: None,
                }
            }
        };
        let stamped = msg
            .top_via()
            .map(|v| response::stamp_via(v, inbound.source, self.config.force_rport));
        let tag = answer.to_tag.clone().unwrap_or_else(|| self.new_tag());
        let reply = Reply {
            status: answer.status,
            reason: &answer.reason,
            to_tag: Some(&tag),
            headers: answer.headers.clone(),
            body: None,
        };
        let wire = response::build(msg, stamped.as_deref(), &reply);
        let reliable = inbound.transport().reliable();
        let sent = match method {
            Method::Invite => {
                let mut t = ServerInvite::new(reliable, self.timers);
                let r = t.on_response(now, answer.status, wire);
                (ServerTx::Invite(t), r)
            }
            _ => {
                let mut t = ServerNonInvite::new(reliable, self.timers);
                let r = t.on_response(now, answer.status, wire);
                (ServerTx::NonInvite(t), r)
            }
        };
        metrics::counter!(telemetry::names::REQUESTS, "method" => method.as_str().to_string())
            .increment(1);
        metrics::counter!(telemetry::names::RESPONSES, "code" => answer.status.to_string())
            .increment(1);
        tracing::debug!(
            peer = %inbound.source,
            transport = inbound.transport().as_str(),
            method = method.as_str(),
            call_id = msg.call_id().unwrap_or(""),
            status = answer.status,
            "transaction"
        );
        let (tx, bytes) = sent;
        match bytes {
            Ok(bytes) => self.send(target, bytes.to_vec()).await,
            Err(e) => tracing::error!(error = %e, "response refused by its transaction"),
        }
        if let Some(k) = key {
            let entry = Entry { tx, target };
            if !entry.is_terminated() {
                self.servers.insert(k.clone(), entry);
                self.schedule(k);
            }
        }
        // The response first, then the NOTIFYs it causes (RFC 6665 §4.2.1.1).
        self.send_notifies(now, notifies).await;
        self.persist().await;
        self.schedule_agent();
        metrics::gauge!(telemetry::names::DIALOGS).set(self.agent.subscriptions() as f64);
        metrics::gauge!(telemetry::names::PUBLICATIONS).set(self.agent.publications() as f64);
    }

    fn schedule(&mut self, key: ServerKey) {
        if let Some(t) = self.servers.get(&key).and_then(Entry::poll_timeout) {
            self.deadlines.push(Reverse((t, TimerKey::Server(key))));
        }
    }

    fn schedule_client(&mut self, key: ClientKey) {
        if let Some(t) = self.clients.get(&key).and_then(|c| c.tx.poll_timeout()) {
            self.deadlines.push(Reverse((t, TimerKey::Client(key))));
        }
    }

    fn schedule_agent(&mut self) {
        if let Some(t) = self.agent.next_deadline() {
            let relative = Millis(t.saturating_sub(self.epoch_unix));
            self.deadlines.push(Reverse((relative, TimerKey::Agent)));
        }
    }

    /// Each NOTIFY goes out in a client transaction of its own (RFC 3261
    /// §17.1.2), retransmitted over UDP until answered or timed out. A
    /// NOTIFY that cannot be sent counts as unanswered.
    async fn send_notifies(&mut self, now: Millis, notifies: Vec<Notify>) {
        let mut queue: std::collections::VecDeque<Notify> = notifies.into();
        while let Some(n) = queue.pop_front() {
            // The key of our own NOTIFY, known without parsing it back.
            let key = ClientKey {
                branch: n.branch.to_ascii_lowercase(),
                method: "NOTIFY".into(),
            };
            let target = match n.transport {
                "TCP" => Target::Tcp {
                    conn: n.conn,
                    addr: n.to,
                },
                _ => match self.transports.udp_for(n.to) {
                    Some(socket) => Target::Udp { socket, addr: n.to },
                    None => {
                        queue.extend(
                            self.agent
                                .on_notify_result(self.unix_now(), &n.dialog, None),
                        );
                        continue;
                    }
                },
            };
            tracing::debug!(to = %n.to, call_id = %n.dialog.call_id, last = n.last, "NOTIFY");
            if self
                .agent
                .watcher(&n.dialog)
                .is_some_and(|w| self.is_federated(w))
            {
                metrics::counter!(telemetry::names::CROSS_DOMAIN_NOTIFIES, "direction" => "out")
                    .increment(1);
            }
            self.arm(&key, &n.dialog);
            let reliable = n.transport == "TCP";
            let tx = ClientNonInvite::new(now, n.bytes.clone(), reliable, self.timers);
            let dialog = n.dialog.clone();
            self.clients
                .insert(key.clone(), ClientEntry { tx, target, dialog });
            self.schedule_client(key.clone());
            // A failure after a connect comes back as `notify_errors`.
            let failed = Some((self.notify_errors_tx.clone(), key.clone()));
            if let Err(e) = self.send_or_spawn(target, n.bytes, failed).await {
                tracing::debug!(error = %e, "NOTIFY could not be sent");
                queue.extend(self.notify_not_sent(&key));
            }
        }
    }

    /// A NOTIFY the transport could not carry: unanswered, for the agent.
    fn notify_not_sent(&mut self, key: &ClientKey) -> Vec<Notify> {
        let Some(mut c) = self.clients.remove(key) else {
            return Vec::new();
        };
        if c.tx.on_transport_error().is_none() {
            return Vec::new();
        }
        self.agent
            .on_notify_result(self.unix_now(), &c.dialog, None)
    }

    /// A response to one of our NOTIFYs.
    async fn on_response(&mut self, inbound: &Inbound, msg: &Message<'_>) {
        if self.on_leg_response(msg).await {
            return;
        }
        // A response to a request of ours is read in full (§18.1.2: one
        // that does not parse is dropped).
        if let Err(e) = msg.check() {
            self.bad_input
                .warn(inbound.source, inbound.transport().as_str(), &e.to_string());
            return;
        }
        let now = self.now();
        let (Some(key), Some(status)) = (client_key(msg), msg.status()) else {
            return;
        };
        let Some(entry) = self.clients.get_mut(&key) else {
            tracing::debug!(peer = %inbound.source, status, "stray response dropped");
            return;
        };
        let event = entry.tx.on_response(now, status);
        let dialog = entry.dialog.clone();
        if entry.tx.is_terminated() {
            self.clients.remove(&key);
        } else {
            self.schedule_client(key.clone());
        }
        if let Some(ClientEvent::Final(s)) = event {
            self.finish_measures(&key, Some(s));
            let more = self
                .agent
                .on_notify_result(self.unix_now(), &dialog, Some(s));
            self.send_notifies(now, more).await;
            self.persist().await;
            self.schedule_agent();
        }
    }

    async fn on_client_timer(&mut self, now: Millis, key: ClientKey) {
        let Some(entry) = self.clients.get_mut(&key) else {
            return;
        };
        if entry.tx.poll_timeout().is_none_or(|t| t > now) {
            return;
        }
        let target = entry.target;
        let dialog = entry.dialog.clone();
        match entry.tx.on_timeout(now) {
            Some(ClientAction::Retransmit(bytes)) => {
                self.send(target, bytes.to_vec()).await;
            }
            Some(ClientAction::Timeout) => {
                self.finish_measures(&key, None);
                // Timer F: the watcher never answered (RFC 3261 §17.1.2.2).
                tracing::debug!(call_id = %dialog.call_id, "NOTIFY timed out");
                let more = self.agent.on_notify_result(self.unix_now(), &dialog, None);
                self.send_notifies(now, more).await;
                self.persist().await;
                self.schedule_agent();
            }
            None => {}
        }
        if self.clients.get(&key).is_some_and(|c| c.tx.is_terminated()) {
            self.clients.remove(&key);
        } else {
            self.schedule_client(key);
        }
    }

    async fn on_timers(&mut self, now: Millis) {
        while let Some(Reverse((due, _))) = self.deadlines.peek() {
            if *due > now {
                break;
            }
            let Some(Reverse((_, timer))) = self.deadlines.pop() else {
                break;
            };
            let key = match timer {
                TimerKey::Server(k) => k,
                TimerKey::Client(k) => {
                    self.on_client_timer(now, k).await;
                    continue;
                }
                TimerKey::Leg(k) => {
                    self.on_leg_timer(now, k).await;
                    continue;
                }
                TimerKey::Federation => {
                    self.on_federation_timer().await;
                    continue;
                }
                TimerKey::Agent => {
                    let notifies = self.agent.on_timeout(self.unix_now());
                    self.send_notifies(now, notifies).await;
                    self.persist().await;
                    self.schedule_agent();
                    continue;
                }
            };
            let Some(entry) = self.servers.get_mut(&key) else {
                continue;
            };
            // A stale deadline (the transaction moved on) is skipped.
            if entry.poll_timeout().is_none_or(|t| t > now) {
                continue;
            }
            let target = entry.target;
            let resend = match &mut entry.tx {
                ServerTx::NonInvite(t) => {
                    t.on_timeout(now);
                    None
                }
                ServerTx::Invite(t) => match t.on_timeout(now) {
                    Some(InviteServerAction::Retransmit(bytes)) => Some(bytes),
                    Some(InviteServerAction::NoAck) => {
                        tracing::debug!("INVITE transaction ended without an ACK (Timer H)");
                        None
                    }
                    None => None,
                },
            };
            if let Some(bytes) = resend {
                self.send(target, bytes.to_vec()).await;
            }
            if self.servers.get(&key).is_some_and(Entry::is_terminated) {
                self.servers.remove(&key);
            } else {
                self.schedule(key);
            }
        }
    }
}

/// How far NOTIFY CSeq numbers jump after a restart: more than a node sends
/// on one dialog within the store's flush interval, so numbers stay above
/// any NOTIFY sent after the last flush (RFC 3261 §12.2.1.1).
const RESTART_CSEQ_GAP: u32 = 1000;

/// State read back from the store.
struct Restored {
    publications: Vec<Publication<pidf::Presence>>,
    dialogs: Vec<Dialog>,
}

fn row_id(id: &DialogId) -> String {
    format!("{};{};{}", id.call_id, id.local_tag, id.remote_tag)
}

fn publication_row(p: &Publication<pidf::Presence>) -> store::Publication {
    store::Publication {
        etag: p.etag.clone(),
        presentity: p.presentity.clone(),
        event: agent::PACKAGE.into(),
        content_type: p.content_type.clone(),
        body: p.body.clone(),
        expires_at_ms: p.expires_at as i64,
        created_seq: p.seq as i64,
    }
}

fn subscription_row(d: &Dialog) -> store::Subscription {
    store::Subscription {
        id: row_id(&d.id),
        event: d.event.clone(),
        presentity: d.presentity.clone(),
        watcher: d.watcher.clone(),
        call_id: d.id.call_id.clone(),
        local_tag: d.id.local_tag.clone(),
        remote_tag: d.id.remote_tag.clone(),
        local_cseq: i64::from(d.local_cseq),
        remote_cseq: i64::from(d.remote_cseq),
        route_set: d.route_set.clone(),
        contact: d.remote_target.clone(),
        transport: d.path.transport.into(),
        peer: d.path.peer.to_string(),
        expires_at_ms: d.expires_at as i64,
        state: match d.state {
            State::Pending => "pending",
            State::Active => "active",
            State::Terminated => "terminated",
        }
        .into(),
        created_ms: 0,
    }
}

/// Rows back into the agent's types. The dialog's own URIs are not kept:
/// they are rebuilt from the AORs (watchers match NOTIFYs by Call-ID and
/// tags, RFC 3261 §12.2.2). Our address is the first listener of the
/// dialog's transport.
fn restore(
    config: &Config,
    local: &[Listen],
    publications: Vec<store::Publication>,
    subscriptions: Vec<store::Subscription>,
) -> Restored {
    let publications = publications
        .into_iter()
        .filter_map(|row| match pidf::parse(&row.body) {
            Ok(document) => Some(Publication {
                presentity: row.presentity,
                etag: row.etag,
                content_type: row.content_type,
                body: row.body,
                document,
                expires_at: row.expires_at_ms.max(0) as u64,
                seq: row.created_seq.max(0) as u64,
            }),
            Err(e) => {
                tracing::warn!(etag = %row.etag, error = %e, "stored publication unreadable, dropped");
                None
            }
        })
        .collect();
    let dialogs = subscriptions
        .into_iter()
        .filter_map(|row| {
            let transport: &'static str = if row.transport == "TCP" { "TCP" } else { "UDP" };
            let wanted = if transport == "TCP" {
                crate::config::Transport::Tcp
            } else {
                crate::config::Transport::Udp
            };
            let local = local.iter().find(|l| l.transport == wanted)?.addr;
            let peer = row.peer.parse().ok()?;
            Some(Dialog {
                id: DialogId {
                    call_id: row.call_id,
                    local_tag: row.local_tag,
                    remote_tag: row.remote_tag,
                },
                event: row.event,
                local_uri: format!("sip:{}", row.presentity),
                remote_uri: format!("sip:{}", row.watcher),
                presentity: row.presentity,
                watcher: row.watcher,
                remote_target: row.contact,
                route_set: row.route_set,
                local_cseq: u32::try_from(row.local_cseq).unwrap_or(u32::MAX - RESTART_CSEQ_GAP),
                remote_cseq: u32::try_from(row.remote_cseq).unwrap_or(0),
                expires_at: row.expires_at_ms.max(0) as u64,
                state: match row.state.as_str() {
                    "pending" => State::Pending,
                    "terminated" => State::Terminated,
                    _ => State::Active,
                },
                path: Path {
                    transport,
                    local,
                    peer,
                    conn: None,
                    symmetric: config.force_rport,
                },
                // re-decided from the rules at start
                neutral: false,
                in_flight: false,
                dirty: false,
            })
        })
        .collect();
    Restored {
        publications,
        dialogs,
    }
}

/// How often the node looks for changed authorization rules: rules are
/// written to the store (`presencecloud rule`), and a pending watcher is
/// decided within this long.
const RULES_POLL: Duration = Duration::from_secs(1);

fn rules_from(rows: Vec<store::AuthRule>) -> Vec<Rule> {
    rows.into_iter()
        .filter_map(|r| {
            let action = Action::parse(&r.action).ok()?;
            Some(Rule::new(r.presentity, r.watcher, action))
        })
        .collect()
}

/// Reads the rules every [`RULES_POLL`] and hands them to the core when
/// they changed.
async fn watch_rules(
    store: Store,
    mut last: Vec<Rule>,
    tx: mpsc::Sender<Vec<Rule>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(RULES_POLL) => {}
            _ = stop.changed() => return,
        }
        match store.all_rules().await {
            Ok(rows) => {
                let rules = rules_from(rows);
                if rules != last {
                    last = rules.clone();
                    if tx.send(rules).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read authorization rules"),
        }
    }
}

fn notification_correlator(dialog: &DialogId) -> String {
    format!("notify:{}", row_id(dialog))
}

/// The optional CSV file of latency records ([`Record::CSV_HEADER`] names
/// the columns), rotated when it passes its size: the full file is renamed
/// with a `.1` suffix (replacing the previous one) and a new one started.
struct CsvRecords {
    path: std::path::PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    written: u64,
    max_bytes: u64,
}

impl CsvRecords {
    fn open(path: &std::path::Path, max_bytes: u64) -> std::io::Result<Self> {
        let existing = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let mut c = CsvRecords {
            path: path.to_path_buf(),
            file: std::io::BufWriter::new(file),
            written: existing,
            max_bytes,
        };
        if existing == 0 {
            c.line(Record::CSV_HEADER)?;
        }
        Ok(c)
    }

    fn line(&mut self, s: &str) -> std::io::Result<()> {
        use std::io::Write;
        writeln!(self.file, "{s}")?;
        self.file.flush()?;
        self.written += s.len() as u64 + 1;
        Ok(())
    }

    fn write(&mut self, r: &Record) -> std::io::Result<()> {
        if self.written >= self.max_bytes {
            let mut rotated = self.path.clone().into_os_string();
            rotated.push(".1");
            std::fs::rename(&self.path, rotated)?;
            let file = std::fs::File::create(&self.path)?;
            self.file = std::io::BufWriter::new(file);
            self.written = 0;
            self.line(Record::CSV_HEADER)?;
        }
        self.line(&r.csv_row())
    }
}

async fn next_peer_event(cloud: &mut Option<Cloud>) -> Option<peers::PeerEvent> {
    match cloud {
        Some(c) => c.events.recv().await,
        None => std::future::pending().await,
    }
}

impl Cloud {
    /// Sends what the overlay queued: one frame per destination.
    fn ship(&mut self) {
        let mut by_addr: HashMap<String, Vec<CloudMessage>> = HashMap::new();
        for (dest, msg) in self.overlay.take_output() {
            let addr = match &dest {
                Dest::Node(name) => match self.overlay.addr_of(name) {
                    Some(a) => a.to_string(),
                    None => continue,
                },
                Dest::Addr(a) => a.clone(),
            };
            by_addr.entry(addr).or_default().push(msg);
        }
        let now = Instant::now();
        for (addr, msgs) in by_addr {
            for m in &msgs {
                count_message(m, "out");
                if let CloudMessage::Ping { id, .. } = m {
                    self.pings.insert(*id, now);
                }
            }
            self.peers.send(&addr, msgs);
        }
    }
}

/// `presencecloud_cloud_messages_total{type,direction}` and the cache
/// delta counters.
fn count_message(m: &CloudMessage, direction: &'static str) {
    metrics::counter!(telemetry::names::CLOUD_MESSAGES, "type" => m.kind(), "direction" => direction)
        .increment(1);
    match m {
        CloudMessage::Deltas { deltas, .. } => {
            metrics::counter!(telemetry::names::CLOUD_CACHE_DELTAS, "direction" => direction)
                .increment(deltas.len() as u64);
        }
        CloudMessage::Resync { .. } => {
            metrics::counter!(telemetry::names::CLOUD_CACHE_RESYNCS, "direction" => direction)
                .increment(1);
        }
        _ => {}
    }
}

/// A search answer or a probe as a latency record (`None`: timed out).
fn cloud_record(
    kind: Kind,
    origin: &str,
    peer: String,
    id: u64,
    elapsed: Option<u64>,
    now_unix: u64,
) -> Record {
    let duration_ms = elapsed.unwrap_or(0);
    Record {
        kind,
        origin: origin.to_string(),
        peer,
        status: 0,
        completed: elapsed.is_some(),
        correlator: format!("{}:{origin}:{id}", kind.as_str()),
        started_ms: now_unix.saturating_sub(duration_ms),
        duration_ms,
    }
}

/// The SIP core's addresses: its URI's IP, or its name located by RFC 3263
/// at start (a node whose core cannot be found does not start).
async fn locate_core(
    uri: &str,
    resolver: Option<&resolver::Resolver>,
) -> Result<Vec<crate::locate::Candidate>, NodeError> {
    use crate::locate::Target;
    let err = |message: String| NodeError::Core {
        uri: uri.to_string(),
        message,
    };
    let target = match sip::Uri::parse(uri) {
        Ok(sip::Uri::Sip(u)) => Target::from_uri(&u).map_err(|e| err(e.to_string()))?,
        _ => return Err(err("not a sip: URI".into())),
    };
    if let Some(c) = target.numeric().map_err(|e| err(e.to_string()))? {
        return Ok(vec![c]);
    }
    let Some(r) = resolver else {
        return Err(err("a host name needs a DNS resolver".into()));
    };
    r.locate(&target, 0).await.map_err(|e| err(e.to_string()))
}
