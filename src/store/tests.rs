//! One suite, written once and run against both backends: each behavior is
//! an `async fn(Backend)`, and `on_both_backends!` makes a `sqlite::NAME`
//! and a `postgres::NAME` test of it.
//!
//! SQLite tests use a fresh file under the temp dir; PostgreSQL tests use a
//! fresh schema (`pc_test_<pid>_<n>`, chosen through `search_path`) in the
//! database at `PRESENCECLOUD_TEST_POSTGRES`, by default
//! `postgres://postgres@127.0.0.1:5432/test`. Both are removed when the test
//! ends, passed or not. An unreachable PostgreSQL fails the tests (it never
//! skips them), whether `PRESENCECLOUD_REQUIRE_POSTGRES=1` is set or not.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use super::*;

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// How long a test waits for something the writer should do by itself; far
/// above the intervals used, so only a writer that never does it fails.
const PATIENCE: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn unique(prefix: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{n}", std::process::id())
}

fn postgres_url() -> String {
    std::env::var("PRESENCECLOUD_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES.to_string())
}

/// A store over a database of its own, removed on drop.
struct Db {
    url: String,
    store: Store,
    _cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Schema { admin_url: String, schema: String },
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        match self {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            Cleanup::Schema { admin_url, schema } => {
                // Drop cannot await, and may run inside the test's runtime:
                // a thread with a runtime of its own does the async work.
                let (url, name) = (admin_url.clone(), schema.clone());
                let dropped = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime to drop the test schema");
                    rt.block_on(async {
                        let mut conn = PgConnection::connect(&url).await?;
                        sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                            .execute(&mut conn)
                            .await?;
                        conn.close().await
                    })
                })
                .join();
                if !matches!(dropped, Ok(Ok(()))) {
                    eprintln!("could not drop test schema {schema}: {dropped:?}");
                }
            }
        }
    }
}

