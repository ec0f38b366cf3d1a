//! Bounds on the backend's connections, so that connections that never speak cannot lock
//! everyone out (512 of them once made every client fail "did not complete the MCP
//! handshake" for as long as they stayed open).
//!
//! - A connection must complete the MCP handshake within [`HANDSHAKE_TIMEOUT`]; it is
//!   closed otherwise.
//! - A connection is *idle* when no request of its is in flight (a client waiting on
//!   `task_await` is not idle). At most [`MAX_IDLE_CONNECTIONS`] idle connections and
//!   [`super::socket::MAX_CONNECTIONS`] connections in all are kept: a new connection that
//!   needs room closes an idle one, those that never completed the handshake first, then
//!   the one idle for longest. When every connection is busy, the new one is refused.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rmcp::model::RequestId;
use tokio_util::sync::CancellationToken;

use super::socket::MAX_CONNECTIONS;

/// Idle connections kept at once; a new connection beyond it closes the oldest idle one.
pub const MAX_IDLE_CONNECTIONS: usize = 64;

/// How long a new connection has to complete the MCP handshake (`initialize`).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The bounds in force (the constants above; tests use smaller ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections in all.
    pub max_connections: usize,
    /// Idle connections.
    pub max_idle: usize,
    /// Time to complete the handshake.
    pub handshake_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: MAX_CONNECTIONS,
            max_idle: MAX_IDLE_CONNECTIONS,
            handshake_timeout: HANDSHAKE_TIMEOUT,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[derive(Debug)]
struct ActivityState {
    in_flight: HashSet<RequestId>,
    last: Instant,
    handshaken: bool,
}

/// What one connection is doing: its requests in flight (seen by its transport) and
/// whether it completed the handshake.
#[derive(Debug)]
pub struct Activity {
    state: Mutex<ActivityState>,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            state: Mutex::new(ActivityState {
                in_flight: HashSet::new(),
                last: Instant::now(),
                handshaken: false,
            }),
        }
    }
}

impl Activity {
    /// A request arrived.
    pub fn request(&self, id: RequestId) {
        let mut st = lock(&self.state);
        st.in_flight.insert(id);
        st.last = Instant::now();
    }

    /// A request was answered (or cancelled by the client, which gets no answer).
    pub fn answered(&self, id: &RequestId) {
        let mut st = lock(&self.state);
        st.in_flight.remove(id);
        st.last = Instant::now();
    }

    /// The handshake completed.
    pub fn handshaken(&self) {
        lock(&self.state).handshaken = true;
    }

    /// No request in flight.
    pub fn is_idle(&self) -> bool {
        lock(&self.state).in_flight.is_empty()
    }

    /// Which idle connection goes first: not handshaken before handshaken, then idle
    /// since longest.
    fn eviction_key(&self) -> (bool, Instant) {
        let st = lock(&self.state);
        (st.handshaken, st.last)
    }
}

struct Open {
    activity: Arc<Activity>,
    close: CancellationToken,
    evict: CancellationToken,
}

#[derive(Default)]
struct Table {
    next: u64,
    open: BTreeMap<u64, Open>,
}

/// The open connections, and which to close when a new one needs room.
pub struct Connections {
    limits: ConnectionLimits,
    table: Mutex<Table>,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("limits", &self.limits)
            .field("open", &lock(&self.table).open.len())
            .finish()
    }
}

/// A connection admitted: its activity, the token that closes it, and its place in the
/// table until dropped.
pub struct Slot {
    connections: Arc<Connections>,
    id: u64,
    /// What the connection is doing (hand it to its transport).
    pub activity: Arc<Activity>,
    /// Cancelled when the connection must close (evicted, or the backend stops).
    pub close: CancellationToken,
    /// Cancelled only when it is evicted: it closes at once, even if its peer does not read.
    pub evict: CancellationToken,
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.connections.table).open.remove(&self.id);
    }
}

