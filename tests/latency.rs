//! `presencecloud latency` against what a client measures from outside.
//!
//! A real node writes its latency records to a CSV file while SIPp
//! (sipp-scenarios/notify-latency.xml, over UDP on loopback) subscribes to
//! a presentity, publishes to it twice and answers each NOTIFY after a
//! uniform 0-60 ms think time, with response-time timers and `-trace_rtt`:
//!
//! - SIPp measures from sending the PUBLISH to sending its 200 to the
//!   NOTIFY that carries the change;
//! - the node measures from accepting that PUBLISH to receiving that 200.
//!
//! The two intervals differ by two short legs: SIPp's includes the PUBLISH
//! reaching the node and being handled (the node stamps after handling
//! it), the node's includes the 200 reaching it. Both are well under a
//! millisecond on loopback, so on average SIPp reads the same or slightly
//! higher (about 1 ms with a debug build). The think time spreads the
//! latencies over tens of milliseconds, so that percentiles on both sides
//! have something to agree on.
//!
//! Tolerance, for p50, p90 and p99, |ours - SIPp| <= tick + 3 ms, where:
//! - tick is the resolution of SIPp's clock: SIPp 3.6 stamps its timers
//!   with CLOCK_MONOTONIC_COARSE, which advances by the kernel tick (4 ms
//!   at HZ=250), so each of its measures is off by less than a tick; it is
//!   read from the data (the greatest common divisor of SIPp's measures);
//! - 1 ms: the node's records are whole milliseconds (two truncated
//!   stamps);
//! - 2 ms: the two legs above and scheduling on a shared, busy machine
//!   (a debug build, other tests running).
//!
//! The max is a single sample: one scheduling delay on one leg (the node
//! or SIPp descheduled for a time slice while the other side waits) moves
//! it on one side only, so it gets tick + 10 ms.
//!
//! The load is bounded: 200 calls (400 notifications, 200 subscriptions)
//! at 100 calls/s, at most 50 at once, 120 s SIPp timeout, loopback only.

#[path = "support/node.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const CALLS: usize = 200;

fn presencecloud(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_presencecloud"))
        .args(args)
        .output()
        .expect("the presencecloud binary runs")
}

/// The columns of one kind's line of the report: count, completed,
/// timed_out, p50, p90, p99, max (None for `-`).
fn report_line(report: &str, kind: &str) -> Vec<Option<u64>> {
    let line = report
        .lines()
        .find(|l| l.split_whitespace().next() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind} line in the report:\n{report}"));
    line.split_whitespace()
        .skip(1)
        .map(|v| v.parse().ok())
        .collect()
}

