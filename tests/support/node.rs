//! Starting the real binary for integration tests: `presencecloud run` on
//! loopback ports chosen by the OS, read back from its stdout.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Node {
    pub child: Child,
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub admin: SocketAddr,
    /// The cluster listener, when started with --cluster.
    pub cluster: Option<SocketAddr>,
    dir: PathBuf,
}

/// A scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("presencecloud-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Node {
    /// Starts a node on UDP and TCP loopback ports, with `config` as its
    /// TOML file and `extra` flags.
    pub fn start(name: &str, config: &str, extra: &[&str]) -> Node {
        let dir = scratch(name);
        let db = format!("sqlite://{}", dir.join("node.db").display());
        Node::start_in(dir, config, &db, extra)
    }

    /// Starts a node on the store `db` (kept by the caller across restarts).
    pub fn start_with_db(name: &str, config: &str, db: &str, extra: &[&str]) -> Node {
        Node::start_in(scratch(name), config, db, extra)
    }

    fn start_in(dir: PathBuf, config: &str, db: &str, extra: &[&str]) -> Node {
        let conf = dir.join("node.toml");
        std::fs::write(&conf, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_presencecloud"))
            .args(["run", "--config"])
            .arg(&conf)
            .args([
                "--sip",
                "udp:127.0.0.1:0",
                "--sip",
                "tcp:127.0.0.1:0",
                "--admin",
                "127.0.0.1:0",
            ])
            .args(["--db", db])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the presencecloud binary starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let (mut udp, mut tcp, mut admin, mut cluster) = (None, None, None, None);
        let deadline = Instant::now() + Duration::from_secs(20);
        while udp.is_none() || tcp.is_none() || admin.is_none() {
            assert!(
                Instant::now() < deadline,
                "node did not report its addresses"
            );
            let Some(Ok(line)) = lines.next() else {
                let status = child.wait().unwrap();
                let mut err = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
                panic!("node exited ({status}) before listening: {err}");
            };
            if let Some(a) = line.strip_prefix("listening udp:") {
                udp = Some(a.parse().unwrap());
            } else if let Some(a) = line.strip_prefix("listening tcp:") {
                tcp = Some(a.parse().unwrap());
            } else if let Some(a) = line.strip_prefix("cluster ") {
                cluster = Some(a.parse().unwrap());
            } else if let Some(a) = line.strip_prefix("admin http://") {
                admin = Some(a.parse().unwrap());
            }
        }
        // Keep draining stdout so the node never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Node {
            child,
            udp: udp.unwrap(),
            tcp: tcp.unwrap(),
            admin: admin.unwrap(),
            cluster,
            dir,
        }
    }

    /// SIGKILL: the node gets no chance to flush.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "node did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stderr(&mut self) -> String {
        let mut err = String::new();
        if let Some(e) = self.child.stderr.as_mut() {
            let _ = std::io::Read::read_to_string(e, &mut err);
        }
        err
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Status code, Call-ID and CSeq of a response, read by hand: a salvaged
/// 400 may copy header lines our own parser would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub status: u16,
    pub call_id: String,
    pub cseq: String,
    pub raw: String,
}

pub fn seen(bytes: &[u8]) -> Option<Seen> {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let first = text.lines().next()?;
    let status = first.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()?;
    let field = |names: &[&str]| -> String {
        text.lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                names
                    .iter()
                    .any(|x| n.trim().eq_ignore_ascii_case(x))
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    Some(Seen {
        status,
        call_id: field(&["Call-ID", "i"]),
        cseq: field(&["CSeq"]),
        raw: text.clone(),
    })
}

/// Call-ID and CSeq of a request we send, read the same way.
pub fn ids(bytes: &[u8]) -> (String, String) {
    let fake = [b"SIP/2.0 000 x\r\n".as_slice(), bytes].concat();
    let s = seen(&fake).unwrap();
    (s.call_id, s.cseq)
}

/// A 200 OK to `m`.
pub fn ok(m: &presencecloud::sip::Message<'_>) -> Vec<u8> {
    presencecloud::sip::response::build(
        m,
        None,
        &presencecloud::sip::response::Reply {
            status: 200,
            reason: "OK",
            to_tag: None,
            headers: vec![],
            body: None,
        },
    )
}

/// `GET path` on an admin listener: the whole response, head and body
/// (the listener closes after one response). Bounded to 10 s.
pub fn http(addr: SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out)
        .unwrap_or_else(|e| panic!("GET {path} on {addr}: {e}"));
    out
}
