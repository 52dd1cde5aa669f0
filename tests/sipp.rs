//! SIPp, the tool testers load presencecloud with, against the real binary
//! (OPTIONS pings; the publisher, watcher and combined scenarios over UDP
//! and TCP):
//! the scenarios in sipp-scenarios/ must run with no failed call. SIPp comes
//! from Debian's sip-tester package; tests/run-all.sh installs it.

#[path = "support/node.rs"]
mod support;

use std::process::Command;

fn sipp(args: &[&str]) -> std::process::Output {
    Command::new("sipp")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("sipp is needed (apt-get install -y sip-tester, or run tests/run-all.sh): {e}")
        })
}

fn run_options(transport_flag: &str, target: std::net::SocketAddr) {
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/sipp-scenarios/options.xml");
    let target = target.to_string();
    let out = sipp(&[
        "-sf",
        scenario,
        "-t",
        transport_flag,
        "-i",
        "127.0.0.1",
        "-p",
        "0",
        "-m",
        "200",
        "-r",
        "100",
        "-l",
        "50",
        "-timeout",
        "60s",
        "-timeout_error",
        "-nostdin",
        "-trace_err",
        "-error_file",
        "/dev/stderr",
        &target,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sipp over {transport_flag} failed ({}):\n{}\n{}",
        out.status,
        text.lines().rev().take(40).collect::<Vec<_>>().join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sipp_options_over_udp_and_tcp() {
    let node = support::Node::start("sipp", "[log]\nlevel = \"warn\"\n", &[]);
    run_options("u1", node.udp);
    run_options("t1", node.tcp);
}

/// Runs a scenario of sipp-scenarios/ through run.sh and returns how many
/// calls succeeded.
fn run_script(
    scenario: &str,
    transport_flag: &str,
    target: std::net::SocketAddr,
    calls: u32,
) -> u32 {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/sipp-scenarios/run.sh");
    let out = Command::new(script)
        .args([
            scenario,
            &target.to_string(),
            "-t",
            transport_flag,
            "-i",
            "127.0.0.1",
            "-p",
            "0",
        ])
        .args(["-m", &calls.to_string(), "-r", "50", "-l", "20"])
        .env("USERS", "40")
        .output()
        .unwrap_or_else(|e| panic!("run.sh needs sipp (apt-get install -y sip-tester): {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{scenario} over {transport_flag} failed ({}):\n{}\n{}",
        out.status,
        text.lines().rev().take(40).collect::<Vec<_>>().join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    // The final statistics screen: "Successful call | <periodic> | <cumulative>".
    text.lines()
        .rev()
        .find(|l| l.contains("Successful call"))
        .and_then(|l| l.rsplit('|').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn sipp_publisher_and_watcher_over_udp_and_tcp() {
    let node = support::Node::start("sipp-presence", "[log]\nlevel = \"warn\"\n", &[]);
    for (flag, addr) in [("u1", node.udp), ("t1", node.tcp)] {
        assert_eq!(
            run_script("publisher.xml", flag, addr, 40),
            40,
            "publisher over {flag}"
        );
        assert_eq!(
            run_script("watcher.xml", flag, addr, 40),
            40,
            "watcher over {flag}"
        );
        assert_eq!(
            run_script("combined.xml", flag, addr, 40),
            40,
            "combined over {flag}"
        );
    }
}
