use proptest::prelude::*;

use super::*;

const RFC3858_S5: &str = include_str!("../../../tests/data/winfo/rfc3858-s5-example.xml");
const RFC3857_S5_NOTIFY1: &str =
    include_str!("../../../tests/data/winfo/rfc3857-s5-notify1-body.xml");
const RFC3857_S5_NOTIFY2: &str =
    include_str!("../../../tests/data/winfo/rfc3857-s5-notify2-body.xml");
const RFC3857_S5_WIRE_NOTIFY1: &[u8] =
    include_bytes!("../../../tests/data/rfc-examples/wire/rfc3857-s5-03-notify.sip");
const RFC3857_S5_WIRE_NOTIFY2: &[u8] =
    include_bytes!("../../../tests/data/rfc-examples/wire/rfc3857-s5-05-notify.sip");

fn doc(xml: &str) -> WatcherInfo {
    parse(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{xml}"))
}

fn err(xml: &str) -> WinfoError {
    match parse(xml.as_bytes()) {
        Ok(d) => panic!("accepted {d:?}\n{xml}"),
        Err(e) => e,
    }
}

/// A document around one `<watcher-list>` body.
fn winfo(list_body: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<watcherinfo xmlns=\"{NS_WATCHERINFO}\" version=\"3\" \
         state=\"partial\"><watcher-list resource=\"sip:joe@example.com\" \
         package=\"presence\">{list_body}</watcher-list></watcherinfo>"
    )
}

fn roundtrip(d: &WatcherInfo) {
    let xml = d.to_xml();
    assert_eq!(&doc(&xml), d, "{xml}");
}

// --- the RFC examples --------------------------------------------------------

#[test]
fn rfc3858_s5_example_parses() {
    let d = doc(RFC3858_S5);
    assert_eq!(d.version, 0);
    assert_eq!(d.state, DocState::Full);
    assert_eq!(d.lists.len(), 1);
    let list = &d.lists[0];
    assert_eq!(list.resource, "sip:professor@example.net");
    assert_eq!(list.package, "presence");
    assert_eq!(
        list.watchers,
        [
            Watcher {
                duration_subscribed: Some(509),
                ..Watcher::new(
                    "8ajksjda7s",
                    "sip:userA@example.net",
                    Status::Active,
                    Event::Approved
                )
            },
            Watcher {
                display_name: Some("Mr. Subscriber".into()),
                ..Watcher::new(
                    "hh8juja87s997-ass7",
                    "sip:userB@example.org",
                    Status::Pending,
                    Event::Subscribe
                )
            },
        ]
    );
}

#[test]
fn rfc3858_s5_example_prints_and_parses_back_equal() {
    roundtrip(&doc(RFC3858_S5));
}

#[test]
fn rfc3857_s5_notify_bodies_parse() {
    let first = doc(RFC3857_S5_NOTIFY1);
    assert_eq!((first.version, first.state), (0, DocState::Full));
    let w = Watcher::new(
        "77ajsyy76",
        "sip:A@example.com",
        Status::Pending,
        Event::Subscribe,
    );
    assert_eq!(first.lists[0].resource, "sip:joe@example.com");
    assert_eq!(first.lists[0].watchers, std::slice::from_ref(&w));

    let second = doc(RFC3857_S5_NOTIFY2);
    assert_eq!((second.version, second.state), (1, DocState::Partial));
    let approved = Watcher {
        status: Status::Active,
        event: Event::Approved,
        ..w
    };
    assert_eq!(second.lists[0].watchers, [approved]);
}

#[test]
fn rfc3857_s5_wire_notifies_carry_watcherinfo_bodies() {
    for (wire, version) in [(RFC3857_S5_WIRE_NOTIFY1, 0), (RFC3857_S5_WIRE_NOTIFY2, 1)] {
        let m = crate::sip::parse(wire).unwrap();
        let event = m.event().unwrap();
        assert_eq!(event.event_type.0, PRESENCE_WINFO);
        assert_eq!(event.event_type.templates().collect::<Vec<_>>(), [TEMPLATE]);
        assert!(
            m.content_type()
                .unwrap()
                .is("application", "watcherinfo+xml")
        );
        let d = parse(m.body).unwrap();
        assert_eq!(d.version, version);
        assert_eq!(d.watchers().count(), 1);
    }
}

