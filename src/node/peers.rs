//! The links between PresenceCloud nodes: TCP connections that carry the
//! [`wire`](crate::cloud::wire) frames. Each node sends on the connection
//! it dialled to a peer's cluster address (one writer per address, so a
//! direction's frames stay in order) and reads from every connection, its
//! own and those it accepted. A link whose handshake fails or that sends a
//! bad frame is closed with a logged reason; the node carries on.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::cloud::message::Message;
use crate::cloud::wire::{self, FrameReader, Handshake, Session, Step, WireError};

/// How long a peer has to prove it knows the secret.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Batches waiting for a link; beyond this a slow peer loses them (and the
/// cache's sequence numbers repair what was lost).
const QUEUE: usize = 1024;
/// A dial that failed is not retried before this.
const REDIAL: Duration = Duration::from_millis(500);

/// What the links tell the node.
#[derive(Debug)]
pub enum PeerEvent {
    /// An authenticated link to `peer` is up.
    Up {
        peer: String,
    },
    Messages {
        peer: String,
        msgs: Vec<Message>,
    },
}

struct Identity {
    name: String,
    secret: Vec<u8>,
}

pub struct Peers {
    me: Arc<Identity>,
    events: mpsc::Sender<PeerEvent>,
    writers: HashMap<String, mpsc::Sender<Vec<Message>>>,
    failed: HashMap<String, tokio::time::Instant>,
    pub local: SocketAddr,
}

impl Peers {
    /// Binds the cluster listener and accepts peers until `stop`.
    pub async fn bind(
        listen: SocketAddr,
        name: &str,
        secret: &str,
        events: mpsc::Sender<PeerEvent>,
        mut stop: watch::Receiver<bool>,
    ) -> std::io::Result<Peers> {
        let listener = TcpListener::bind(listen).await?;
        let local = listener.local_addr()?;
        let me = Arc::new(Identity {
            name: name.into(),
            secret: secret.as_bytes().to_vec(),
        });
        let accept_me = me.clone();
        let accept_events = events.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    r = listener.accept() => match r {
                        Ok((stream, from)) => {
                            let _ = stream.set_nodelay(true);
                            tokio::spawn(link(stream, from.to_string(), accept_me.clone(), None, accept_events.clone()));
                        }
                        Err(e) => tracing::warn!(error = %e, "cluster accept failed"),
                    },
                    _ = stop.changed() => return,
                }
            }
        });
        Ok(Peers {
            me,
            events,
            writers: HashMap::new(),
            failed: HashMap::new(),
            local,
        })
    }

    /// Queues one batch (one frame) for the node at `addr`, dialling it if
    /// there is no link. Returns false when the batch was dropped.
    pub fn send(&mut self, addr: &str, msgs: Vec<Message>) -> bool {
        if let Some(w) = self.writers.get(addr) {
            match w.try_send(msgs) {
                Ok(()) => return true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(peer = addr, "cluster link backlog full, batch dropped");
                    return false;
                }
                Err(mpsc::error::TrySendError::Closed(m)) => {
                    self.writers.remove(addr);
                    self.failed.insert(addr.into(), tokio::time::Instant::now());
                    return self.dial(addr, m);
                }
            }
        }
        self.dial(addr, msgs)
    }

    fn dial(&mut self, addr: &str, msgs: Vec<Message>) -> bool {
        let now = tokio::time::Instant::now();
        if self.failed.get(addr).is_some_and(|t| now < *t + REDIAL) {
            return false;
        }
        self.failed.remove(addr);
        let (tx, rx) = mpsc::channel(QUEUE);
        let _ = tx.try_send(msgs);
        self.writers.insert(addr.into(), tx);
        let me = self.me.clone();
        let events = self.events.clone();
        let addr = addr.to_string();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, TcpStream::connect(&addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    link(stream, addr, me, Some(rx), events).await;
                }
                Ok(Err(e)) => tracing::debug!(peer = %addr, error = %e, "cluster dial failed"),
                Err(_) => tracing::debug!(peer = %addr, "cluster dial timed out"),
            }
        });
        true
    }

    /// Links whose task ended are dialled again on the next send.
    pub fn prune(&mut self) {
        let now = tokio::time::Instant::now();
        self.writers.retain(|addr, w| {
            let open = !w.is_closed();
            if !open {
                self.failed.insert(addr.clone(), now);
            }
            open
        });
    }
}

