//! `presencecloud latency`: a report from the latency records, read from a
//! CSV records file ([`Record::parse_csv`]) or from the admin API's
//! `GET /api/transactions` ([`from_http`]). Per transaction kind: how many
//! records, how many completed and timed out, and the p50/p90/p99/max of
//! the completed ones' durations (a timed-out record's duration is the
//! timeout, not a latency, so it is counted but not ranked).
//!
//! Pure: the caller reads the file or the socket.

use crate::telemetry::{Kind, Record};

/// The kinds, in report order.
const KINDS: [Kind; 4] = [
    Kind::Notification,
    Kind::Subscription,
    Kind::Search,
    Kind::Probe,
];

/// The report line of one transaction kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub kind: Kind,
    pub count: usize,
    pub completed: usize,
    pub timed_out: usize,
    /// Nearest-rank percentiles of the completed durations, in
    /// milliseconds; None when none completed.
    pub p50_ms: Option<u64>,
    pub p90_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    pub max_ms: Option<u64>,
}

/// The nearest-rank percentile of ascending `sorted`: the smallest value
/// that at least `p` % of the values are less than or equal to, i.e. the
/// value of rank ⌈p/100 · n⌉ (from 1; rank 1 for p = 0). Always one of the
/// values, never an interpolation; None when there are none.
pub fn percentile(sorted: &[u64], p: u32) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p.min(100) as usize * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

/// One summary per kind that has records, in a fixed order (notification,
/// subscription, search, probe).
pub fn summarize(records: &[Record]) -> Vec<Summary> {
    KINDS
        .iter()
        .filter_map(|&kind| {
            let of_kind: Vec<&Record> = records.iter().filter(|r| r.kind == kind).collect();
            if of_kind.is_empty() {
                return None;
            }
            let mut done: Vec<u64> = of_kind
                .iter()
                .filter(|r| r.completed)
                .map(|r| r.duration_ms)
                .collect();
            done.sort_unstable();
            Some(Summary {
                kind,
                count: of_kind.len(),
                completed: done.len(),
                timed_out: of_kind.len() - done.len(),
                p50_ms: percentile(&done, 50),
                p90_ms: percentile(&done, 90),
                p99_ms: percentile(&done, 99),
                max_ms: done.last().copied(),
            })
        })
        .collect()
}

/// The report as a table, one line per kind under a header line; columns
/// are separated by spaces, a missing percentile is `-`.
pub fn render(summaries: &[Summary]) -> String {
    if summaries.is_empty() {
        return "no latency records\n".into();
    }
    let ms = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    let mut out = format!(
        "{:<12} {:>8} {:>9} {:>9} {:>7} {:>7} {:>7} {:>7}\n",
        "kind", "count", "completed", "timed_out", "p50_ms", "p90_ms", "p99_ms", "max_ms"
    );
    for s in summaries {
        out.push_str(&format!(
            "{:<12} {:>8} {:>9} {:>9} {:>7} {:>7} {:>7} {:>7}\n",
            s.kind.as_str(),
            s.count,
            s.completed,
            s.timed_out,
            ms(s.p50_ms),
            ms(s.p90_ms),
            ms(s.p99_ms),
            ms(s.max_ms)
        ));
    }
    out
}

