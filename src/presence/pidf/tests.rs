use super::*;

const DEFAULT_NS: &str = include_str!("../../../tests/data/pidf/rfc3863-s4.2.2-default-ns.xml");
const PREFIXED_NS: &str = include_str!("../../../tests/data/pidf/rfc3863-s4.2.2-prefixed-ns.xml");
const LOCATION: &str = include_str!("../../../tests/data/pidf/rfc3863-s4.2.4-location-status.xml");
const STATUS_EXT: &str =
    include_str!("../../../tests/data/pidf/rfc3863-s4.3.1-status-extensions.xml");
const OTHER_EXT: &str =
    include_str!("../../../tests/data/pidf/rfc3863-s4.3.2-other-extensions.xml");
const MUST_UNDERSTAND: &str =
    include_str!("../../../tests/data/pidf/rfc3863-s4.3.3-must-understand.xml");
const RPID: &str = include_str!("../../../tests/data/pidf/rfc4480-s4-example.xml");

/// Every conformance document that must be accepted.
const ACCEPTED: [(&str, &str); 6] = [
    ("s4.2.2 default", DEFAULT_NS),
    ("s4.2.2 prefixed", PREFIXED_NS),
    ("s4.2.4", LOCATION),
    ("s4.3.1", STATUS_EXT),
    ("s4.3.2", OTHER_EXT),
    ("rfc4480 s4", RPID),
];

fn doc(xml: &str) -> Presence {
    parse(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{xml}"))
}

fn err(xml: &str) -> PidfError {
    match parse(xml.as_bytes()) {
        Ok(p) => panic!("accepted {p:?}\n{xml}"),
        Err(e) => e,
    }
}

fn pidf(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<presence xmlns=\"{NS_PIDF}\" \
         xmlns:dm=\"{NS_DATA_MODEL}\" xmlns:rpid=\"{NS_RPID}\" \
         entity=\"sip:alice@example.com\">{body}</presence>"
    )
}

fn raw(xml: &str) -> RawElement {
    RawElement::parse(xml).unwrap_or_else(|e| panic!("{e}\n{xml}"))
}

// --- the RFC 3863 and RFC 4480 examples --------------------------------------

#[test]
fn rfc3863_s4_2_2_default_namespace_example_parses() {
    let p = doc(DEFAULT_NS);
    assert_eq!(p.entity, "pres:someone@example.com");
    assert_eq!(p.tuples.len(), 1);
    let t = &p.tuples[0];
    assert_eq!(t.id, "sg89ae");
    assert_eq!(t.basic, Some(Basic::Open));
    assert_eq!(
        t.contact,
        Some(("tel:+09012345678".into(), Some("0.8".into())))
    );
    assert!(t.extensions.is_empty() && t.status_extensions.is_empty());
    assert!(p.persons.is_empty() && p.devices.is_empty() && p.notes.is_empty());
}

#[test]
fn rfc3863_s4_2_2_prefixed_and_default_forms_give_equal_models() {
    assert_eq!(doc(PREFIXED_NS), doc(DEFAULT_NS));
}

#[test]
fn rfc3863_s4_2_2_namespace_is_matched_by_uri_not_prefix() {
    // The PIDF namespace under a prefix nobody uses, and a `presence`
    // element in another namespace: the URI decides, not the spelling.
    let odd = format!(
        "<x:presence xmlns:x=\"{NS_PIDF}\" entity=\"e\"><x:tuple id=\"a\">\
         <x:status><x:basic>open</x:basic></x:status></x:tuple></x:presence>"
    );
    assert_eq!(doc(&odd).tuples[0].basic, Some(Basic::Open));
    let foreign = "<presence xmlns=\"urn:example:not-pidf\" entity=\"e\"/>";
    assert_eq!(err(foreign), PidfError::NotPresence);
    let impp = "<impp:presence xmlns:impp=\"urn:example:not-pidf\" entity=\"e\"/>";
    assert_eq!(err(impp), PidfError::NotPresence);
}

