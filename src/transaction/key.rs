//! Matching messages to transactions: the server key of a request (RFC
//! 3261 §17.2.3) and the client key of a response (§17.1.3).
//!
//! Keys are owned strings so that a driver can keep its transactions in a
//! `HashMap<ServerKey, _>` and `HashMap<ClientKey, _>` after the buffer a
//! message was parsed from is gone. Building a key never fails loudly: a
//! message that lacks what the key needs gets `None`, and the driver
//! treats it as matching no transaction.
//!
//! Comparison rules folded into the keys:
//! - the branch is a token, and tokens compare case-insensitively
//!   (§7.3.1), so it is kept lowercased; so is the sent-by host (§19.1.4);
//! - the sent-by port is kept as written (absent is not 5060): a client
//!   retransmits its request with the same Via, so nothing is lost, and the
//!   default port depends on the transport, which is not the key's business;
//! - ACK is keyed as INVITE, so that the ACK for a non-2xx final finds its
//!   INVITE server transaction; CANCEL keeps its own method (it is a
//!   transaction of its own, §9.2) and [`ServerKey::cancelled_invite`] finds
//!   the INVITE it targets.

use crate::sip::{Message, Method};

#[cfg(test)]
mod tests;

/// What identifies a server transaction (§17.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServerKey {
    /// A request whose top Via branch has the magic cookie `z9hG4bK`: the
    /// branch, the top Via's sent-by and the method.
    Branch {
        /// Lowercased.
        branch: String,
        /// sent-by host, lowercased (an IPv6 reference keeps its brackets).
        host: String,
        /// sent-by port as written.
        port: Option<u16>,
        /// The request method, ACK mapped to INVITE.
        method: String,
    },
    /// A request from an RFC 2543 element, whose branch (if any) identifies
    /// nothing: the Request-URI, tags, Call-ID, CSeq and the whole top Via
    /// (§17.2.3, last paragraphs).
    ///
    /// An INVITE and its ACK must share a key, but the ACK carries the To
    /// tag of our response, which the INVITE did not have. So, for INVITE
    /// and ACK only, the To tag is left out (`to_tag: None`). That conflates
    /// nothing: a re-INVITE inside a dialog, the only INVITE with a To tag,
    /// has a CSeq of its own. What it gives up is §17.2.3's check that the
    /// ACK's To tag is the one of our response; a stray ACK with the same
    /// CSeq could only confirm a transaction a little early.
    Rfc2543 {
        /// Printed (canonical form of `sip::printer`).
        request_uri: String,
        from_tag: Option<String>,
        /// None for INVITE and ACK (see above).
        to_tag: Option<String>,
        call_id: String,
        cseq: u32,
        /// The request method, ACK mapped to INVITE.
        method: String,
        /// The top Via, printed.
        via: String,
    },
}

impl ServerKey {
    /// For the key of a CANCEL, the key of the INVITE it cancels (§9.2:
    /// same matching, but with the method INVITE). None for any other
    /// method.
    pub fn cancelled_invite(&self) -> Option<ServerKey> {
        let mut key = self.clone();
        match &mut key {
            ServerKey::Branch { method, .. } if method == "CANCEL" => {
                *method = Method::Invite.as_str().to_owned();
            }
            ServerKey::Rfc2543 { method, to_tag, .. } if method == "CANCEL" => {
                *method = Method::Invite.as_str().to_owned();
                *to_tag = None;
            }
            _ => return None,
        }
        Some(key)
    }
}

/// The server transaction key of a request (§17.2.3); None for a response
/// or a request that lacks a header the key needs (Via always; for an
/// RFC 2543 request also Call-ID and CSeq).
pub fn server_key(msg: &Message<'_>) -> Option<ServerKey> {
    let method = msg.method()?;
    let via = msg.top_via()?;
    let keyed_method = match method {
        Method::Ack => Method::Invite,
        other => other,
    }
    .as_str()
    .to_owned();
    if via.has_rfc3261_branch() {
        return Some(ServerKey::Branch {
            branch: via.branch()?.to_ascii_lowercase(),
            host: via.host.raw.to_ascii_lowercase(),
            port: via.port,
            method: keyed_method,
        });
    }
    let invite_or_ack = matches!(method, Method::Invite | Method::Ack);
    Some(ServerKey::Rfc2543 {
        request_uri: msg.request_uri()?.to_string(),
        from_tag: msg.from().and_then(|f| f.tag()).map(str::to_owned),
        to_tag: if invite_or_ack {
            None
        } else {
            msg.to().and_then(|t| t.tag()).map(str::to_owned)
        },
        call_id: msg.call_id()?.to_owned(),
        cseq: msg.cseq()?.seq,
        method: keyed_method,
        via: via.to_string(),
    })
}

/// What identifies a client transaction (§17.1.3): the branch of the top
/// Via and the CSeq method. The method tells a CANCEL, which shares the
/// INVITE's branch, from the INVITE.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientKey {
    /// Lowercased, as in [`ServerKey::Branch`].
    pub branch: String,
    pub method: String,
}

/// The client transaction key of a response, or of a request we send (to
/// file the transaction under): its top Via branch and CSeq method.
///
/// None when the top Via has no RFC 3261 branch: every request we send
/// carries one (§8.1.1.7), so such a response is not for us.
pub fn client_key(msg: &Message<'_>) -> Option<ClientKey> {
    let via = msg.top_via()?;
    if !via.has_rfc3261_branch() {
        return None;
    }
    Some(ClientKey {
        branch: via.branch()?.to_ascii_lowercase(),
        method: msg.cseq()?.method.as_str().to_owned(),
    })
}
