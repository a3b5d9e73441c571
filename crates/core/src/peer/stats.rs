//! Folds str0m's three stats events (peer, media ingress, media egress), which come out together
//! at each stats interval, into one [`PeerStats`].

use std::time::Duration;

use str0m::stats::{MediaEgressStats, MediaIngressStats, PeerStats as RtcPeerStats};

use super::PeerStats;
use crate::gather::SelectedPair;

/// RTP clock of Opus.
const OPUS_CLOCK_HZ: u64 = 48_000;

/// Collects one interval's stats events.
#[derive(Default)]
pub(super) struct StatsBuilder {
    pending: Option<PeerStats>,
    /// RTT from RTCP receiver reports about our audio.
    rtcp_rtt: Option<Duration>,
    /// RTT str0m puts on its peer stats.
    peer_rtt: Option<Duration>,
}

impl StatsBuilder {
    pub(super) fn peer(&mut self, s: &RtcPeerStats, pair: Option<SelectedPair>) {
        let p = self.pending.get_or_insert_with(PeerStats::default);
        p.selected_pair = pair;
        p.bytes_sent = s.peer_bytes_tx;
        p.bytes_received = s.peer_bytes_rx;
        p.ice_rtt = s
            .selected_candidate_pair
            .as_ref()
            .and_then(|c| c.current_round_trip_time);
        p.loss_received = p.loss_received.or(s.ingress_loss_fraction);
        p.loss_sent = p.loss_sent.or(s.egress_loss_fraction);
        self.peer_rtt = s.rtt;
    }

    pub(super) fn ingress(&mut self, s: &MediaIngressStats) {
        let p = self.pending.get_or_insert_with(PeerStats::default);
        p.audio_packets_received += s.packets;
        p.audio_bytes_received += s.bytes;
        if s.loss.is_some() {
            p.loss_received = s.loss;
        }
        if s.packets > 0 {
            let micros = u64::from(s.jitter) * 1_000_000 / OPUS_CLOCK_HZ;
            p.jitter = Some(Duration::from_micros(micros));
        }
    }

    pub(super) fn egress(&mut self, s: &MediaEgressStats) {
        let p = self.pending.get_or_insert_with(PeerStats::default);
        p.audio_packets_sent += s.packets;
        p.audio_bytes_sent += s.bytes;
        if s.loss.is_some() {
            p.loss_sent = s.loss;
        }
        if s.rtt.is_some() {
            self.rtcp_rtt = s.rtt;
        }
    }

    /// The interval's stats, if any arrived since the last call.
    pub(super) fn take(&mut self) -> Option<PeerStats> {
        let mut p = self.pending.take()?;
        p.rtt = self.rtcp_rtt.take().or(self.peer_rtt.take()).or(p.ice_rtt);
        Some(p)
    }
}