// --- printing and reading (RFC 3858 §3, §6) ----------------------------------

#[test]
fn rfc3858_s3_printed_document_names_namespace_elements_and_attributes() {
    let w = Watcher {
        display_name: Some("A".into()),
        expiration: Some(20),
        duration_subscribed: Some(509),
        ..Watcher::new("w1", "sip:a@example.com", Status::Active, Event::Approved)
    };
    let d = WatcherInfo {
        version: 7,
        state: DocState::Full,
        lists: vec![WatcherList {
            resource: "sip:joe@example.com".into(),
            package: "presence".into(),
            watchers: vec![w],
        }],
    };
    let xml = d.to_xml();
    for needle in [
        "<watcherinfo xmlns=\"urn:ietf:params:xml:ns:watcherinfo\" version=\"7\" state=\"full\">",
        "<watcher-list resource=\"sip:joe@example.com\" package=\"presence\">",
        "<watcher id=\"w1\" status=\"active\" event=\"approved\" display-name=\"A\" \
         expiration=\"20\" duration-subscribed=\"509\">sip:a@example.com</watcher>",
    ] {
        assert!(xml.contains(needle), "{needle}\n{xml}");
    }
    roundtrip(&d);
}

#[test]
fn rfc3858_s3_escaping_round_trips() {
    let w = Watcher {
        display_name: Some("Tom & \"Jerry\" <'x'>\ttab\nline\rcr".into()),
        ..Watcher::new(
            "id&<\">",
            "sip:a@example.com;x=<&>",
            Status::Pending,
            Event::Subscribe,
        )
    };
    let d = WatcherInfo {
        version: 1,
        state: DocState::Partial,
        lists: vec![WatcherList {
            resource: "sip:j\"o&e@example.com".into(),
            package: "pres<ence>".into(),
            watchers: vec![w],
        }],
    };
    roundtrip(&d);
}

#[test]
fn rfc3858_s6_empty_list_and_empty_document_round_trip() {
    let empty_list = WatcherInfo {
        version: 0,
        state: DocState::Full,
        lists: vec![WatcherList {
            resource: "sip:joe@example.com".into(),
            package: "presence".into(),
            watchers: vec![],
        }],
    };
    assert!(empty_list.to_xml().contains("package=\"presence\"/>"));
    roundtrip(&empty_list);
    roundtrip(&WatcherInfo {
        version: 2,
        state: DocState::Partial,
        lists: vec![],
    });
}

#[test]
fn rfc3858_s6_every_status_and_event_round_trips() {
    let statuses = [
        Status::Pending,
        Status::Active,
        Status::Waiting,
        Status::Terminated,
    ];
    let events = [
        Event::Subscribe,
        Event::Approved,
        Event::Deactivated,
        Event::Probation,
        Event::Rejected,
        Event::Timeout,
        Event::Giveup,
        Event::Noresource,
    ];
    for s in statuses {
        assert_eq!(Status::parse(s.as_str()), Some(s));
    }
    for e in events {
        assert_eq!(Event::parse(e.as_str()), Some(e));
    }
    let watchers = statuses
        .iter()
        .flat_map(|s| events.iter().map(move |e| (*s, *e)))
        .enumerate()
        .map(|(i, (s, e))| Watcher::new(format!("w{i}"), "sip:a@example.com", s, e))
        .collect();
    roundtrip(&WatcherInfo {
        version: 0,
        state: DocState::Full,
        lists: vec![WatcherList {
            resource: "sip:joe@example.com".into(),
            package: "presence".into(),
            watchers,
        }],
    });
}

#[test]
fn rfc3858_s3_namespace_is_matched_by_uri_not_prefix() {
    let prefixed = format!(
        "<w:watcherinfo xmlns:w=\"{NS_WATCHERINFO}\" version=\"0\" state=\"full\">\
         <w:watcher-list resource=\"sip:joe@example.com\" package=\"presence\">\
         <w:watcher id=\"x\" status=\"active\" event=\"subscribe\">sip:a@example.com</w:watcher>\
         </w:watcher-list></w:watcherinfo>"
    );
    assert_eq!(doc(&prefixed).watchers().count(), 1);
    let foreign = "<watcherinfo xmlns=\"urn:example:other\" version=\"0\" state=\"full\"/>";
    assert_eq!(err(foreign), WinfoError::NotWatcherInfo);
    let none = "<watcherinfo version=\"0\" state=\"full\"/>";
    assert_eq!(err(none), WinfoError::NotWatcherInfo);
}

