//! From bytes to a [`Message`]: start line, header fields (with folding and
//! compact names), body framed by Content-Length, and the message-level
//! rules of RFC 3261 §7, §8.1.1 and §18.3 (mandatory headers, single-valued
//! headers, CSeq method, Content-Length).
//!
//! Framing for streams (TCP) is [`frame`]: find where one message ends
//! before parsing it. Limits on size, header count and field length are
//! checked before any work that grows with them, so no input allocates
//! without bound.

use super::error::{ErrorKind, ParseError};
use super::field::FieldText;
use super::header::{Header, HeaderName, RawHeader};
use super::message::{Message, StartLine};
use super::method::Method;
use super::syntax::{class, is_wsp};
use super::uri::Uri;

/// Bounds on what one message may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Whole message, headers and body (UDP datagrams cannot exceed 65,535).
    pub max_message: usize,
    /// Header fields per message.
    pub max_headers: usize,
    /// One header field, folded continuation lines included.
    pub max_header_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message: 65_535,
            max_headers: 256,
            max_header_len: 8_192,
        }
    }
}

/// Parses one message from a datagram (or a buffer [`frame`] delimited),
/// with the default limits, every typed header checked against its grammar.
pub fn parse(buf: &[u8]) -> Result<Message<'_>, ParseError> {
    parse_with(buf, &Limits::default())
}

/// [`parse`] with the given limits.
pub fn parse_with<'a>(buf: &'a [u8], limits: &Limits) -> Result<Message<'a>, ParseError> {
    let msg = parse_lazy_with(buf, limits)?;
    msg.check()?;
    Ok(msg)
}

/// Reads one message with the default limits, typing header values when
/// they are first used (see [`parse_lazy_with`]).
pub fn parse_lazy(buf: &[u8]) -> Result<Message<'_>, ParseError> {
    parse_lazy_with(buf, &Limits::default())
}

/// Reads one message: the start line (the Request-URI as text without
/// whitespace), the header fields by name, the body by Content-Length, the limits and the
/// message-level rules that need no header value (mandatory headers,
/// single-valued headers, RFC 3261 §7, §8.1.1, §18.3). Typed values are
/// read on first use; [`Message::check_for`] checks the ones a handler
/// needs (RFC 3261 §16.3 step 1), [`Message::check`] all of them.
pub fn parse_lazy_with<'a>(buf: &'a [u8], limits: &Limits) -> Result<Message<'a>, ParseError> {
    let response = is_response(buf);
    let err = |kind| ParseError { kind, response };
    if buf.len() > limits.max_message {
        return Err(err(ErrorKind::TooLarge(limits.max_message)));
    }
    // Header fields are text: the buffer is checked as UTF-8 once, as far as
    // it is UTF-8 (a body may be binary), and parsed as &str from there on.
    // The header section ends at the first empty line.
    let text = match std::str::from_utf8(buf) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&buf[..e.valid_up_to()]).unwrap_or_default(),
    };
    let line_end = find_crlf(buf).ok_or(err(ErrorKind::StartLine("CRLF")))?;
    let first = text.get(..line_end).ok_or(err(ErrorKind::NotUtf8))?;
    let start = parse_start_line(first, response).map_err(err)?;
    let mut headers = Vec::with_capacity(16);
    let mut pos = line_end + 2;
    let mut seen: u32 = 0;
    let mut content_length = None;
    loop {
        match buf.get(pos..pos + 2) {
            Some(b"\r\n") => break,
            None => return Err(err(ErrorKind::NoHeaderEnd)),
            Some(_) => {}
        }
        if headers.len() == limits.max_headers {
            return Err(err(ErrorKind::TooManyHeaders(limits.max_headers)));
        }
        let end = field_end(&buf[pos..], limits.max_header_len).map_err(err)?;
        let line = text.get(pos..pos + end).ok_or(err(ErrorKind::NotUtf8))?;
        let (field, length) = read_field(line).map_err(err)?;
        if let Some(name) = field.name {
            if name.is_single() && seen & name.bit() != 0 {
                return Err(err(ErrorKind::Duplicate(name.as_str())));
            }
            seen |= name.bit();
        }
        if let Some(n) = length {
            content_length = Some(n as usize);
        }
        headers.push(field);
        pos += end + 2;
    }
    let rest = &buf[pos + 2..];
    // RFC 3261 §18.3: octets beyond Content-Length in a datagram are
    // ignored; without Content-Length the body runs to the datagram's end.
    let body = match content_length {
        Some(n) if n > rest.len() => {
            return Err(err(ErrorKind::Truncated {
                declared: n,
                available: rest.len(),
            }));
        }
        Some(n) => &rest[..n],
        None => rest,
    };
    check_mandatory(seen).map_err(err)?;
    Ok(Message::new(start, headers, body))
}

