//! Locating SIP servers (RFC 3263): from a SIP or SIPS URI to the ordered
//! list of (address, transport) to try, failing over to the next one when a
//! server is dead. Sans-io: [`Locator`] says which DNS query to make next
//! and takes its answer; the node's resolver
//! ([`node::resolver`](crate::node::resolver)) asks hickory and feeds the
//! answers in.
//!
//! The steps, RFC 3263 §4.1 (transport) and §4.2 (port and address):
//! - a numeric IP target is used as it is (port from the URI, else 5060,
//!   5061 for TLS), no DNS at all;
//! - a port in the URI: A/AAAA of the host only (UDP, or the URI's
//!   transport; TLS for SIPS);
//! - a transport in the URI and no port: SRV for that transport, then
//!   A/AAAA of the host with the default port if there is no SRV record;
//! - otherwise NAPTR: the records whose service we do (`SIP+D2U`,
//!   `SIP+D2T`, and `SIPS+D2T` for a SIPS URI), by order then preference,
//!   each followed by the SRV lookup it names;
//! - no usable NAPTR: SRV for each transport we do, in our order of
//!   preference (`_sip._udp`, `_sip._tcp`; `_sips._tcp` for SIPS);
//! - no SRV either: A/AAAA of the host, default port, UDP (TLS for SIPS).
//!
//! SRV records are used in RFC 2782 order ([`srv::order`]): lowest priority
//! first, weighted random within a priority, from a seed given by the
//! caller. Each SRV target is then looked up (A/AAAA).

use core::net::{IpAddr, SocketAddr};
use std::collections::VecDeque;
use std::fmt;

use crate::sip::{HostKind, SipUri};

pub mod naptr;
pub mod srv;

pub use naptr::Naptr;
pub use srv::Srv;

pub use crate::sip::uri::{SIP_PORT, SIPS_PORT};

/// Our order of preference among the transports when the domain publishes
/// no NAPTR (RFC 3263 §4.1).
const SRV_PREFERENCE: [Transport; 2] = [Transport::Udp, Transport::Tcp];
/// Bounds on the work one location may cost, whatever the zone holds.
const MAX_SRV_QUERIES: usize = 8;
const MAX_ADDRESS_QUERIES: usize = 16;

