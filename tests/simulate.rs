//! `presencecloud simulate`, run as the built binary: the CSV it writes,
//! the search costs of the three architectures against their formulas
//! (DESIGN.md, "Cost to measure"), the plot and the argument errors.
//!
//! The full sweep (n = 16..4096, all three architectures) is too slow for
//! the debug profile; it is timed in release by hand:
//! `cargo run --release -- simulate --arch all --sweep` (see
//! src/cloud/simulate.rs).

use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_presencecloud");
const HEADER: &str =
    "arch,nodes,users,buddies,search_msgs_per_arrival,total_msgs,mean_search_hops,p99_search_ms";

#[derive(Debug, Clone)]
struct Line {
    arch: String,
    nodes: usize,
    users: usize,
    buddies: usize,
    search: f64,
    total: u64,
    hops: f64,
    p99: u64,
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("presencecloud-simulate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn simulate(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("simulate")
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Runs the simulator with `args` and reads back its CSV.
fn csv(name: &str, args: &[&str]) -> Vec<Line> {
    let path = scratch(name);
    let mut all = args.to_vec();
    let p = path.to_str().unwrap();
    all.extend(["--csv", p]);
    let out = simulate(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(HEADER));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 8, "{l}");
            Line {
                arch: f[0].into(),
                nodes: f[1].parse().unwrap(),
                users: f[2].parse().unwrap(),
                buddies: f[3].parse().unwrap(),
                search: f[4].parse().unwrap(),
                total: f[5].parse().unwrap(),
                hops: f[6].parse().unwrap(),
                p99: f[7].parse().unwrap(),
            }
        })
        .collect()
}

fn k(n: usize) -> usize {
    (1..).find(|k| k * k >= n).unwrap()
}

#[test]
fn all_three_architectures_write_one_csv_line_each_with_their_costs() {
    let lines = csv(
        "all.csv",
        &[
            "--arch",
            "all",
            "--nodes",
            "64",
            "--users",
            "128",
            "--buddies",
            "10",
            "--seed",
            "3",
        ],
    );
    let archs: Vec<&str> = lines.iter().map(|l| l.arch.as_str()).collect();
    assert_eq!(archs, ["mesh", "dht", "presencecloud"]);
    for l in &lines {
        assert_eq!((l.nodes, l.users, l.buddies), (64, 128, 10), "{l:?}");
        assert!(l.total > 0 && l.p99 > 0 && l.p99 <= 2 * 50 * 64, "{l:?}");
    }
    let (mesh, dht, pc) = (&lines[0], &lines[1], &lines[2]);
    assert_eq!(mesh.search, 63.0);
    assert_eq!(mesh.hops, 1.0);
    // Round trips of 2 to 100 ms; the slowest of 63 peers.
    assert!(mesh.p99 <= 100);
    assert!(pc.search <= (k(64) - 1) as f64, "{pc:?}");
    assert_eq!(pc.hops, 1.0);
    assert!(pc.p99 <= 100, "{pc:?}");
    assert!(pc.search < dht.search && dht.search < mesh.search);
}

#[test]
fn presencecloud_searches_cost_k_minus_1_messages() {
    // Two users, one buddy each: both arrivals search for a buddy their
    // home does not know yet, so each costs exactly k − 1 (full and
    // partial grids).
    for n in [2, 7, 9, 10, 50, 100] {
        let ns = n.to_string();
        let lines = csv(
            &format!("pc{n}.csv"),
            &[
                "--arch",
                "presencecloud",
                "--nodes",
                &ns,
                "--users",
                "2",
                "--buddies",
                "1",
            ],
        );
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].search, (k(n) - 1) as f64, "n={n}: {:?}", lines[0]);
    }
    // Many users: never more than k − 1 per arrival (an arrival whose
    // buddies its home already watches costs nothing).
    for n in [16, 30, 144] {
        let ns = n.to_string();
        let lines = csv(
            &format!("pcmany{n}.csv"),
            &["--arch", "presencecloud", "--nodes", &ns, "--seed", "11"],
        );
        let l = &lines[0];
        assert_eq!(l.users, 2 * n);
        assert!(l.search <= (k(n) - 1) as f64, "n={n}: {l:?}");
        assert!(l.search > 0.9 * (k(n) - 1) as f64, "n={n}: {l:?}");
    }
}

