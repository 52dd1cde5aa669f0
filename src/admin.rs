//! The admin HTTP listener: `GET /healthz` (the node is up), `GET /metrics`
//! (Prometheus text), `GET /api/transactions?kind=...` (the latest latency
//! records as JSON), `GET /api/nodes` (the PresenceCloud members as this
//! node sees them: name, slot, row, col, alive, ps_list; empty when the
//! node runs alone), `GET /api/rtt` (the probe RTT matrix in microseconds,
//! `{"node", "unit": "us", "matrix": {from: {to: us}}}`) and
//! `GET /api/cluster` (both, with the overlay's counters).
//!
//! Bound to loopback by default. With a token configured (required beyond
//! loopback), every path but `/healthz` and `/` needs `Authorization: Bearer
//! TOKEN`: a health check needs no secret, and the dashboard page (`GET /`,
//! which holds no data) sends the token given as `/?token=TOKEN` on its own
//! API calls.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};

use crate::telemetry::{Kind, Tracker};

/// What the admin pages show.
#[derive(Clone)]
pub struct Views {
    /// Renders the Prometheus page; None when no exporter is installed.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    pub telemetry: Arc<Mutex<Tracker>>,
    /// The bearer token the API requires, if any.
    pub token: Option<String>,
    /// Questions for the node's core (it owns the presence state).
    pub queries: mpsc::Sender<AdminQuery>,
}

/// What of the overlay `/api/nodes`, `/api/rtt` and `/api/cluster` show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterPart {
    /// The members: name, slot, row, col, alive, ps_list, load.
    Nodes,
    /// `{"node", "unit": "us", "matrix": {from: {to: us}}}`.
    Rtt,
    /// Both, with the overlay's counters.
    All,
}

/// A question for the node's core, which owns the presence state and the
/// overlay; it answers `Value::Null` for what it does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// The overlay as this node sees it, built when asked.
    Cluster(ClusterPart),
    /// The busiest presentities first, at most `limit`.
    Presentities { limit: usize },
    /// One presentity: composed state, publications, watchers, homes.
    Presentity { aor: String },
    /// The watchers of one presentity.
    Watchers { presentity: String },
}

#[derive(Debug)]
pub struct AdminQuery {
    pub query: Query,
    pub reply: oneshot::Sender<serde_json::Value>,
}

/// `%XX` escapes decoded (an AOR in a path or a query has its `@` and
/// `:` escaped by careful clients); a bad escape is kept as written.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The presentity key the agent uses: user@host, host lower-cased, no
/// scheme.
fn presentity_key(raw: &str) -> String {
    let s = percent_decode(raw);
    let s = s
        .strip_prefix("sip:")
        .or_else(|| s.strip_prefix("sips:"))
        .unwrap_or(&s);
    match s.rsplit_once('@') {
        Some((user, host)) => format!("{user}@{}", host.to_ascii_lowercase()),
        None => s.to_ascii_lowercase(),
    }
}

fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// The questions the core answers: the overlay and presence state.
fn core_query(path: &str, query: &str) -> Option<Result<Query, String>> {
    let part = match path {
        "/api/nodes" => Some(ClusterPart::Nodes),
        "/api/rtt" => Some(ClusterPart::Rtt),
        "/api/cluster" => Some(ClusterPart::All),
        _ => None,
    };
    if let Some(part) = part {
        return Some(Ok(Query::Cluster(part)));
    }
    if path == "/api/presentities" {
        let limit = match param(query, "limit") {
            None => 100,
            Some(l) => match l.parse::<usize>() {
                Ok(l) if (1..=10_000).contains(&l) => l,
                _ => return Some(Err(format!("limit {l:?} is not 1 to 10000"))),
            },
        };
        return Some(Ok(Query::Presentities { limit }));
    }
    if let Some(aor) = path.strip_prefix("/api/presentities/") {
        if aor.is_empty() {
            return Some(Err("no presentity in the path".into()));
        }
        return Some(Ok(Query::Presentity {
            aor: presentity_key(aor),
        }));
    }
    if path == "/api/watchers" {
        return Some(match param(query, "presentity") {
            Some(p) if !p.is_empty() => Ok(Query::Watchers {
                presentity: presentity_key(p),
            }),
            _ => Err("/api/watchers needs ?presentity=AOR".into()),
        });
    }
    None
}