impl Connections {
    /// An empty table under these limits.
    pub fn new(limits: ConnectionLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            table: Mutex::new(Table::default()),
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> ConnectionLimits {
        self.limits
    }

    /// Connections in the table.
    pub fn open(&self) -> usize {
        lock(&self.table).open.len()
    }

    /// Makes room for a new connection (closing idle ones, see the module docs) and
    /// admits it; `None` when every connection is busy and the new one must be refused.
    /// Its token is a child of `stop`.
    pub fn admit(self: &Arc<Self>, stop: &CancellationToken) -> Option<Slot> {
        let mut table = lock(&self.table);
        loop {
            let idle: Vec<(u64, (bool, Instant))> = table
                .open
                .iter()
                .filter(|(_, o)| o.activity.is_idle())
                .map(|(id, o)| (*id, o.activity.eviction_key()))
                .collect();
            // The new connection is idle too: it needs room among the idle ones.
            if table.open.len() < self.limits.max_connections && idle.len() < self.limits.max_idle {
                break;
            }
            let victim = idle
                .iter()
                .min_by_key(|(id, key)| (*key, *id))
                .map(|(id, _)| *id);
            let Some(victim) = victim else {
                tracing::warn!(
                    limit = self.limits.max_connections,
                    "every connection is busy; refusing a new one"
                );
                return None;
            };
            if let Some(o) = table.open.remove(&victim) {
                tracing::info!(
                    handshaken = o.activity.eviction_key().0,
                    "closing the oldest idle connection to make room for a new one"
                );
                o.close.cancel();
                o.evict.cancel();
            }
        }
        table.next += 1;
        let id = table.next;
        let activity = Arc::new(Activity::default());
        let close = stop.child_token();
        let evict = CancellationToken::new();
        table.open.insert(
            id,
            Open {
                activity: Arc::clone(&activity),
                close: close.clone(),
                evict: evict.clone(),
            },
        );
        Some(Slot {
            connections: Arc::clone(self),
            id,
            activity,
            close,
            evict,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_connections: usize, max_idle: usize) -> Arc<Connections> {
        Connections::new(ConnectionLimits {
            max_connections,
            max_idle,
            handshake_timeout: HANDSHAKE_TIMEOUT,
        })
    }

    fn id(n: i64) -> RequestId {
        RequestId::Number(n)
    }

    #[test]
    fn a_new_connection_closes_the_oldest_idle_one_never_a_busy_one() {
        let stop = CancellationToken::new();
        let c = limits(3, 3);
        let busy = c.admit(&stop).expect("room");
        busy.activity.request(id(1));
        let older = c.admit(&stop).expect("room");
        let newer = c.admit(&stop).expect("room");
        let fourth = c.admit(&stop).expect("room by closing an idle one");
        assert!(older.close.is_cancelled(), "the oldest idle one is closed");
        assert!(older.evict.is_cancelled(), "at once");
        assert!(!newer.close.is_cancelled() && !busy.close.is_cancelled());
        assert_eq!(c.open(), 3);
        // Every one busy: a new one is refused, nothing is closed.
        newer.activity.request(id(1));
        fourth.activity.request(id(7));
        assert!(c.admit(&stop).is_none());
        assert!(!busy.close.is_cancelled() && !newer.close.is_cancelled());
        // An answered request makes its connection idle, hence closable again.
        busy.activity.answered(&id(1));
        let fifth = c.admit(&stop).expect("room by closing the one now idle");
        assert!(busy.close.is_cancelled());
        drop((older, newer, fourth, fifth));
        assert_eq!(c.open(), 0, "dropped slots leave the table");
    }

    #[test]
    fn silent_connections_go_before_handshaken_ones() {
        let stop = CancellationToken::new();
        let c = limits(10, 2);
        let client = c.admit(&stop).expect("room");
        client.activity.handshaken();
        let silent = c.admit(&stop).expect("room");
        let _third = c.admit(&stop).expect("room");
        assert!(silent.close.is_cancelled(), "the silent one goes first");
        assert!(!client.close.is_cancelled(), "the handshaken client stays");
    }

    #[test]
    fn stopping_the_backend_closes_every_connection() {
        let stop = CancellationToken::new();
        let c = limits(10, 10);
        let a = c.admit(&stop).expect("room");
        stop.cancel();
        assert!(a.close.is_cancelled());
        assert!(
            !a.evict.is_cancelled(),
            "answers already queued are still written"
        );
    }
}
