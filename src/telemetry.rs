//! Measured presence: every presence exchange is a latency transaction with
//! a correlator, started when its trigger happens and finished when its
//! answer arrives or it times out (the instrumentation idea of DESIGN.md).
//! Finished transactions become [`Record`]s for the consumers: the metrics
//! facade (Prometheus histograms), the latest records for the admin API,
//! and an optional CSV file.
//!
//! The tracker is sans-io: times are milliseconds given by the caller.
//! Metric names live here, in one place.

use std::collections::{HashMap, VecDeque};
use std::fmt;

/// Metric names (Prometheus), described once in [`describe`].
pub mod names {
    pub const NOTIFICATION_LATENCY: &str = "presencecloud_notification_latency_seconds";
    pub const SUBSCRIPTION_LATENCY: &str = "presencecloud_subscription_latency_seconds";
    pub const SEARCH_LATENCY: &str = "presencecloud_search_latency_seconds";
    pub const PROBE_RTT: &str = "presencecloud_probe_rtt_seconds";
    pub const REQUESTS: &str = "presencecloud_requests_total";
    pub const RESPONSES: &str = "presencecloud_responses_total";
    pub const DIALOGS: &str = "presencecloud_subscriptions";
    pub const PUBLICATIONS: &str = "presencecloud_publications";
    pub const TRANSACTIONS_TIMED_OUT: &str = "presencecloud_latency_transactions_timed_out_total";
    pub const FORWARDED: &str = "presencecloud_forwarded_requests_total";
    pub const FORWARDED_RESPONSES: &str = "presencecloud_forwarded_responses_total";
    pub const BACKEND_SUBSCRIBES: &str = "presencecloud_backend_subscribes_total";
    pub const BACKEND_SUBSCRIPTIONS: &str = "presencecloud_backend_subscriptions";
    pub const CROSS_DOMAIN_NOTIFIES: &str = "presencecloud_cross_domain_notifies_total";
    pub const CLOUD_MESSAGES: &str = "presencecloud_cloud_messages_total";
    pub const CLOUD_SEARCH_MESSAGES: &str = "presencecloud_cloud_search_messages";
    pub const CLOUD_AGGREGATED: &str = "presencecloud_cloud_aggregated_subscriptions";
    pub const CLOUD_CACHE_DELTAS: &str = "presencecloud_cloud_cache_deltas_total";
    pub const CLOUD_CACHE_RESYNCS: &str = "presencecloud_cloud_cache_resyncs_total";
}

