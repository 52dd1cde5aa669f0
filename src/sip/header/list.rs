//! Comma lists of small values (option tags, methods, media ranges, event
//! types: `Require`, `Supported`, `Allow`, `Accept`, `Allow-Events`, ...),
//! checked against their grammar when the message is parsed and kept as
//! the text they were read from. Items are read again when asked for.
//!
//! Why: these headers come on most requests a phone sends, but the node
//! reads them on few paths (an OPTIONS answer, a Require check, an Accept
//! check). Building a vector for each cost more than the whole check of
//! its grammar, and a malformed list must still be a 400 at the door.

use std::fmt;
use std::marker::PhantomData;

use super::super::method::Method;
use super::super::syntax::{self, PResult, comma, fail, sws, token};
use super::event::{self, EventType};
use super::media::{self, MediaType};

/// One element of a comma list, as its grammar reads it (the list's
/// separators, `SWS "," SWS`, are [`List`]'s).
pub trait Item<'a>: Sized {
    fn item(i: &'a str) -> PResult<'a, Self>;
}

/// `option-tag = token` (RFC 3261 §25.1): Require, Proxy-Require,
/// Supported, Unsupported.
impl<'a> Item<'a> for &'a str {
    fn item(i: &'a str) -> PResult<'a, Self> {
        let (r, ()) = sws(i)?;
        token(r).or_else(|_| fail(r, "option tag"))
    }
}

/// `Method` (RFC 3261 §25.1): Allow.
impl<'a> Item<'a> for Method<'a> {
    fn item(i: &'a str) -> PResult<'a, Self> {
        let (r, ()) = sws(i)?;
        let (r, t) = token(r).or_else(|_| fail(r, "method"))?;
        Ok((r, Method::from_token(t)))
    }
}

/// `media-range *(SEMI accept-param)`: Accept.
impl<'a> Item<'a> for MediaType<'a> {
    fn item(i: &'a str) -> PResult<'a, Self> {
        media::media_type(i)
    }
}

/// `event-type` (RFC 6665 §8.4): Allow-Events.
impl<'a> Item<'a> for EventType<'a> {
    fn item(i: &'a str) -> PResult<'a, Self> {
        event::event_type(i)
    }
}

/// `item *(COMMA item)`, or nothing for the lists RFC 3261 allows empty,
/// held as its text.
pub struct List<'a, T> {
    /// From where parsing started to the last item's last byte.
    raw: &'a str,
    item: PhantomData<fn() -> T>,
}

impl<'a, T: Item<'a>> List<'a, T> {
    pub const EMPTY: List<'a, T> = List {
        raw: "",
        item: PhantomData,
    };

    /// `item *(COMMA item)` at the start of `i`: the list and the rest.
    pub fn parse(i: &'a str) -> PResult<'a, Self> {
        let (mut rest, _) = T::item(i)?;
        while let Ok((r, ())) = comma(rest) {
            rest = T::item(r)?.0;
        }
        let raw = &i[..i.len() - rest.len()];
        Ok((
            rest,
            List {
                raw,
                item: PhantomData,
            },
        ))
    }

    /// A whole header value: `[ item *(COMMA item) ]`, the list empty when
    /// the value is (whitespace and folds only).
    pub(crate) fn maybe_empty(v: &'a str) -> Result<Self, syntax::SynErr<'a>> {
        if v.bytes()
            .all(|b| syntax::is_wsp(b) || b == b'\r' || b == b'\n')
        {
            Ok(Self::EMPTY)
        } else {
            syntax::all(v, Self::parse)
        }
    }

    /// The items in order, read from the text (which was checked when it
    /// was parsed).
    pub fn iter(&self) -> Iter<'a, T> {
        Iter {
            rest: self.raw,
            first: true,
            item: PhantomData,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }
}

pub struct Iter<'a, T> {
    rest: &'a str,
    first: bool,
    item: PhantomData<fn() -> T>,
}

impl<'a, T: Item<'a>> Iterator for Iter<'a, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.rest.is_empty() {
            return None;
        }
        let at = if std::mem::take(&mut self.first) {
            self.rest
        } else {
            comma(self.rest).ok()?.0
        };
        // The text passed the same reading when it was parsed, so this
        // cannot fail; should it, the list ends rather than loops.
        let Ok((rest, item)) = T::item(at) else {
            self.rest = "";
            return None;
        };
        self.rest = rest;
        Some(item)
    }
}

impl<'a, T: Item<'a>> IntoIterator for &List<'a, T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