#[test]
fn rfc3858_s6_foreign_extensions_are_skipped() {
    let xml = format!(
        "<watcherinfo xmlns=\"{NS_WATCHERINFO}\" xmlns:x=\"urn:example:x\" version=\"0\" \
         state=\"full\"><x:ext><watcher>not ours: inside an extension</watcher>\
         <x:deeper><x:deeper/></x:deeper></x:ext>\
         <watcher-list resource=\"sip:joe@example.com\" package=\"presence\">\
         <x:note>skip me</x:note><x:empty/>\
         <watcher id=\"a\" status=\"pending\" event=\"subscribe\" x:attr=\"1\" \
         xml:lang=\"en\">  sip:a@example.com\n</watcher>\
         </watcher-list><x:tail/></watcherinfo>"
    );
    let d = doc(&xml);
    assert_eq!(d.lists.len(), 1);
    let w: Vec<&Watcher> = d.watchers().collect();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].uri, "sip:a@example.com", "the URI is trimmed");
}

#[test]
fn rfc3858_s6_numbers_are_read_within_bounds() {
    let w = |attrs: &str| {
        winfo(&format!(
            "<watcher id=\"a\" status=\"active\" event=\"approved\" {attrs}>sip:a@x</watcher>"
        ))
    };
    let d = doc(&w(
        "expiration=\" 20 \" duration-subscribed=\"99999999999\"",
    ));
    let got = d.watchers().next().unwrap();
    assert_eq!(got.expiration, Some(20));
    assert_eq!(got.duration_subscribed, Some(u32::MAX), "capped");
    for bad in [
        "expiration=\"-1\"",
        "expiration=\"\"",
        "expiration=\"1e3\"",
        "duration-subscribed=\"99999999999999999999999\"",
    ] {
        assert!(matches!(err(&w(bad)), WinfoError::BadValue { .. }), "{bad}");
    }
}

#[test]
fn rfc3858_s6_invalid_documents_are_refused_with_a_reason() {
    let root = |attrs: &str| format!("<watcherinfo xmlns=\"{NS_WATCHERINFO}\" {attrs}/>");
    let watcher = |attrs: &str, body: &str| winfo(&format!("<watcher {attrs}>{body}</watcher>"));
    let ok = "id=\"a\" status=\"active\" event=\"approved\"";
    let cases: Vec<(String, WinfoError)> = vec![
        (
            root("state=\"full\""),
            WinfoError::MissingAttribute {
                element: "watcherinfo",
                attribute: "version",
            },
        ),
        (
            root("version=\"0\""),
            WinfoError::MissingAttribute {
                element: "watcherinfo",
                attribute: "state",
            },
        ),
        (
            root("version=\"0\" state=\"some\""),
            WinfoError::BadValue {
                attribute: "state",
                value: "some".into(),
            },
        ),
        (
            root("version=\"4294967296\" state=\"full\""),
            WinfoError::BadValue {
                attribute: "version",
                value: "4294967296".into(),
            },
        ),
        (
            format!(
                "<watcherinfo xmlns=\"{NS_WATCHERINFO}\" version=\"0\" state=\"full\">\
                 <watcher-list package=\"presence\"/></watcherinfo>"
            ),
            WinfoError::MissingAttribute {
                element: "watcher-list",
                attribute: "resource",
            },
        ),
        (
            watcher("status=\"active\" event=\"approved\"", "sip:a@x"),
            WinfoError::MissingAttribute {
                element: "watcher",
                attribute: "id",
            },
        ),
        (
            watcher("id=\"a\" status=\"gone\" event=\"approved\"", "sip:a@x"),
            WinfoError::BadValue {
                attribute: "status",
                value: "gone".into(),
            },
        ),
        (
            watcher("id=\"a\" status=\"active\" event=\"Approved\"", "sip:a@x"),
            WinfoError::BadValue {
                attribute: "event",
                value: "Approved".into(),
            },
        ),
        (watcher(ok, "  "), WinfoError::MissingUri),
        (winfo(&format!("<watcher {ok}/>")), WinfoError::MissingUri),
        (
            watcher(ok, "sip:a@x<b/>"),
            WinfoError::UnexpectedElement("b".into()),
        ),
        (
            winfo("<bogus/>"),
            WinfoError::UnexpectedElement("bogus".into()),
        ),
    ];
    for (xml, want) in cases {
        assert_eq!(err(&xml), want, "{xml}");
        assert_eq!(want.status(), 400);
    }
}

