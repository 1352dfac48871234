//! [`Pool`]: the connections of one server, bounded.

use std::sync::{Condvar, Mutex};
use std::time::Instant;

use memwire_core::Error;

use super::conn::Conn;
use crate::lock;

/// At most `max_open` connections to one server exist at once; up to
/// `max_idle` of them wait here between calls. A caller that finds every
/// connection busy waits for one to come back, until its deadline.
#[derive(Debug)]
pub(crate) struct Pool {
    max_open: usize,
    max_idle: usize,
    state: Mutex<State>,
    /// Signalled when a connection comes back or is dropped.
    freed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Boxed: moving a connection in and out costs a pointer, not the
    /// whole struct. With when each was last at work
    /// ([`Conn::last_active`]): idle since then, at the latest.
    idle: Vec<(Box<Conn>, Instant)>,
    /// Connections in existence: idle, in use, or being opened.
    open: usize,
    /// Callers waiting in [`Pool::acquire`]: only they need a wake-up
    /// (which costs a system call even when nobody waits).
    waiting: usize,
}

/// What [`Pool::acquire`] hands out.
pub(crate) enum Slot<'a> {
    /// An idle connection and since when it sat idle (check it with
    /// [`Conn::is_reusable`]).
    Idle(Box<Conn>, Instant),
    /// Room for one more connection: open it, or drop the permit.
    New(Permit<'a>),
}

/// The right to open one connection; dropping it gives the room back.
pub(crate) struct Permit<'a>(&'a Pool);

impl Permit<'_> {
    /// The connection was opened: it counts from now on, until it is
    /// returned with [`Pool::put_back`] or [`Pool::forget`].
    pub(crate) fn opened(self) {
        std::mem::forget(self);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.forget();
    }
}

impl Pool {
    pub(crate) fn new(max_open: usize, max_idle: usize) -> Pool {
        Pool {
            max_open: max_open.max(1),
            max_idle,
            state: Mutex::new(State::default()),
            freed: Condvar::new(),
        }
    }

    /// An idle connection or room for a new one, waiting until `deadline`
    /// while all `max_open` are busy.
    ///
    /// # Errors
    ///
    /// `Err(max_open)` when none came free by the deadline.
    pub(crate) fn acquire(&self, deadline: Instant) -> Result<Slot<'_>, usize> {
        let mut state = lock(&self.state);
        loop {
            if let Some((conn, since)) = state.idle.pop() {
                return Ok(Slot::Idle(conn, since));
            }
            if state.open < self.max_open {
                state.open += 1;
                return Ok(Slot::New(Permit(self)));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.max_open);
            }
            state.waiting += 1;
            state = self
                .freed
                .wait_timeout(state, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
            state.waiting -= 1;
        }
    }

    /// Return a connection after a call: kept for reuse when it is healthy
    /// and there is room, else dropped.
    pub(crate) fn put_back(&self, conn: Box<Conn>) {
        if conn.is_healthy() {
            let mut state = lock(&self.state);
            if state.idle.len() < self.max_idle {
                let since = conn.last_active();
                state.idle.push((conn, since));
                self.wake_one(state);
                return;
            }
        }
        self.forget();
    }

    /// A connection taken from the pool is gone (dropped).
    pub(crate) fn forget(&self) {
        let mut state = lock(&self.state);
        state.open = state.open.saturating_sub(1);
        self.wake_one(state);
    }

    /// Wake one waiting caller, if any, once the lock is released.
    fn wake_one(&self, state: std::sync::MutexGuard<'_, State>) {
        let waiting = state.waiting > 0;
        drop(state);
        if waiting {
            self.freed.notify_one();
        }
    }

    /// Take every idle connection out (to close them).
    #[allow(clippy::vec_box)]
    pub(crate) fn drain_idle(&self) -> Vec<Box<Conn>> {
        let mut state = lock(&self.state);
        let idle: Vec<Box<Conn>> = state.idle.drain(..).map(|(conn, _)| conn).collect();
        state.open = state.open.saturating_sub(idle.len());
        drop(state);
        self.freed.notify_all();
        idle
    }
}

/// A pool error as the [`Error`] a call returns.
pub(crate) fn exhausted(server: &impl std::fmt::Display, max: usize) -> Error {
    Error::PoolExhausted {
        server: server.to_string(),
        max,
    }
}
