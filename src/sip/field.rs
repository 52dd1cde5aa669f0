//! A header field as read from the wire: its name is recognised and its
//! text kept when the message is read; its typed value is read from that
//! text when the message is first asked for a value, and kept.
//!
//! Two reasons. A message that is only framed, looked up or relayed costs
//! no typing. And RFC 3261 §16.3 step 1 asks a proxy to check only what it
//! acts on ("any other components, well-formed or not, SHOULD be ignored
//! and remain unchanged when the message is forwarded"): a field whose
//! value does not match its grammar reads as the raw header it is,
//! [`Field::check`] says what is wrong with it, and
//! [`Message::check_for`] turns that into the 400 the message earns when
//! its handler needs the field.
//!
//! The typed values live beside the fields and are read all at once: a
//! message that is used pays for one synchronised initialisation, not one
//! per field (per-field cells measured about 15% slower to parse and check
//! in full).
//!
//! [`Message::check_for`]: super::Message::check_for

use super::error::ErrorKind;
use super::header::{Header, HeaderName, RawHeader, parse_typed};

/// What reading a message keeps of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldText<'a> {
    pub raw: RawHeader<'a>,
    /// The typed name, None for a header we keep raw.
    pub name: Option<HeaderName>,
}

impl<'a> FieldText<'a> {
    /// The typed value; the raw header when it is not typed or its value
    /// does not match its grammar.
    pub(crate) fn typed(&self) -> Header<'a> {
        self.name
            .and_then(|n| parse_typed(n, self.raw.value).ok())
            .unwrap_or(Header::Other(self.raw))
    }
}

/// One header field of a message: its text and its typed value.
#[derive(Debug, Clone, Copy)]
pub struct Field<'m, 'a> {
    text: &'m FieldText<'a>,
    header: &'m Header<'a>,
}

impl<'m, 'a> Field<'m, 'a> {
    pub(crate) fn new(text: &'m FieldText<'a>, header: &'m Header<'a>) -> Self {
        Field { text, header }
    }

    /// The typed name, None for a header we keep raw. Never reads the value.
    pub fn name(&self) -> Option<HeaderName> {
        self.text.name
    }

    /// Whether this is the header called `full` (full name or compact form
    /// as received, any case). Never reads the value.
    pub fn is(&self, full: &str) -> bool {
        match self.text.name {
            Some(n) => n.as_str().eq_ignore_ascii_case(full),
            None => super::header::name_matches(self.text.raw.name, full),
        }
    }

    /// The text as received.
    pub fn raw(&self) -> &'m RawHeader<'a> {
        &self.text.raw
    }

    /// The header: its typed value; the raw header when it is not typed or
    /// its value does not match its grammar.
    pub fn header(&self) -> &'m Header<'a> {
        self.header
    }

    /// What is wrong with the value, if anything.
    pub fn check(&self) -> Result<(), ErrorKind> {
        let Some(name) = self.text.name else {
            return Ok(());
        };
        if !matches!(self.header(), Header::Other(_)) {
            return Ok(());
        }
        // Only a malformed value gets here: read it again for the error.
        match parse_typed(name, self.text.raw.value) {
            Ok(_) => Ok(()),
            Err(e) => Err(ErrorKind::Header {
                header: name.as_str(),
                expected: e.expected,
            }),
        }
    }
}
