//! The printer's contract: `parse(print(m)) == m`, over generated messages.
//!
//! RFC 3261 §7.3.1 makes header names case-insensitive, compact and long
//! forms equivalent, and LWS around separators (folded lines included)
//! insignificant. So the canonical printer may change the bytes of typed
//! headers (full names, `Name: value`, one space after the colon, no
//! folding) but never their meaning: parsing its output gives back the same
//! message, and printing that again gives the same bytes. Headers kept raw
//! (those we do not type) are printed byte for byte as received.
//!
//! The generator writes message *text* from typed pieces, in the forms the
//! grammar allows and peers send: names in any case and compact, whitespace
//! around the colon, LWS and folded lines around `;`, `,`, `=` and `/`,
//! quoted display names with escaped quotes and commas, IPv6 references,
//! empty lists, unknown headers with odd spacing, and bodies framed by
//! Content-Length or running to the end of the datagram. Every message it
//! makes is valid, so a message that fails to parse is a failure too.

use presencecloud::sip::{Message, parse};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::TestRunner;

// ---------------------------------------------------------------------------
// Pools of tokens and separators

const ALNUM: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const LOWER_ALNUM: &str = "abcdefghijklmnopqrstuvwxyz0123456789";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const HEX: &str = "0123456789abcdef";
/// `token` characters (RFC 3261 §25.1).
const TOKEN_CHARS: &str =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~";
/// `word` characters, as in Call-ID.
const WORD_CHARS: &str =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~()<>:\\\"/[]?{}";
/// A URI user without `;`, `?` and `,`, so it also fits a bare addr-spec.
const USER_CHARS: &str =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()&=+$";
const NONCE_CHARS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=";

/// `SEMI = SWS ";" SWS`, sometimes across a folded line.
const SEMI: &[&str] = &[";", ";", ";", " ;", "; ", " ; ", "\r\n ;", " ;\r\n\t"];
/// `COMMA = SWS "," SWS`
const COMMA: &[&str] = &[",", ", ", ", ", " , ", ",\r\n ", "\r\n\t, ", ",  "];
/// `EQUAL = SWS "=" SWS`
const EQUAL: &[&str] = &["=", "=", "=", " = ", "= ", " ="];
/// `SLASH = SWS "/" SWS`
const SLASH: &[&str] = &["/", "/", "/", " / "];
/// `COLON = SWS ":" SWS` (Via sent-by)
const COLON: &[&str] = &[":", ":", " : "];
/// `LWS = [*WSP CRLF] 1*WSP`
const LWS: &[&str] = &[" ", " ", "  ", "\t", " \r\n ", "\r\n\t"];
/// Between a display name and `<`.
const DISPLAY_GAP: &[&str] = &[" ", " ", "  ", "\t", " \r\n "];
/// `HCOLON = *( SP / HTAB ) ":" SWS`: before and after the colon.
const BEFORE_COLON: &[&str] = &["", "", "", " ", "\t", "   "];
const AFTER_COLON: &[&str] = &[" ", " ", " ", "", "  ", "\t", "\r\n ", " \r\n\t"];
/// Whitespace after a field value, before its CRLF.
const TRAILING: &[&str] = &["", "", "", "", " ", "\t", "  "];

