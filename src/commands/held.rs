//! The reporter of a command that learns its release from the hosts (`rollback`, and the
//! restarts of `env` and `scale`): events are held until the release is known.

use std::sync::{Arc, Mutex};

use crate::ui::event::{Event, Reporter};

/// Holds events until the run's release is known ([`Held::open`]), then hands them on in
/// order after the start event, and every later one as it comes. Dropped unopened (the
/// rollback was refused), it hands on only the scripts that ran (`-v`).
pub struct Held {
    inner: Arc<dyn Reporter>,
    /// `None` once open.
    held: Mutex<Option<Vec<Event>>>,
}

impl Held {
    pub fn new(inner: Arc<dyn Reporter>) -> Held {
        Held {
            inner,
            held: Mutex::new(Some(Vec::new())),
        }
    }

    pub fn open(&self, start: &Event) {
        let mut held = self.held.lock().expect("reporter lock");
        self.inner.event(start);
        for event in held.take().unwrap_or_default() {
            self.inner.event(&event);
        }
    }
}

impl Reporter for Held {
    fn event(&self, event: &Event) {
        // Forwarded under the lock too: events keep their order.
        let mut held = self.held.lock().expect("reporter lock");
        match held.as_mut() {
            Some(events) => events.push(event.clone()),
            None => self.inner.event(event),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let held = self.held.get_mut().map(Option::take).unwrap_or_default();
        for event in held.unwrap_or_default() {
            if let Event::HostScript { .. } = event {
                self.inner.event(&event);
            }
        }
    }
}