#[test]
fn rfc3858_malformed_xml_is_refused_not_panicked_on() {
    for xml in [
        "",
        "   ",
        "<watcherinfo",
        "<p:watcherinfo version=\"0\" state=\"full\"/>",
        &winfo("<watcher id=\"a\" id=\"b\" status=\"active\" event=\"approved\">x</watcher>"),
        &format!("<watcherinfo xmlns=\"{NS_WATCHERINFO}\" version=\"0\" state=\"full\"></wrong>"),
        &format!("<watcherinfo xmlns=\"{NS_WATCHERINFO}\" version=\"0\" state=\"full\"/><again/>"),
        &format!("<watcherinfo xmlns=\"{NS_WATCHERINFO}\" version=\"0\" state=\"full\"/>text"),
        &winfo("<watcher id=\"a\" status=\"active\" event=\"approved\">&undefined;</watcher>"),
        &winfo("<watcher id=\"a\" status=\"active\" event=\"approved\">&#1;</watcher>"),
    ] {
        assert!(
            matches!(err(xml), WinfoError::Malformed { .. }),
            "{xml}: {:?}",
            parse(xml.as_bytes())
        );
    }
    assert!(matches!(
        parse(b"\xff\xfe<watcherinfo/>"),
        Err(WinfoError::Malformed { at: 0, .. })
    ));
}

#[test]
fn rfc3858_every_truncation_of_the_example_is_answered_without_panic() {
    let bytes = RFC3858_S5.as_bytes();
    for n in 0..bytes.len() {
        let _ = parse(&bytes[..n]);
    }
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(bytes);
    assert_eq!(parse(&bom), Ok(doc(RFC3858_S5)));
}

fn arb_watcher() -> impl Strategy<Value = Watcher> {
    let status = prop::sample::select(vec![
        Status::Pending,
        Status::Active,
        Status::Waiting,
        Status::Terminated,
    ]);
    let event = prop::sample::select(vec![
        Event::Subscribe,
        Event::Approved,
        Event::Deactivated,
        Event::Probation,
        Event::Rejected,
        Event::Timeout,
        Event::Giveup,
        Event::Noresource,
    ]);
    (
        "[ -~\u{e9}\u{4e2d}\t\n\r]{0,12}",
        "sip:[a-zA-Z0-9&<>'\"%;=@.]{1,16}",
        status,
        event,
        prop::option::of("[ -~\u{e9}\t\n\r]{0,12}"),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<u32>()),
    )
        .prop_map(|(id, uri, status, event, display_name, e, d)| Watcher {
            id,
            uri,
            status,
            event,
            display_name,
            expiration: e,
            duration_subscribed: d,
        })
}

proptest! {
    #[test]
    fn rfc3858_print_then_parse_is_identity(
        version in any::<u32>(),
        full in any::<bool>(),
        watchers in prop::collection::vec(arb_watcher(), 0..5),
        resource in "sip:[a-z&<>\"]{1,10}@example\\.com",
    ) {
        let d = WatcherInfo {
            version,
            state: if full { DocState::Full } else { DocState::Partial },
            lists: vec![WatcherList { resource, package: "presence".into(), watchers }],
        };
        let xml = d.to_xml();
        prop_assert_eq!(parse(xml.as_bytes()), Ok(d), "{}", xml);
    }

    #[test]
    fn rfc3858_parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse(&bytes);
    }
}

// --- the state machine (RFC 3857 §4.7) ---------------------------------------

