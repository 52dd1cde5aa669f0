//! Configuration: the `run` command line and the TOML file, merged into one
//! [`Config`]. Every key is shown in `presencecloud.example.toml`; a flag
//! given on the command line wins over the file, and the file over the
//! defaults, which run on a laptop.
//!
//! Errors name the key they are about and fit on one line, so an operator
//! reading a failed start sees what to fix.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

/// A problem with the configuration, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// A transport and the address to listen on: `udp:HOST:PORT`, `tcp:HOST:PORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Listen {
    pub transport: Transport,
    pub addr: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }

    /// TCP delivers reliably, so RFC 3261 timers that cover losses are 0.
    pub fn reliable(self) -> bool {
        matches!(self, Transport::Tcp)
    }
}

impl FromStr for Listen {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (proto, addr) = s
            .split_once(':')
            .ok_or_else(|| format!("{s:?} is not PROTO:HOST:PORT (udp or tcp)"))?;
        let transport = match proto.to_ascii_lowercase().as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            other => return Err(format!("transport {other:?} is not udp or tcp")),
        };
        let addr = addr.parse::<SocketAddr>().map_err(|_| {
            format!("{addr:?} is not HOST:PORT with an IP address (IPv6 in brackets)")
        })?;
        Ok(Listen { transport, addr })
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = match self.transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        };
        write!(f, "{proto}:{}", self.addr)
    }
}

/// The flags of `presencecloud run`.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct RunArgs {
    /// TOML configuration file (see presencecloud.example.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where to receive SIP, repeatable [default: udp:0.0.0.0:5060 and tcp:0.0.0.0:5060].
    #[arg(long = "sip", value_name = "udp|tcp:HOST:PORT")]
    pub sip: Vec<Listen>,
    /// A domain whose presence this node serves, repeatable [default: every domain].
    #[arg(long = "domain", value_name = "NAME")]
    pub domain: Vec<String>,
    /// Store URL: sqlite://FILE or postgres://... [default: sqlite://presencecloud.db].
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
    /// Admin HTTP listener [default: 127.0.0.1:9090].
    #[arg(long, value_name = "HOST:PORT")]
    pub admin: Option<SocketAddr>,
    /// Bearer token the admin API requires; mandatory when the admin
    /// listener is not on loopback.
    #[arg(
        long = "admin-token",
        value_name = "TOKEN",
        env = "PRESENCECLOUD_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    /// This node's name in the PresenceCloud (unique in the cluster).
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// Where to listen for the other nodes of the PresenceCloud; without
    /// it the node runs alone.
    #[arg(long, value_name = "HOST:PORT")]
    pub cluster: Option<SocketAddr>,
    /// A node to join through (its --cluster address), repeatable.
    #[arg(long, value_name = "HOST:PORT")]
    pub join: Vec<String>,
    /// The secret every node of the cluster shares; links are refused to
    /// peers without it.
    #[arg(
        long = "cluster-secret",
        value_name = "SECRET",
        env = "PRESENCECLOUD_CLUSTER_SECRET",
        hide_env_values = true
    )]
    pub cluster_secret: Option<String>,
    /// Where requests for the served domains that are not presence go
    /// (INVITE, MESSAGE, REGISTER, ...): the SIP core, sip:HOST[:PORT][;transport=tcp].
    #[arg(long, value_name = "SIP-URI")]
    pub core: Option<String>,
    /// The DNS server for RFC 3263 lookups (NAPTR, SRV, A/AAAA) [default: the system's].
    #[arg(long, value_name = "IP:PORT")]
    pub dns: Option<SocketAddr>,
    /// Log level or tracing filter, e.g. info, debug, presencecloud=trace [default: info].
    #[arg(long = "log-level", value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Answer to the source port of every request, as RFC 3581 rport does,
    /// even when the request did not ask (for clients behind NAT).
    #[arg(long = "force-rport")]
    pub force_rport: bool,
}