/// A transport a SIP URI may name. TLS means TLS over TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// 5060, or 5061 for TLS.
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Tls => SIPS_PORT,
            Transport::Udp | Transport::Tcp => SIP_PORT,
        }
    }

    /// The SRV service and protocol labels (RFC 3263 §4.2: `_sips` for
    /// TLS, whether the URI is SIP or SIPS).
    pub fn srv_prefix(self) -> &'static str {
        match self {
            Transport::Udp => "_sip._udp",
            Transport::Tcp => "_sip._tcp",
            Transport::Tls => "_sips._tcp",
        }
    }

    /// The value of a `transport=` URI parameter (case-insensitive). For a
    /// SIPS URI, `tcp` means TLS over TCP and `udp` is not allowed.
    pub fn from_param(value: &str, secure: bool) -> Result<Transport, LocateError> {
        let t = match value.to_ascii_lowercase().as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            "tls" => Transport::Tls,
            _ => {
                return Err(LocateError::UnsupportedTransport {
                    transport: value.to_string(),
                });
            }
        };
        Transport::for_uri(t, secure)
    }

    /// The transport a SIPS URI asks for with `t`: TCP becomes TLS, UDP is
    /// refused (RFC 3261 §26.2.2).
    fn for_uri(t: Transport, secure: bool) -> Result<Transport, LocateError> {
        match (t, secure) {
            (Transport::Udp, true) => Err(LocateError::SipsOverUdp),
            (Transport::Tcp, true) => Ok(Transport::Tls),
            (t, _) => Ok(t),
        }
    }

    /// The listener transport that carries it, if this node has one
    /// (TLS not yet).
    pub fn listen(self) -> Option<crate::config::Transport> {
        match self {
            Transport::Udp => Some(crate::config::Transport::Udp),
            Transport::Tcp => Some(crate::config::Transport::Tcp),
            Transport::Tls => None,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to locate: the parts of a SIP or SIPS URI that RFC 3263 reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// A domain name, an IPv4 address, or an IPv6 address (brackets
    /// allowed).
    pub host: String,
    pub port: Option<u16>,
    /// The `transport=` parameter.
    pub transport: Option<Transport>,
    /// `sips:`.
    pub secure: bool,
}

impl Target {
    /// `sip:HOST`: no port, no transport.
    pub fn new(host: impl Into<String>) -> Target {
        Target {
            host: host.into(),
            port: None,
            transport: None,
            secure: false,
        }
    }

    /// From a URI: its `maddr` if it has one (RFC 3263 §4), else its host;
    /// its port, `transport=` parameter and scheme.
    pub fn from_uri(uri: &SipUri<'_>) -> Result<Target, LocateError> {
        let host = match uri.maddr() {
            Some(maddr) => maddr.to_string(),
            None => match uri.host.kind {
                HostKind::Domain => uri.host.raw.to_string(),
                HostKind::V4(a) => a.to_string(),
                HostKind::V6(a) => a.to_string(),
            },
        };
        let transport = uri
            .transport()
            .map(|t| Transport::from_param(t, uri.secure))
            .transpose()?;
        Ok(Target {
            host,
            port: uri.port,
            transport,
            secure: uri.secure,
        })
    }

    /// RFC 3263 §4.1 and §4.2: a numeric IP is used as it is, with no
    /// lookup, over the `transport=` it asks for (else TLS for SIPS, UDP
    /// otherwise) and at its port (else that transport's default). None for
    /// a name.
    pub fn numeric(&self) -> Result<Option<Candidate>, LocateError> {
        let (asked, default) = self.transports()?;
        Ok(self.numeric_over(asked.unwrap_or(default)))
    }

    fn numeric_over(&self, transport: Transport) -> Option<Candidate> {
        let port = self.port.unwrap_or(transport.default_port());
        Some(Candidate {
            addr: SocketAddr::new(self.ip()?, port),
            transport,
        })
    }

    /// The transport `transport=` asks for (RFC 3261 §26.2.2 for SIPS),
    /// and the one used when it asks for none.
    fn transports(&self) -> Result<(Option<Transport>, Transport), LocateError> {
        let asked = self
            .transport
            .map(|t| Transport::for_uri(t, self.secure))
            .transpose()?;
        let default = if self.secure {
            Transport::Tls
        } else {
            Transport::Udp
        };
        Ok((asked, default))
    }

    /// The host as an IP address, if it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        let h = self.host.trim();
        let h = h
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(h);
        h.parse().ok()
    }
}

/// One place to try: send there over that transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Candidate {
    pub addr: SocketAddr,
    pub transport: Transport,
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport, self.addr)
    }
}

/// A step of RFC 3263 location, for errors and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    Naptr,
    Srv,
    Address,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Naptr => "NAPTR",
            Step::Srv => "SRV",
            Step::Address => "A/AAAA",
        })
    }
}

/// A DNS query to make. Names are fully qualified (they end in a dot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Naptr {
        name: String,
    },
    Srv {
        name: String,
        transport: Transport,
    },
    /// A and/or AAAA; the port and transport are those the candidates
    /// found will carry.
    Address {
        name: String,
        port: u16,
        transport: Transport,
    },
}

impl Query {
    pub fn step(&self) -> Step {
        match self {
            Query::Naptr { .. } => Step::Naptr,
            Query::Srv { .. } => Step::Srv,
            Query::Address { .. } => Step::Address,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Query::Naptr { name } | Query::Srv { name, .. } | Query::Address { name, .. } => name,
        }
    }
}

/// The outcome of one [`Query`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The NAPTR records found; empty when the name exists and has none.
    Naptr(Vec<Naptr>),
    /// The SRV records found; empty when the name has none.
    Srv(Vec<Srv>),
    /// The addresses found; empty when the name has none.
    Address(Vec<IpAddr>),
    /// NXDOMAIN: the name does not exist.
    NoDomain,
    /// No answer in time: the DNS is unreachable, so no further query is
    /// made.
    TimedOut,
    /// Any other failure (SERVFAIL, REFUSED, a malformed answer): treated
    /// as no records, and reported if nothing is found at all.
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocateError {
    #[error("transport {transport:?} is not supported (udp, tcp or tls)")]
    UnsupportedTransport { transport: String },
    #[error("a sips: URI cannot be reached over UDP")]
    SipsOverUdp,
    #[error("the URI has no host")]
    NoHost,
    #[error("{domain}: no such domain (NXDOMAIN to the {})", steps_list(.steps))]
    NoSuchDomain { domain: String, steps: Vec<Step> },
    #[error("{step} lookup of {name} timed out")]
    Timeout { step: Step, name: String },
    #[error("{step} lookup of {name} failed: {reason}")]
    Failed {
        step: Step,
        name: String,
        reason: String,
    },
    #[error("no server found for {domain}: the {step} lookup of {name} found nothing")]
    NotFound {
        domain: String,
        step: Step,
        name: String,
    },
    #[error("DNS resolver configuration: {0}")]
    Config(String),
}