/// Registers the descriptions of every metric with the installed recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        names::NOTIFICATION_LATENCY,
        metrics::Unit::Seconds,
        "PUBLISH accepted to the watcher's 2xx to the NOTIFY carrying it, per watcher"
    );
    describe_histogram!(
        names::SUBSCRIPTION_LATENCY,
        metrics::Unit::Seconds,
        "SUBSCRIBE received to the 2xx to its first NOTIFY"
    );
    describe_histogram!(
        names::SEARCH_LATENCY,
        metrics::Unit::Seconds,
        "inter-node search query to reply, per peer"
    );
    describe_histogram!(
        names::PROBE_RTT,
        metrics::Unit::Seconds,
        "inter-node PING to PONG, per peer"
    );
    describe_counter!(names::REQUESTS, "SIP requests received, by method");
    describe_counter!(names::RESPONSES, "SIP responses sent, by status code");
    describe_gauge!(names::DIALOGS, "presence subscriptions held");
    describe_gauge!(names::PUBLICATIONS, "publications held");
    describe_counter!(
        names::FORWARDED,
        "requests forwarded by the proxy face, by method"
    );
    describe_counter!(
        names::FORWARDED_RESPONSES,
        "responses relayed upstream by the proxy face, by class (1xx..6xx)"
    );
    describe_counter!(
        names::BACKEND_SUBSCRIBES,
        "back-end SUBSCRIBEs sent to other domains' servers (kind: subscribe or refresh, end)"
    );
    describe_gauge!(
        names::BACKEND_SUBSCRIPTIONS,
        "back-end subscriptions held with other domains (one per remote presentity watched here)"
    );
    describe_counter!(
        names::CROSS_DOMAIN_NOTIFIES,
        "NOTIFYs of other domains' servers received (in) and NOTIFYs to other domains' subscribers sent (out)"
    );
    describe_counter!(
        names::CLOUD_MESSAGES,
        "messages between PresenceCloud nodes, by type and direction (in, out)"
    );
    describe_histogram!(
        names::CLOUD_SEARCH_MESSAGES,
        "search messages sent per directed search (k-1 on a grid of side k)"
    );
    describe_gauge!(
        names::CLOUD_AGGREGATED,
        "presentities watched here with a subscription at a remote home (one each, whatever the number of watchers)"
    );
    describe_counter!(
        names::CLOUD_CACHE_DELTAS,
        "one-hop cache deltas (attach, state, detach), by direction"
    );
    describe_counter!(
        names::CLOUD_CACHE_RESYNCS,
        "one-hop cache resync requests after a gap, by direction"
    );
    describe_counter!(
        names::TRANSACTIONS_TIMED_OUT,
        "latency transactions that ended without an answer, by kind"
    );
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// PUBLISH accepted → NOTIFY 2xx, per watcher.
    Notification,
    /// SUBSCRIBE received → first NOTIFY 2xx.
    Subscription,
    /// Inter-node query → reply, per peer.
    Search,
    /// Periodic PING → PONG between overlay peers.
    Probe,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Notification => "notification",
            Kind::Subscription => "subscription",
            Kind::Search => "search",
            Kind::Probe => "probe",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "notification" => Kind::Notification,
            "subscription" => Kind::Subscription,
            "search" => Kind::Search,
            "probe" => Kind::Probe,
            _ => return None,
        })
    }

    fn metric(self) -> &'static str {
        match self {
            Kind::Notification => names::NOTIFICATION_LATENCY,
            Kind::Subscription => names::SUBSCRIPTION_LATENCY,
            Kind::Search => names::SEARCH_LATENCY,
            Kind::Probe => names::PROBE_RTT,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A finished latency transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: Kind,
    /// The node that measured it.
    pub origin: String,
    /// The watcher, or the peer node.
    pub peer: String,
    /// The answer's status (a SIP status, or 0 for none).
    pub status: u16,
    /// Finished by an answer (true) or a timeout (false).
    pub completed: bool,
    pub correlator: String,
    /// Wall-clock milliseconds when it started.
    pub started_ms: u64,
    pub duration_ms: u64,
}

impl Record {
    /// The CSV columns, in order (see [`Record::csv_row`]).
    pub const CSV_HEADER: &'static str =
        "started_ms,kind,origin,peer,status,completed,correlator,duration_ms";

    pub fn csv_row(&self) -> String {
        let field = |s: &str| {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        format!(
            "{},{},{},{},{},{},{},{}",
            self.started_ms,
            self.kind,
            field(&self.origin),
            field(&self.peer),
            self.status,
            self.completed,
            field(&self.correlator),
            self.duration_ms
        )
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": self.kind.as_str(),
            "origin": self.origin,
            "peer": self.peer,
            "status": self.status,
            "completed": self.completed,
            "correlator": self.correlator,
            "started_ms": self.started_ms,
            "duration_ms": self.duration_ms,
        })
    }

    /// Feeds the metrics facade.
    pub fn observe(&self) {
        if self.completed {
            metrics::histogram!(self.kind.metric(), "peer" => peer_label(self))
                .record(self.duration_ms as f64 / 1000.0);
        } else {
            metrics::counter!(names::TRANSACTIONS_TIMED_OUT, "kind" => self.kind.as_str())
                .increment(1);
        }
    }
}

/// Only the probe histogram is labelled by peer (a bounded set of nodes);
/// watchers are too many to be labels.
fn peer_label(r: &Record) -> String {
    match r.kind {
        Kind::Probe | Kind::Search => r.peer.clone(),
        _ => String::new(),
    }
}

#[derive(Debug, Clone)]
struct Open {
    kind: Kind,
    peer: String,
    started: u64,
}

/// Open transactions and the latest finished ones.
#[derive(Debug)]
pub struct Tracker {
    origin: String,
    open: HashMap<String, Open>,
    latest: VecDeque<Record>,
    keep: usize,
    timeout_ms: u64,
}

impl Tracker {
    /// `keep`: how many finished records the API can show; transactions
    /// open longer than `timeout_ms` finish as timed out.
    pub fn new(origin: impl Into<String>, keep: usize, timeout_ms: u64) -> Self {
        Tracker {
            origin: origin.into(),
            open: HashMap::new(),
            latest: VecDeque::with_capacity(keep.min(4096)),
            keep,
            timeout_ms,
        }
    }