#[test]
fn rfc3863_s4_2_4_status_extension_is_carried() {
    let p = doc(LOCATION);
    let t = &p.tuples[0];
    assert_eq!(t.id, "ub93s3");
    assert_eq!(t.contact, Some(("im:someone@example.com".into(), None)));
    assert_eq!(t.status_extensions.len(), 1);
    let loc = &t.status_extensions[0];
    assert_eq!(loc.namespace(), Some("urn:example-com:pidf-status-type"));
    assert_eq!(loc.name(), "location");
    assert_eq!(
        loc.as_xml(),
        "<location xmlns=\"urn:example-com:pidf-status-type\">home</location>"
    );
}

#[test]
fn rfc3863_s4_3_1_notes_timestamp_and_two_tuples() {
    let p = doc(STATUS_EXT);
    assert_eq!(p.tuples.len(), 2);
    let t = &p.tuples[0];
    assert_eq!(t.id, "bs35r9");
    assert_eq!(t.status_extensions.len(), 2, "im:im and myex:location");
    assert_eq!(
        t.status_extensions[0].namespace(),
        Some("urn:ietf:params:xml:ns:pidf:im")
    );
    assert_eq!(
        t.notes,
        vec![
            Note {
                lang: Some("en".into()),
                text: "Don't Disturb Please!".into()
            },
            Note {
                lang: Some("fr".into()),
                text: "Ne derangez pas, s'il vous plait".into()
            },
        ]
    );
    assert_eq!(t.timestamp.as_deref(), Some("2001-10-27T16:49:29Z"));
    assert_eq!(p.tuples[1].id, "eg92n8");
    assert_eq!(
        p.tuples[1].contact,
        Some(("mailto:someone@example.com".into(), Some("1.0".into())))
    );
    assert_eq!(p.notes, vec![Note::new("I'll be in Tokyo next week")]);
}

#[test]
fn rfc3863_s4_3_2_tuple_and_presence_extensions_are_carried() {
    let p = doc(OTHER_EXT);
    assert_eq!(p.tuples[0].extensions.len(), 1);
    assert_eq!(
        p.tuples[0].extensions[0].as_xml(),
        "<mytupletag xmlns=\"http://id.example.com/presence/\">Extended value in tuple</mytupletag>"
    );
    // anyURI content: the whitespace around the contact is not part of it.
    assert_eq!(
        p.tuples[1].contact,
        Some(("im:someone@mobilecarrier.net".into(), Some("1.0".into())))
    );
    assert_eq!(p.extensions.len(), 1);
    assert_eq!(p.extensions[0].name(), "mytag");
    let printed = p.to_xml();
    assert!(
        printed.contains("My extended presentity information"),
        "{printed}"
    );
}

#[test]
fn rfc3863_s4_3_3_must_understand_example_is_rejected() {
    // myex:ex1 carries impp:mustUnderstand="1" (xs:boolean true) inside an
    // extension we do not understand: the whole document is refused.
    let e = err(MUST_UNDERSTAND);
    assert_eq!(e, PidfError::MustUnderstand("ex1".into()));
    assert_eq!(
        e.to_string(),
        "element ex1 must be understood (mustUnderstand)"
    );
    assert_eq!(e.status(), 400);
}

#[test]
fn rfc3863_s4_3_3_must_understand_true_anywhere_unmodelled_is_rejected() {
    let mu = format!("xmlns:p=\"{NS_PIDF}\" p:mustUnderstand=\"true\"");
    for body in [
        // presence-level extension
        format!("<x:a xmlns:x=\"urn:x\" {mu}/>"),
        // status extension
        format!("<tuple id=\"t\"><status><x:a xmlns:x=\"urn:x\" {mu}/></status></tuple>"),
        // tuple extension
        format!("<tuple id=\"t\"><status/><x:a xmlns:x=\"urn:x\" {mu}/></tuple>"),
        // device
        format!("<dm:device id=\"d\"><x:a xmlns:x=\"urn:x\" {mu}/></dm:device>"),
        // person extension (an rpid element we do not model)
        format!("<dm:person id=\"p\"><rpid:a {mu}><rpid:happy/></rpid:a></dm:person>"),
        // inside an activity: we read only its name
        format!(
            "<dm:person id=\"p\"><rpid:activities><rpid:other><x:a xmlns:x=\"urn:x\" {mu}/>\
             </rpid:other></rpid:activities></dm:person>"
        ),
        // a foreign activity, which we drop
        format!(
            "<dm:person id=\"p\"><rpid:activities><x:a xmlns:x=\"urn:x\" {mu}/></rpid:activities></dm:person>"
        ),
    ] {
        assert_eq!(
            err(&pidf(&body)),
            PidfError::MustUnderstand("a".into()),
            "{body}"
        );
    }
}

