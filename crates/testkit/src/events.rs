//! Engine events into a channel a thread can wait on, each stamped with the moment it
//! arrived (one clock for every engine in the process, so the demo can time one engine's
//! accept against another's first audio).

use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ringwire_engine::{EngineEvent, EngineListener};

/// An event and where it came from.
#[derive(Debug)]
pub struct Stamped {
    pub from: &'static str,
    pub at: Instant,
    pub event: EngineEvent,
}

/// Forwards every event of one engine, tagged with `name`.
#[derive(Debug)]
pub struct ChannelListener {
    name: &'static str,
    tx: Mutex<mpsc::Sender<Stamped>>,
}

impl ChannelListener {
    pub fn new(name: &'static str, tx: mpsc::Sender<Stamped>) -> ChannelListener {
        ChannelListener {
            name,
            tx: Mutex::new(tx),
        }
    }
}

impl EngineListener for ChannelListener {
    fn on_event(&self, event: EngineEvent) {
        let stamped = Stamped {
            from: self.name,
            at: Instant::now(),
            event,
        };
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send(stamped);
        }
    }
}

/// Waits for the first event that `pick` accepts, up to `timeout`; other events go to
/// `seen` so nothing is lost.
pub fn wait_for<T>(
    rx: &mpsc::Receiver<Stamped>,
    timeout: Duration,
    seen: &mut Vec<Stamped>,
    mut pick: impl FnMut(&Stamped) -> Option<T>,
) -> Option<(T, Instant)> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let event = rx.recv_timeout(left).ok()?;
        let at = event.at;
        if let Some(found) = pick(&event) {
            seen.push(event);
            return Some((found, at));
        }
        seen.push(event);
    }
}
