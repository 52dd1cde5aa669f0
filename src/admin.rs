//! The admin HTTP listener. For now it answers `GET /healthz` (the node is
//! up and taking traffic) so that tests, orchestrators and operators can
//! tell when a node is ready; the API and dashboard come with telemetry.
//! Bound to loopback by default.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Binds `addr` and serves until `stop` turns true; returns the bound address.
pub async fn start(
    addr: SocketAddr,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                r = listener.accept() => {
                    if let Ok((stream, _)) = r {
                        tokio::spawn(serve(stream));
                    }
                }
                _ = stop.changed() => return,
            }
        }
    });
    Ok(local)
}

/// One request, one response, then close: enough for health checks.
async fn serve(mut stream: TcpStream) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_done = |b: &[u8]| b.windows(4).any(|w| w == b"\r\n\r\n");
    while !head_done(&buf) && buf.len() < 8192 {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    }
    let line = buf.split(|&b| b == b'\r').next().unwrap_or_default();
    let (status, body) = match line {
        b"GET /healthz HTTP/1.1" | b"GET /healthz HTTP/1.0" => ("200 OK", "ok\n"),
        _ if line.starts_with(b"GET ") => ("404 Not Found", "not found\n"),
        _ => ("405 Method Not Allowed", "only GET\n"),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
