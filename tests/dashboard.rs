//! The admin dashboard (issue 6, acceptance 4) in a real browser: a 4-node
//! PresenceCloud on loopback with presence traffic, the page at `GET /` on
//! pc0's admin port loaded in headless Chromium (Debian's `chromium`,
//! which tests/run-all.sh installs), assertions on the DOM it dumps after
//! a few polls, and a screenshot kept as a test artifact in
//! `target/test-artifacts/dashboard.png`.

#[path = "support/cluster.rs"]
mod support;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::{Cluster, Ua};

const CHROMIUM: &str = "/usr/bin/chromium";
const NAMES: [&str; 4] = ["pc0", "pc1", "pc2", "pc3"];

#[test]
fn the_dashboard_shows_grid_rtt_matrix_latency_and_busiest_presentities() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: this test loads the dashboard in headless Chromium. \
         Install Debian's chromium (`apt-get install -y chromium`, as tests/run-all.sh does)."
    );
    let cluster = Cluster::start("dashboard", 4, 20);
    let admin = cluster.admin(0);
    let sip: Vec<_> = (0..4).map(|i| cluster.sip(i)).collect();

    // alice lives on pc0 (the node serving the page) with three watchers
    // (on pc0, pc1, pc2); bob lives on pc2 with two (on pc0, pc3).
    let mut publisher = Ua::new();
    publisher.publish(sip[0], "alice", "open", "a0");
    publisher.publish(sip[2], "bob", "open", "b0");
    let mut watchers = Ua::new();
    let alice = ["w0-alice", "w1-alice", "w2-alice"];
    for (i, call) in alice.iter().enumerate() {
        watchers.subscribe(sip[i], "alice", call);
    }
    watchers.subscribe(sip[0], "bob", "w0-bob");
    watchers.subscribe(sip[3], "bob", "w3-bob");
    let all_see =
        |u: &Ua, calls: &[&str], note: &str| calls.iter().all(|c| u.last(c).contains(note));
    assert!(
        watchers.until(Duration::from_secs(10), |u| all_see(u, &alice, "a0")
            && all_see(u, &["w0-bob", "w3-bob"], "b0")),
        "the watchers did not get the first states: {:#?}",
        watchers.notifies
    );

    // Presence traffic for as long as the browser looks: alice changes
    // every ~300 ms and her watchers answer, so pc0 keeps finishing
    // notification transactions.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let stop = stop.clone();
        let home = sip[0];
        std::thread::spawn(move || {
            let mut v = 1;
            while !stop.load(Ordering::Relaxed) {
                let note = format!("a{v}");
                publisher.publish(home, "alice", "open", &note);
                watchers.until(Duration::from_secs(2), |u| all_see(u, &alice, &note));
                std::thread::sleep(Duration::from_millis(300));
                v += 1;
            }
            v
        })
    };

    // The API has what the page needs before the browser looks.
    wait_for(admin, "/api/nodes", Duration::from_secs(15), |v| {
        let nodes = v.as_array()?;
        (nodes.len() == 4 && nodes.iter().all(|n| n["load"].is_object())).then_some(())
    });
    let rtt = wait_for(admin, "/api/rtt", Duration::from_secs(30), |v| {
        let m = v.get("matrix")?;
        let full = NAMES.iter().all(|from| {
            NAMES
                .iter()
                .filter(|to| *to != from)
                .all(|to| m[from][to].is_number())
        });
        full.then(|| m.clone())
    });
    eprintln!("RTT matrix on pc0 (us): {rtt}");
    wait_for(
        admin,
        "/api/transactions?kind=notification",
        Duration::from_secs(15),
        |v| {
            v.as_array()?
                .iter()
                .any(|r| r["completed"] == true)
                .then_some(())
        },
    );
    wait_for(
        admin,
        "/api/presentities?limit=10",
        Duration::from_secs(15),
        |v| {
            v.as_array()?
                .iter()
                .any(|p| p["aor"].as_str().is_some_and(|a| a.contains("alice")))
                .then_some(())
        },
    );

    let url = format!("http://{admin}/");
    let dom = chromium(&["--dump-dom"], &url);
    let artifacts = target_dir().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(artifacts.join("dashboard.html"), &dom).unwrap();

    // 1. The grid: the four nodes, alive, with their load.
    let cells: Vec<Elem> = elements(&dom, "div")
        .into_iter()
        .filter(|e| e.has_class("node") && e.attrs.contains_key("data-name"))
        .collect();
    let mut seen: Vec<&str> = cells
        .iter()
        .map(|e| e.attrs["data-name"].as_str())
        .collect();
    seen.sort();
    assert_eq!(seen, NAMES, "grid cells: {cells:#?}");
    for c in &cells {
        assert_eq!(c.attrs["data-alive"], "true", "{c:?}");
        for load in ["data-subscriptions", "data-publications"] {
            assert!(c.attrs[load].parse::<u64>().is_ok(), "{load} of {c:?}");
        }
    }
    let pc0 = cells
        .iter()
        .find(|c| c.attrs["data-name"] == "pc0")
        .unwrap();
    assert!(
        pc0.has_class("self"),
        "pc0 is marked as the serving node: {pc0:?}"
    );

    // 2. The RTT heat map: a number (ms, 2 decimals) for every pair.
    let rtt_cells: HashMap<(String, String), Elem> = elements(&dom, "td")
        .into_iter()
        .filter_map(|e| {
            let key = (
                e.attrs.get("data-from")?.clone(),
                e.attrs.get("data-to")?.clone(),
            );
            Some((key, e))
        })
        .collect();
    assert_eq!(rtt_cells.len(), 16, "a 4×4 matrix: {rtt_cells:#?}");
    for from in NAMES {
        for to in NAMES.iter().filter(|to| **to != from) {
            let cell = &rtt_cells[&(from.to_string(), to.to_string())];
            let ms: f64 = cell
                .text
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("RTT {from} → {to} is not a number: {cell:?}"));
            assert!(
                ms >= 0.0 && cell.text.trim().split_once('.').map(|(_, d)| d.len()) == Some(2),
                "RTT {from} → {to}: {cell:?}"
            );
            assert!(
                cell.attrs.get("style").is_some_and(|s| s.contains("hsl(")),
                "the cell is coloured: {cell:?}"
            );
        }
    }

    // 3. Notification latency: the chart and the current percentiles.
    assert!(
        dom.contains("<div id=\"latency\"><svg"),
        "no latency chart in the page"
    );
    let p50 = elements(&dom, "span")
        .into_iter()
        .find(|e| e.attrs.get("data-p").is_some_and(|p| p == "p50"))
        .unwrap_or_else(|| panic!("no p50 shown: {}", section(&dom, "latency-panel")));
    assert!(p50.attrs["data-value"].parse::<f64>().is_ok(), "{p50:?}");
    assert!(
        elements(&dom, "polyline")
            .iter()
            .any(|e| e.attrs.get("data-series").is_some_and(|s| s == "p50")),
        "no p50 line in the chart: {}",
        section(&dom, "latency-panel")
    );

    // 4. The busiest presentities: alice, with her watchers.
    let rows: Vec<Elem> = elements(&dom, "tr")
        .into_iter()
        .filter(|e| e.attrs.contains_key("data-aor"))
        .collect();
    let row = rows
        .iter()
        .find(|r| r.attrs["data-aor"].contains("alice"))
        .unwrap_or_else(|| panic!("alice is not in the busiest table: {rows:#?}"));
    assert!(
        row.attrs["data-watchers"].parse::<u64>().unwrap() >= 1,
        "{row:?}"
    );

    // The page did poll, and every endpoint answered.
    let updated = elements(&dom, "span")
        .into_iter()
        .find(|e| e.attrs.get("id").is_some_and(|i| i == "updated"))
        .expect("#updated");
    assert!(
        updated.text.starts_with("updated ") && !updated.attrs["data-at"].is_empty(),
        "{updated:?}"
    );
    let polls: u32 = updated.attrs["data-polls"].parse().unwrap();
    assert!(polls >= 2, "the page polled only {polls} times");
    let status = elements(&dom, "div")
        .into_iter()
        .find(|e| e.attrs.get("id").is_some_and(|i| i == "status"))
        .expect("#status");
    assert!(
        status.text.trim().is_empty(),
        "an endpoint failed: {status:?}"
    );

    // The screenshot, kept as the test's artifact.
    let png = artifacts.join("dashboard.png");
    let _ = std::fs::remove_file(&png);
    chromium(
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,1000",
            "--hide-scrollbars",
        ],
        &url,
    );
    let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot at {png:?}: {e}"));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR",
        "not a PNG"
    );
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 1000));
    // A blank page of that size compresses to a few kB.
    assert!(
        bytes.len() > 30_000,
        "the screenshot is suspiciously small ({} bytes)",
        bytes.len()
    );
    eprintln!("screenshot: {} ({} bytes)", png.display(), bytes.len());

    stop.store(true, Ordering::Relaxed);
    let publishes = traffic.join().expect("the traffic thread");
    eprintln!("alice changed {publishes} times during the test");
}

