//! The inter-node wire protocol: frames, the authenticating handshake and
//! the sealed data frames that carry batches of [`Message`]s. Sans-io: no
//! sockets, no clock, no tokio. The only OS call is [`nonce`].
//!
//! # Frames
//!
//! Every frame, in both directions and at every stage:
//!
//! | bytes | field    | meaning                                                  |
//! |-------|----------|----------------------------------------------------------|
//! | 4     | length   | `u32` big-endian, bytes that follow (≥ 2, ≤ [`MAX_FRAME`]) |
//! | 1     | version  | protocol version, [`VERSION`] = 1                        |
//! | 1     | kind     | 1 = Hello, 2 = Auth, 3 = Data                            |
//! | rest  | body     | depends on the kind, below                               |
//!
//! Bodies:
//!
//! | kind      | body                                                                   |
//! |-----------|------------------------------------------------------------------------|
//! | 1 Hello   | JSON `{"node": "<name>", "nonce": "<32 hex digits>"}`                  |
//! | 2 Auth    | 32 bytes: HMAC-SHA256(secret, `"presencecloud-auth"` ‖ verifier nonce ‖ prover nonce ‖ prover name) |
//! | 3 Data    | `u64` big-endian sequence ‖ 16-byte tag ‖ JSON `Vec<Message>`          |
//!
//! The Data tag is HMAC-SHA256(session key, direction ‖ sequence ‖ JSON)
//! truncated to its first 16 bytes. The session key is HMAC-SHA256(secret,
//! `"presencecloud-session"` ‖ min(nonce A, nonce B) ‖ max(nonce A, nonce B)).
//! The direction byte is 0 for what the side with the smaller nonce sends
//! and 1 for what the other side sends, so a frame reflected back to its
//! sender fails. Sequences start at 0 in each direction and must arrive
//! exactly in order: a replayed, reordered or lost frame is an error.
//!
//! # The handshake
//!
//! Both ends are alike; there is no initiator. Each side:
//! 1. sends its Hello ([`Handshake::hello_bytes`]) at once, with a fresh
//!    [`nonce`];
//! 2. on the peer's Hello, sends its Auth: proof that it knows the secret,
//!    made over the *peer's* nonce (so an Auth recorded from an earlier link
//!    is worthless) and its own name;
//! 3. on the peer's Auth, checks it and holds a [`Session`].
//!
//! On one stream the peer's frames therefore come as Hello, Auth, Data...;
//! the peer sends Data only once it has checked our Auth. The caller keeps
//! one [`FrameReader`] for the whole link, hands frames to the
//! [`Handshake`] until it yields [`Step::Authenticated`] and the rest to the
//! [`Session`]. Timeouts are the caller's (there is no clock here).
//!
//! Every [`WireError`] is fatal for the link: close it.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::message::Message;

type HmacSha256 = Hmac<Sha256>;

/// The protocol version this node speaks (and the only one it accepts).
pub const VERSION: u8 = 1;

/// The largest value of the length prefix: 4 MiB.
pub const MAX_FRAME: usize = 4 * 1024 * 1024;

/// Bytes of a nonce.
pub const NONCE_LEN: usize = 16;

/// Bytes of an Auth body (a full HMAC-SHA256).
pub const AUTH_LEN: usize = 32;

/// Bytes of a Data frame's truncated tag.
pub const TAG_LEN: usize = 16;

/// Bytes of the length prefix.
const PREFIX_LEN: usize = 4;

/// Bytes of a Data frame before its JSON: version, kind, sequence, tag.
const DATA_OVERHEAD: usize = 2 + 8 + TAG_LEN;

/// The largest JSON payload one Data frame can carry.
pub const MAX_PAYLOAD: usize = MAX_FRAME - DATA_OVERHEAD;

const AUTH_LABEL: &[u8] = b"presencecloud-auth";
const SESSION_LABEL: &[u8] = b"presencecloud-session";

/// Why a link must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("peer does not know the cluster secret")]
    BadSecret,
    #[error("peer speaks wire protocol version {got}, this node speaks {ours}", ours = VERSION)]
    BadVersion { got: u8 },
    #[error("malformed frame from peer: {0}")]
    Malformed(String),
    #[error("frame of {0} bytes is over the {max}-byte limit", max = MAX_FRAME)]
    TooLarge(usize),
    #[error("peer sent a frame that does not belong at this stage of the link")]
    UnexpectedFrame,
    #[error("link leads back to this node (peer has our name or our nonce)")]
    Loopback,
    #[error("data frame failed authentication (tampered, reflected or from another link)")]
    BadTag,
    #[error("data frame out of order: expected sequence {expected}, got {got} (replayed or lost)")]
    BadSequence { expected: u64, got: u64 },
}

