use super::*;

#[test]
fn millis_add_and_saturating_sub() {
    let t = Millis(1_000);
    assert_eq!(t + Duration::from_millis(500), Millis(1_500));
    assert_eq!(
        t + Duration::from_micros(1_999),
        Millis(1_001),
        "sub-millisecond parts are dropped"
    );
    assert_eq!(
        Millis(u64::MAX - 1) + Duration::from_secs(1),
        Millis(u64::MAX)
    );
    assert_eq!(Millis(1_500).saturating_sub(t), Duration::from_millis(500));
    assert_eq!(t.saturating_sub(Millis(1_500)), Duration::ZERO);
}

#[test]
fn rfc3261_s17_1_1_1_table_4_defaults_and_derived_timers() {
    let t = Timers::default();
    assert_eq!(t.t1, Duration::from_millis(500));
    assert_eq!(t.t2, Duration::from_secs(4));
    assert_eq!(t.t4, Duration::from_secs(5));
    let sixty_four_t1 = Duration::from_secs(32);
    for d in [t.timer_b(), t.timer_f(), t.timer_h(), t.timer_l()] {
        assert_eq!(d, sixty_four_t1);
    }
    assert_eq!(t.timer_j(false), sixty_four_t1);
    assert_eq!(t.timer_d(false), Duration::from_secs(32));
    assert_eq!(t.timer_i(false), t.t4);
    assert_eq!(t.timer_k(false), t.t4);
    for d in [
        t.timer_d(true),
        t.timer_i(true),
        t.timer_j(true),
        t.timer_k(true),
    ] {
        assert_eq!(d, Duration::ZERO, "reliable transports do not retransmit");
    }
}

#[test]
fn rfc3261_s17_1_1_1_derived_timers_follow_a_configured_t1() {
    let t = Timers {
        t1: Duration::from_millis(100),
        ..Timers::default()
    };
    assert_eq!(t.timer_f(), Duration::from_millis(6_400));
    assert_eq!(t.timer_j(false), Duration::from_millis(6_400));
    assert_eq!(
        t.timer_d(false),
        Duration::from_secs(32),
        "D is at least 32 s whatever T1 is"
    );
}

#[test]
fn backoff_doubles_up_to_the_cap_counting_from_the_firing() {
    let mut b = Backoff::start(Millis(0), Duration::from_millis(500));
    assert!(!b.is_due(Millis(499)));
    assert!(b.is_due(Millis(500)));
    let cap = Duration::from_secs(4);
    let mut fired = Vec::new();
    let mut now = b.deadline;
    for _ in 0..6 {
        fired.push(now.0);
        b.rearm(now, cap);
        now = b.deadline;
    }
    assert_eq!(fired, [500, 1_500, 3_500, 7_500, 11_500, 15_500]);
    // A late firing pushes the schedule back rather than bunching it.
    b.rearm(Millis(20_000), cap);
    assert_eq!(b.deadline, Millis(24_000));
}

#[test]
fn response_classes() {
    assert_eq!(Class::of(100), Some(Class::Provisional));
    assert_eq!(Class::of(199), Some(Class::Provisional));
    assert_eq!(Class::of(200), Some(Class::Success));
    assert_eq!(Class::of(300), Some(Class::Failure));
    assert_eq!(Class::of(699), Some(Class::Failure));
    assert_eq!(Class::of(99), None);
    assert_eq!(Class::of(700), None);
}