/// Polls `path` until `done` returns something; fails after `wait`.
fn wait_for<T>(
    admin: std::net::SocketAddr,
    path: &str,
    wait: Duration,
    done: impl Fn(&serde_json::Value) -> Option<T>,
) -> T {
    let deadline = Instant::now() + wait;
    loop {
        let page = support::http(admin, path);
        let body = page.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        let value = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
        if let Some(t) = done(&value) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "{path} on pc0 did not get there in {wait:?}; last answer:\n{page}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Where cargo builds: `CARGO_TARGET_DIR`, or `target/` in the crate.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// Runs headless Chromium on `url` with `args` (8 s of virtual time, so
/// the page polls about eight times) and returns its stdout. Fails after
/// 90 s of real time.
fn chromium(args: &[&str], url: &str) -> String {
    let profile = support::scratch(&format!("dashboard-chromium-{}", args.len()));
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--virtual-time-budget=8000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{CHROMIUM} does not start: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium {args:?} did not finish in 90 s: {}",
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        status.success(),
        "chromium {args:?} failed ({status}): {err}"
    );
    out
}

/// An element of the dumped DOM: its attributes and its text (tags
/// stripped, up to the first closing tag of its name, so nested elements
/// of the same name cut it short).
#[derive(Debug)]
struct Elem {
    attrs: HashMap<String, String>,
    text: String,
}

impl Elem {
    fn has_class(&self, class: &str) -> bool {
        self.attrs
            .get("class")
            .is_some_and(|c| c.split_whitespace().any(|x| x == class))
    }
}

/// Every `<tag ...>` in `dom`, as Chromium serializes it (attribute values
/// in double quotes, `&quot;` and `&amp;` escaped).
fn elements(dom: &str, tag: &str) -> Vec<Elem> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(i) = dom[at..].find(&open) {
        let start = at + i + open.len();
        at = start;
        if !dom[start..].starts_with([' ', '>', '/', '\n']) {
            continue;
        }
        let (attrs, end) = attributes(&dom[start..]);
        let body = &dom[start + end..];
        let inner = &body[..body.find(&close).unwrap_or(0)];
        found.push(Elem {
            attrs,
            text: unescape(&strip_tags(inner)),
        });
    }
    found
}

