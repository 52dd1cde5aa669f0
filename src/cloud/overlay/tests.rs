use super::*;
use crate::cloud::simnet::{SimNet, name};

fn settings() -> Settings {
    Settings {
        probe_interval: 1_000,
        ..Settings::default()
    }
}

fn net(n: usize) -> SimNet {
    let mut net = SimNet::new(n, settings(), Box::new(|_, _| 1));
    net.run_until(5_000);
    net
}

/// The last remote state node `i` heard for `aor`.
fn remote(net: &SimNet, i: usize, aor: &str) -> Option<Option<String>> {
    net.events[i].iter().rev().find_map(|e| match e {
        Event::RemoteState { aor: a, state, .. } if a == aor => Some(state.clone()),
        _ => None,
    })
}

fn searches(net: &SimNet, i: usize) -> Vec<usize> {
    net.events[i]
        .iter()
        .filter_map(|e| match e {
            Event::SearchDone { messages, .. } => Some(*messages),
            _ => None,
        })
        .collect()
}

#[test]
fn every_node_converges_on_one_grid() {
    let net = net(9);
    let first = net.nodes[0].nodes();
    assert_eq!(first.len(), 9);
    for n in &net.nodes {
        assert_eq!(n.nodes(), first);
    }
}

#[test]
fn a_watcher_finds_a_presentity_outside_its_row_and_column() {
    let mut net = net(9);
    // ps00004 sits at row 1, column 1; ps00000 at row 0, column 0.
    net.with(0, |o, now| o.set_local(now, "p@x", Some("open")));
    net.run_until(6_000);
    net.with(4, |o, now| o.watch(now, "p@x"));
    net.run_until(7_000);
    assert_eq!(remote(&net, 4, "p@x"), Some(Some("open".into())));
    // One search, k − 1 = 2 messages.
    assert_eq!(searches(&net, 4), vec![2]);
    net.with(0, |o, now| o.set_local(now, "p@x", Some("busy")));
    net.run_until(8_000);
    assert_eq!(remote(&net, 4, "p@x"), Some(Some("busy".into())));
    assert_eq!(net.nodes[4].aggregated_subscriptions(), 1);
}

#[test]
fn a_presentity_that_attaches_later_is_found_by_the_standing_interest() {
    let mut net = net(9);
    net.with(4, |o, now| o.watch(now, "late@x"));
    net.run_until(6_000);
    assert_eq!(remote(&net, 4, "late@x"), None);
    // ps00008 (row 2, column 2) shares neither row nor column with 4.
    net.with(8, |o, now| o.set_local(now, "late@x", Some("open")));
    net.run_until(7_000);
    assert_eq!(remote(&net, 4, "late@x"), Some(Some("open".into())));
}

#[test]
fn a_partial_grid_finds_every_presentity_from_every_node() {
    for n in [2, 3, 5, 7, 8, 10] {
        let mut net = net(n);
        for i in 0..n {
            net.with(i, |o, now| {
                o.set_local(now, &format!("u{i}@x"), Some("open"))
            });
        }
        net.run_until(6_000);
        for i in 0..n {
            for j in (0..n).filter(|&j| j != i) {
                net.with(i, |o, now| o.watch(now, &format!("u{j}@x")));
            }
        }
        net.run_until(8_000);
        for i in 0..n {
            for j in (0..n).filter(|&j| j != i) {
                assert_eq!(
                    remote(&net, i, &format!("u{j}@x")),
                    Some(Some("open".into())),
                    "n={n}: {} does not see u{j}",
                    name(i)
                );
            }
        }
    }
}

#[test]
fn many_local_watchers_cost_one_inter_node_notify_per_change() {
    let mut net = net(9);
    net.with(0, |o, now| o.set_local(now, "p@x", Some("s0")));
    net.run_until(6_000);
    // Watching again (as every further local watcher does) is a no-op.
    for _ in 0..200 {
        net.with(4, |o, now| o.watch(now, "p@x"));
    }
    net.run_until(7_000);
    let before = net.count("notify");
    for v in 1..=10 {
        net.with(0, |o, now| o.set_local(now, "p@x", Some(&format!("s{v}"))));
        net.run_until(7_000 + v * 100);
    }
    assert_eq!(net.count("notify") - before, 10);
    assert_eq!(net.nodes[4].aggregated_subscriptions(), 1);
    assert_eq!(net.nodes[0].subscribers(), 1);
}