/// The records of an admin API answer to `GET /api/transactions` (the
/// whole HTTP/1.1 response, as read until the server closed).
pub fn from_http(response: &[u8]) -> Result<Vec<Record>, String> {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("not an HTTP response (no end of header)")?;
    let status = head.lines().next().unwrap_or_default();
    let code = status
        .strip_prefix("HTTP/1.")
        .and_then(|s| s.get(2..5))
        .ok_or_else(|| format!("not an HTTP response: {status:?}"))?;
    if code != "200" {
        let why = body.lines().next().unwrap_or_default().trim();
        return Err(format!("the admin API answered {status:?}: {why}"));
    }
    let list: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("the records are not JSON: {e}"))?;
    let list = list.as_array().ok_or("the records are not a JSON list")?;
    list.iter()
        .enumerate()
        .map(|(i, v)| Record::from_json(v).map_err(|e| format!("record {}: {e}", i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: Kind, completed: bool, duration_ms: u64) -> Record {
        Record {
            kind,
            origin: "n1".into(),
            peer: "w".into(),
            status: if completed { 200 } else { 0 },
            completed,
            correlator: "c".into(),
            started_ms: 0,
            duration_ms,
        }
    }

    #[test]
    fn nearest_rank_percentiles_of_known_sets() {
        // The textbook example: 15, 20, 35, 40, 50.
        let five = [15, 20, 35, 40, 50];
        assert_eq!(percentile(&five, 5), Some(15));
        assert_eq!(percentile(&five, 30), Some(20));
        assert_eq!(percentile(&five, 40), Some(20));
        assert_eq!(percentile(&five, 50), Some(35));
        assert_eq!(percentile(&five, 90), Some(50));
        assert_eq!(percentile(&five, 100), Some(50));
        assert_eq!(percentile(&five, 0), Some(15));
        // 1..=10: p50 is the 5th value, p90 the 9th, p99 the 10th.
        let ten: Vec<u64> = (1..=10).collect();
        assert_eq!(percentile(&ten, 50), Some(5));
        assert_eq!(percentile(&ten, 90), Some(9));
        assert_eq!(percentile(&ten, 99), Some(10));
        // 1..=100: rank p exactly; 1..=1000: p99 is the 990th.
        let hundred: Vec<u64> = (1..=100).collect();
        for p in [1, 50, 90, 99, 100] {
            assert_eq!(percentile(&hundred, p), Some(p as u64));
        }
        let thousand: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&thousand, 99), Some(990));
        assert_eq!(percentile(&[7], 99), Some(7));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn summaries_rank_completed_durations_and_count_timeouts() {
        let mut records: Vec<Record> = [9, 1, 5, 3, 7, 2, 8, 4, 6, 10]
            .into_iter()
            .map(|d| record(Kind::Notification, true, d))
            .collect();
        records.push(record(Kind::Notification, false, 60_000));
        records.push(record(Kind::Probe, false, 30_000));
        let s = summarize(&records);
        assert_eq!(
            s,
            vec![
                Summary {
                    kind: Kind::Notification,
                    count: 11,
                    completed: 10,
                    timed_out: 1,
                    p50_ms: Some(5),
                    p90_ms: Some(9),
                    p99_ms: Some(10),
                    max_ms: Some(10),
                },
                Summary {
                    kind: Kind::Probe,
                    count: 1,
                    completed: 0,
                    timed_out: 1,
                    p50_ms: None,
                    p90_ms: None,
                    p99_ms: None,
                    max_ms: None,
                },
            ]
        );
        let table = render(&s);
        let lines: Vec<Vec<&str>> = table
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            lines,
            vec![
                vec![
                    "kind",
                    "count",
                    "completed",
                    "timed_out",
                    "p50_ms",
                    "p90_ms",
                    "p99_ms",
                    "max_ms"
                ],
                vec!["notification", "11", "10", "1", "5", "9", "10", "10"],
                vec!["probe", "1", "0", "1", "-", "-", "-", "-"],
            ]
        );
        assert_eq!(render(&[]), "no latency records\n");
    }

    #[test]
    fn admin_api_answers_are_read_or_refused_with_a_reason() {
        let r = record(Kind::Subscription, true, 4);
        let body = serde_json::Value::Array(vec![r.to_json()]).to_string();
        let ok = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        assert_eq!(from_http(ok.as_bytes()).unwrap(), vec![r]);
        assert_eq!(
            from_http(b"HTTP/1.1 404 Not Found\r\n\r\nnot found\n").unwrap_err(),
            "the admin API answered \"HTTP/1.1 404 Not Found\": not found"
        );
        assert_eq!(
            from_http(b"HTTP/1.1 200 OK\r\n\r\n[{\"kind\":\"probe\"}]").unwrap_err(),
            "record 1: origin: missing"
        );
        assert!(
            from_http(b"HTTP/1.1 200 OK\r\n\r\n[1,")
                .unwrap_err()
                .starts_with("the records are not JSON")
        );
        assert_eq!(
            from_http(b"SSH-2.0").unwrap_err(),
            "not an HTTP response (no end of header)"
        );
    }
}
