//! Parser throughput: presencecloud's zero-copy parser against rsip 0.4 on
//! the same corpus in the same run (this machine is noisy, so only ratios
//! measured side by side mean anything).
//!
//! Corpora: "realistic" (tests/data/corpus: SUBSCRIBE, NOTIFY with PIDF,
//! PUBLISH, INVITE with SDP, 200 OK; plus the RFC 3856/3857/3903/4662 wire
//! examples) and "rfc4475-valid" (the torture messages RFC 4475 calls valid).
//!
//! Run: `cargo bench --bench parser`. Criterion measures each parser; the
//! summary at the end interleaves the parsers in rounds and prints
//! messages/s, MB/s and the ratio, plus the messages rsip fails to parse.
//! Both parsers are measured twice. Reading: ours frames the message,
//! recognises every header name and types the Request-URI, values typed on
//! first use (`parse_lazy`, what the server does first); rsip parses into
//! headers holding untyped strings. Checking: ours types and checks every
//! typed header (`parse`); rsip parses and types every header it can among
//! those we type. Ratios are computed on the messages both parsers accept:
//! a parser that fails early on a message would otherwise look faster.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use rsip::prelude::*;

struct Corpus {
    name: &'static str,
    messages: Vec<(String, Vec<u8>)>,
}

impl Corpus {
    fn bytes(&self) -> usize {
        self.messages.iter().map(|(_, m)| m.len()).sum()
    }
}

fn read_dir(dir: &Path, ext: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

fn corpora() -> Vec<Corpus> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut realistic = read_dir(&data.join("corpus"), "sip");
    realistic.extend(read_dir(&data.join("rfc-examples/wire"), "sip"));
    let manifest = std::fs::read_to_string(data.join("rfc4475/MANIFEST.tsv")).unwrap();
    let valid: Vec<&str> = manifest
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.get(2) == Some(&"valid")).then_some(f[0])
        })
        .collect();
    let torture = read_dir(&data.join("rfc4475"), "dat")
        .into_iter()
        .filter(|(n, _)| valid.contains(&n.trim_end_matches(".dat")))
        .collect();
    vec![
        Corpus {
            name: "realistic",
            messages: realistic,
        },
        Corpus {
            name: "rfc4475-valid",
            messages: torture,
        },
    ]
}

/// What the server does with every message first: read it, header values
/// typed when used (`parse_lazy`, RFC 3261 §16.3 step 1).
fn ours(m: &[u8]) -> bool {
    accepted(presencecloud::sip::parse_lazy(m))
}

/// Read and every typed header checked against its grammar (`parse`): what
/// a message the server handles itself costs in all.
fn ours_checked(m: &[u8]) -> bool {
    accepted(presencecloud::sip::parse(m))
}

fn accepted(
    parsed: Result<presencecloud::sip::Message<'_>, presencecloud::sip::ParseError>,
) -> bool {
    parsed.map(black_box).is_ok()
}

fn rsip_parse(m: &[u8]) -> bool {
    match rsip::SipMessage::try_from(m) {
        Ok(msg) => {
            black_box(&msg);
            true
        }
        Err(_) => false,
    }
}

/// rsip parse, then type every header that rsip can type among those our
/// parser types: the same work our parser does in one pass.
fn rsip_typed(m: &[u8]) -> bool {
    use rsip::Header as H;
    let Ok(msg) = rsip::SipMessage::try_from(m) else {
        return false;
    };
    let mut ok = true;
    for h in msg.headers().iter() {
        ok &= match h {
            H::Via(v) => v.typed().map(black_box).is_ok(),
            H::From(v) => v.typed().map(black_box).is_ok(),
            H::To(v) => v.typed().map(black_box).is_ok(),
            H::CSeq(v) => v.typed().map(black_box).is_ok(),
            H::Contact(v) => v.typed().map(black_box).is_ok(),
            H::Route(v) => v.typed().map(black_box).is_ok(),
            H::RecordRoute(v) => v.typed().map(black_box).is_ok(),
            H::Accept(v) => v.typed().map(black_box).is_ok(),
            H::Allow(v) => v.typed().map(black_box).is_ok(),
            H::ContentType(v) => v.typed().map(black_box).is_ok(),
            H::Authorization(v) => v.typed().map(black_box).is_ok(),
            H::ProxyAuthorization(v) => v.typed().map(black_box).is_ok(),
            H::WwwAuthenticate(v) => v.typed().map(black_box).is_ok(),
            H::ProxyAuthenticate(v) => v.typed().map(black_box).is_ok(),
            H::ContentLength(v) => v.length().map(black_box).is_ok(),
            H::Expires(v) => v.seconds().map(black_box).is_ok(),
            H::MinExpires(v) => v.seconds().map(black_box).is_ok(),
            H::MaxForwards(v) => v.num().map(black_box).is_ok(),
            _ => true,
        };
    }
    black_box(&msg);
    ok
}

