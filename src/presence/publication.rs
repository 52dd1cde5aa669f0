//! Event state publication (RFC 3903): the publications of every
//! presentity, keyed by entity-tag, each with its expiry. Sans-io: time is
//! an input (milliseconds on the node's clock).
//!
//! What a PUBLISH does depends on SIP-If-Match and the body (RFC 3903 §6):
//! no If-Match and a body creates (initial); If-Match and no body refreshes;
//! If-Match and a body modifies; If-Match and Expires 0 removes. Every
//! success gives a fresh entity-tag (§6 step 7), so a stale one is refused
//! with 412. The document type is the caller's (PIDF for presence).

use std::collections::{BTreeSet, HashMap};

/// One accepted publication.
#[derive(Debug, Clone, PartialEq)]
pub struct Publication<D> {
    pub presentity: String,
    pub etag: String,
    pub content_type: String,
    pub body: Vec<u8>,
    pub document: D,
    pub expires_at: u64,
    /// Order of acceptance across all publications: composition is oldest
    /// first, so a later device's tuple wins a conflict.
    pub seq: u64,
}

/// What a PUBLISH asks for, once its headers are read.
#[derive(Debug, Clone, PartialEq)]
pub enum Request<D> {
    Initial {
        presentity: String,
        content_type: String,
        body: Vec<u8>,
        document: D,
        expires: u32,
    },
    Refresh {
        etag: String,
        expires: u32,
    },
    Modify {
        etag: String,
        content_type: String,
        body: Vec<u8>,
        document: D,
        expires: u32,
    },
    Remove {
        etag: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 200 OK with this SIP-ETag and Expires; `changed` when the
    /// presentity's state changed and watchers must hear of it.
    Accepted {
        presentity: String,
        etag: String,
        expires: u32,
        changed: bool,
    },
    /// The publication was removed (200 OK, Expires: 0).
    Removed { presentity: String },
    /// RFC 3903 §6 step 4: no publication has this entity-tag (412).
    UnknownEtag,
    /// The entity-tag names a publication of another presentity (412 too:
    /// an entity-tag is only valid for its own resource).
    WrongPresentity,
}

/// All publications on this node.
#[derive(Debug)]
pub struct Publications<D> {
    by_etag: HashMap<String, Publication<D>>,
    /// (expiry, entity-tag), so the next expiry costs O(log n), not a scan.
    expiries: BTreeSet<(u64, String)>,
    seq: u64,
    etag_seed: u64,
}

impl<D: Clone> Publications<D> {
    /// `etag_seed` makes entity-tags differ between runs of the node.
    pub fn new(etag_seed: u64) -> Self {
        Publications {
            by_etag: HashMap::new(),
            expiries: BTreeSet::new(),
            seq: 0,
            etag_seed,
        }
    }

    fn insert(&mut self, p: Publication<D>) {
        self.expiries.insert((p.expires_at, p.etag.clone()));
        if let Some(old) = self.by_etag.insert(p.etag.clone(), p) {
            self.expiries.remove(&(old.expires_at, old.etag));
        }
    }

    fn remove(&mut self, etag: &str) -> Option<Publication<D>> {
        let p = self.by_etag.remove(etag)?;
        self.expiries.remove(&(p.expires_at, p.etag.clone()));
        Some(p)
    }

    fn next_etag(&mut self) -> String {
        self.seq += 1;
        // Unique per node run and unguessable enough to not collide with a
        // stale tag from an earlier run of the same node.
        let mix = self.etag_seed ^ self.seq.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        format!("{:x}{:x}", mix, self.seq)
    }

