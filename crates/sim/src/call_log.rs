//! [`CallLog`]: the router's call-record events kept in memory, in order, and folded into one
//! [`CallRecord`] per call by the router crate's own fold ([`CallRecord::started`] and
//! [`CallRecord::apply`], the rules the server's SQL store is checked against). Events for a
//! call never started are ignored. Tests assert on the folded records; a later
//! server restart in the simulation restores calls from them, as the real server restores
//! from its store.

use std::collections::BTreeMap;

use ringwire_proto::CallId;
use ringwire_router::record::{CallEvent, CallRecord};

/// Every call event in the order the router emitted it, and the records they fold into.
#[derive(Clone, Debug, Default)]
pub struct CallLog {
    events: Vec<CallEvent>,
    records: BTreeMap<CallId, CallRecord>,
    /// Call ids in the order they started.
    order: Vec<CallId>,
}

impl CallLog {
    /// Appends one event and folds it into its record.
    pub fn apply(&mut self, event: CallEvent) {
        self.fold(&event);
        self.events.push(event);
    }

    /// Every event so far, in order.
    pub fn events(&self) -> &[CallEvent] {
        &self.events
    }

    /// One call's record.
    pub fn record(&self, call_id: CallId) -> Option<&CallRecord> {
        self.records.get(&call_id)
    }

    /// Every call's record, in the order the calls started.
    pub fn records(&self) -> impl Iterator<Item = &CallRecord> {
        self.order.iter().filter_map(|id| self.records.get(id))
    }

    /// Calls not yet ended, and those that ended at or after `ended_since_ms`: what the server
    /// loads from its store at start-up.
    pub fn restorable(&self, ended_since_ms: u64) -> Vec<CallRecord> {
        let open = self.records().filter(|r| r.ended_at_ms.is_none());
        let mut ended: Vec<&CallRecord> = self
            .records()
            .filter(|r| r.ended_at_ms.is_some_and(|t| t >= ended_since_ms))
            .collect();
        ended.sort_by_key(|r| r.ended_at_ms);
        open.chain(ended).cloned().collect()
    }

    fn fold(&mut self, event: &CallEvent) {
        if let Some(record) = CallRecord::started(event) {
            if !self.records.contains_key(&record.call_id) {
                self.order.push(record.call_id);
                self.records.insert(record.call_id, record);
            }
        } else if let Some(record) = self.records.get_mut(&event.call_id()) {
            record.apply(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use ringwire_proto::{DeviceId, EndReason};
    use ringwire_router::record::{CallState, Reach};

    use super::*;

    fn started(id: CallId) -> CallEvent {
        CallEvent::Started {
            call_id: id,
            caller_user: "alice".parse().unwrap(),
            caller_device: DeviceId::from_bytes([1; 16]),
            callee_user: "bob".parse().unwrap(),
            invited_at_ms: 100,
            ring_deadline_ms: 45_100,
        }
    }

    #[test]
    fn folds_like_the_store_first_facts_win() {
        let id = CallId::from_bytes([9; 16]);
        let (b1, b2) = (
            DeviceId::from_bytes([11; 16]),
            DeviceId::from_bytes([12; 16]),
        );
        let mut log = CallLog::default();
        // An event before Started is ignored, as the store does.
        log.apply(CallEvent::Accepted {
            call_id: id,
            device_id: b1,
            at_ms: 1,
        });
        log.apply(started(id));
        log.apply(started(id));
        for (device, via, at) in [
            (b1, Reach::Socket, 100),
            (b2, Reach::Offline, 100),
            (b2, Reach::Replay, 300),
            (b1, Reach::Offline, 400),
        ] {
            log.apply(CallEvent::DeviceReached {
                call_id: id,
                device_id: device,
                via,
                at_ms: at,
            });
        }
        for (device, at) in [(b1, 200), (b1, 250), (b2, 350)] {
            log.apply(CallEvent::DeviceRang {
                call_id: id,
                device_id: device,
                at_ms: at,
            });
        }
        for device in [b2, b1] {
            log.apply(CallEvent::Accepted {
                call_id: id,
                device_id: device,
                at_ms: 500,
            });
        }
        for reason in [EndReason::Hangup, EndReason::ConnectionLost] {
            log.apply(CallEvent::Ended {
                call_id: id,
                reason,
                by_device: Some(b2),
                at_ms: 900,
            });
        }
        let r = log.record(id).unwrap();
        assert_eq!(r.state, CallState::Ended);
        assert_eq!(r.answered_device, Some(b2));
        assert_eq!(r.end_reason, Some(EndReason::Hangup));
        assert_eq!(r.first_ring_at_ms, Some(200));
        assert_eq!(r.devices.len(), 2);
        assert_eq!(
            (r.devices[0].reached_via, r.devices[0].rang_at_ms),
            (Reach::Socket, Some(200))
        );
        assert_eq!(
            (r.devices[1].reached_via, r.devices[1].reached_at_ms),
            (Reach::Replay, 100)
        );
        assert_eq!(log.events().len(), 14);
        assert_eq!(log.restorable(901).len(), 0);
        assert_eq!(log.restorable(900).len(), 1);
    }
}
