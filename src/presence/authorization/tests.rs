use super::*;

const BOB: &str = "bob@example.com";

fn rule(watcher: &str, action: Action) -> Rule {
    Rule::new(BOB, watcher, action)
}

fn decide_allow(rules: &[Rule], watcher: &str) -> Action {
    decide(rules, BOB, watcher, DefaultPolicy::AllowAll)
}

// --- precedence ---------------------------------------------------------------

#[test]
fn rfc3856_s6_6_exact_watcher_beats_domain_beats_everyone() {
    let rules = [
        rule("*", Action::Block),
        rule("*@example.org", Action::Confirm),
        rule("alice@example.org", Action::Allow),
    ];
    assert_eq!(decide_allow(&rules, "alice@example.org"), Action::Allow);
    assert_eq!(decide_allow(&rules, "carol@example.org"), Action::Confirm);
    assert_eq!(decide_allow(&rules, "dave@example.net"), Action::Block);
    // The order of the rules does not matter.
    let mut reversed = rules.clone();
    reversed.reverse();
    assert_eq!(decide_allow(&reversed, "alice@example.org"), Action::Allow);
    assert_eq!(
        decide_allow(&reversed, "carol@example.org"),
        Action::Confirm
    );
    // A specific rule may also be the stricter one.
    let rules = [
        rule("*", Action::Allow),
        rule("*@spam.example", Action::PoliteBlock),
        rule("eve@spam.example", Action::Block),
    ];
    assert_eq!(decide_allow(&rules, "eve@spam.example"), Action::Block);
    assert_eq!(
        decide_allow(&rules, "mallory@spam.example"),
        Action::PoliteBlock
    );
    assert_eq!(decide_allow(&rules, "alice@example.org"), Action::Allow);
}

#[test]
fn rfc3856_s6_6_domain_rules_name_exactly_that_domain() {
    let rules = [rule("*@example.org", Action::Block)];
    assert_eq!(decide_allow(&rules, "a@example.org"), Action::Block);
    assert_eq!(decide_allow(&rules, "a@sub.example.org"), Action::Allow);
    assert_eq!(decide_allow(&rules, "a@notexample.org"), Action::Allow);
}

#[test]
fn rfc3856_s6_6_rules_of_other_presentities_do_not_apply() {
    let rules = [Rule::new("ann@example.com", "*", Action::Block)];
    assert_eq!(decide_allow(&rules, "alice@example.org"), Action::Allow);
    assert_eq!(
        decide(
            &rules,
            "ann@example.com",
            "alice@example.org",
            DefaultPolicy::AllowAll
        ),
        Action::Block
    );
}

#[test]
fn rfc5025_s3_2_1_equally_specific_rules_resolve_to_the_more_permissive() {
    for (a, b, want) in [
        (Action::Block, Action::Allow, Action::Allow),
        (Action::Block, Action::Confirm, Action::Confirm),
        (Action::Confirm, Action::PoliteBlock, Action::PoliteBlock),
        (Action::PoliteBlock, Action::Allow, Action::Allow),
    ] {
        for rules in [
            [rule("alice@example.org", a), rule("alice@example.org", b)],
            [rule("alice@example.org", b), rule("alice@example.org", a)],
        ] {
            assert_eq!(decide_allow(&rules, "alice@example.org"), want, "{rules:?}");
        }
    }
}

#[test]
fn rfc3856_s6_6_a_user_may_always_watch_itself() {
    let rules = [rule("*", Action::Block)];
    assert_eq!(
        decide(
            &rules,
            BOB,
            "sip:bob@EXAMPLE.COM",
            DefaultPolicy::ConfirmAll
        ),
        Action::Allow
    );
}

// --- comparison (RFC 3261 §19.1.4) -------------------------------------------

#[test]
fn rfc3261_s19_1_4_domain_is_case_insensitive_user_is_not() {
    let rules = [
        rule("alice@Example.ORG", Action::Block),
        rule("*@SPAM.example", Action::Block),
    ];
    assert_eq!(decide_allow(&rules, "alice@example.org"), Action::Block);
    assert_eq!(decide_allow(&rules, "Alice@example.org"), Action::Allow);
    assert_eq!(decide_allow(&rules, "anyone@spam.EXAMPLE"), Action::Block);
    // The presentity of a rule is compared the same way.
    let rules = [Rule::new("bob@EXAMPLE.com", "*", Action::Block)];
    assert_eq!(decide_allow(&rules, "x@example.org"), Action::Block);
    let rules = [Rule::new("Bob@example.com", "*", Action::Block)];
    assert_eq!(decide_allow(&rules, "x@example.org"), Action::Allow);
}