async fn handshake(
    stream: &mut TcpStream,
    reader: &mut FrameReader,
    me: &Identity,
) -> Result<Session, WireError> {
    let mut hs = Handshake::new(&me.name, &me.secret, wire::nonce());
    let io = |e: std::io::Error| WireError::Malformed(format!("link: {e}"));
    stream.write_all(&hs.hello_bytes()).await.map_err(io)?;
    let mut buf = vec![0u8; 8192];
    loop {
        while let Some(frame) = reader.next_frame()? {
            match hs.on_frame(&frame)? {
                Step::Send(bytes) => stream.write_all(&bytes).await.map_err(io)?,
                Step::Authenticated(session) => return Ok(session),
            }
        }
        let n = stream.read(&mut buf).await.map_err(io)?;
        if n == 0 {
            return Err(WireError::Malformed("closed during the handshake".into()));
        }
        reader.push(&buf[..n]);
    }
}

/// One link, from handshake to close. `outbound` is set on links this node
/// dialled: it writes what the node queues for that address.
async fn link(
    mut stream: TcpStream,
    addr: String,
    me: Arc<Identity>,
    outbound: Option<mpsc::Receiver<Vec<Message>>>,
    events: mpsc::Sender<PeerEvent>,
) {
    let mut reader = FrameReader::new();
    let session = match tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        handshake(&mut stream, &mut reader, &me),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::warn!(peer = %addr, reason = %e, "cluster link refused");
            return;
        }
        Err(_) => {
            tracing::warn!(peer = %addr, reason = "handshake timed out", "cluster link refused");
            return;
        }
    };
    let peer = session.peer().to_string();
    tracing::debug!(peer = %peer, %addr, "cluster link up");
    if events
        .send(PeerEvent::Up { peer: peer.clone() })
        .await
        .is_err()
    {
        return;
    }
    let reason = run_link(stream, reader, session, outbound, &events).await;
    tracing::warn!(peer = %peer, %addr, %reason, "cluster link closed");
}

async fn run_link(
    stream: TcpStream,
    mut reader: FrameReader,
    mut session: Session,
    mut outbound: Option<mpsc::Receiver<Vec<Message>>>,
    events: &mpsc::Sender<PeerEvent>,
) -> String {
    let peer = session.peer().to_string();
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Frames already buffered first.
        loop {
            match reader.next_frame() {
                Ok(Some(frame)) => match session.open(&frame) {
                    Ok(msgs) => {
                        let ev = PeerEvent::Messages {
                            peer: peer.clone(),
                            msgs,
                        };
                        if events.send(ev).await.is_err() {
                            return "node stopping".into();
                        }
                    }
                    Err(e) => return format!("bad frame: {e}"),
                },
                Ok(None) => break,
                Err(e) => return format!("bad frame: {e}"),
            }
        }
        let next_out = async {
            match &mut outbound {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) => return "closed by peer".into(),
                Ok(n) => reader.push(&buf[..n]),
                Err(e) => return format!("read: {e}"),
            },
            batch = next_out => match batch {
                Some(msgs) => {
                    if let Err(e) = write_batch(&mut session, &mut wr, msgs).await {
                        return e;
                    }
                }
                None => return "node stopping".into(),
            },
        }
    }
}

async fn write_batch(
    session: &mut Session,
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    msgs: Vec<Message>,
) -> Result<(), String> {
    // A batch too large for one frame goes as two halves.
    let mut todo = vec![msgs];
    while let Some(msgs) = todo.pop() {
        match session.seal(&msgs) {
            Ok(bytes) => wr
                .write_all(&bytes)
                .await
                .map_err(|e| format!("write: {e}"))?,
            Err(WireError::TooLarge(_)) if msgs.len() > 1 => {
                let mut first = msgs;
                let second = first.split_off(first.len() / 2);
                todo.push(second);
                todo.push(first);
            }
            Err(e) => return Err(format!("cannot send: {e}")),
        }
    }
    Ok(())
}
