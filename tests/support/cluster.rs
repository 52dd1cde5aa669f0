//! A PresenceCloud of the real binary on loopback, for integration tests:
//! nodes pc0..pcN joined through pc0 with a shared secret, the admin API
//! read over plain HTTP, and a SIP user agent over UDP that answers NOTIFYs.
//!
//! Include it as `#[path = "support/cluster.rs"] mod support;`: it brings
//! `support/node.rs` with it and re-exports it (`support::Node`,
//! `support::scratch`, ...), so a test needs no second include.
//!
//! Timings are shortened for the tests (gossip every 100 ms, dead after
//! 1 s of silence, a probe every 500 ms) through `[cluster]` in the config
//! file.

#![allow(dead_code)]

#[path = "node.rs"]
mod node;

pub use node::*;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use presencecloud::sip::parse;

pub const SECRET: &str = "test-cluster-secret-0123456789";

/// The test config. Tests that count messages exactly pass a batch delay
/// of 100 ms or more and get a dead-after of 10 s, so that a loaded
/// machine (missed heartbeats, a member declared dead and the searches
/// planned again) cannot add messages; the others detect a dead node in
/// about a second.
pub fn config(batch_ms: u64) -> String {
    let dead_after = if batch_ms >= 100 { 10_000 } else { 1_000 };
    format!(
        "[log]\nlevel = \"warn\"\n[cluster]\ngossip_interval_ms = 100\ndead_after_ms = {dead_after}\nforget_after_ms = 60000\nprobe_interval_ms = 500\nbatch_delay_ms = {batch_ms}\n"
    )
}

pub fn node_name(i: usize) -> String {
    format!("pc{i}")
}

