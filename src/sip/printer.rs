//! From a [`Message`] back to bytes, in canonical form: typed headers under
//! their full names with values re-serialised (`Name: value`), headers kept
//! raw written exactly as received, then the empty line and the body.
//!
//! Printing never fails and never changes meaning: `parse(print(m)) == m`
//! (a proptest in tests/roundtrip.rs holds it to that).

use std::io::Write;

use super::field::Field;
use super::header::{Header, RawHeader, TypedValue};
use super::message::{Message, StartLine};

impl Message<'_> {
    /// Appends the message's wire form to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match &self.start {
            StartLine::Request { method, uri } => match self.request_uri() {
                Some(typed) => {
                    let _ = write!(out, "{method} {typed} SIP/2.0\r\n");
                }
                None => {
                    let _ = write!(out, "{method} {uri} SIP/2.0\r\n");
                }
            },
            StartLine::Response { code, reason } => {
                let _ = write!(out, "SIP/2.0 {code} {reason}\r\n");
            }
        }
        for f in self.fields() {
            f.header().write_to(out);
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(self.body);
    }

    pub fn print(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.body.len());
        self.write_to(&mut out);
        out
    }
}

impl Header<'_> {
    /// Appends `Name: value\r\n`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match (self.name(), self) {
            (None, Header::Other(raw)) => {
                match raw.line {
                    Some(line) => out.extend_from_slice(line.as_bytes()),
                    None => {
                        out.extend_from_slice(raw.name.as_bytes());
                        out.extend_from_slice(b": ");
                        out.extend_from_slice(raw.value.as_bytes());
                    }
                }
                out.extend_from_slice(b"\r\n");
            }
            (Some(name), _) => {
                let _ = write!(out, "{}: {}\r\n", name, TypedValue(self));
            }
            (None, _) => {}
        }
    }
}

impl Field<'_, '_> {
    /// Appends the field as received (`Name: value\r\n`): its own bytes
    /// when it was read from the wire, typed or not, so that what a proxy
    /// does not act on is forwarded unchanged (RFC 3261 §16.3 step 1).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self.raw() {
            RawHeader {
                line: Some(line), ..
            } => {
                out.extend_from_slice(line.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            _ => self.header().write_to(out),
        }
    }
}