#[test]
fn rfc3857_s4_7_state_machine_arrows() {
    use Event::*;
    use Status::*;
    let allowed = [
        (None, Subscribe, Pending),
        (None, Subscribe, Active),
        (None, Subscribe, Terminated),
        (None, Rejected, Terminated),
        (Some(Pending), Approved, Active),
        (Some(Pending), Timeout, Waiting),
        (Some(Pending), Rejected, Terminated),
        (Some(Pending), Giveup, Terminated),
        (Some(Pending), Deactivated, Terminated),
        (Some(Pending), Probation, Terminated),
        (Some(Pending), Noresource, Terminated),
        (Some(Active), Timeout, Terminated),
        (Some(Active), Rejected, Terminated),
        (Some(Active), Deactivated, Terminated),
        (Some(Active), Probation, Terminated),
        (Some(Active), Noresource, Terminated),
        (Some(Waiting), Subscribe, Pending),
        (Some(Waiting), Approved, Terminated),
        (Some(Waiting), Rejected, Terminated),
        (Some(Waiting), Giveup, Terminated),
        (Some(Waiting), Noresource, Terminated),
    ];
    for (from, event, to) in allowed {
        assert!(transition_allowed(from, event, to), "{from:?} {event} {to}");
    }
    let refused = [
        (None, Approved, Active),
        (None, Subscribe, Waiting),
        (None, Timeout, Terminated),
        (Some(Active), Subscribe, Pending),
        (Some(Active), Giveup, Terminated),
        (Some(Active), Timeout, Waiting),
        (Some(Pending), Subscribe, Active),
        (Some(Waiting), Approved, Active),
        (Some(Terminated), Subscribe, Active),
    ];
    for (from, event, to) in refused {
        assert!(
            !transition_allowed(from, event, to),
            "{from:?} {event} {to}"
        );
    }
}

#[test]
fn rfc6665_s4_1_3_terminating_events_name_the_subscription_state_reason() {
    assert_eq!(Event::Subscribe.reason(), None);
    assert_eq!(Event::Approved.reason(), None);
    assert_eq!(Event::Timeout.reason(), Some("timeout"));
    assert_eq!(Event::Rejected.reason(), Some("rejected"));
    assert_eq!(Event::Noresource.reason(), Some("noresource"));
}

#[test]
fn rfc3856_s6_6_authorization_outcomes_give_the_first_status() {
    use crate::presence::authorization::{Action, subscription_outcome};
    let status = |a| Status::from(subscription_outcome(a).state);
    assert_eq!(status(Action::Allow), Status::Active);
    assert_eq!(status(Action::PoliteBlock), Status::Active);
    assert_eq!(status(Action::Confirm), Status::Pending);
    assert_eq!(status(Action::Block), Status::Terminated);
}

// --- the tracker (RFC 3857 §4.3, RFC 3858 §4) --------------------------------

const JOE: &str = "joe@example.com";

fn tracker() -> WinfoTracker<&'static str> {
    WinfoTracker::new("presence")
}

fn w(id: &str, status: Status, event: Event) -> Watcher {
    Watcher::new(id, format!("sip:{id}@example.com"), status, event)
}

fn ids(d: &WatcherInfo) -> Vec<(&str, Status, Event)> {
    d.watchers()
        .map(|w| (w.id.as_str(), w.status, w.event))
        .collect()
}

#[test]
fn rfc3857_s4_3_new_winfo_subscription_gets_full_state_version_0() {
    let mut t = tracker();
    t.watcher_changed(0, JOE, w("a", Status::Pending, Event::Subscribe))
        .unwrap();
    t.watcher_changed(0, JOE, w("b", Status::Active, Event::Subscribe))
        .unwrap();
    let d = t.subscribe(0, JOE, "winfo1");
    assert_eq!((d.version, d.state), (0, DocState::Full));
    assert_eq!(d.lists[0].resource, "sip:joe@example.com");
    assert_eq!(d.lists[0].package, "presence");
    assert_eq!(
        ids(&d),
        [
            ("a", Status::Pending, Event::Subscribe),
            ("b", Status::Active, Event::Subscribe)
        ]
    );
    roundtrip(&d);
}

#[test]
fn rfc3857_s4_3_full_state_with_no_watchers_names_the_resource() {
    let mut t = tracker();
    let d = t.subscribe(0, JOE, "winfo1");
    assert_eq!(d.lists.len(), 1);
    assert!(d.lists[0].watchers.is_empty());
    roundtrip(&d);
}