const METHODS: &[&str] = &[
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "OPTIONS",
    "INVITE",
    "MESSAGE",
];
/// Methods are case-sensitive: `subscribe` and `Notify` are extensions.
const EXTENSION_METHODS: &[&str] = &["FOO", "X-PING", "subscribe", "Notify", "RE%47IST%45R"];
const SCHEMES: &[&str] = &["sip", "sip", "sips", "SIP", "Sips"];
const DOMAINS: &[&str] = &[
    "example.com",
    "pc.example.org",
    "EXAMPLE.net",
    "a-1.b2.example.com",
    "localhost",
    "example.com.",
];
const TLDS: &[&str] = &["com", "org", "net", "example", "Test"];
const IPV6_REFS: &[&str] = &[
    "[2001:db8::1]",
    "[::1]",
    "[fe80::a:b:c:d]",
    "[2001:DB8:0:0:8:800:200C:417A]",
    "[::ffff:192.0.2.1]",
];
const SPECIAL_USERS: &[&str] = &["%61lice", "+1-212-555-0100", "alice.smith", "a%20b"];
const URI_PARAMS: &[&str] = &[
    ";transport=tcp",
    ";transport=UDP",
    ";lr",
    ";x=y",
    ";user=phone",
    ";maddr=239.255.255.1",
    ";ttl=15",
    ";method=SUBSCRIBE",
    ";ob",
    ";gr=urn:uuid:f81d4fae",
];
const URI_HEADERS: &[&str] = &[
    "",
    "",
    "?subject=hi",
    "?Priority=urgent&Subject=x%20y",
    "?Call-ID=abc%40example.com",
];
const NO_URI_HEADERS: &[&str] = &[""];
const DISPLAY_NAMES: &[&str] = &[
    "Alice",
    "Bob  Smith",
    "Ms.\tCarol",
    "\"Alice\"",
    "\"\"",
    "\"Smith, Bob\"",
    "\"Al \\\"the pal\\\", esq.\"",
    "\"J\u{f6}rg M\u{fc}ller\"",
    "\"a<b>c;d\"",
];
const TRANSPORTS: &[&str] = &["UDP", "TCP", "TLS", "SCTP", "udp", "WS"];
const EVENT_PACKAGES: &[&str] = &[
    "presence",
    "presence.winfo",
    "dialog",
    "message-summary",
    "reg",
    "conference",
];
const SUB_STATES: &[&str] = &[
    "active",
    "pending",
    "terminated",
    "ACTIVE",
    "Terminated",
    "x-waiting",
];
const SUB_REASONS: &[&str] = &[
    "deactivated",
    "probation",
    "rejected",
    "timeout",
    "giveup",
    "noresource",
    "invariant",
];
const OPTION_TAGS: &[&str] = &[
    "eventlist",
    "100rel",
    "timer",
    "path",
    "gruu",
    "outbound",
    "replaces",
    "pref",
    "X-ext.1",
];
const MEDIA_TYPES: &[&str] = &["application", "text", "multipart", "message", "APPLICATION"];
const MEDIA_SUBTYPES: &[&str] = &[
    "pidf+xml",
    "xpidf+xml",
    "watcherinfo+xml",
    "plain",
    "related",
    "sipfrag",
    "sdp",
    "rlmi+xml",
];
const MEDIA_RANGES: &[&str] = &["*/*", "application/*", "text/*"];
const QVALUES: &[&str] = &["0", "0.5", "1", "1.0", "0.001", "1.000", "0.75"];
const USERNAMES: &[&str] = &[
    "\"alice\"",
    "\"bob\"",
    "\"ali\\\"ce\"",
    "\"J\u{f6}rg\"",
    "\"a, b\"",
];
const REASON_WORDS: &[&str] = &[
    "OK",
    "Trying",
    "Accepted",
    "Not",
    "Found",
    "Bad",
    "Event",
    "Interval",
    "Too",
    "Brief",
    "Conditional",
    "Request",
    "Failed",
    "\u{c7}a",
    "va",
    "a\tb",
    "-",
];
/// Names no typed header has (`s`, `a` and `x` are compact forms of
/// Subject, Accept-Contact and Session-Expires, none of them typed).
const RAW_NAMES: &[&str] = &[
    "X-Something",
    "X-Odd",
    "User-Agent",
    "Server",
    "Subject",
    "s",
    "a",
    "x",
    "Organization",
    "P-Asserted-Identity",
    "Date",
    "Priority",
    "Warning",
    "X-Empty",
    "Accept-Encoding",
    "Session-Expires",
];
const RAW_WORDS: &[&str] = &[
    "any",
    "text",
    "with",
    ":",
    "and",
    ",",
    ";",
    "\"quotes\"",
    "\"",
    "v a l",
    "<sip:x@example.com>;p=1",
    "\u{c7}a",
    "100%",
    "\\",
    "{\"k\": [1, 2]}",
    "@",
    "=",
];
const RAW_JOINS: &[&str] = &[" ", " ", "  ", "\t", "", "\r\n ", "\r\n\t"];
/// Whole unknown header fields, exactly as a peer might send them.
const RAW_FIELDS: &[&str] = &[
    "X-Something: any text with : and , and \"quotes\"",
    "X-Odd   :  v a l  ",
    "Subject:\r\n folded,\r\n\tover two lines",
    "X-Empty:",
    "s:hi",
    "User-Agent: presencecloud-test/1.0 (proptest)",
];
const BODY_PARTS: &[&str] = &[
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
    "\r\n",
    "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:a@example.com\">",
    "<basic>open</basic>",
    "hello",
    "\u{c7}a va \u{2713}",
    "\r\n\r\n",
    "SIP/2.0 200 OK",
    " ",
];

// ---------------------------------------------------------------------------
// Small combinators

/// One header field line (without its CRLF); `raw` when the parser keeps it
/// as received.
#[derive(Debug, Clone)]
struct Line {
    text: String,
    raw: bool,
}

impl Line {
    fn typed(text: String) -> Line {
        Line { text, raw: false }
    }
}

/// A generated message and, in order, the unknown header fields it holds.
#[derive(Debug, Clone)]
struct Generated {
    text: String,
    raw_lines: Vec<String>,
}

fn sep(pool: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    select(pool)
}

