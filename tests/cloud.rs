//! PresenceCloud with the real binary on loopback (issue 5): clusters of
//! 9 nodes (a full 3×3 grid) and 7 (a partial one), watchers and
//! presentities spread over every node, aggregated subscriptions, search
//! costs read from each node's metrics, a node killed and restarted, and
//! links refused to peers without the cluster secret.
//!
//! Timings are shortened for the tests (gossip every 100 ms, dead after
//! 1 s of silence) through `[cluster]` in the config file.

#[path = "support/node.rs"]
mod support;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use presencecloud::sip::{Message, parse};
use support::Node;

const SECRET: &str = "test-cluster-secret-0123456789";

fn config(batch_ms: u64) -> String {
    format!(
        "[log]\nlevel = \"warn\"\n[cluster]\ngossip_interval_ms = 100\ndead_after_ms = 1000\nforget_after_ms = 60000\nprobe_interval_ms = 500\nbatch_delay_ms = {batch_ms}\n"
    )
}

fn node_name(i: usize) -> String {
    format!("pc{i}")
}

/// Starts node `i`, joining through `seed` if given.
fn start(test: &str, i: usize, seed: Option<SocketAddr>, db: &str, batch_ms: u64) -> Node {
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

struct Cluster {
    nodes: Vec<Option<Node>>,
    dbs: Vec<String>,
    test: String,
    batch_ms: u64,
}

impl Cluster {
    fn start(test: &str, n: usize, batch_ms: u64) -> Cluster {
        let dir = support::scratch(&format!("{test}-dbs"));
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

    fn node(&self, i: usize) -> &Node {
        self.nodes[i].as_ref().expect("node running")
    }

    fn sip(&self, i: usize) -> SocketAddr {
        self.node(i).udp
    }

    fn seed(&self) -> Option<SocketAddr> {
        self.node(0).cluster
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut n) = self.nodes[i].take() {
            n.kill();
        }
    }

    fn restart(&mut self, i: usize) {
        let seed = if i == 0 {
            self.node(1).cluster
        } else {
            self.seed()
        };
        self.nodes[i] = Some(start(&self.test, i, seed, &self.dbs[i], self.batch_ms));
    }

    /// Waits until every running node sees the same `n` members, with
    /// exactly the `dead` ones dead, and returns that view.
    fn converged(&self, n: usize, dead: &[usize]) -> serde_json::Value {
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

fn http(addr: SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let page = http(addr, path);
    let body = page.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {page}"))
}

/// The sum of a metric's samples whose labels contain every `labels` pair.
fn metric(addr: SocketAddr, name: &str, labels: &[(&str, &str)]) -> f64 {
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

fn pidf(user: &str, basic: &str, note: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:{user}@example.com\">\n<tuple id=\"t-{user}\"><status><basic>{basic}</basic></status><note>{note}</note></tuple>\n</presence>\n"
    )
}

/// A SIP user agent on one UDP socket: any number of dialogs; NOTIFYs are
/// answered 200 and their bodies kept by Call-ID.
struct Ua {
    sock: UdpSocket,
    cseq: u32,
    notifies: HashMap<String, Vec<String>>,
    etags: HashMap<String, String>,
}

impl Ua {
    fn new() -> Ua {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        Ua {
            sock,
            cseq: 0,
            notifies: HashMap::new(),
            etags: HashMap::new(),
        }
    }

    fn request(
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
            "{method} sip:{user}@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{call_id}-{cseq};rport\r\nMax-Forwards: 70\r\nFrom: <sip:w-{call_id}@example.com>;tag=ft{call_id}\r\nTo: <sip:{user}@example.com>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:w-{call_id}@{me}>\r\nEvent: presence\r\n{extra}{ct}Content-Length: {}\r\n\r\n{body}",
            body.len(),
            cseq = self.cseq,
        );
        self.sock.send_to(req.as_bytes(), node).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (bytes, _) = self.recv(deadline).expect("a final response");
            let m = parse(&bytes).unwrap();
            if m.is_request() || m.call_id() != Some(call_id) {
                continue;
            }
            if let Some(s) = m.status().filter(|s| *s >= 200) {
                if let Some(etag) = m.sip_etag() {
                    self.etags.insert(user.into(), etag.to_string());
                }
                return s;
            }
        }
    }

    /// Publishes (or modifies the earlier publication of) `user` at `node`.
    fn publish(&mut self, node: SocketAddr, user: &str, basic: &str, note: &str) {
        let extra = match self.etags.get(user) {
            Some(e) => format!("SIP-If-Match: {e}\r\nExpires: 3600\r\n"),
            None => "Expires: 3600\r\n".into(),
        };
        let call = format!("pub-{user}-{}", self.cseq);
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

    fn subscribe(&mut self, node: SocketAddr, user: &str, call_id: &str) {
        let status = self.request(node, "SUBSCRIBE", user, call_id, "Expires: 600\r\n", "");
        assert_eq!(status, 200, "SUBSCRIBE {user}");
    }

    fn recv(&mut self, deadline: Instant) -> Option<(Vec<u8>, SocketAddr)> {
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
    fn until(&mut self, wait: Duration, done: impl Fn(&Ua) -> bool) -> bool {
        let deadline = Instant::now() + wait;
        while !done(self) {
            if self.recv(deadline).is_none() {
                return done(self);
            }
        }
        true
    }

    fn last(&self, call_id: &str) -> &str {
        self.notifies
            .get(call_id)
            .and_then(|v| v.last())
            .map(String::as_str)
            .unwrap_or("")
    }
}

fn ok(m: &Message<'_>) -> Vec<u8> {
    presencecloud::sip::response::build(
        m,
        None,
        &presencecloud::sip::response::Reply {
            status: 200,
            reason: "OK",
            to_tag: None,
            headers: vec![],
            body: None,
        },
    )
}

/// Every node publishes one presentity; a watcher on every node watches
/// every other node's presentity; each sees the first state, then the
/// second.
fn everyone_sees_everyone(test: &str, n: usize) {
    let cluster = Cluster::start(test, n, 20);
    let mut publisher = Ua::new();
    for i in 0..n {
        publisher.publish(
            cluster.sip(i),
            &format!("u{i}"),
            "open",
            &format!("u{i}-first"),
        );
    }
    let mut watchers: Vec<Ua> = (0..n).map(|_| Ua::new()).collect();
    for (j, w) in watchers.iter_mut().enumerate() {
        for i in (0..n).filter(|&i| i != j) {
            w.subscribe(cluster.sip(j), &format!("u{i}"), &format!("w{j}-u{i}"));
        }
    }
    let sees = |w: &Ua, j: usize, note: &str| {
        (0..n).filter(|&i| i != j).all(|i| {
            w.last(&format!("w{j}-u{i}"))
                .contains(&format!("u{i}-{note}"))
        })
    };
    for (j, w) in watchers.iter_mut().enumerate() {
        assert!(
            w.until(Duration::from_secs(10), |w| sees(w, j, "first")),
            "{test}: the watcher on pc{j} does not see every first state: {:#?}",
            w.notifies
        );
    }
    for i in 0..n {
        publisher.publish(
            cluster.sip(i),
            &format!("u{i}"),
            "closed",
            &format!("u{i}-second"),
        );
    }
    for (j, w) in watchers.iter_mut().enumerate() {
        assert!(
            w.until(Duration::from_secs(10), |w| sees(w, j, "second")),
            "{test}: the watcher on pc{j} does not see every second state"
        );
    }
    // (b) Every search sent one message per other column: k − 1 = 2.
    let k = (n as f64).sqrt().ceil();
    let mut searches = 0.0;
    for i in 0..n {
        let node = cluster.node(i).admin;
        let count = metric(node, "presencecloud_cloud_search_messages_count", &[]);
        let sum = metric(node, "presencecloud_cloud_search_messages_sum", &[]);
        let sent = metric(
            node,
            "presencecloud_cloud_messages_total",
            &[("type", "search"), ("direction", "out")],
        );
        assert!(count >= 1.0, "{test}: pc{i} made no search");
        assert_eq!(sum, count * (k - 1.0), "{test}: pc{i}: messages per search");
        assert_eq!(sent, sum, "{test}: pc{i}: search messages sent");
        searches += count;
    }
    eprintln!("{test}: {searches} searches, {} messages each", k - 1.0);
}

#[test]
fn a_full_3x3_grid_delivers_every_state_to_every_watcher() {
    everyone_sees_everyone("full9", 9);
}

#[test]
fn a_partial_grid_of_7_delivers_every_state_to_every_watcher() {
    everyone_sees_everyone("partial7", 7);
}

/// (c) 200 watchers on pc4 of one presentity on pc0 (neither in its row
/// nor its column): one aggregated subscription, and per PUBLISH one
/// inter-node NOTIFY plus one delta batch to each of pc0's 4 PS peers.
#[test]
fn two_hundred_watchers_share_one_inter_node_subscription() {
    let cluster = Cluster::start("aggregate", 9, 20);
    let (home, watch) = (0, 4);
    let mut publisher = Ua::new();
    publisher.publish(cluster.sip(home), "star", "open", "v0");
    let mut watchers = Ua::new();
    for w in 0..200 {
        watchers.subscribe(cluster.sip(watch), "star", &format!("fan{w}"));
    }
    let all = |ua: &Ua, note: &str| (0..200).all(|w| ua.last(&format!("fan{w}")).contains(note));
    assert!(watchers.until(Duration::from_secs(10), |u| all(u, "v0")));
    let view = json(cluster.node(watch).admin, "/api/cluster");
    assert_eq!(view["aggregated_subscriptions"], 1, "{view}");
    let view = json(cluster.node(home).admin, "/api/cluster");
    assert_eq!(view["subscribers"], 1, "{view}");
    let out = |t: &str| {
        metric(
            cluster.node(home).admin,
            "presencecloud_cloud_messages_total",
            &[("type", t), ("direction", "out")],
        )
    };
    let (notify0, deltas0) = (out("notify"), out("deltas"));
    let publishes = 5;
    for v in 1..=publishes {
        publisher.publish(cluster.sip(home), "star", "open", &format!("v{v}"));
        let note = format!("v{v}");
        assert!(
            watchers.until(Duration::from_secs(10), |u| all(u, &note)),
            "not every watcher saw {note}"
        );
        // The inter-node NOTIFY leaves at once, the cache deltas after the
        // batch delay (20 ms): PUBLISHes closer than that share a batch.
        std::thread::sleep(Duration::from_millis(150));
    }
    let notifies = out("notify") - notify0;
    let deltas = out("deltas") - deltas0;
    eprintln!(
        "per PUBLISH: {} inter-node NOTIFY, {} delta batches (PS list of 4)",
        notifies / publishes as f64,
        deltas / publishes as f64
    );
    assert_eq!(
        notifies, publishes as f64,
        "one inter-node NOTIFY per PUBLISH"
    );
    assert_eq!(
        deltas,
        4.0 * publishes as f64,
        "one delta batch per PS peer per PUBLISH"
    );
    let gauge = metric(
        cluster.node(watch).admin,
        "presencecloud_cloud_aggregated_subscriptions",
        &[],
    );
    assert_eq!(gauge, 1.0);
}

/// (d) pc5 dies. Its row peer pc4 still finds users of column 2 through a
/// live node of that column; watchers of pc5's own user see it closed;
/// pc5 restarts on its store, rejoins, resyncs, and its user is back.
#[test]
fn a_killed_node_is_routed_around_and_rejoins() {
    let mut cluster = Cluster::start("kill", 9, 20);
    let mut publisher = Ua::new();
    publisher.publish(cluster.sip(8), "far", "open", "far-on-8");
    publisher.publish(cluster.sip(5), "lost", "open", "lost-on-5");
    let mut watcher = Ua::new();
    watcher.subscribe(cluster.sip(0), "lost", "w-lost");
    assert!(watcher.until(Duration::from_secs(10), |u| {
        u.last("w-lost").contains("lost-on-5")
    }));
    // Past the store's flush bound (50 ms), so the publication survives.
    std::thread::sleep(Duration::from_millis(300));
    let died = Instant::now();
    cluster.kill(5);
    let view = cluster.converged(9, &[5]);
    eprintln!("pc5 seen dead by all after {:?}", died.elapsed());
    let slots: Vec<&str> = view
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(slots[5], "pc5", "the dead node keeps its slot");
    // Watchers of the dead node's user see it closed (no home left).
    assert!(
        watcher.until(Duration::from_secs(10), |u| {
            let last = u.last("w-lost");
            last.contains("<basic>closed</basic>") && !last.contains("lost-on-5")
        }),
        "the watcher of pc5's user did not see it closed: {:?}",
        watcher.notifies.get("w-lost")
    );
    // A search from pc4 for pc8's user: pc5 was the row peer for column 2.
    watcher.subscribe(cluster.sip(4), "far", "w-far");
    assert!(watcher.until(Duration::from_secs(10), |u| {
        u.last("w-far").contains("far-on-8")
    }));
    // Back on its store: it rejoins and its user is seen again.
    cluster.restart(5);
    let view = cluster.converged(9, &[]);
    assert_eq!(view.as_array().unwrap()[5]["name"], "pc5");
    assert!(
        watcher.until(Duration::from_secs(15), |u| u
            .last("w-lost")
            .contains("lost-on-5")),
        "pc5's user did not come back: {:?}",
        watcher.notifies.get("w-lost")
    );
    // Its cache resynced: it holds the users of its row and column (pc8).
    let deadline = Instant::now() + Duration::from_secs(10);
    while json(cluster.node(5).admin, "/api/cluster")["cached_users"] != 1 {
        assert!(Instant::now() < deadline, "pc5 did not resync its cache");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A peer without the secret is refused (and logged), a garbage frame
/// closes only its link, and the node keeps serving.
#[test]
fn a_peer_without_the_secret_is_refused() {
    let cluster = Cluster::start("secret", 2, 20);
    let dir = support::scratch("secret-intruder");
    let db = format!("sqlite://{}", dir.join("x.db").display());
    let seed = cluster.seed().unwrap().to_string();
    let intruder = Node::start_with_db(
        "secret-intruder-node",
        &config(20),
        &db,
        &[
            "--node",
            "intruder",
            "--cluster",
            "127.0.0.1:0",
            "--cluster-secret",
            "not-the-right-secret-at-all",
            "--join",
            &seed,
        ],
    );
    std::thread::sleep(Duration::from_secs(2));
    let view = cluster.converged(2, &[]);
    assert!(!view.to_string().contains("intruder"), "{view}");
    let mut raw = std::net::TcpStream::connect(cluster.seed().unwrap()).unwrap();
    std::io::Write::write_all(&mut raw, b"\x00\x00\x00\x05\x07\x01junk").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(http(cluster.node(0).admin, "/healthz").contains("ok"));
    drop(intruder);
    let mut n0 = cluster.nodes.into_iter().next().unwrap().unwrap();
    n0.terminate();
    let log = n0.stderr();
    assert!(log.contains("cluster link refused"), "{log}");
    assert!(
        log.contains("cluster secret") || log.contains("version"),
        "{log}"
    );
}