#[test]
fn rfc3858_s4_versions_increase_by_one_per_subscriber() {
    let mut t = tracker();
    assert_eq!(t.subscribe(0, JOE, "A").version, 0);
    let n = t
        .watcher_changed(0, JOE, w("x", Status::Pending, Event::Subscribe))
        .unwrap();
    assert_eq!(
        n.iter()
            .map(|n| (n.subscriber, n.document.version))
            .collect::<Vec<_>>(),
        [("A", 1)]
    );
    assert_eq!(t.subscribe(0, JOE, "B").version, 0);
    let n = t
        .watcher_changed(0, JOE, w("x", Status::Active, Event::Approved))
        .unwrap();
    assert_eq!(
        n.iter()
            .map(|n| (n.subscriber, n.document.version))
            .collect::<Vec<_>>(),
        [("A", 2), ("B", 1)]
    );
    // A refresh of A: full state again, the count goes on.
    let refresh = t.subscribe(0, JOE, "A");
    assert_eq!((refresh.version, refresh.state), (3, DocState::Full));
    assert_eq!(t.next_version(JOE, &"A"), Some(4));
    assert_eq!(t.next_version(JOE, &"B"), Some(2));
    // Ended and subscribed anew: a new subscription starts at 0.
    assert!(t.unsubscribe(JOE, &"A"));
    assert!(!t.unsubscribe(JOE, &"A"));
    let n = t
        .watcher_changed(0, JOE, w("y", Status::Pending, Event::Subscribe))
        .unwrap();
    assert_eq!(
        n.iter()
            .map(|n| (n.subscriber, n.document.version))
            .collect::<Vec<_>>(),
        [("B", 2)]
    );
    assert_eq!(t.subscribe(0, JOE, "A").version, 0);
}

#[test]
fn rfc3857_s4_3_new_watcher_yields_partial_with_only_that_watcher() {
    let mut t = tracker();
    t.watcher_changed(0, JOE, w("old", Status::Active, Event::Subscribe))
        .unwrap();
    t.subscribe(0, JOE, "winfo1");
    for (id, status) in [("p", Status::Pending), ("q", Status::Active)] {
        let n = t
            .watcher_changed(0, JOE, w(id, status, Event::Subscribe))
            .unwrap();
        assert_eq!(n.len(), 1);
        let d = &n[0].document;
        assert_eq!(n[0].subscriber, "winfo1");
        assert_eq!(d.state, DocState::Partial);
        assert_eq!(ids(d), [(id, status, Event::Subscribe)]);
        roundtrip(d);
    }
}

#[test]
fn rfc3857_s4_7_approval_moves_pending_to_active() {
    let mut t = tracker();
    t.subscribe(0, JOE, "winfo1");
    t.watcher_changed(0, JOE, w("a", Status::Pending, Event::Subscribe))
        .unwrap();
    let n = t
        .watcher_changed(0, JOE, w("a", Status::Active, Event::Approved))
        .unwrap();
    assert_eq!(
        ids(&n[0].document),
        [("a", Status::Active, Event::Approved)]
    );
    assert_eq!(t.status(JOE, "a"), Some(Status::Active));
    let full = t.subscribe(0, JOE, "winfo1");
    assert_eq!(ids(&full), [("a", Status::Active, Event::Approved)]);
}

#[test]
fn rfc3857_s4_7_termination_reports_the_event_then_forgets_the_watcher() {
    let mut t = tracker();
    t.subscribe(0, JOE, "winfo1");
    t.watcher_changed(0, JOE, w("t", Status::Active, Event::Subscribe))
        .unwrap();
    t.watcher_changed(0, JOE, w("r", Status::Pending, Event::Subscribe))
        .unwrap();
    t.watcher_changed(0, JOE, w("d", Status::Active, Event::Subscribe))
        .unwrap();
    t.watcher_changed(0, JOE, w("stay", Status::Active, Event::Subscribe))
        .unwrap();
    for (id, event) in [
        ("t", Event::Timeout),
        ("r", Event::Rejected),
        ("d", Event::Deactivated),
    ] {
        let n = t
            .watcher_changed(0, JOE, w(id, Status::Terminated, event))
            .unwrap();
        assert_eq!(ids(&n[0].document), [(id, Status::Terminated, event)]);
        let shown = n[0].document.watchers().next().unwrap();
        assert_eq!(
            (shown.expiration, shown.duration_subscribed),
            (None, None),
            "a terminated subscription has no times"
        );
        assert_eq!(t.status(JOE, id), None);
    }
    let full = t.subscribe(0, JOE, "winfo1");
    assert_eq!(ids(&full), [("stay", Status::Active, Event::Subscribe)]);
}