fn pick(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    select(pool).prop_map(|s: &'static str| s.to_string())
}

/// `min..=max` characters drawn from an ASCII `alphabet`.
fn chars(alphabet: &'static str, min: usize, max: usize) -> impl Strategy<Value = String> {
    vec(select(alphabet.as_bytes()), min..=max)
        .prop_map(|bytes| bytes.into_iter().map(char::from).collect::<String>())
}

fn token(min: usize, max: usize) -> impl Strategy<Value = String> {
    chars(TOKEN_CHARS, min, max)
}

fn quoted(inner: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    inner.prop_map(|s| format!("\"{s}\""))
}

fn number(range: std::ops::RangeInclusive<u32>) -> impl Strategy<Value = String> {
    range.prop_map(|n| n.to_string())
}

/// `name EQUAL value`
fn kv(name: &'static str, value: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    (sep(EQUAL), value).prop_map(move |(eq, v)| format!("{name}{eq}{v}"))
}

/// `*( SEMI param )`, `min..=max` of them.
fn params(
    param: impl Strategy<Value = String>,
    min: usize,
    max: usize,
) -> impl Strategy<Value = String> {
    vec((sep(SEMI), param), min..=max).prop_map(|ps| {
        let mut out = String::new();
        for (semi, p) in ps {
            out.push_str(semi);
            out.push_str(&p);
        }
        out
    })
}

/// `item *( COMMA item )` with `min..=max` items (none: an empty value).
fn list(
    item: impl Strategy<Value = String>,
    min: usize,
    max: usize,
) -> impl Strategy<Value = String> {
    vec((sep(COMMA), item), min..=max).prop_map(|items| {
        let mut out = String::new();
        for (k, (comma, item)) in items.into_iter().enumerate() {
            if k > 0 {
                out.push_str(comma);
            }
            out.push_str(&item);
        }
        out
    })
}

/// `name` in its canonical case, lower case, upper case or mixed by `mask`.
fn recase(name: &str, mode: u8, mask: u32) -> String {
    name.chars()
        .enumerate()
        .map(|(k, c)| match mode {
            0 => c,
            1 => c.to_ascii_lowercase(),
            2 => c.to_ascii_uppercase(),
            _ if (mask >> (k % 32)) & 1 == 1 && c.is_ascii_uppercase() => c.to_ascii_lowercase(),
            _ if (mask >> (k % 32)) & 1 == 1 => c.to_ascii_uppercase(),
            _ => c,
        })
        .collect()
}

/// `field-name HCOLON`: full or compact name, any case, any spacing.
fn name_form(full: &'static str, compact: Option<&'static str>) -> impl Strategy<Value = String> {
    (
        0u8..4,
        any::<u32>(),
        any::<bool>(),
        sep(BEFORE_COLON),
        sep(AFTER_COLON),
    )
        .prop_map(move |(mode, mask, short, before, after)| {
            let name = match compact {
                Some(c) if short => c,
                _ => full,
            };
            format!("{}{before}:{after}", recase(name, mode, mask))
        })
}

/// A typed header field.
fn field(
    full: &'static str,
    compact: Option<&'static str>,
    value: impl Strategy<Value = String>,
) -> impl Strategy<Value = Line> {
    (name_form(full, compact), value, sep(TRAILING))
        .prop_map(|(name, value, trailing)| Line::typed(format!("{name}{value}{trailing}")))
}

/// A header that may appear at most once.
fn once(line: impl Strategy<Value = Line> + 'static) -> BoxedStrategy<Vec<Line>> {
    prop::option::weighted(0.4, line)
        .prop_map(|l| l.into_iter().collect::<Vec<Line>>())
        .boxed()
}

/// A list header: none, one or several fields.
fn repeated(line: impl Strategy<Value = Line> + 'static, max: usize) -> BoxedStrategy<Vec<Line>> {
    vec(line, 0..=max).boxed()
}

// ---------------------------------------------------------------------------
// URIs and addresses

fn ipv4() -> impl Strategy<Value = String> {
    (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
        .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}"))
}

/// `host = hostname / IPv4address / IPv6reference`
fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => pick(DOMAINS),
        2 => (chars(LOWER_ALNUM, 1, 8), pick(TLDS)).prop_map(|(l, tld)| format!("{l}.{tld}")),
        2 => ipv4(),
        1 => pick(IPV6_REFS),
    ]
}

fn user() -> impl Strategy<Value = String> {
    prop_oneof![4 => chars(USER_CHARS, 1, 10), 1 => pick(SPECIAL_USERS)]
}