#[test]
fn a_dead_home_ends_the_remote_state_and_its_return_restores_it() {
    let mut net = net(9);
    net.with(8, |o, now| o.set_local(now, "p@x", Some("open")));
    net.run_until(6_000);
    net.with(4, |o, now| o.watch(now, "p@x"));
    net.run_until(7_000);
    assert_eq!(remote(&net, 4, "p@x"), Some(Some("open".into())));
    net.down.insert(8);
    net.run_until(12_000);
    assert_eq!(remote(&net, 4, "p@x"), Some(None));
    assert!(
        net.nodes[4]
            .nodes()
            .iter()
            .any(|v| v.name == name(8) && !v.alive)
    );
    // Restarted with its stored publication.
    net.restart(8, settings());
    net.with(8, |o, now| o.set_local(now, "p@x", Some("open")));
    net.run_until(16_000);
    assert_eq!(remote(&net, 4, "p@x"), Some(Some("open".into())));
}

#[test]
fn with_a_row_peer_dead_a_search_goes_through_its_column() {
    let mut net = net(9);
    net.with(8, |o, now| o.set_local(now, "p@x", Some("open")));
    net.run_until(6_000);
    // 5 is 4's row peer in column 2, where 8 lives.
    net.down.insert(5);
    net.run_until(10_000);
    net.with(4, |o, now| o.watch(now, "p@x"));
    net.run_until(11_000);
    assert_eq!(remote(&net, 4, "p@x"), Some(Some("open".into())));
    assert_eq!(searches(&net, 4), vec![2]);
}

#[test]
fn unwatching_drops_the_aggregated_subscription_and_the_interests() {
    let mut net = net(9);
    net.with(0, |o, now| o.set_local(now, "p@x", Some("open")));
    net.run_until(6_000);
    net.with(4, |o, now| o.watch(now, "p@x"));
    net.run_until(7_000);
    assert_eq!(net.nodes[0].subscribers(), 1);
    net.with(4, |o, _| o.unwatch("p@x"));
    net.run_until(8_000);
    assert_eq!(net.nodes[0].subscribers(), 0);
    assert_eq!(
        net.nodes.iter().map(|n| n.interests_held()).sum::<usize>(),
        0
    );
}

#[test]
fn a_small_cluster_probes_every_member_and_shares_reports() {
    let mut net = SimNet::new(9, settings(), Box::new(|_, _| 1));
    for i in 0..9 {
        net.with(i, |o, _| {
            o.set_report(Report {
                rtt_us: BTreeMap::from([("x".to_string(), i as u64)]),
                load: Load {
                    subscriptions: i as u64,
                    publications: 1,
                },
            })
        });
    }
    net.run_until(5_000);
    let peers: BTreeSet<&str> = net.nodes[4].rtt().keys().map(String::as_str).collect();
    assert_eq!(peers.len(), 8);
    assert!(net.nodes[4].rtt().values().all(|&r| r == 2));
    let reports = net.nodes[4].reports();
    assert_eq!(reports.len(), 9);
    assert_eq!(reports[&name(7)].load.subscriptions, 7);
    let view = net.nodes[4].nodes();
    assert_eq!(view[7].load.map(|l| l.subscriptions), Some(7));
}

#[test]
fn a_large_cluster_probes_only_the_ps_list() {
    let net = SimNet::new(36, settings(), Box::new(|_, _| 1));
    let mut net = net;
    net.run_until(6_000);
    // 36 nodes: a 6×6 grid, 2 × 5 PS peers.
    let probed: BTreeSet<String> = net.nodes[7].rtt().keys().cloned().collect();
    let ps: BTreeSet<String> = net.nodes[7]
        .grid()
        .ps_names(&name(7))
        .into_iter()
        .map(str::to_string)
        .collect();
    assert_eq!(probed, ps);
    assert_eq!(ps.len(), 10);
}

#[test]
fn a_preset_overlay_has_its_grid_at_once_and_sends_no_gossip() {
    let members: Vec<(String, String)> = (0..16).map(|i| (name(i), format!("addr{i}"))).collect();
    let mut o = Overlay::preset(&name(5), &members, Settings::default());
    assert_eq!(o.grid().len(), 16);
    assert_eq!(o.grid().ps_names(&name(5)).len(), 6);
    o.tick(1_000);
    assert!(o.take_output().iter().all(|(_, m)| m.kind() == "ping"));
}
