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
    pub input: &'a str,
    pub expected: &'static str,
}

impl<'a> nom::error::ParseError<&'a str> for SynErr<'a> {
    fn from_error_kind(input: &'a str, _kind: nom::error::ErrorKind) -> Self {
        SynErr {
            input,
            expected: "valid syntax",
        }
    }

    fn append(_: &'a str, _: nom::error::ErrorKind, other: Self) -> Self {
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

pub type PResult<'a, O> = IResult<&'a str, O, SynErr<'a>>;

/// Fails with a named expectation.
pub fn fail<'a, O>(input: &'a str, expected: &'static str) -> PResult<'a, O> {
    Err(nom::Err::Error(SynErr { input, expected }))
}

/// Runs `p` and, when it fails, names what was expected instead.
pub fn expect<'a, O, P>(expected: &'static str, mut p: P) -> impl FnMut(&'a str) -> PResult<'a, O>
where
    P: Parser<&'a str, Output = O, Error = SynErr<'a>>,
{
    move |i| match p.parse(i) {
        Err(nom::Err::Error(_)) => fail(i, expected),
        other => other,
    }
}

/// Character classes of RFC 3261 §25.1 as bit flags, one table lookup per
/// byte (the parser's inner loops are all "take while in class").
pub mod class {
    pub const TOKEN: u16 = 1;
    pub const WORD: u16 = 1 << 1;
    pub const UNRESERVED: u16 = 1 << 2;
    pub const RESERVED: u16 = 1 << 3;
    /// user = unreserved / escaped / user-unreserved (`& = + $ , ; ? /`)
    pub const USER: u16 = 1 << 4;
    /// password characters: unreserved / `& = + $ ,`
    pub const PASSWORD: u16 = 1 << 5;
    /// paramchar = param-unreserved (`[ ] / : & + $`) / unreserved
    pub const PARAM: u16 = 1 << 6;
    /// hnv-unreserved (`[ ] / ? : + $`) / unreserved
    pub const HEADER: u16 = 1 << 7;
    /// hostname characters: alphanum / `-` / `.`
    pub const HOST: u16 = 1 << 8;
    pub const DIGIT: u16 = 1 << 9;
    /// token-nodot for event packages
    pub const NODOT: u16 = 1 << 10;
    /// gen-value as we read it: token characters, `:`, `[`, `]`
    pub const GENVALUE: u16 = 1 << 11;

    const fn build() -> [u16; 256] {
        let mut t = [0u16; 256];
        let mut b = 0usize;
        while b < 256 {
            let c = b as u8;
            let alnum = c.is_ascii_alphanumeric();
            let mut f = 0;
            let mark = matches!(
                c,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            );
            let token = alnum
                || matches!(
                    c,
                    b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
                );
            if token {
                f |= TOKEN | WORD | GENVALUE;
                if c != b'.' {
                    f |= NODOT;
                }
            }
            if matches!(
                c,
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
            ) {
                f |= WORD;
            }
            if matches!(c, b':' | b'[' | b']') {
                f |= GENVALUE;
            }
            let unreserved = alnum || mark;
            if unreserved {
                f |= UNRESERVED | USER | PASSWORD | PARAM | HEADER;
            }
            if matches!(
                c,
                b';' | b'/' | b'?' | b':' | b'@' | b'&' | b'=' | b'+' | b'$' | b','
            ) {
                f |= RESERVED;
            }
            if matches!(c, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/') {
                f |= USER;
            }
            if matches!(c, b'&' | b'=' | b'+' | b'$' | b',') {
                f |= PASSWORD;
            }
            if matches!(c, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$') {
                f |= PARAM;
            }
            if matches!(c, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$') {
                f |= HEADER;
            }
            if alnum || c == b'-' || c == b'.' {
                f |= HOST;
            }
            if c.is_ascii_digit() {
                f |= DIGIT;
            }
            t[b] = f;
            b += 1;
        }
        t
    }

    pub static TABLE: [u16; 256] = build();

    #[inline(always)]
    pub fn is(b: u8, flags: u16) -> bool {
        TABLE[b as usize] & flags != 0
    }

    /// The number of leading bytes of `s` in class `flags`.
    #[inline(always)]
    pub fn span(s: &[u8], flags: u16) -> usize {
        let mut n = 0;
        while n < s.len() && TABLE[s[n] as usize] & flags != 0 {
            n += 1;
        }
        n
    }
}

/// alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~"
#[inline]
pub fn is_token_char(b: u8) -> bool {
    class::is(b, class::TOKEN)
}

#[inline]
pub const fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Splits `s` after `n` bytes. Every caller counts bytes of an ASCII class
/// or stops at an ASCII delimiter, so `n` is a character boundary; should
/// that ever not hold, the split fails rather than panics.
#[inline]
pub fn split(s: &str, n: usize) -> (&str, &str) {
    match (s.get(..n), s.get(n..)) {
        (Some(a), Some(b)) => (a, b),
        _ => ("", s),
    }
}

/// `LWS = [*WSP CRLF] 1*WSP` (line folding included), or several in a row:
/// the grammar puts two where rules meet (EQUAL's SWS, then the SWS that
/// opens a quoted-string; RDQUOT's, then COMMA's), so a run of folds is
/// whitespace too.
pub fn lws(i: &str) -> PResult<'_, &str> {
    let b = i.as_bytes();
    let mut k = 0;
    loop {
        while k < b.len() && is_wsp(b[k]) {
            k += 1;
        }
        // a folded line: the CRLF must be followed by whitespace
        if b.len() >= k + 3 && b[k] == b'\r' && b[k + 1] == b'\n' && is_wsp(b[k + 2]) {
            k += 3;
        } else {
            break;
        }
    }
    if k == 0 {
        return fail(i, "whitespace");
    }
    let (a, r) = split(i, k);
    Ok((r, a))
}

