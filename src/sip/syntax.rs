//! Lexical building blocks of RFC 3261 §25.1 (LWS, SWS, token, word,
//! quoted-string and the separators such as HCOLON and SEMI) as nom parsers
//! over raw bytes.
//!
//! Everything here borrows its input: a successful parse returns slices of the
//! buffer it was given. The error type records what was expected, so that a
//! malformed header can be answered with a reason phrase that says why.

use nom::{IResult, Parser};

/// A syntax error: the rest of the input where parsing stopped, and what the
/// grammar expected there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynErr<'a> {
    pub input: &'a [u8],
    pub expected: &'static str,
}

impl<'a> nom::error::ParseError<&'a [u8]> for SynErr<'a> {
    fn from_error_kind(input: &'a [u8], _kind: nom::error::ErrorKind) -> Self {
        SynErr {
            input,
            expected: "valid syntax",
        }
    }

    fn append(_: &'a [u8], _: nom::error::ErrorKind, other: Self) -> Self {
        other
    }

    /// Of two failed alternatives, the one that got further explains better.
    fn or(self, other: Self) -> Self {
        if other.input.len() < self.input.len() {
            other
        } else {
            self
        }
    }
}

pub type PResult<'a, O> = IResult<&'a [u8], O, SynErr<'a>>;

/// Fails with a named expectation.
pub fn fail<'a, O>(input: &'a [u8], expected: &'static str) -> PResult<'a, O> {
    Err(nom::Err::Error(SynErr { input, expected }))
}

/// Runs `p` and, when it fails, names what was expected instead.
pub fn expect<'a, O, P>(expected: &'static str, mut p: P) -> impl FnMut(&'a [u8]) -> PResult<'a, O>
where
    P: Parser<&'a [u8], Output = O, Error = SynErr<'a>>,
{
    move |i| match p.parse(i) {
        Err(nom::Err::Error(_)) => fail(i, expected),
        other => other,
    }
}

/// alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~"
#[inline]
pub const fn is_token_char(b: u8) -> bool {
    matches!(b,
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
        | b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~')
}

/// `word` adds the separators RFC 3261 allows in Call-ID.
#[inline]
pub const fn is_word_char(b: u8) -> bool {
    is_token_char(b)
        || matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'{'
                | b'}'
        )
}

#[inline]
pub const fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// The bytes of a slice that matched an ASCII-only rule, as text.
#[inline]
pub fn ascii(b: &[u8]) -> &str {
    // Callers pass only slices that a grammar rule restricted to ASCII (or
    // whole UTF-8 sequences), so this cannot fail; an empty string would be
    // a harmless fallback if it ever did.
    std::str::from_utf8(b).unwrap_or_default()
}

/// Text that may carry UTF-8 (quoted strings, display names): rejected when
/// it is not valid UTF-8.
pub fn utf8<'a>(input: &'a [u8], b: &'a [u8]) -> PResult<'a, &'a str> {
    match std::str::from_utf8(b) {
        Ok(s) => Ok((input, s)),
        Err(_) => fail(input, "valid UTF-8"),
    }
}

fn take_while_n(i: &[u8], min: usize, pred: impl Fn(u8) -> bool) -> Option<(&[u8], &[u8])> {
    let n = i.iter().position(|&b| !pred(b)).unwrap_or(i.len());
    if n < min {
        None
    } else {
        Some((&i[n..], &i[..n]))
    }
}

/// `LWS = [*WSP CRLF] 1*WSP` (line folding included).
pub fn lws(i: &[u8]) -> PResult<'_, &[u8]> {
    let (rest, first) = take_while_n(i, 0, is_wsp).unwrap_or((i, &[]));
    let r = match rest {
        // a folded line: the CRLF must be followed by whitespace
        [b'\r', b'\n', r @ ..] => match take_while_n(r, 1, is_wsp) {
            Some((r, _)) => r,
            None if !first.is_empty() => rest,
            None => return fail(i, "whitespace"),
        },
        _ if !first.is_empty() => rest,
        _ => return fail(i, "whitespace"),
    };
    Ok((r, &i[..i.len() - r.len()]))
}

