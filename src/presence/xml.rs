//! XML text for the documents the presence package prints (PIDF, watcher
//! information): escaping that survives any parser, and the characters XML
//! 1.0 can carry (§2.2).

/// Whether XML 1.0 can carry `c`.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{fffe}' && c != '\u{ffff}')
}

/// Text content: markup characters escaped, `\r` kept through parsers that
/// normalise line ends, characters XML cannot carry replaced.
pub(crate) fn escape_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{fffd}'),
        }
    }
}

/// Attribute values: as text, plus the quote and the whitespace characters
/// that attribute-value normalisation would turn into spaces.
pub(crate) fn escape_attr(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{fffd}'),
        }
    }
}

/// The most of an input an error message quotes.
const QUOTE_MAX: usize = 40;

/// Input text made safe for a reason phrase: printable ASCII only, short.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if out.len() >= QUOTE_MAX {
            out.push_str("...");
            break;
        }
        if c.is_ascii_graphic() || c == ' ' {
            out.push(c);
        } else {
            out.push('?');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_1_0_s2_4_markup_is_escaped_and_bad_characters_replaced() {
        let mut t = String::new();
        escape_text(&mut t, "a<b>&c\r\u{1}");
        assert_eq!(t, "a&lt;b&gt;&amp;c&#13;\u{fffd}");
        let mut a = String::new();
        escape_attr(&mut a, "\"x\"\t");
        assert_eq!(a, "&quot;x&quot;&#9;");
        assert!(!is_xml_char('\u{fffe}'));
    }
}
