//! The store: where a node keeps the presence state it must not lose on a
//! restart (DESIGN.md, "Storage") — publications (RFC 3903 soft state),
//! subscription dialogs with their CSeq, route set and expiry (RFC 6665
//! §4.1.2, RFC 3261 §12), and presence authorization rules.
//!
//! [`Store`] is one type over two backends, chosen by the URL scheme:
//! `sqlite:FILE` / `sqlite://FILE` (created if missing; `sqlite::memory:`
//! for tests) and `postgres://...` / `postgresql://...`. The schema lives in
//! `migrations/sqlite` and `migrations/postgres`, is embedded in the binary
//! and is brought up to date by [`Store::open`]. Every query is written once,
//! in SQL both backends accept (`$N` parameters, `ON CONFLICT ... DO UPDATE`),
//! and runs unchanged against either.
//!
//! The store keeps rows, not meaning: keys are compared byte for byte (the
//! caller canonicalizes AORs), expiry is a number the caller compares with
//! its own clock, and nothing here sends SIP or reads a clock. Every `put_*`
//! is an upsert: the whole row is replaced.
//!
//! Writes on the SIP path go through [`batch::Writer`], which batches them
//! into one transaction per flush so the database never sets the pace of
//! SIP; the direct `put_*`/`remove_*` methods here wait for the database and
//! are for set-up, administration and tests.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::MigrateError;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection, Row};

pub mod batch;

pub use batch::{BatchConfig, Writer, WriterStats};

/// The values a subscription's `state` may take (RFC 6665 §4.1.3).
pub const SUBSCRIPTION_STATES: [&str; 3] = ["pending", "active", "terminated"];

/// The values an authorization rule's `action` may take (the sub-handling
/// values of RFC 5025 §3.2.1).
pub const RULE_ACTIONS: [&str; 4] = ["allow", "block", "polite-block", "confirm"];

/// One PUBLISHed event state (RFC 3903), keyed by its entity-tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publication {
    pub etag: String,
    /// The presentity's AOR.
    pub presentity: String,
    /// The event package, e.g. `presence`.
    pub event: String,
    pub content_type: String,
    pub body: Vec<u8>,
    /// Unix time in milliseconds.
    pub expires_at_ms: i64,
    /// Orders publications of one presentity when they are composed.
    pub created_seq: i64,
}

/// The notifier side of one SUBSCRIBE dialog (RFC 6665), keyed by `id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// Our key for the dialog, e.g. Call-ID and our tag.
    pub id: String,
    pub event: String,
    pub presentity: String,
    /// The watcher's AOR (the SUBSCRIBE's From).
    pub watcher: String,
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    /// The CSeq of the next NOTIFY we send.
    pub local_cseq: i64,
    pub remote_cseq: i64,
    /// Route header values, in the order they go on a NOTIFY (RFC 3261 §12.1.1).
    pub route_set: Vec<String>,
    /// The remote target (the watcher's Contact).
    pub contact: String,
    pub transport: String,
    /// Where to send, e.g. `192.0.2.1:5060`.
    pub peer: String,
    /// Unix time in milliseconds.
    pub expires_at_ms: i64,
    /// One of [`SUBSCRIPTION_STATES`].
    pub state: String,
    /// Unix time in milliseconds.
    pub created_ms: i64,
}

/// Whether `watcher` may see `presentity`, keyed by the pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthRule {
    pub presentity: String,
    /// A watcher AOR, or `*@domain` for everyone in a domain.
    pub watcher: String,
    /// One of [`RULE_ACTIONS`].
    pub action: String,
}

/// One change to the stored state; what [`batch::Writer`] queues and
/// [`Store::apply`] commits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    PutPublication(Publication),
    RemovePublication { etag: String },
    PutSubscription(Subscription),
    RemoveSubscription { id: String },
    PutRule(AuthRule),
    RemoveRule { presentity: String, watcher: String },
}

/// The row a [`Write`] changes. Two writes with one key touch one row, so
/// the later one alone decides what the row ends up as.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    Publication(String),
    Subscription(String),
    Rule { presentity: String, watcher: String },
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Publication(etag) => write!(f, "publication {etag:?}"),
            Key::Subscription(id) => write!(f, "subscription {id:?}"),
            Key::Rule {
                presentity,
                watcher,
            } => write!(f, "rule ({presentity:?}, {watcher:?})"),
        }
    }
}

