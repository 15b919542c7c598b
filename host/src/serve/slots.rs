//! The connection slots: at most `ServerLimits::max_connections` open at
//! once, each registered with the phase it is in, so that a newcomer at the
//! cap can make room by evicting the connection that has waited longest
//! without completing a request head, or else the one idle longest between
//! requests. A connection serving a request is never evicted: when every
//! slot is busy, the newcomer gets the canned 503.
//!
//! The newcomer takes the evicted connection's slot at once; the evicted one
//! closes as soon as its task sees the signal (its next poll), so the open
//! sockets exceed the cap only by the evictions not yet seen. The registry
//! is a map behind a lock taken for a scan at the cap and for a
//! connection's start and end, never across an await.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::connection::Phase;

/// Every slot, and the registry of the connections holding them.
pub(super) struct Slots {
    cap: usize,
    table: Mutex<Table>,
    /// Told whenever the last connection closes.
    emptied: Notify,
}

struct Table {
    next: u64,
    held: HashMap<u64, Held>,
    /// Connections holding a slot: those registered and not evicted.
    live: usize,
}

/// What the registry knows of one connection.
struct Held {
    phase: Arc<Mutex<Phase>>,
    evict: Arc<Notify>,
    /// Told to close already: it holds no slot and is not picked again.
    evicted: bool,
}

/// One connection's place in the registry, given up when it is dropped: its
/// phase, which its socket keeps current, and the signal that tells it to
/// close.
pub(super) struct Slot {
    slots: Arc<Slots>,
    id: u64,
    pub(super) phase: Arc<Mutex<Phase>>,
    pub(super) evict: Arc<Notify>,
}

impl Slots {
    pub(super) fn new(cap: u32) -> Arc<Slots> {
        let table = Table { next: 0, held: HashMap::new(), live: 0 };
        Arc::new(Slots { cap: cap as usize, table: Mutex::new(table), emptied: Notify::new() })
    }

    /// A slot for a new connection: a free one, or the one of the connection
    /// evicted for it; `None` if every connection is serving a request.
    pub(super) fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut table = self.table.lock().expect("the slot table lock is never poisoned");
        if table.live >= self.cap && !table.evict_one() {
            return None;
        }
        let phase = Arc::new(Mutex::new(Phase::Idle(Instant::now())));
        let evict = Arc::new(Notify::new());
        let id = table.next;
        table.next += 1;
        table.live += 1;
        table.held.insert(id, Held { phase: phase.clone(), evict: evict.clone(), evicted: false });
        Some(Slot { slots: self.clone(), id, phase, evict })
    }

    /// Connections open now, the evicted ones not yet closed among them.
    pub(super) fn open(&self) -> usize {
        self.table.lock().expect("the slot table lock is never poisoned").held.len()
    }

    /// Waits up to `within` for every connection to close; `false` if some
    /// are still open then.
    pub(super) async fn all_closed(&self, within: Duration) -> bool {
        let closed = async {
            loop {
                let emptied = self.emptied.notified();
                if self.open() == 0 {
                    return;
                }
                emptied.await;
            }
        };
        tokio::time::timeout(within, closed).await.is_ok()
    }
}

/// A waiting connection's start of waiting, and its id.
type Oldest = (Instant, u64);

impl Table {
    /// Tells the connection that has waited longest for the rest of a
    /// request head to close, or else the one idle longest, and takes back
    /// its slot; `false` if every connection is serving a request.
    fn evict_one(&mut self) -> bool {
        // The oldest in each waiting phase.
        let (mut head, mut idle): (Option<Oldest>, Option<Oldest>) = (None, None);
        for (id, held) in self.held.iter().filter(|(_, held)| !held.evicted) {
            let phase = *held.phase.lock().expect("the phase lock is never poisoned");
            let (oldest, since) = match phase {
                Phase::Head(since) => (&mut head, since),
                Phase::Idle(since) => (&mut idle, since),
                Phase::Busy(_) => continue,
            };
            if oldest.is_none_or(|(then, _)| since < then) {
                *oldest = Some((since, *id));
            }
        }
        let Some((_, id)) = head.or(idle) else { return false };
        let held = self.held.get_mut(&id).expect("the id was found in the table just now");
        held.evicted = true;
        held.evict.notify_one();
        self.live -= 1;
        true
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = self.slots.table.lock().expect("the slot table lock is never poisoned");
        if let Some(held) = table.held.remove(&self.id)
            && !held.evicted
        {
            table.live -= 1;
        }
        if table.held.is_empty() {
            self.slots.emptied.notify_waiters();
        }
    }
}