#[test]
fn mesh_asks_every_other_node_and_dht_grows_with_log_n() {
    let lines = [
        csv(
            "sweep-mesh.csv",
            &[
                "--arch", "mesh", "--sweep", "--nodes", "1024", "--users", "300",
            ],
        ),
        csv(
            "sweep-dht.csv",
            &[
                "--arch", "dht", "--sweep", "--nodes", "1024", "--users", "300",
            ],
        ),
    ]
    .concat();
    let ns: Vec<usize> = lines
        .iter()
        .filter(|l| l.arch == "mesh")
        .map(|l| l.nodes)
        .collect();
    assert_eq!(ns, [16, 32, 64, 128, 256, 512, 1024]);
    for l in lines.iter().filter(|l| l.arch == "mesh") {
        assert_eq!(l.search, (l.nodes - 1) as f64, "{l:?}");
    }
    let dht: Vec<&Line> = lines.iter().filter(|l| l.arch == "dht").collect();
    for l in &dht {
        // Chord: about ½·log2 n hops per lookup, B lookups per arrival.
        let log = (l.nodes as f64).log2();
        assert!(l.hops >= 0.3 * log && l.hops <= 0.5 * log + 2.0, "{l:?}");
        assert!(l.search <= l.buddies as f64 * l.hops + 1e-9, "{l:?}");
    }
    // Doubling n adds about half a hop: from 16 to 1024 (six doublings)
    // the cost per lookup grows by 1.5 to 4.5 hops, far from linear.
    let (first, last) = (dht[0], dht[dht.len() - 1]);
    let growth = last.hops - first.hops;
    assert!((1.5..=4.5).contains(&growth), "{first:?} {last:?}");
    assert!(last.search < 3.0 * first.search);
}

#[test]
fn svg_plots_search_messages_of_each_architecture() {
    let path = scratch("plot.svg");
    let p = path.to_str().unwrap();
    let out = simulate(&[
        "--sweep",
        "--nodes",
        "64",
        "--users",
        "40",
        "--buddies",
        "4",
        "--svg",
        p,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg"));
    for arch in ["mesh", "dht", "presencecloud"] {
        assert!(svg.contains(arch), "no {arch} in the legend");
    }
    assert!(svg.matches("<polyline").count() >= 3);
    // The table on stdout names every run.
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        table
            .lines()
            .filter(|l| l.starts_with("presencecloud ") && !l.contains("n="))
            .count(),
        3
    );
}

#[test]
fn bad_arguments_are_one_line_errors() {
    for (args, want) in [
        (vec!["--nodes", "1"], "--nodes must be between 2 and 4096"),
        (
            vec!["--nodes", "5000"],
            "--nodes must be between 2 and 4096",
        ),
        (
            vec!["--nodes", "16", "--buddies", "0"],
            "--buddies must be at least 1",
        ),
        (
            vec!["--nodes", "16", "--users", "5", "--buddies", "5"],
            "--buddies (5) must be less than the number of users (5)",
        ),
        (
            vec!["--nodes", "16", "--users", "1"],
            "--users must be at least 2",
        ),
        (
            vec!["--sweep", "--nodes", "8"],
            "--nodes with --sweep must be between 16",
        ),
        (vec!["--arch", "ring"], "invalid value 'ring' for '--arch"),
        (vec!["--nodes", "many"], "invalid value 'many' for '--nodes"),
    ] {
        let out = simulate(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // The baselines alone go past the overlay's limit.
    let out = simulate(&["--arch", "mesh", "--nodes", "5000", "--users", "20"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
