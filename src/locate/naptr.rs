//! NAPTR records and which of them a SIP client may follow (RFC 3263 §4.1,
//! RFC 3403 §4.1).

use super::Transport;

/// One NAPTR record as the resolver found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naptr {
    pub order: u16,
    pub preference: u16,
    pub flags: String,
    pub services: String,
    pub regexp: String,
    /// The name to look up next: for SIP, an SRV name such as
    /// `_sip._tcp.example.com.`.
    pub replacement: String,
}

impl Naptr {
    /// The transport this record offers, if a SIP client resolving a URI
    /// of this kind may use it: `SIP+D2U` (UDP) and `SIP+D2T` (TCP) for a
    /// SIP URI, `SIPS+D2T` (TLS) for a SIPS URI only (RFC 3263 §4.1: a
    /// client resolving SIPS discards the others; one resolving SIP keeps
    /// SIPS only if it does TLS, and this proxy does not yet). SCTP and
    /// unknown services are not ours.
    pub fn transport(&self, secure: bool) -> Option<Transport> {
        let t = match self.services.to_ascii_uppercase().as_str() {
            "SIP+D2U" => Transport::Udp,
            "SIP+D2T" => Transport::Tcp,
            "SIPS+D2T" => Transport::Tls,
            _ => return None,
        };
        (secure == (t == Transport::Tls)).then_some(t)
    }

    /// RFC 3263 §4.1 records carry the `S` flag (an SRV lookup follows),
    /// no regexp, and a replacement.
    fn is_terminal_srv(&self) -> bool {
        self.flags.eq_ignore_ascii_case("s")
            && self.regexp.is_empty()
            && !self.replacement.is_empty()
            && self.replacement != "."
    }
}

/// The NAPTR records usable for a SIP (`secure` false) or SIPS URI, best
/// first (RFC 3403: order, then preference, both ascending), as the SRV
/// name each points to and the transport it stands for. Duplicates are
/// dropped.
pub fn select(records: &[Naptr], secure: bool) -> Vec<(String, Transport)> {
    let mut usable: Vec<(&Naptr, Transport)> = records
        .iter()
        .filter(|r| r.is_terminal_srv())
        .filter_map(|r| r.transport(secure).map(|t| (r, t)))
        .collect();
    usable.sort_by_key(|(r, _)| (r.order, r.preference));
    let mut out: Vec<(String, Transport)> = Vec::with_capacity(usable.len());
    for (r, t) in usable {
        if !out
            .iter()
            .any(|(n, u)| *u == t && n.eq_ignore_ascii_case(&r.replacement))
        {
            out.push((r.replacement.clone(), t));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naptr(order: u16, preference: u16, services: &str, replacement: &str) -> Naptr {
        Naptr {
            order,
            preference,
            flags: "s".into(),
            services: services.into(),
            regexp: String::new(),
            replacement: replacement.into(),
        }
    }

    #[test]
    fn rfc3263_s4_1_naptr_order_then_preference() {
        let rs = [
            naptr(20, 10, "SIP+D2U", "_sip._udp.x."),
            naptr(10, 50, "SIP+D2U", "_sip._udp.y."),
            naptr(10, 20, "SIP+D2T", "_sip._tcp.x."),
        ];
        assert_eq!(
            select(&rs, false),
            [
                ("_sip._tcp.x.".to_string(), Transport::Tcp),
                ("_sip._udp.y.".to_string(), Transport::Udp),
                ("_sip._udp.x.".to_string(), Transport::Udp),
            ]
        );
    }

    #[test]
    fn rfc3263_s4_1_sip_uri_skips_sips_and_unsupported_services() {
        let rs = [
            naptr(10, 10, "SIPS+D2T", "_sips._tcp.x."),
            naptr(10, 20, "SIP+D2S", "_sip._sctp.x."),
            naptr(10, 30, "sip+d2u", "_sip._udp.x."),
        ];
        assert_eq!(
            select(&rs, false),
            [("_sip._udp.x.".to_string(), Transport::Udp)]
        );
    }

    #[test]
    fn rfc3263_s4_1_sips_uri_keeps_only_sips_services() {
        let rs = [
            naptr(10, 10, "SIP+D2T", "_sip._tcp.x."),
            naptr(10, 20, "SIPS+D2T", "_sips._tcp.x."),
        ];
        assert_eq!(
            select(&rs, true),
            [("_sips._tcp.x.".to_string(), Transport::Tls)]
        );
    }

    #[test]
    fn rfc3403_naptr_without_s_flag_or_with_regexp_is_not_followed() {
        let mut a = naptr(10, 10, "SIP+D2U", "_sip._udp.x.");
        a.flags = "u".into();
        let mut b = naptr(10, 10, "SIP+D2T", "_sip._tcp.x.");
        b.regexp = "!^.*$!sip:x@y!".into();
        let c = naptr(10, 10, "SIP+D2T", ".");
        assert!(select(&[a, b, c], false).is_empty());
    }
}