    /// Applies one PUBLISH for `presentity` (the Request-URI's AOR).
    pub fn apply(&mut self, now: u64, presentity: &str, req: Request<D>) -> Outcome {
        match req {
            Request::Initial {
                presentity: p,
                content_type,
                body,
                document,
                expires,
            } => {
                let etag = self.next_etag();
                let seq = self.seq;
                self.insert(Publication {
                    presentity: p.clone(),
                    etag: etag.clone(),
                    content_type,
                    body,
                    document,
                    expires_at: now + u64::from(expires) * 1000,
                    seq,
                });
                Outcome::Accepted {
                    presentity: p,
                    etag,
                    expires,
                    changed: true,
                }
            }
            Request::Refresh { etag, expires } => {
                self.replace(now, presentity, &etag, expires, None)
            }
            Request::Modify {
                etag,
                content_type,
                body,
                document,
                expires,
            } => self.replace(
                now,
                presentity,
                &etag,
                expires,
                Some((content_type, body, document)),
            ),
            Request::Remove { etag } => match self.by_etag.get(&etag) {
                None => Outcome::UnknownEtag,
                Some(p) if p.presentity != presentity => Outcome::WrongPresentity,
                Some(_) => {
                    self.remove(&etag);
                    Outcome::Removed {
                        presentity: presentity.to_string(),
                    }
                }
            },
        }
    }

    fn replace(
        &mut self,
        now: u64,
        presentity: &str,
        etag: &str,
        expires: u32,
        content: Option<(String, Vec<u8>, D)>,
    ) -> Outcome {
        match self.by_etag.get(etag) {
            None => return Outcome::UnknownEtag,
            Some(p) if p.presentity != presentity => return Outcome::WrongPresentity,
            Some(_) => {}
        }
        let new_etag = self.next_etag();
        let seq = self.seq;
        let Some(mut p) = self.remove(etag) else {
            return Outcome::UnknownEtag;
        };
        p.etag = new_etag.clone();
        p.expires_at = now + u64::from(expires) * 1000;
        let changed = content.is_some();
        if let Some((content_type, body, document)) = content {
            p.content_type = content_type;
            p.body = body;
            p.document = document;
            // a modified document counts as the newest for composition
            p.seq = seq;
        }
        self.insert(p);
        Outcome::Accepted {
            presentity: presentity.to_string(),
            etag: new_etag,
            expires,
            changed,
        }
    }

    /// The live publications of a presentity, oldest first.
    pub fn of(&self, presentity: &str) -> Vec<&Publication<D>> {
        let mut v: Vec<&Publication<D>> = self
            .by_etag
            .values()
            .filter(|p| p.presentity == presentity)
            .collect();
        v.sort_by_key(|p| p.seq);
        v
    }

    /// Removes what expired by `now`; returns the presentities whose state
    /// changed (RFC 3903 §6: an expired publication is removed and its
    /// watchers notified).
    pub fn expire(&mut self, now: u64) -> Vec<String> {
        let mut changed: Vec<String> = self
            .expire_removed(now)
            .into_iter()
            .map(|p| p.presentity)
            .collect();
        changed.sort();
        changed.dedup();
        changed
    }

