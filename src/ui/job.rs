//! One promise type for the app's background work (loading a file, re-analysing it, a filtered
//! timeline, What-if simulations).
//!
//! The UI thread never waits: it starts a [`Job`], polls it once a frame, and draws progress
//! from the atomics the worker updates. Each job has its own thread, so a slow one never holds
//! up another, and dropping a job (closing its tab) tells the worker to stop at its next check.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{channel, Receiver, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

/// Asks the UI for a frame; workers call it when they have news.
pub type Repaint = Arc<dyn Fn() + Send + Sync>;

/// What a worker sees of its job: whether to stop, and where to report progress.
#[derive(Clone)]
pub struct Worker {
    cancel: Arc<AtomicBool>,
    /// Progress of the current stage in millionths.
    progress: Arc<AtomicU64>,
    stage: Arc<AtomicU8>,
    repaint: Repaint,
}

impl Worker {
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Progress of the current stage, `done` of `total`.
    pub fn progress(&self, done: u64, total: u64) {
        let f = if total == 0 {
            0
        } else {
            (done as f64 / total as f64 * 1e6) as u64
        };
        self.progress.store(f.min(1_000_000), Ordering::Relaxed);
    }

    /// Enters stage `stage` (the job's own numbering) and asks for a frame to show it.
    pub fn stage(&self, stage: u8) {
        self.stage.store(stage, Ordering::Relaxed);
        (self.repaint)();
    }

    /// A closure the reader can call with `(done, total)`; it answers whether to go on.
    pub fn progress_callback(&self) -> Arc<dyn Fn(u64, u64) -> bool + Send + Sync> {
        let w = self.clone();
        Arc::new(move |done, total| {
            w.progress(done, total);
            !w.is_cancelled()
        })
    }
}

/// A value being computed on a worker thread.
pub struct Job<T> {
    worker: Worker,
    rx: Receiver<T>,
    pub started: Instant,
}

/// What polling a job found.
pub enum Polled<T> {
    Running,
    Done(T),
    /// The worker ended without an answer (it panicked, or could not be started).
    Lost,
}

impl<T: Send + 'static> Job<T> {
    /// Runs `work` on a new thread named `name`; `repaint` is called when it finishes.
    pub fn spawn(
        name: &str,
        repaint: Repaint,
        work: impl FnOnce(&Worker) -> T + Send + 'static,
    ) -> Job<T> {
        let worker = Worker {
            cancel: Arc::new(AtomicBool::new(false)),
            progress: Arc::new(AtomicU64::new(0)),
            stage: Arc::new(AtomicU8::new(0)),
            repaint,
        };
        let (tx, rx) = channel();
        let w = worker.clone();
        // A thread that cannot start leaves the receiver disconnected: polled as `Lost`.
        let _ = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let out = work(&w);
                let _ = tx.send(out);
                (w.repaint)();
            });
        Job {
            worker,
            rx,
            started: Instant::now(),
        }
    }

    pub fn poll(&self) -> Polled<T> {
        match self.rx.try_recv() {
            Ok(v) => Polled::Done(v),
            Err(TryRecvError::Empty) => Polled::Running,
            Err(TryRecvError::Disconnected) => Polled::Lost,
        }
    }
}

impl<T> Job<T> {
    /// Fraction of the current stage done (0..1).
    pub fn fraction(&self) -> f32 {
        self.worker.progress.load(Ordering::Relaxed) as f32 / 1e6
    }

    /// The stage the worker last entered (see [`Worker::stage`]).
    pub fn stage(&self) -> u8 {
        self.worker.stage.load(Ordering::Relaxed)
    }

    pub fn cancel(&self) {
        self.worker.cancel.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.worker.is_cancelled()
    }
}

impl<T> Drop for Job<T> {
    /// Nobody will read the answer: let the worker stop early.
    fn drop(&mut self) {
        self.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_answers_once_and_a_dropped_job_is_cancelled() {
        let job = Job::spawn("test", Arc::new(|| {}), |w| {
            w.stage(2);
            w.progress(1, 2);
            40 + 2
        });
        let started = Instant::now();
        let v = loop {
            match job.poll() {
                Polled::Done(v) => break v,
                Polled::Running => std::thread::sleep(std::time::Duration::from_millis(1)),
                Polled::Lost => panic!("the worker was lost"),
            }
            assert!(started.elapsed().as_secs() < 10, "the job never finished");
        };
        assert_eq!(v, 42);
        assert_eq!(job.stage(), 2);
        assert!((job.fraction() - 0.5).abs() < 1e-6);
        assert!(matches!(job.poll(), Polled::Lost));

        let (tx, rx) = channel();
        let job = Job::spawn("test", Arc::new(|| {}), move |w| {
            while !w.is_cancelled() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            let _ = tx.send(());
        });
        drop(job);
        assert!(rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok());
    }
}