/// `SWS = [LWS]`
#[inline]
pub fn sws(i: &str) -> PResult<'_, ()> {
    match i.as_bytes().first() {
        Some(b' ' | b'\t' | b'\r') => match lws(i) {
            Ok((r, _)) => Ok((r, ())),
            Err(_) => Ok((i, ())),
        },
        _ => Ok((i, ())),
    }
}

/// `SWS c SWS`, the shape of SEMI, COMMA, EQUAL, SLASH, COLON, STAR.
#[inline]
pub fn sep_char<'a>(i: &'a str, c: u8, name: &'static str) -> PResult<'a, ()> {
    let (r, ()) = sws(i)?;
    match r.as_bytes().first() {
        Some(&b) if b == c => sws(&r[1..]),
        _ => fail(i, name),
    }
}

pub fn semi(i: &str) -> PResult<'_, ()> {
    sep_char(i, b';', "\";\"")
}

pub fn comma(i: &str) -> PResult<'_, ()> {
    sep_char(i, b',', "\",\"")
}

pub fn equal(i: &str) -> PResult<'_, ()> {
    sep_char(i, b'=', "\"=\"")
}

pub fn slash(i: &str) -> PResult<'_, ()> {
    sep_char(i, b'/', "\"/\"")
}

pub fn colon(i: &str) -> PResult<'_, ()> {
    sep_char(i, b':', "\":\"")
}

/// `LAQUOT = SWS "<"`
pub fn laquot(i: &str) -> PResult<'_, ()> {
    let (r, ()) = sws(i)?;
    match r.as_bytes().first() {
        Some(b'<') => Ok((&r[1..], ())),
        _ => fail(i, "\"<\""),
    }
}

/// `RAQUOT = ">" SWS`
pub fn raquot(i: &str) -> PResult<'_, ()> {
    match i.as_bytes().first() {
        Some(b'>') => sws(&i[1..]),
        _ => fail(i, "\">\""),
    }
}

/// One or more bytes of a class.
#[inline]
pub fn take_class<'a>(i: &'a str, flags: u16, expected: &'static str) -> PResult<'a, &'a str> {
    let n = class::span(i.as_bytes(), flags);
    if n == 0 {
        return fail(i, expected);
    }
    let (a, r) = split(i, n);
    Ok((r, a))
}

/// `token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")`
#[inline]
pub fn token(i: &str) -> PResult<'_, &str> {
    take_class(i, class::TOKEN, "token")
}

/// `word`, as used by Call-ID.
pub fn word(i: &str) -> PResult<'_, &str> {
    take_class(i, class::WORD, "word")
}

/// Decimal digits, at least one.
pub fn digits(i: &str) -> PResult<'_, &str> {
    take_class(i, class::DIGIT, "digits")
}

