//! RFC 3263 location against a real DNS server: an in-process authoritative
//! hickory server on loopback (UDP and TCP) serving test zones, asked by the
//! node's resolver. Each test starts its own server, so its query log tells
//! which steps the resolver took.

#[path = "support/dns.rs"]
mod dns;

use std::time::Duration;

use dns::{RecordType, TestDns, zone};
use presencecloud::locate::{Candidate, LocateError, Step, Target, Transport};
use presencecloud::node::resolver::{Resolver, Settings};
use tokio::net::UdpSocket;

/// Every test is over within this, whatever the DNS does.
const BOUND: Duration = Duration::from_secs(20);

/// The parent zone: only there so that unknown names under it get NXDOMAIN.
const EXAMPLE: &str = "ns IN A 127.0.0.1\n";

/// NAPTR prefers TCP over UDP (and offers TLS, which a sip: URI skips);
/// TCP has two servers at priority 10 weighted 3:1 and a backup at 20.
const B_EXAMPLE: &str = r#"
@          IN A     127.0.0.1
@          IN NAPTR 5  10 "s" "SIPS+D2T" "" _sips._tcp.b.example.
@          IN NAPTR 10 50 "s" "SIP+D2U"  "" _sip._udp.b.example.
@          IN NAPTR 10 10 "s" "SIP+D2T"  "" _sip._tcp.b.example.
@          IN NAPTR 10 20 "s" "SIP+D2S"  "" _sip._sctp.b.example.
_sip._tcp  IN SRV   10 60 15061 pc1.b.example.
_sip._tcp  IN SRV   10 20 15062 pc2.b.example.
_sip._tcp  IN SRV   20 0  15063 pc3.b.example.
_sip._udp  IN SRV   10 1  15071 pc1.b.example.
_sips._tcp IN SRV   10 1  15081 pc1.b.example.
pc1        IN A     127.0.0.1
pc2        IN A     127.0.0.1
pc3        IN A     127.0.0.1
"#;

/// No NAPTR: SRV for both transports.
const SRVONLY_EXAMPLE: &str = "
_sip._tcp IN SRV 10 1 16002 host1.srvonly.example.
_sip._udp IN SRV 10 1 16001 host1.srvonly.example.
host1     IN A   127.0.0.1
";

/// SRV pointing to a host that does not exist; an A record for the domain
/// that must not be used, since SRV records exist.
const BROKEN_EXAMPLE: &str = "
@         IN A   127.0.0.1
_sip._udp IN SRV 10 1 5060 gone.broken.example.
";

/// Neither NAPTR nor SRV.
const AONLY_EXAMPLE: &str = "@ IN A 127.0.0.1\n";

/// A server with every test zone; each test starts its own, so its query
/// log tells which steps the resolver took.
async fn start_dns() -> TestDns {
    TestDns::start(&[
        zone("example.", EXAMPLE),
        zone("b.example.", B_EXAMPLE),
        zone("srvonly.example.", SRVONLY_EXAMPLE),
        zone("aonly.example.", AONLY_EXAMPLE),
        zone("broken.example.", BROKEN_EXAMPLE),
    ])
    .await
}

/// The node's resolver, asking only `dns`.
fn resolver(dns: &TestDns) -> Resolver {
    Resolver::with_settings(Settings {
        nameserver: Some(dns.addr),
        timeout: Duration::from_secs(2),
        attempts: 2,
    })
    .unwrap()
}

fn target(uri_host: &str) -> Target {
    Target::new(uri_host)
}

fn cand(addr: &str, transport: Transport) -> Candidate {
    Candidate {
        addr: addr.parse().unwrap(),
        transport,
    }
}

async fn locate(dns: &TestDns, t: &Target, seed: u64) -> Result<Vec<Candidate>, LocateError> {
    tokio::time::timeout(BOUND, resolver(dns).locate(t, seed))
        .await
        .expect("location took too long")
}

#[tokio::test]
async fn rfc3263_s4_1_naptr_chooses_tcp_then_udp() {
    let dns = start_dns().await;
    let found = locate(&dns, &target("b.example"), 1).await.unwrap();
    // TCP (NAPTR preference 10) before UDP (50); SIPS and SCTP skipped.
    let transports: Vec<Transport> = found.iter().map(|c| c.transport).collect();
    assert_eq!(
        transports,
        [
            Transport::Tcp,
            Transport::Tcp,
            Transport::Tcp,
            Transport::Udp
        ],
        "{found:?}"
    );
    assert_eq!(found[3], cand("127.0.0.1:15071", Transport::Udp));
    let asked = dns.asked();
    assert_eq!(asked[0], ("b.example.".into(), RecordType::NAPTR));
    assert!(
        !asked
            .iter()
            .any(|(n, _)| n.starts_with("_sips") || n.contains("sctp")),
        "{asked:?}"
    );
}