/// `SWS = [LWS]`
#[inline]
pub fn sws(i: &[u8]) -> PResult<'_, ()> {
    match lws(i) {
        Ok((r, _)) => Ok((r, ())),
        Err(_) => Ok((i, ())),
    }
}

/// `SWS c SWS`, the shape of SEMI, COMMA, EQUAL, SLASH, COLON, STAR.
pub fn sep(c: u8, name: &'static str) -> impl Fn(&[u8]) -> PResult<'_, ()> {
    move |i| {
        let (r, ()) = sws(i)?;
        match r.first() {
            Some(&b) if b == c => sws(&r[1..]),
            _ => fail(i, name),
        }
    }
}

pub fn semi(i: &[u8]) -> PResult<'_, ()> {
    sep(b';', "\";\"")(i)
}

pub fn comma(i: &[u8]) -> PResult<'_, ()> {
    sep(b',', "\",\"")(i)
}

pub fn equal(i: &[u8]) -> PResult<'_, ()> {
    sep(b'=', "\"=\"")(i)
}

pub fn slash(i: &[u8]) -> PResult<'_, ()> {
    sep(b'/', "\"/\"")(i)
}

/// `LAQUOT = SWS "<"`
pub fn laquot(i: &[u8]) -> PResult<'_, ()> {
    let (r, ()) = sws(i)?;
    match r.first() {
        Some(b'<') => Ok((&r[1..], ())),
        _ => fail(i, "\"<\""),
    }
}

/// `RAQUOT = ">" SWS`
pub fn raquot(i: &[u8]) -> PResult<'_, ()> {
    match i.first() {
        Some(b'>') => sws(&i[1..]),
        _ => fail(i, "\">\""),
    }
}

/// `token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")`
pub fn token(i: &[u8]) -> PResult<'_, &str> {
    match take_while_n(i, 1, is_token_char) {
        Some((r, t)) => Ok((r, ascii(t))),
        None => fail(i, "token"),
    }
}

/// `word`, as used by Call-ID.
pub fn word(i: &[u8]) -> PResult<'_, &str> {
    match take_while_n(i, 1, is_word_char) {
        Some((r, t)) => Ok((r, ascii(t))),
        None => fail(i, "word"),
    }
}

/// Decimal digits, at least one.
pub fn digits(i: &[u8]) -> PResult<'_, &[u8]> {
    match take_while_n(i, 1, |b| b.is_ascii_digit()) {
        Some((r, d)) => Ok((r, d)),
        None => fail(i, "digits"),
    }
}

/// A decimal number that must fit in a u32; `what` names the field.
pub fn number_u32(what: &'static str) -> impl Fn(&[u8]) -> PResult<'_, u32> {
    move |i| {
        let (r, d) = digits(i)?;
        let mut v: u64 = 0;
        for &b in d {
            v = v * 10 + u64::from(b - b'0');
            if v > u64::from(u32::MAX) {
                return Err(nom::Err::Failure(SynErr {
                    input: i,
                    expected: what,
                }));
            }
        }
        Ok((r, v as u32))
    }
}

/// A decimal number, saturating at u32::MAX (delta-seconds: RFC 3261 §20.19
/// treats oversized expiries as the largest value, not as an error).
pub fn number_saturating(i: &[u8]) -> PResult<'_, u32> {
    let (r, d) = digits(i)?;
    let mut v: u64 = 0;
    for &b in d {
        v = (v * 10 + u64::from(b - b'0')).min(u64::from(u32::MAX));
    }
    Ok((r, v as u32))
}