#[test]
fn rfc3261_s19_1_4_escaped_user_characters_equal_themselves_unless_reserved() {
    assert!(same_aor("%61lice@example.org", "alice@example.org"));
    assert!(same_aor("al%69ce@example.org", "al%69ce@example.org"));
    // Reserved characters: the escaped and literal forms differ; escapes
    // compare with case-insensitive hex digits.
    assert!(!same_aor("a%3bb@example.org", "a;b@example.org"));
    assert!(same_aor("a%3bb@example.org", "a%3Bb@example.org"));
    assert!(same_aor("a%40b@example.org", "a%40b@EXAMPLE.org"));
    // Escapes decode to case-sensitive characters.
    assert!(!same_aor("%41lice@example.org", "alice@example.org"));
    // Broken escapes are compared as written, without panicking.
    assert!(same_aor("a%@example.org", "a%@example.org"));
    assert!(same_aor("a%4@example.org", "a%4@example.org"));
    assert!(!same_aor("a%zz@example.org", "a%ZZ@example.org"));
}

#[test]
fn rfc3261_s19_1_4_schemes_and_parameters_are_not_part_of_the_aor() {
    assert!(same_aor("sip:alice@example.org", "alice@example.org"));
    assert!(same_aor("SIPS:alice@example.org", "pres:alice@example.org"));
    assert!(same_aor(
        "sip:alice@example.org;transport=tcp",
        "alice@example.org"
    ));
    assert!(!same_aor("alice@example.org", "example.org"));
    assert!(same_aor("example.org", "EXAMPLE.org"));
    let rules = [rule("sip:*@example.org", Action::Block)];
    assert_eq!(decide_allow(&rules, "sip:a@example.org"), Action::Block);
    let rules = [Rule::new(
        "sip:bob@example.com",
        "sip:alice@example.org",
        Action::Block,
    )];
    assert_eq!(decide_allow(&rules, "alice@example.org"), Action::Block);
}

// --- default policies ---------------------------------------------------------

#[test]
fn rfc3856_s6_6_default_policies_apply_when_no_rule_matches() {
    let none: [Rule; 0] = [];
    let cases = [
        (DefaultPolicy::AllowAll, "a@example.com", Action::Allow),
        (DefaultPolicy::AllowAll, "a@example.org", Action::Allow),
        (
            DefaultPolicy::AllowSameDomain,
            "a@example.com",
            Action::Allow,
        ),
        (
            DefaultPolicy::AllowSameDomain,
            "a@EXAMPLE.COM",
            Action::Allow,
        ),
        (
            DefaultPolicy::AllowSameDomain,
            "a@example.org",
            Action::Confirm,
        ),
        (
            DefaultPolicy::AllowSameDomain,
            "a@sub.example.com",
            Action::Confirm,
        ),
        (DefaultPolicy::ConfirmAll, "a@example.com", Action::Confirm),
        (DefaultPolicy::ConfirmAll, "a@example.org", Action::Confirm),
    ];
    for (policy, watcher, want) in cases {
        assert_eq!(
            decide(&none, BOB, watcher, policy),
            want,
            "{policy} {watcher}"
        );
    }
    // Any matching rule, even `*`, overrides the default.
    let rules = [rule("*", Action::Allow)];
    assert_eq!(
        decide(&rules, BOB, "a@example.org", DefaultPolicy::ConfirmAll),
        Action::Allow
    );
    assert_eq!(DefaultPolicy::default(), DefaultPolicy::AllowAll);
}

// --- names ----------------------------------------------------------------------

#[test]
fn actions_and_policies_parse_from_their_names() {
    for a in [
        Action::Allow,
        Action::Block,
        Action::PoliteBlock,
        Action::Confirm,
    ] {
        assert_eq!(Action::parse(a.as_str()), Ok(a));
        assert_eq!(a.to_string().parse::<Action>(), Ok(a));
    }
    assert_eq!(Action::parse(" Polite-Block "), Ok(Action::PoliteBlock));
    assert_eq!(
        Action::parse("deny"),
        Err(AuthorizationError::UnknownAction("deny".into()))
    );
    assert!(Action::parse("polite_block").is_err());
    for p in [
        DefaultPolicy::AllowAll,
        DefaultPolicy::AllowSameDomain,
        DefaultPolicy::ConfirmAll,
    ] {
        assert_eq!(DefaultPolicy::parse(p.as_str()), Ok(p));
        assert_eq!(p.to_string().parse::<DefaultPolicy>(), Ok(p));
    }
    assert_eq!(DefaultPolicy::parse("allow"), Ok(DefaultPolicy::AllowAll));
    assert_eq!(
        DefaultPolicy::parse("same-domain"),
        Ok(DefaultPolicy::AllowSameDomain)
    );
    assert_eq!(
        DefaultPolicy::parse("confirm"),
        Ok(DefaultPolicy::ConfirmAll)
    );
    let e = DefaultPolicy::parse("block").unwrap_err();
    assert!(e.to_string().contains("same-domain"), "{e}");
}

