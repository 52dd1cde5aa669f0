//! ABNF grammars as test oracles: the grammar is the spec.
//!
//! `grammars/*.abnf` holds the RFC ABNF of the SIP subset presencecloud parses.
//! Tests load it with [`Grammar::load_dir`], draw random derivations of a rule
//! with [`Grammar::generate`], and hold the parser to accepting every one of
//! them and to reading back the values the derivation [`Tree`] says were
//! written. Nothing here knows SIP: a wrong sample is a grammar bug.
//!
//! Supported: RFC 5234 (`=` and `=/`, alternation, concatenation, `n*m`
//! repetition, `[ ]`, `( )`, case-insensitive `"..."`, `%x` / `%d` / `%b`
//! values, ranges and dotted strings, `;` comments, continuation lines) and
//! RFC 7405's `%s"..."` / `%i"..."`. Prose values (`<...>`) are refused, as
//! nothing can be generated from them. Std only, so that the file also builds
//! on its own with `rustc --test`.

// Each integration test includes this module and uses a different part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

/// Past this many nested rule references a derivation only takes the
/// cheapest way out: that bounds recursion and keeps samples short.
const DEPTH_BUDGET: usize = 12;
/// Repetition counts are drawn from `min..=min + EXTRA_REPEATS`, capped at max.
const EXTRA_REPEATS: u32 = 3;
/// The cost of what has no finite derivation (or refers to an undefined rule).
const INFINITE: u32 = u32::MAX;

/// splitmix64: small and deterministic, so a failing seed replays exactly.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let z = (self.0 ^ (self.0 >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0); multiply-shift avoids modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// One derivation, with a node per rule reference that was expanded. Groups,
/// options and literals get no node, so a node's children are the rule nodes
/// directly beneath it, and their texts are consecutive slices of its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    /// Lowercase rule name ("" would mark an anonymous node; none are made).
    pub rule: String,
    pub text: Vec<u8>,
    pub children: Vec<Tree>,
}

impl Tree {
    /// The first node below this one, depth-first, that expands `rule`.
    pub fn find(&self, rule: &str) -> Option<&Tree> {
        self.find_all(rule).into_iter().next()
    }

    /// Every node below this one that expands `rule`, in text order. A match
    /// is not searched further, so a rule nested in itself is listed once.
    pub fn find_all(&self, rule: &str) -> Vec<&Tree> {
        fn walk<'t>(tree: &'t Tree, rule: &str, found: &mut Vec<&'t Tree>) {
            for child in &tree.children {
                if child.rule == rule {
                    found.push(child);
                } else {
                    walk(child, rule, found);
                }
            }
        }
        let mut found = Vec::new();
        walk(self, &rule.to_ascii_lowercase(), &mut found);
        found
    }

    pub fn text_str(&self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }
}

#[derive(Debug, Clone)]
enum Node {
    Alt(Vec<Node>),
    Seq(Vec<Node>),
    /// min, max (None: unbounded), item; `[x]` is `Repeat(0, Some(1), x)`.
    Repeat(u32, Option<u32>, Box<Node>),
    Rule(String),
    Literal {
        bytes: Vec<u8>,
        case_sensitive: bool,
    },
    Range(u8, u8),
}

#[derive(Debug)]
struct RuleDef {
    alternatives: Vec<Node>,
    /// False while the rule has only `=/` lines; `check` reports that.
    base_defined: bool,
    /// "file:line" of the definition, for messages.
    origin: String,
}

/// A set of ABNF rules, names folded to lowercase (RFC 5234 §2.1).
#[derive(Debug)]
pub struct Grammar {
    rules: HashMap<String, RuleDef>,
    /// Minimal derivation depth of each rule: 1 + that of its cheapest
    /// alternative, where an element costs the most of the rules it must use.
    cost: HashMap<String, u32>,
}

impl Grammar {
    pub fn parse(text: &str) -> Result<Grammar, String> {
        Grammar::from_sources(&[("<text>".to_string(), text.to_string())])
    }