async fn ask(views: &Views, query: Query) -> (&'static str, &'static str, String) {
    let (tx, rx) = oneshot::channel();
    let not_found = matches!(query, Query::Presentity { .. });
    if views
        .queries
        .send(AdminQuery { query, reply: tx })
        .await
        .is_err()
    {
        return (
            "503 Service Unavailable",
            "text/plain",
            "the node is stopping\n".into(),
        );
    }
    match tokio::time::timeout(Duration::from_secs(5), rx).await {
        Ok(Ok(serde_json::Value::Null)) if not_found => (
            "404 Not Found",
            "text/plain",
            "no such presentity here\n".into(),
        ),
        Ok(Ok(v)) => ("200 OK", "application/json", v.to_string()),
        _ => (
            "503 Service Unavailable",
            "text/plain",
            "the node did not answer\n".into(),
        ),
    }
}

/// Binds `addr` and serves until `stop` turns true; returns the bound address.
pub async fn start(
    addr: SocketAddr,
    views: Views,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                r = listener.accept() => {
                    if let Ok((stream, _)) = r {
                        tokio::spawn(serve(stream, views.clone()));
                    }
                }
                _ = stop.changed() => return,
            }
        }
    });
    Ok(local)
}

/// One request, one response, then close.
async fn serve(mut stream: TcpStream, views: Views) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_done = |b: &[u8]| b.windows(4).any(|w| w == b"\r\n\r\n");
    while !head_done(&buf) && buf.len() < 8192 {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    }
    let line =
        String::from_utf8_lossy(buf.split(|&b| b == b'\r').next().unwrap_or_default()).into_owned();
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (status, content_type, body) = if method != "GET" {
        (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_string(),
        )
    } else if path != "/healthz" && path != "/" && !authorized(&buf, views.token.as_deref()) {
        (
            "401 Unauthorized",
            "text/plain",
            "this admin API needs Authorization: Bearer TOKEN\n".to_string(),
        )
    } else if let Some(q) = core_query(path, query) {
        match q {
            Ok(q) => ask(&views, q).await,
            Err(e) => ("400 Bad Request", "text/plain", format!("{e}\n")),
        }
    } else {
        route(path, query, &views)
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Whether the request head carries the token (always, when none is set).
fn authorized(head: &[u8], token: Option<&str>) -> bool {
    let Some(token) = token else {
        return true;
    };
    let head = String::from_utf8_lossy(head);
    head.split("\r\n").skip(1).any(|line| {
        let Some((name, value)) = line.split_once(':') else {
            return false;
        };
        name.trim().eq_ignore_ascii_case("authorization")
            && value
                .trim()
                .strip_prefix("Bearer ")
                .is_some_and(|t| constant_time_eq(t.trim().as_bytes(), token.as_bytes()))
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn route(path: &str, query: &str, views: &Views) -> (&'static str, &'static str, String) {
    match path {
        "/" => (
            "200 OK",
            "text/html; charset=utf-8",
            include_str!("admin/dashboard.html").into(),
        ),
        "/healthz" => ("200 OK", "text/plain", "ok\n".into()),
        "/metrics" => match &views.metrics {
            Some(h) => ("200 OK", "text/plain; version=0.0.4", h.render()),
            None => (
                "404 Not Found",
                "text/plain",
                "no metrics exporter installed\n".into(),
            ),
        },
        "/api/transactions" => {
            let kind = param(query, "kind").map(|k| Kind::parse(k).ok_or(k));
            match kind {
                Some(Err(k)) => (
                    "400 Bad Request",
                    "text/plain",
                    format!("unknown kind {k:?}: notification, subscription, search or probe\n"),
                ),
                Some(Ok(k)) => ("200 OK", "application/json", records(views, Some(k))),
                None => ("200 OK", "application/json", records(views, None)),
            }
        }
        _ => ("404 Not Found", "text/plain", "not found\n".into()),
    }
}

fn records(views: &Views, kind: Option<Kind>) -> String {
    let t = views.telemetry.lock().unwrap_or_else(|p| p.into_inner());
    let list: Vec<serde_json::Value> = t.latest(kind).iter().map(|r| r.to_json()).collect();
    serde_json::Value::Array(list).to_string()
}
