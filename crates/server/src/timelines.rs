//! The timeline writer: one task that stores the `call_timeline` uploads connections hand it,
//! checked against the call record ([`Store::store_timeline`]), and answers each on the
//! uploading connection: `timeline_stored`, or an `error` naming the call.
//!
//! Why a task of its own, and not the hub or the record writer: an upload is a store write
//! with nothing for the router to decide, so it stays out of the pure router and the hub
//! (which never awaits the store). And call records are on the signaling path (the hub holds
//! frames until they are durable), so they must never queue behind uploads of up to 64 KiB;
//! the record writer's contract (apply in order, release) does not answer anyone either. Here a
//! connection only queues the upload ([`TimelineWriter::submit`] never waits), and the answer
//! comes back through the connection's outbound queue like any frame from the hub. The task
//! writes one upload at a time, so uploads use one database connection at most and the record
//! writer keeps the rest of the pool.
//!
//! Bounds: [`QUEUE`] uploads wait in all, [`PER_CONNECTION`] per connection; an upload over
//! either gets `rate_limited` (the device retries later, which is safe: an upload is
//! idempotent). Each store call is bounded by [`STORE_TIMEOUT`]; one that fails or times out
//! gets `internal`, and the device retries.

use std::sync::Arc;
use std::time::Duration;

use ringwire_proto::{
    CallDirection, CallId, CallTimeline, DeviceId, ErrorCode, ErrorMessage, ServerMessage,
};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::analytics::figures::TimelineFigures;
use crate::clock::unix_ms;
use crate::hub::Outbound;
use crate::metrics::Metrics;
use crate::store::{Store, TimelineOutcome};

/// Uploads waiting to be written, from every connection.
pub const QUEUE: usize = 256;
/// Uploads of one connection waiting or being written.
pub const PER_CONNECTION: usize = 4;
/// Longest one upload may take in the store.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(5);
/// What `rate_limited` tells a device to wait.
const RETRY_AFTER_MS: u64 = 5_000;

/// One upload on its way to the store.
#[derive(Debug)]
struct Upload {
    device: DeviceId,
    timeline: CallTimeline,
    /// The uploading connection's outbound queue; weak, so a pending upload never keeps a
    /// connection's queue open after the hub has let go of it.
    reply: mpsc::WeakSender<Outbound>,
    _slot: OwnedSemaphorePermit,
}

/// Queues uploads for the writer task. Dropping every clone lets the task drain and finish.
#[derive(Clone, Debug)]
pub struct TimelineWriter {
    tx: mpsc::Sender<Upload>,
    metrics: Arc<Metrics>,
}

/// One connection's share of the writer: at most [`PER_CONNECTION`] uploads at a time.
#[derive(Clone, Debug)]
pub struct UploadSlots(Arc<Semaphore>);

impl Default for UploadSlots {
    fn default() -> Self {
        UploadSlots(Arc::new(Semaphore::new(PER_CONNECTION)))
    }
}

impl TimelineWriter {
    /// Starts the writer task.
    pub fn spawn(store: Store, metrics: Arc<Metrics>) -> (TimelineWriter, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(store, metrics.clone(), rx));
        (TimelineWriter { tx, metrics }, task)
    }

    /// Queues `device`'s upload; the answer goes to `reply` once it is written. Never waits:
    /// when the queue or the connection's slots are full, the refusal to send is returned.
    pub fn submit(
        &self,
        device: DeviceId,
        timeline: CallTimeline,
        reply: &mpsc::Sender<Outbound>,
        slots: &UploadSlots,
    ) -> Option<ServerMessage> {
        let call_id = timeline.call_id();
        let platform = timeline.platform();
        let busy = |what: &str| {
            let mut err = refusal(
                call_id,
                ErrorCode::RateLimited,
                format!("{what}; upload this timeline again later"),
            );
            if let ServerMessage::Error(e) = &mut err {
                e.retry_after_ms = Some(RETRY_AFTER_MS);
            }
            err
        };
        let Ok(slot) = slots.0.clone().try_acquire_owned() else {
            self.metrics
                .timelines
                .refused(Some(platform), ErrorCode::RateLimited);
            return Some(busy(&format!(
                "this connection already has {PER_CONNECTION} timelines being stored"
            )));
        };
        let upload = Upload {
            device,
            timeline,
            reply: reply.downgrade(),
            _slot: slot,
        };
        match self.tx.try_send(upload) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics
                    .timelines
                    .refused(Some(platform), ErrorCode::RateLimited);
                Some(busy("the server is storing many timelines"))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Some(refusal(
                call_id,
                ErrorCode::ShuttingDown,
                "the server is shutting down; upload this timeline after reconnecting".into(),
            )),
        }
    }
}

/// An `error` about an upload.
pub fn refusal(call_id: CallId, code: ErrorCode, message: String) -> ServerMessage {
    ServerMessage::Error(
        ErrorMessage::new(code, message)
            .with_call(Some(call_id))
            .with_ref_type("call_timeline"),
    )
}