    /// All `*.abnf` files of `dir` in name order as one grammar, so that
    /// rules of one file may refer to rules of another.
    pub fn load_dir(dir: &Path) -> Result<Grammar, String> {
        let io = |e: std::io::Error| format!("{}: {e}", dir.display());
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().is_some_and(|x| x == "abnf") {
                files.push(path);
            }
        }
        if files.is_empty() {
            return Err(format!("{}: no .abnf files", dir.display()));
        }
        files.sort();
        let mut sources = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(io)?;
            sources.push((file.display().to_string(), text));
        }
        Grammar::from_sources(&sources)
    }

    fn from_sources(sources: &[(String, String)]) -> Result<Grammar, String> {
        let mut grammar = Grammar {
            rules: HashMap::new(),
            cost: HashMap::new(),
        };
        for (name, text) in sources {
            for (line, rule) in logical_rules(text).map_err(|e| format!("{name}:{e}"))? {
                grammar.add_rule(&rule, &format!("{name}:{line}"))?;
            }
        }
        grammar.compute_costs();
        Ok(grammar)
    }

    /// Every referenced rule is defined, every `=/` has its `=`, and every
    /// rule can end a derivation. Lists all problems, not just the first.
    pub fn check(&self) -> Result<(), String> {
        let mut names: Vec<&String> = self.rules.keys().collect();
        names.sort();
        let mut problems = Vec::new();
        for name in names {
            let def = &self.rules[name];
            if !def.base_defined {
                problems.push(format!("{}: `{name} =/` without `{name} =`", def.origin));
            }
            let mut refs = Vec::new();
            def.alternatives
                .iter()
                .for_each(|a| references(a, &mut refs));
            refs.retain(|r| !self.rules.contains_key(*r));
            refs.sort_unstable();
            refs.dedup();
            for r in &refs {
                problems.push(format!("{}: `{name}` uses undefined `{r}`", def.origin));
            }
            if refs.is_empty() && self.cost[name] == INFINITE {
                problems.push(format!("{}: `{name}` has no finite derivation", def.origin));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    /// A random derivation of `rule`. An undefined `rule` is a typo in the
    /// test and panics; an undefined rule deeper down derives nothing (`check`
    /// reports it).
    pub fn generate(&self, rule: &str, rng: &mut Rng) -> Tree {
        let name = rule.to_ascii_lowercase();
        assert!(
            self.rules.contains_key(&name),
            "rule `{rule}` is not in the grammar"
        );
        self.expand(&name, 0, rng)
    }

    fn add_rule(&mut self, text: &str, origin: &str) -> Result<(), String> {
        let mut cur = Cursor {
            s: text.as_bytes(),
            pos: 0,
        };
        let name = cur
            .rulename()
            .ok_or_else(|| format!("{origin}: expected a rule name"))?;
        cur.skip_ws();
        let incremental = cur.eat(b"=/");
        if !incremental && !cur.eat(b"=") {
            return Err(format!("{origin}: expected `=` or `=/` after `{name}`"));
        }
        let body = cur.alternation().map_err(|e| format!("{origin}: {e}"))?;
        if cur.pos < cur.s.len() {
            let rest = String::from_utf8_lossy(&cur.s[cur.pos..]);
            return Err(format!("{origin}: unexpected `{rest}`"));
        }
        let mut alternatives = match body {
            Node::Alt(v) => v,
            other => vec![other],
        };
        let origin = origin.to_string();
        match self.rules.get_mut(&name) {
            None => {
                let base_defined = !incremental;
                self.rules.insert(
                    name,
                    RuleDef {
                        alternatives,
                        base_defined,
                        origin,
                    },
                );
            }
            Some(def) if incremental => def.alternatives.append(&mut alternatives),
            Some(def) if def.base_defined => {
                return Err(format!(
                    "{origin}: `{name}` is already defined at {}",
                    def.origin
                ));
            }
            Some(def) => {
                // The `=` came after some `=/` lines; its alternatives go first.
                alternatives.append(&mut def.alternatives);
                *def = RuleDef {
                    alternatives,
                    base_defined: true,
                    origin,
                };
            }
        }
        Ok(())
    }

    /// Costs start infinite and only ever fall, so the loop reaches a
    /// fixpoint; rules left infinite cannot end a derivation.
    fn compute_costs(&mut self) {
        self.cost = self.rules.keys().map(|k| (k.clone(), INFINITE)).collect();
        loop {
            let mut lowered = Vec::new();
            for (name, def) in &self.rules {
                let best = def.alternatives.iter().map(|a| self.node_cost(a)).min();
                let cost = best.unwrap_or(0).saturating_add(1);
                if cost < self.cost[name] {
                    lowered.push((name.clone(), cost));
                }
            }
            if lowered.is_empty() {
                return;
            }
            self.cost.extend(lowered);
        }
    }

    fn node_cost(&self, node: &Node) -> u32 {
        let costs = |v: &[Node]| v.iter().map(|n| self.node_cost(n)).collect::<Vec<_>>();
        match node {
            Node::Alt(v) => costs(v).into_iter().min().unwrap_or(0),
            Node::Seq(v) => costs(v).into_iter().max().unwrap_or(0),
            Node::Repeat(0, ..) | Node::Literal { .. } | Node::Range(..) => 0,
            Node::Repeat(_, _, item) => self.node_cost(item),
            Node::Rule(name) => self.cost.get(name).copied().unwrap_or(INFINITE),
        }
    }

    fn expand(&self, name: &str, depth: usize, rng: &mut Rng) -> Tree {
        let mut tree = Tree {
            rule: name.to_string(),
            text: Vec::new(),
            children: Vec::new(),
        };
        // Past the budget we descend towards a finite cost; with none to
        // descend to, deriving nothing is the only way to stop.
        let stuck = depth >= DEPTH_BUDGET && self.cost.get(name) == Some(&INFINITE);
        if let Some(def) = self.rules.get(name).filter(|_| !stuck) {
            let chosen = self.choose(&def.alternatives, depth, rng);
            self.emit(chosen, depth, rng, &mut tree);
        }
        tree
    }

    /// Before the budget any alternative that can end will do; past it only
    /// the cheapest, so every nested rule costs less than its parent and the
    /// derivation must end.
    fn choose<'n>(&self, alternatives: &'n [Node], depth: usize, rng: &mut Rng) -> &'n Node {
        let costs: Vec<u32> = alternatives.iter().map(|a| self.node_cost(a)).collect();
        let cheapest = costs.iter().copied().min().unwrap_or(0);
        let eligible: Vec<&Node> = (alternatives.iter().zip(&costs))
            .filter(|&(_, &c)| {
                if depth >= DEPTH_BUDGET {
                    c == cheapest
                } else {
                    c < INFINITE || cheapest == INFINITE
                }
            })
            .map(|(a, _)| a)
            .collect();
        eligible[rng.below(eligible.len() as u64) as usize]
    }

    fn emit(&self, node: &Node, depth: usize, rng: &mut Rng, tree: &mut Tree) {
        match node {
            Node::Alt(v) => self.emit(self.choose(v, depth, rng), depth, rng, tree),
            Node::Seq(v) => v.iter().for_each(|n| self.emit(n, depth, rng, tree)),
            Node::Repeat(min, max, item) => {
                let top = max
                    .unwrap_or(u32::MAX)
                    .min(min.saturating_add(EXTRA_REPEATS));
                let count = if depth >= DEPTH_BUDGET {
                    *min
                } else {
                    min + rng.below(u64::from(top - min) + 1) as u32
                };
                (0..count).for_each(|_| self.emit(item, depth, rng, tree));
            }
            Node::Rule(name) => {
                let child = self.expand(name, depth + 1, rng);
                tree.text.extend_from_slice(&child.text);
                tree.children.push(child);
            }
            Node::Literal {
                bytes,
                case_sensitive,
            } => {
                for &b in bytes {
                    // RFC 5234 §2.3: "abc" matches any case mix, so the
                    // parser must take any; draw one per letter.
                    let flip = !case_sensitive && b.is_ascii_alphabetic() && rng.below(2) == 1;
                    tree.text.push(if flip { b ^ 0x20 } else { b });
                }
            }
            Node::Range(lo, hi) => tree.text.push(lo + rng.below(u64::from(hi - lo) + 1) as u8),
        }
    }
}