/// Where the first empty line starts (the CRLF CRLF that ends the head).
fn find_blank_line(b: &[u8]) -> Option<usize> {
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\r\n\r\n"));
    FINDER.find(b)
}

/// A response starts with its SIP-Version ("SIP" is case-insensitive in
/// ABNF); a request with a method token, which cannot contain "/".
fn is_response(buf: &[u8]) -> bool {
    buf.get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(k) = memchr::memchr(b'\r', &b[from..]) {
        let at = from + k;
        if b.get(at + 1) == Some(&b'\n') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The length of the header field starting at `b`: up to the CRLF that is
/// not followed by whitespace (a folded line continues the field).
fn field_end(b: &[u8], max: usize) -> Result<usize, ErrorKind> {
    let mut from = 0;
    loop {
        let Some(k) = find_crlf(&b[from..b.len().min(max + 2)]) else {
            return Err(if b.len() > max + 2 {
                ErrorKind::LineTooLong(max)
            } else {
                ErrorKind::NoHeaderEnd
            });
        };
        let at = from + k;
        if at > max {
            return Err(ErrorKind::LineTooLong(max));
        }
        match b.get(at + 2) {
            Some(&c) if is_wsp(c) => from = at + 2,
            _ => return Ok(at),
        }
    }
}

/// One header field, `field-name HCOLON field-value` (HCOLON = *( SP /
/// HTAB ) ":" SWS), without its final CRLF; folded lines are allowed.
pub fn parse_header(line: &str) -> Result<Header<'_>, ErrorKind> {
    parse_field(line)
}

fn parse_field(line: &str) -> Result<Header<'_>, ErrorKind> {
    let (name, value) = split_field(line)?;
    Header::parse(name, value, line)
}

/// `field-name HCOLON field-value`: the name and the value without the
/// whitespace around it.
#[inline]
fn split_field(line: &str) -> Result<(&str, &str), ErrorKind> {
    let b = line.as_bytes();
    let n = class::span(b, class::TOKEN);
    if n == 0 {
        return Err(ErrorKind::HeaderLine("header name"));
    }
    let mut k = n;
    while b.get(k).is_some_and(|&c| is_wsp(c)) {
        k += 1;
    }
    if b.get(k) != Some(&b':') {
        return Err(ErrorKind::HeaderLine("\":\" after header name"));
    }
    Ok((&line[..n], trim_lws(&line[k + 1..])))
}

/// One field of a message being read: its name recognised, its value kept
/// to be typed on use. Content-Length, which frames the body, is read now.
#[inline]
fn read_field(line: &str) -> Result<(FieldText<'_>, Option<u32>), ErrorKind> {
    let (name, value) = split_field(line)?;
    let typed = HeaderName::from_name(name);
    let length = match typed {
        Some(HeaderName::ContentLength) => match Header::parse(name, value, line)? {
            Header::ContentLength(n) => Some(n),
            _ => None,
        },
        _ => None,
    };
    let raw = RawHeader {
        name,
        value,
        line: Some(line),
    };
    Ok((FieldText { raw, name: typed }, length))
}

/// Strips leading and trailing whitespace, folded line breaks included.
fn trim_lws(v: &str) -> &str {
    let b = v.as_bytes();
    let is_lws = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let start = b.iter().position(|c| !is_lws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !is_lws(c)).map_or(start, |e| e + 1);
    v.get(start..end).unwrap_or_default()
}

/// `SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT`; only 2.0 is served.
fn parse_version(v: &str) -> Result<(), ErrorKind> {
    let Some(num) = v
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("SIP/"))
        .map(|_| &v[4..])
    else {
        return Err(ErrorKind::StartLine("SIP-Version"));
    };
    let Some((major, minor)) = num.split_once('.') else {
        return Err(ErrorKind::StartLine("SIP-Version"));
    };
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    if !digits(major) || !digits(minor) {
        return Err(ErrorKind::StartLine("SIP-Version"));
    }
    if major != "2" || minor != "0" {
        return Err(ErrorKind::Version);
    }
    Ok(())
}