fn malformed(what: impl Into<String>) -> WireError {
    WireError::Malformed(what.into())
}

/// A fresh random nonce from the OS.
///
/// # Panics
/// When the OS has no randomness to give, which leaves nothing sensible to
/// do.
pub fn nonce() -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    getrandom::getrandom(&mut n).expect("the OS random number generator failed");
    n
}

/// One frame as it came off the wire, after its length prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub version: u8,
    /// [`Frame::HELLO`], [`Frame::AUTH`], [`Frame::DATA`] or anything a peer
    /// sent.
    pub kind: u8,
    pub body: Vec<u8>,
}

impl Frame {
    pub const HELLO: u8 = 1;
    pub const AUTH: u8 = 2;
    pub const DATA: u8 = 3;

    /// The frame as sent, length prefix included.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self.version, self.kind, &[&self.body])
    }
}

/// Prefix, version, kind, then the parts of the body. The caller keeps the
/// total within [`MAX_FRAME`].
fn encode(version: u8, kind: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len = 2 + parts.iter().map(|p| p.len()).sum::<usize>();
    let prefix = u32::try_from(len).expect("frame length fits in u32");
    let mut out = Vec::with_capacity(PREFIX_LEN + len);
    out.extend_from_slice(&prefix.to_be_bytes());
    out.push(version);
    out.push(kind);
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// Accumulates bytes of one stream and cuts them into [`Frame`]s.
///
/// A length prefix is checked as soon as its 4 bytes are in: a frame over
/// [`MAX_FRAME`] is refused before its body is kept, the buffer is dropped
/// and the reader stays failed (every later call returns the same error).
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf`.
    start: usize,
    failed: Option<WireError>,
}

impl FrameReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes read from the stream. After a failure they are dropped.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
        // Refuse an oversize frame now, not once its body has piled up.
        if let Err(e) = self.pending_len() {
            self.fail(e);
        }
    }

    /// The next complete frame, `None` until one is in.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, WireError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let len = match self.pending_len() {
            Ok(Some(len)) => len,
            Ok(None) => return Ok(None),
            Err(e) => return Err(self.fail(e)),
        };
        let avail = self.buf.len() - self.start;
        if avail < PREFIX_LEN + len {
            return Ok(None);
        }
        let at = self.start + PREFIX_LEN;
        let frame = Frame {
            version: self.buf[at],
            kind: self.buf[at + 1],
            body: self.buf[at + 2..at + len].to_vec(),
        };
        self.start = at + len;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        // The next frame's prefix may already be in: check it now too.
        if let Err(e) = self.pending_len() {
            self.fail(e);
        }
        Ok(Some(frame))
    }

    /// Bytes held that are not yet a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The length prefix of the first unread frame, once it is in.
    fn pending_len(&self) -> Result<Option<usize>, WireError> {
        let unread = &self.buf[self.start..];
        let Some(prefix) = unread.first_chunk::<PREFIX_LEN>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*prefix) as usize;
        if len < 2 {
            return Err(malformed(format!(
                "length {len} leaves no room for version and kind"
            )));
        }
        if len > MAX_FRAME {
            return Err(WireError::TooLarge(len));
        }
        Ok(Some(len))
    }

    fn fail(&mut self, e: WireError) -> WireError {
        self.buf = Vec::new();
        self.start = 0;
        self.failed = Some(e.clone());
        e
    }
}

/// The Hello body.
#[derive(Debug, Serialize, Deserialize)]
struct Hello {
    node: String,
    nonce: String,
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

fn nonce_from_hex(s: &str) -> Option<[u8; NONCE_LEN]> {
    let digits = s.as_bytes();
    if digits.len() != NONCE_LEN * 2 {
        return None;
    }
    let mut out = [0u8; NONCE_LEN];
    for (o, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        *o = u8::try_from((hi << 4) | lo).ok()?;
    }
    Some(out)
}

fn keyed(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length")
}

/// The MAC of an Auth frame: `prover` proves it knows `secret`, over the
/// verifier's nonce.
fn auth_mac(
    secret: &[u8],
    verifier_nonce: &[u8; NONCE_LEN],
    prover_nonce: &[u8; NONCE_LEN],
    prover_name: &str,
) -> HmacSha256 {
    let mut mac = keyed(secret);
    mac.update(AUTH_LABEL);
    mac.update(verifier_nonce);
    mac.update(prover_nonce);
    mac.update(prover_name.as_bytes());
    mac
}

/// What [`Handshake::on_frame`] asks of the caller.
#[derive(Debug)]
pub enum Step {
    /// Send these bytes (our Auth) and keep feeding frames.
    Send(Vec<u8>),
    /// The peer proved it knows the secret: the link is up.
    Authenticated(Session),
}

enum HandshakeState {
    AwaitHello,
    AwaitAuth {
        peer: String,
        peer_nonce: [u8; NONCE_LEN],
    },
    /// Authenticated or failed: no more frames for the handshake.
    Finished,
}

/// The handshake of one link, from this node's side. See the module doc.
pub struct Handshake {
    me: String,
    secret: Vec<u8>,
    nonce: [u8; NONCE_LEN],
    state: HandshakeState,
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            HandshakeState::AwaitHello => "await-hello",
            HandshakeState::AwaitAuth { .. } => "await-auth",
            HandshakeState::Finished => "finished",
        };
        f.debug_struct("Handshake")
            .field("me", &self.me)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl Handshake {
    /// `nonce` must be fresh for every link: take it from [`nonce`].
    pub fn new(my_name: &str, secret: &[u8], nonce: [u8; NONCE_LEN]) -> Self {
        Handshake {
            me: my_name.to_owned(),
            secret: secret.to_vec(),
            nonce,
            state: HandshakeState::AwaitHello,
        }
    }

    /// Our Hello frame: send it as soon as the link is open.
    pub fn hello_bytes(&self) -> Vec<u8> {
        let hello = Hello {
            node: self.me.clone(),
            nonce: to_hex(&self.nonce),
        };
        let body = serde_json::to_vec(&hello).expect("a Hello serializes");
        encode(VERSION, Frame::HELLO, &[&body])
    }

    /// Takes the peer's next frame: its Hello (answered with
    /// [`Step::Send`] of our Auth), then its Auth (answered with
    /// [`Step::Authenticated`]). After an error or once authenticated,
    /// every frame is [`WireError::UnexpectedFrame`].
    pub fn on_frame(&mut self, frame: &Frame) -> Result<Step, WireError> {
        let state = std::mem::replace(&mut self.state, HandshakeState::Finished);
        if let HandshakeState::Finished = state {
            return Err(WireError::UnexpectedFrame);
        }
        if frame.version != VERSION {
            return Err(WireError::BadVersion { got: frame.version });
        }
        match state {
            HandshakeState::AwaitHello => {
                if frame.kind != Frame::HELLO {
                    return Err(WireError::UnexpectedFrame);
                }
                let (peer, peer_nonce) = self.read_hello(&frame.body)?;
                let auth = auth_mac(&self.secret, &peer_nonce, &self.nonce, &self.me)
                    .finalize()
                    .into_bytes();
                self.state = HandshakeState::AwaitAuth { peer, peer_nonce };
                Ok(Step::Send(encode(VERSION, Frame::AUTH, &[&auth])))
            }
            HandshakeState::AwaitAuth { peer, peer_nonce } => {
                if frame.kind != Frame::AUTH {
                    return Err(WireError::UnexpectedFrame);
                }
                if frame.body.len() != AUTH_LEN {
                    return Err(malformed(format!(
                        "auth of {} bytes, expected {AUTH_LEN}",
                        frame.body.len()
                    )));
                }
                auth_mac(&self.secret, &self.nonce, &peer_nonce, &peer)
                    .verify_slice(&frame.body)
                    .map_err(|_| WireError::BadSecret)?;
                Ok(Step::Authenticated(Session::new(
                    peer,
                    &self.secret,
                    &self.nonce,
                    &peer_nonce,
                )))
            }
            HandshakeState::Finished => unreachable!("handled above"),
        }
    }

    fn read_hello(&self, body: &[u8]) -> Result<(String, [u8; NONCE_LEN]), WireError> {
        let hello: Hello =
            serde_json::from_slice(body).map_err(|e| malformed(format!("hello: {e}")))?;
        if hello.node.is_empty() {
            return Err(malformed("hello: empty node name"));
        }
        let peer_nonce = nonce_from_hex(&hello.nonce).ok_or_else(|| {
            malformed(format!("hello: nonce is not {} hex digits", NONCE_LEN * 2))
        })?;
        // Our own Hello sent back (or two links of ours crossed by a
        // third party) would let our Auth serve as the peer's.
        if hello.node == self.me || peer_nonce == self.nonce {
            return Err(WireError::Loopback);
        }
        Ok((hello.node, peer_nonce))
    }
}

/// An authenticated link: seals our batches into Data frames and opens the
/// peer's.
pub struct Session {
    peer: String,
    key: [u8; 32],
    send_dir: u8,
    recv_dir: u8,
    send_seq: u64,
    recv_seq: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("peer", &self.peer)
            .field("send_seq", &self.send_seq)
            .field("recv_seq", &self.recv_seq)
            .finish_non_exhaustive()
    }
}

impl Session {
    fn new(
        peer: String,
        secret: &[u8],
        my_nonce: &[u8; NONCE_LEN],
        peer_nonce: &[u8; NONCE_LEN],
    ) -> Self {
        let (lo, hi) = if my_nonce < peer_nonce {
            (my_nonce, peer_nonce)
        } else {
            (peer_nonce, my_nonce)
        };
        let mut mac = keyed(secret);
        mac.update(SESSION_LABEL);
        mac.update(lo);
        mac.update(hi);
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        // The smaller nonce sends with direction 0 (nonces differ: the
        // handshake refuses an echo of ours).
        let send_dir = u8::from(my_nonce > peer_nonce);
        Session {
            peer,
            key,
            send_dir,
            recv_dir: 1 - send_dir,
            send_seq: 0,
            recv_seq: 0,
        }
    }

    /// The peer's node name, as it gave it in its Hello and proved in its
    /// Auth.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Data frames sealed so far (the next one's sequence).
    pub fn sent(&self) -> u64 {
        self.send_seq
    }

    /// Data frames opened so far (the next expected sequence).
    pub fn received(&self) -> u64 {
        self.recv_seq
    }

    fn mac(&self, direction: u8, seq: u64, payload: &[u8]) -> HmacSha256 {
        let mut mac = keyed(&self.key);
        mac.update(&[direction]);
        mac.update(&seq.to_be_bytes());
        mac.update(payload);
        mac
    }

    /// One Data frame carrying `msgs`, length prefix included. A batch whose
    /// JSON is over [`MAX_PAYLOAD`] is [`WireError::TooLarge`]: split it.
    pub fn seal(&mut self, msgs: &[Message]) -> Result<Vec<u8>, WireError> {
        let payload = serde_json::to_vec(msgs)
            .map_err(|e| malformed(format!("cannot encode a batch: {e}")))?;
        if payload.len() > MAX_PAYLOAD {
            return Err(WireError::TooLarge(DATA_OVERHEAD + payload.len()));
        }
        let seq = self.send_seq;
        let tag = self
            .mac(self.send_dir, seq, &payload)
            .finalize()
            .into_bytes();
        let frame = encode(
            VERSION,
            Frame::DATA,
            &[&seq.to_be_bytes(), &tag[..TAG_LEN], &payload],
        );
        self.send_seq += 1;
        Ok(frame)
    }

    /// The batch of a Data frame from the peer. The frame must carry
    /// [`VERSION`], be the next in sequence and bear a good tag.
    pub fn open(&mut self, frame: &Frame) -> Result<Vec<Message>, WireError> {
        if frame.version != VERSION {
            return Err(WireError::BadVersion { got: frame.version });
        }
        if frame.kind != Frame::DATA {
            return Err(WireError::UnexpectedFrame);
        }
        let Some((seq, rest)) = frame.body.split_first_chunk::<8>() else {
            return Err(malformed("data frame shorter than its header"));
        };
        let Some((tag, payload)) = rest.split_first_chunk::<TAG_LEN>() else {
            return Err(malformed("data frame shorter than its header"));
        };
        let seq = u64::from_be_bytes(*seq);
        self.mac(self.recv_dir, seq, payload)
            .verify_truncated_left(tag)
            .map_err(|_| WireError::BadTag)?;
        if seq != self.recv_seq {
            return Err(WireError::BadSequence {
                expected: self.recv_seq,
                got: seq,
            });
        }
        let msgs =
            serde_json::from_slice(payload).map_err(|e| malformed(format!("data payload: {e}")))?;
        self.recv_seq += 1;
        Ok(msgs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::message::{Delta, Hit, MemberState};

    const SECRET: &[u8] = b"correct horse battery staple";

    /// Every complete frame in `bytes`.
    fn frames(bytes: &[u8]) -> Vec<Frame> {
        let mut r = FrameReader::new();
        r.push(bytes);
        let mut out = Vec::new();
        while let Some(f) = r.next_frame().unwrap() {
            out.push(f);
        }
        assert_eq!(r.buffered(), 0, "trailing bytes");
        out
    }

    fn one_frame(bytes: &[u8]) -> Frame {
        let mut fs = frames(bytes);
        assert_eq!(fs.len(), 1);
        fs.remove(0)
    }

    fn expect_send(step: Step) -> Vec<u8> {
        match step {
            Step::Send(b) => b,
            Step::Authenticated(s) => panic!("authenticated too early with {}", s.peer()),
        }
    }

    fn expect_session(step: Step) -> Session {
        match step {
            Step::Authenticated(s) => s,
            Step::Send(_) => panic!("expected authentication, got more to send"),
        }
    }

    /// Runs the handshake between `a` and `b` as two simultaneous
    /// initiators; returns each side's outcome.
    fn run(
        mut a: Handshake,
        mut b: Handshake,
    ) -> (Result<Session, WireError>, Result<Session, WireError>) {
        // Both Hellos cross on the wire.
        let a_hello = one_frame(&a.hello_bytes());
        let b_hello = one_frame(&b.hello_bytes());
        let a_auth = a.on_frame(&b_hello).map(expect_send);
        let b_auth = b.on_frame(&a_hello).map(expect_send);
        let a_result = match &b_auth {
            Ok(auth) => a.on_frame(&one_frame(auth)).map(expect_session),
            Err(e) => Err(e.clone()),
        };
        let b_result = match &a_auth {
            Ok(auth) => b.on_frame(&one_frame(auth)).map(expect_session),
            Err(e) => Err(e.clone()),
        };
        (a_result, b_result)
    }

    fn pair() -> (Session, Session) {
        let (a, b) = run(
            Handshake::new("ps-a", SECRET, nonce()),
            Handshake::new("ps-b", SECRET, nonce()),
        );
        (a.unwrap(), b.unwrap())
    }

    fn batch(i: u64) -> Vec<Message> {
        vec![
            Message::Ping {
                id: i,
                report: Default::default(),
            },
            Message::Deltas {
                origin: "ps-a".into(),
                generation: 7,
                first_seq: i * 10,
                deltas: vec![
                    Delta::Attach {
                        aor: format!("sip:u{i}@example.com"),
                        state: "<presence/>".into(),
                    },
                    Delta::Detach {
                        aor: "sip:gone@example.com".into(),
                    },
                ],
            },
            Message::Found {
                id: i,
                hits: vec![Hit {
                    aor: "sip:x@example.com".into(),
                    home: "ps-c".into(),
                }],
                done: true,
            },
        ]
    }

    #[test]
    fn two_handshakes_authenticate_each_other_and_carry_batches_both_ways() {
        let (mut a, mut b) = pair();
        assert_eq!(a.peer(), "ps-b");
        assert_eq!(b.peer(), "ps-a");
        for i in 0..5 {
            let to_b = a.seal(&batch(i)).unwrap();
            assert_eq!(b.open(&one_frame(&to_b)).unwrap(), batch(i));
            let gossip = vec![Message::Gossip {
                members: vec![MemberState {
                    name: "ps-b".into(),
                    addr: "127.0.0.1:5070".into(),
                    generation: 1,
                    heartbeat: i,
                }],
            }];
            let to_a = b.seal(&gossip).unwrap();
            assert_eq!(a.open(&one_frame(&to_a)).unwrap(), gossip);
        }
        // Several frames in flight at once, and an empty batch.
        let burst: Vec<u8> = [a.seal(&[]).unwrap(), a.seal(&batch(9)).unwrap()].concat();
        let fs = frames(&burst);
        assert_eq!(b.open(&fs[0]).unwrap(), Vec::<Message>::new());
        assert_eq!(b.open(&fs[1]).unwrap(), batch(9));
        assert_eq!((a.sent(), b.received()), (7, 7));
        assert_eq!((b.sent(), a.received()), (5, 5));
    }

    #[test]
    fn hello_frame_has_documented_layout() {
        let n = [0xabu8; NONCE_LEN];
        let bytes = Handshake::new("ps-a", SECRET, n).hello_bytes();
        let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        assert_eq!(len, bytes.len() - 4);
        assert_eq!((bytes[4], bytes[5]), (VERSION, Frame::HELLO));
        let v: serde_json::Value = serde_json::from_slice(&bytes[6..]).unwrap();
        assert_eq!(v["node"], "ps-a");
        assert_eq!(v["nonce"], "ab".repeat(16));
    }

    #[test]
    fn auth_and_data_frames_have_documented_layout() {
        let mut a = Handshake::new("ps-a", SECRET, [1; NONCE_LEN]);
        let b = Handshake::new("ps-b", SECRET, [2; NONCE_LEN]);
        let auth = expect_send(a.on_frame(&one_frame(&b.hello_bytes())).unwrap());
        assert_eq!(auth.len(), 4 + 2 + AUTH_LEN);
        let f = one_frame(&auth);
        assert_eq!((f.version, f.kind), (VERSION, Frame::AUTH));
        let expected = auth_mac(SECRET, &[2; NONCE_LEN], &[1; NONCE_LEN], "ps-a")
            .finalize()
            .into_bytes();
        assert_eq!(f.body, expected.to_vec());

        let (mut s, _) = pair();
        s.seal(&[]).unwrap();
        let f = one_frame(&s.seal(&batch(1)).unwrap());
        assert_eq!((f.version, f.kind), (VERSION, Frame::DATA));
        assert_eq!(u64::from_be_bytes(f.body[..8].try_into().unwrap()), 1);
        let json: Vec<Message> = serde_json::from_slice(&f.body[8 + TAG_LEN..]).unwrap();
        assert_eq!(json, batch(1));
    }

    #[test]
    fn wrong_secret_on_one_side_is_bad_secret_on_both() {
        let (a, b) = run(
            Handshake::new("ps-a", SECRET, nonce()),
            Handshake::new("ps-b", b"not the secret", nonce()),
        );
        assert_eq!(a.unwrap_err(), WireError::BadSecret);
        assert_eq!(b.unwrap_err(), WireError::BadSecret);
    }

    #[test]
    fn auth_replayed_from_an_earlier_link_is_bad_secret() {
        // An eavesdropper recorded b's Auth on an earlier link to a...
        let mut a1 = Handshake::new("ps-a", SECRET, nonce());
        let mut b1 = Handshake::new("ps-b", SECRET, nonce());
        let b1_hello = one_frame(&b1.hello_bytes());
        let recorded_auth = expect_send(b1.on_frame(&one_frame(&a1.hello_bytes())).unwrap());
        let b1_hello_bytes = b1_hello.to_bytes();
        a1.on_frame(&b1_hello).unwrap();
        // ...and replays b's Hello and Auth to a on a new link (new nonce).
        let mut a2 = Handshake::new("ps-a", SECRET, nonce());
        expect_send(a2.on_frame(&one_frame(&b1_hello_bytes)).unwrap());
        assert_eq!(
            a2.on_frame(&one_frame(&recorded_auth)).unwrap_err(),
            WireError::BadSecret
        );
    }

    #[test]
    fn our_own_hello_sent_back_is_loopback() {
        let n = nonce();
        let mut a = Handshake::new("ps-a", SECRET, n);
        let echo = one_frame(&a.hello_bytes());
        assert_eq!(a.on_frame(&echo).unwrap_err(), WireError::Loopback);
        // Our nonce under another name, too.
        let mut a = Handshake::new("ps-a", SECRET, n);
        let other = one_frame(&Handshake::new("ps-x", SECRET, n).hello_bytes());
        assert_eq!(a.on_frame(&other).unwrap_err(), WireError::Loopback);
    }

    #[test]
    fn frame_of_version_2_is_bad_version_in_handshake_and_session() {
        let mut a = Handshake::new("ps-a", SECRET, nonce());
        let mut hello = one_frame(&Handshake::new("ps-b", SECRET, nonce()).hello_bytes());
        hello.version = 2;
        assert_eq!(
            a.on_frame(&hello).unwrap_err(),
            WireError::BadVersion { got: 2 }
        );

        let (mut a, mut b) = pair();
        let mut f = one_frame(&a.seal(&batch(0)).unwrap());
        f.version = 2;
        assert_eq!(b.open(&f).unwrap_err(), WireError::BadVersion { got: 2 });
    }

    #[test]
    fn garbage_or_truncated_hello_json_is_malformed() {
        let good = one_frame(&Handshake::new("ps-b", SECRET, nonce()).hello_bytes());
        let mut truncated = good.clone();
        truncated.body.truncate(good.body.len() - 3);
        let bodies: Vec<Vec<u8>> = vec![
            truncated.body,
            b"\xff\xfe garbage".to_vec(),
            Vec::new(),
            br#"{"node":"ps-b"}"#.to_vec(),
            br#"{"node":"ps-b","nonce":"abcd"}"#.to_vec(),
            format!(r#"{{"node":"ps-b","nonce":"{}"}}"#, "zz".repeat(16)).into_bytes(),
            format!(r#"{{"node":"","nonce":"{}"}}"#, "00".repeat(16)).into_bytes(),
        ];
        for body in bodies {
            let mut a = Handshake::new("ps-a", SECRET, nonce());
            let f = Frame {
                version: VERSION,
                kind: Frame::HELLO,
                body: body.clone(),
            };
            assert!(
                matches!(a.on_frame(&f), Err(WireError::Malformed(_))),
                "body {:?}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    #[test]
    fn hello_nonce_in_upper_case_hex_is_accepted() {
        let mut a = Handshake::new("ps-a", SECRET, [0; NONCE_LEN]);
        let body = format!(r#"{{"node":"ps-b","nonce":"{}"}}"#, "AB".repeat(16));
        let f = Frame {
            version: VERSION,
            kind: Frame::HELLO,
            body: body.into_bytes(),
        };
        expect_send(a.on_frame(&f).unwrap());
    }

    #[test]
    fn auth_of_wrong_length_is_malformed() {
        let mut a = Handshake::new("ps-a", SECRET, nonce());
        a.on_frame(&one_frame(
            &Handshake::new("ps-b", SECRET, nonce()).hello_bytes(),
        ))
        .unwrap();
        let f = Frame {
            version: VERSION,
            kind: Frame::AUTH,
            body: vec![0; AUTH_LEN - 1],
        };
        assert!(matches!(a.on_frame(&f), Err(WireError::Malformed(_))));
    }

    #[test]
    fn truncated_or_garbage_data_json_with_a_good_tag_is_malformed() {
        let (a, mut b) = pair();
        for payload in [&b"[{\"Ping\":{\"id\":1}"[..], b"not json", b""] {
            let tag = a
                .mac(a.send_dir, b.recv_seq, payload)
                .finalize()
                .into_bytes();
            let f = Frame {
                version: VERSION,
                kind: Frame::DATA,
                body: [&b.recv_seq.to_be_bytes()[..], &tag[..TAG_LEN], payload].concat(),
            };
            assert!(matches!(b.open(&f), Err(WireError::Malformed(_))));
        }
        let short = Frame {
            version: VERSION,
            kind: Frame::DATA,
            body: vec![0; 8 + TAG_LEN - 1],
        };
        assert!(matches!(b.open(&short), Err(WireError::Malformed(_))));
    }

    #[test]
    fn frames_out_of_handshake_order_are_unexpected() {
        let b = Handshake::new("ps-b", SECRET, nonce());
        // Auth before Hello.
        let mut a = Handshake::new("ps-a", SECRET, nonce());
        let auth = Frame {
            version: VERSION,
            kind: Frame::AUTH,
            body: vec![0; AUTH_LEN],
        };
        assert_eq!(a.on_frame(&auth).unwrap_err(), WireError::UnexpectedFrame);
        // A second Hello instead of Auth.
        let mut a = Handshake::new("ps-a", SECRET, nonce());
        let hello = one_frame(&b.hello_bytes());
        a.on_frame(&hello).unwrap();
        assert_eq!(a.on_frame(&hello).unwrap_err(), WireError::UnexpectedFrame);
        // Anything after a failure.
        assert_eq!(a.on_frame(&hello).unwrap_err(), WireError::UnexpectedFrame);
        // Data during the handshake, and Hello on a session.
        let mut a = Handshake::new("ps-a", SECRET, nonce());
        let (mut s, mut t) = pair();
        let data = one_frame(&s.seal(&batch(0)).unwrap());
        assert_eq!(a.on_frame(&data).unwrap_err(), WireError::UnexpectedFrame);
        assert_eq!(t.open(&hello).unwrap_err(), WireError::UnexpectedFrame);
    }

    #[test]
    fn handshake_after_authentication_takes_no_more_frames() {
        let mut a = Handshake::new("ps-a", SECRET, nonce());
        let mut b = Handshake::new("ps-b", SECRET, nonce());
        let a_hello = one_frame(&a.hello_bytes());
        expect_send(a.on_frame(&one_frame(&b.hello_bytes())).unwrap());
        let b_auth = one_frame(&expect_send(b.on_frame(&a_hello).unwrap()));
        expect_session(a.on_frame(&b_auth).unwrap());
        assert_eq!(a.on_frame(&b_auth).unwrap_err(), WireError::UnexpectedFrame);
    }

    #[test]
    fn oversize_length_is_too_large_and_is_not_buffered() {
        let mut r = FrameReader::new();
        let len = (MAX_FRAME + 1) as u32;
        r.push(&len.to_be_bytes());
        assert_eq!(r.buffered(), 0);
        r.push(&[VERSION, Frame::DATA]);
        r.push(&[0; 4096]);
        assert_eq!(r.buffered(), 0);
        assert_eq!(
            r.next_frame().unwrap_err(),
            WireError::TooLarge(MAX_FRAME + 1)
        );
        // The reader stays failed.
        assert_eq!(
            r.next_frame().unwrap_err(),
            WireError::TooLarge(MAX_FRAME + 1)
        );

        // Also when the oversize prefix follows a good frame in one push.
        let mut r = FrameReader::new();
        let good = Handshake::new("ps-a", SECRET, nonce()).hello_bytes();
        r.push(&[&good[..], &u32::MAX.to_be_bytes(), &[0; 64]].concat());
        assert!(r.next_frame().unwrap().is_some());
        assert_eq!(r.buffered(), 0);
        assert_eq!(
            r.next_frame().unwrap_err(),
            WireError::TooLarge(u32::MAX as usize)
        );
    }

    #[test]
    fn frame_of_exactly_max_length_is_accepted() {
        let f = Frame {
            version: VERSION,
            kind: Frame::DATA,
            body: vec![7; MAX_FRAME - 2],
        };
        assert_eq!(frames(&f.to_bytes()), vec![f]);
    }

    #[test]
    fn length_of_zero_or_one_is_malformed() {
        for len in [0u32, 1] {
            let mut r = FrameReader::new();
            r.push(&len.to_be_bytes());
            r.push(&[VERSION]);
            assert!(matches!(r.next_frame(), Err(WireError::Malformed(_))));
        }
    }

    #[test]
    fn batch_too_large_to_seal_is_too_large() {
        let (mut a, _) = pair();
        let big = vec![Message::Forget {
            aors: vec!["x".repeat(MAX_PAYLOAD)],
        }];
        assert!(matches!(a.seal(&big), Err(WireError::TooLarge(n)) if n > MAX_FRAME));
        // Nothing was used up: the next frame is still sequence 0.
        assert_eq!(a.sent(), 0);
    }

    #[test]
    fn replayed_data_frame_is_bad_sequence() {
        let (mut a, mut b) = pair();
        let f = one_frame(&a.seal(&batch(0)).unwrap());
        b.open(&f).unwrap();
        assert_eq!(
            b.open(&f).unwrap_err(),
            WireError::BadSequence {
                expected: 1,
                got: 0
            }
        );
    }

    #[test]
    fn reordered_data_frames_are_bad_sequence() {
        let (mut a, mut b) = pair();
        let _first = a.seal(&batch(0)).unwrap();
        let second = one_frame(&a.seal(&batch(1)).unwrap());
        assert_eq!(
            b.open(&second).unwrap_err(),
            WireError::BadSequence {
                expected: 0,
                got: 1
            }
        );
    }

    #[test]
    fn data_frame_reflected_back_to_its_sender_is_bad_tag() {
        let (mut a, _b) = pair();
        let f = one_frame(&a.seal(&batch(0)).unwrap());
        assert_eq!(a.open(&f).unwrap_err(), WireError::BadTag);
    }

    #[test]
    fn data_frame_from_another_link_is_bad_tag() {
        let (mut a, _) = pair();
        let (_, mut other_b) = pair();
        let f = one_frame(&a.seal(&batch(0)).unwrap());
        assert_eq!(other_b.open(&f).unwrap_err(), WireError::BadTag);
    }

    #[test]
    fn tampered_payload_sequence_or_tag_byte_is_bad_tag() {
        let (mut a, mut b) = pair();
        let f = one_frame(&a.seal(&batch(3)).unwrap());
        for i in [0, 7, 8, 8 + TAG_LEN - 1, 8 + TAG_LEN, f.body.len() - 1] {
            let mut t = f.clone();
            t.body[i] ^= 0x01;
            assert_eq!(b.open(&t).unwrap_err(), WireError::BadTag, "byte {i}");
        }
        // The untouched frame still opens: failures consumed nothing.
        assert_eq!(b.open(&f).unwrap(), batch(3));
    }

    #[test]
    fn reader_fed_one_byte_at_a_time_yields_the_same_frames() {
        let (mut a, _) = pair();
        let mut stream = Handshake::new("ps-a", SECRET, nonce()).hello_bytes();
        for i in 0..4 {
            stream.extend(a.seal(&batch(i)).unwrap());
        }
        stream.extend(
            Frame {
                version: VERSION,
                kind: 9,
                body: Vec::new(),
            }
            .to_bytes(),
        );
        let whole = frames(&stream);
        assert_eq!(whole.len(), 6);

        let mut r = FrameReader::new();
        let mut one_by_one = Vec::new();
        for b in &stream {
            r.push(std::slice::from_ref(b));
            while let Some(f) = r.next_frame().unwrap() {
                one_by_one.push(f);
            }
        }
        assert_eq!(one_by_one, whole);
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn reader_yields_frames_split_across_uneven_pushes() {
        let (mut a, _) = pair();
        let stream: Vec<u8> = (0..20).flat_map(|i| a.seal(&batch(i)).unwrap()).collect();
        let whole = frames(&stream);
        let mut r = FrameReader::new();
        let mut got = Vec::new();
        for chunk in stream.chunks(37) {
            r.push(chunk);
            while let Some(f) = r.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, whole);
    }

    #[test]
    fn nonces_differ_between_calls() {
        assert_ne!(nonce(), nonce());
    }

    #[test]
    fn errors_read_well_in_a_log_line() {
        assert_eq!(
            WireError::BadSecret.to_string(),
            "peer does not know the cluster secret"
        );
        assert_eq!(
            WireError::BadVersion { got: 2 }.to_string(),
            "peer speaks wire protocol version 2, this node speaks 1"
        );
        assert_eq!(
            WireError::TooLarge(5_000_000).to_string(),
            "frame of 5000000 bytes is over the 4194304-byte limit"
        );
    }
}
