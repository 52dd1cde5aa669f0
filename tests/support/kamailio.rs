//! A real Kamailio (Debian's `kamailio` and `kamailio-presence-modules`,
//! 5.6) on loopback, serving presence for one domain, for interop tests.
//!
//! The test writes the config (below) into a scratch directory and starts
//! Kamailio on a free UDP port of 127.0.0.1: presence and presence_xml
//! handle PUBLISH and SUBSCRIBE (PIDF, no authentication, every watcher
//! active at once), state in shared memory only. The 5.6 presence module
//! refuses to handle requests without a `db_url`, so it gets a db_text
//! directory (a copy of the packaged, empty tables; db_text ships with
//! `kamailio` itself): in memory mode it is only read at startup.
//!
//! Kamailio logs to a file in the scratch directory, and the config logs
//! one `KAMTEST` line per SIP message: every request received (`in`),
//! every request it sends itself (`out`: the presence module's NOTIFYs,
//! through tm's `event_route[tm:local-request]`) and every response
//! received (`reply`: the answers to those NOTIFYs). [`Kamailio::events`]
//! reads them back; [`Kamailio::log`] is for failure messages.
//!
//! Dropping the value stops Kamailio: SIGTERM, SIGKILL after 5 s, and any
//! of its worker processes left behind killed by pid.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The config; `@PORT@`, `@DBURL@` and `@DOMAIN@` are filled in.
const CONFIG: &str = r#"#!KAMAILIO
#
# Kamailio as the presence server of @DOMAIN@ on 127.0.0.1:@PORT@ (UDP only),
# written by tests/support/kamailio.rs; derived from bench/kamailio.cfg
# (memory mode).

debug=2
log_stderror=yes
memdbg=5
memlog=5
children=2
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=no
dns_try_naptr=no
disable_tcp=yes
server_signature=no
user_agent_header="User-Agent: kamailio-presence-test"
server_header="Server: kamailio-presence-test"

listen=udp:127.0.0.1:@PORT@
alias="@DOMAIN@"

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "db_text.so"
loadmodule "presence.so"
loadmodule "presence_xml.so"

# NOTIFYs are retransmitted (UDP) for up to 5 s until answered.
modparam("tm", "fr_timer", 5000)

# ----- presence, memory only -----
# db_url is mandatory in 5.6 (without it handle_publish/handle_subscribe
# are refused at startup); with subs_db_mode=0 and publ_cache=2 the tables
# are only checked at startup.
modparam("presence", "db_url", "@DBURL@")
modparam("presence", "subs_db_mode", 0)
modparam("presence", "publ_cache", 2)
modparam("presence", "min_expires", 60)
modparam("presence", "min_expires_action", 1)
modparam("presence", "max_expires", 7200)
modparam("presence", "subs_respond_200", 1)
modparam("presence", "send_fast_notify", 1)
modparam("presence", "notifier_processes", 0)
modparam("presence", "clean_period", 5)
modparam("presence", "db_update_period", 5)

# ----- presence_xml: the "presence" package (PIDF) -----
modparam("presence_xml", "db_url", "@DBURL@")
modparam("presence_xml", "force_active", 1)
modparam("presence_xml", "default_expires", 3600)
modparam("presence_xml", "disable_winfo", 1)
modparam("presence_xml", "disable_bla", 1)
modparam("presence_xml", "disable_xcapdiff", 1)

request_route {
	xlog("L_NOTICE", "KAMTEST in|m=$rm|ci=$ci|ru=$ru|fu=$fu|ft=$ft|tt=$tt|ev=$hdr(Event)|exp=$hdr(Expires)|cl=$cl|src=$si:$sp\n");

	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	# Loopback only.
	if ($si != "127.0.0.1") {
		sl_send_reply("403", "Forbidden");
		exit;
	}
	if (is_method("OPTIONS")) {
		append_to_reply("Allow: OPTIONS, PUBLISH, SUBSCRIBE\r\nAllow-Events: presence\r\nAccept: application/pidf+xml\r\n");
		sl_send_reply("200", "OK");
		exit;
	}
	if (is_method("PUBLISH|SUBSCRIBE")) {
		# Presentities of @DOMAIN@ only (in-dialog SUBSCRIBEs go to our
		# Contact, 127.0.0.1).
		if ($tt == $null && $rd != "@DOMAIN@") {
			sl_send_reply("404", "Not Here");
			exit;
		}
		if (!t_newtran()) {
			sl_reply_error();
			exit;
		}
		if (is_method("PUBLISH")) {
			handle_publish();
		} else {
			handle_subscribe();
		}
		t_release();
		exit;
	}
	if (is_method("ACK")) {
		exit;
	}
	append_to_reply("Allow: OPTIONS, PUBLISH, SUBSCRIBE\r\n");
	sl_send_reply("405", "Method Not Allowed");
	exit;
}

reply_route {
	xlog("L_NOTICE", "KAMTEST reply|m=$rm|s=$rs|ci=$ci|src=$si:$sp\n");
}

event_route[tm:local-request] {
	xlog("L_NOTICE", "KAMTEST out|m=$rm|ci=$ci|ru=$ru|ss=$hdr(Subscription-State)|ct=$cT|cl=$cl\n");
}
"#;

/// One `KAMTEST` line: its kind (`in`, `out`, `reply`) and fields.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: String,
    pub fields: HashMap<String, String>,
}

impl Event {
    /// A field's value ("" when absent; Kamailio writes `<null>` for an
    /// unset variable).
    pub fn get(&self, key: &str) -> &str {
        self.fields.get(key).map(String::as_str).unwrap_or("")
    }
}