#[test]
fn rfc3863_s4_3_3_must_understand_false_unqualified_or_understood_is_accepted() {
    let ns = format!("xmlns:p=\"{NS_PIDF}\"");
    for body in [
        format!("<x:a xmlns:x=\"urn:x\" {ns} p:mustUnderstand=\"false\"/>"),
        format!("<x:a xmlns:x=\"urn:x\" {ns} p:mustUnderstand=\"0\"/>"),
        // unqualified: not the PIDF attribute
        "<x:a xmlns:x=\"urn:x\" mustUnderstand=\"true\"/>".to_owned(),
        // on elements we model
        format!(
            "<tuple id=\"t\" {ns} p:mustUnderstand=\"true\"><status p:mustUnderstand=\"1\">\
             <basic>open</basic></status></tuple>"
        ),
        format!(
            "<dm:person id=\"p\" {ns} p:mustUnderstand=\"true\"><rpid:activities \
             p:mustUnderstand=\"true\"><rpid:busy p:mustUnderstand=\"true\"/></rpid:activities></dm:person>"
        ),
    ] {
        doc(&pidf(&body));
    }
}

#[test]
fn rfc4480_s4_example_parses_with_activities() {
    let p = doc(RPID);
    assert_eq!(p.entity, "pres:someone@example.com");
    let ids: Vec<&str> = p.tuples.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["bs35r9", "ty4658", "eg92n8"]);
    // dm:deviceID, rpid:relationship, rpid:service-class
    assert_eq!(p.tuples[0].extensions.len(), 3);
    assert_eq!(
        p.tuples[0].extensions[1].as_xml(),
        "<relationship xmlns=\"urn:ietf:params:xml:ns:pidf:rpid\"><self/></relationship>"
    );
    assert_eq!(
        p.tuples[0].timestamp.as_deref(),
        Some("2005-10-27T16:49:29Z")
    );
    assert_eq!(p.notes, vec![Note::new("I'll be in Tokyo next week")]);

    assert_eq!(p.devices.len(), 1);
    assert_eq!(p.devices[0].id(), Some("pc147"));
    assert_eq!(p.devices[0].namespace(), Some(NS_DATA_MODEL));

    assert_eq!(p.persons.len(), 1);
    let person = &p.persons[0];
    assert_eq!(person.id, "p1");
    assert_eq!(person.activities, vec!["away".to_owned()]);
    assert_eq!(person.notes, vec![Note::new("Scoring 120")]);
    assert_eq!(
        person.timestamp.as_deref(),
        Some("2005-05-30T16:09:44+05:00")
    );
    let names: Vec<&str> = person.extensions.iter().map(RawElement::name).collect();
    assert_eq!(
        names,
        [
            "class",
            "mood",
            "place-is",
            "place-type",
            "privacy",
            "sphere",
            "status-icon",
            "time-offset"
        ]
    );
    // place-type holds an element of a third namespace.
    assert_eq!(
        person.extensions[3].as_xml(),
        "<place-type xmlns=\"urn:ietf:params:xml:ns:pidf:rpid\">\
         <residence xmlns=\"urn:ietf:params:xml:ns:location-type\"/></place-type>"
    );
    assert_eq!(Availability::of(&p), Availability::Away);
}

#[test]
fn rfc4480_s3_2_activities_are_read_as_local_names() {
    let p = doc(&pidf(
        "<tuple id=\"t\"><status><basic>open</basic></status></tuple>\
         <dm:person id=\"p\"><rpid:activities><rpid:note>lunch</rpid:note>\
         <rpid:on-the-phone/><rpid:meeting/><rpid:other>bowling</rpid:other>\
         <x:golf xmlns:x=\"urn:x\"/></rpid:activities>\
         <rpid:activities><rpid:busy/></rpid:activities></dm:person>\
         <dm:person id=\"q\"><rpid:activities><rpid:unknown/></rpid:activities></dm:person>",
    ));
    assert_eq!(
        p.persons[0].activities,
        ["on-the-phone", "meeting", "other", "busy"]
    );
    assert_eq!(p.persons[1].activities, ["unknown"]);
    assert_eq!(Availability::of(&p), Availability::Busy);
}