impl LocateError {
    /// The step that failed, when a DNS lookup did.
    pub fn step(&self) -> Option<Step> {
        match self {
            LocateError::NoSuchDomain { steps, .. } => steps.last().copied(),
            LocateError::Timeout { step, .. }
            | LocateError::Failed { step, .. }
            | LocateError::NotFound { step, .. } => Some(*step),
            _ => None,
        }
    }
}

fn steps_list(steps: &[Step]) -> String {
    let mut out = String::new();
    for (i, s) in steps.iter().enumerate() {
        if i > 0 {
            out.push_str(if i + 1 == steps.len() { " and " } else { ", " });
        }
        out.push_str(&s.to_string());
    }
    out.push_str(if steps.len() > 1 {
        " lookups"
    } else {
        " lookup"
    });
    out
}

/// The RFC 3263 procedure for one target, as a state machine: ask
/// [`query`](Locator::query) what to look up, give the outcome to
/// [`answer`](Locator::answer), repeat until `query` is `None`, then
/// [`finish`](Locator::finish).
///
/// ```
/// use presencecloud::locate::{Answer, Locator, Query, Srv, Target, Transport};
/// let mut loc = Locator::new(&Target::new("example.com"), 7).unwrap();
/// while let Some(q) = loc.query().cloned() {
///     let answer = match q {
///         Query::Naptr { .. } => Answer::Naptr(vec![]),
///         Query::Srv { transport: Transport::Tcp, .. } => Answer::Srv(vec![Srv {
///             priority: 10,
///             weight: 1,
///             port: 5070,
///             target: "sip.example.com.".into(),
///         }]),
///         Query::Srv { .. } => Answer::Srv(vec![]),
///         Query::Address { .. } => Answer::Address(vec!["192.0.2.1".parse().unwrap()]),
///     };
///     loc.answer(answer);
/// }
/// let found = loc.finish().unwrap();
/// assert_eq!(found[0].addr, "192.0.2.1:5070".parse().unwrap());
/// assert_eq!(found[0].transport, Transport::Tcp);
/// ```
#[derive(Debug, Clone)]
pub struct Locator {
    /// The target host as a fully qualified name.
    domain: String,
    secure: bool,
    rng: srv::SplitMix,
    queue: VecDeque<Query>,
    /// After the SRV queries: if none found a record, A/AAAA of the domain
    /// with this transport and its default port (RFC 3263 §4.2).
    fallback: Option<Transport>,
    srv_found: bool,
    srv_asked: usize,
    address_asked: usize,
    candidates: Vec<Candidate>,
    /// Lookups of the domain itself that answered NXDOMAIN.
    nx_steps: Vec<Step>,
    /// Something showed the domain exists.
    exists: bool,
    failure: Option<LocateError>,
    timed_out: Option<LocateError>,
    last_empty: Option<(Step, String)>,
}

