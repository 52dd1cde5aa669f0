//! The grid quorum's two-hop property (DESIGN.md, "Grid"), over every
//! grid size a cluster may have: n = 1..=2000.
//!
//! Exact exception with one member removed: when the last row is partial,
//! a member s of the last row and a member t whose column has no slot in
//! the last row share exactly one neighbour, (row of t, column of s).
//! Removing it leaves them without a common live neighbour until the grid
//! re-forms without the dead member. Directed search does not depend on
//! it: it asks any live node of t's column, which caches t.

use presencecloud::cloud::grid::{Grid, Member, ps_list, side};
use proptest::prelude::*;

/// The PS lists of a grid of n, as bitsets for O(1) membership.
fn lists(n: usize) -> (Vec<Vec<usize>>, Vec<Vec<u64>>) {
    let words = n.div_ceil(64);
    let lists: Vec<Vec<usize>> = (0..n).map(|s| ps_list(n, s)).collect();
    let sets = lists
        .iter()
        .map(|l| {
            let mut bits = vec![0u64; words];
            for &p in l {
                bits[p / 64] |= 1 << (p % 64);
            }
            bits
        })
        .collect();
    (lists, sets)
}

fn has(set: &[u64], p: usize) -> bool {
    set[p / 64] & (1 << (p % 64)) != 0
}

/// Checks every pair of a grid of n; returns how many pairs have exactly
/// one common neighbour (and asserts that they are the stated exception).
fn check(n: usize) -> usize {
    let k = side(n);
    let last_row = (n - 1) / k;
    let last_len = n - last_row * k;
    let (lists, sets) = lists(n);
    let mut single = 0;
    for s in 0..n {
        assert!(!has(&sets[s], s), "n={n}: slot {s} lists itself");
        assert!(
            lists[s].len() <= 2 * (k - 1),
            "n={n}: slot {s} PS list too long"
        );
        for t in 0..n {
            if s == t {
                continue;
            }
            let direct = has(&sets[s], t);
            assert_eq!(direct, has(&sets[t], s), "n={n}: PS lists not symmetric");
            assert_eq!(direct, s / k == t / k || s % k == t % k, "n={n}: {s},{t}");
            if direct {
                continue;
            }
            let common: Vec<usize> = lists[s]
                .iter()
                .copied()
                .filter(|&p| has(&sets[t], p))
                .collect();
            assert!(
                !common.is_empty(),
                "n={n}: {s} and {t} have no two-hop path"
            );
            if common.len() == 1 {
                single += 1;
                let (inner, outer) = if s / k == last_row { (t, s) } else { (s, t) };
                assert!(
                    last_len < k && outer / k == last_row && inner % k >= last_len,
                    "n={n}: {s},{t} share one neighbour outside the stated exception"
                );
                assert_eq!(common[0], (inner / k) * k + outer % k, "n={n}: {s},{t}");
            }
        }
    }
    single
}

#[test]
fn two_hop_property_for_every_small_grid() {
    for n in 1..=200 {
        check(n);
    }
}

#[test]
fn a_full_grid_survives_any_one_removal() {
    for k in 1..=20 {
        assert_eq!(check(k * k), 0, "k={k}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn two_hop_property_up_to_2000(n in 1usize..=2000) {
        check(n);
    }

    /// Whoever is dead, a search from any live node reaches every other
    /// column through a live node of it, as long as that column has one.
    #[test]
    fn search_reaches_every_live_column(n in 1usize..=400, dead in proptest::collection::vec(0usize..400, 0..4)) {
        let g = Grid::new((0..n).map(|i| Member { name: format!("n{i:04}"), alive: !dead.contains(&i) }));
        let k = g.k();
        for s in (0..n).filter(|&s| g.alive(s)) {
            let plan = g.search_plan(s);
            prop_assert!(plan.len() < k.max(1));
            for c in (0..k).filter(|&c| c != g.col(s)) {
                let live = (0..n).any(|t| g.col(t) == c && g.alive(t));
                let asked = plan.iter().any(|&p| g.col(p) == c && g.alive(p));
                prop_assert_eq!(live, asked, "n={} s={} column {}", n, s, c);
            }
        }
    }
}