fn parse_start_line(line: &str, response: bool) -> Result<StartLine<'_>, ErrorKind> {
    if response {
        // SIP-Version SP Status-Code SP Reason-Phrase
        let sp = line
            .find(' ')
            .ok_or(ErrorKind::StartLine("SP after SIP-Version"))?;
        parse_version(&line[..sp])?;
        let rest = &line[sp + 1..];
        let n = class::span(rest.as_bytes(), class::DIGIT);
        if n != 3 || rest.as_bytes().get(3) != Some(&b' ') {
            return Err(if n > 3 {
                ErrorKind::StatusCode
            } else {
                ErrorKind::StartLine("3-digit status code and SP")
            });
        }
        let code: u16 = rest[..3].parse().map_err(|_| ErrorKind::StatusCode)?;
        if !(100..=699).contains(&code) {
            return Err(ErrorKind::StatusCode);
        }
        let reason = &rest[4..];
        // Reason-Phrase allows no control characters but HTAB.
        if reason.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f) {
            return Err(ErrorKind::StartLine(
                "reason phrase without control characters",
            ));
        }
        return Ok(StartLine::Response { code, reason });
    }
    // Method SP Request-URI SP SIP-Version, with exactly one SP each: RFC
    // 4475 §3.1.2.9 and §3.1.2.10 allow rejecting extra whitespace, and we
    // do rather than guess.
    let n = class::span(line.as_bytes(), class::TOKEN);
    if n == 0 || line.as_bytes().get(n) != Some(&b' ') {
        return Err(ErrorKind::StartLine("method and SP"));
    }
    let method = Method::from_token(&line[..n]);
    let rest = &line[n + 1..];
    let sp = rest
        .rfind(' ')
        .ok_or(ErrorKind::StartLine("SP before SIP-Version"))?;
    parse_version(&rest[sp + 1..])?;
    let uri = &rest[..sp];
    if uri.is_empty() || uri.bytes().any(is_wsp) {
        return Err(ErrorKind::RequestUri(
            "no whitespace inside the Request-URI",
        ));
    }
    Ok(StartLine::Request { method, uri })
}

/// The Request-URI, typed (with the message's other values).
pub(crate) fn request_uri(text: &str) -> Result<Uri<'_>, ErrorKind> {
    let uri = Uri::parse(text).map_err(|e| ErrorKind::RequestUri(e.expected))?;
    if let Uri::Sip(u) = &uri {
        // RFC 3261 §19.1.1 table: headers are not allowed in a Request-URI.
        if !u.headers.is_empty() {
            return Err(ErrorKind::RequestUriHeaders);
        }
    }
    Ok(uri)
}

/// RFC 3261 §8.1.1: To, From, CSeq, Call-ID and Via are mandatory (Max-
/// Forwards too, but RFC 2543 peers omit it: RFC 4475 §3.4.1).
fn check_mandatory(seen: u32) -> Result<(), ErrorKind> {
    for name in [
        HeaderName::To,
        HeaderName::From,
        HeaderName::CallId,
        HeaderName::CSeq,
        HeaderName::Via,
    ] {
        if seen & name.bit() == 0 {
            return Err(ErrorKind::Missing(name.as_str()));
        }
    }
    Ok(())
}

/// Stream framing (RFC 3261 §18.3): how many bytes at the start of `buf`
/// make one message. `Ok(None)` means more bytes are needed. Leading CRLFs
/// (keep-alives, RFC 5626 §3.5.1) belong to no message: [`skip_keepalive`].
pub fn frame(buf: &[u8], limits: &Limits) -> Result<Option<usize>, ParseError> {
    let response = is_response(buf);
    let err = |kind| ParseError { kind, response };
    let search = &buf[..buf.len().min(limits.max_message)];
    let Some(blank) = find_blank_line(search) else {
        return if buf.len() >= limits.max_message {
            Err(err(ErrorKind::TooLarge(limits.max_message)))
        } else {
            Ok(None)
        };
    };
    let head = std::str::from_utf8(&buf[..blank + 2]).map_err(|_| err(ErrorKind::NotUtf8))?;
    let mut length = None;
    let mut pos = find_crlf(head.as_bytes()).map_or(head.len(), |k| k + 2);
    while pos < head.len() {
        let end = field_end(&head.as_bytes()[pos..], limits.max_header_len).map_err(err)?;
        let line = &head[pos..pos + end];
        let name = &line[..class::span(line.as_bytes(), class::TOKEN)];
        if HeaderName::from_name(name) == Some(HeaderName::ContentLength) {
            match parse_field(line) {
                Ok(Header::ContentLength(n)) => {
                    if length.replace(n as usize).is_some() {
                        return Err(err(ErrorKind::Duplicate("Content-Length")));
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(err(e)),
            }
        }
        pos += end + 2;
    }
    // A stream cannot be framed without Content-Length (RFC 3261 §18.3).
    let length = length.ok_or(err(ErrorKind::Missing("Content-Length")))?;
    let total = blank + 4 + length;
    if total > limits.max_message {
        return Err(err(ErrorKind::TooLarge(limits.max_message)));
    }
    Ok((buf.len() >= total).then_some(total))
}

/// The number of CRLF keep-alive bytes at the start of a stream buffer.
pub fn skip_keepalive(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count()
}

#[cfg(test)]
mod tests;