impl Locator {
    /// Plans the lookups for `target`; `seed` orders SRV records of equal
    /// priority (RFC 2782).
    pub fn new(target: &Target, seed: u64) -> Result<Locator, LocateError> {
        let (transport, default) = target.transports()?;
        let host = target.host.trim().trim_end_matches('.');
        if host.is_empty() {
            return Err(LocateError::NoHost);
        }
        let mut loc = Locator {
            domain: format!("{host}."),
            secure: target.secure,
            rng: srv::SplitMix::new(seed),
            queue: VecDeque::new(),
            fallback: None,
            srv_found: false,
            srv_asked: 0,
            address_asked: 0,
            candidates: Vec::new(),
            nx_steps: Vec::new(),
            exists: false,
            failure: None,
            timed_out: None,
            last_empty: None,
        };
        if let Some(c) = target.numeric_over(transport.unwrap_or(default)) {
            loc.push_candidate(c.addr, c.transport);
            loc.exists = true;
        } else if let Some(port) = target.port {
            // §4.2: a port and a name: A/AAAA only.
            let transport = transport.unwrap_or(default);
            let name = loc.domain.clone();
            loc.ask_address(name, port, transport);
        } else if let Some(transport) = transport {
            // §4.2: a transport and no port: SRV for that transport.
            let name = format!("{}.{}", transport.srv_prefix(), loc.domain);
            loc.ask_srv(name, transport);
            loc.fallback = Some(transport);
        } else {
            // §4.1: NAPTR.
            loc.queue.push_back(Query::Naptr {
                name: loc.domain.clone(),
            });
        }
        Ok(loc)
    }

    /// The next query to make, or `None` when done.
    pub fn query(&self) -> Option<&Query> {
        self.queue.front()
    }

    /// The outcome of the query [`query`](Locator::query) returned.
    pub fn answer(&mut self, answer: Answer) {
        let Some(query) = self.queue.pop_front() else {
            return;
        };
        let step = query.step();
        let name = query.name().to_string();
        let is_domain = name.eq_ignore_ascii_case(&self.domain);
        match (query, answer) {
            (_, Answer::TimedOut) => {
                self.timed_out = Some(LocateError::Timeout { step, name });
                self.queue.clear();
                self.fallback = None;
                return;
            }
            (q, Answer::Failed(reason)) => {
                self.failure
                    .get_or_insert(LocateError::Failed { step, name, reason });
                if matches!(q, Query::Naptr { .. }) {
                    self.srv_by_preference();
                }
            }
            (q, Answer::NoDomain) => {
                if is_domain {
                    self.nx_steps.push(step);
                }
                self.last_empty = Some((step, name));
                if matches!(q, Query::Naptr { .. }) {
                    self.srv_by_preference();
                }
            }
            (Query::Naptr { .. }, Answer::Naptr(records)) => {
                self.exists = true;
                let usable = naptr::select(&records, self.secure);
                if usable.is_empty() {
                    // §4.1: no (usable) NAPTR: SRV for each transport.
                    self.last_empty = Some((step, name));
                    self.srv_by_preference();
                } else {
                    for (name, transport) in usable {
                        self.ask_srv(name, transport);
                    }
                }
            }
            (Query::Srv { transport, .. }, Answer::Srv(records)) => {
                if !records.is_empty() {
                    self.srv_found = true;
                    self.exists = true;
                }
                let ordered = srv::order_with(&records, &mut self.rng);
                if ordered.is_empty() {
                    self.last_empty = Some((step, name));
                }
                for r in ordered {
                    let target = if r.target.ends_with('.') {
                        r.target
                    } else {
                        format!("{}.", r.target)
                    };
                    self.ask_address(target, r.port, transport);
                }
            }
            (
                Query::Address {
                    port, transport, ..
                },
                Answer::Address(ips),
            ) => {
                if is_domain {
                    self.exists = true;
                }
                if ips.is_empty() {
                    self.last_empty = Some((step, name));
                }
                for ip in ips {
                    self.push_candidate(SocketAddr::new(ip, port), transport);
                }
            }
            (q, _) => {
                self.failure.get_or_insert(LocateError::Failed {
                    step,
                    name,
                    reason: "answer of the wrong kind".into(),
                });
                if matches!(q, Query::Naptr { .. }) {
                    self.srv_by_preference();
                }
            }
        }
        if self.queue.is_empty()
            && !self.srv_found
            && let Some(transport) = self.fallback.take()
        {
            // §4.2: no SRV record: A/AAAA, default port.
            let name = self.domain.clone();
            self.ask_address(name, transport.default_port(), transport);
        }
    }

