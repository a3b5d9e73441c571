//! The app's own signaling channel of peer mode (a Firestore document and its listeners, an
//! app server, a pipe), between pairs of simulated devices: each message a device's agent hands
//! out ([`Output::PeerSignal`](ringwire_core::Output::PeerSignal)) reaches the linked device
//! after the link's delay. Candidates can be given a delay of their own, as a channel whose
//! candidate listener lags the document listener, so they arrive late or even before the offer
//! they belong to. Ties keep sending order.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use ringwire_proto::{CallId, Candidate, PeerSignal, Sdp};

use crate::world::Dev;

/// How a linked pair's channel delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelTiming {
    /// Delay of offers, answers and `bye`s.
    pub delay: Duration,
    /// Delay of candidates and end-of-candidates.
    pub candidate_delay: Duration,
    /// Play a browser's app: descriptions go out without their `a=candidate` lines, and every
    /// candidate follows as its own message (what `onicecandidate` hands a page), so the call
    /// depends on trickled candidates arriving.
    pub trickle_only: bool,
}

impl ChannelTiming {
    /// Every message after `delay`.
    pub fn uniform(delay: Duration) -> ChannelTiming {
        ChannelTiming {
            delay,
            candidate_delay: delay,
            trickle_only: false,
        }
    }
}

/// Messages in flight between linked devices.
#[derive(Debug, Default)]
pub(crate) struct PeerChannels {
    links: HashMap<Dev, (Dev, ChannelTiming)>,
    in_flight: BTreeMap<(Instant, u64), (Dev, CallId, PeerSignal)>,
    seq: u64,
}

impl PeerChannels {
    /// Joins `a` and `b` both ways (replacing earlier links of either).
    pub fn link(&mut self, a: Dev, b: Dev, timing: ChannelTiming) {
        self.links.insert(a, (b, timing));
        self.links.insert(b, (a, timing));
    }

    /// Sends from `from` to its linked device; `false` if it has none (the message is lost,
    /// as an app with no channel would lose it).
    pub fn send(&mut self, now: Instant, from: Dev, call_id: CallId, signal: PeerSignal) -> bool {
        let Some((to, timing)) = self.links.get(&from).copied() else {
            return false;
        };
        let (signal, trickled) = match signal {
            PeerSignal::Offer { sdp } if timing.trickle_only => {
                let (sdp, candidates) = split_candidates(&sdp);
                (PeerSignal::Offer { sdp }, candidates)
            }
            PeerSignal::Answer { sdp } if timing.trickle_only => {
                let (sdp, candidates) = split_candidates(&sdp);
                (PeerSignal::Answer { sdp }, candidates)
            }
            other => (other, Vec::new()),
        };
        let delay = match signal {
            PeerSignal::Candidate(_) | PeerSignal::EndOfCandidates => timing.candidate_delay,
            _ => timing.delay,
        };
        self.queue(now + delay, to, call_id, signal);
        for candidate in trickled {
            let at = now + timing.candidate_delay;
            self.queue(at, to, call_id, PeerSignal::Candidate(candidate));
        }
        true
    }

    fn queue(&mut self, at: Instant, to: Dev, call_id: CallId, signal: PeerSignal) {
        self.seq += 1;
        self.in_flight.insert((at, self.seq), (to, call_id, signal));
    }

    pub fn next_delivery_time(&self) -> Option<Instant> {
        self.in_flight.keys().next().map(|(at, _)| *at)
    }

    /// The next message due by `now`, with the device it is for.
    pub fn poll_delivery(&mut self, now: Instant) -> Option<(Dev, CallId, PeerSignal)> {
        let (&key, _) = self.in_flight.iter().next()?;
        if key.0 > now {
            return None;
        }
        self.in_flight.remove(&key)
    }
}

/// A description without its `a=candidate` lines, and those lines as trickled candidates with
/// the `mid` and index of their m-line.
fn split_candidates(sdp: &Sdp) -> (Sdp, Vec<Candidate>) {
    let mut kept = String::new();
    let mut candidates = Vec::new();
    let mut m_line: Option<u16> = None;
    let mut pending: Vec<String> = Vec::new();
    let mut mid: Option<String> = None;
    let mut flush = |pending: &mut Vec<String>, mid: &Option<String>, m_line: Option<u16>| {
        for line in pending.drain(..) {
            candidates.push(Candidate {
                candidate: line,
                sdp_mid: mid.clone(),
                sdp_m_line_index: m_line,
                username_fragment: None,
            });
        }
    };
    for line in sdp.as_str().split("\r\n").filter(|l| !l.is_empty()) {
        if line.starts_with("m=") {
            flush(&mut pending, &mid, m_line);
            m_line = Some(m_line.map_or(0, |i| i + 1));
            mid = None;
        }
        if let Some(value) = line.strip_prefix("a=mid:") {
            mid = Some(value.to_owned());
        }
        match line.strip_prefix("a=") {
            Some(c) if c.starts_with("candidate:") => pending.push(c.to_owned()),
            Some("end-of-candidates") => {}
            _ => {
                kept.push_str(line);
                kept.push_str("\r\n");
            }
        }
    }
    flush(&mut pending, &mid, m_line);
    let kept = Sdp::try_from(kept).unwrap_or_else(|_| sdp.clone());
    (kept, candidates)
}