/// A sip or sips URI with up to `max_params` uri-parameters and, when
/// `with_headers`, perhaps `?headers`.
fn sip_uri(max_params: usize, with_headers: bool) -> impl Strategy<Value = String> {
    (
        pick(SCHEMES),
        prop::option::of((user(), prop::option::of(chars(ALNUM, 1, 6)))),
        host(),
        prop::option::of(any::<u16>()),
        vec(pick(URI_PARAMS), 0..=max_params),
        pick(if with_headers {
            URI_HEADERS
        } else {
            NO_URI_HEADERS
        }),
    )
        .prop_map(|(scheme, userinfo, host, port, params, headers)| {
            let userinfo = match userinfo {
                Some((user, Some(password))) => format!("{user}:{password}@"),
                Some((user, None)) => format!("{user}@"),
                None => String::new(),
            };
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            format!(
                "{scheme}:{userinfo}{host}{port}{}{headers}",
                params.concat()
            )
        })
}

fn display_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(String::new()),
        2 => pick(DISPLAY_NAMES),
        1 => chars(ALNUM, 1, 8),
    ]
}

/// `[ display-name ] LAQUOT addr-spec RAQUOT`
fn angle_addr(uri_headers: bool) -> impl Strategy<Value = String> {
    (display_name(), sep(DISPLAY_GAP), sip_uri(3, uri_headers)).prop_map(|(name, gap, uri)| {
        if name.is_empty() {
            format!("<{uri}>")
        } else {
            format!("{name}{gap}<{uri}>")
        }
    })
}

/// name-addr or a bare addr-spec (whose URI then has no parameters: they
/// would read as header parameters, RFC 3261 §20).
fn addr() -> impl Strategy<Value = String> {
    prop_oneof![3 => angle_addr(false), 1 => sip_uri(0, false)]
}

// ---------------------------------------------------------------------------
// Header values

fn via_param() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("rport".to_string()),
        kv("rport", any::<u16>().prop_map(|p| p.to_string())),
        kv("received", ipv4()),
        kv("received", pick(&["2001:db8::9", "[2001:db8::9]"])),
        kv("maddr", host()),
        kv("ttl", any::<u8>().prop_map(|t| t.to_string())),
        kv("x-ext", token(1, 8)),
        Just("x-flag".to_string()),
        kv("x-q", pick(&["\"a;b, c\"", "\"\\\"q\\\"\""])),
    ]
}

/// `sent-protocol LWS sent-by *( SEMI via-params )`, branch first.
fn via_value() -> impl Strategy<Value = String> {
    (
        pick(&["SIP", "SIP", "sip"]),
        sep(SLASH),
        sep(SLASH),
        pick(TRANSPORTS),
        sep(LWS),
        host(),
        prop::option::of((sep(COLON), any::<u16>())),
        (sep(SEMI), sep(EQUAL), token(1, 10)),
        params(via_param(), 0, 3),
    )
        .prop_map(
            |(protocol, s1, s2, transport, gap, host, port, (semi, eq, branch), extra)| {
                let port = port.map(|(c, p)| format!("{c}{p}")).unwrap_or_default();
                format!(
                    "{protocol}{s1}2.0{s2}{transport}{gap}{host}{port}{semi}branch{eq}z9hG4bK{branch}{extra}"
                )
            },
        )
}

/// 1-3 Via values, in one field or one field each.
fn via_lines() -> impl Strategy<Value = Vec<Line>> {
    prop_oneof![
        field("Via", Some("v"), list(via_value(), 1, 3)).prop_map(|l| vec![l]),
        vec(field("Via", Some("v"), via_value()), 1..=3),
    ]
}

fn addr_param() -> impl Strategy<Value = String> {
    prop_oneof![
        kv("x-param", pick(&["\"quoted;val, ue\"", "tok", "[::1]"])),
        Just("foo".to_string()),
        kv("bar", token(1, 6)),
    ]
}

/// From, and To in a dialog: an address with a tag among its parameters.
fn tagged_addr() -> impl Strategy<Value = String> {
    (
        addr(),
        (sep(SEMI), sep(EQUAL), token(1, 10)),
        params(addr_param(), 0, 2),
        any::<bool>(),
    )
        .prop_map(|(addr, (semi, eq, tag), extra, tag_first)| {
            let tag = format!("{semi}tag{eq}{tag}");
            if tag_first {
                format!("{addr}{tag}{extra}")
            } else {
                format!("{addr}{extra}{tag}")
            }
        })
}

fn to_value() -> impl Strategy<Value = String> {
    prop_oneof![
        tagged_addr(),
        (addr(), params(addr_param(), 0, 2)).prop_map(|(a, p)| a + &p),
    ]
}

/// `callid = word [ "@" word ]`
fn call_id() -> impl Strategy<Value = String> {
    (
        prop_oneof![3 => chars(ALNUM, 4, 16), 1 => chars(WORD_CHARS, 1, 12)],
        prop::option::of(prop_oneof![host(), chars(WORD_CHARS, 1, 8)]),
    )
        .prop_map(|(local, at)| match at {
            Some(h) => format!("{local}@{h}"),
            None => local,
        })
}