impl Db {
    async fn new(backend: Backend) -> Db {
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{}.db", unique("pc_store")));
                let url = format!("sqlite://{}", path.display());
                let cleanup = Cleanup::File(path);
                let store = Store::open(&url).await.unwrap_or_else(|e| panic!("{e}"));
                Db {
                    url,
                    store,
                    _cleanup: cleanup,
                }
            }
            Backend::Postgres => {
                let admin_url = postgres_url();
                let mut conn = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL at {} is unreachable ({e}); the store tests run against it \
                         (PRESENCECLOUD_REQUIRE_POSTGRES={:?}): start it, or set \
                         PRESENCECLOUD_TEST_POSTGRES to the URL of one",
                        redact(&admin_url),
                        std::env::var("PRESENCECLOUD_REQUIRE_POSTGRES").unwrap_or_default(),
                    )
                });
                let schema = unique("pc_test");
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("CREATE SCHEMA {schema}: {e}"));
                let _ = conn.close().await;
                let cleanup = Cleanup::Schema {
                    admin_url: admin_url.clone(),
                    schema: schema.clone(),
                };
                let sep = if admin_url.contains('?') { '&' } else { '?' };
                let url = format!("{admin_url}{sep}options=-csearch_path%3D{schema}");
                let store = Store::open(&url).await.unwrap_or_else(|e| panic!("{e}"));
                Db {
                    url,
                    store,
                    _cleanup: cleanup,
                }
            }
        }
    }

    /// A second, independent pool on the same database, as after a restart.
    async fn reopen(&self) -> Store {
        Store::open(&self.url)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

const ALICE: &str = "sip:alice@example.com";
const BOB: &str = "sip:bob@example.com";
const CAROL: &str = "sip:carol@example.com";

fn publication(etag: &str, presentity: &str, seq: i64) -> Publication {
    Publication {
        etag: etag.into(),
        presentity: presentity.into(),
        event: "presence".into(),
        content_type: "application/pidf+xml".into(),
        body: format!("<presence entity=\"{presentity}\" seq=\"{seq}\"/>").into_bytes(),
        expires_at_ms: 1_700_000_000_000 + seq,
        created_seq: seq,
    }
}

fn subscription(id: &str, created_ms: i64) -> Subscription {
    Subscription {
        id: id.into(),
        event: "presence".into(),
        presentity: ALICE.into(),
        watcher: BOB.into(),
        call_id: format!("{id}@192.0.2.7"),
        local_tag: "ours".into(),
        remote_tag: "theirs".into(),
        local_cseq: 1,
        remote_cseq: 7,
        route_set: vec![
            "<sip:p1.example.com;lr>".into(),
            "\"Proxy, Two\" <sip:p2.example.com;lr>".into(),
            "3:x,".into(),
            String::new(),
            "<sip:ünïcode.example.com;lr>".into(),
        ],
        contact: "<sip:bob@192.0.2.7:5062;transport=tcp>".into(),
        transport: "TCP".into(),
        peer: "192.0.2.7:5062".into(),
        expires_at_ms: 1_700_000_003_600,
        state: "active".into(),
        created_ms,
    }
}

fn rule(presentity: &str, watcher: &str, action: &str) -> AuthRule {
    AuthRule {
        presentity: presentity.into(),
        watcher: watcher.into(),
        action: action.into(),
    }
}

fn writer(store: &Store, flush_interval: Duration, max_batch: usize) -> Writer {
    let config = BatchConfig {
        flush_interval,
        max_batch,
        ..BatchConfig::default()
    };
    Writer::spawn(store.clone(), config).unwrap_or_else(|e| panic!("{e}"))
}

/// Polls `probe` until it holds or `PATIENCE` runs out; how long it took.
async fn eventually<F, Fut>(what: &str, mut probe: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !probe().await {
        assert!(
            start.elapsed() < PATIENCE,
            "{what}: not seen after {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

async fn count(store: &Store) -> (usize, usize, usize) {
    let publications = store.all_publications().await.unwrap().len();
    let subscriptions = store.subscriptions().await.unwrap().len();
    let mut rules = 0;
    for p in [ALICE, BOB, CAROL] {
        rules += store.rules(p).await.unwrap().len();
    }
    (publications, subscriptions, rules)
}

// ---- the suite --------------------------------------------------------

async fn publications_put_get_remove(backend: Backend) {
    let db = Db::new(backend).await;
    let s = &db.store;
    assert!(s.all_publications().await.unwrap().is_empty());
    assert_eq!(s.max_publication_seq().await.unwrap(), None);

    let a_new = publication("e1", ALICE, 2);
    let a_old = publication("e2", ALICE, 1);
    let mut b = publication("e3", BOB, 3);
    b.body = vec![0, 159, 255, b'<', 0];
    for p in [&a_new, &a_old, &b] {
        s.put_publication(p).await.unwrap();
    }

    assert_eq!(
        s.publications(ALICE).await.unwrap(),
        [a_old.clone(), a_new.clone()]
    );
    assert_eq!(s.publications(BOB).await.unwrap(), [b.clone()]);
    assert!(s.publications(CAROL).await.unwrap().is_empty());
    assert_eq!(
        s.all_publications().await.unwrap(),
        [a_old.clone(), a_new, b.clone()]
    );
    assert_eq!(s.max_publication_seq().await.unwrap(), Some(3));

    assert!(s.remove_publication("e1").await.unwrap());
    assert!(!s.remove_publication("e1").await.unwrap());
    assert_eq!(s.all_publications().await.unwrap(), [a_old, b]);
}

async fn publications_upsert(backend: Backend) {
    let db = Db::new(backend).await;
    let s = &db.store;
    s.put_publication(&publication("e1", ALICE, 1))
        .await
        .unwrap();
    let mut refreshed = publication("e1", BOB, 9);
    refreshed.content_type = "application/xpidf+xml".into();
    refreshed.body = b"<new/>".to_vec();
    s.put_publication(&refreshed).await.unwrap();

    assert_eq!(s.all_publications().await.unwrap(), [refreshed.clone()]);
    assert!(s.publications(ALICE).await.unwrap().is_empty());
    assert_eq!(s.publications(BOB).await.unwrap(), [refreshed]);
}

async fn subscriptions_put_get_remove(backend: Backend) {
    let db = Db::new(backend).await;
    let s = &db.store;
    let with_routes = subscription("s1", 2_000);
    let mut no_routes = subscription("s2", 1_000);
    no_routes.route_set.clear();
    no_routes.state = "pending".into();
    s.put_subscription(&with_routes).await.unwrap();
    s.put_subscription(&no_routes).await.unwrap();

    assert_eq!(
        s.subscription("s1").await.unwrap().as_ref(),
        Some(&with_routes)
    );
    assert_eq!(s.subscription("s2").await.unwrap(), Some(no_routes.clone()));
    assert_eq!(
        s.subscriptions().await.unwrap(),
        [no_routes.clone(), with_routes]
    );

    assert!(s.remove_subscription("s1").await.unwrap());
    assert!(!s.remove_subscription("s1").await.unwrap());
    assert_eq!(s.subscription("s1").await.unwrap(), None);
    assert_eq!(s.subscriptions().await.unwrap(), [no_routes]);
}

async fn subscriptions_upsert(backend: Backend) {
    let db = Db::new(backend).await;
    let s = &db.store;
    let first = subscription("s1", 1_000);
    s.put_subscription(&first).await.unwrap();
    let mut next = first.clone();
    next.local_cseq = 2;
    next.remote_cseq = 8;
    next.expires_at_ms += 3_600_000;
    next.state = "terminated".into();
    next.route_set = vec!["<sip:other.example.com;lr>".into()];
    next.peer = "198.51.100.1:5060".into();
    s.put_subscription(&next).await.unwrap();

    assert_eq!(s.subscriptions().await.unwrap(), [next]);
}

async fn rules_put_get_remove(backend: Backend) {
    let db = Db::new(backend).await;
    let s = &db.store;
    let domain = rule(ALICE, "*@example.com", "confirm");
    let bob = rule(ALICE, BOB, "allow");
    let carol = rule(ALICE, CAROL, "polite-block");
    let for_bob = rule(BOB, ALICE, "block");
    for r in [&carol, &bob, &domain, &for_bob] {
        s.put_rule(r).await.unwrap();
    }
    // Bytewise by watcher: '*' sorts before 's'.
    assert_eq!(
        s.rules(ALICE).await.unwrap(),
        [domain.clone(), bob.clone(), carol.clone()]
    );
    assert_eq!(s.rules(BOB).await.unwrap(), std::slice::from_ref(&for_bob));

    let bob_blocked = rule(ALICE, BOB, "block");
    s.put_rule(&bob_blocked).await.unwrap();
    assert_eq!(
        s.rules(ALICE).await.unwrap(),
        [domain.clone(), bob_blocked.clone(), carol]
    );

    assert!(s.remove_rule(ALICE, CAROL).await.unwrap());
    assert!(!s.remove_rule(ALICE, CAROL).await.unwrap());
    assert!(!s.remove_rule(CAROL, ALICE).await.unwrap());
    assert_eq!(s.rules(ALICE).await.unwrap(), [domain, bob_blocked]);
    assert_eq!(s.rules(BOB).await.unwrap(), [for_bob]);
}

async fn remove_expired(backend: Backend) {
    let db = Db::new(backend).await;
    let s = &db.store;
    let mut early = publication("e1", ALICE, 1);
    early.expires_at_ms = 100;
    let mut late = publication("e2", ALICE, 2);
    late.expires_at_ms = 200;
    let mut sub_at = subscription("s1", 1);
    sub_at.expires_at_ms = 150;
    let mut sub_late = subscription("s2", 2);
    sub_late.expires_at_ms = 151;
    for p in [&early, &late] {
        s.put_publication(p).await.unwrap();
    }
    for x in [&sub_at, &sub_late] {
        s.put_subscription(x).await.unwrap();
    }

    // Expiry at exactly `now` counts as expired.
    let gone = s.remove_expired(150).await.unwrap();
    assert_eq!(
        gone,
        Expired {
            publications: 1,
            subscriptions: 1
        }
    );
    assert_eq!(s.all_publications().await.unwrap(), [late]);
    assert_eq!(s.subscriptions().await.unwrap(), [sub_late]);
    assert_eq!(s.remove_expired(150).await.unwrap(), Expired::default());
}

async fn invalid_writes_are_refused(backend: Backend) {
    let db = Db::new(backend).await;
    let s = &db.store;
    let mut bad_state = subscription("s1", 1);
    bad_state.state = "open".into();
    let bad_action = rule(ALICE, BOB, "deny");
    let nul = publication("e\0", ALICE, 1);
    let mut nul_route = subscription("s2", 1);
    nul_route.route_set.push("<sip:a\0b>".into());

    let field = |r: Result<(), StoreError>| match r {
        Err(StoreError::Invalid { field, .. }) => field,
        other => panic!("expected Invalid, got {other:?}"),
    };
    assert_eq!(field(s.put_subscription(&bad_state).await), "state");
    assert_eq!(field(s.put_rule(&bad_action).await), "action");
    assert_eq!(field(s.put_publication(&nul).await), "etag");
    assert_eq!(field(s.put_subscription(&nul_route).await), "route_set");
    assert_eq!(
        field(s.apply(&[Write::PutRule(bad_action.clone())]).await),
        "action"
    );

    let w = writer(s, Duration::from_millis(20), 100);
    assert_eq!(
        field(w.write(Write::PutSubscription(bad_state)).await),
        "state"
    );
    assert_eq!(field(w.try_write(Write::PutRule(bad_action))), "action");
    w.close().await.unwrap();
    assert_eq!(count(s).await, (0, 0, 0));
}

async fn apply_is_all_or_nothing(backend: Backend) {
    let db = Db::new(backend).await;
    let s = &db.store;
    let mut bad = subscription("s1", 1);
    bad.state = "open".into();
    let writes = [
        Write::PutPublication(publication("e1", ALICE, 1)),
        Write::PutSubscription(bad),
    ];
    // Past validation, the database's CHECK refuses the second write, and
    // the first goes with it.
    let failure = s.commit(&writes).await.expect_err("the CHECK must refuse");
    assert_eq!(failure.write, Some(1), "{failure:?}");
    assert!(failure.is_rejection(), "{failure:?}");
    assert_eq!(count(s).await, (0, 0, 0));

    s.apply(&[
        Write::PutPublication(publication("e1", ALICE, 1)),
        Write::PutRule(rule(ALICE, BOB, "allow")),
        Write::RemovePublication { etag: "e9".into() },
    ])
    .await
    .unwrap();
    assert_eq!(count(s).await, (1, 0, 1));
}

async fn batch_flushes_within_the_interval(backend: Backend) {
    let db = Db::new(backend).await;
    let w = writer(&db.store, Duration::from_millis(20), 10_000);
    w.write(Write::PutPublication(publication("e1", ALICE, 1)))
        .await
        .unwrap();
    let took = eventually("a write with a 20 ms flush interval", || async {
        !db.store.publications(ALICE).await.unwrap().is_empty()
    })
    .await;
    eprintln!("{backend:?}: write visible after {took:?} (flush interval 20 ms)");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    // The row can be visible before the task has counted its commit; a
    // flush of nothing waits for the task without committing again.
    w.flush().await.unwrap();
    assert_eq!(w.stats().batches, 1);
    w.close().await.unwrap();
}

async fn batch_write_does_not_wait_for_the_database(backend: Backend) {
    let db = Db::new(backend).await;
    let w = writer(&db.store, Duration::from_secs(60), 10_000);
    let p = publication("e1", ALICE, 1);
    w.write(Write::PutPublication(p.clone())).await.unwrap();
    w.try_write(Write::PutRule(rule(ALICE, BOB, "allow")))
        .unwrap();
    // Acknowledged, not yet committed: the interval is a minute.
    assert_eq!(count(&db.store).await, (0, 0, 0));
    w.flush().await.unwrap();
    assert_eq!(db.store.all_publications().await.unwrap(), [p]);
    assert_eq!(count(&db.store).await, (1, 0, 1));
    w.close().await.unwrap();
}

async fn batch_commits_a_full_batch_at_once(backend: Backend) {
    let db = Db::new(backend).await;
    let w = writer(&db.store, Duration::from_secs(60), 10);
    for i in 0..10 {
        w.write(Write::PutPublication(publication(
            &format!("e{i}"),
            ALICE,
            i,
        )))
        .await
        .unwrap();
    }
    eventually("a batch of max_batch writes", || async {
        db.store.all_publications().await.unwrap().len() == 10
    })
    .await;
    w.flush().await.unwrap();
    assert_eq!(w.stats().batches, 1);
    w.close().await.unwrap();
}

async fn batch_close_persists_everything(backend: Backend) {
    let db = Db::new(backend).await;
    let config = BatchConfig {
        queue_capacity: 64,
        max_batch: 256,
        ..BatchConfig::default()
    };
    let w = Writer::spawn(db.store.clone(), config).unwrap();
    let other = w.clone();
    let from_task = tokio::spawn(async move {
        for i in 0..500 {
            other
                .write(Write::PutPublication(publication(&format!("t{i}"), BOB, i)))
                .await
                .unwrap();
        }
    });
    for i in 0..500 {
        let write = match i % 2 {
            0 => Write::PutSubscription(subscription(&format!("s{i}"), i)),
            _ => Write::PutRule(rule(ALICE, &format!("sip:w{i}@example.com"), "allow")),
        };
        w.write(write).await.unwrap();
    }
    from_task.await.unwrap();
    w.close().await.unwrap();

    db.store.close().await;
    let reopened = db.reopen().await;
    assert_eq!(count(&reopened).await, (500, 250, 250));
    let stats = w.stats();
    assert_eq!((stats.received, stats.written), (1000, 1000), "{stats:?}");

    assert!(matches!(
        w.write(Write::RemovePublication { etag: "t0".into() })
            .await,
        Err(StoreError::WriterStopped)
    ));
    assert!(matches!(w.close().await, Err(StoreError::WriterStopped)));
    reopened.close().await;
}

async fn batch_close_keeps_writes_queued_behind_it(backend: Backend) {
    let db = Db::new(backend).await;
    let w = writer(&db.store, Duration::from_secs(60), 10_000);
    // Poll `close` once: it queues Close and waits for the answer. On this
    // single-threaded runtime the writer task cannot run before this task
    // yields, so the next write lands behind Close, acknowledged, and must
    // be committed all the same.
    let close = w.close();
    tokio::pin!(close);
    tokio::select! {
        biased;
        r = &mut close => panic!("close finished before the writer task ran: {r:?}"),
        () = std::future::ready(()) => {}
    }
    w.try_write(Write::PutPublication(publication("e1", ALICE, 1)))
        .unwrap();
    close.await.unwrap();
    assert_eq!(count(&db.store).await, (1, 0, 0));
    assert!(matches!(
        w.try_write(Write::RemovePublication { etag: "e1".into() }),
        Err(StoreError::WriterStopped)
    ));
}

async fn batch_coalesces_writes_to_one_key(backend: Backend) {
    let db = Db::new(backend).await;
    let s = &db.store;
    let mut stale = publication("e2", ALICE, 2);
    stale.body = b"stale".to_vec();
    s.put_publication(&stale).await.unwrap();

    let w = writer(s, Duration::from_secs(60), 10_000);
    let mut sub = subscription("s1", 1);
    for cseq in 0..100 {
        sub.local_cseq = cseq;
        w.write(Write::PutSubscription(sub.clone())).await.unwrap();
    }
    // Put then remove: gone. Remove then put: there, with the new body.
    w.write(Write::PutPublication(publication("e1", ALICE, 1)))
        .await
        .unwrap();
    w.write(Write::RemovePublication { etag: "e1".into() })
        .await
        .unwrap();
    let fresh = publication("e2", ALICE, 3);
    w.write(Write::RemovePublication { etag: "e2".into() })
        .await
        .unwrap();
    w.write(Write::PutPublication(fresh.clone())).await.unwrap();
    w.flush().await.unwrap();

    assert_eq!(s.subscriptions().await.unwrap(), [sub]);
    assert_eq!(s.all_publications().await.unwrap(), [fresh]);
    let stats = w.stats();
    assert_eq!(
        (
            stats.received,
            stats.coalesced,
            stats.written,
            stats.batches
        ),
        (104, 101, 3, 1),
        "{stats:?}"
    );
    w.close().await.unwrap();
}

async fn batch_drops_only_a_refused_write(backend: Backend) {
    let db = Db::new(backend).await;
    let w = writer(&db.store, Duration::from_secs(60), 10_000);
    let mut bad = subscription("s1", 1);
    bad.state = "open".into();
    w.write(Write::PutPublication(publication("e1", ALICE, 1)))
        .await
        .unwrap();
    w.write_unvalidated(Write::PutSubscription(bad))
        .await
        .unwrap();
    w.write(Write::PutRule(rule(ALICE, BOB, "allow")))
        .await
        .unwrap();
    w.flush().await.unwrap();

    assert_eq!(count(&db.store).await, (1, 0, 1));
    let stats = w.stats();
    assert_eq!((stats.rejected, stats.written), (1, 2), "{stats:?}");
    w.close().await.unwrap();
}

async fn batch_reports_a_database_it_cannot_reach(backend: Backend) {
    let db = Db::new(backend).await;
    let w = writer(&db.store, Duration::from_millis(20), 10_000);
    db.store.close().await;
    w.write(Write::PutPublication(publication("e1", ALICE, 1)))
        .await
        .unwrap();
    assert!(matches!(w.flush().await, Err(StoreError::Database(_))));
    assert!(w.stats().failed_commits >= 1);
    match w.close().await {
        Err(StoreError::Unflushed { lost: 1, .. }) => {}
        other => panic!("expected Unflushed with 1 lost, got {other:?}"),
    }
}

async fn batch_commits_when_the_last_handle_is_dropped(backend: Backend) {
    let db = Db::new(backend).await;
    let w = writer(&db.store, Duration::from_secs(60), 10_000);
    w.write(Write::PutPublication(publication("e1", ALICE, 1)))
        .await
        .unwrap();
    drop(w);
    eventually("a write queued before the writer was dropped", || async {
        !db.store.all_publications().await.unwrap().is_empty()
    })
    .await;
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both_backends!(
    publications_put_get_remove,
    publications_upsert,
    subscriptions_put_get_remove,
    subscriptions_upsert,
    rules_put_get_remove,
    remove_expired,
    invalid_writes_are_refused,
    apply_is_all_or_nothing,
    batch_flushes_within_the_interval,
    batch_write_does_not_wait_for_the_database,
    batch_commits_a_full_batch_at_once,
    batch_close_persists_everything,
    batch_close_keeps_writes_queued_behind_it,
    batch_coalesces_writes_to_one_key,
    batch_drops_only_a_refused_write,
    batch_reports_a_database_it_cannot_reach,
    batch_commits_when_the_last_handle_is_dropped,
);

// ---- backend-independent ----------------------------------------------

#[tokio::test]
async fn sqlite_in_memory_opens_and_holds_state() {
    let s = Store::open("sqlite::memory:").await.unwrap();
    assert_eq!(s.backend(), "sqlite");
    s.put_rule(&rule(ALICE, BOB, "allow")).await.unwrap();
    // Kept across pool connections' lifetimes: the pool holds it open.
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(s.rules(ALICE).await.unwrap(), [rule(ALICE, BOB, "allow")]);
}

#[tokio::test]
async fn an_unknown_scheme_is_refused_with_its_password_hidden() {
    match Store::open("mysql://u:secret@db/x").await {
        Err(e @ StoreError::Scheme(_)) => {
            let shown = e.to_string();
            assert!(!shown.contains("secret"), "{shown}");
            assert!(shown.contains("mysql://u:***@db/x"), "{shown}");
        }
        other => panic!("expected Scheme, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_postgres_is_an_open_error() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    match Store::open("postgres://u:secret@127.0.0.1:1/x").await {
        Err(e @ StoreError::Open { .. }) => assert!(!e.to_string().contains("secret"), "{e}"),
        other => panic!("expected Open, got {other:?}"),
    }
}

#[test]
fn redact_hides_only_the_password() {
    assert_eq!(
        redact("postgres://pc:pw@db:5432/x?sslmode=require"),
        "postgres://pc:***@db:5432/x?sslmode=require"
    );
    assert_eq!(
        redact("postgres://pc@db/x?user=a:b@c"),
        "postgres://pc@db/x?user=a:b@c"
    );
    assert_eq!(
        redact("sqlite://presencecloud.db"),
        "sqlite://presencecloud.db"
    );
    assert_eq!(redact("sqlite::memory:"), "sqlite::memory:");
}

#[test]
fn route_sets_round_trip_through_netstrings() {
    let cases: [&[&str]; 4] = [
        &[],
        &[""],
        &["<sip:a;lr>", "\"x, y\" <sip:b;lr>"],
        &["9:trick,", "ü,:", ""],
    ];
    for case in cases {
        let routes: Vec<String> = case.iter().map(|s| s.to_string()).collect();
        let encoded = encode_route_set(&routes);
        assert_eq!(decode_route_set(&encoded), Ok(routes), "{encoded:?}");
    }
    assert_eq!(encode_route_set(&["ab".into()]), "2:ab,");
}

#[test]
fn corrupt_route_sets_are_errors() {
    for bad in ["2:ab", "3:ab,", "x:ab,", "2ab,", "2:abc", "1:\u{fc},"] {
        assert!(decode_route_set(bad).is_err(), "{bad:?} decoded");
    }
}

#[test]
fn store_errors_map_to_sip_statuses() {
    assert_eq!(StoreError::QueueFull(10).status(), 503);
    assert_eq!(StoreError::WriterStopped.status(), 500);
}
