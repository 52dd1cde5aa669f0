//! RFC 3263 server location over real DNS: hickory-resolver makes the
//! queries that the sans-io [`Locator`](crate::locate::Locator) asks for and
//! feeds it the answers.
//!
//! The resolver caches answers by their TTLs (hickory's cache), so locating
//! the same domain again costs no query until the records expire.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Name, ResolveError, TokioResolver};

use crate::locate::{Answer, Candidate, LocateError, Locator, Naptr, Query, Srv, Target};

/// Locates `target` on a task of its own and sends `answer(candidates)`
/// to `tx`, where the core waits for it: a lookup may take seconds and the
/// core must not. A node with no resolver answers that it has none.
pub fn locate_later<T: Send + 'static>(
    resolver: Option<Resolver>,
    target: Target,
    seed: u64,
    tx: tokio::sync::mpsc::Sender<T>,
    answer: impl FnOnce(Result<Vec<Candidate>, LocateError>) -> T + Send + 'static,
) {
    tokio::spawn(async move {
        let candidates = match resolver {
            Some(r) => r.locate(&target, seed).await,
            None => Err(LocateError::Config("no DNS resolver".into())),
        };
        let _ = tx.send(answer(candidates)).await;
    });
}

/// How to reach the DNS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Ask this server (UDP, TCP on truncation) instead of the ones of the
    /// system configuration (`/etc/resolv.conf`).
    pub nameserver: Option<SocketAddr>,
    /// How long one attempt of one query may take.
    pub timeout: Duration,
    /// Attempts per query before it counts as timed out.
    pub attempts: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            nameserver: None,
            timeout: Duration::from_secs(2),
            attempts: 2,
        }
    }
}

/// Locates SIP servers by RFC 3263. Cheap to clone: clones share one
/// cache and one set of connections.
#[derive(Clone)]
pub struct Resolver {
    inner: TokioResolver,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("nameservers", &self.inner.config().name_servers())
            .finish()
    }
}

impl Resolver {
    /// The system's nameservers, or `nameserver` when given; 2 s per
    /// attempt, 2 attempts.
    pub fn new(nameserver: Option<SocketAddr>) -> Result<Resolver, LocateError> {
        Resolver::with_settings(Settings {
            nameserver,
            ..Settings::default()
        })
    }

    pub fn with_settings(settings: Settings) -> Result<Resolver, LocateError> {
        let mut builder = match settings.nameserver {
            Some(addr) => TokioResolver::builder_with_config(
                ResolverConfig::from_parts(
                    None,
                    Vec::new(),
                    NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true),
                ),
                TokioConnectionProvider::default(),
            ),
            None => TokioResolver::builder_tokio()
                .map_err(|e| LocateError::Config(format!("system configuration: {e}")))?,
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        opts.timeout = settings.timeout;
        opts.attempts = settings.attempts.max(1);
        // Every name we ask is fully qualified: no search list.
        opts.ndots = 0;
        // SRV names begin with underscores.
        opts.check_names = false;
        Ok(Resolver {
            inner: builder.build(),
        })
    }

    /// The candidates for `target`, in the order to try them (RFC 3263);
    /// `seed` orders SRV records of equal priority (RFC 2782), so pass a
    /// fresh random number per request to spread load by weight.
    pub async fn locate(&self, target: &Target, seed: u64) -> Result<Vec<Candidate>, LocateError> {
        let mut locator = Locator::new(target, seed)?;
        while let Some(query) = locator.query().cloned() {
            let answer = self.ask(&query).await;
            tracing::trace!(?query, ?answer, "RFC 3263 lookup");
            locator.answer(answer);
        }
        let found = locator.finish();
        match &found {
            Ok(c) => tracing::debug!(host = %target.host, candidates = ?c, "located"),
            Err(e) => tracing::debug!(host = %target.host, error = %e, "not located"),
        }
        found
    }

    /// Drops every cached answer.
    pub fn clear_cache(&self) {
        self.inner.clear_cache();
    }

    async fn ask(&self, query: &Query) -> Answer {
        let name = match Name::from_ascii(query.name()) {
            Ok(n) => n,
            Err(e) => return Answer::Failed(format!("bad name: {e}")),
        };
        match query {
            Query::Naptr { .. } => match self.inner.lookup(name, RecordType::NAPTR).await {
                Ok(lookup) => Answer::Naptr(
                    lookup
                        .iter()
                        .filter_map(|r| match r {
                            RData::NAPTR(n) => Some(Naptr {
                                order: n.order(),
                                preference: n.preference(),
                                flags: String::from_utf8_lossy(n.flags()).into_owned(),
                                services: String::from_utf8_lossy(n.services()).into_owned(),
                                regexp: String::from_utf8_lossy(n.regexp()).into_owned(),
                                replacement: n.replacement().to_ascii(),
                            }),
                            _ => None,
                        })
                        .collect(),
                ),
                Err(e) => failure(&e, || Answer::Naptr(Vec::new())),
            },
            Query::Srv { .. } => match self.inner.srv_lookup(name).await {
                Ok(lookup) => Answer::Srv(
                    lookup
                        .iter()
                        .map(|s| Srv {
                            priority: s.priority(),
                            weight: s.weight(),
                            port: s.port(),
                            target: s.target().to_ascii(),
                        })
                        .collect(),
                ),
                Err(e) => failure(&e, || Answer::Srv(Vec::new())),
            },
            Query::Address { .. } => match self.inner.lookup_ip(name).await {
                Ok(lookup) => Answer::Address(lookup.iter().collect()),
                Err(e) => failure(&e, || Answer::Address(Vec::new())),
            },
        }
    }
}

/// What a failed lookup means for RFC 3263: NXDOMAIN, no records of that
/// type (`empty`), a timeout, or another failure.
/// REFUSED and SERVFAIL come back as "no records" with their response
/// code: they are failures, not an empty answer.
fn failure(e: &ResolveError, empty: impl FnOnce() -> Answer) -> Answer {
    match e.proto().map(|p| p.kind()) {
        Some(ProtoErrorKind::NoRecordsFound { response_code, .. }) => match *response_code {
            ResponseCode::NXDomain => Answer::NoDomain,
            ResponseCode::NoError => empty(),
            code => Answer::Failed(format!("the server answered {code}")),
        },
        Some(ProtoErrorKind::Timeout) => Answer::TimedOut,
        _ => Answer::Failed(e.to_string()),
    }
}