async fn run(store: Store, metrics: Arc<Metrics>, mut rx: mpsc::Receiver<Upload>) {
    while let Some(upload) = rx.recv().await {
        let span = tracing::info_span!(
            "timeline",
            call_id = %upload.timeline.call_id(),
            device_id = %upload.device
        );
        let answer = write(&store, &metrics, &upload).instrument(span).await;
        // A connection that is gone or full loses the answer; the device uploads again and
        // hears `already_stored` (or is told what was wrong) then.
        if let Some(reply) = upload.reply.upgrade() {
            if reply.try_send(Outbound::Message(answer)).is_err() {
                tracing::debug!("the uploading connection could not take the answer");
            }
        }
    }
    tracing::debug!("timeline writer drained");
}

async fn write(store: &Store, metrics: &Metrics, upload: &Upload) -> ServerMessage {
    let timeline = &upload.timeline;
    let call_id = timeline.call_id();
    let platform = timeline.platform();
    let stored = tokio::time::timeout(
        STORE_TIMEOUT,
        store.store_timeline(upload.device, timeline, unix_ms()),
    )
    .await;
    let (code, message) = match stored {
        Ok(Ok(TimelineOutcome::Stored)) => {
            metrics
                .timelines
                .stored(platform, &TimelineFigures::of(timeline));
            tracing::debug!(events = timeline.events().len(), "timeline stored");
            return ServerMessage::TimelineStored { call_id };
        }
        Ok(Ok(TimelineOutcome::AlreadyStored)) => (
            ErrorCode::AlreadyStored,
            "this device already stored a timeline for this call; nothing was changed".into(),
        ),
        Ok(Ok(TimelineOutcome::UnknownCall)) => (
            ErrorCode::UnknownCall,
            "no call with this id is known; drop this timeline".into(),
        ),
        Ok(Ok(TimelineOutcome::NotAParticipant)) => (
            ErrorCode::NotAParticipant,
            "this device took no part in this call; drop this timeline".into(),
        ),
        Ok(Ok(TimelineOutcome::WrongDirection { expected })) => (
            ErrorCode::InvalidField,
            format!(
                "direction must be \"{expected}\": this device {} this call",
                match expected {
                    CallDirection::Outgoing => "placed",
                    CallDirection::Incoming => "was called in",
                }
            ),
        ),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "storing a timeline failed");
            (
                ErrorCode::Internal,
                "the server could not store the timeline; upload it again later".into(),
            )
        }
        Err(_) => {
            tracing::warn!("storing a timeline timed out");
            (
                ErrorCode::Internal,
                "the server could not store the timeline in time; upload it again later".into(),
            )
        }
    };
    metrics.timelines.refused(Some(platform), code);
    refusal(call_id, code, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringwire_proto::{DevicePlatform, TimelineEvent, TimelineEventKind};

    fn timeline() -> CallTimeline {
        CallTimeline::new(
            CallId::random(),
            DevicePlatform::Android,
            CallDirection::Incoming,
            vec![TimelineEvent::new(1, TimelineEventKind::FirstAudio {})],
        )
        .expect("valid")
    }

    fn code(answer: Option<ServerMessage>) -> Option<(ErrorCode, Option<u64>)> {
        match answer? {
            ServerMessage::Error(e) => {
                assert_eq!(e.ref_type.as_deref(), Some("call_timeline"));
                assert!(e.call_id.is_some());
                Some((e.code, e.retry_after_ms))
            }
            other => panic!("{other:?}"),
        }
    }

    /// A writer whose task never runs, so uploads stay queued.
    fn stalled() -> (TimelineWriter, mpsc::Receiver<Upload>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = TimelineWriter {
            tx,
            metrics: Arc::new(Metrics::default()),
        };
        (writer, rx)
    }

    #[test]
    fn a_connection_has_a_few_uploads_in_flight_and_then_is_told_to_wait() {
        let (writer, _rx) = stalled();
        let (reply, _out) = mpsc::channel(8);
        let slots = UploadSlots::default();
        let device = DeviceId::random();
        for _ in 0..PER_CONNECTION {
            assert_eq!(
                code(writer.submit(device, timeline(), &reply, &slots)),
                None
            );
        }
        assert_eq!(
            code(writer.submit(device, timeline(), &reply, &slots)),
            Some((ErrorCode::RateLimited, Some(RETRY_AFTER_MS)))
        );
        // Another connection still has its own slots.
        let other = UploadSlots::default();
        assert_eq!(
            code(writer.submit(device, timeline(), &reply, &other)),
            None
        );
        let refused = writer
            .metrics
            .render(ringwire_router::RouterStats::default());
        assert!(refused.contains(
            "ringwire_timelines_refused_total{platform=\"android\",code=\"rate_limited\"} 1"
        ));
    }

    #[test]
    fn a_full_queue_tells_devices_to_wait_and_a_stopped_writer_says_so() {
        let (writer, rx) = stalled();
        let (reply, _out) = mpsc::channel(8);
        for _ in 0..QUEUE {
            let slots = UploadSlots::default();
            assert_eq!(
                code(writer.submit(DeviceId::random(), timeline(), &reply, &slots)),
                None
            );
        }
        let slots = UploadSlots::default();
        assert_eq!(
            code(writer.submit(DeviceId::random(), timeline(), &reply, &slots)),
            Some((ErrorCode::RateLimited, Some(RETRY_AFTER_MS)))
        );
        drop(rx);
        assert_eq!(
            code(writer.submit(DeviceId::random(), timeline(), &reply, &slots)),
            Some((ErrorCode::ShuttingDown, None))
        );
    }
}
