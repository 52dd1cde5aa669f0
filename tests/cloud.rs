//! PresenceCloud with the real binary on loopback (issue 5): clusters of
//! 9 nodes (a full 3×3 grid) and 7 (a partial one), watchers and
//! presentities spread over every node, aggregated subscriptions, search
//! costs read from each node's metrics, a node killed and restarted, and
//! links refused to peers without the cluster secret.
//!
//! Timings are shortened for the tests (see `support/cluster.rs`).

#[path = "support/cluster.rs"]
mod support;

use std::time::{Duration, Instant};

use presencecloud::simulate::{self, Arch, Plan, Workload};
use support::{Cluster, Node, Ua, config, http, json, metric};

/// Every node publishes one presentity; a watcher on every node watches
/// every other node's presentity; each sees the first state, then the
/// second.
fn everyone_sees_everyone(test: &str, n: usize) {
    let cluster = Cluster::start(test, n, 100);
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
    let cluster = Cluster::start("aggregate", 9, 100);
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
        // batch delay (100 ms): PUBLISHes closer than that share a batch.
        std::thread::sleep(Duration::from_millis(300));
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

/// The simulator and a real 9-node cluster count the same search messages
/// for the same workload (same grid, homes, buddy lists and arrival
/// order): `presencecloud simulate` runs the overlay code the nodes run.
#[test]
fn the_simulator_counts_the_search_messages_a_real_cluster_sends() {
    let w = Workload {
        nodes: 9,
        users: 16,
        buddies: 3,
        seed: 11,
    };
    let plan = Plan::new(&w);
    let row = simulate::simulate(Arch::PresenceCloud, &w);
    let simulated = (row.search_msgs_per_arrival * w.users as f64).round();
    // A batch delay long enough that an arrival's SUBSCRIBEs share one
    // search, as they do in the simulator, even on a loaded machine.
    let cluster = Cluster::start("simulated", 9, 500);
    let mut ua = Ua::new();
    for (j, (&home, buddies)) in plan.homes.iter().zip(&plan.buddies).enumerate() {
        let user = format!("u{j}");
        ua.publish(cluster.sip(home), &user, "open", &format!("{user}-on"));
        for &b in buddies {
            ua.subscribe(cluster.sip(home), &format!("u{b}"), &format!("a{j}-u{b}"));
        }
        // Quiet before the next arrival, as the simulator waits for it.
        std::thread::sleep(Duration::from_millis(900));
    }
    let real: f64 = (0..9)
        .map(|i| {
            metric(
                cluster.admin(i),
                "presencecloud_cloud_messages_total",
                &[("type", "search"), ("direction", "out")],
            )
        })
        .sum();
    eprintln!("search messages: simulated {simulated}, real cluster {real}");
    let deaths: f64 = (0..9)
        .map(|i| {
            metric(
                cluster.admin(i),
                "presencecloud_cloud_messages_total",
                &[("type", "resync")],
            )
        })
        .sum();
    assert_eq!(deaths, 0.0, "no cache resync: the membership stayed steady");
    assert!(simulated > 0.0);
    assert_eq!(real, simulated);
}
