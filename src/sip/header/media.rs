//! Media types: Content-Type (RFC 3261 §20.15) and Accept (§20.1).

use std::fmt;

use crate::sip::params::{Param, Params, params};
use crate::sip::syntax::{PResult, fail, slash, sws, token};

/// `m-type SLASH m-subtype *(SEMI m-parameter)`; in Accept either part may
/// be `*`, which is a token character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType<'a> {
    pub mtype: &'a str,
    pub subtype: &'a str,
    pub params: Params<'a>,
}

impl<'a> MediaType<'a> {
    /// Type and subtype compare case-insensitively (RFC 2045 §5.1).
    pub fn is(&self, mtype: &str, subtype: &str) -> bool {
        self.mtype.eq_ignore_ascii_case(mtype) && self.subtype.eq_ignore_ascii_case(subtype)
    }

    /// Whether this Accept range admits `mtype/subtype`.
    pub fn admits(&self, mtype: &str, subtype: &str) -> bool {
        (self.mtype == "*" || self.mtype.eq_ignore_ascii_case(mtype))
            && (self.subtype == "*" || self.subtype.eq_ignore_ascii_case(subtype))
    }

    pub fn param(&self, name: &str) -> Option<Param<'a>> {
        self.params.get(name)
    }
}

pub fn media_type(i: &str) -> PResult<'_, MediaType<'_>> {
    let (r, ()) = sws(i)?;
    let (r, mtype) = token(r).or_else(|_| fail(r, "media type"))?;
    let (r, ()) = slash(r)?;
    let (r, subtype) = token(r).or_else(|_| fail(r, "media subtype"))?;
    let (r, params) = params(r)?;
    Ok((
        r,
        MediaType {
            mtype,
            subtype,
            params,
        },
    ))
}

impl fmt::Display for MediaType<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.mtype, self.subtype)?;
        write!(f, "{}", self.params)
    }
}