    /// The candidates found, in the order to try them; an error that says
    /// which step came up empty when there is none.
    pub fn finish(self) -> Result<Vec<Candidate>, LocateError> {
        if !self.candidates.is_empty() {
            return Ok(self.candidates);
        }
        let domain = self.domain.trim_end_matches('.').to_string();
        if let Some(e) = self.timed_out {
            return Err(e);
        }
        if let Some(e) = self.failure {
            return Err(e);
        }
        if !self.nx_steps.is_empty() && !self.exists {
            return Err(LocateError::NoSuchDomain {
                domain,
                steps: self.nx_steps,
            });
        }
        let (step, name) = self
            .last_empty
            .unwrap_or((Step::Address, self.domain.clone()));
        Err(LocateError::NotFound { domain, step, name })
    }

    /// The candidates found so far.
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// §4.1: no NAPTR, so SRV for each transport we do, in our order; A/AAAA
    /// of the domain if none has a record.
    fn srv_by_preference(&mut self) {
        let transports: &[Transport] = if self.secure {
            &[Transport::Tls]
        } else {
            &SRV_PREFERENCE
        };
        for &t in transports {
            let name = format!("{}.{}", t.srv_prefix(), self.domain);
            self.ask_srv(name, t);
        }
        self.fallback = Some(if self.secure {
            Transport::Tls
        } else {
            Transport::Udp
        });
    }

    fn ask_srv(&mut self, name: String, transport: Transport) {
        if self.srv_asked < MAX_SRV_QUERIES {
            self.srv_asked += 1;
            self.queue.push_back(Query::Srv { name, transport });
        }
    }

    fn ask_address(&mut self, name: String, port: u16, transport: Transport) {
        if self.address_asked < MAX_ADDRESS_QUERIES {
            self.address_asked += 1;
            self.queue.push_back(Query::Address {
                name,
                port,
                transport,
            });
        }
    }