// --- printing and round trips -------------------------------------------------

#[test]
fn rfc3863_s4_every_example_round_trips() {
    for (name, xml) in ACCEPTED {
        let p = doc(xml);
        let printed = p.to_xml();
        let again = parse(printed.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}\n{printed}"));
        assert_eq!(again, p, "{name}:\n{printed}");
        assert_eq!(again.to_xml(), printed, "{name}: printing is a fixed point");
    }
}

#[test]
fn rfc3863_s4_1_printed_document_shape() {
    let printed = Availability::Busy
        .document("sip:a@example.com", "t1")
        .to_xml();
    assert_eq!(
        printed,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <presence xmlns=\"urn:ietf:params:xml:ns:pidf\" \
         xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" \
         xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" entity=\"sip:a@example.com\">\n  \
         <tuple id=\"t1\">\n    <status>\n      <basic>open</basic>\n    </status>\n  </tuple>\n  \
         <dm:person id=\"t1-person\">\n    <rpid:activities><rpid:busy/></rpid:activities>\n  \
         </dm:person>\n</presence>\n"
    );
    let plain = closed("sip:a@example.com").to_xml();
    assert!(
        !plain.contains("xmlns:dm") && !plain.contains("xmlns:rpid"),
        "{plain}"
    );
}

#[test]
fn rfc3863_s4_1_constructed_values_round_trip_with_escapes() {
    let mut t = Tuple::new("t&1\"<'>", Basic::Open);
    t.contact = Some(("sip:a@b;x=\"1\"&y=<2>".into(), Some("0.5".into())));
    t.timestamp = Some("2024-01-01T00:00:00Z".into());
    t.notes = vec![
        Note::new("a & b < c > d ]]> e\r\nf\tg \u{e9}\u{1f600}"),
        Note {
            lang: Some("fr\"&".into()),
            text: "  spaced  ".into(),
        },
    ];
    t.status_extensions = vec![raw(
        "<l:location xmlns:l=\"urn:l\">home &amp; away</l:location>",
    )];
    t.extensions = vec![
        raw(
            "<a:x xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" b:k=\"v&#10;w\" plain=\"p\"><b:y/>text<c/></a:x>",
        ),
        raw("<bare>no namespace</bare>"),
    ];
    let mut empty_status = Tuple::new("t2", Basic::Closed);
    empty_status.basic = None;
    let p = Presence {
        entity: "pres:a&b\"c<d>\n@example.com".into(),
        tuples: vec![t, empty_status],
        persons: vec![Person {
            id: "p1".into(),
            activities: vec!["busy".into(), "on-the-phone".into()],
            notes: vec![Note::new("person note")],
            timestamp: Some("2024-01-01T00:00:01Z".into()),
            extensions: vec![raw(
                "<rpid:mood xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\"><rpid:happy/></rpid:mood>",
            )],
        }],
        devices: vec![raw(
            "<dm:device xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" id=\"d1\">\
             <dm:deviceID>urn:device:1</dm:deviceID></dm:device>",
        )],
        notes: vec![Note::new("<doc note>")],
        extensions: vec![raw(
            "<x:top xmlns:x=\"urn:x\" x:a=\"1\" xml:lang=\"en\">t</x:top>",
        )],
    };
    let printed = p.to_xml();
    assert_eq!(doc(&printed), p, "{printed}");
}

#[test]
fn rfc3863_s4_1_printer_never_emits_broken_markup() {
    // Names that are not XML names are left out; characters XML cannot
    // carry are replaced, so the output always parses.
    let mut p = closed("e\u{1}");
    p.persons.push(Person {
        id: "p".into(),
        activities: vec!["busy".into(), "a b<".into(), "note".into(), String::new()],
        ..Person::default()
    });
    p.notes.push(Note::new("bell\u{7}"));
    let back = doc(&p.to_xml());
    assert_eq!(back.persons[0].activities, ["busy"]);
    assert_eq!(back.entity, "e\u{fffd}");
    assert_eq!(back.notes[0].text, "bell\u{fffd}");
}