impl Write {
    pub fn key(&self) -> Key {
        match self {
            Write::PutPublication(p) => Key::Publication(p.etag.clone()),
            Write::RemovePublication { etag } => Key::Publication(etag.clone()),
            Write::PutSubscription(s) => Key::Subscription(s.id.clone()),
            Write::RemoveSubscription { id } => Key::Subscription(id.clone()),
            Write::PutRule(r) => Key::Rule {
                presentity: r.presentity.clone(),
                watcher: r.watcher.clone(),
            },
            Write::RemoveRule {
                presentity,
                watcher,
            } => Key::Rule {
                presentity: presentity.clone(),
                watcher: watcher.clone(),
            },
        }
    }

    /// Refuses what one backend would reject, so that both behave alike and
    /// a batch never carries a write the database turns down: text with
    /// U+0000 (PostgreSQL text cannot hold it), and a state or action
    /// outside its list (the schema's CHECK constraints).
    pub fn validate(&self) -> Result<(), StoreError> {
        let invalid = |field: &'static str, reason: &'static str| StoreError::Invalid {
            write: self.key().to_string(),
            field,
            reason,
        };
        let texts: Vec<(&'static str, &str)> = match self {
            Write::PutPublication(p) => vec![
                ("etag", &p.etag),
                ("presentity", &p.presentity),
                ("event", &p.event),
                ("content_type", &p.content_type),
            ],
            Write::RemovePublication { etag } => vec![("etag", etag)],
            Write::PutSubscription(s) => {
                if !SUBSCRIPTION_STATES.contains(&s.state.as_str()) {
                    return Err(invalid("state", "not pending, active or terminated"));
                }
                let mut t = vec![
                    ("id", s.id.as_str()),
                    ("event", &s.event),
                    ("presentity", &s.presentity),
                    ("watcher", &s.watcher),
                    ("call_id", &s.call_id),
                    ("local_tag", &s.local_tag),
                    ("remote_tag", &s.remote_tag),
                    ("contact", &s.contact),
                    ("transport", &s.transport),
                    ("peer", &s.peer),
                ];
                t.extend(s.route_set.iter().map(|r| ("route_set", r.as_str())));
                t
            }
            Write::RemoveSubscription { id } => vec![("id", id)],
            Write::PutRule(r) => {
                if !RULE_ACTIONS.contains(&r.action.as_str()) {
                    return Err(invalid(
                        "action",
                        "not allow, block, polite-block or confirm",
                    ));
                }
                vec![("presentity", &r.presentity), ("watcher", &r.watcher)]
            }
            Write::RemoveRule {
                presentity,
                watcher,
            } => vec![("presentity", presentity), ("watcher", watcher)],
        };
        match texts.iter().find(|(_, v)| v.contains('\0')) {
            Some((field, _)) => Err(invalid(field, "contains U+0000")),
            None => Ok(()),
        }
    }
}

/// What went wrong in the store. Nothing here is the SIP peer's fault, so
/// every variant maps to a 5xx ([`StoreError::status`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store URL {0:?} is neither sqlite:FILE nor postgres://...")]
    Scheme(String),
    #[error("cannot open the store at {url}: {source}")]
    Open {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot bring the store schema at {url} up to date: {source}")]
    Migrate {
        url: String,
        #[source]
        source: MigrateError,
    },
    #[error("store: {0}")]
    Database(#[from] sqlx::Error),
    /// The database turned down this one write (a constraint, a value it
    /// cannot hold); retrying it would fail again.
    #[error("the store refused to write {write}: {source}")]
    Rejected {
        write: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot store {write}: {field} is {reason}")]
    Invalid {
        write: String,
        field: &'static str,
        reason: &'static str,
    },
    #[error("stored {table} row {key:?} has a corrupt {column}: {reason}")]
    Corrupt {
        table: &'static str,
        key: String,
        column: &'static str,
        reason: String,
    },
    #[error("the store write queue is full ({0} writes waiting)")]
    QueueFull(usize),
    #[error("the store writer stopped with {lost} writes it could not commit: {reason}")]
    Unflushed { lost: usize, reason: String },
    #[error("the store writer has stopped")]
    WriterStopped,
    #[error("the store writer must be started inside a tokio runtime")]
    NoRuntime,
}

impl StoreError {
    /// The status a request that needed this write is answered with: 503
    /// (RFC 3261 §21.5.4) when the store is only overloaded and a retry may
    /// succeed, 500 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            StoreError::QueueFull(_) => 503,
            _ => 500,
        }
    }
}

/// What [`Store::remove_expired`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expired {
    pub publications: u64,
    pub subscriptions: u64,
}