/// Starts node `i`, joining through `seed` if given.
pub fn start(test: &str, i: usize, seed: Option<SocketAddr>, db: &str, batch_ms: u64) -> Node {
    let name = node_name(i);
    let mut args: Vec<String> = vec![
        "--node".into(),
        name.clone(),
        "--cluster".into(),
        "127.0.0.1:0".into(),
        "--cluster-secret".into(),
        SECRET.into(),
    ];
    if let Some(s) = seed {
        args.push("--join".into());
        args.push(s.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Node::start_with_db(&format!("{test}-{name}"), &config(batch_ms), db, &args)
}

pub struct Cluster {
    pub nodes: Vec<Option<Node>>,
    pub dbs: Vec<String>,
    pub test: String,
    pub batch_ms: u64,
}

impl Cluster {
    /// Starts `n` nodes (pc0 first, the others joining through it) and
    /// waits until they all see the same `n` live members.
    pub fn start(test: &str, n: usize, batch_ms: u64) -> Cluster {
        let dir = scratch(&format!("{test}-dbs"));
        let dbs: Vec<String> = (0..n)
            .map(|i| format!("sqlite://{}", dir.join(format!("pc{i}.db")).display()))
            .collect();
        let first = start(test, 0, None, &dbs[0], batch_ms);
        let seed = first.cluster;
        let mut nodes = vec![Some(first)];
        for (i, db) in dbs.iter().enumerate().skip(1) {
            nodes.push(Some(start(test, i, seed, db, batch_ms)));
        }
        let c = Cluster {
            nodes,
            dbs,
            test: test.into(),
            batch_ms,
        };
        c.converged(n, &[]);
        c
    }

    pub fn node(&self, i: usize) -> &Node {
        self.nodes[i].as_ref().expect("node running")
    }

    pub fn sip(&self, i: usize) -> SocketAddr {
        self.node(i).udp
    }

    pub fn admin(&self, i: usize) -> SocketAddr {
        self.node(i).admin
    }

    pub fn seed(&self) -> Option<SocketAddr> {
        self.node(0).cluster
    }

    pub fn kill(&mut self, i: usize) {
        if let Some(mut n) = self.nodes[i].take() {
            n.kill();
        }
    }

    pub fn restart(&mut self, i: usize) {
        let seed = if i == 0 {
            self.node(1).cluster
        } else {
            self.seed()
        };
        self.nodes[i] = Some(start(&self.test, i, seed, &self.dbs[i], self.batch_ms));
    }

    /// Waits until every running node sees the same `n` members, with
    /// exactly the `dead` ones dead, and returns that view.
    pub fn converged(&self, n: usize, dead: &[usize]) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let views: Vec<serde_json::Value> = self
                .nodes
                .iter()
                .flatten()
                .map(|node| json(node.admin, "/api/nodes"))
                .collect();
            let good = views.iter().all(|v| {
                let list = v.as_array().unwrap();
                list.len() == n
                    && list.iter().all(|m| {
                        let i: usize = m["name"].as_str().unwrap()[2..].parse().unwrap();
                        m["alive"].as_bool() == Some(!dead.contains(&i))
                    })
            }) && views.windows(2).all(|w| w[0] == w[1]);
            if good {
                return views[0].clone();
            }
            assert!(
                Instant::now() < deadline,
                "cluster did not converge on {n} members (dead {dead:?}): {views:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `GET path`, its body parsed as JSON.
pub fn json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let page = http(addr, path);
    let body = page.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {page}"))
}

/// The sum of a metric's samples whose labels contain every `labels` pair.
pub fn metric(addr: SocketAddr, name: &str, labels: &[(&str, &str)]) -> f64 {
    let page = http(addr, "/metrics");
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            let (metric, rest) = key.split_once('{').unwrap_or((key, ""));
            (metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// `user@example.com`, or `user` itself when it names its domain.
pub fn aor(user: &str) -> String {
    if user.contains('@') {
        user.to_string()
    } else {
        format!("{user}@example.com")
    }
}

pub fn pidf(user: &str, basic: &str, note: &str) -> String {
    let entity = aor(user);
    let user = user.split('@').next().unwrap_or(user);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:{entity}\">\n<tuple id=\"t-{user}\"><status><basic>{basic}</basic></status><note>{note}</note></tuple>\n</presence>\n"
    )
}

/// A SIP user agent on one UDP socket: any number of dialogs; NOTIFYs are
/// answered 200 and their bodies kept by Call-ID.
pub struct Ua {
    pub sock: UdpSocket,
    pub cseq: u32,
    pub notifies: HashMap<String, Vec<String>>,
    pub etags: HashMap<String, String>,
    /// The To tag and remote target (Contact) of each dialog, from its
    /// final response.
    pub to_tags: HashMap<String, String>,
    pub targets: HashMap<String, String>,
}

impl Default for Ua {
    fn default() -> Self {
        Ua::new()
    }
}

impl Ua {
    pub fn new() -> Ua {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        Ua {
            sock,
            cseq: 0,
            notifies: HashMap::new(),
            etags: HashMap::new(),
            to_tags: HashMap::new(),
            targets: HashMap::new(),
        }
    }

    /// Sends a request in its own dialog `call_id` and returns the final
    /// status (NOTIFYs arriving meanwhile are answered).
    pub fn request(
        &mut self,
        node: SocketAddr,
        method: &str,
        user: &str,
        call_id: &str,
        extra: &str,
        body: &str,
    ) -> u16 {
        self.cseq += 1;
        let me = self.sock.local_addr().unwrap();
        let ct = if body.is_empty() {
            String::new()
        } else {
            "Content-Type: application/pidf+xml\r\n".into()
        };
        let req = format!(
            "{method} sip:{aor} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{call_id}-{cseq};rport\r\nMax-Forwards: 70\r\nFrom: <sip:w-{call_id}@example.com>;tag=ft{call_id}\r\nTo: <sip:{aor}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:w-{call_id}@{me}>\r\nEvent: presence\r\n{extra}{ct}Content-Length: {}\r\n\r\n{body}",
            body.len(),
            cseq = self.cseq,
            aor = aor(user),
        );
        let bytes = self.exchange(node, &req, call_id);
        let m = parse(&bytes).unwrap();
        if let Some(etag) = m.sip_etag() {
            self.etags.insert(user.into(), etag.to_string());
        }
        if let Some(tag) = m.to().and_then(|t| t.tag()) {
            self.to_tags.insert(call_id.into(), tag.to_string());
        }
        if let Some(c) = m.contacts().next() {
            self.targets.insert(call_id.into(), c.uri.to_string());
        }
        m.status().unwrap()
    }

    /// Sends `req` and returns its final response (of `call_id`); NOTIFYs
    /// arriving meanwhile are answered.
    fn exchange(&mut self, node: SocketAddr, req: &str, call_id: &str) -> Vec<u8> {
        self.sock.send_to(req.as_bytes(), node).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (bytes, _) = self.recv(deadline).expect("a final response");
            let m = parse(&bytes).unwrap();
            if !m.is_request()
                && m.call_id() == Some(call_id)
                && m.status().is_some_and(|s| s >= 200)
            {
                return bytes;
            }
        }
    }

    /// Publishes (or modifies the earlier publication of) `user` at `node`.
    pub fn publish(&mut self, node: SocketAddr, user: &str, basic: &str, note: &str) {
        let extra = match self.etags.get(user) {
            Some(e) => format!("SIP-If-Match: {e}\r\nExpires: 3600\r\n"),
            None => "Expires: 3600\r\n".into(),
        };
        let call = format!("pub-{}-{}", user.replace('@', "."), self.cseq);
        let status = self.request(
            node,
            "PUBLISH",
            user,
            &call,
            &extra,
            &pidf(user, basic, note),
        );
        assert_eq!(status, 200, "PUBLISH {user}");
    }

    /// Ends the subscription `call_id` (Expires: 0 in its dialog, to its
    /// remote target: RFC 3261 §12.2.1.1).
    pub fn unsubscribe(&mut self, node: SocketAddr, user: &str, call_id: &str) {
        let tag = self.to_tags.get(call_id).cloned().expect("a dialog");
        let target = self.targets.get(call_id).cloned().expect("a Contact");
        self.cseq += 1;
        let me = self.sock.local_addr().unwrap();
        let req = format!(
            "SUBSCRIBE {target} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{call_id}-{cseq}u;rport\r\nMax-Forwards: 70\r\nFrom: <sip:w-{call_id}@example.com>;tag=ft{call_id}\r\nTo: <sip:{aor}>;tag={tag}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} SUBSCRIBE\r\nContact: <sip:w-{call_id}@{me}>\r\nEvent: presence\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n",
            cseq = self.cseq,
            aor = aor(user),
        );
        let bytes = self.exchange(node, &req, call_id);
        let status = parse(&bytes).unwrap().status();
        assert_eq!(status, Some(200), "unSUBSCRIBE {call_id}");
    }

    pub fn subscribe(&mut self, node: SocketAddr, user: &str, call_id: &str) {
        let status = self.request(node, "SUBSCRIBE", user, call_id, "Expires: 600\r\n", "");
        assert_eq!(status, 200, "SUBSCRIBE {user}");
    }

    /// The next datagram before `deadline`; a NOTIFY is answered 200 and
    /// its body kept.
    pub fn recv(&mut self, deadline: Instant) -> Option<(Vec<u8>, SocketAddr)> {
        let mut buf = vec![0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.sock.set_read_timeout(Some(left)).unwrap();
            let (n, from) = self.sock.recv_from(&mut buf).ok()?;
            let bytes = buf[..n].to_vec();
            let Ok(m) = parse(&bytes) else { continue };
            if m.method().is_some_and(|x| x.as_str() == "NOTIFY") {
                self.sock.send_to(&ok(&m), from).unwrap();
                let body = String::from_utf8_lossy(m.body).into_owned();
                let call = m.call_id().unwrap_or_default().to_string();
                self.notifies.entry(call).or_default().push(body);
            }
            return Some((bytes, from));
        }
    }

    /// Answers NOTIFYs until `done` holds or `wait` is over; returns `done`.
    pub fn until(&mut self, wait: Duration, done: impl Fn(&Ua) -> bool) -> bool {
        let deadline = Instant::now() + wait;
        while !done(self) {
            if self.recv(deadline).is_none() {
                return done(self);
            }
        }
        true
    }

    /// The body of the last NOTIFY of dialog `call_id` ("" before any).
    pub fn last(&self, call_id: &str) -> &str {
        self.notifies
            .get(call_id)
            .and_then(|v| v.last())
            .map(String::as_str)
            .unwrap_or("")
    }
}