#[test]
fn rfc4479_s4_raw_elements_do_not_depend_on_prefixes() {
    let a = raw("<a:x xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" b:k=\"1\"><a:y/><b:z b:k=\"2\"/></a:x>");
    let b = raw(
        "<x xmlns=\"urn:a\"><!-- c --><y xmlns:q=\"urn:unused\"/><w:z xmlns:w=\"urn:b\" w:k=\"2\"/></x>",
    );
    assert_ne!(a, b, "a has an attribute b does not");
    let b = raw("<x xmlns=\"urn:a\" xmlns:w=\"urn:b\" w:k=\"1\"><y/><w:z w:k=\"2\"/></x>");
    assert_eq!(a, b);
    assert_eq!(
        a.as_xml(),
        "<x xmlns=\"urn:a\" xmlns:ns1=\"urn:b\" ns1:k=\"1\"><y/><z xmlns=\"urn:b\" ns1:k=\"2\"/></x>"
    );
    // Re-reading the canonical text gives the same text.
    assert_eq!(raw(a.as_xml()), a);
    let pidf_attr = raw(&format!(
        "<x xmlns:i=\"{NS_PIDF}\" i:mustUnderstand=\"0\"/>"
    ));
    assert_eq!(
        pidf_attr.as_xml(),
        format!("<x xmlns=\"\" xmlns:pidf=\"{NS_PIDF}\" pidf:mustUnderstand=\"0\"/>")
    );
}

// --- composition ---------------------------------------------------------------

fn publication(tuples: &[(&str, Basic)]) -> Presence {
    Presence {
        entity: "pres:alice@example.com".into(),
        tuples: tuples.iter().map(|(id, b)| Tuple::new(*id, *b)).collect(),
        ..Presence::default()
    }
}

fn tuple_ids(p: &Presence) -> Vec<(&str, Option<Basic>)> {
    p.tuples.iter().map(|t| (t.id.as_str(), t.basic)).collect()
}

#[test]
fn rfc3903_s4_compose_later_tuple_with_same_id_replaces_in_place() {
    use Basic::*;
    let old = publication(&[("phone", Open), ("pc", Open)]);
    let new = publication(&[("phone", Closed)]);
    let c = compose("sip:alice@example.com", &[old, new]);
    assert_eq!(c.entity, "sip:alice@example.com", "the caller's entity");
    assert_eq!(tuple_ids(&c), [("phone", Some(Closed)), ("pc", Some(Open))]);
}

#[test]
fn rfc3903_s4_compose_keeps_different_ids_in_publication_order() {
    use Basic::*;
    let a = publication(&[("a1", Open), ("a2", Closed)]);
    let b = publication(&[("b1", Closed)]);
    let c = publication(&[("c1", Open), ("a1", Closed)]);
    let composed = compose("e", &[a.clone(), b.clone(), c.clone()]);
    assert_eq!(
        tuple_ids(&composed),
        [
            ("a1", Some(Closed)),
            ("a2", Some(Closed)),
            ("b1", Some(Closed)),
            ("c1", Some(Open))
        ]
    );
    // Deterministic, and order matters only through "later wins".
    assert_eq!(compose("e", &[a.clone(), b.clone(), c.clone()]), composed);
    let reversed = compose("e", &[c, b, a]);
    assert_eq!(
        tuple_ids(&reversed),
        [
            ("c1", Some(Open)),
            ("a1", Some(Open)),
            ("b1", Some(Closed)),
            ("a2", Some(Closed))
        ]
    );
}