/// `quoted-string = SWS DQUOTE *(qdtext / quoted-pair) DQUOTE`, returned
/// with its quotes, byte for byte as received.
pub fn quoted_string(i: &[u8]) -> PResult<'_, &str> {
    let (start, ()) = sws(i)?;
    if start.first() != Some(&b'"') {
        return fail(i, "quoted string");
    }
    let mut k = 1;
    while k < start.len() {
        match start[k] {
            b'"' => {
                let raw = &start[..=k];
                return utf8(&start[k + 1..], raw);
            }
            // quoted-pair excludes CR and LF after the backslash
            b'\\' => match start.get(k + 1) {
                Some(b'\r' | b'\n') | None => return fail(&start[k..], "quoted pair"),
                Some(_) => k += 2,
            },
            // qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
            b'\r' => match lws(&start[k..]) {
                Ok((r, _)) => k = start.len() - r.len(),
                Err(_) => return fail(&start[k..], "closing quote"),
            },
            b'\n' | 0..=0x08 | 0x0A..=0x1F | 0x7F => {
                return fail(&start[k..], "closing quote");
            }
            _ => k += 1,
        }
    }
    fail(&start[start.len()..], "closing quote")
}

/// Removes the quotes and backslash escapes of a quoted string.
pub fn unquote(raw: &str) -> std::borrow::Cow<'_, str> {
    let inner = raw
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(raw);
    if !inner.contains('\\') {
        return std::borrow::Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Where `part`, a slice of `whole`, starts within it (clamped to `whole`).
pub fn offset(whole: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize)
        .saturating_sub(whole.as_ptr() as usize)
        .min(whole.len())
}

/// Requires that `p` consumes all of its input (trailing LWS allowed).
pub fn all<'a, O>(
    i: &'a [u8],
    mut p: impl FnMut(&'a [u8]) -> PResult<'a, O>,
) -> Result<O, SynErr<'a>> {
    match p(i) {
        Ok((rest, o)) => {
            let (rest, ()) = sws(rest).unwrap_or((rest, ()));
            if rest.is_empty() {
                Ok(o)
            } else {
                Err(SynErr {
                    input: rest,
                    expected: "end of value",
                })
            }
        }
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e),
        Err(nom::Err::Incomplete(_)) => Err(SynErr {
            input: &i[i.len()..],
            expected: "more input",
        }),
    }
}

/// `p *(COMMA p)`
pub fn comma_list<'a, O>(
    mut p: impl FnMut(&'a [u8]) -> PResult<'a, O>,
) -> impl FnMut(&'a [u8]) -> PResult<'a, Vec<O>> {
    move |i| {
        let (mut rest, first) = p(i)?;
        let mut out = vec![first];
        while let Ok((r, ())) = comma(rest) {
            let (r, o) = p(r)?;
            out.push(o);
            rest = r;
        }
        Ok((rest, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3261_s7_3_1_lws_includes_line_folding() {
        assert_eq!(lws(b" \r\n\tx").unwrap().0, b"x");
        assert_eq!(lws(b"\t x").unwrap().0, b"x");
        assert!(lws(b"\r\nx").is_err(), "a CRLF without WSP ends the header");
    }

    #[test]
    fn rfc3261_s25_1_quoted_string_with_pairs_and_utf8() {
        let (r, q) = quoted_string(" \"a \\\" b\u{e9}\";x".as_bytes()).unwrap();
        assert_eq!(q, "\"a \\\" b\u{e9}\"");
        assert_eq!(r, b";x");
        assert_eq!(unquote(q), "a \" b\u{e9}");
        assert!(quoted_string(b"\"open").is_err());
        assert!(quoted_string(b"\"bad\\\r\n\"").is_err());
    }

    #[test]
    fn rfc3261_s25_1_separators_allow_surrounding_lws() {
        assert_eq!(semi(b" \r\n ; x").unwrap().0, b"x");
        assert_eq!(comma(b",x").unwrap().0, b"x");
        assert!(semi(b"x").is_err());
    }

    #[test]
    fn u32_numbers_reject_overflow() {
        assert_eq!(number_u32("n")(b"4294967295").unwrap().1, u32::MAX);
        assert!(number_u32("n")(b"4294967296").is_err());
        assert_eq!(number_saturating(b"99999999999999").unwrap().1, u32::MAX);
    }
}
