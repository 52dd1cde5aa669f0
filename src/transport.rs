//! Sockets (RFC 3261 §18): UDP and TCP listeners, framing of TCP streams
//! by Content-Length (§18.3), a table of TCP connections reused both ways
//! (a response goes back on the connection its request came on; a request
//! to a peer we already have a connection with uses it), an idle timeout,
//! and a cap on connections.
//!
//! Transport tasks only move bytes: every complete message goes to the node
//! as an [`Inbound`]. A stream whose framing is lost (RFC 4475 §3.1.2.3,
//! §3.3.9) is answered 400 when that can be done and then closed, since no
//! later byte on it can be trusted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};

use crate::config::{Listen, Transport};
use crate::logging::BadInput;
use crate::sip::{self, Limits};

/// Where a message came from, and the way back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Link {
    /// The index of the UDP socket it arrived on.
    Udp(usize),
    /// The TCP connection it arrived on.
    Tcp(u64),
}

/// One complete message from the network, or the end of a connection.
#[derive(Debug)]
pub struct Inbound {
    pub bytes: Vec<u8>,
    pub source: SocketAddr,
    pub link: Link,
    pub event: Event,
}

/// What an [`Inbound`] carries. The end of a TCP connection travels the same
/// channel as its messages, so the node answers every message that came
/// before it and only then closes the connection ([`Transports::close`]).
#[derive(Debug)]
pub enum Event {
    Message,
    /// The stream's framing is lost (RFC 3261 §18.3); `bytes` holds what was
    /// buffered. Answer if possible, then close.
    Broken(sip::ParseError),
    /// The peer closed, or the connection was idle too long.
    Closed,
}

impl Inbound {
    pub fn transport(&self) -> Transport {
        match self.link {
            Link::Udp(_) => Transport::Udp,
            Link::Tcp(_) => Transport::Tcp,
        }
    }
}

/// Socket buffer size asked for each UDP listener.
const UDP_BUFFER: usize = 4 * 1024 * 1024;

/// Where to send bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// From our UDP socket `socket` to `addr`.
    Udp { socket: usize, addr: SocketAddr },
    /// On connection `conn` if it is still open, else on a (new) connection
    /// to `addr` (RFC 3261 §18.2.2: a response whose connection closed is
    /// sent on a new one).
    Tcp { conn: Option<u64>, addr: SocketAddr },
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("no UDP socket {0}")]
    NoSocket(usize),
    #[error("send to {addr}: {source}")]
    Io {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("connection to {0} closed")]
    Closed(SocketAddr),
    #[error("connection limit reached, not connecting to {0}")]
    Full(SocketAddr),
}

struct Conn {
    peer: SocketAddr,
    local: Option<SocketAddr>,
    tx: mpsc::Sender<Vec<u8>>,
}

/// Settings the transport tasks need.
#[derive(Debug, Clone)]
pub struct Settings {
    pub limits: Limits,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// The node's sockets.
pub struct Transports {
    udp: Vec<Arc<UdpSocket>>,
    settings: Settings,
    conns: Mutex<HashMap<u64, Conn>>,
    by_peer: Mutex<HashMap<SocketAddr, u64>>,
    next_conn: AtomicU64,
    open: AtomicUsize,
    inbound: mpsc::Sender<Inbound>,
    bad_input: Arc<BadInput>,
    stop: watch::Receiver<bool>,
}

/// The addresses actually bound, in the order of the listeners.
pub struct Bound {
    pub transports: Arc<Transports>,
    pub local: Vec<Listen>,
}

impl Transports {
    /// Binds every listener and starts its task.
    pub async fn bind(
        listen: &[Listen],
        settings: Settings,
        inbound: mpsc::Sender<Inbound>,
        bad_input: Arc<BadInput>,
        stop: watch::Receiver<bool>,
    ) -> std::io::Result<Bound> {
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        let mut local = Vec::new();
        for l in listen {
            match l.transport {
                Transport::Udp => {
                    let s = UdpSocket::bind(l.addr).await.map_err(|e| with_addr(e, l))?;
                    // A fan-out to many watchers brings their 200s back in
                    // one burst: the default receive buffer (about 200 KiB)
                    // drops some, and each lost one costs a NOTIFY
                    // retransmission after T1. The kernel may cap the size
                    // (net.core.rmem_max); what it grants is enough.
                    let sock = socket2::SockRef::from(&s);
                    let _ = sock.set_recv_buffer_size(UDP_BUFFER);
                    let _ = sock.set_send_buffer_size(UDP_BUFFER);
                    local.push(Listen {
                        transport: Transport::Udp,
                        addr: s.local_addr()?,
                    });
                    udp.push(Arc::new(s));
                }
                Transport::Tcp => {
                    let s = TcpListener::bind(l.addr)
                        .await
                        .map_err(|e| with_addr(e, l))?;
                    local.push(Listen {
                        transport: Transport::Tcp,
                        addr: s.local_addr()?,
                    });
                    tcp.push(s);
                }
            }
        }
        let transports = Arc::new(Transports {
            udp,
            settings,
            conns: Mutex::new(HashMap::new()),
            by_peer: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            open: AtomicUsize::new(0),
            inbound,
            bad_input,
            stop,
        });
        for (index, socket) in transports.udp.iter().enumerate() {
            tokio::spawn(udp_loop(transports.clone(), index, socket.clone()));
        }
        for listener in tcp {
            tokio::spawn(accept_loop(transports.clone(), listener));
        }
        Ok(Bound { transports, local })
    }

