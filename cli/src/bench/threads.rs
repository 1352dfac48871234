//! The bench on a blocking client (`Commands`: blocking, mio): one thread
//! per worker, all sharing the client.

use std::thread;
use std::time::Instant;

use memwire::Commands;

use crate::bench::tally::{Outcome, Tally};
use crate::bench::workload::{Op, Phase};

/// Run `phase` on `workers` threads and merge their tallies.
pub fn run<C: Commands + Sync>(client: &C, phase: &Phase, workers: usize) -> Tally {
    thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|n| scope.spawn(move || work(client, phase, n)))
            .collect();
        let mut total = phase.tally();
        for handle in handles {
            match handle.join() {
                Ok(tally) => total.merge(tally),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        total
    })
}

/// One worker: operations until the phase is over.
fn work<C: Commands>(client: &C, phase: &Phase, worker: usize) -> Tally {
    let workload = &phase.workload;
    let mut rng = phase.rng(worker);
    let mut tally = phase.tally();
    let mut value = Vec::new();
    while let Some(op) = phase.next_op(&mut rng) {
        let key = workload.prepare(op, &mut value);
        let start = Instant::now();
        let outcome = match op {
            Op::Get(id) => Outcome::of_get(workload, id, client.get(&key)),
            Op::Set(_) => Outcome::of_set(client.set(&key, &value[..])),
        };
        phase.finish(&mut tally, op, &key, start.elapsed(), outcome);
    }
    tally
}