fn cseq_number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u32>().prop_map(|n| n.to_string()),
        (0u32..100).prop_map(|n| format!("00{n}")),
    ]
}

fn max_forwards() -> impl Strategy<Value = String> {
    prop_oneof![
        number(0..=255),
        any::<u32>().prop_map(|n| n.to_string()),
        Just("070".to_string()),
    ]
}

/// delta-seconds; oversized values saturate (RFC 3261 §20.19).
fn delta_seconds() -> impl Strategy<Value = String> {
    prop_oneof![
        number(0..=7200),
        any::<u32>().prop_map(|n| n.to_string()),
        pick(&["99999999999", "0003600", "0"]),
    ]
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => pick(METHODS),
        1 => pick(EXTENSION_METHODS),
        1 => chars(UPPER, 3, 9),
    ]
}

fn contact_param() -> impl Strategy<Value = String> {
    prop_oneof![
        kv("expires", delta_seconds()),
        kv("q", pick(QVALUES)),
        Just("+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\"".to_string()),
        Just("methods=\"SUBSCRIBE,NOTIFY\"".to_string()),
        kv("reg-id", number(1..=9)),
        Just("x-flag".to_string()),
    ]
}

fn contact_value() -> impl Strategy<Value = String> {
    (
        prop_oneof![3 => angle_addr(true), 1 => sip_uri(0, false)],
        params(contact_param(), 0, 3),
    )
        .prop_map(|(a, p)| a + &p)
}

/// Contact fields, or `Contact: *` alone.
fn contact_lines() -> BoxedStrategy<Vec<Line>> {
    prop_oneof![
        4 => vec(field("Contact", Some("m"), list(contact_value(), 1, 3)), 0..=2),
        1 => field("Contact", Some("m"), Just("*".to_string())).prop_map(|l| vec![l]),
    ]
    .boxed()
}

/// Route and Record-Route: name-addr only, loose routing.
fn route_value() -> impl Strategy<Value = String> {
    (
        display_name(),
        sep(DISPLAY_GAP),
        sip_uri(2, false),
        params(kv("x-r", token(1, 6)), 0, 1),
    )
        .prop_map(|(name, gap, uri, params)| {
            if name.is_empty() {
                format!("<{uri};lr>{params}")
            } else {
                format!("{name}{gap}<{uri};lr>{params}")
            }
        })
}

fn event_value() -> impl Strategy<Value = String> {
    let param = prop_oneof![
        kv("id", token(1, 8)),
        kv(
            "call-id",
            Just("\"a84b4c76e66710@pc33.example.com\"".to_string())
        ),
        kv("from-tag", token(1, 8)),
        Just("include-session-description".to_string()),
    ];
    (pick(EVENT_PACKAGES), params(param, 0, 2)).prop_map(|(e, p)| e + &p)
}

fn subscription_state_value() -> impl Strategy<Value = String> {
    let param = prop_oneof![
        kv("expires", delta_seconds()),
        kv("reason", pick(SUB_REASONS)),
        kv("retry-after", number(0..=3600)),
        Just("x-ext".to_string()),
    ];
    (pick(SUB_STATES), params(param, 0, 3)).prop_map(|(s, p)| s + &p)
}

/// `m-type SLASH m-subtype *( SEMI m-parameter )`
fn media_type() -> impl Strategy<Value = String> {
    let param = prop_oneof![
        kv("charset", pick(&["UTF-8", "\"utf-8\""])),
        kv("type", Just("\"application/rlmi+xml\"".to_string())),
        kv("boundary", token(1, 12)),
        kv("start", Just("\"<nXYxAE@pres.example.com>\"".to_string())),
        kv("version", Just("1.0".to_string())),
    ];
    (
        pick(MEDIA_TYPES),
        sep(SLASH),
        pick(MEDIA_SUBTYPES),
        params(param, 0, 2),
    )
        .prop_map(|(t, slash, s, p)| format!("{t}{slash}{s}{p}"))
}

/// An Accept media-range, perhaps with a q-value.
fn accept_range() -> impl Strategy<Value = String> {
    (
        prop_oneof![2 => media_type(), 1 => pick(MEDIA_RANGES)],
        prop::option::of((sep(SEMI), sep(EQUAL), pick(QVALUES))),
    )
        .prop_map(|(range, q)| match q {
            Some((semi, eq, q)) => format!("{range}{semi}q{eq}{q}"),
            None => range,
        })
}