/// A decimal number that must fit in a u32; `what` names the field.
pub fn number_u32(what: &'static str) -> impl Fn(&str) -> PResult<'_, u32> {
    move |i| {
        let (r, d) = digits(i)?;
        let mut v: u64 = 0;
        for &b in d.as_bytes() {
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
pub fn number_saturating(i: &str) -> PResult<'_, u32> {
    let (r, d) = digits(i)?;
    Ok((r, saturating_u32(d)))
}

/// Decimal digits (already checked) as a u32, saturating.
pub fn saturating_u32(d: &str) -> u32 {
    let mut v: u64 = 0;
    for &b in d.as_bytes() {
        v = (v * 10 + u64::from(b.wrapping_sub(b'0'))).min(u64::from(u32::MAX));
    }
    v as u32
}

/// `quoted-string = SWS DQUOTE *(qdtext / quoted-pair) DQUOTE`, returned
/// with its quotes, byte for byte as received.
pub fn quoted_string(i: &str) -> PResult<'_, &str> {
    let (start, ()) = sws(i)?;
    let b = start.as_bytes();
    if b.first() != Some(&b'"') {
        return fail(i, "quoted string");
    }
    let mut k = 1;
    while k < b.len() {
        match b[k] {
            b'"' => {
                let (q, r) = split(start, k + 1);
                return Ok((r, q));
            }
            // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
            b'\\' => match b.get(k + 1) {
                Some(&c) if c != b'\r' && c != b'\n' && c < 0x80 => k += 2,
                _ => return fail(&start[k..], "quoted pair"),
            },
            // qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
            b'\r' => match lws(&start[k..]) {
                Ok((r, _)) => k = b.len() - r.len(),
                Err(_) => return fail(&start[k..], "closing quote"),
            },
            0..=0x08 | 0x0A..=0x1F | 0x7F => {
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
pub fn offset(whole: &str, part: &str) -> usize {
    (part.as_ptr() as usize)
        .saturating_sub(whole.as_ptr() as usize)
        .min(whole.len())
}

/// Requires that `p` consumes all of its input (trailing LWS allowed).
#[inline]
pub fn all<'a, O>(
    i: &'a str,
    mut p: impl FnMut(&'a str) -> PResult<'a, O>,
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
    mut p: impl FnMut(&'a str) -> PResult<'a, O>,
) -> impl FnMut(&'a str) -> PResult<'a, Vec<O>> {
    move |i| {
        let (mut rest, first) = p(i)?;
        let mut out = Vec::with_capacity(4);
        out.push(first);
        while let Ok((r, ())) = comma(rest) {
            let (r, o) = p(r)?;
            out.push(o);
            rest = r;
        }
        Ok((rest, out))
    }
}

/// A slot of a generated test value: mostly a valid piece, sometimes one
/// that breaks the shape (the fast paths' agreement tests build values
/// slot by slot).
#[cfg(test)]
pub(crate) fn slot(
    valid: &'static [&'static str],
    broken: &'static [&'static str],
) -> impl proptest::strategy::Strategy<Value = &'static str> {
    use proptest::prelude::*;
    prop_oneof![
        6 => proptest::sample::select(valid),
        1 => proptest::sample::select(broken),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3261_s7_3_1_lws_includes_line_folding() {
        assert_eq!(lws(" \r\n\tx").unwrap().0, "x");
        assert_eq!(lws("\t x").unwrap().0, "x");
        assert!(lws("\r\nx").is_err(), "a CRLF without WSP ends the header");
    }

    #[test]
    fn rfc3261_s25_1_quoted_string_with_pairs_and_utf8() {
        let (r, q) = quoted_string(" \"a \\\" b\u{e9}\";x").unwrap();
        assert_eq!(q, "\"a \\\" b\u{e9}\"");
        assert_eq!(r, ";x");
        assert_eq!(unquote(q), "a \" b\u{e9}");
        assert!(quoted_string("\"open").is_err());
        assert!(quoted_string("\"bad\\\r\n\"").is_err());
    }

    #[test]
    fn rfc3261_s25_1_separators_allow_surrounding_lws() {
        assert_eq!(semi(" \r\n ; x").unwrap().0, "x");
        assert_eq!(comma(",x").unwrap().0, "x");
        assert!(semi("x").is_err());
    }

    #[test]
    fn u32_numbers_reject_overflow() {
        assert_eq!(number_u32("n")("4294967295").unwrap().1, u32::MAX);
        assert!(number_u32("n")("4294967296").is_err());
        assert_eq!(number_saturating("99999999999999").unwrap().1, u32::MAX);
    }
}