    /// Starts a transaction; a correlator already open keeps its start (the
    /// earliest trigger is what the watcher waited from).
    pub fn start(
        &mut self,
        now: u64,
        kind: Kind,
        correlator: impl Into<String>,
        peer: impl Into<String>,
    ) {
        self.open.entry(correlator.into()).or_insert(Open {
            kind,
            peer: peer.into(),
            started: now,
        });
    }

    /// Finishes a transaction with its answer; None if none is open.
    pub fn finish(&mut self, now: u64, correlator: &str, status: u16) -> Option<Record> {
        let o = self.open.remove(correlator)?;
        Some(self.record(o, correlator.to_string(), now, status, true))
    }

    /// Finishes a transaction whose answer never came (its SIP transaction
    /// timed out).
    pub fn time_out(&mut self, now: u64, correlator: &str) -> Option<Record> {
        let o = self.open.remove(correlator)?;
        Some(self.record(o, correlator.to_string(), now, 0, false))
    }

    pub fn is_open(&self, correlator: &str) -> bool {
        self.open.contains_key(correlator)
    }

    /// Finishes as timed out every transaction open longer than the timeout.
    pub fn expire(&mut self, now: u64) -> Vec<Record> {
        let late: Vec<String> = self
            .open
            .iter()
            .filter(|(_, o)| now.saturating_sub(o.started) >= self.timeout_ms)
            .map(|(k, _)| k.clone())
            .collect();
        late.into_iter()
            .filter_map(|k| {
                let o = self.open.remove(&k)?;
                Some(self.record(o, k, now, 0, false))
            })
            .collect()
    }

    /// Abandons a transaction (its subject went away); no record.
    pub fn cancel(&mut self, correlator: &str) {
        self.open.remove(correlator);
    }

    fn record(
        &mut self,
        o: Open,
        correlator: String,
        now: u64,
        status: u16,
        completed: bool,
    ) -> Record {
        let r = Record {
            kind: o.kind,
            origin: self.origin.clone(),
            peer: o.peer,
            status,
            completed,
            correlator,
            started_ms: o.started,
            duration_ms: now.saturating_sub(o.started),
        };
        self.keep(r.clone());
        r
    }

    /// Keeps a record measured elsewhere (the overlay measures searches
    /// and probes itself) for the API.
    pub fn keep(&mut self, r: Record) {
        if self.keep > 0 {
            if self.latest.len() == self.keep {
                self.latest.pop_front();
            }
            self.latest.push_back(r);
        }
    }

    /// The latest finished records, newest last, optionally of one kind.
    pub fn latest(&self, kind: Option<Kind>) -> Vec<Record> {
        self.latest
            .iter()
            .filter(|r| kind.is_none_or(|k| r.kind == k))
            .cloned()
            .collect()
    }

    pub fn open(&self) -> usize {
        self.open.len()
    }
}

/// Why a records file (or a record of the admin API) cannot be read back:
/// the line (or the position in the list, from 1) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    pub line: usize,
    pub reason: String,
}

impl Record {
    /// Reads back a records file: [`Record::CSV_HEADER`] on the first line,
    /// then one [`Record::csv_row`] per record (a quoted field may span
    /// lines; the error names the line its record starts on). Blank lines
    /// are skipped; an empty file holds no records.
    pub fn parse_csv(text: &str) -> Result<Vec<Record>, ParseError> {
        let rows = csv_rows(text)?;
        let mut rows = rows.into_iter();
        let Some((line, header)) = rows.next() else {
            return Ok(Vec::new());
        };
        if header.join(",") != Self::CSV_HEADER {
            return Err(ParseError {
                line,
                reason: format!(
                    "not a records file: the header must be {}",
                    Self::CSV_HEADER
                ),
            });
        }
        rows.map(|(line, fields)| {
            Record::from_fields(&fields).map_err(|reason| ParseError { line, reason })
        })
        .collect()
    }