/// A connection pool to one of the two backends. Cloning is cheap and
/// shares the pool.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the pool of whichever backend `$store`
/// is; the body is compiled once per backend, so one SQL text serves both.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite($pool) => $body,
            Store::Postgres($pool) => $body,
        }
    };
}

/// The statement that performs one [`Write`], parameters bound.
macro_rules! write_query {
    ($write:expr) => {
        match $write {
            Write::PutPublication(p) => publication_query!(p),
            Write::RemovePublication { etag } => sqlx::query(sql::REMOVE_PUBLICATION).bind(etag),
            Write::PutSubscription(s) => subscription_query!(s),
            Write::RemoveSubscription { id } => sqlx::query(sql::REMOVE_SUBSCRIPTION).bind(id),
            Write::PutRule(r) => rule_query!(r),
            Write::RemoveRule {
                presentity,
                watcher,
            } => sqlx::query(sql::REMOVE_RULE).bind(presentity).bind(watcher),
        }
    };
}

macro_rules! publication_query {
    ($p:expr) => {
        sqlx::query(sql::PUT_PUBLICATION)
            .bind(&$p.etag)
            .bind(&$p.presentity)
            .bind(&$p.event)
            .bind(&$p.content_type)
            .bind(&$p.body)
            .bind($p.expires_at_ms)
            .bind($p.created_seq)
    };
}

macro_rules! subscription_query {
    ($s:expr) => {
        sqlx::query(sql::PUT_SUBSCRIPTION)
            .bind(&$s.id)
            .bind(&$s.event)
            .bind(&$s.presentity)
            .bind(&$s.watcher)
            .bind(&$s.call_id)
            .bind(&$s.local_tag)
            .bind(&$s.remote_tag)
            .bind($s.local_cseq)
            .bind($s.remote_cseq)
            .bind(encode_route_set(&$s.route_set))
            .bind(&$s.contact)
            .bind(&$s.transport)
            .bind(&$s.peer)
            .bind($s.expires_at_ms)
            .bind(&$s.state)
            .bind($s.created_ms)
    };
}

macro_rules! rule_query {
    ($r:expr) => {
        sqlx::query(sql::PUT_RULE)
            .bind(&$r.presentity)
            .bind(&$r.watcher)
            .bind(&$r.action)
    };
}

/// A failed transaction: the error, and which write's statement it came
/// from (none when it was the connection, `BEGIN` or `COMMIT`).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) write: Option<usize>,
    pub(crate) error: sqlx::Error,
}

impl Failure {
    /// Whether the database refused this statement for what it carries, so
    /// that it would refuse it again: an error the server attributes to the
    /// statement, outside the classes that mean "busy, try again".
    pub(crate) fn is_rejection(&self) -> bool {
        let (Some(_), sqlx::Error::Database(e)) = (self.write, &self.error) else {
            return false;
        };
        let code = e.code().map(|c| c.into_owned()).unwrap_or_default();
        match e.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
            // SQLite: BUSY, LOCKED, NOMEM, IOERR, FULL, PROTOCOL are the
            // database's state, not the row's (primary result codes).
            Some(_) => {
                let primary = code.parse::<i64>().map(|c| c & 0xff).unwrap_or(0);
                !matches!(primary, 5 | 6 | 7 | 10 | 13 | 15)
            }
            // PostgreSQL SQLSTATE classes 08 connection, 40 rollback
            // (deadlock, serialization), 53 resources, 57 operator
            // intervention, 58 system error.
            None => !["08", "40", "53", "57", "58"]
                .iter()
                .any(|class| code.starts_with(class)),
        }
    }
}