type Parser = (&'static str, fn(&[u8]) -> bool);

const PARSERS: [Parser; 4] = [
    ("presencecloud", ours),
    ("pc+checked", ours_checked),
    ("rsip", rsip_parse),
    ("rsip+typed", rsip_typed),
];

/// The ratios reported, as (ours, theirs) indices into PARSERS: reading
/// against rsip's parse (both leave values untyped), checking everything
/// against rsip's parse plus typing.
const RATIOS: [(usize, usize); 2] = [(0, 2), (1, 3)];

fn bench(c: &mut Criterion) {
    for corpus in corpora() {
        let mut g = c.benchmark_group(format!("parse/{}", corpus.name));
        g.throughput(Throughput::Bytes(corpus.bytes() as u64));
        for (name, f) in PARSERS {
            g.bench_function(name, |b| {
                b.iter(|| {
                    for (_, m) in &corpus.messages {
                        black_box(f(black_box(m)));
                    }
                })
            });
        }
        g.finish();
    }
}

/// Interleaved rounds: each round runs every parser over the corpus for a
/// fixed slice of time, so a noisy neighbour hurts all parsers alike.
fn summary() {
    let rounds = 10;
    let slice = Duration::from_millis(150);
    println!();
    println!("parser throughput, interleaved {rounds} rounds x {slice:?} per parser");
    println!(
        "{:<14} {:<14} {:>14} {:>10}",
        "corpus", "parser", "messages/s", "MB/s"
    );
    for mut corpus in corpora() {
        let all = corpus.messages.clone();
        corpus
            .messages
            .retain(|(_, m)| ours_checked(m) && rsip_parse(m) && rsip_typed(m));
        let mut totals = [(0u64, Duration::ZERO); PARSERS.len()];
        for _ in 0..rounds {
            for (k, (_, f)) in PARSERS.iter().enumerate() {
                let start = Instant::now();
                let mut passes = 0u64;
                while start.elapsed() < slice {
                    for (_, m) in &corpus.messages {
                        black_box(f(black_box(m)));
                    }
                    passes += 1;
                }
                totals[k].0 += passes;
                totals[k].1 += start.elapsed();
            }
        }
        let n = corpus.messages.len() as f64;
        let bytes = corpus.bytes() as f64;
        let rate = |k: usize| totals[k].0 as f64 / totals[k].1.as_secs_f64();
        for (k, (name, _)) in PARSERS.iter().enumerate() {
            println!(
                "{:<14} {:<14} {:>14.0} {:>10.1}",
                corpus.name,
                name,
                rate(k) * n,
                rate(k) * bytes / 1e6,
            );
        }
        for (a, b) in RATIOS {
            println!(
                "{:<14} {} / {}: {:.2}x",
                corpus.name,
                PARSERS[a].0,
                PARSERS[b].0,
                rate(a) / rate(b)
            );
        }
        let ours_fail: Vec<&str> = all
            .iter()
            .filter(|(_, m)| !ours_checked(m))
            .map(|(n, _)| n.as_str())
            .collect();
        let rsip_fail: Vec<&str> = all
            .iter()
            .filter(|(_, m)| !rsip_parse(m))
            .map(|(n, _)| n.as_str())
            .collect();
        let typed_fail: Vec<&str> = all
            .iter()
            .filter(|(_, m)| rsip_parse(m) && !rsip_typed(m))
            .map(|(n, _)| n.as_str())
            .collect();
        println!(
            "{:<14} measured on the {} of {} messages both parse; presencecloud fails on {:?}; rsip fails to parse {:?}; rsip parses but cannot type {:?}",
            corpus.name,
            corpus.messages.len(),
            all.len(),
            ours_fail,
            rsip_fail,
            typed_fail
        );
    }
    println!("target: presencecloud >= 5x rsip on the realistic corpus");
    println!("(presencecloud and rsip leave header values untyped, typed when used;");
    println!(" pc+checked types and checks every typed header, rsip+typed types what rsip can)");
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = bench
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not, and
    // then we only check that the corpus parses, timing nothing.
    if !std::env::args().any(|a| a == "--bench") {
        for corpus in corpora() {
            for (name, m) in &corpus.messages {
                assert!(ours_checked(m), "presencecloud fails on {name}");
                assert!(ours(m), "presencecloud cannot read {name}");
            }
        }
        println!("parser bench: corpus parses");
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