#[test]
fn rfc3903_s4_compose_merges_persons_and_devices_by_id_and_carries_the_rest() {
    let mut a = Availability::Busy.document("e", "phone");
    a.notes.push(Note::new("at work"));
    a.extensions.push(raw("<x:a xmlns:x=\"urn:x\">1</x:a>"));
    a.devices.push(raw(
        "<dm:device xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" id=\"d\">old</dm:device>",
    ));
    let mut b = Availability::Away.document("e", "phone");
    b.notes.push(Note::new("at work"));
    b.notes.push(Note::new("lunch"));
    b.extensions.push(raw("<x:a xmlns:x=\"urn:x\">1</x:a>"));
    b.extensions.push(raw("<x:b xmlns:x=\"urn:x\"/>"));
    b.devices.push(raw(
        "<dm:device xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" id=\"d\">new</dm:device>",
    ));
    let c = compose("e", &[a, b]);
    assert_eq!(c.persons.len(), 1);
    assert_eq!(
        c.persons[0].activities,
        ["away"],
        "the later person replaced"
    );
    assert_eq!(c.notes, vec![Note::new("at work"), Note::new("lunch")]);
    let ext: Vec<&str> = c.extensions.iter().map(RawElement::name).collect();
    assert_eq!(ext, ["a", "b"]);
    assert_eq!(c.devices.len(), 1);
    assert!(c.devices[0].as_xml().contains("new"));
    assert_eq!(Availability::of(&c), Availability::Away);
    assert_eq!(doc(&c.to_xml()), c);
}

#[test]
fn rfc3903_s4_compose_without_tuples_has_none() {
    assert!(compose("e", &[]).tuples.is_empty());
    let mut only_note = publication(&[]);
    only_note.notes.push(Note::new("hi"));
    let c = compose("e", &[only_note.clone(), only_note]);
    assert!(c.tuples.is_empty());
    assert_eq!(c.notes.len(), 1);
    assert_eq!(Availability::of(&c), Availability::Offline);
}

#[test]
fn rfc3856_s6_6_2_closed_document_reveals_nothing() {
    let c = closed("sip:bob@example.com");
    assert_eq!(c.entity, "sip:bob@example.com");
    assert_eq!(tuple_ids(&c), [(CLOSED_TUPLE_ID, Some(Basic::Closed))]);
    assert!(c.persons.is_empty() && c.devices.is_empty() && c.notes.is_empty());
    assert!(c.extensions.is_empty());
    let t = &c.tuples[0];
    assert!(t.contact.is_none() && t.timestamp.is_none() && t.notes.is_empty());
    assert_eq!(Availability::of(&c), Availability::Offline);
    assert_eq!(doc(&c.to_xml()), c);
}

// --- the availability table ------------------------------------------------------

#[test]
fn rfc4480_s3_2_availability_documents_read_back() {
    use Availability::*;
    for a in [Online, Busy, Away, Offline] {
        let d = a.document("sip:a@example.com", "t");
        assert_eq!(Availability::of(&d), a);
        assert_eq!(Availability::of(&doc(&d.to_xml())), a, "through XML");
    }
    let busy = Busy.document("e", "t");
    assert_eq!(busy.tuples[0].basic, Some(Basic::Open));
    assert_eq!(busy.persons[0].activities, ["busy"]);
    assert!(Online.document("e", "t").persons.is_empty());
    assert_eq!(
        Offline.document("e", "t").tuples[0].basic,
        Some(Basic::Closed)
    );
}

#[test]
fn rfc4480_s3_2_availability_of_any_document() {
    use Availability::*;
    let open = Tuple::new("o", Basic::Open);
    let shut = Tuple::new("c", Basic::Closed);
    let person = |id: &str, acts: &[&str]| Person {
        id: id.into(),
        activities: acts.iter().map(|a| a.to_string()).collect(),
        ..Person::default()
    };
    let with = |tuples: Vec<Tuple>, persons: Vec<Person>| Presence {
        entity: "e".into(),
        tuples,
        persons,
        ..Presence::default()
    };
    assert_eq!(Availability::of(&with(vec![], vec![])), Offline);
    assert_eq!(
        Availability::of(&with(vec![shut.clone()], vec![person("p", &["busy"])])),
        Offline
    );
    let mut no_basic = open.clone();
    no_basic.basic = None;
    assert_eq!(Availability::of(&with(vec![no_basic], vec![])), Offline);
    assert_eq!(
        Availability::of(&with(vec![shut.clone(), open.clone()], vec![])),
        Online
    );
    assert_eq!(
        Availability::of(&with(vec![open.clone()], vec![person("p", &["meeting"])])),
        Online
    );
    assert_eq!(
        Availability::of(&with(
            vec![open.clone()],
            vec![person("p", &["away"]), person("q", &["busy"])]
        )),
        Busy,
        "busy wins over away"
    );
    assert_eq!(
        Availability::of(&with(
            vec![open.clone()],
            vec![person("p", &["away", "busy"])]
        )),
        Busy
    );
    assert_eq!(
        Availability::of(&with(vec![open, shut], vec![person("p", &["away"])])),
        Away
    );
}