    /// Removes what expired by `now` and returns it.
    pub fn expire_removed(&mut self, now: u64) -> Vec<Publication<D>> {
        let gone: Vec<String> = self
            .expiries
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, e)| e.clone())
            .collect();
        gone.iter().filter_map(|e| self.remove(e)).collect()
    }

    /// Puts back a publication kept across a restart; later ones number on
    /// from it.
    pub fn restore(&mut self, p: Publication<D>) {
        self.seq = self.seq.max(p.seq);
        self.insert(p);
    }

    /// The publication with this entity-tag.
    pub fn get(&self, etag: &str) -> Option<&Publication<D>> {
        self.by_etag.get(etag)
    }

    /// The next expiry, for the driver's timer.
    pub fn next_expiry(&self) -> Option<u64> {
        self.expiries.first().map(|(t, _)| *t)
    }

    /// Every presentity with a live publication.
    pub fn presentities(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .by_etag
            .values()
            .map(|p| p.presentity.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    pub fn len(&self) -> usize {
        self.by_etag.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_etag.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn initial(doc: &str, expires: u32) -> Request<String> {
        Request::Initial {
            presentity: "alice@example.com".into(),
            content_type: "application/pidf+xml".into(),
            body: doc.as_bytes().to_vec(),
            document: doc.to_string(),
            expires,
        }
    }

    const A: &str = "alice@example.com";

    fn etag(o: &Outcome) -> String {
        match o {
            Outcome::Accepted { etag, .. } => etag.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rfc3903_s4_2_initial_publication_gets_an_entity_tag() {
        let mut p = Publications::new(7);
        let o = p.apply(0, A, initial("open", 60));
        assert!(matches!(
            &o,
            Outcome::Accepted {
                changed: true,
                expires: 60,
                ..
            }
        ));
        assert_eq!(p.of(A).len(), 1);
        assert_eq!(p.of(A)[0].etag, etag(&o));
    }

    #[test]
    fn rfc3903_s4_3_refresh_gives_a_new_tag_and_keeps_the_document() {
        let mut p = Publications::new(7);
        let e1 = etag(&p.apply(0, A, initial("open", 60)));
        let o = p.apply(
            1000,
            A,
            Request::Refresh {
                etag: e1.clone(),
                expires: 120,
            },
        );
        let e2 = etag(&o);
        assert_ne!(e1, e2, "§6 step 7: a fresh entity-tag");
        assert!(
            matches!(o, Outcome::Accepted { changed: false, .. }),
            "a refresh changes no state"
        );
        assert_eq!(p.of(A)[0].document, "open");
        assert_eq!(p.of(A)[0].expires_at, 121_000);
        assert_eq!(
            p.apply(
                2000,
                A,
                Request::Refresh {
                    etag: e1,
                    expires: 60
                }
            ),
            Outcome::UnknownEtag,
            "the old tag is spent"
        );
    }

    #[test]
    fn rfc3903_s4_4_modify_replaces_the_document() {
        let mut p = Publications::new(7);
        let e1 = etag(&p.apply(0, A, initial("open", 60)));
        let o = p.apply(
            10,
            A,
            Request::Modify {
                etag: e1,
                content_type: "application/pidf+xml".into(),
                body: b"closed".to_vec(),
                document: "closed".into(),
                expires: 60,
            },
        );
        assert!(matches!(o, Outcome::Accepted { changed: true, .. }));
        assert_eq!(p.of(A)[0].document, "closed");
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn rfc3903_s4_5_remove_with_expires_zero() {
        let mut p = Publications::new(7);
        let e1 = etag(&p.apply(0, A, initial("open", 60)));
        assert_eq!(
            p.apply(10, A, Request::Remove { etag: e1 }),
            Outcome::Removed {
                presentity: A.into()
            }
        );
        assert!(p.of(A).is_empty());
    }

    #[test]
    fn rfc3903_s6_step4_unknown_or_foreign_entity_tag_is_refused() {
        let mut p = Publications::new(7);
        assert_eq!(
            p.apply(
                0,
                A,
                Request::Refresh {
                    etag: "nope".into(),
                    expires: 60
                }
            ),
            Outcome::UnknownEtag
        );
        let e = etag(&p.apply(0, A, initial("open", 60)));
        assert_eq!(
            p.apply(0, "bob@example.com", Request::Remove { etag: e }),
            Outcome::WrongPresentity
        );
    }

    #[test]
    fn rfc3903_s6_expired_publications_disappear() {
        let mut p = Publications::new(7);
        p.apply(0, A, initial("open", 60));
        assert_eq!(p.next_expiry(), Some(60_000));
        assert!(p.expire(59_999).is_empty());
        assert_eq!(p.expire(60_000), vec![A.to_string()]);
        assert!(p.is_empty());
    }

    #[test]
    fn several_devices_compose_oldest_first() {
        let mut p = Publications::new(7);
        let e1 = etag(&p.apply(0, A, initial("phone", 60)));
        p.apply(1, A, initial("laptop", 60));
        let docs: Vec<&str> = p.of(A).iter().map(|x| x.document.as_str()).collect();
        assert_eq!(docs, ["phone", "laptop"]);
        // modifying the phone's document makes it the newest
        p.apply(
            2,
            A,
            Request::Modify {
                etag: e1,
                content_type: "application/pidf+xml".into(),
                body: vec![],
                document: "phone2".into(),
                expires: 60,
            },
        );
        let docs: Vec<&str> = p.of(A).iter().map(|x| x.document.as_str()).collect();
        assert_eq!(docs, ["laptop", "phone2"]);
    }
}
