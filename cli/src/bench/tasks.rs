//! The bench on an async client (`AsyncCommands`: smol, tokio): one task
//! per worker, all sharing the client. The worker is written once; only
//! spawning and joining the tasks differ between the runtimes.

use std::sync::Arc;
use std::time::Instant;

use memwire::AsyncCommands;

use crate::bench::tally::{Outcome, Tally};
use crate::bench::workload::{Op, Phase};

/// Run `phase` on `workers` smol tasks and merge their tallies.
pub fn run_smol<C>(client: &C, phase: &Arc<Phase>, workers: usize) -> Tally
where
    C: AsyncCommands + Clone + Send + Sync + 'static,
{
    smol::block_on(async {
        let tasks: Vec<_> = (0..workers)
            .map(|n| smol::spawn(work(client.clone(), Arc::clone(phase), n)))
            .collect();
        let mut total = phase.tally();
        for task in tasks {
            total.merge(task.await);
        }
        total
    })
}

/// Run `phase` on `workers` tokio tasks and merge their tallies.
pub fn run_tokio<C>(
    runtime: &tokio::runtime::Runtime,
    client: &C,
    phase: &Arc<Phase>,
    workers: usize,
) -> Tally
where
    C: AsyncCommands + Clone + Send + Sync + 'static,
{
    runtime.block_on(async {
        let tasks: Vec<_> = (0..workers)
            .map(|n| tokio::spawn(work(client.clone(), Arc::clone(phase), n)))
            .collect();
        let mut total = phase.tally();
        for task in tasks {
            match task.await {
                Ok(tally) => total.merge(tally),
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
        total
    })
}

/// One worker: operations until the phase is over.
async fn work<C: AsyncCommands + Sync>(client: C, phase: Arc<Phase>, worker: usize) -> Tally {
    let workload = &phase.workload;
    let mut rng = phase.rng(worker);
    let mut tally = phase.tally();
    let mut value = Vec::new();
    while let Some(op) = phase.next_op(&mut rng) {
        let key = workload.prepare(op, &mut value);
        let start = Instant::now();
        let outcome = match op {
            Op::Get(id) => Outcome::of_get(workload, id, client.get(&key).await),
            Op::Set(_) => Outcome::of_set(client.set(&key, &value[..]).await),
        };
        phase.finish(&mut tally, op, &key, start.elapsed(), outcome);
    }
    tally
}