    /// One record of `GET /api/transactions` (the inverse of
    /// [`Record::to_json`]).
    pub fn from_json(v: &serde_json::Value) -> Result<Record, String> {
        let field = |name: &str| v.get(name).ok_or_else(|| format!("{name}: missing"));
        let text = |name: &str| -> Result<String, String> {
            field(name)?
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("{name}: not a string"))
        };
        let number = |name: &str| -> Result<u64, String> {
            field(name)?
                .as_u64()
                .ok_or_else(|| format!("{name}: not a whole number"))
        };
        let kind = text("kind")?;
        Ok(Record {
            kind: Kind::parse(&kind).ok_or_else(|| format!("kind: unknown {kind:?}"))?,
            origin: text("origin")?,
            peer: text("peer")?,
            status: u16::try_from(number("status")?)
                .map_err(|_| "status: out of range".to_string())?,
            completed: field("completed")?
                .as_bool()
                .ok_or("completed: not true or false")?,
            correlator: text("correlator")?,
            started_ms: number("started_ms")?,
            duration_ms: number("duration_ms")?,
        })
    }

    /// The fields of one CSV row, in [`Record::CSV_HEADER`] order.
    fn from_fields(f: &[String]) -> Result<Record, String> {
        let columns: Vec<&str> = Self::CSV_HEADER.split(',').collect();
        if f.len() != columns.len() {
            return Err(format!(
                "{} fields where {} are expected ({})",
                f.len(),
                columns.len(),
                Self::CSV_HEADER
            ));
        }
        fn number<T: std::str::FromStr>(name: &str, s: &str) -> Result<T, String> {
            s.parse()
                .map_err(|_| format!("{name}: {s:?} is not a whole number"))
        }
        Ok(Record {
            started_ms: number("started_ms", &f[0])?,
            kind: Kind::parse(&f[1]).ok_or_else(|| format!("kind: unknown {:?}", f[1]))?,
            origin: f[2].clone(),
            peer: f[3].clone(),
            status: number("status", &f[4])?,
            completed: match f[5].as_str() {
                "true" => true,
                "false" => false,
                other => return Err(format!("completed: {other:?} is not true or false")),
            },
            correlator: f[6].clone(),
            duration_ms: number("duration_ms", &f[7])?,
        })
    }
}