#[tokio::test]
async fn rfc3263_s4_1_sips_uri_follows_only_sips_naptr() {
    let dns = start_dns().await;
    let mut t = target("b.example");
    t.secure = true;
    let found = locate(&dns, &t, 0).await.unwrap();
    assert_eq!(found, [cand("127.0.0.1:15081", Transport::Tls)]);
}

#[tokio::test]
async fn rfc2782_srv_priority_is_respected() {
    let dns = start_dns().await;
    let resolver = resolver(&dns);
    let mut t = target("b.example");
    t.transport = Some(Transport::Tcp);
    for seed in 0..50 {
        let found = resolver.locate(&t, seed).await.unwrap();
        let ports: Vec<u16> = found.iter().map(|c| c.addr.port()).collect();
        assert_eq!(ports.len(), 3, "{found:?}");
        assert!(ports[..2].contains(&15061) && ports[..2].contains(&15062));
        assert_eq!(ports[2], 15063, "priority 20 comes last: {ports:?}");
    }
}

#[tokio::test]
async fn rfc2782_weights_split_first_choices_proportionally() {
    let dns = start_dns().await;
    let resolver = resolver(&dns);
    let n = 800;
    let mut pc1_first = 0;
    for seed in 0..n {
        let found = tokio::time::timeout(BOUND, resolver.locate(&target("b.example"), seed))
            .await
            .unwrap()
            .unwrap();
        if found[0].addr.port() == 15061 {
            pc1_first += 1;
        }
    }
    // Weights 60:20, so pc1 first 3 times in 4: 600 of 800 expected.
    assert!((540..660).contains(&pc1_first), "{pc1_first} of {n}");
    // The answers came from the cache after the first round.
    assert!(dns.asked().len() < 20, "{:?}", dns.asked());
}

#[tokio::test]
async fn rfc3263_s4_1_no_naptr_queries_srv_udp_then_tcp() {
    let dns = start_dns().await;
    let found = locate(&dns, &target("srvonly.example"), 0).await.unwrap();
    assert_eq!(
        found,
        [
            cand("127.0.0.1:16001", Transport::Udp),
            cand("127.0.0.1:16002", Transport::Tcp)
        ]
    );
    let names: Vec<String> = dns.asked().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names[0], "srvonly.example.");
    assert_eq!(names[1], "_sip._udp.srvonly.example.");
    assert_eq!(names[2], "_sip._tcp.srvonly.example.");
}

#[tokio::test]
async fn rfc3263_s4_2_no_srv_falls_back_to_a_with_port_5060() {
    let dns = start_dns().await;
    let found = locate(&dns, &target("aonly.example"), 0).await.unwrap();
    assert_eq!(found, [cand("127.0.0.1:5060", Transport::Udp)]);
    let types = dns.asked_types();
    assert_eq!(
        types[..4],
        [
            RecordType::NAPTR,
            RecordType::SRV,
            RecordType::SRV,
            RecordType::A
        ],
        "{types:?}"
    );

    let mut t = target("aonly.example");
    t.secure = true;
    let found = locate(&dns, &t, 0).await.unwrap();
    assert_eq!(found, [cand("127.0.0.1:5061", Transport::Tls)]);
}

#[tokio::test]
async fn rfc3263_s4_2_explicit_port_skips_naptr_and_srv() {
    let dns = start_dns().await;
    let mut t = target("b.example");
    t.port = Some(5099);
    let found = locate(&dns, &t, 0).await.unwrap();
    assert_eq!(found, [cand("127.0.0.1:5099", Transport::Udp)]);
    let types = dns.asked_types();
    assert!(
        types
            .iter()
            .all(|t| matches!(t, RecordType::A | RecordType::AAAA)),
        "{types:?}"
    );
}

