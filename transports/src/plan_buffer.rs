//! The list of commands a call plans into, kept per thread between calls
//! ([`Call::start_reusing`]): a call allocates none of its own.

use std::cell::Cell;

use memwire_core::client::{Call, Dispatch, Operation, Router};

/// Longest list kept: a longer one (a multi-get over many servers, a
/// broadcast to many) is dropped rather than held by an idle thread.
const KEEP: usize = 16;

thread_local! {
    static SPARE: Cell<Vec<Dispatch>> = const { Cell::new(Vec::new()) };
}

/// [`Call::start`], planning into this thread's spare list.
#[inline]
pub(crate) fn start<O: Operation>(op: O, router: &Router) -> Result<Call<O>, O::Output> {
    let buffer = SPARE.try_with(Cell::take).unwrap_or_default();
    Call::start_reusing(op, router, buffer)
}

/// [`Call::finish`], keeping the call's list for this thread's next call
/// (an async call may finish on another thread than it started: either
/// thread's spare serves).
#[inline]
pub(crate) fn finish<O: Operation>(call: Call<O>) -> O::Output {
    let (output, buffer) = call.finish_reusing();
    if buffer.capacity() <= KEEP {
        // During the thread's teardown the list is simply dropped.
        let _ = SPARE.try_with(|spare| spare.set(buffer));
    }
    output
}
