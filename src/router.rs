//! What to do with a request: answer it here, with the status RFC 3261 asks
//! for, or hand it to a service. Decides, does not do: the node carries the
//! decision out. Sans-io.
//!
//! The order of the checks is that of a proxy that is also the UAS for what
//! it serves: RFC 3261 §16.3 (URI scheme 416, Max-Forwards 483,
//! Proxy-Require 420), then §8.2.1 (method: 405 for a method we know but do
//! not serve, 501 for one we do not know), then §8.2.2.3 (Require 420).

use crate::sip::{Message, Method, Uri};

/// What this node serves, for Allow, Allow-Events, Supported and Accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Methods answered here (ACK and CANCEL are handled by the
    /// transaction layer and not listed).
    pub methods: Vec<Method<'static>>,
    /// Event packages served (RFC 6665 §8.2.2).
    pub event_packages: Vec<&'static str>,
    /// Option tags this node supports (RFC 3261 §20.37).
    pub supported: Vec<&'static str>,
    /// Body types accepted in requests (RFC 3261 §20.1).
    pub accept: Vec<&'static str>,
}

impl Capabilities {
    /// The node itself: OPTIONS. Services add their methods and packages.
    pub fn node() -> Self {
        Capabilities {
            methods: vec![Method::Options],
            event_packages: Vec::new(),
            supported: Vec::new(),
            accept: Vec::new(),
        }
    }

    pub fn allow(&self) -> String {
        self.methods
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The headers that describe the node: Allow, Allow-Events (when any
    /// package is served: it may not be empty), Supported, Accept.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![("Allow", self.allow())];
        if !self.event_packages.is_empty() {
            h.push(("Allow-Events", self.event_packages.join(", ")));
        }
        h.push(("Supported", self.supported.join(", ")));
        h.push(("Accept", self.accept.join(", ")));
        h
    }
}

/// A final answer given here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub reason: &'static str,
    pub headers: Vec<(&'static str, String)>,
}

impl Answer {
    fn new(status: u16, reason: &'static str) -> Self {
        Answer {
            status,
            reason,
            headers: Vec::new(),
        }
    }

    fn with(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Answer with this final response.
    Answer(Answer),
    /// An ACK: never answered (RFC 3261 §17.2.1 absorbs those for our
    /// non-2xx finals; 2xx ACKs are end to end).
    Absorb,
    /// Hand the request to the service for its method.
    Serve(Method<'static>),
}

/// The decision for one parsed request.
pub fn route(req: &Message<'_>, caps: &Capabilities) -> Decision {
    let Some(method) = req.method() else {
        return Decision::Absorb;
    };
    if method == Method::Ack {
        return Decision::Absorb;
    }
    // §16.3 step 2 (§8.2.2.1 for a UAS): a scheme we cannot route.
    if !matches!(req.request_uri(), Some(Uri::Sip(_))) {
        return Decision::Answer(Answer::new(416, "Unsupported URI Scheme"));
    }
    // §16.3 step 3: the node answers OPTIONS itself (§11), at any hop count;
    // anything else with no hops left is not ours to take further.
    if req.max_forwards() == Some(0) && method != Method::Options {
        return Decision::Answer(Answer::new(483, "Too Many Hops"));
    }
    // §16.3 step 5: we support no extension a proxy must understand.
    let proxy_required: Vec<&str> = req
        .proxy_require()
        .filter(|t| !caps.supported.contains(t))
        .collect();
    if !proxy_required.is_empty() {
        return Decision::Answer(
            Answer::new(420, "Bad Extension").with("Unsupported", proxy_required.join(", ")),
        );
    }
    // §8.2.1: 405 names a method we know but do not serve; 501 one we do
    // not know at all. Both say what we allow. CANCEL matches no
    // transaction here (we run no INVITE server transactions): §9.2, 481.
    if method == Method::Cancel {
        return Decision::Answer(Answer::new(481, "Call/Transaction Does Not Exist"));
    }
    let Some(served) = caps
        .methods
        .iter()
        .find(|m| m.as_str() == method.as_str())
        .copied()
    else {
        // RFC 6665 §4.1.3: NOTIFYs for our own subscriptions are matched
        // before routing, so one that gets here matches none of them: 481,
        // not a method we do not know.
        if method == Method::Notify {
            return Decision::Answer(Answer::new(481, "Subscription Does Not Exist"));
        }
        let answer = if method.is_extension() {
            Answer::new(501, "Not Implemented")
        } else {
            Answer::new(405, "Method Not Allowed")
        };
        return Decision::Answer(answer.with("Allow", caps.allow()));
    };
    // §8.2.2.3
    let required: Vec<&str> = req
        .require()
        .filter(|t| !caps.supported.contains(t))
        .collect();
    if !required.is_empty() {
        return Decision::Answer(
            Answer::new(420, "Bad Extension").with("Unsupported", required.join(", ")),
        );
    }
    if method == Method::Options {
        // §11.2: 200 with what we can do.
        let mut answer = Answer::new(200, "OK");
        answer.headers = caps.headers();
        return Decision::Answer(answer);
    }
    Decision::Serve(served)
}

#[cfg(test)]
mod tests;
