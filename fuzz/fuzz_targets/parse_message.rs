//! Fuzz target: any bytes into the SIP parser (datagram and stream framing,
//! lazy reading and partial checks, a single header field, a URI). Nothing may panic; whatever parses must
//! print and parse back to the same value (the printer's contract), and
//! every refusal carries an error status and a printable reason phrase.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run parse_message -- -max_total_time=60`
//! (tests/run-all.sh does, seeded with the messages in tests/data).

#![no_main]

use libfuzzer_sys::fuzz_target;
use presencecloud::proxy::REQUEST_READS;
use presencecloud::sip::{Limits, Uri, frame, parse, parse_header, parse_lazy};

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(msg) => {
            let printed = msg.print();
            let again = parse(&printed).expect("a printed message parses");
            assert_eq!(again, msg, "parse(print(m)) == m");
            assert_eq!(again.print(), printed, "printing is idempotent");
        }
        Err(e) => {
            assert!((400..=599).contains(&e.status()), "{e:?}");
            assert!(!e.reason_phrase().is_empty());
            assert!(e.reason_phrase().bytes().all(|b| (0x20..0x7f).contains(&b)));
        }
    }
    // What is read lazily: checking part of it never panics, and what a
    // proxy forwards as received is the bytes it was read from.
    if let Ok(msg) = parse_lazy(data) {
        let _ = msg.check_for(&REQUEST_READS);
        let mut out = Vec::new();
        for f in msg.fields() {
            f.write_to(&mut out);
        }
        assert!(out.len() <= data.len());
        assert_eq!(msg.check().is_ok(), parse(data).is_ok());
    }
    if let Ok(Some(n)) = frame(data, &Limits::default()) {
        assert!(n <= data.len());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(h) = parse_header(text) {
            let _ = format!("{h:?}");
        }
        if let Ok(u) = Uri::parse(text) {
            let printed = u.to_string();
            let again = Uri::parse(&printed).expect("a printed URI parses");
            assert_eq!(again, u, "{text:?} printed as {printed:?}");
        }
    }
});