/// `auth-scheme LWS auth-param *( COMMA auth-param )`, params in any order.
fn auth_value(params: impl Strategy<Value = Vec<String>>) -> impl Strategy<Value = String> {
    (
        pick(&["Digest", "Digest", "digest"]),
        sep(LWS),
        params.prop_shuffle(),
        vec(sep(COMMA), 10),
    )
        .prop_map(|(scheme, gap, params, commas)| {
            let mut out = format!("{scheme}{gap}");
            for (k, p) in params.iter().enumerate() {
                if k > 0 {
                    out.push_str(commas[k % commas.len()]);
                }
                out.push_str(p);
            }
            out
        })
}

/// Digest credentials (Authorization, Proxy-Authorization).
fn credentials() -> impl Strategy<Value = String> {
    let params = (
        kv("username", pick(USERNAMES)),
        kv("realm", quoted(host())),
        kv("nonce", quoted(chars(NONCE_CHARS, 8, 24))),
        kv("uri", quoted(sip_uri(1, false))),
        kv("response", quoted(chars(HEX, 32, 32))),
        prop::option::of(kv("nc", any::<u32>().prop_map(|n| format!("{n:08x}")))),
        prop::option::of(kv("qop", pick(&["auth", "auth-int"]))),
        prop::option::of(kv("cnonce", quoted(chars(ALNUM, 4, 12)))),
        prop::option::of(kv("algorithm", pick(&["MD5", "MD5-sess"]))),
        prop::option::of(kv("opaque", quoted(chars(ALNUM, 0, 8)))),
    )
        .prop_map(
            |(user, realm, nonce, uri, response, nc, qop, cnonce, alg, opaque)| {
                let mut all = vec![user, realm, nonce, uri, response];
                all.extend([nc, qop, cnonce, alg, opaque].into_iter().flatten());
                all
            },
        );
    auth_value(params)
}

/// Digest challenges (WWW-Authenticate, Proxy-Authenticate).
fn challenge() -> impl Strategy<Value = String> {
    let params = (
        kv("realm", quoted(host())),
        kv("nonce", quoted(chars(NONCE_CHARS, 8, 24))),
        prop::option::of(kv("qop", pick(&["\"auth\"", "\"auth,auth-int\""]))),
        prop::option::of(kv("stale", pick(&["false", "FALSE", "TRUE"]))),
        prop::option::of(kv("algorithm", pick(&["MD5", "MD5-sess"]))),
        prop::option::of(kv("opaque", quoted(chars(ALNUM, 0, 8)))),
        prop::option::of(kv(
            "domain",
            Just("\"sip:ss1.example.com sip:ss2.example.com\"".to_string()),
        )),
    )
        .prop_map(|(realm, nonce, qop, stale, alg, opaque, domain)| {
            let mut all = vec![realm, nonce];
            all.extend([qop, stale, alg, opaque, domain].into_iter().flatten());
            all
        });
    auth_value(params)
}

/// An unknown header field: kept raw, printed back byte for byte.
fn raw_line() -> impl Strategy<Value = Line> {
    let value = vec((sep(RAW_JOINS), pick(RAW_WORDS)), 0..=6).prop_map(|words| {
        let mut out = String::new();
        for (k, (join, word)) in words.into_iter().enumerate() {
            if k > 0 {
                out.push_str(join);
            }
            out.push_str(&word);
        }
        out
    });
    let generated = (
        pick(RAW_NAMES),
        (0u8..4, any::<u32>()),
        sep(BEFORE_COLON),
        sep(AFTER_COLON),
        value,
        sep(TRAILING),
    )
        .prop_map(|(name, (mode, mask), before, after, value, trailing)| {
            format!(
                "{}{before}:{after}{value}{trailing}",
                recase(&name, mode, mask)
            )
        });
    prop_oneof![1 => pick(RAW_FIELDS), 3 => generated].prop_map(|text| Line { text, raw: true })
}

// ---------------------------------------------------------------------------
// Messages

/// The start line, and the method when it is a request.
fn start_line() -> impl Strategy<Value = (String, Option<String>)> {
    prop_oneof![
        3 => (method(), sip_uri(3, false), pick(&["SIP/2.0", "SIP/2.0", "sip/2.0"]))
            .prop_map(|(m, uri, version)| (format!("{m} {uri} {version}"), Some(m))),
        2 => (100u16..=699, vec(pick(REASON_WORDS), 0..=4))
            .prop_map(|(code, words)| (format!("SIP/2.0 {code} {}", words.join(" ")), None::<String>)),
    ]
}

/// CSeq up to its method, and what follows the method; the method itself
/// comes from the start line (RFC 3261 §8.1.1.5).
fn cseq_parts() -> impl Strategy<Value = (String, String)> {
    (
        name_form("CSeq", None),
        cseq_number(),
        sep(LWS),
        sep(TRAILING),
    )
        .prop_map(|(name, n, gap, trailing)| (format!("{name}{n}{gap}"), trailing.to_string()))
}