/// Splits CSV text into rows of fields, each with the line it starts on:
/// fields are separated by commas, quoted with `"` when they hold a comma,
/// a quote (doubled) or a line break, as [`Record::csv_row`] writes them.
fn csv_rows(text: &str) -> Result<Vec<(usize, Vec<String>)>, ParseError> {
    let mut rows = Vec::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let start = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        // one row
        loop {
            match chars.next() {
                None => {
                    fields.push(std::mem::take(&mut field));
                    break;
                }
                Some('\n') => {
                    line += 1;
                    fields.push(std::mem::take(&mut field));
                    break;
                }
                Some('\r') if chars.peek() == Some(&'\n') => {}
                Some(',') => {
                    fields.push(std::mem::take(&mut field));
                    quoted = false;
                }
                Some('"') if field.is_empty() && !quoted => {
                    quoted = true;
                    // up to the closing quote; "" is a quote
                    loop {
                        match chars.next() {
                            None => {
                                return Err(ParseError {
                                    line: start,
                                    reason: "a quoted field is not closed".into(),
                                });
                            }
                            Some('"') if chars.peek() == Some(&'"') => {
                                chars.next();
                                field.push('"');
                            }
                            Some('"') => break,
                            Some(c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                field.push(c);
                            }
                        }
                    }
                    if !matches!(chars.peek(), None | Some(',' | '\n' | '\r')) {
                        return Err(ParseError {
                            line,
                            reason: "text after a closing quote".into(),
                        });
                    }
                }
                Some('"') => {
                    return Err(ParseError {
                        line,
                        reason: "a quote inside an unquoted field".into(),
                    });
                }
                Some(c) => field.push(c),
            }
        }
        let blank = fields.len() == 1 && fields[0].is_empty() && !quoted;
        if !blank {
            rows.push((start, fields));
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_measures_from_trigger_to_answer() {
        let mut t = Tracker::new("n1", 10, 30_000);
        t.start(1_000, Kind::Notification, "c1", "sip:bob@example.com");
        // a second trigger before the answer keeps the first start
        t.start(1_200, Kind::Notification, "c1", "sip:bob@example.com");
        let r = t.finish(1_350, "c1", 200).unwrap();
        assert_eq!((r.duration_ms, r.status, r.completed), (350, 200, true));
        assert_eq!(r.origin, "n1");
        assert!(t.finish(1_400, "c1", 200).is_none(), "finished once");
    }

    #[test]
    fn unanswered_transactions_time_out() {
        let mut t = Tracker::new("n1", 10, 1_000);
        t.start(0, Kind::Subscription, "s1", "w");
        assert!(t.expire(999).is_empty());
        let r = t.expire(1_000);
        assert_eq!(r.len(), 1);
        assert!(!r[0].completed);
        assert_eq!(t.open(), 0);
    }

    #[test]
    fn latest_keeps_a_bounded_window_and_filters_by_kind() {
        let mut t = Tracker::new("n1", 3, 1_000);
        for k in 0..5 {
            t.start(k, Kind::Notification, format!("c{k}"), "w");
            t.finish(k + 1, &format!("c{k}"), 200);
        }
        t.start(10, Kind::Subscription, "s", "w");
        t.finish(12, "s", 200);
        let all = t.latest(None);
        assert_eq!(all.len(), 3);
        assert_eq!(all.last().unwrap().kind, Kind::Subscription);
        assert_eq!(t.latest(Some(Kind::Notification)).len(), 2);
    }

    #[test]
    fn csv_rows_quote_what_needs_it() {
        let r = Record {
            kind: Kind::Notification,
            origin: "n1".into(),
            peer: "\"Bob, B\" <sip:bob@example.com>".into(),
            status: 200,
            completed: true,
            correlator: "c1".into(),
            started_ms: 5,
            duration_ms: 7,
        };
        assert_eq!(
            r.csv_row(),
            "5,notification,n1,\"\"\"Bob, B\"\" <sip:bob@example.com>\",200,true,c1,7"
        );
        assert_eq!(
            Record::CSV_HEADER.split(',').count(),
            r.csv_row().split(',').count() - 1
        );
    }

    fn record(peer: &str, correlator: &str, duration_ms: u64) -> Record {
        Record {
            kind: Kind::Notification,
            origin: "127.0.0.1:5060".into(),
            peer: peer.into(),
            status: 200,
            completed: true,
            correlator: correlator.into(),
            started_ms: 1_700_000_000_000,
            duration_ms,
        }
    }

    #[test]
    fn csv_rows_read_back_as_written() {
        let mut timed_out = record("sip:w@example.com", "notify:a", 60_000);
        timed_out.kind = Kind::Subscription;
        timed_out.completed = false;
        timed_out.status = 0;
        let records = vec![
            record("\"Bob, B\" <sip:bob@example.com>", "c1", 7),
            record("line\nbreak", "c,2", 0),
            timed_out,
        ];
        let mut text = format!("{}\r\n", Record::CSV_HEADER);
        for r in &records {
            text.push_str(&r.csv_row());
            text.push('\n');
        }
        text.push('\n');
        assert_eq!(Record::parse_csv(&text).unwrap(), records);
        assert_eq!(Record::parse_csv("").unwrap(), vec![]);
        let json: Vec<Record> = records
            .iter()
            .map(|r| Record::from_json(&r.to_json()).unwrap())
            .collect();
        assert_eq!(json, records);
    }

    #[test]
    fn csv_errors_name_the_line() {
        let h = Record::CSV_HEADER;
        let good = record("w", "c", 1).csv_row();
        let err = |text: &str| Record::parse_csv(text).unwrap_err().to_string();
        assert_eq!(
            err("a,b\n"),
            format!("line 1: not a records file: the header must be {h}")
        );
        assert_eq!(
            err(&format!(
                "{h}\n{good}\n{},x\n",
                good.strip_suffix(",1").unwrap()
            )),
            "line 3: duration_ms: \"x\" is not a whole number"
        );
        // the record after a two-line field starts on line 4
        let two_lines = record("a\nb", "c", 1).csv_row();
        assert_eq!(
            err(&format!("{h}\n{two_lines}\n1,probe,n\n")),
            "line 4: 3 fields where 8 are expected (started_ms,kind,origin,peer,status,completed,correlator,duration_ms)"
        );
        assert_eq!(
            err(&format!(
                "{h}\n{}\n",
                good.replace("notification", "gossip")
            )),
            "line 2: kind: unknown \"gossip\""
        );
        assert_eq!(
            err(&format!("{h}\n{}\n", good.replace("true", "yes"))),
            "line 2: completed: \"yes\" is not true or false"
        );
        assert_eq!(
            err(&format!("{h}\n{good}\n1,probe,\"n")),
            "line 3: a quoted field is not closed"
        );
        assert_eq!(
            err(&format!("{h}\n1,probe,n\"x")),
            "line 2: a quote inside an unquoted field"
        );
        let mut v = record("w", "c", 1).to_json();
        v["duration_ms"] = serde_json::json!(-1);
        assert_eq!(
            Record::from_json(&v).unwrap_err(),
            "duration_ms: not a whole number"
        );
    }
}