fn references<'n>(node: &'n Node, out: &mut Vec<&'n str>) {
    match node {
        Node::Alt(v) | Node::Seq(v) => v.iter().for_each(|n| references(n, out)),
        Node::Repeat(_, _, item) => references(item, out),
        Node::Rule(name) => out.push(name),
        Node::Literal { .. } | Node::Range(..) => {}
    }
}

/// Joins each rule with its continuation lines (those starting with
/// whitespace) and drops comments; yields (first line number, rule text).
/// Blank and comment-only lines neither start nor end a rule.
fn logical_rules(text: &str) -> Result<Vec<(usize, String)>, String> {
    let mut rules: Vec<(usize, String)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let code = strip_comment(line);
        if code.trim().is_empty() {
            continue;
        }
        match rules.last_mut() {
            Some((_, rule)) if line.starts_with([' ', '\t']) => {
                rule.push(' ');
                rule.push_str(code);
            }
            None if line.starts_with([' ', '\t']) => {
                return Err(format!("{}: continuation line before any rule", index + 1));
            }
            _ => rules.push((index + 1, code.to_string())),
        }
    }
    Ok(rules)
}

/// The line up to its comment; a `;` inside a quoted string or prose value
/// (`SEMI = SWS ";" SWS`) does not start one.
fn strip_comment(line: &str) -> &str {
    let mut closer = None;
    for (i, b) in line.bytes().enumerate() {
        match (closer, b) {
            (Some(c), _) if b == c => closer = None,
            (None, b'"') => closer = Some(b'"'),
            (None, b'<') => closer = Some(b'>'),
            (None, b';') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Recursive descent over one logical rule.
struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    fn skip_ws(&mut self) {
        self.take_while(|c| c == b' ' || c == b'\t');
    }

    fn eat(&mut self, literal: &[u8]) -> bool {
        let found = self.s[self.pos..].starts_with(literal);
        self.pos += if found { literal.len() } else { 0 };
        found
    }

    fn error<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at column {}", self.pos + 1))
    }

    fn rulename(&mut self) -> Option<String> {
        self.peek().filter(u8::is_ascii_alphabetic)?;
        let name = self.take_while(|c| c.is_ascii_alphanumeric() || c == b'-');
        Some(String::from_utf8_lossy(name).to_ascii_lowercase())
    }

    fn number(&mut self, radix: u32) -> Option<u32> {
        let digits = self.take_while(|c| (c as char).is_digit(radix));
        let value = digits.iter().fold(0u32, |v, &c| {
            let digit = (c as char).to_digit(radix).unwrap_or(0);
            v.saturating_mul(radix).saturating_add(digit)
        });
        (!digits.is_empty()).then_some(value)
    }

    fn alternation(&mut self) -> Result<Node, String> {
        let mut alternatives = vec![self.concatenation()?];
        while self.eat(b"/") {
            alternatives.push(self.concatenation()?);
        }
        Ok(match alternatives.len() {
            1 => alternatives.remove(0),
            _ => Node::Alt(alternatives),
        })
    }

    /// Also eats the whitespace after it, so the caller sees `/`, `)`, `]`
    /// or the end.
    fn concatenation(&mut self) -> Result<Node, String> {
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None | Some(b'/' | b')' | b']') => break,
                Some(_) => items.push(self.repetition()?),
            }
        }
        match items.len() {
            0 => self.error("empty alternative"),
            1 => Ok(items.remove(0)),
            _ => Ok(Node::Seq(items)),
        }
    }

    fn repetition(&mut self) -> Result<Node, String> {
        let first = self.number(10);
        let (min, max) = match (first, self.eat(b"*")) {
            (_, true) => (first.unwrap_or(0), self.number(10)),
            (Some(n), false) => (n, Some(n)),
            (None, false) => return self.element(),
        };
        if max.is_some_and(|m| m < min) {
            return self.error("repetition maximum below its minimum");
        }
        Ok(Node::Repeat(min, max, Box::new(self.element()?)))
    }

    fn element(&mut self) -> Result<Node, String> {
        let c = self.peek().map(|c| c.to_ascii_lowercase());
        if c.is_some_and(|c| c.is_ascii_alphabetic()) {
            return Ok(Node::Rule(self.rulename().unwrap_or_default()));
        }
        self.pos += 1;
        match c {
            Some(b'(') => self.group(b')'),
            Some(b'[') => Ok(Node::Repeat(0, Some(1), Box::new(self.group(b']')?))),
            Some(b'"') => self.char_val(false),
            Some(b'%') => {
                let kind = self.peek().map(|c| c.to_ascii_lowercase());
                self.pos += 1;
                match kind {
                    Some(b's') if self.eat(b"\"") => self.char_val(true),
                    Some(b'i') if self.eat(b"\"") => self.char_val(false),
                    Some(b'x') => self.num_val(16),
                    Some(b'd') => self.num_val(10),
                    Some(b'b') => self.num_val(2),
                    _ => self.error("unknown `%` form"),
                }
            }
            Some(b'<') => self.error("prose value (cannot be generated)"),
            _ => self.error("unexpected character or end of rule"),
        }
    }

    fn group(&mut self, closer: u8) -> Result<Node, String> {
        let inner = self.alternation()?;
        if !self.eat(&[closer]) {
            return self.error(&format!("expected `{}`", closer as char));
        }
        Ok(inner)
    }

    /// After the opening quote. RFC 5234 char-val: %x20-21 / %x23-7E.
    fn char_val(&mut self, case_sensitive: bool) -> Result<Node, String> {
        let bytes = self
            .take_while(|c| c != b'"' && (0x20..=0x7E).contains(&c))
            .to_vec();
        if !self.eat(b"\"") {
            return self.error("unterminated or non-ASCII string");
        }
        Ok(Node::Literal {
            bytes,
            case_sensitive,
        })
    }

    fn num_val(&mut self, radix: u32) -> Result<Node, String> {
        let first = self.octet(radix)?;
        if self.eat(b"-") {
            let last = self.octet(radix)?;
            if last < first {
                return self.error("empty range");
            }
            return Ok(Node::Range(first, last));
        }
        let mut bytes = vec![first];
        while self.eat(b".") {
            bytes.push(self.octet(radix)?);
        }
        Ok(Node::Literal {
            bytes,
            case_sensitive: true,
        })
    }

    /// SIP is made of bytes; a value above 0xFF would need an encoding.
    fn octet(&mut self, radix: u32) -> Result<u8, String> {
        match self.number(radix).map(u8::try_from) {
            Some(Ok(value)) => Ok(value),
            Some(Err(_)) => self.error("value above 0xFF"),
            None => self.error("expected digits"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn samples(grammar: &str, rule: &str, n: u64) -> Vec<Vec<u8>> {
        let g = Grammar::parse(grammar).expect("test grammar parses");
        g.check().expect("test grammar is complete");
        (0..n)
            .map(|seed| g.generate(rule, &mut Rng::new(seed)).text)
            .collect()
    }

    #[test]
    fn literal_then_exact_repetition() {
        for s in samples("a = \"x\" 2DIGIT\nDIGIT = %x30-39", "a", 100) {
            assert_eq!(s.len(), 3);
            assert!(s[0].eq_ignore_ascii_case(&b'x'), "{s:?}");
            assert!(s[1..].iter().all(u8::is_ascii_digit), "{s:?}");
        }
    }

    #[test]
    fn quoted_strings_vary_case_and_case_sensitive_ones_do_not() {
        let mixed = samples("a = \"subscribe\"", "a", 64);
        assert!(mixed.iter().all(|s| s.eq_ignore_ascii_case(b"subscribe")));
        assert!(
            mixed.iter().collect::<HashSet<_>>().len() > 10,
            "case mixes vary"
        );
        assert!(
            samples("a = %s\"Sip\"", "a", 32)
                .iter()
                .all(|s| s == b"Sip")
        );
    }

    #[test]
    fn numeric_values_ranges_and_bases() {
        let in_range = |s: &Vec<u8>| s.len() == 1 && (b'A'..=b'C').contains(&s[0]);
        assert!(samples("a = %x41-43", "a", 200).iter().all(in_range));
        assert_eq!(samples("a = %x0D.0A", "a", 1)[0], b"\r\n");
        assert_eq!(samples("a = %d65 %b1000010 %x43", "a", 1)[0], b"ABC");
        assert!(Grammar::parse("a = %x100").is_err());
    }

    #[test]
    fn repetitions_respect_both_bounds() {
        let lengths: HashSet<usize> = samples("a = 2*5\"y\"", "a", 300)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(lengths, HashSet::from([2, 3, 4, 5]));
        assert!(
            samples("a = *1\"y\" [\"z\"]", "a", 100)
                .iter()
                .all(|s| s.len() <= 2)
        );
        assert!(samples("a = *\"y\"", "a", 100).iter().all(|s| s.len() <= 3));
    }

    #[test]
    fn recursion_terminates() {
        for s in samples("a = \"(\" a \")\" / \"x\"", "a", 200) {
            assert!(s.len() <= 2 * DEPTH_BUDGET + 1);
            let count = |c| s.iter().filter(|&&b| b == c).count();
            assert_eq!(count(b'('), count(b')'));
        }
        // Before the budget this branching grows on average; it must still end.
        let leaves = samples("a = a a a / %s\"x\"", "a", 50);
        assert!(leaves.iter().all(|s| s.iter().all(|&c| c == b'x')));
    }

    #[test]
    fn comments_continuations_and_incremental_alternatives() {
        let text = "; comment\nsemi = \";\" ; a quoted ; is no comment\n\n\
                    list = \"<\" semi\n  ; comment inside\n   *( \",\" semi ) \">\"\n\
                    m =/ \"b\" / \"c\"\nM = \"a\"\n";
        let g = Grammar::parse(text).expect("parses");
        g.check().expect("complete");
        let list = g.generate("LIST", &mut Rng::new(7)).text;
        assert!(list.starts_with(b"<;") && list.ends_with(b">"), "{list:?}");
        let drawn: HashSet<Vec<u8>> = (0..100)
            .map(|s| g.generate("m", &mut Rng::new(s)).text.to_ascii_lowercase())
            .collect();
        assert_eq!(
            drawn,
            HashSet::from([b"a".to_vec(), b"b".to_vec(), b"c".to_vec()])
        );
    }

    #[test]
    fn problems_are_reported() {
        let twice = Grammar::parse("a = \"x\"\na = \"y\"").unwrap_err();
        assert!(
            twice.contains("<text>:2: `a` is already defined at <text>:1"),
            "{twice}"
        );
        assert!(Grammar::parse("a = \"x").is_err());
        assert!(Grammar::parse("a = <prose>").is_err());
        assert!(Grammar::parse("  a = \"x\"").is_err());
        assert!(Grammar::parse("a = 3*2\"x\"").is_err());
        let g = Grammar::parse("a = b\nc =/ \"x\"\nd = \"(\" d \")\"").expect("parses");
        let err = g.check().unwrap_err();
        for needle in ["undefined `b`", "`c =/`", "`d` has no finite"] {
            assert!(err.contains(needle), "{err}");
        }
        // A rule with no way out must still not hang generation.
        assert!(g.generate("d", &mut Rng::new(1)).text.len() <= 2 * DEPTH_BUDGET);
    }

    #[test]
    fn tree_has_a_node_per_rule_reference() {
        let g = Grammar::parse("a = b \"-\" b\nb = \"<\" c \">\"\nc = %x61-62").expect("parses");
        let t = g.generate("A", &mut Rng::new(3));
        assert_eq!(
            (t.rule.as_str(), t.children.len(), t.text.len()),
            ("a", 2, 7)
        );
        assert_eq!(t.find("B").map(|b| b.text.len()), Some(3));
        assert_eq!((t.find_all("b").len(), t.find_all("c").len()), (2, 2));
        assert!(
            t.find("a").is_none(),
            "find does not return the node itself"
        );
        assert_eq!(
            t.find("c").map(Tree::text_str),
            Some(t.text_str()[1..2].to_string())
        );
    }

    fn project_grammar() -> Grammar {
        let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
        let g = Grammar::load_dir(&Path::new(&root).join("grammars")).expect("grammars/ loads");
        g.check().expect("grammars/ is complete");
        g
    }

    /// Every rule a test of the parser draws from, as the RFCs spell them.
    const SIP_RULES: &str = "Via From To Call-ID CSeq Max-Forwards Contact Route Record-Route
        Expires Min-Expires Event Allow-Events Subscription-State SIP-ETag SIP-If-Match
        Content-Type Content-Length Require Proxy-Require Supported Unsupported Accept Allow
        Authorization WWW-Authenticate Proxy-Authorization Proxy-Authenticate SIP-URI SIPS-URI
        Request-Line Status-Line";

    #[test]
    fn project_grammar_generates_every_rule() {
        let g = project_grammar();
        for (i, rule) in SIP_RULES.split_whitespace().enumerate() {
            for seed in 0..200 {
                let t = g.generate(rule, &mut Rng::new(seed * 1000 + i as u64));
                assert!((1..4096).contains(&t.text.len()), "{rule} seed {seed}");
                // A header starts with its name, in full or compact form.
                if t.find("HCOLON").is_some() {
                    let text = t.text_str();
                    let name = text.split(':').next().unwrap_or_default().trim_end();
                    assert!(
                        name.eq_ignore_ascii_case(rule) || name.len() == 1,
                        "{text:?}"
                    );
                }
            }
        }
    }

    /// The tightened rules derive only what they promise (std's parsers agree).
    #[test]
    fn project_grammar_addresses_numbers_and_utf8_are_well_formed() {
        let g = project_grammar();
        type Check = (&'static str, fn(&str) -> bool);
        let checks: [Check; 8] = [
            ("IPv4address", |s| s.parse::<std::net::Ipv4Addr>().is_ok()),
            ("IPv6address", |s| s.parse::<std::net::Ipv6Addr>().is_ok()),
            ("ttl", |s| s.parse::<u8>().is_ok()),
            ("port", |s| s.parse::<u16>().is_ok()),
            ("delta-seconds", |s| s.parse::<u32>().is_ok()),
            ("Status-Code", |s| {
                s.parse().is_ok_and(|c: u16| (100..700).contains(&c))
            }),
            ("UTF8-NONASCII", |s| !s.contains('\u{FFFD}')),
            ("addr-spec-plain", |s| !s.contains([',', ';', '?'])),
        ];
        for seed in 0..500 {
            for (rule, ok) in checks {
                let text = g.generate(rule, &mut Rng::new(seed)).text_str();
                assert!(ok(&text), "{rule} seed {seed}: {text:?}");
            }
        }
    }

    /// Look at them with `--nocapture`.
    #[test]
    fn show_samples() {
        let g = project_grammar();
        for rule in SIP_RULES.split_whitespace() {
            for seed in 0..3 {
                println!(
                    "{rule:>20} | {:?}",
                    g.generate(rule, &mut Rng::new(seed)).text_str()
                );
            }
        }
    }
}