/// The file, as written; every field optional so that absent keys fall back
/// to the defaults. Unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    sip: FileSip,
    #[serde(default)]
    tcp: FileTcp,
    #[serde(default)]
    transaction: FileTransaction,
    #[serde(default)]
    store: FileStore,
    #[serde(default)]
    admin: FileAdmin,
    #[serde(default)]
    log: FileLog,
    #[serde(default)]
    shutdown: FileShutdown,
    #[serde(default)]
    telemetry: FileTelemetry,
    #[serde(default)]
    presence: FilePresence,
    #[serde(default)]
    cluster: FileCluster,
    #[serde(default)]
    proxy: FileProxy,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileProxy {
    core: Option<String>,
    dns: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCluster {
    node: Option<String>,
    listen: Option<String>,
    join: Option<Vec<String>>,
    secret: Option<String>,
    gossip_interval_ms: Option<u64>,
    dead_after_ms: Option<u64>,
    forget_after_ms: Option<u64>,
    batch_delay_ms: Option<u64>,
    probe_interval_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePresence {
    publish_min_expires: Option<u32>,
    publish_max_expires: Option<u32>,
    publish_default_expires: Option<u32>,
    subscribe_min_expires: Option<u32>,
    subscribe_max_expires: Option<u32>,
    subscribe_default_expires: Option<u32>,
    winfo_min_expires: Option<u32>,
    winfo_max_expires: Option<u32>,
    winfo_default_expires: Option<u32>,
    notify_timeout_ends_subscription: Option<bool>,
    default_policy: Option<crate::presence::authorization::DefaultPolicy>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSip {
    listen: Option<Vec<String>>,
    domains: Option<Vec<String>>,
    force_rport: Option<bool>,
    max_message_size: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTcp {
    idle_timeout_secs: Option<u64>,
    max_connections: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTransaction {
    t1_ms: Option<u64>,
    t2_ms: Option<u64>,
    t4_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStore {
    url: Option<String>,
    flush_interval_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAdmin {
    listen: Option<String>,
    token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLog {
    level: Option<String>,
    bad_input_warnings_per_minute: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTelemetry {
    records_csv: Option<PathBuf>,
    records_csv_max_bytes: Option<u64>,
    instrumentation: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShutdown {
    drain_timeout_secs: Option<u64>,
}

/// The configuration the node runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub listen: Vec<Listen>,
    /// Served domains; empty serves every domain.
    pub domains: Vec<String>,
    pub force_rport: bool,
    pub max_message_size: usize,
    pub tcp_idle_timeout: Duration,
    pub tcp_max_connections: usize,
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
    pub db: String,
    /// The store's flush bound: an acknowledged change is in the database
    /// within this long; a kill -9 loses at most this much.
    pub flush_interval: Duration,
    pub admin: SocketAddr,
    pub log_level: String,
    pub bad_input_warnings_per_minute: u32,
    pub drain_timeout: Duration,
    /// Where latency records go as CSV (none by default).
    pub records_csv: Option<PathBuf>,
    /// The size at which the records file is rotated.
    pub records_csv_max_bytes: u64,
    /// Latency transactions and metrics; off, neither is kept (for
    /// measuring what they cost).
    pub instrumentation: bool,
    /// Expiry bounds and NOTIFY failure handling of the presence package.
    pub presence: crate::presence::agent::Policy,
    pub admin_token: Option<String>,
    /// The SIP core for what is not presence (a sip: URI).
    pub core: Option<String>,
    /// The DNS server for RFC 3263; None: the system's.
    pub dns: Option<SocketAddr>,
    /// The PresenceCloud, when this node is part of one.
    pub cluster: Option<Cluster>,
}

/// `[cluster]`: this node's place in a PresenceCloud.
#[derive(Clone, PartialEq, Eq)]
pub struct Cluster {
    pub node: String,
    pub listen: SocketAddr,
    pub join: Vec<String>,
    pub secret: String,
    pub settings: crate::cloud::overlay::Settings,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret stays out of logs.
        f.debug_struct("Cluster")
            .field("node", &self.node)
            .field("listen", &self.listen)
            .field("join", &self.join)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The cluster keys as read, before they are checked as a whole.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct ClusterKeys {
    node: Option<String>,
    listen: Option<SocketAddr>,
    join: Vec<String>,
    secret: Option<String>,
    settings: crate::cloud::overlay::Settings,
}

impl Default for Config {
    fn default() -> Self {
        let any = |t| Listen {
            transport: t,
            addr: SocketAddr::from(([0, 0, 0, 0], 5060)),
        };
        Config {
            listen: vec![any(Transport::Udp), any(Transport::Tcp)],
            domains: Vec::new(),
            force_rport: false,
            max_message_size: 65_535,
            tcp_idle_timeout: Duration::from_secs(120),
            tcp_max_connections: 1024,
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            db: "sqlite://presencecloud.db".into(),
            flush_interval: Duration::from_millis(50),
            admin: SocketAddr::from(([127, 0, 0, 1], 9090)),
            log_level: "info".into(),
            bad_input_warnings_per_minute: 10,
            drain_timeout: Duration::from_secs(5),
            presence: crate::presence::agent::Policy::default(),
            records_csv: None,
            records_csv_max_bytes: 64 * 1024 * 1024,
            instrumentation: true,
            admin_token: None,
            core: None,
            dns: None,
            cluster: None,
        }
    }
}

impl Config {
    /// Defaults, then the file (if any), then the flags.
    pub fn load(args: &RunArgs) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let mut cluster = ClusterKeys::default();
        if let Some(path) = &args.config {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::new("--config", format!("cannot read {}: {e}", path.display()))
            })?;
            cluster = config.apply_file(path, &text)?;
        }
        config.apply_args(args);
        cluster.apply_args(args);
        config.cluster = cluster.resolve()?;
        config.validate()?;
        Ok(config)
    }

    fn apply_file(&mut self, path: &Path, text: &str) -> Result<ClusterKeys, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| file_error(path, text, &e))?;
        let cluster = ClusterKeys::from_file(&file.cluster)?;
        if let Some(v) = file.admin.token {
            self.admin_token = Some(v);
        }
        if let Some(v) = file.proxy.core {
            self.core = Some(v);
        }
        if let Some(v) = file.proxy.dns {
            self.dns = Some(
                v.parse()
                    .map_err(|_| ConfigError::new("proxy.dns", format!("{v:?} is not IP:PORT")))?,
            );
        }
        if let Some(listen) = file.sip.listen {
            self.listen = listen
                .iter()
                .map(|s| s.parse().map_err(|m| ConfigError::new("sip.listen", m)))
                .collect::<Result<_, _>>()?;
        }
        if let Some(d) = file.sip.domains {
            self.domains = d;
        }
        if let Some(v) = file.sip.force_rport {
            self.force_rport = v;
        }
        if let Some(v) = file.sip.max_message_size {
            self.max_message_size = v;
        }
        if let Some(v) = file.tcp.idle_timeout_secs {
            self.tcp_idle_timeout = Duration::from_secs(v);
        }
        if let Some(v) = file.tcp.max_connections {
            self.tcp_max_connections = v;
        }
        if let Some(v) = file.transaction.t1_ms {
            self.t1 = Duration::from_millis(v);
        }
        if let Some(v) = file.transaction.t2_ms {
            self.t2 = Duration::from_millis(v);
        }
        if let Some(v) = file.transaction.t4_ms {
            self.t4 = Duration::from_millis(v);
        }
        if let Some(v) = file.store.url {
            self.db = v;
        }
        if let Some(v) = file.store.flush_interval_ms {
            self.flush_interval = Duration::from_millis(v);
        }
        if let Some(v) = file.admin.listen {
            self.admin = v.parse().map_err(|_| {
                ConfigError::new(
                    "admin.listen",
                    format!("{v:?} is not HOST:PORT with an IP address"),
                )
            })?;
        }
        if let Some(v) = file.log.level {
            self.log_level = v;
        }
        if let Some(v) = file.log.bad_input_warnings_per_minute {
            self.bad_input_warnings_per_minute = v;
        }
        if let Some(v) = file.telemetry.records_csv {
            // an empty path writes no records
            self.records_csv = (!v.as_os_str().is_empty()).then_some(v);
        }
        if let Some(v) = file.telemetry.instrumentation {
            self.instrumentation = v;
        }
        if let Some(v) = file.telemetry.records_csv_max_bytes {
            self.records_csv_max_bytes = v;
        }
        if let Some(v) = file.shutdown.drain_timeout_secs {
            self.drain_timeout = Duration::from_secs(v);
        }
        let p = &mut self.presence;
        let f = &file.presence;
        for (slot, v) in [
            (&mut p.publish.min, f.publish_min_expires),
            (&mut p.publish.max, f.publish_max_expires),
            (&mut p.publish.default, f.publish_default_expires),
            (&mut p.subscribe.min, f.subscribe_min_expires),
            (&mut p.subscribe.max, f.subscribe_max_expires),
            (&mut p.subscribe.default, f.subscribe_default_expires),
            (&mut p.winfo.min, f.winfo_min_expires),
            (&mut p.winfo.max, f.winfo_max_expires),
            (&mut p.winfo.default, f.winfo_default_expires),
        ] {
            if let Some(v) = v {
                *slot = v;
            }
        }
        if let Some(v) = f.notify_timeout_ends_subscription {
            p.end_on_notify_timeout = v;
        }
        if let Some(v) = f.default_policy {
            p.authorization = v;
        }
        Ok(cluster)
    }

    fn apply_args(&mut self, args: &RunArgs) {
        if !args.sip.is_empty() {
            self.listen = args.sip.clone();
        }
        if !args.domain.is_empty() {
            self.domains = args.domain.clone();
        }
        if let Some(db) = &args.db {
            self.db = db.clone();
        }
        if let Some(admin) = args.admin {
            self.admin = admin;
        }
        if let Some(level) = &args.log_level {
            self.log_level = level.clone();
        }
        if args.force_rport {
            self.force_rport = true;
        }
        if let Some(t) = &args.admin_token {
            self.admin_token = Some(t.clone());
        }
        if let Some(c) = &args.core {
            self.core = Some(c.clone());
        }
        if let Some(d) = args.dns {
            self.dns = Some(d);
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(core) = &self.core {
            let ok = matches!(
                crate::sip::Uri::parse(core),
                Ok(crate::sip::Uri::Sip(ref u)) if !u.secure
            );
            if !ok {
                return Err(ConfigError::new(
                    "proxy.core",
                    format!("{core:?} is not a sip: URI (sip:HOST[:PORT][;transport=tcp])"),
                ));
            }
        }
        if !self.admin.ip().is_loopback() && self.admin_token.as_deref().is_none_or(str::is_empty) {
            return Err(ConfigError::new(
                "admin.token",
                format!(
                    "the admin listener {} is not on loopback: set --admin-token (or PRESENCECLOUD_ADMIN_TOKEN)",
                    self.admin
                ),
            ));
        }
        if self.listen.is_empty() {
            return Err(ConfigError::new(
                "sip.listen",
                "at least one listener is needed",
            ));
        }
        for d in &self.domains {
            let ok = !d.is_empty()
                && d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !ok {
                return Err(ConfigError::new(
                    "sip.domains",
                    format!("{d:?} is not a domain name"),
                ));
            }
        }
        if !(self.db.starts_with("sqlite:")
            || self.db.starts_with("postgres:")
            || self.db.starts_with("postgresql:"))
        {
            return Err(ConfigError::new(
                "store.url",
                format!("{:?} is neither sqlite://... nor postgres://...", self.db),
            ));
        }
        if !(1_500..=1_048_576).contains(&self.max_message_size) {
            return Err(ConfigError::new(
                "sip.max_message_size",
                "must be 1500 to 1048576 bytes",
            ));
        }
        if self.flush_interval.is_zero() || self.flush_interval > Duration::from_secs(10) {
            return Err(ConfigError::new(
                "store.flush_interval_ms",
                "must be 1 to 10000",
            ));
        }
        if self.tcp_max_connections == 0 {
            return Err(ConfigError::new(
                "tcp.max_connections",
                "must be at least 1",
            ));
        }
        if self.tcp_idle_timeout.is_zero() {
            return Err(ConfigError::new(
                "tcp.idle_timeout_secs",
                "must be at least 1",
            ));
        }
        if self.t1.is_zero() || self.t2 < self.t1 || self.t4.is_zero() {
            return Err(ConfigError::new(
                "transaction.t1_ms",
                "timers must be positive with t2_ms >= t1_ms (RFC 3261 §17.1.1.1)",
            ));
        }
        for (key, b) in [
            ("presence.publish", self.presence.publish),
            ("presence.subscribe", self.presence.subscribe),
            ("presence.winfo", self.presence.winfo),
        ] {
            if b.min == 0 || b.min > b.default || b.default > b.max {
                return Err(ConfigError::new(
                    format!("{key}_min_expires"),
                    "need 0 < min <= default <= max",
                ));
            }
        }
        if !valid_log_filter(&self.log_level) {
            return Err(ConfigError::new(
                "log.level",
                format!("{:?} is not a log level or filter", self.log_level),
            ));
        }
        Ok(())
    }

    /// The presence agent's policy.
    pub fn presence_policy(&self) -> crate::presence::agent::Policy {
        self.presence
    }

    /// Whether this node serves presence for `domain` (case-insensitive).
    pub fn serves_domain(&self, domain: &str) -> bool {
        self.domains.is_empty() || self.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
    }
}

/// A level, or comma-separated `target=level` directives (a subset of the
/// tracing filter syntax, strict enough to catch typos: a bare word that is
/// not a level would silently become a target).
fn valid_log_filter(s: &str) -> bool {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let is_level = |l: &str| LEVELS.iter().any(|x| x.eq_ignore_ascii_case(l));
    !s.is_empty()
        && s.split(',').all(|d| match d.trim().split_once('=') {
            Some((target, level)) => {
                !target.is_empty()
                    && target
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
                    && is_level(level)
            }
            None => is_level(d.trim()),
        })
}

/// One line naming the file, the line and the key of a TOML error.
fn file_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().trim().replace('\n', " ");
    let Some(span) = e.span() else {
        return ConfigError::new(path.display().to_string(), message);
    };
    let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
    // The dotted key: the table header above the line, then the key on it.
    let mut table = String::new();
    let mut key = String::new();
    for (n, line) in text.lines().enumerate() {
        let l = line.trim();
        if n + 1 > line_no {
            break;
        }
        if let Some(t) = l.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table = t.trim().to_string();
            key.clear();
        } else if n + 1 == line_no {
            key = l.split('=').next().unwrap_or("").trim().to_string();
        }
    }
    // "unknown field `x`" names the key itself.
    if let Some(unknown) = message
        .split('`')
        .nth(1)
        .filter(|_| message.starts_with("unknown field"))
    {
        key = unknown.to_string();
    }
    let dotted = match (table.is_empty(), key.is_empty()) {
        (true, _) => key,
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    };
    ConfigError::new(dotted, format!("{message} ({}:{line_no})", path.display()))
}

#[cfg(test)]
mod tests;

impl ClusterKeys {
    fn from_file(f: &FileCluster) -> Result<Self, ConfigError> {
        let mut keys = ClusterKeys {
            node: f.node.clone(),
            join: f.join.clone().unwrap_or_default(),
            secret: f.secret.clone(),
            ..ClusterKeys::default()
        };
        if let Some(v) = &f.listen {
            keys.listen = Some(v.parse().map_err(|_| {
                ConfigError::new(
                    "cluster.listen",
                    format!("{v:?} is not HOST:PORT with an IP address"),
                )
            })?);
        }
        let s = &mut keys.settings;
        for (slot, v) in [
            (&mut s.timing.gossip_interval, f.gossip_interval_ms),
            (&mut s.timing.dead_after, f.dead_after_ms),
            (&mut s.timing.forget_after, f.forget_after_ms),
            (&mut s.batch_delay, f.batch_delay_ms),
            (&mut s.probe_interval, f.probe_interval_ms),
        ] {
            if let Some(v) = v {
                *slot = v;
            }
        }
        Ok(keys)
    }

    fn apply_args(&mut self, args: &RunArgs) {
        if let Some(v) = &args.node {
            self.node = Some(v.clone());
        }
        if let Some(v) = args.cluster {
            self.listen = Some(v);
        }
        if !args.join.is_empty() {
            self.join = args.join.clone();
        }
        if let Some(v) = &args.cluster_secret {
            self.secret = Some(v.clone());
        }
    }

    /// No listen address: a node alone. With one, a name and a secret are
    /// required and the timings must make sense.
    fn resolve(self) -> Result<Option<Cluster>, ConfigError> {
        let Some(listen) = self.listen else {
            if self.node.is_some() || !self.join.is_empty() {
                return Err(ConfigError::new(
                    "cluster.listen",
                    "--node and --join need --cluster HOST:PORT to listen on",
                ));
            }
            return Ok(None);
        };
        let node = self.node.unwrap_or_default();
        let name_ok = !node.is_empty()
            && node.len() <= 64
            && node
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !name_ok {
            return Err(ConfigError::new(
                "cluster.node",
                format!("{node:?} is not a node name (1 to 64 of A-Z a-z 0-9 - _ .)"),
            ));
        }
        let secret = self.secret.unwrap_or_default();
        if secret.len() < 16 {
            return Err(ConfigError::new(
                "cluster.secret",
                "a cluster needs --cluster-secret (or PRESENCECLOUD_CLUSTER_SECRET) of at least 16 characters",
            ));
        }
        for j in &self.join {
            let ok = j
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !ok {
                return Err(ConfigError::new(
                    "cluster.join",
                    format!("{j:?} is not HOST:PORT"),
                ));
            }
        }
        let t = &self.settings.timing;
        if t.gossip_interval == 0 || t.dead_after < 2 * t.gossip_interval {
            return Err(ConfigError::new(
                "cluster.dead_after_ms",
                "must be at least twice gossip_interval_ms (and that above 0)",
            ));
        }
        if t.forget_after < t.dead_after {
            return Err(ConfigError::new(
                "cluster.forget_after_ms",
                "must be at least dead_after_ms",
            ));
        }
        if self.settings.probe_interval == 0 {
            return Err(ConfigError::new(
                "cluster.probe_interval_ms",
                "must be at least 1",
            ));
        }
        Ok(Some(Cluster {
            node,
            listen,
            join: self.join,
            secret,
            settings: self.settings,
        }))
    }
}