// Written out: derives would ask `T` for traits that the text, not the
// items, provides.
impl<T> Clone for List<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for List<'_, T> {}

/// Two lists are equal when their items are, whatever the spacing.
impl<'a, T: Item<'a> + PartialEq> PartialEq for List<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<'a, T: Item<'a> + Eq> Eq for List<'a, T> {}

impl<'a, T: Item<'a> + fmt::Debug> fmt::Debug for List<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::syntax::{comma_list, slot};
    use proptest::prelude::*;

    /// The list reads back, item for item, what collecting every item as
    /// it is checked reads (a list ends where that reading ends, and fails
    /// where it fails, by construction: the point is what `iter` gives).
    fn agree<'a, T: Item<'a> + PartialEq + fmt::Debug>(v: &'a str) {
        let checked = List::<T>::parse(v);
        let collected = comma_list(T::item)(v);
        match (checked, collected) {
            (Ok((r1, list)), Ok((r2, items))) => {
                assert_eq!(r1, r2, "{v:?}");
                assert_eq!(list.iter().collect::<Vec<T>>(), items, "{v:?}");
                assert_eq!(list.len(), items.len());
            }
            (Err(_), Err(_)) => {}
            (a, b) => panic!("{v:?}: {:?} against {:?}", a.map(|x| x.0), b.map(|x| x.0)),
        }
        // As a whole header value, the way the parser reads one.
        let whole = List::<T>::maybe_empty(v).map(|l| l.iter().collect::<Vec<T>>());
        if v.trim_matches([' ', '\t', '\r', '\n']).is_empty() {
            assert_eq!(whole.unwrap(), Vec::<T>::new());
        } else {
            let items = syntax::all(v, comma_list(T::item));
            assert_eq!(whole.ok(), items.ok(), "{v:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        /// Lists built item by item with every kind of separator RFC 3261
        /// §7.3.1 allows (spaces, tabs, folds) and some it does not.
        #[test]
        fn rfc3261_s7_3_1_items_read_back_as_checked(
            items in proptest::collection::vec(
                (
                    slot(&["100rel", "timer", "x-Cisco.serviceuri", "INVITE", "presence.winfo", "application/pidf+xml", "*/*;q=0.1", "text/plain;charset=\"UTF-8\""], &["", "@", "a b", "\"q\"", "/x"]),
                    slot(&[",", ", ", " ,", " , ", ",\r\n ", "\t,\t"], &[" ", ",,", "\r\n", ";"]),
                ),
                1..6,
            )
        ) {
            // separators between the items, none after the last
            let mut v = String::new();
            for (k, (item, sep)) in items.iter().enumerate() {
                if k > 0 {
                    v.push_str(sep);
                }
                v.push_str(item);
            }
            agree::<&str>(&v);
            agree::<Method>(&v);
            agree::<MediaType>(&v);
            agree::<EventType>(&v);
        }
    }

    fn tags(v: &str) -> Vec<&str> {
        List::<&str>::maybe_empty(v).unwrap().iter().collect()
    }

    #[test]
    fn rfc3261_s7_3_1_items_read_back_whatever_the_spacing() {
        assert_eq!(tags("100rel,timer"), ["100rel", "timer"]);
        assert_eq!(
            tags("100rel , timer,\r\n path"),
            ["100rel", "timer", "path"]
        );
        assert_eq!(tags("  \r\n "), Vec::<&str>::new());
        let a = List::<&str>::maybe_empty("a, b").unwrap();
        let b = List::<&str>::maybe_empty("a ,b").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, List::<&str>::maybe_empty("a").unwrap());
        assert_eq!(a.len(), 2);
        assert_eq!(format!("{a:?}"), r#"["a", "b"]"#);
    }

    #[test]
    fn rfc3261_s25_1_a_bad_item_or_separator_is_refused_at_parse() {
        let e = List::<&str>::maybe_empty("100rel, @bad").unwrap_err();
        assert_eq!(e.expected, "option tag");
        assert!(List::<&str>::maybe_empty("a,,b").is_err());
        assert!(List::<&str>::maybe_empty("a b").is_err());
        assert!(List::<Method>::maybe_empty("INVITE, ").is_err());
    }

    #[test]
    fn rfc3261_s20_1_accept_items_keep_their_parameters() {
        let l = List::<MediaType>::maybe_empty("application/pidf+xml;q=1, */*;q=0.1").unwrap();
        let items: Vec<MediaType> = l.iter().collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].admits("application", "pidf+xml"));
        assert_eq!(items[1].to_string(), "*/*;q=0.1");
    }
}