impl Store {
    /// Connects to the store at `url` and brings its schema up to date.
    /// A SQLite file is created if missing and runs in WAL mode with full
    /// fsync on commit: the batch writer commits rarely, so durability is
    /// cheap.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let shown = redact(url);
        let open_error = |source| StoreError::Open {
            url: shown.clone(),
            source,
        };
        let migrate_error = |source| StoreError::Migrate {
            url: shown.clone(),
            source,
        };
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(open_error)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(5));
            // An in-memory database lives as long as one of its connections
            // does and is shared through SQLite's shared cache, where a second
            // connection fails with SQLITE_LOCKED instead of waiting: keep
            // exactly one connection, forever.
            let memory = url.contains(":memory:") || url.contains("mode=memory");
            let pool = if memory {
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
            } else {
                SqlitePoolOptions::new().max_connections(4)
            }
            .connect_with(options)
            .await
            .map_err(open_error)?;
            sqlx::migrate!("./migrations/sqlite")
                .run(&pool)
                .await
                .map_err(migrate_error)?;
            Ok(Store::Sqlite(pool))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).map_err(open_error)?;
            // The pool retries a refused connection until its acquire
            // timeout; one plain connection first makes a wrong URL or a
            // database that is down fail the start at once, saying why.
            PgConnection::connect_with(&options)
                .await
                .map_err(open_error)?
                .close()
                .await
                .map_err(open_error)?;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(open_error)?;
            sqlx::migrate!("./migrations/postgres")
                .run(&pool)
                .await
                .map_err(migrate_error)?;
            Ok(Store::Postgres(pool))
        } else {
            Err(StoreError::Scheme(shown))
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool's connections; later calls fail.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    /// Commits `writes` in one transaction, in order: all of them or none.
    pub async fn apply(&self, writes: &[Write]) -> Result<(), StoreError> {
        for w in writes {
            w.validate()?;
        }
        self.commit(writes).await.map_err(|f| match f.write {
            Some(i) if f.is_rejection() => StoreError::Rejected {
                write: writes
                    .get(i)
                    .map(|w| w.key().to_string())
                    .unwrap_or_default(),
                source: f.error,
            },
            _ => StoreError::Database(f.error),
        })
    }

    /// One transaction, no validation: the batch writer validated each
    /// write as it was queued.
    pub(crate) async fn commit(&self, writes: &[Write]) -> Result<(), Failure> {
        let whole = |error| Failure { write: None, error };
        on_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(whole)?;
            for (i, w) in writes.iter().enumerate() {
                write_query!(w)
                    .execute(&mut *tx)
                    .await
                    .map_err(|error| Failure { write: Some(i), error })?;
            }
            tx.commit().await.map_err(whole)
        })
    }

    pub async fn put_publication(&self, p: &Publication) -> Result<(), StoreError> {
        Write::PutPublication(p.clone()).validate()?;
        on_pool!(self, pool => publication_query!(p).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Whether there was such a publication.
    pub async fn remove_publication(&self, etag: &str) -> Result<bool, StoreError> {
        let done = on_pool!(self, pool => sqlx::query(sql::REMOVE_PUBLICATION)
            .bind(etag)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// The presentity's publications, oldest `created_seq` first.
    pub async fn publications(&self, presentity: &str) -> Result<Vec<Publication>, StoreError> {
        on_pool!(self, pool => {
            let rows = sqlx::query(sql::PUBLICATIONS_OF)
                .bind(presentity)
                .fetch_all(pool)
                .await?;
            rows.iter().map(publication_from).collect()
        })
    }

    /// Every publication, oldest `created_seq` first.
    pub async fn all_publications(&self) -> Result<Vec<Publication>, StoreError> {
        on_pool!(self, pool => {
            let rows = sqlx::query(sql::ALL_PUBLICATIONS).fetch_all(pool).await?;
            rows.iter().map(publication_from).collect()
        })
    }

    /// The highest `created_seq` stored, so that a restarted node numbers
    /// new publications after the ones it resumes.
    pub async fn max_publication_seq(&self) -> Result<Option<i64>, StoreError> {
        let max = on_pool!(self, pool => sqlx::query_scalar::<_, Option<i64>>(sql::MAX_SEQ)
            .fetch_one(pool)
            .await)?;
        Ok(max)
    }

    pub async fn put_subscription(&self, s: &Subscription) -> Result<(), StoreError> {
        Write::PutSubscription(s.clone()).validate()?;
        on_pool!(self, pool => subscription_query!(s).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Whether there was such a subscription.
    pub async fn remove_subscription(&self, id: &str) -> Result<bool, StoreError> {
        let done = on_pool!(self, pool => sqlx::query(sql::REMOVE_SUBSCRIPTION)
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    pub async fn subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError> {
        on_pool!(self, pool => {
            let row = sqlx::query(sql::SUBSCRIPTION)
                .bind(id)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(subscription_from).transpose()
        })
    }

    /// Every subscription, oldest first.
    pub async fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        on_pool!(self, pool => {
            let rows = sqlx::query(sql::ALL_SUBSCRIPTIONS).fetch_all(pool).await?;
            rows.iter().map(subscription_from).collect()
        })
    }

    pub async fn put_rule(&self, r: &AuthRule) -> Result<(), StoreError> {
        Write::PutRule(r.clone()).validate()?;
        on_pool!(self, pool => rule_query!(r).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Whether there was such a rule.
    pub async fn remove_rule(&self, presentity: &str, watcher: &str) -> Result<bool, StoreError> {
        let done = on_pool!(self, pool => sqlx::query(sql::REMOVE_RULE)
            .bind(presentity)
            .bind(watcher)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// The presentity's rules, by watcher (bytewise).
    pub async fn rules(&self, presentity: &str) -> Result<Vec<AuthRule>, StoreError> {
        on_pool!(self, pool => {
            let rows = sqlx::query(sql::RULES_OF)
                .bind(presentity)
                .fetch_all(pool)
                .await?;
            rows.iter().map(rule_from).collect()
        })
    }

    /// Every authorization rule, by presentity then watcher.
    pub async fn all_rules(&self) -> Result<Vec<AuthRule>, StoreError> {
        on_pool!(self, pool => {
            let rows = sqlx::query(sql::ALL_RULES).fetch_all(pool).await?;
            rows.iter().map(rule_from).collect()
        })
    }

    /// Removes the publications and subscriptions whose expiry is at or
    /// before `now_ms`, in one transaction.
    pub async fn remove_expired(&self, now_ms: i64) -> Result<Expired, StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let publications = sqlx::query(sql::EXPIRE_PUBLICATIONS)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let subscriptions = sqlx::query(sql::EXPIRE_SUBSCRIPTIONS)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok(Expired {
                publications,
                subscriptions,
            })
        })
    }
}

/// Column access shared by both backends' rows, so that each row decoder is
/// written once.
trait StoreRow {
    fn text(&self, column: &str) -> Result<String, sqlx::Error>;
    fn int(&self, column: &str) -> Result<i64, sqlx::Error>;
    fn bytes(&self, column: &str) -> Result<Vec<u8>, sqlx::Error>;
}

macro_rules! store_row {
    ($row:ty) => {
        impl StoreRow for $row {
            fn text(&self, column: &str) -> Result<String, sqlx::Error> {
                self.try_get(column)
            }
            fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
                self.try_get(column)
            }
            fn bytes(&self, column: &str) -> Result<Vec<u8>, sqlx::Error> {
                self.try_get(column)
            }
        }
    };
}

store_row!(SqliteRow);
store_row!(PgRow);

fn publication_from(row: &impl StoreRow) -> Result<Publication, StoreError> {
    Ok(Publication {
        etag: row.text("etag")?,
        presentity: row.text("presentity")?,
        event: row.text("event")?,
        content_type: row.text("content_type")?,
        body: row.bytes("body")?,
        expires_at_ms: row.int("expires_at_ms")?,
        created_seq: row.int("created_seq")?,
    })
}

fn subscription_from(row: &impl StoreRow) -> Result<Subscription, StoreError> {
    let id = row.text("id")?;
    let route_set =
        decode_route_set(&row.text("route_set")?).map_err(|reason| StoreError::Corrupt {
            table: "subscriptions",
            key: id.clone(),
            column: "route_set",
            reason,
        })?;
    Ok(Subscription {
        event: row.text("event")?,
        presentity: row.text("presentity")?,
        watcher: row.text("watcher")?,
        call_id: row.text("call_id")?,
        local_tag: row.text("local_tag")?,
        remote_tag: row.text("remote_tag")?,
        local_cseq: row.int("local_cseq")?,
        remote_cseq: row.int("remote_cseq")?,
        route_set,
        contact: row.text("contact")?,
        transport: row.text("transport")?,
        peer: row.text("peer")?,
        expires_at_ms: row.int("expires_at_ms")?,
        state: row.text("state")?,
        created_ms: row.int("created_ms")?,
        id,
    })
}

fn rule_from(row: &impl StoreRow) -> Result<AuthRule, StoreError> {
    Ok(AuthRule {
        presentity: row.text("presentity")?,
        watcher: row.text("watcher")?,
        action: row.text("action")?,
    })
}

/// The route set as netstrings (`LEN:VALUE,` per entry, LEN in bytes): one
/// text column both backends hold, and lossless for any value — a Route
/// value may itself contain commas (in a quoted display name) and a
/// separator could not tell an empty list from one empty entry.
fn encode_route_set(routes: &[String]) -> String {
    let mut out = String::new();
    for r in routes {
        out.push_str(&r.len().to_string());
        out.push(':');
        out.push_str(r);
        out.push(',');
    }
    out
}

fn decode_route_set(mut s: &str) -> Result<Vec<String>, String> {
    let mut routes = Vec::new();
    while !s.is_empty() {
        let (len, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("no ':' after a length at {s:?}"))?;
        let len: usize = len
            .parse()
            .map_err(|_| format!("{len:?} is not a length"))?;
        let value = rest
            .get(..len)
            .ok_or_else(|| format!("entry of {len} bytes is cut short"))?;
        s = rest[len..]
            .strip_prefix(',')
            .ok_or_else(|| format!("no ',' after the entry {value:?}"))?;
        routes.push(value.to_string());
    }
    Ok(routes)
}

/// The URL with any password replaced, fit for logs and error messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_string(),
    }
}

/// The statements, in the dialect both SQLite (3.24+) and PostgreSQL accept.
mod sql {
    pub const PUT_PUBLICATION: &str = "INSERT INTO publications \
        (etag, presentity, event, content_type, body, expires_at_ms, created_seq) \
        VALUES ($1, $2, $3, $4, $5, $6, $7) \
        ON CONFLICT (etag) DO UPDATE SET presentity = excluded.presentity, \
        event = excluded.event, content_type = excluded.content_type, body = excluded.body, \
        expires_at_ms = excluded.expires_at_ms, created_seq = excluded.created_seq";
    pub const REMOVE_PUBLICATION: &str = "DELETE FROM publications WHERE etag = $1";
    macro_rules! publication_columns {
        () => {
            "etag, presentity, event, content_type, body, expires_at_ms, created_seq"
        };
    }
    pub const PUBLICATIONS_OF: &str = concat!(
        "SELECT ",
        publication_columns!(),
        " FROM publications WHERE presentity = $1 ORDER BY created_seq, etag"
    );
    pub const ALL_PUBLICATIONS: &str = concat!(
        "SELECT ",
        publication_columns!(),
        " FROM publications ORDER BY created_seq, etag"
    );
    pub const MAX_SEQ: &str = "SELECT MAX(created_seq) FROM publications";
    pub const EXPIRE_PUBLICATIONS: &str = "DELETE FROM publications WHERE expires_at_ms <= $1";

    pub const PUT_SUBSCRIPTION: &str = "INSERT INTO subscriptions \
        (id, event, presentity, watcher, call_id, local_tag, remote_tag, local_cseq, \
        remote_cseq, route_set, contact, transport, peer, expires_at_ms, state, created_ms) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
        ON CONFLICT (id) DO UPDATE SET event = excluded.event, \
        presentity = excluded.presentity, watcher = excluded.watcher, \
        call_id = excluded.call_id, local_tag = excluded.local_tag, \
        remote_tag = excluded.remote_tag, local_cseq = excluded.local_cseq, \
        remote_cseq = excluded.remote_cseq, route_set = excluded.route_set, \
        contact = excluded.contact, transport = excluded.transport, peer = excluded.peer, \
        expires_at_ms = excluded.expires_at_ms, state = excluded.state, \
        created_ms = excluded.created_ms";
    pub const REMOVE_SUBSCRIPTION: &str = "DELETE FROM subscriptions WHERE id = $1";
    macro_rules! subscription_columns {
        () => {
            "id, event, presentity, watcher, call_id, local_tag, remote_tag, local_cseq, \
            remote_cseq, route_set, contact, transport, peer, expires_at_ms, state, created_ms"
        };
    }
    pub const SUBSCRIPTION: &str = concat!(
        "SELECT ",
        subscription_columns!(),
        " FROM subscriptions WHERE id = $1"
    );
    pub const ALL_SUBSCRIPTIONS: &str = concat!(
        "SELECT ",
        subscription_columns!(),
        " FROM subscriptions ORDER BY created_ms, id"
    );
    pub const EXPIRE_SUBSCRIPTIONS: &str = "DELETE FROM subscriptions WHERE expires_at_ms <= $1";

    pub const PUT_RULE: &str = "INSERT INTO auth_rules (presentity, watcher, action) \
        VALUES ($1, $2, $3) \
        ON CONFLICT (presentity, watcher) DO UPDATE SET action = excluded.action";
    pub const REMOVE_RULE: &str = "DELETE FROM auth_rules WHERE presentity = $1 AND watcher = $2";
    pub const RULES_OF: &str = "SELECT presentity, watcher, action FROM auth_rules \
        WHERE presentity = $1 ORDER BY watcher";
    pub const ALL_RULES: &str =
        "SELECT presentity, watcher, action FROM auth_rules ORDER BY presentity, watcher";
}

#[cfg(test)]
mod tests;