#[test]
fn rfc3857_s3_2_blocked_watcher_is_reported_terminated_and_not_kept() {
    let mut t = tracker();
    t.subscribe(0, JOE, "winfo1");
    let n = t
        .watcher_changed(0, JOE, w("stalker", Status::Terminated, Event::Rejected))
        .unwrap();
    assert_eq!(
        ids(&n[0].document),
        [("stalker", Status::Terminated, Event::Rejected)]
    );
    assert!(t.full(0, JOE, 9).lists[0].watchers.is_empty());
}

#[test]
fn rfc3857_s4_7_pending_timeout_waits_then_gives_up() {
    let mut t = tracker();
    t.subscribe(0, JOE, "winfo1");
    t.watcher_changed(0, JOE, w("a", Status::Pending, Event::Subscribe))
        .unwrap();
    let n = t
        .watcher_changed(0, JOE, w("a", Status::Waiting, Event::Timeout))
        .unwrap();
    assert_eq!(
        ids(&n[0].document),
        [("a", Status::Waiting, Event::Timeout)]
    );
    assert_eq!(
        ids(&t.full(0, JOE, 0)),
        [("a", Status::Waiting, Event::Timeout)],
        "the attempt stays visible"
    );
    let n = t
        .watcher_changed(0, JOE, w("a", Status::Terminated, Event::Giveup))
        .unwrap();
    assert_eq!(
        ids(&n[0].document),
        [("a", Status::Terminated, Event::Giveup)]
    );
}

#[test]
fn rfc3857_s4_7_changes_outside_the_state_machine_are_refused_and_not_recorded() {
    let mut t = tracker();
    t.subscribe(0, JOE, "winfo1");
    t.watcher_changed(0, JOE, w("a", Status::Active, Event::Subscribe))
        .unwrap();
    let e = t
        .watcher_changed(0, JOE, w("a", Status::Pending, Event::Subscribe))
        .unwrap_err();
    assert_eq!(
        e,
        TransitionError {
            id: "a".into(),
            from: Some(Status::Active),
            to: Status::Pending,
            event: Event::Subscribe,
        }
    );
    assert!(
        e.to_string()
            .contains("from active to pending on subscribe")
    );
    assert_eq!(t.status(JOE, "a"), Some(Status::Active));
    let e = t
        .watcher_changed(0, JOE, w("new", Status::Active, Event::Approved))
        .unwrap_err();
    assert!(e.to_string().contains("from init"), "{e}");
    assert_eq!(t.status(JOE, "new"), None);
    assert_eq!(
        t.next_version(JOE, &"winfo1"),
        Some(2),
        "the full document and the one valid change were sent, nothing since"
    );
}

#[test]
fn rfc3857_s4_3_a_refresh_sends_nothing_but_keeps_the_times() {
    let mut t = tracker();
    t.subscribe(0, JOE, "winfo1");
    let mut a = w("a", Status::Active, Event::Approved);
    a.status = Status::Pending;
    a.event = Event::Subscribe;
    a.expiration = Some(60);
    t.watcher_changed(0, JOE, a.clone()).unwrap();
    a.status = Status::Active;
    a.event = Event::Approved;
    t.watcher_changed(1_000, JOE, a.clone()).unwrap();
    // Refreshed for an hour, reported with event "subscribe": same status,
    // so no document, and the event that made it active is kept.
    a.event = Event::Subscribe;
    a.expiration = Some(3600);
    assert!(t.watcher_changed(30_000, JOE, a).unwrap().is_empty());
    let full = t.full(30_000, JOE, 0);
    let shown = full.watchers().next().unwrap();
    assert_eq!(shown.event, Event::Approved);
    assert_eq!(shown.expiration, Some(3600));
    assert_eq!(shown.duration_subscribed, Some(30));
}

