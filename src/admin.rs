//! The admin HTTP listener: `GET /healthz` (the node is up), `GET /metrics`
//! (Prometheus text), `GET /api/transactions?kind=...` (the latest latency
//! records as JSON), `GET /api/nodes` (the PresenceCloud members as this
//! node sees them: name, slot, row, col, alive, ps_list; empty when the
//! node runs alone), `GET /api/rtt` (this node's probe RTT per peer) and
//! `GET /api/cluster` (both, with the overlay's counters).
//!
//! Bound to loopback by default. With a token configured (required beyond
//! loopback), every path but `/healthz` needs `Authorization: Bearer TOKEN`;
//! a health check needs no secret.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::node::ClusterView;
use crate::telemetry::{Kind, Tracker};

/// What the admin pages show.
#[derive(Clone)]
pub struct Views {
    /// Renders the Prometheus page; None when no exporter is installed.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    pub telemetry: Arc<Mutex<Tracker>>,
    pub cluster: Arc<Mutex<ClusterView>>,
    /// The bearer token the API requires, if any.
    pub token: Option<String>,
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
    } else if path != "/healthz" && !authorized(&buf, views.token.as_deref()) {
        (
            "401 Unauthorized",
            "text/plain",
            "this admin API needs Authorization: Bearer TOKEN\n".to_string(),
        )
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

fn cluster_json(views: &Views, what: fn(&ClusterView) -> serde_json::Value) -> String {
    let v = views.cluster.lock().unwrap_or_else(|p| p.into_inner());
    what(&v).to_string()
}

fn route(path: &str, query: &str, views: &Views) -> (&'static str, &'static str, String) {
    match path {
        "/api/nodes" => (
            "200 OK",
            "application/json",
            cluster_json(views, |v| serde_json::json!(v.nodes)),
        ),
        "/api/rtt" => (
            "200 OK",
            "application/json",
            cluster_json(
                views,
                |v| serde_json::json!({"node": v.node, "rtt_ms": v.rtt}),
            ),
        ),
        "/api/cluster" => (
            "200 OK",
            "application/json",
            cluster_json(views, |v| serde_json::json!(v)),
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
            let kind = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("kind="))
                .map(|k| Kind::parse(k).ok_or(k));
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