/// Optional typed headers; single-valued ones at most once.
fn optional_lines() -> impl Strategy<Value = Vec<Line>> {
    let kinds: Vec<BoxedStrategy<Vec<Line>>> = vec![
        contact_lines(),
        repeated(field("Route", None, list(route_value(), 1, 3)), 2),
        repeated(field("Record-Route", None, list(route_value(), 1, 3)), 2),
        once(field("Expires", None, delta_seconds())),
        once(field("Min-Expires", None, delta_seconds())),
        once(field("Event", Some("o"), event_value())),
        repeated(
            field("Allow-Events", Some("u"), list(pick(EVENT_PACKAGES), 1, 3)),
            2,
        ),
        once(field(
            "Subscription-State",
            None,
            subscription_state_value(),
        )),
        once(field("SIP-ETag", None, token(1, 12))),
        once(field("SIP-If-Match", None, token(1, 12))),
        once(field("Content-Type", Some("c"), media_type())),
        repeated(field("Accept", None, list(accept_range(), 0, 3)), 2),
        repeated(field("Allow", None, list(method(), 0, 4)), 2),
        repeated(field("Require", None, list(pick(OPTION_TAGS), 1, 3)), 2),
        repeated(
            field("Proxy-Require", None, list(pick(OPTION_TAGS), 1, 3)),
            1,
        ),
        repeated(
            field("Supported", Some("k"), list(pick(OPTION_TAGS), 0, 3)),
            2,
        ),
        repeated(field("Unsupported", None, list(pick(OPTION_TAGS), 1, 3)), 1),
        once(field("Authorization", None, credentials())),
        once(field("Proxy-Authorization", None, credentials())),
        once(field("WWW-Authenticate", None, challenge())),
        once(field("Proxy-Authenticate", None, challenge())),
    ];
    kinds.prop_map(|groups| groups.concat())
}

/// Every header field but CSeq, Max-Forwards and Content-Length.
fn header_lines() -> impl Strategy<Value = Vec<Line>> {
    (
        via_lines(),
        field("From", Some("f"), tagged_addr()),
        field("To", Some("t"), to_value()),
        field("Call-ID", Some("i"), call_id()),
        optional_lines(),
        vec(raw_line(), 0..=4),
    )
        .prop_map(|(vias, from, to, call_id, optional, raw)| {
            let mut lines = vias;
            lines.extend([from, to, call_id]);
            lines.extend(optional);
            lines.extend(raw);
            lines
        })
}

/// The body and its Content-Length field: `Content-Length: 0` and no body,
/// a body of the declared length, or (datagram style) no Content-Length and
/// a body that runs to the end (RFC 3261 §18.3).
fn body() -> impl Strategy<Value = (Option<Line>, String)> {
    (
        0u8..3,
        vec(pick(BODY_PARTS), 0..=6).prop_map(|parts| parts.concat()),
        name_form("Content-Length", Some("l")),
        pick(&["", "", "0", "00"]),
        sep(TRAILING),
    )
        .prop_map(|(framing, text, name, zeros, trailing)| {
            let length = |n: usize| Some(Line::typed(format!("{name}{zeros}{n}{trailing}")));
            match framing {
                0 => (length(0), String::new()),
                1 => (length(text.len()), text),
                _ => (None, text),
            }
        })
}

fn insert_at(lines: &mut Vec<Line>, at: Index, line: Line) {
    let k = at.index(lines.len() + 1);
    lines.insert(k, line);
}

/// A whole valid message: start line, header fields in random order, body.
fn message() -> impl Strategy<Value = Generated> {
    (
        start_line(),
        method(),
        cseq_parts(),
        (field("Max-Forwards", None, max_forwards()), any::<bool>()),
        header_lines().prop_shuffle(),
        body(),
        (any::<Index>(), any::<Index>(), any::<Index>()),
    )
        .prop_map(
            |(
                (start, request_method),
                response_method,
                (cseq_head, cseq_tail),
                (max_forwards, forwards_in_response),
                mut lines,
                (content_length, body),
                (at_cseq, at_forwards, at_length),
            )| {
                let is_request = request_method.is_some();
                let method = request_method.unwrap_or(response_method);
                let cseq = Line::typed(format!("{cseq_head}{method}{cseq_tail}"));
                insert_at(&mut lines, at_cseq, cseq);
                if is_request || forwards_in_response {
                    insert_at(&mut lines, at_forwards, max_forwards);
                }
                if let Some(length) = content_length {
                    insert_at(&mut lines, at_length, length);
                }
                let mut text = start + "\r\n";
                for line in &lines {
                    text.push_str(&line.text);
                    text.push_str("\r\n");
                }
                text.push_str("\r\n");
                text.push_str(&body);
                let raw_lines = lines
                    .into_iter()
                    .filter(|l| l.raw)
                    .map(|l| l.text)
                    .collect();
                Generated { text, raw_lines }
            },
        )
}