#[test]
fn rfc3858_s3_times_are_computed_when_the_document_is_built() {
    let mut t = tracker();
    let a = Watcher {
        expiration: Some(3600),
        duration_subscribed: Some(100),
        ..w("a", Status::Active, Event::Subscribe)
    };
    t.watcher_changed(200_000, JOE, a).unwrap();
    let shown = t.subscribe(210_500, JOE, "winfo1");
    let shown = shown.watchers().next().unwrap();
    assert_eq!(shown.expiration, Some(3590), "rounded up, like Expires");
    assert_eq!(shown.duration_subscribed, Some(110));
    let late = t.full(10_000_000, JOE, 1);
    assert_eq!(late.watchers().next().unwrap().expiration, Some(0));
}

#[test]
fn rfc3857_s4_3_without_winfo_subscribers_changes_are_only_recorded() {
    let mut t = tracker();
    let n = t
        .watcher_changed(0, JOE, w("a", Status::Pending, Event::Subscribe))
        .unwrap();
    assert!(n.is_empty());
    assert_eq!(t.subscribers(JOE).count(), 0);
    assert_eq!(
        ids(&t.full(0, JOE, 0)),
        [("a", Status::Pending, Event::Subscribe)]
    );
    // Presentities are apart.
    assert!(t.full(0, "ann@example.com", 0).lists[0].watchers.is_empty());
}

#[test]
fn rfc3857_s4_partial_builder_wraps_the_changes_given() {
    let t = tracker();
    let d = t.partial(JOE, &[w("a", Status::Active, Event::Approved)], 5);
    assert_eq!((d.version, d.state), (5, DocState::Partial));
    assert_eq!(ids(&d), [("a", Status::Active, Event::Approved)]);
}

#[test]
fn rfc3857_s5_tracker_reproduces_the_example_flow() {
    // Watcher A subscribes to joe's presence and waits; joe subscribes to
    // his watcher information, then approves A.
    let mut t = tracker();
    let a = |status, event| Watcher::new("77ajsyy76", "sip:A@example.com", status, event);
    t.watcher_changed(0, JOE, a(Status::Pending, Event::Subscribe))
        .unwrap();
    let mut first = t.subscribe(0, JOE, "joe-winfo");
    let n = t
        .watcher_changed(0, JOE, a(Status::Active, Event::Approved))
        .unwrap();
    let mut second = n[0].document.clone();
    // The example shows no times; ours says how long A has been there.
    for d in [&mut first, &mut second] {
        for l in &mut d.lists {
            for w in &mut l.watchers {
                assert_eq!(w.duration_subscribed, Some(0));
                w.duration_subscribed = None;
            }
        }
    }
    assert_eq!(first, doc(RFC3857_S5_NOTIFY1));
    assert_eq!(second, doc(RFC3857_S5_NOTIFY2));
}

#[test]
fn rfc3858_s3_watcher_ids_are_stable_and_opaque() {
    let a = watcher_id("9987@pc34.example.com", "xyzygg", "123aa9");
    assert_eq!(a, watcher_id("9987@pc34.example.com", "xyzygg", "123aa9"));
    assert_eq!(a.len(), 16);
    assert!(!a.contains("9987") && !a.contains("xyzygg"));
    assert_ne!(a, watcher_id("9987@pc34.example.com", "xyzygg", "123aa8"));
    assert_ne!(watcher_id("ab", "c", ""), watcher_id("a", "bc", ""));
}

#[test]
fn rfc3858_s3_resource_is_a_uri() {
    assert_eq!(resource_uri(JOE), "sip:joe@example.com");
    assert_eq!(resource_uri("sip:joe@example.com"), "sip:joe@example.com");
    assert_eq!(resource_uri("PRES:joe@example.com"), "PRES:joe@example.com");
}

#[test]
fn rfc3857_s4_6_only_the_presentity_sees_its_watchers() {
    assert!(authorized_subscriber("sip:joe@EXAMPLE.com", JOE));
    assert!(!authorized_subscriber("sip:Joe@example.com", JOE));
    assert!(!authorized_subscriber("ann@example.com", JOE));
}