pub struct Kamailio {
    child: Child,
    /// Where it listens (UDP).
    pub addr: SocketAddr,
    dir: PathBuf,
    log: PathBuf,
}

/// The kamailio binary: on PATH, or in the sbin directories a user's PATH
/// may lack.
fn binary() -> PathBuf {
    if let Some(paths) = std::env::var_os("PATH") {
        for p in std::env::split_paths(&paths) {
            let f = p.join("kamailio");
            if f.is_file() {
                return f;
            }
        }
    }
    for f in ["/usr/sbin/kamailio", "/usr/local/sbin/kamailio"] {
        if Path::new(f).is_file() {
            return f.into();
        }
    }
    panic!(
        "kamailio is needed (apt-get install -y kamailio kamailio-presence-modules, or run tests/run-all.sh)"
    );
}

/// A UDP port of 127.0.0.1 free a moment ago.
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Copies the packaged db_text tables (empty, with their `version` table).
fn db_text_tables(to: &Path) {
    let from = Path::new("/usr/share/kamailio/dbtext/kamailio");
    std::fs::create_dir_all(to).unwrap();
    let entries = std::fs::read_dir(from).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the db_text tables come with the kamailio package)",
            from.display()
        )
    });
    for e in entries {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Pids of the processes whose parent is `pid` (from /proc).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    // pid (comm) state ppid ...: comm may hold spaces.
                    let rest = s.rsplit_once(')')?.1;
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

fn is_kamailio(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "kamailio")
}

/// One OPTIONS to `addr`; whether a 200 came back within 300 ms.
fn answers(addr: SocketAddr) -> bool {
    let Ok(s) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let me = s.local_addr().unwrap();
    let req = format!(
        "OPTIONS sip:probe@{addr} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-probe{port};rport\r\nMax-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p{port}\r\nTo: <sip:probe@127.0.0.1>\r\nCall-ID: probe-{port}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        port = me.port()
    );
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    if s.send_to(req.as_bytes(), addr).is_err() {
        return false;
    }
    let mut buf = [0u8; 4096];
    matches!(s.recv_from(&mut buf), Ok((n, _)) if buf[..n].starts_with(b"SIP/2.0 200"))
}

impl Kamailio {
    /// Starts Kamailio serving presence of `domain` on a free UDP port of
    /// 127.0.0.1, in the scratch directory `dir` (created), and waits
    /// (up to 20 s) until it answers an OPTIONS.
    pub fn start(dir: &Path, domain: &str) -> Kamailio {
        let bin = binary();
        let mut last = String::new();
        // A port free when chosen may be taken before Kamailio binds it:
        // a few tries.
        for _ in 0..3 {
            match Kamailio::try_start(&bin, dir, domain, free_udp_port()) {
                Ok(k) => return k,
                Err(log) => last = log,
            }
        }
        panic!("kamailio did not start:\n{last}");
    }

    fn try_start(bin: &Path, dir: &Path, domain: &str, port: u16) -> Result<Kamailio, String> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let db = dir.join("db");
        db_text_tables(&db);
        let cfg = dir.join("kamailio.cfg");
        std::fs::write(
            &cfg,
            CONFIG
                .replace("@PORT@", &port.to_string())
                .replace("@DBURL@", &format!("text://{}", db.display()))
                .replace("@DOMAIN@", domain),
        )
        .unwrap();
        let log = dir.join("kamailio.log");
        let out = std::fs::File::create(&log).unwrap();
        // -DD: the main process stays in the foreground (it still forks
        // its workers); -E: log to stderr, i.e. the log file.
        let child = Command::new(bin)
            .arg("-f")
            .arg(&cfg)
            .args(["-DD", "-E", "-m", "64", "-M", "8"])
            .arg("-Y")
            .arg(dir)
            .arg("-w")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", bin.display()));
        let mut k = Kamailio {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir: dir.to_path_buf(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = k.child.try_wait() {
                return Err(format!("exited ({status}):\n{}", k.log()));
            }
            if answers(k.addr) {
                return Ok(k);
            }
            if Instant::now() > deadline {
                let log = k.log();
                k.stop();
                return Err(format!("no answer on {} after 20 s:\n{log}", k.addr));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Everything Kamailio logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log file (kept when the test fails).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `n` lines of the log, for failure messages.
    pub fn tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The `KAMTEST` lines logged so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.log()
            .lines()
            .filter_map(|l| {
                let line = &l[l.find("KAMTEST ")? + "KAMTEST ".len()..];
                let mut parts = line.split('|');
                let kind = parts.next()?.to_string();
                let fields = parts
                    .filter_map(|p| {
                        let (k, v) = p.split_once('=')?;
                        Some((k.to_string(), v.to_string()))
                    })
                    .collect();
                Some(Event { kind, fields })
            })
            .collect()
    }

    /// The events of `kind` for SIP method `method` (for `reply`: the
    /// method of the CSeq).
    pub fn seen(&self, kind: &str, method: &str) -> Vec<Event> {
        self.events()
            .into_iter()
            .filter(|e| e.kind == kind && e.get("m") == method)
            .collect()
    }

    /// Waits up to `wait` for `done` to hold over the events; returns it.
    pub fn until(&self, wait: Duration, done: impl Fn(&[Event]) -> bool) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            if done(&self.events()) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then SIGKILL after 5 s; workers left behind are killed by
    /// pid.
    pub fn stop(&mut self) {
        let pid = self.child.id();
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let workers = children_of(pid);
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for w in workers {
            if is_kamailio(w) {
                let _ = Command::new("kill")
                    .args(["-KILL", &w.to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        self.stop();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
