//! The progress bar of a phase, on stderr (hidden when stderr is not a
//! terminal), updated by its own thread from the phase's counters so
//! that it works the same under threads and async tasks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::bench::workload::{Extent, Phase};
use crate::output::thousands;

/// How often the bar is redrawn.
const TICK: Duration = Duration::from_millis(100);

/// A running progress bar; [`finish`](Progress::finish) it when the
/// phase is over.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Progress {
    /// Draw `phase`'s progress, titled `label`.
    pub fn start(phase: &Arc<Phase>, label: &'static str) -> Progress {
        let extent = phase.extent();
        let length = match extent {
            Extent::Ops(n) => n,
            Extent::Time(t) => u64::try_from(t.as_millis()).unwrap_or(u64::MAX),
        };
        let style = ProgressStyle::with_template(
            "{prefix:>7} {elapsed_precise} [{wide_bar:.cyan/blue}] {percent:>3}% {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bar = ProgressBar::new(length)
            .with_style(style)
            .with_prefix(label);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (phase, stop) = (Arc::clone(phase), Arc::clone(&stop));
            thread::spawn(move || loop {
                let finished = stop.load(Ordering::Acquire);
                let (done, errors) = phase.counts();
                let elapsed = phase.elapsed();
                let position = match extent {
                    Extent::Ops(_) => done,
                    Extent::Time(_) => u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                };
                bar.set_position(position.min(length));
                let rate = done as f64 / elapsed.as_secs_f64().max(1e-9);
                bar.set_message(format!(
                    "{} ops  {} ops/s  {} errors",
                    thousands(done as f64),
                    thousands(rate),
                    thousands(errors as f64)
                ));
                if finished {
                    bar.finish();
                    return;
                }
                thread::park_timeout(TICK);
            })
        };
        Progress { stop, thread }
    }

    /// Draw the final state and stop.
    pub fn finish(self) {
        self.stop.store(true, Ordering::Release);
        self.thread.thread().unpark();
        let _ = self.thread.join();
    }
}
