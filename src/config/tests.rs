use super::*;

fn file(text: &str) -> Result<Config, ConfigError> {
    let dir = std::env::temp_dir().join(format!("pc-config-{}-{}", std::process::id(), text.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.toml");
    std::fs::write(&path, text).unwrap();
    let args = RunArgs {
        config: Some(path),
        ..RunArgs::default()
    };
    let r = Config::load(&args);
    std::fs::remove_dir_all(&dir).unwrap();
    r
}

#[test]
fn the_example_file_shows_every_key_with_its_default() {
    let example = include_str!("../../presencecloud.example.toml");
    assert_eq!(file(example).unwrap(), Config::default());
    for key in [
        "listen",
        "domains",
        "force_rport",
        "max_message_size",
        "idle_timeout_secs",
        "max_connections",
        "t1_ms",
        "t2_ms",
        "t4_ms",
        "url",
        "flush_interval_ms",
        "level",
        "bad_input_warnings_per_minute",
        "drain_timeout_secs",
        "publish_min_expires",
        "publish_max_expires",
        "publish_default_expires",
        "subscribe_min_expires",
        "subscribe_max_expires",
        "subscribe_default_expires",
        "winfo_min_expires",
        "winfo_max_expires",
        "winfo_default_expires",
        "notify_timeout_ends_subscription",
        "default_policy",
        "records_csv",
        "records_csv_max_bytes",
        "instrumentation",
        "gossip_interval_ms",
        "dead_after_ms",
        "forget_after_ms",
        "batch_delay_ms",
        "probe_interval_ms",
    ] {
        assert!(
            example.contains(&format!("\n{key} =")),
            "{key} missing from the example"
        );
    }
}

#[test]
fn flags_override_the_file() {
    let dir = std::env::temp_dir().join(format!("pc-config-override-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.toml");
    std::fs::write(&path, "[sip]\nlisten = [\"udp:127.0.0.1:5070\"]\ndomains = [\"a.example\"]\n[store]\nurl = \"sqlite://x.db\"\n").unwrap();
    let args = RunArgs {
        config: Some(path),
        sip: vec!["tcp:127.0.0.1:5080".parse().unwrap()],
        db: Some("postgres://127.0.0.1/test".into()),
        ..RunArgs::default()
    };
    let c = Config::load(&args).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(c.listen, vec!["tcp:127.0.0.1:5080".parse().unwrap()]);
    assert_eq!(
        c.domains,
        vec!["a.example".to_string()],
        "the file's value stays where no flag is given"
    );
    assert_eq!(c.db, "postgres://127.0.0.1/test");
}

#[test]
fn errors_name_the_key() {
    let e = file("[tcp]\nidle_timeout_secs = \"soon\"\n").unwrap_err();
    assert_eq!(e.key, "tcp.idle_timeout_secs", "{e}");
    let e = file("[sip]\nlisen = []\n").unwrap_err();
    assert_eq!(e.key, "sip.lisen", "{e}");
    let e = file("[sip]\nlisten = [\"sctp:1.2.3.4:5\"]\n").unwrap_err();
    assert_eq!(e.key, "sip.listen");
    let e = file("[store]\nurl = \"mysql://x\"\n").unwrap_err();
    assert_eq!(e.key, "store.url");
    let e = file("[transaction]\nt1_ms = 0\n").unwrap_err();
    assert_eq!(e.key, "transaction.t1_ms");
    let e = file("[log]\nlevel = \"loudest\"\n").unwrap_err();
    assert_eq!(e.key, "log.level");
    assert!(!e.to_string().contains('\n'), "one line: {e}");
    assert!(file("[log]\nlevel = \"warn,presencecloud=debug\"\n").is_ok());
}

#[test]
fn listen_syntax() {
    assert_eq!(
        "udp:[::1]:5060".parse::<Listen>().unwrap().addr,
        "[::1]:5060".parse().unwrap()
    );
    assert!("udp:localhost:5060".parse::<Listen>().is_err());
    assert!("5060".parse::<Listen>().is_err());
    assert_eq!(
        "TCP:0.0.0.0:1".parse::<Listen>().unwrap().transport,
        Transport::Tcp
    );
}

fn args(list: &[&str]) -> Result<Config, ConfigError> {
    use clap::Parser;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }
    let cli = Cli::try_parse_from(std::iter::once("run").chain(list.iter().copied()))
        .map_err(|e| ConfigError::new("args", e.to_string()))?;
    Config::load(&cli.run)
}

#[test]
fn a_cluster_needs_a_name_and_a_secret() {
    let c = args(&[
        "--node",
        "pc1",
        "--cluster",
        "127.0.0.1:7000",
        "--join",
        "10.0.0.2:7000",
        "--cluster-secret",
        "0123456789abcdef",
    ])
    .unwrap();
    let cluster = c.cluster.unwrap();
    assert_eq!(cluster.node, "pc1");
    assert_eq!(cluster.join, vec!["10.0.0.2:7000".to_string()]);
    assert!(
        !format!("{cluster:?}").contains("0123456789abcdef"),
        "the secret stays out of logs"
    );
    let no_secret = args(&["--node", "pc1", "--cluster", "127.0.0.1:7000"]).unwrap_err();
    assert_eq!(no_secret.key, "cluster.secret");
    let bad_name = args(&[
        "--node",
        "p c",
        "--cluster",
        "127.0.0.1:7000",
        "--cluster-secret",
        "0123456789abcdef",
    ])
    .unwrap_err();
    assert_eq!(bad_name.key, "cluster.node");
    let join_alone = args(&["--join", "10.0.0.2:7000"]).unwrap_err();
    assert_eq!(join_alone.key, "cluster.listen");
    let bad_join = args(&[
        "--node",
        "a",
        "--cluster",
        "127.0.0.1:7000",
        "--cluster-secret",
        "0123456789abcdef",
        "--join",
        "nohost",
    ])
    .unwrap_err();
    assert_eq!(bad_join.key, "cluster.join");
    assert_eq!(args(&[]).unwrap().cluster, None);
}

#[test]
fn cluster_timings_come_from_the_file_and_are_checked() {
    let c = file("[cluster]\nnode = \"a\"\nlisten = \"127.0.0.1:0\"\nsecret = \"0123456789abcdef\"\ngossip_interval_ms = 100\ndead_after_ms = 1000\n").unwrap();
    let t = c.cluster.unwrap().settings.timing;
    assert_eq!((t.gossip_interval, t.dead_after), (100, 1000));
    let e = file("[cluster]\nnode = \"a\"\nlisten = \"127.0.0.1:0\"\nsecret = \"0123456789abcdef\"\ndead_after_ms = 100\n").unwrap_err();
    assert_eq!(e.key, "cluster.dead_after_ms");
}

#[test]
fn an_admin_listener_beyond_loopback_needs_a_token() {
    let e = args(&["--admin", "0.0.0.0:9090"]).unwrap_err();
    assert_eq!(e.key, "admin.token");
    assert!(e.message.contains("--admin-token"), "{e}");
    let c = args(&["--admin", "0.0.0.0:9090", "--admin-token", "t0ken"]).unwrap();
    assert_eq!(c.admin_token.as_deref(), Some("t0ken"));
}