fn nearest_rank(sorted: &[f64], p: usize) -> f64 {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// SIPp's measures of one timer, in milliseconds, sorted
/// (`Date_ms;response_time_ms;rtd_no` lines).
fn sipp_measures(rtt_csv: &str, timer: &str) -> Vec<f64> {
    let mut v: Vec<f64> = rtt_csv
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split(';').collect();
            (f.len() == 3 && f[2] == timer).then(|| f[1].parse::<f64>().unwrap())
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

fn csv_count(path: &Path, kind: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split(',').nth(1) == Some(kind))
        .count()
}

#[test]
fn notification_percentiles_agree_with_sipp() {
    let dir = support::scratch("latency-sipp");
    let records = dir.join("records.csv");
    let config = format!(
        "[log]\nlevel = \"warn\"\n[telemetry]\nrecords_csv = \"{}\"\n",
        records.display()
    );
    let node = support::Node::start("latency", &config, &[]);

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/sipp-scenarios/run.sh");
    let out = Command::new(script)
        .current_dir(&dir)
        .args(["notify-latency.xml", &node.udp.to_string()])
        .args(["-t", "u1", "-i", "127.0.0.1", "-p", "0"])
        .args(["-m", &CALLS.to_string(), "-r", "100", "-l", "50"])
        .args(["-trace_rtt", "-rtt_freq", "1"])
        .env("USERS", CALLS.to_string())
        .output()
        .unwrap_or_else(|e| panic!("run.sh needs sipp (apt-get install -y sip-tester): {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sipp failed ({}):\n{}\n{}",
        out.status,
        text.lines().rev().take(40).collect::<Vec<_>>().join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );

    // SIPp's last 200 may still be on its way: wait for every record.
    let deadline = Instant::now() + Duration::from_secs(10);
    while csv_count(&records, "notification") < 2 * CALLS
        || csv_count(&records, "subscription") < CALLS
    {
        assert!(
            Instant::now() < deadline,
            "the node wrote {} notification and {} subscription records, not {} and {CALLS}",
            csv_count(&records, "notification"),
            csv_count(&records, "subscription"),
            2 * CALLS
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Ours: the report from the records file.
    let report = presencecloud(&["latency", "--records", records.to_str().unwrap()]);
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let report = String::from_utf8(report.stdout).unwrap();
    println!("presencecloud latency --records:\n{report}");

    // The same report from the running node's admin API (it keeps the
    // latest 1000 records; this run made 600).
    let api = presencecloud(&["latency", "--admin", &node.admin.to_string()]);
    assert!(
        api.status.success(),
        "{}",
        String::from_utf8_lossy(&api.stderr)
    );
    assert_eq!(String::from_utf8(api.stdout).unwrap(), report);

    // Theirs: SIPp's response times.
    let rtt_file = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with("_rtt.csv"))
        .expect("sipp wrote its -trace_rtt file");
    let rtt = std::fs::read_to_string(&rtt_file).unwrap();
    let mut tick_us = 0;
    for timer in ["notification", "subscription"] {
        for v in sipp_measures(&rtt, timer) {
            tick_us = gcd(tick_us, (v * 1000.0).round() as u64);
        }
    }
    let tick = tick_us as f64 / 1000.0;
    let (tolerance, tolerance_max) = (tick + 3.0, tick + 10.0);
    println!(
        "SIPp clock tick {tick} ms, tolerance {tolerance} ms (p50, p90, p99), {tolerance_max} ms (max)"
    );

    for (kind, expected) in [("notification", 2 * CALLS), ("subscription", CALLS)] {
        let theirs = sipp_measures(&rtt, kind);
        assert_eq!(theirs.len(), expected, "SIPp's {kind} measures");
        let ours = report_line(&report, kind);
        assert_eq!(
            ours[..3],
            [Some(expected as u64), Some(expected as u64), Some(0)],
            "{kind}: count, completed, timed out"
        );
        let sipp = [
            nearest_rank(&theirs, 50),
            nearest_rank(&theirs, 90),
            nearest_rank(&theirs, 99),
            *theirs.last().unwrap(),
        ];
        println!(
            "{kind}: ours p50/p90/p99/max {:?}, SIPp {sipp:?}",
            &ours[3..]
        );
        for (name, (o, s)) in ["p50", "p90", "p99", "max"]
            .iter()
            .zip(ours[3..].iter().zip(sipp))
        {
            let o = o.expect("a percentile") as f64;
            let tolerance = if *name == "max" {
                tolerance_max
            } else {
                tolerance
            };
            assert!(
                (o - s).abs() <= tolerance,
                "{kind} {name}: ours {o} ms, SIPp {s} ms, tolerance {tolerance} ms\n{report}"
            );
        }
    }
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn latency_errors_are_one_line() {
    let dir = support::scratch("latency-errors");
    let missing = dir.join("missing.csv");
    let out = presencecloud(&["latency", "--records", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "presencecloud: cannot read {}: No such file or directory (os error 2)\n",
            missing.display()
        )
    );

    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "started_ms,kind,origin,peer,status,completed,correlator,duration_ms\n\
         1,notification,n,w,200,true,c1,5\n\
         2,notification,n,w,200,true,c2,soon\n",
    )
    .unwrap();
    let out = presencecloud(&["latency", "--records", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "presencecloud: {}: line 3: duration_ms: \"soon\" is not a whole number\n",
            bad.display()
        )
    );

    // A good file: the table.
    let good = dir.join("good.csv");
    std::fs::write(
        &good,
        "started_ms,kind,origin,peer,status,completed,correlator,duration_ms\n\
         1,notification,n,w,200,true,c1,5\n\
         2,notification,n,w,0,false,c2,60000\n",
    )
    .unwrap();
    let out = presencecloud(&["latency", "--records", good.to_str().unwrap()]);
    assert!(out.status.success());
    let report = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        report_line(&report, "notification"),
        [
            Some(2),
            Some(1),
            Some(1),
            Some(5),
            Some(5),
            Some(5),
            Some(5)
        ]
    );

    // Neither source, or both: a usage error.
    let out = presencecloud(&["latency"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "presencecloud: latency reads --records FILE or --admin HOST:PORT\n"
    );
    let out = presencecloud(&[
        "latency",
        "--records",
        good.to_str().unwrap(),
        "--admin",
        "127.0.0.1:1",
    ]);
    assert_eq!(out.status.code(), Some(2));

    // Nothing listening there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let out = presencecloud(&["latency", "--admin", &addr.to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!("presencecloud: cannot connect to {addr}:"))
            && err.lines().count() == 1,
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
