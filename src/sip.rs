//! The SIP message core: parsing, the message model, typed headers, URIs
//! and printing (RFC 3261 §7, §19, §20, §25; RFC 6665 §8.2; RFC 3903 §11).
//!
//! Sans-io: this module never touches sockets, tasks or the clock (an
//! architecture test in tests/architecture.rs enforces it). Bytes in,
//! [`Message`] out, borrowing the input buffer; [`Message::print`] back.
//!
//! ```
//! let bytes = b"OPTIONS sip:pc.example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nf: <sip:a@example.com>;tag=1\r\n\
//! t: <sip:pc.example.com>\r\ni: abc\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n";
//! let msg = presencecloud::sip::parse(bytes).unwrap();
//! assert_eq!(msg.call_id(), Some("abc"));
//! assert_eq!(msg.top_via().unwrap().branch(), Some("z9hG4bK1"));
//! ```

pub mod error;
pub mod field;
pub mod header;
pub mod message;
pub mod method;
pub mod params;
pub mod parser;
pub mod printer;
pub mod response;
pub mod syntax;
pub mod uri;

pub use error::{Disposition, ErrorKind, ParseError};
pub use field::{Field, FieldText};
pub use header::{Header, HeaderName};
pub use message::{Message, StartLine};
pub use method::Method;
pub use params::Param;
pub use parser::{
    Limits, frame, parse, parse_header, parse_lazy, parse_lazy_with, parse_with, skip_keepalive,
};
pub use uri::{Host, HostKind, SipUri, TelUri, Uri};