// --- malformed input ------------------------------------------------------------------

fn malformed(xml: &[u8]) -> (u64, String) {
    match parse(xml) {
        Err(PidfError::Malformed { at, reason }) => (at, reason),
        other => panic!("{other:?} for {}", String::from_utf8_lossy(xml)),
    }
}

#[test]
fn rfc3863_s4_not_xml_is_malformed_with_a_byte_position() {
    assert_eq!(malformed(b""), (0, "no root element".into()));
    assert_eq!(malformed(b"  \n"), (3, "no root element".into()));
    assert_eq!(
        malformed(b"hello"),
        (0, "text outside the root element".into())
    );
    let (at, _) =
        malformed(b"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"e\"></tuple>");
    assert_eq!(at, 57, "where </tuple> starts");
    malformed(b"<presence");
    malformed(b"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"e\">");
    malformed(b"<a x=\"1\" x=\"2\"/>");
    malformed(b"<a x=1/>");
    assert_eq!(
        malformed(b"<p:presence entity=\"e\"/>"),
        (0, "unbound prefix p".into())
    );
    let (_, reason) = malformed(b"<a/><b/>");
    assert_eq!(reason, "content after the root element");
    assert_eq!(malformed(b"<a/>x").1, "text outside the root element");
    assert_eq!(malformed(b"<a>\x01</a>").1, "character not allowed in XML");
    assert_eq!(malformed(b"<a>&#1;</a>").1, "character not allowed in XML");
    assert_eq!(malformed(b"<a>\xff</a>"), (3, "invalid UTF-8".into()));
    // Entities are never expanded, declared or not.
    malformed(b"<!DOCTYPE a [<!ENTITY x \"boom\">]><a>&x;</a>");
    malformed(b"<a>&nope;</a>");
    let e = err("<presence");
    assert!(
        e.to_string().starts_with("not well-formed XML at byte "),
        "{e}"
    );
}

#[test]
fn rfc3863_s4_1_1_root_and_entity_are_required() {
    assert_eq!(err("<presence entity=\"e\"/>"), PidfError::NotPresence);
    assert_eq!(
        err(&format!("<tuple xmlns=\"{NS_PIDF}\" id=\"t\"/>")),
        PidfError::NotPresence
    );
    assert_eq!(
        err(&format!("<presence xmlns=\"{NS_PIDF}\"/>")),
        PidfError::MissingEntity
    );
    // entity is an unqualified attribute; a namespaced one does not count.
    assert_eq!(
        err(&format!(
            "<presence xmlns=\"{NS_PIDF}\" xmlns:x=\"urn:x\" x:entity=\"e\"/>"
        )),
        PidfError::MissingEntity
    );
    assert_eq!(
        PidfError::NotPresence.to_string(),
        "root element is not <presence> in the PIDF namespace"
    );
    assert_eq!(
        PidfError::MissingEntity.to_string(),
        "missing entity attribute"
    );
}

#[test]
fn rfc3863_s4_1_2_tuple_needs_a_unique_id() {
    assert_eq!(
        err(&pidf("<tuple><status/></tuple>")),
        PidfError::TupleWithoutId
    );
    assert_eq!(
        err(&pidf("<tuple id=\"\"><status/></tuple>")),
        PidfError::TupleWithoutId
    );
    assert_eq!(
        err(&pidf(
            "<tuple id=\"a\"><status/></tuple><tuple id=\"a\"><status/></tuple>"
        )),
        PidfError::DuplicateId("a".into())
    );
    assert_eq!(err(&pidf("<dm:person/>")), PidfError::PersonWithoutId);
    assert_eq!(
        err(&pidf("<dm:person id=\"p\"/><dm:person id=\"p\"/>")),
        PidfError::DuplicateId("p".into())
    );
    // Ids of different kinds are not compared (compose may bring them together).
    doc(&pidf(
        "<tuple id=\"a\"><status/></tuple><dm:person id=\"a\"/>",
    ));
    assert_eq!(PidfError::TupleWithoutId.to_string(), "tuple without id");
}

