//! A real DNS server for tests: an authoritative, in-process hickory server
//! on loopback (UDP and TCP on one port chosen by the OS) serving zones
//! given as zone-file text, with a log of every question it was asked.
//!
//! From an async test: `TestDns::start(&zones).await` (its tasks run on the
//! test's runtime). From a plain `#[test]`: `TestDns::spawn(&zones)` (it
//! brings a runtime of its own, on a background thread).

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_server::ServerFuture;
use hickory_server::authority::{Catalog, ZoneType};
pub use hickory_server::proto::rr::RecordType;
use hickory_server::proto::rr::{LowerName, Name};
use hickory_server::proto::serialize::txt::Parser;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryAuthority;
use tokio::net::{TcpListener, UdpSocket};

/// The SOA and NS put in front of a zone whose text has no SOA of its own.
pub const DEFAULT_SOA: &str =
    "@ IN SOA ns.example. hostmaster.example. 1 3600 600 86400 30\n@ IN NS ns.example.\n";

/// One zone: its origin (`"b.example."`) and its records in zone-file
/// syntax, relative to the origin. `$ORIGIN` and `$TTL 30` come first; a
/// default SOA and NS ([`DEFAULT_SOA`]) unless the text has an SOA.
#[derive(Debug, Clone, Copy)]
pub struct Zone<'a> {
    pub origin: &'a str,
    pub text: &'a str,
}

pub fn zone<'a>(origin: &'a str, text: &'a str) -> Zone<'a> {
    Zone { origin, text }
}

/// The questions asked, as (lower-case name with its final dot, type).
pub type Log = Arc<Mutex<Vec<(String, RecordType)>>>;

/// The catalog, with every question noted.
struct Logged {
    catalog: Catalog,
    log: Log,
}

impl RequestHandler for Logged {
    // What #[async_trait] would write.
    fn handle_request<'life0, 'life1, 'async_trait, R>(
        &'life0 self,
        request: &'life1 Request,
        response_handle: R,
    ) -> Pin<Box<dyn Future<Output = ResponseInfo> + Send + 'async_trait>>
    where
        R: 'async_trait + ResponseHandler,
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            if let Ok(info) = request.request_info() {
                self.log.lock().unwrap().push((
                    info.query.name().to_string().to_ascii_lowercase(),
                    info.query.query_type(),
                ));
            }
            self.catalog.handle_request(request, response_handle).await
        })
    }
}

/// A running server; it stops when dropped.
pub struct TestDns {
    pub addr: SocketAddr,
    log: Log,
    // Dropped before the runtime it runs on, if it has one of its own.
    server: Option<ServerFuture<Logged>>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// Parses the zones into a catalog; panics naming the zone that is wrong.
fn catalog(zones: &[Zone<'_>]) -> Catalog {
    let mut catalog = Catalog::new();
    for z in zones {
        let soa = if has_soa(z.text) { "" } else { DEFAULT_SOA };
        let text = format!("$ORIGIN {}\n$TTL 30\n{soa}{}\n", z.origin, z.text);
        let origin: Name = z
            .origin
            .parse()
            .unwrap_or_else(|e| panic!("zone origin {}: {e}", z.origin));
        let (name, records) = Parser::new(text, None, Some(origin))
            .parse()
            .unwrap_or_else(|e| panic!("zone {}: {e}", z.origin));
        let authority = InMemoryAuthority::new(name.clone(), records, ZoneType::Primary, false)
            .unwrap_or_else(|e| panic!("zone {}: {e}", z.origin));
        catalog.upsert(LowerName::new(&name), vec![Arc::new(authority)]);
    }
    catalog
}

fn has_soa(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.split(';').next().unwrap_or("");
        l.split_whitespace().any(|w| w.eq_ignore_ascii_case("SOA"))
    })
}

impl TestDns {
    /// Starts the server on the current tokio runtime, serving `zones` on
    /// 127.0.0.1, UDP and TCP on the same port.
    pub async fn start(zones: &[Zone<'_>]) -> TestDns {
        let log = Log::default();
        let mut server = ServerFuture::new(Logged {
            catalog: catalog(zones),
            log: log.clone(),
        });
        // UDP and TCP on the same port (TCP for truncated answers).
        let mut tries = 0;
        let addr = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let addr = udp.local_addr().unwrap();
            match TcpListener::bind(addr).await {
                Ok(tcp) => {
                    server.register_socket(udp);
                    server.register_listener(tcp, Duration::from_secs(5));
                    break addr;
                }
                Err(e) => {
                    tries += 1;
                    assert!(tries < 20, "no port free for UDP and TCP: {e}");
                }
            }
        };
        TestDns {
            addr,
            log,
            server: Some(server),
            runtime: None,
        }
    }

    /// The same, for a test with no runtime: the server runs on a runtime
    /// of its own (one worker thread), for as long as the value lives.
    pub fn spawn(zones: &[Zone<'_>]) -> TestDns {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("test-dns")
            .enable_all()
            .build()
            .unwrap();
        let mut dns = runtime.block_on(TestDns::start(zones));
        dns.runtime = Some(runtime);
        dns
    }

    /// The questions asked so far, as (name, type), in order.
    pub fn asked(&self) -> Vec<(String, RecordType)> {
        self.log.lock().unwrap().clone()
    }

    pub fn asked_types(&self) -> Vec<RecordType> {
        self.asked().into_iter().map(|(_, t)| t).collect()
    }

    /// Whether `name` (with its final dot) was asked for `rtype`.
    pub fn was_asked(&self, name: &str, rtype: RecordType) -> bool {
        let name = name.to_ascii_lowercase();
        self.log
            .lock()
            .unwrap()
            .iter()
            .any(|(n, t)| *n == name && *t == rtype)
    }

    /// Forgets the questions asked so far.
    pub fn clear_log(&self) {
        self.log.lock().unwrap().clear();
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        drop(self.server.take());
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