    /// The UDP socket to answer from for a response to `addr`'s family.
    pub fn udp_for(&self, addr: SocketAddr) -> Option<usize> {
        self.udp
            .iter()
            .position(|s| s.local_addr().is_ok_and(|l| l.is_ipv4() == addr.is_ipv4()))
    }

    /// Sends, opening a TCP connection first when none is open to the
    /// target (RFC 3261 §18.2.2: a response whose connection closed goes on
    /// a new one).
    pub async fn send(self: &Arc<Self>, target: Target, bytes: Vec<u8>) -> Result<(), SendError> {
        let Some(bytes) = self.send_open(target, bytes).await? else {
            return Ok(());
        };
        let addr = match target {
            Target::Tcp { addr, .. } | Target::Udp { addr, .. } => addr,
        };
        let id = self.connect(addr).await?;
        let tx = self.lock_conns().get(&id).map(|c| c.tx.clone());
        match tx {
            Some(tx) => tx.send(bytes).await.map_err(|_| SendError::Closed(addr)),
            None => Err(SendError::Closed(addr)),
        }
    }

    /// Sends on what is open: UDP, or the target's TCP connection (or one
    /// to its address). The bytes come back when a TCP connection must be
    /// opened first, which [`send`](Self::send) does and which may take up
    /// to its timeout: callers that must not wait do it from a task of
    /// their own.
    pub async fn send_open(
        &self,
        target: Target,
        bytes: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, SendError> {
        match target {
            Target::Udp { socket, addr } => {
                let s = self.udp.get(socket).ok_or(SendError::NoSocket(socket))?;
                s.send_to(&bytes, addr)
                    .await
                    .map(|_| None)
                    .map_err(|source| SendError::Io { addr, source })
            }
            Target::Tcp { conn, addr } => {
                let known = conn.or_else(|| self.lock_peers().get(&addr).copied());
                let tx = known.and_then(|id| self.lock_conns().get(&id).map(|c| c.tx.clone()));
                let Some(tx) = tx else {
                    return Ok(Some(bytes));
                };
                match tx.send(bytes).await {
                    Ok(()) => Ok(None),
                    // closed under us: take the bytes back
                    Err(mpsc::error::SendError(b)) => Ok(Some(b)),
                }
            }
        }
    }

    /// Opens an outbound connection, which then also carries requests the
    /// peer sends us (connection reuse both ways).
    async fn connect(self: &Arc<Self>, addr: SocketAddr) -> Result<u64, SendError> {
        if self.open.load(Ordering::Relaxed) >= self.settings.max_connections {
            return Err(SendError::Full(addr));
        }
        let stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
            .await
            .map_err(|_| SendError::Io {
                addr,
                source: std::io::ErrorKind::TimedOut.into(),
            })?
            .map_err(|source| SendError::Io { addr, source })?;
        Ok(self.clone().start_conn(stream, addr))
    }

    /// Our address on a link: the UDP socket's, or the TCP connection's.
    pub fn local_addr(&self, link: Link) -> Option<SocketAddr> {
        match link {
            Link::Udp(i) => self.udp.get(i).and_then(|s| s.local_addr().ok()),
            Link::Tcp(id) => self.lock_conns().get(&id).and_then(|c| c.local),
        }
    }

    /// Number of open TCP connections.
    pub fn connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    fn lock_conns(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Conn>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_peers(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, u64>> {
        self.by_peer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn start_conn(self: Arc<Self>, stream: TcpStream, peer: SocketAddr) -> u64 {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(256);
        self.open.fetch_add(1, Ordering::Relaxed);
        let local = stream.local_addr().ok();
        self.lock_conns().insert(id, Conn { peer, local, tx });
        self.lock_peers().insert(peer, id);
        tokio::spawn(async move {
            let (read, write) = stream.into_split();
            tokio::spawn(write_loop(write, rx));
            // The node closes the connection (drops its sender, so the
            // writer flushes and shuts down) when it has handled the end.
            self.read_loop(read, id, peer).await;
        });
        id
    }

    fn remove_conn(&self, id: u64) {
        if let Some(c) = self.lock_conns().remove(&id) {
            let mut peers = self.lock_peers();
            if peers.get(&c.peer) == Some(&id) {
                peers.remove(&c.peer);
            }
            self.open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    async fn read_loop(&self, mut read: tokio::net::tcp::OwnedReadHalf, id: u64, peer: SocketAddr) {
        let mut buf: Vec<u8> = Vec::with_capacity(4096);
        let mut chunk = vec![0u8; 16 * 1024];
        let mut stop = self.stop.clone();
        loop {
            // Frame every complete message already buffered.
            loop {
                let keepalive = sip::skip_keepalive(&buf);
                if keepalive > 0 {
                    // RFC 5626 §3.5.1: a CRLF CRLF ping gets a CRLF pong.
                    if keepalive >= 4 {
                        self.reply_raw(id, b"\r\n".to_vec()).await;
                    }
                    buf.drain(..keepalive);
                }
                if buf.is_empty() {
                    break;
                }
                match sip::frame(&buf, &self.settings.limits) {
                    Ok(Some(n)) => {
                        let bytes: Vec<u8> = buf.drain(..n).collect();
                        if !self.deliver(bytes, peer, id, Event::Message).await {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        // Framing is lost: the node answers if it can, then
                        // closes; nothing after this point can be trusted.
                        let rest = std::mem::take(&mut buf);
                        self.deliver(rest, peer, id, Event::Broken(e)).await;
                        return;
                    }
                }
            }
            let read_once = tokio::time::timeout(self.settings.idle_timeout, read.read(&mut chunk));
            tokio::select! {
                r = read_once => match r {
                    Err(_) => {
                        tracing::debug!(%peer, "closing idle TCP connection");
                        self.deliver(Vec::new(), peer, id, Event::Closed).await;
                        return;
                    }
                    Ok(Ok(0)) | Ok(Err(_)) => {
                        self.deliver(Vec::new(), peer, id, Event::Closed).await;
                        return;
                    }
                    Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                },
                _ = stop.changed() => {
                    self.remove_conn(id);
                    return;
                }
            }
        }
    }

    /// Hands an event to the node; if the node is gone, closes at once.
    async fn deliver(&self, bytes: Vec<u8>, source: SocketAddr, id: u64, event: Event) -> bool {
        let msg = Inbound {
            bytes,
            source,
            link: Link::Tcp(id),
            event,
        };
        if self.inbound.send(msg).await.is_err() {
            self.remove_conn(id);
            return false;
        }
        true
    }

    /// Closes a connection once what was queued for it is written.
    pub fn close(&self, id: u64) {
        self.remove_conn(id);
    }

    async fn reply_raw(&self, id: u64, bytes: Vec<u8>) {
        let tx = self.lock_conns().get(&id).map(|c| c.tx.clone());
        if let Some(tx) = tx {
            let _ = tx.send(bytes).await;
        }
    }
}

fn with_addr(e: std::io::Error, l: &Listen) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("cannot listen on {l}: {e}"))
}

async fn write_loop(mut write: tokio::net::tcp::OwnedWriteHalf, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(bytes) = rx.recv().await {
        if write.write_all(&bytes).await.is_err() {
            return;
        }
    }
    let _ = write.shutdown().await;
}

async fn udp_loop(t: Arc<Transports>, index: usize, socket: Arc<UdpSocket>) {
    let mut buf = vec![0u8; 65_536];
    let mut stop = t.stop.clone();
    loop {
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, source)) => {
                    // Keep-alive CRLFs and stray bytes below a start line
                    // carry nothing to answer.
                    if buf[..n].iter().all(|b| b.is_ascii_whitespace()) {
                        continue;
                    }
                    let msg = Inbound {
                        bytes: buf[..n].to_vec(),
                        source,
                        link: Link::Udp(index),
                        event: Event::Message,
                    };
                    if t.inbound.send(msg).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    // ICMP port unreachable from an earlier send shows up
                    // here on some systems; it is not fatal.
                    tracing::debug!(error = %e, "UDP receive error");
                }
            },
            _ = stop.changed() => return,
        }
    }
}

async fn accept_loop(t: Arc<Transports>, listener: TcpListener) {
    let mut stop = t.stop.clone();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    if t.open.load(Ordering::Relaxed) >= t.settings.max_connections {
                        t.bad_input.warn(peer, "TCP", "connection limit reached; connection refused");
                        drop(stream);
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    t.clone().start_conn(stream, peer);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stop.changed() => return,
        }
    }
}