/// The attributes of a start tag whose name was just read, and the offset
/// past its `>`.
fn attributes(s: &str) -> (HashMap<String, String>, usize) {
    let mut attrs = HashMap::new();
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && (b[i] as char).is_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            return (attrs, i);
        }
        if b[i] == b'>' {
            return (attrs, i + 1);
        }
        if b[i] == b'/' {
            i += 1;
            continue;
        }
        let name_start = i;
        while i < b.len() && !matches!(b[i], b'=' | b'>' | b' ' | b'/') {
            i += 1;
        }
        let name = s[name_start..i].to_string();
        let mut value = String::new();
        if i < b.len() && b[i] == b'=' && i + 1 < b.len() && b[i + 1] == b'"' {
            let v_start = i + 2;
            let v_end = v_start + s[v_start..].find('"').unwrap_or(s.len() - v_start);
            value = unescape(&s[v_start..v_end]);
            i = (v_end + 1).min(b.len());
        }
        attrs.insert(name, value);
    }
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The `<section id=...>` of the dump, for failure messages.
fn section<'a>(dom: &'a str, id: &str) -> &'a str {
    let Some(i) = dom.find(&format!("<section id=\"{id}\"")) else {
        return "";
    };
    let rest = &dom[i..];
    &rest[..rest.find("</section>").map_or(rest.len(), |j| j + 10)]
}
