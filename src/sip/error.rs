//! Why a message was refused, and what to answer.
//!
//! Every error carries the SIP status it maps to and a reason phrase that
//! says what was wrong, so the node can answer `400 Malformed Via header:
//! expected transport` instead of a bare `400 Bad Request`. Responses are
//! never answered (RFC 3261 §18.1.2): an unparsable response is dropped.

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ErrorKind {
    #[error("Message larger than {0} bytes")]
    TooLarge(usize),
    #[error("More than {0} header fields")]
    TooManyHeaders(usize),
    #[error("Header field longer than {0} bytes")]
    LineTooLong(usize),
    #[error("Malformed start line: expected {0}")]
    StartLine(&'static str),
    #[error("Malformed Request-URI: expected {0}")]
    RequestUri(&'static str),
    #[error("Request-URI must not carry headers")]
    RequestUriHeaders,
    #[error("SIP version not supported")]
    Version,
    #[error("Status code out of range 100-699")]
    StatusCode,
    #[error("Malformed header field: expected {0}")]
    HeaderLine(&'static str),
    #[error("Malformed {header} header: expected {expected}")]
    Header {
        header: &'static str,
        expected: &'static str,
    },
    #[error("Missing {0} header")]
    Missing(&'static str),
    #[error("More than one {0} header")]
    Duplicate(&'static str),
    #[error("CSeq method does not match the request method")]
    MethodMismatch {
        /// The request's method is unknown to us: RFC 4475 §3.1.2.18 prefers 501.
        unknown_method: bool,
    },
    #[error("Content-Length {declared} exceeds the {available} bytes received")]
    Truncated { declared: usize, available: usize },
    #[error("No empty line ends the header section")]
    NoHeaderEnd,
    /// RFC 3261 §25: header text is UTF-8 (TEXT-UTF8, UTF8-NONASCII).
    #[error("Header section is not valid UTF-8")]
    NotUtf8,
}

impl ErrorKind {
    /// The status a server answers with (RFC 3261 §21).
    pub fn status(&self) -> u16 {
        match self {
            ErrorKind::TooLarge(_) => 513,
            ErrorKind::Version => 505,
            ErrorKind::MethodMismatch {
                unknown_method: true,
            } => 501,
            _ => 400,
        }
    }
}

/// A message that could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{kind}")]
pub struct ParseError {
    pub kind: ErrorKind,
    /// The input started like a response (`SIP/`), which is never answered.
    pub response: bool,
}

/// What to do with a message that failed to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Answer the request with this status and reason phrase.
    Reject { status: u16, reason: String },
    /// Drop it silently (a response, RFC 3261 §18.1.2 and RFC 4475 §3.1.2.19).
    Drop,
}

impl ParseError {
    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// A reason phrase: printable ASCII only, so it is safe on a status line.
    pub fn reason_phrase(&self) -> String {
        self.kind
            .to_string()
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect()
    }

    pub fn disposition(&self) -> Disposition {
        if self.response {
            Disposition::Drop
        } else {
            Disposition::Reject {
                status: self.status(),
                reason: self.reason_phrase(),
            }
        }
    }
}
