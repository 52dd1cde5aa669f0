//! SRV records and their order of use (RFC 2782, "Usage rules").
//!
//! Lowest priority first; within one priority, a weighted random order in
//! which a record of weight w is picked first with probability w / Σw. The
//! randomness is an input (a seed), so the order is reproducible in tests.

/// One SRV record as the resolver found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// The host to look up (A/AAAA). `.` means the service is decidedly not
    /// available at this domain (RFC 2782).
    pub target: String,
}

impl Srv {
    /// The record says "no such service here" (target `.`).
    pub fn is_refusal(&self) -> bool {
        self.target.is_empty() || self.target == "."
    }
}

/// A small deterministic generator (SplitMix64): the SRV weighting needs
/// a few uniform numbers from one seed, nothing more.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix(u64);

impl SplitMix {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `1..=n` (n > 0), without modulo bias worth speaking of
    /// (n is at most 65535 × 65536, far below 2^64).
    fn pick(&mut self, n: u64) -> u64 {
        1 + self.next_u64() % n
    }
}

/// RFC 2782 order: priorities ascending; within a priority, repeatedly pick
/// a record with probability proportional to its weight among those not yet
/// picked. Records of weight 0 come after the weighted ones of their
/// priority, in the order given (RFC 2782 gives them "a very small chance"
/// of going first; here it is none, which keeps the split exact). Refusals
/// (target `.`) are dropped.
pub fn order(records: &[Srv], seed: u64) -> Vec<Srv> {
    let mut rng = SplitMix::new(seed);
    order_with(records, &mut rng)
}

pub(crate) fn order_with(records: &[Srv], rng: &mut SplitMix) -> Vec<Srv> {
    let mut sorted: Vec<&Srv> = records.iter().filter(|r| !r.is_refusal()).collect();
    // Stable: equal priorities keep the order given.
    sorted.sort_by_key(|r| r.priority);
    let mut out = Vec::with_capacity(sorted.len());
    let mut rest = sorted.as_slice();
    while let Some(first) = rest.first() {
        let n = rest
            .iter()
            .take_while(|r| r.priority == first.priority)
            .count();
        let (group, tail) = rest.split_at(n);
        rest = tail;
        let mut weighted: Vec<&Srv> = group.iter().copied().filter(|r| r.weight > 0).collect();
        while !weighted.is_empty() {
            let total: u64 = weighted.iter().map(|r| u64::from(r.weight)).sum();
            let roll = rng.pick(total);
            let mut running = 0;
            let at = weighted
                .iter()
                .position(|r| {
                    running += u64::from(r.weight);
                    running >= roll
                })
                .unwrap_or(weighted.len() - 1);
            out.push(weighted.remove(at).clone());
        }
        out.extend(group.iter().filter(|r| r.weight == 0).map(|r| (*r).clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srv(priority: u16, weight: u16, port: u16, target: &str) -> Srv {
        Srv {
            priority,
            weight,
            port,
            target: target.into(),
        }
    }

    #[test]
    fn rfc2782_lowest_priority_first() {
        let rs = [
            srv(20, 1, 2, "b."),
            srv(10, 1, 1, "a."),
            srv(30, 1, 3, "c."),
        ];
        for seed in 0..50 {
            let o = order(&rs, seed);
            let ports: Vec<u16> = o.iter().map(|r| r.port).collect();
            assert_eq!(ports, [1, 2, 3]);
        }
    }

    #[test]
    fn rfc2782_weights_split_proportionally_within_a_priority() {
        let rs = [srv(10, 3, 1, "a."), srv(10, 1, 2, "b.")];
        let n = 4000;
        let firsts = (0..n).filter(|&s| order(&rs, s)[0].port == 1).count();
        // 3:1, so 3000 expected.
        assert!((2800..3200).contains(&firsts), "{firsts} of {n}");
        for seed in 0..100 {
            assert_eq!(order(&rs, seed).len(), 2);
        }
    }

    #[test]
    fn rfc2782_weight_zero_goes_after_weighted_records() {
        let rs = [
            srv(10, 0, 1, "z."),
            srv(10, 5, 2, "a."),
            srv(10, 0, 3, "y."),
        ];
        for seed in 0..50 {
            let ports: Vec<u16> = order(&rs, seed).iter().map(|r| r.port).collect();
            assert_eq!(ports, [2, 1, 3]);
        }
    }

    #[test]
    fn rfc2782_target_dot_means_service_not_available() {
        let rs = [srv(10, 1, 5060, ".")];
        assert!(order(&rs, 7).is_empty());
    }

    #[test]
    fn rfc2782_same_seed_same_order() {
        let rs: Vec<Srv> = (0..8).map(|i| srv(1, 10 + i, i, "h.")).collect();
        assert_eq!(order(&rs, 42), order(&rs, 42));
        let distinct: std::collections::HashSet<Vec<u16>> = (0..200)
            .map(|s| order(&rs, s).iter().map(|r| r.port).collect())
            .collect();
        assert!(distinct.len() > 50, "{}", distinct.len());
    }
}