// ---------------------------------------------------------------------------
// Properties

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Parses, or fails the case with the error and the text.
fn parsed<'a>(bytes: &'a [u8], what: &str) -> Result<Message<'a>, TestCaseError> {
    parse(bytes)
        .map_err(|e| TestCaseError::fail(format!("{what} does not parse: {e}\n{:?}", lossy(bytes))))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Runs a property over generated messages on a thread with a large stack:
/// the composed strategies nest deeply, more than a test thread's default
/// stack holds in a debug build.
fn check(test: impl Fn(Generated) -> Result<(), TestCaseError> + Send + 'static) {
    let run = move || {
        let mut runner = TestRunner::new(ProptestConfig::with_cases(512));
        if let Err(e) = runner.run(&message(), &test) {
            panic!("{e}");
        }
    };
    let handle = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(run)
        .expect("a test thread");
    if let Err(panic) = handle.join() {
        std::panic::resume_unwind(panic);
    }
}

/// parse(print(m)) == m, and printing the result again gives the same
/// bytes (the printer is canonical: printing is idempotent).
#[test]
fn printer_round_trips_generated_messages() {
    check(|g| {
        let m = parsed(g.text.as_bytes(), "generated message")?;
        let printed = m.print();
        let m2 = parsed(&printed, "printed message")?;
        prop_assert_eq!(&m2, &m);
        let reprinted = m2.print();
        prop_assert!(
            reprinted == printed,
            "printing is not idempotent:\n{:?}\n{:?}",
            lossy(&printed),
            lossy(&reprinted)
        );
        Ok(())
    });
}

/// Headers we do not type keep their bytes: every unknown field,
/// spacing, case and folding included, is printed exactly as received
/// and in the order received.
#[test]
fn unknown_headers_print_byte_identical() {
    check(|g| {
        let m = parsed(g.text.as_bytes(), "generated message")?;
        let kept: Vec<&str> = m
            .fields()
            .filter(|f| f.name().is_none())
            .filter_map(|f| f.raw().line)
            .collect();
        prop_assert_eq!(&kept, &g.raw_lines);
        let printed = m.print();
        let mut from = 0;
        for line in &g.raw_lines {
            let needle = format!("\r\n{line}\r\n");
            match find(&printed[from..], needle.as_bytes()) {
                Some(at) => from += at + needle.len() - 2,
                None => {
                    return Err(TestCaseError::fail(format!(
                        "{line:?} is not printed byte-identical, in order:\n{:?}",
                        lossy(&printed)
                    )));
                }
            }
        }
        Ok(())
    });
}

/// Typed headers come out canonical: the full name, `: `, the value on
/// one line (no compact forms, no folding).
#[test]
fn printer_writes_typed_headers_under_canonical_names() {
    check(|g| {
        let m = parsed(g.text.as_bytes(), "generated message")?;
        for h in m.fields() {
            let Some(name) = h.name() else { continue };
            let mut out = Vec::new();
            h.header().write_to(&mut out);
            let line = lossy(&out);
            let prefix = format!("{}: ", name.as_str());
            let one_line = line
                .strip_suffix("\r\n")
                .is_some_and(|l| !l.contains(['\r', '\n']));
            prop_assert!(
                line.starts_with(&prefix) && one_line,
                "{line:?} is not `{prefix}value` on one line"
            );
        }
        Ok(())
    });
}

/// The acceptance example: an unknown header with odd spacing and a folded
/// one come back byte for byte, typed ones in canonical form.
#[test]
fn unknown_header_with_odd_spacing_prints_byte_identical() {
    let text = b"NOTIFY sip:a@example.com SIP/2.0\r\n\
        v : SIP/2.0/UDP 192.0.2.1 ;branch=z9hG4bK1\r\n\
        f: <sip:b@example.com>;tag=1\r\n\
        t: <sip:a@example.com>;tag=2\r\n\
        i: x\r\n\
        CSeq: 7 NOTIFY\r\n\
        X-Odd   :  v a l  \r\n\
        Subject:\r\n folded,\r\n\tover two lines\r\n\
        l: 0\r\n\r\n";
    let m = parse(text).expect("a valid message");
    let printed = lossy(&m.print());
    for line in [
        "\r\nX-Odd   :  v a l  \r\n",
        "\r\nSubject:\r\n folded,\r\n\tover two lines\r\n",
        "\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n",
        "\r\nFrom: <sip:b@example.com>;tag=1\r\n",
        "\r\nContent-Length: 0\r\n",
    ] {
        assert!(printed.contains(line), "{line:?} not in {printed:?}");
    }
    assert_eq!(parse(printed.as_bytes()).expect("printed parses"), m);
}