#[test]
fn actions_and_policies_read_from_toml_config() {
    #[derive(Deserialize)]
    struct Cfg {
        default: DefaultPolicy,
        actions: Vec<Action>,
    }
    let c: Cfg = toml::from_str(
        "default = \"same-domain\"\nactions = [\"allow\", \"block\", \"polite-block\", \"confirm\"]",
    )
    .unwrap();
    assert_eq!(c.default, DefaultPolicy::AllowSameDomain);
    assert_eq!(
        c.actions,
        [
            Action::Allow,
            Action::Block,
            Action::PoliteBlock,
            Action::Confirm
        ]
    );
    assert!(toml::from_str::<Cfg>("default = \"allow-all\"\nactions = []").is_err());
}

// --- outcomes -------------------------------------------------------------------

#[test]
fn rfc3856_s6_6_outcome_table() {
    let o = |status, reason, state, neutral_body| Outcome {
        status,
        reason,
        state,
        neutral_body,
    };
    assert_eq!(
        subscription_outcome(Action::Allow),
        o(200, "OK", SubState::Active, false)
    );
    assert_eq!(
        subscription_outcome(Action::PoliteBlock),
        o(200, "OK", SubState::Active, true)
    );
    assert_eq!(
        subscription_outcome(Action::Confirm),
        o(200, "OK", SubState::Pending, false)
    );
    assert_eq!(
        subscription_outcome(Action::Block),
        o(403, "Forbidden", SubState::Rejected, false)
    );
}

#[test]
fn rfc6665_s4_2_1_1_confirm_answers_like_allow_so_the_answer_hides_the_policy() {
    let allow = subscription_outcome(Action::Allow);
    let confirm = subscription_outcome(Action::Confirm);
    let polite = subscription_outcome(Action::PoliteBlock);
    assert_eq!(
        (allow.status, allow.reason),
        (confirm.status, confirm.reason)
    );
    assert_eq!((allow.status, allow.reason), (polite.status, polite.reason));
}

#[test]
fn rfc6665_s4_2_1_1_outcome_states_map_to_dialog_states() {
    assert_eq!(SubState::Active.dialog_state(), Some(State::Active));
    assert_eq!(SubState::Pending.dialog_state(), Some(State::Pending));
    assert_eq!(SubState::Rejected.dialog_state(), None);
}

#[test]
fn rfc3856_s6_6_a_rule_change_decides_a_pending_subscription() {
    let pending = SubState::Pending;
    assert_eq!(
        reauthorize(pending, false, Action::Allow),
        Reauthorization::Notify {
            neutral_body: false
        }
    );
    assert_eq!(
        reauthorize(pending, false, Action::PoliteBlock),
        Reauthorization::Notify { neutral_body: true }
    );
    assert_eq!(
        reauthorize(pending, false, Action::Block),
        Reauthorization::Terminate
    );
    assert_eq!(
        reauthorize(pending, false, Action::Confirm),
        Reauthorization::Unchanged
    );
}

#[test]
fn rfc3856_s6_6_a_rule_change_on_an_active_subscription() {
    let active = SubState::Active;
    assert_eq!(
        reauthorize(active, false, Action::Allow),
        Reauthorization::Unchanged
    );
    assert_eq!(
        reauthorize(active, false, Action::PoliteBlock),
        Reauthorization::Notify { neutral_body: true }
    );
    assert_eq!(
        reauthorize(active, true, Action::Allow),
        Reauthorization::Notify {
            neutral_body: false
        }
    );
    assert_eq!(
        reauthorize(active, true, Action::PoliteBlock),
        Reauthorization::Unchanged
    );
    assert_eq!(
        reauthorize(active, false, Action::Block),
        Reauthorization::Terminate
    );
    // No way back to pending (RFC 6665, RFC 3857 §4.7).
    assert_eq!(
        reauthorize(active, false, Action::Confirm),
        Reauthorization::Unchanged
    );
    // A refused subscription does not exist: nothing to change.
    assert_eq!(
        reauthorize(SubState::Rejected, false, Action::Allow),
        Reauthorization::Unchanged
    );
}