    fn push_candidate(&mut self, addr: SocketAddr, transport: Transport) {
        let c = Candidate { addr, transport };
        if !self.candidates.contains(&c) {
            self.candidates.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a locator against a scripted DNS: `dns(query)` answers.
    fn run(
        target: &Target,
        seed: u64,
        mut dns: impl FnMut(&Query) -> Answer,
    ) -> (Vec<Query>, Result<Vec<Candidate>, LocateError>) {
        let mut loc = Locator::new(target, seed).unwrap();
        let mut asked = Vec::new();
        while let Some(q) = loc.query().cloned() {
            assert!(asked.len() < 64, "runaway: {asked:?}");
            loc.answer(dns(&q));
            asked.push(q);
        }
        (asked, loc.finish())
    }

    fn c(addr: &str, transport: Transport) -> Candidate {
        Candidate {
            addr: addr.parse().unwrap(),
            transport,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn srv(priority: u16, weight: u16, port: u16, target: &str) -> Srv {
        Srv {
            priority,
            weight,
            port,
            target: target.into(),
        }
    }

    fn naptr(order: u16, pref: u16, services: &str, replacement: &str) -> Naptr {
        Naptr {
            order,
            preference: pref,
            flags: "S".into(),
            services: services.into(),
            regexp: String::new(),
            replacement: replacement.into(),
        }
    }

    fn nothing(q: &Query) -> Answer {
        match q {
            Query::Naptr { .. } => Answer::Naptr(vec![]),
            Query::Srv { .. } => Answer::Srv(vec![]),
            Query::Address { .. } => Answer::Address(vec![]),
        }
    }

    #[test]
    fn rfc3263_s4_1_numeric_ip_is_used_as_is() {
        let (asked, found) = run(&Target::new("192.0.2.7"), 0, |_| unreachable!());
        assert!(asked.is_empty());
        assert_eq!(found.unwrap(), [c("192.0.2.7:5060", Transport::Udp)]);

        let mut t = Target::new("[2001:db8::1]");
        t.port = Some(5080);
        t.transport = Some(Transport::Tcp);
        let (_, found) = run(&t, 0, |_| unreachable!());
        assert_eq!(found.unwrap(), [c("[2001:db8::1]:5080", Transport::Tcp)]);
    }

    #[test]
    fn rfc3263_s4_2_numeric_ip_of_sips_uri_defaults_to_tls_5061() {
        let mut t = Target::new("192.0.2.7");
        t.secure = true;
        let (_, found) = run(&t, 0, |_| unreachable!());
        assert_eq!(found.unwrap(), [c("192.0.2.7:5061", Transport::Tls)]);
    }

    /// The shortcut the node takes for a numeric target (no lookup task)
    /// gives what the Locator gives, SIPS included.
    #[test]
    fn rfc3263_s4_numeric_shortcut_matches_the_locator() {
        for (host, port, transport, secure, want) in [
            (
                "192.0.2.7",
                None,
                None,
                false,
                ("192.0.2.7:5060", Transport::Udp),
            ),
            (
                "192.0.2.7",
                None,
                None,
                true,
                ("192.0.2.7:5061", Transport::Tls),
            ),
            (
                "[2001:db8::1]",
                Some(5080),
                Some(Transport::Tcp),
                false,
                ("[2001:db8::1]:5080", Transport::Tcp),
            ),
            // RFC 3261 §26.2.2: TCP for a SIPS URI means TLS
            (
                "192.0.2.7",
                None,
                Some(Transport::Tcp),
                true,
                ("192.0.2.7:5061", Transport::Tls),
            ),
            (
                "192.0.2.7",
                Some(5070),
                Some(Transport::Tls),
                false,
                ("192.0.2.7:5070", Transport::Tls),
            ),
        ] {
            let mut t = Target::new(host);
            (t.port, t.transport, t.secure) = (port, transport, secure);
            let want = c(want.0, want.1);
            assert_eq!(t.numeric(), Ok(Some(want)), "{t:?}");
            let (asked, found) = run(&t, 0, |_| unreachable!());
            assert!(asked.is_empty());
            assert_eq!(found.unwrap(), [want], "{t:?}");
        }
        assert_eq!(Target::new("example.com").numeric(), Ok(None));
        let mut sips_udp = Target::new("192.0.2.7");
        (sips_udp.secure, sips_udp.transport) = (true, Some(Transport::Udp));
        assert_eq!(sips_udp.numeric(), Err(LocateError::SipsOverUdp));
    }

    #[test]
    fn rfc3263_s4_2_explicit_port_means_address_lookup_only() {
        let mut t = Target::new("example.com");
        t.port = Some(5070);
        let (asked, found) = run(&t, 0, |q| {
            assert_eq!(q.step(), Step::Address);
            Answer::Address(vec![ip("192.0.2.1"), ip("192.0.2.2")])
        });
        assert_eq!(
            asked,
            [Query::Address {
                name: "example.com.".into(),
                port: 5070,
                transport: Transport::Udp
            }]
        );
        assert_eq!(
            found.unwrap(),
            [
                c("192.0.2.1:5070", Transport::Udp),
                c("192.0.2.2:5070", Transport::Udp)
            ]
        );
    }

    #[test]
    fn rfc3263_s4_2_explicit_transport_queries_srv_for_that_transport() {
        let mut t = Target::new("example.com");
        t.transport = Some(Transport::Tcp);
        let (asked, found) = run(&t, 0, |q| match q {
            Query::Srv { name, transport } => {
                assert_eq!(name, "_sip._tcp.example.com.");
                assert_eq!(*transport, Transport::Tcp);
                Answer::Srv(vec![srv(1, 1, 5090, "pc.example.com.")])
            }
            Query::Address { name, .. } => {
                assert_eq!(name, "pc.example.com.");
                Answer::Address(vec![ip("192.0.2.9")])
            }
            Query::Naptr { .. } => unreachable!("no NAPTR with an explicit transport"),
        });
        assert_eq!(asked.len(), 2);
        assert_eq!(found.unwrap(), [c("192.0.2.9:5090", Transport::Tcp)]);
    }

    #[test]
    fn rfc3263_s4_2_explicit_transport_without_srv_falls_back_to_default_port() {
        let mut t = Target::new("example.com");
        t.transport = Some(Transport::Tcp);
        let (_, found) = run(&t, 0, |q| match q {
            Query::Address { .. } => Answer::Address(vec![ip("192.0.2.3")]),
            q => nothing(q),
        });
        assert_eq!(found.unwrap(), [c("192.0.2.3:5060", Transport::Tcp)]);
    }

    #[test]
    fn rfc3263_s4_1_naptr_chooses_the_transport() {
        let (asked, found) = run(&Target::new("example.com"), 0, |q| match q {
            Query::Naptr { .. } => Answer::Naptr(vec![
                naptr(10, 20, "SIP+D2U", "_sip._udp.example.com."),
                naptr(10, 10, "SIP+D2T", "_sip._tcp.example.com."),
            ]),
            Query::Srv { name, .. } if name.starts_with("_sip._tcp") => {
                Answer::Srv(vec![srv(1, 1, 5062, "tcp.example.com.")])
            }
            Query::Srv { .. } => Answer::Srv(vec![srv(1, 1, 5064, "udp.example.com.")]),
            Query::Address { name, .. } if name.starts_with("tcp") => {
                Answer::Address(vec![ip("192.0.2.2")])
            }
            Query::Address { .. } => Answer::Address(vec![ip("192.0.2.4")]),
        });
        assert_eq!(asked[0].step(), Step::Naptr);
        assert_eq!(
            found.unwrap(),
            [
                c("192.0.2.2:5062", Transport::Tcp),
                c("192.0.2.4:5064", Transport::Udp)
            ]
        );
    }

    #[test]
    fn rfc3263_s4_1_naptr_found_but_srv_empty_does_not_fall_back_to_a() {
        let (asked, found) = run(&Target::new("example.com"), 0, |q| match q {
            Query::Naptr { .. } => {
                Answer::Naptr(vec![naptr(10, 10, "SIP+D2T", "_sip._tcp.example.com.")])
            }
            q => nothing(q),
        });
        assert_eq!(asked.len(), 2, "{asked:?}");
        let e = found.unwrap_err();
        assert_eq!(e.step(), Some(Step::Srv), "{e}");
        assert!(e.to_string().contains("_sip._tcp.example.com."), "{e}");
    }

    #[test]
    fn rfc3263_s4_1_no_naptr_queries_srv_in_our_preference() {
        let (asked, found) = run(&Target::new("example.com"), 0, |q| match q {
            Query::Srv {
                transport: Transport::Tcp,
                ..
            } => Answer::Srv(vec![srv(1, 1, 5070, "tcp.example.com.")]),
            Query::Srv { .. } => Answer::Srv(vec![srv(1, 1, 5080, "udp.example.com.")]),
            Query::Address { name, .. } if name.starts_with("tcp") => {
                Answer::Address(vec![ip("192.0.2.70")])
            }
            Query::Address { .. } => Answer::Address(vec![ip("192.0.2.80")]),
            q => nothing(q),
        });
        let names: Vec<&str> = asked.iter().map(Query::name).collect();
        assert_eq!(
            names,
            [
                "example.com.",
                "_sip._udp.example.com.",
                "_sip._tcp.example.com.",
                "udp.example.com.",
                "tcp.example.com."
            ]
        );
        assert_eq!(
            found.unwrap(),
            [
                c("192.0.2.80:5080", Transport::Udp),
                c("192.0.2.70:5070", Transport::Tcp)
            ]
        );
    }

    #[test]
    fn rfc3263_s4_1_sips_without_naptr_queries_sips_tcp_only() {
        let mut t = Target::new("example.com");
        t.secure = true;
        let (asked, found) = run(&t, 0, |q| match q {
            Query::Address { .. } => Answer::Address(vec![ip("192.0.2.5")]),
            q => nothing(q),
        });
        let names: Vec<&str> = asked.iter().map(Query::name).collect();
        assert_eq!(
            names,
            ["example.com.", "_sips._tcp.example.com.", "example.com."]
        );
        assert_eq!(found.unwrap(), [c("192.0.2.5:5061", Transport::Tls)]);
    }

    #[test]
    fn rfc3263_s4_2_no_srv_falls_back_to_a_with_port_5060_over_udp() {
        let (asked, found) = run(&Target::new("example.com"), 0, |q| match q {
            Query::Address { .. } => Answer::Address(vec![ip("192.0.2.6")]),
            q => nothing(q),
        });
        assert_eq!(asked.len(), 4, "NAPTR, two SRV, A: {asked:?}");
        assert_eq!(found.unwrap(), [c("192.0.2.6:5060", Transport::Udp)]);
    }

    #[test]
    fn rfc3263_s4_2_srv_priority_then_weight() {
        let records = vec![
            srv(20, 1, 3, "c.example.com."),
            srv(10, 9, 1, "a.example.com."),
            srv(10, 1, 2, "b.example.com."),
        ];
        let mut a_first = 0;
        for seed in 0..1000 {
            let mut t = Target::new("example.com");
            t.transport = Some(Transport::Udp);
            let (_, found) = run(&t, seed, |q| match q {
                Query::Srv { .. } => Answer::Srv(records.clone()),
                Query::Address { .. } => Answer::Address(vec![ip("192.0.2.1")]),
                q => nothing(q),
            });
            let ports: Vec<u16> = found.unwrap().iter().map(|c| c.addr.port()).collect();
            assert_eq!(ports.len(), 3);
            assert_eq!(ports[2], 3, "priority 20 last");
            if ports[0] == 1 {
                a_first += 1;
            }
        }
        assert!((850..950).contains(&a_first), "{a_first}");
    }

    #[test]
    fn rfc3263_s4_duplicate_candidates_are_tried_once() {
        let mut t = Target::new("example.com");
        t.transport = Some(Transport::Udp);
        let (_, found) = run(&t, 0, |q| match q {
            Query::Srv { .. } => Answer::Srv(vec![
                srv(1, 1, 5060, "a.example.com."),
                srv(2, 1, 5060, "b.example.com."),
            ]),
            Query::Address { .. } => Answer::Address(vec![ip("192.0.2.1")]),
            q => nothing(q),
        });
        assert_eq!(found.unwrap(), [c("192.0.2.1:5060", Transport::Udp)]);
    }

    #[test]
    fn rfc3263_nxdomain_names_the_steps() {
        let (asked, found) = run(&Target::new("nowhere.example"), 0, |_| Answer::NoDomain);
        assert_eq!(asked.len(), 4);
        let e = found.unwrap_err();
        assert_eq!(
            e,
            LocateError::NoSuchDomain {
                domain: "nowhere.example".into(),
                steps: vec![Step::Naptr, Step::Address]
            }
        );
        assert_eq!(
            e.to_string(),
            "nowhere.example: no such domain (NXDOMAIN to the NAPTR and A/AAAA lookups)"
        );
    }

    #[test]
    fn rfc3263_timeout_stops_the_lookups_and_names_the_step() {
        let (asked, found) = run(&Target::new("example.com"), 0, |q| match q {
            Query::Naptr { .. } => Answer::Naptr(vec![]),
            _ => Answer::TimedOut,
        });
        assert_eq!(asked.len(), 2);
        let e = found.unwrap_err();
        assert_eq!(e.step(), Some(Step::Srv));
        assert_eq!(
            e.to_string(),
            "SRV lookup of _sip._udp.example.com. timed out"
        );
    }

    #[test]
    fn rfc3263_server_failure_is_reported_when_nothing_is_found() {
        let (_, found) = run(&Target::new("example.com"), 0, |q| match q {
            Query::Naptr { .. } => Answer::Failed("SERVFAIL".into()),
            q => nothing(q),
        });
        assert_eq!(
            found.unwrap_err().to_string(),
            "NAPTR lookup of example.com. failed: SERVFAIL"
        );
    }

    #[test]
    fn rfc3261_s26_2_2_sips_over_udp_is_refused() {
        let mut t = Target::new("example.com");
        t.secure = true;
        t.transport = Some(Transport::Udp);
        assert_eq!(Locator::new(&t, 0).unwrap_err(), LocateError::SipsOverUdp);
        assert_eq!(Transport::from_param("tcp", true).unwrap(), Transport::Tls);
        assert!(matches!(
            Transport::from_param("sctp", false),
            Err(LocateError::UnsupportedTransport { .. })
        ));
    }

    #[test]
    fn rfc3263_s4_target_is_maddr_else_host() {
        let parse = |s: &'static str| match crate::sip::Uri::parse(s).unwrap() {
            crate::sip::Uri::Sip(u) => Target::from_uri(&u).unwrap(),
            _ => unreachable!(),
        };
        let t = parse("sip:alice@b.example;transport=TCP");
        assert_eq!(t.host, "b.example");
        assert_eq!(t.transport, Some(Transport::Tcp));
        assert!(!t.secure);
        let t = parse("sips:alice@b.example:5071;maddr=192.0.2.1");
        assert_eq!(t.host, "192.0.2.1");
        assert_eq!(t.port, Some(5071));
        assert!(t.secure);
        let t = parse("sip:[2001:db8::2]:5062");
        assert_eq!(t.ip(), Some(ip("2001:db8::2")));
    }
}