#[test]
fn rfc3863_s4_1_4_basic_must_be_open_or_closed() {
    for bad in ["opened", "OPEN", "", "1"] {
        let body = format!("<tuple id=\"t\"><status><basic>{bad}</basic></status></tuple>");
        assert_eq!(err(&pidf(&body)), PidfError::BadBasic, "{bad}");
    }
    let spaced = doc(&pidf(
        "<tuple id=\"t\"><status><basic>\n closed \n</basic></status></tuple>",
    ));
    assert_eq!(spaced.tuples[0].basic, Some(Basic::Closed));
    let none = doc(&pidf("<tuple id=\"t\"><status/></tuple><tuple id=\"u\"/>"));
    assert_eq!(none.tuples[0].basic, None);
    assert_eq!(none.tuples[1].basic, None);
    assert_eq!(
        PidfError::BadBasic.to_string(),
        "<basic> must be open or closed"
    );
}

#[test]
fn rfc3863_s4_error_texts_are_one_short_ascii_line() {
    let hostile = [
        "<presence".to_owned(),
        "<a>\u{e9}\u{1f600}</b>".to_owned(),
        format!("<a\u{e9}\u{e9}\u{e9}{}/>", "x".repeat(500)),
        pidf("<tuple id=\"a\u{e9}\n\"><status/></tuple><tuple id=\"a\u{e9}\n\"><status/></tuple>"),
        pidf(&format!(
            "<x:\u{e9}l\u{e9}ment{} xmlns:x=\"urn:x\" xmlns:p=\"{NS_PIDF}\" p:mustUnderstand=\"1\"/>",
            "y".repeat(300)
        )),
    ];
    for xml in &hostile {
        let text = err(xml).to_string();
        assert!(text.is_ascii(), "{text}");
        assert!(!text.contains(['\n', '\r']), "{text}");
        assert!(text.len() < 120, "{text}");
    }
}

// --- size and depth -------------------------------------------------------------------

#[test]
fn deep_nesting_is_refused_without_exhausting_the_stack() {
    let n = 200_000;
    let deep = format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
    assert_eq!(err(&deep), PidfError::TooDeep(MAX_DEPTH));
    let empties = format!(
        "{}<a/>{}",
        "<a>".repeat(MAX_DEPTH),
        "</a>".repeat(MAX_DEPTH)
    );
    assert_eq!(err(&empties), PidfError::TooDeep(MAX_DEPTH));
    assert_eq!(
        PidfError::TooDeep(MAX_DEPTH).to_string(),
        "XML nested deeper than 64 elements"
    );
    // Exactly MAX_DEPTH deep is accepted: presence > tuple > x > x > ...
    let inner = MAX_DEPTH - 2;
    let ok = pidf(&format!(
        "<tuple id=\"t\"><status/>{}{}</tuple>",
        "<x:x xmlns:x=\"urn:x\">".repeat(inner),
        "</x:x>".repeat(inner)
    ));
    let p = doc(&ok);
    assert_eq!(doc(&p.to_xml()), p);
}

#[test]
fn large_documents_stream_through() {
    let tuples: String = (0..20_000)
        .map(|i| format!("<tuple id=\"t{i}\"><status><basic>open</basic></status></tuple>"))
        .collect();
    let p = doc(&pidf(&tuples));
    assert_eq!(p.tuples.len(), 20_000);
    let long_note = "n".repeat(1 << 20);
    let p = doc(&pidf(&format!("<note>{long_note}</note>")));
    assert_eq!(p.notes[0].text.len(), 1 << 20);
}

#[test]
fn byte_order_mark_and_declaration_are_accepted() {
    let with_bom = format!("\u{feff}{DEFAULT_NS}");
    assert_eq!(doc(&with_bom), doc(DEFAULT_NS));
    let cdata = doc(&pidf("<note><![CDATA[a <b> &]]> c</note>"));
    assert_eq!(cdata.notes[0].text, "a <b> & c");
}
