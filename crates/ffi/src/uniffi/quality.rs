//! Quality verdicts as the bindings see them (`EngineEvent::QualityChanged`): the verdict, its
//! cause, what the engine did about it, and the figures behind it. Thresholds and hysteresis
//! are the engine's (docs/engine.md, "Quality verdicts").

/// How a call sounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Verdict {
    Good,
    Fair,
    Poor,
}

/// Why a call is not good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum QualityCause {
    NetworkLoss,
    NetworkDelay,
    Jitter,
    /// The audio thread missed its deadlines.
    Cpu,
    /// The media path is up but nothing arrives.
    NoAudioReceived,
    /// The far end paused its audio.
    FarEndMuted,
}

/// What the engine did about it ("Poor connection, trying to improve…").
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum QualityAction {
    AddedRedundancy,
    LoweredBitrate,
    /// Moved the call to a TURN relay.
    SwitchedToRelay,
    RestartedIce,
}

/// The figures of the window behind a verdict.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct QualityFigures {
    pub loss_pct: f64,
    pub rtt_ms: Option<f64>,
    pub jitter_ms: f64,
    pub concealment_ratio: f64,
    pub mos: Option<f64>,
    pub packets_received: u64,
    pub missed_ticks_pct: f64,
}

/// A verdict change.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct QualityVerdict {
    pub verdict: Verdict,
    /// `None` when good.
    pub cause: Option<QualityCause>,
    pub action: Option<QualityAction>,
    pub figures: QualityFigures,
}

impl From<&ringwire_core::QualityChange> for QualityVerdict {
    fn from(v: &ringwire_core::QualityChange) -> Self {
        use ringwire_core::{QualityAction as A, QualityCause as C, Verdict as V};
        let f = &v.figures;
        QualityVerdict {
            verdict: match v.verdict {
                V::Good => Verdict::Good,
                V::Fair => Verdict::Fair,
                V::Poor => Verdict::Poor,
            },
            cause: v.cause.map(|c| match c {
                C::NetworkLoss => QualityCause::NetworkLoss,
                C::NetworkDelay => QualityCause::NetworkDelay,
                C::Jitter => QualityCause::Jitter,
                C::Cpu => QualityCause::Cpu,
                C::NoAudioReceived => QualityCause::NoAudioReceived,
                C::FarEndMuted => QualityCause::FarEndMuted,
            }),
            action: v.action.map(|a| match a {
                A::AddedRedundancy => QualityAction::AddedRedundancy,
                A::LoweredBitrate => QualityAction::LoweredBitrate,
                A::SwitchedToRelay => QualityAction::SwitchedToRelay,
                A::RestartedIce => QualityAction::RestartedIce,
            }),
            figures: QualityFigures {
                loss_pct: f.loss_pct,
                rtt_ms: f.rtt_ms,
                jitter_ms: f.jitter_ms,
                concealment_ratio: f.concealment_ratio,
                mos: f.mos,
                packets_received: f.packets_received,
                missed_ticks_pct: f.missed_ticks_pct,
            },
        }
    }
}
