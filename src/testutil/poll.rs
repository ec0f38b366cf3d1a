//! Waiting in tests for something that happens in another task or process: one way to
//! poll (a condition, how long, how often), and one panic message naming what was awaited.
//!
//! A check returns `bool`, `Option<T>` (its value once there) or `Result<T, E>` (the
//! error says what it saw instead, and ends up in the panic message).

use std::fmt::Display;
use std::time::Duration;

/// How long to wait and how often to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Poll {
    /// Give up after this long.
    pub timeout: Duration,
    /// Look again after this long.
    pub interval: Duration,
}

impl Poll {
    /// Up to `timeout`, looking every 10 ms.
    pub const fn within(timeout: Duration) -> Self {
        Self {
            timeout,
            interval: Duration::from_millis(10),
        }
    }

    /// The same timeout, looking every `interval`.
    pub const fn every(self, interval: Duration) -> Self {
        Self { interval, ..self }
    }
}

impl Default for Poll {
    /// Ten seconds, looking every 10 ms: generous for anything local.
    fn default() -> Self {
        Self::within(Duration::from_secs(10))
    }
}

/// What a check says: ready with a value, or not yet (with what it saw, if it can say).
pub trait Check {
    /// The value of a check that passed.
    type Value;
    /// `Ok` when ready; else what was seen instead, if anything.
    fn ready(self) -> Result<Self::Value, Option<String>>;
}

impl Check for bool {
    type Value = ();
    fn ready(self) -> Result<(), Option<String>> {
        if self { Ok(()) } else { Err(None) }
    }
}

impl<T> Check for Option<T> {
    type Value = T;
    fn ready(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

impl<T, E: Display> Check for Result<T, E> {
    type Value = T;
    fn ready(self) -> Result<T, Option<String>> {
        self.map_err(|e| Some(e.to_string()))
    }
}

fn gave_up(what: &str, poll: Poll, seen: Option<String>) -> ! {
    match seen {
        Some(seen) => panic!("waited {:?} for {what}; last seen:\n{seen}", poll.timeout),
        None => panic!("waited {:?} for {what}, in vain", poll.timeout),
    }
}

/// Looks until `check` passes or `poll.timeout` is over: its value, or what it saw last.
async fn poll_async<C: Check>(
    poll: Poll,
    mut check: impl AsyncFnMut() -> C,
) -> Result<C::Value, Option<String>> {
    let deadline = tokio::time::Instant::now() + poll.timeout;
    loop {
        match check().await.ready() {
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(poll.interval).await;
            }
            done => return done,
        }
    }
}

/// [`poll_async`] sleeping the thread between looks.
fn poll_blocking<C: Check>(
    poll: Poll,
    mut check: impl FnMut() -> C,
) -> Result<C::Value, Option<String>> {
    let deadline = std::time::Instant::now() + poll.timeout;
    loop {
        match check().ready() {
            Err(_) if std::time::Instant::now() < deadline => std::thread::sleep(poll.interval),
            done => return done,
        }
    }
}

/// Runs `check` every `poll.interval` until it passes, and returns its value; panics
/// naming `what` (and the last thing seen) after `poll.timeout`.
pub async fn eventually<C: Check>(
    what: &str,
    poll: Poll,
    check: impl AsyncFnMut() -> C,
) -> C::Value {
    poll_async(poll, check)
        .await
        .unwrap_or_else(|seen| gave_up(what, poll, seen))
}

/// Like [`eventually`] without panicking: whether `check` passed within `poll.timeout`
/// (for waits that fall back on something, or whose caller asserts with more context).
pub async fn wait_until<C: Check>(poll: Poll, check: impl AsyncFnMut() -> C) -> bool {
    poll_async(poll, check).await.is_ok()
}

/// [`eventually`] for tests without a runtime: sleeps the thread between checks.
pub fn eventually_blocking<C: Check>(what: &str, poll: Poll, check: impl FnMut() -> C) -> C::Value {
    poll_blocking(poll, check).unwrap_or_else(|seen| gave_up(what, poll, seen))
}

/// [`wait_until`] for tests without a runtime.
pub fn wait_until_blocking<C: Check>(poll: Poll, check: impl FnMut() -> C) -> bool {
    poll_blocking(poll, check).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn eventually_returns_the_value_once_ready() {
        let mut n = 0;
        let v = eventually("the third look", Poll::default(), async || {
            n += 1;
            (n == 3).then_some(n)
        })
        .await;
        assert_eq!(v, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "for the impossible; last seen:\nstill 0")]
    async fn eventually_names_what_it_awaited_and_what_it_saw() {
        let poll = Poll::within(Duration::from_millis(30));
        eventually("the impossible", poll, async || Err::<(), _>("still 0")).await;
    }

    #[test]
    fn blocking_waits_give_up_in_time() {
        let poll = Poll::within(Duration::from_millis(30)).every(Duration::from_millis(5));
        assert!(!wait_until_blocking(poll, || false));
        let mut n = 0;
        assert!(wait_until_blocking(poll, || {
            n += 1;
            n > 2
        }));
        assert_eq!(eventually_blocking("a value", poll, || Some(7)), 7);
    }
}
