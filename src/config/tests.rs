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