#[tokio::test]
async fn rfc3263_s4_2_explicit_transport_skips_naptr() {
    let dns = start_dns().await;
    let mut t = target("b.example");
    t.transport = Some(Transport::Udp);
    let found = locate(&dns, &t, 0).await.unwrap();
    assert_eq!(found, [cand("127.0.0.1:15071", Transport::Udp)]);
    let asked = dns.asked();
    assert_eq!(asked[0], ("_sip._udp.b.example.".into(), RecordType::SRV));
    assert!(!asked.iter().any(|(_, t)| *t == RecordType::NAPTR));
}

#[tokio::test]
async fn rfc3263_s4_1_numeric_ip_skips_dns() {
    let dns = start_dns().await;
    let mut t = target("127.0.0.1");
    t.port = Some(5070);
    t.transport = Some(Transport::Tcp);
    let found = locate(&dns, &t, 0).await.unwrap();
    assert_eq!(found, [cand("127.0.0.1:5070", Transport::Tcp)]);
    let found = locate(&dns, &target("[::1]"), 0).await.unwrap();
    assert_eq!(found, [cand("[::1]:5060", Transport::Udp)]);
    assert!(dns.asked().is_empty(), "{:?}", dns.asked());
}

#[tokio::test]
async fn rfc3263_unknown_domain_names_the_step() {
    let dns = start_dns().await;
    let e = locate(&dns, &target("nosuch.example"), 0)
        .await
        .unwrap_err();
    assert!(
        matches!(e, LocateError::NoSuchDomain { ref domain, .. } if domain == "nosuch.example"),
        "{e:?}"
    );
    assert_eq!(e.step(), Some(Step::Address));
    let msg = e.to_string();
    assert!(
        msg.contains("no such domain") && msg.contains("NAPTR"),
        "{msg}"
    );

    let mut t = target("nosuch.example");
    t.port = Some(5060);
    let e = locate(&dns, &t, 0).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "nosuch.example: no such domain (NXDOMAIN to the A/AAAA lookup)"
    );
}

#[tokio::test]
async fn rfc3263_s4_2_explicit_transport_without_srv_uses_a_and_default_port() {
    let dns = start_dns().await;
    let mut t = target("pc1.b.example");
    t.transport = Some(Transport::Tcp);
    let found = locate(&dns, &t, 0).await.unwrap();
    assert_eq!(found, [cand("127.0.0.1:5060", Transport::Tcp)]);
    let asked = dns.asked();
    assert_eq!(
        asked[0],
        ("_sip._tcp.pc1.b.example.".into(), RecordType::SRV)
    );
}

#[tokio::test]
async fn rfc3263_s4_2_srv_target_without_address_is_reported() {
    let dns = start_dns().await;
    let e = locate(&dns, &target("broken.example"), 0)
        .await
        .unwrap_err();
    assert_eq!(e.step(), Some(Step::Address), "{e:?}");
    assert_eq!(
        e.to_string(),
        "no server found for broken.example: the A/AAAA lookup of gone.broken.example. found nothing"
    );
    // SRV found records, so there is no fallback to A/AAAA of the domain.
    assert!(
        !dns.asked()
            .iter()
            .any(|(n, t)| n == "broken.example." && *t == RecordType::A),
        "{:?}",
        dns.asked()
    );
}

#[tokio::test]
async fn rfc3263_dead_dns_times_out_and_names_the_step() {
    // A socket that never answers.
    let mute = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let resolver = Resolver::with_settings(Settings {
        nameserver: Some(mute.local_addr().unwrap()),
        timeout: Duration::from_millis(200),
        attempts: 1,
    })
    .unwrap();
    let started = std::time::Instant::now();
    let e = tokio::time::timeout(BOUND, resolver.locate(&target("b.example"), 0))
        .await
        .expect("bounded")
        .unwrap_err();
    assert_eq!(e.step(), Some(Step::Naptr), "{e}");
    assert!(matches!(e, LocateError::Timeout { .. }), "{e:?}");
    assert_eq!(e.to_string(), "NAPTR lookup of b.example. timed out");
    assert!(started.elapsed() < Duration::from_secs(5), "one query only");
}

#[tokio::test]
async fn rfc3263_refused_answer_is_a_failure_naming_the_step() {
    // The server serves no zone for other.test, so it refuses.
    let dns = start_dns().await;
    let e = locate(&dns, &target("other.test"), 0).await.unwrap_err();
    assert!(matches!(e, LocateError::Failed { .. }), "{e:?}");
    assert_eq!(e.step(), Some(Step::Naptr));
    assert!(e.to_string().contains("Refused"), "{e}");
}
