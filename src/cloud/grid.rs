//! The grid quorum (DESIGN.md, "Grid"): n members hold slots 0..n−1 in the
//! order of their names; k = ⌈√n⌉; slot s sits at row s / k, column s % k.
//! A node's PS list is every other member of its row or its column. Pure
//! arithmetic: membership decides who is a member and who is alive.
//!
//! Two-hop property: any two members either share a row or a column, or
//! have a member in both PS lists. Both (r_s, c_t) and (r_t, c_s) are
//! common neighbours when they exist; in a partial last row one of them may
//! not, which `tests/grid.rs` states exactly.
//!
//! Directed search ([`Grid::search_plan`]) differs from a literal reading of
//! the design in one place: a column whose row slot is empty (partial last
//! row) or dead is asked through any live node of that column, not through
//! the searcher's column peers. Every node caches its column, so one
//! message covers it either way; asking the column peers would cost up to
//! k−1 messages instead of one.

/// A member's place in the grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub alive: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grid {
    /// By slot.
    members: Vec<Member>,
    k: usize,
}

/// k = ⌈√n⌉ (0 for an empty grid).
pub fn side(n: usize) -> usize {
    let mut k = (n as f64).sqrt() as usize;
    while k * k < n {
        k += 1;
    }
    while k > 0 && (k - 1) * (k - 1) >= n {
        k -= 1;
    }
    k
}

/// The PS list of `slot` in a grid of `n` slots: its row, then its column,
/// without itself.
pub fn ps_list(n: usize, slot: usize) -> Vec<usize> {
    let k = side(n);
    if slot >= n {
        return Vec::new();
    }
    let (row, col) = (slot / k, slot % k);
    let mut out: Vec<usize> = (row * k..((row + 1) * k).min(n))
        .filter(|&s| s != slot)
        .collect();
    out.extend((col..n).step_by(k).filter(|&s| s != slot));
    out
}

impl Grid {
    /// Slots follow the order of the names, so every node that knows the
    /// same members computes the same grid.
    pub fn new(members: impl IntoIterator<Item = Member>) -> Grid {
        let mut members: Vec<Member> = members.into_iter().collect();
        members.sort_by(|a, b| a.name.cmp(&b.name));
        members.dedup_by(|a, b| a.name == b.name);
        let k = side(members.len());
        Grid { members, k }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    pub fn slot_of(&self, name: &str) -> Option<usize> {
        self.members
            .binary_search_by(|m| m.name.as_str().cmp(name))
            .ok()
    }

    pub fn name(&self, slot: usize) -> &str {
        &self.members[slot].name
    }

    pub fn alive(&self, slot: usize) -> bool {
        self.members.get(slot).is_some_and(|m| m.alive)
    }

    pub fn row(&self, slot: usize) -> usize {
        slot / self.k.max(1)
    }

    pub fn col(&self, slot: usize) -> usize {
        slot % self.k.max(1)
    }

    /// Every other member of `slot`'s row and column, dead or alive.
    pub fn ps_list(&self, slot: usize) -> Vec<usize> {
        ps_list(self.len(), slot)
    }

    /// The names of `name`'s PS list.
    pub fn ps_names(&self, name: &str) -> Vec<&str> {
        match self.slot_of(name) {
            Some(s) => self.ps_list(s).into_iter().map(|p| self.name(p)).collect(),
            None => Vec::new(),
        }
    }

    /// Whom a search from `slot` asks, one node per other column: the row
    /// peer of that column when it is alive, else a live node of the column
    /// (the nearest row below, cyclically, to spread the load). Columns
    /// with no live node are skipped: nobody could answer for them.
    pub fn search_plan(&self, slot: usize) -> Vec<usize> {
        let n = self.len();
        if slot >= n {
            return Vec::new();
        }
        let k = self.k;
        let rows = n.div_ceil(k);
        let (row, col) = (self.row(slot), self.col(slot));
        let mut out = Vec::new();
        for c in (0..k).filter(|&c| c != col) {
            let target = (0..rows)
                .map(|i| (row + i) % rows)
                .map(|r| r * k + c)
                .find(|&s| s < n && self.alive(s));
            out.extend(target);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(n: usize) -> Grid {
        Grid::new((0..n).map(|i| Member {
            name: format!("n{i:04}"),
            alive: true,
        }))
    }

    #[test]
    fn side_is_the_ceiling_of_the_square_root() {
        let cases = [
            (0, 0),
            (1, 1),
            (2, 2),
            (4, 2),
            (5, 3),
            (9, 3),
            (10, 4),
            (16, 4),
            (17, 5),
        ];
        for (n, k) in cases {
            assert_eq!(side(n), k, "n = {n}");
        }
        for n in 1..5000usize {
            let k = side(n);
            assert!(k * k >= n && (k - 1) * (k - 1) < n, "n = {n}, k = {k}");
        }
    }

    #[test]
    fn slots_follow_name_order_whatever_the_input_order() {
        let a = Grid::new(["c", "a", "b"].map(|n| Member {
            name: n.into(),
            alive: true,
        }));
        assert_eq!(a.slot_of("a"), Some(0));
        assert_eq!(a.slot_of("c"), Some(2));
        assert_eq!(a.slot_of("z"), None);
    }

    #[test]
    fn full_grid_ps_list_is_row_and_column() {
        let g = grid(9);
        // Slot 4 is the centre of the 3×3 grid.
        assert_eq!(g.ps_list(4), vec![3, 5, 1, 7]);
        assert_eq!(g.ps_list(0), vec![1, 2, 3, 6]);
        for s in 0..9 {
            assert_eq!(g.ps_list(s).len(), 2 * (3 - 1));
        }
    }

    #[test]
    fn search_asks_one_node_per_other_column() {
        let g = grid(9);
        assert_eq!(g.search_plan(4), vec![3, 5]);
        // 7 nodes: the last row holds slot 6 only; its search goes to the
        // live nodes of columns 1 and 2 nearest below it, cyclically.
        let g = grid(7);
        assert_eq!(g.search_plan(6), vec![1, 2]);
        assert_eq!(g.search_plan(4), vec![3, 5]);
    }

    #[test]
    fn a_dead_row_peer_is_replaced_by_a_live_node_of_its_column() {
        let mut members: Vec<Member> = grid(9).members().to_vec();
        members[5].alive = false;
        let g = Grid::new(members);
        assert_eq!(g.search_plan(4), vec![3, 8]);
        assert_eq!(g.search_plan(3), vec![4, 8]);
    }
}
