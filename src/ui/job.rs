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

    /// The job's way to ask the UI for a frame, for work that outlives the job.
    pub fn repaint(&self) -> Repaint {
        self.repaint.clone()
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

/// The worker ended without an answer (it panicked, or could not be started).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost;

/// A view's one job in flight, with the key it was started for (the inputs of its answer:
/// an epoch, a cursor, a filter). A view starts a new job when its key changes, and takes the
/// answer with the key it belongs to, so an answer never lands on inputs it was not made for.
pub struct Pending<K, T> {
    job: Option<(K, Job<T>)>,
}

impl<K, T> Default for Pending<K, T> {
    fn default() -> Self {
        Pending { job: None }
    }
}

impl<K: PartialEq, T: Send + 'static> Pending<K, T> {
    /// Starts waiting on `job` for `key`; a job still running is dropped (and so cancelled).
    pub fn start(&mut self, key: K, job: Job<T>) {
        self.job = Some((key, job));
    }

    /// Whether a job is running.
    pub fn busy(&self) -> bool {
        self.job.is_some()
    }

    /// Whether the running job is for `key`.
    pub fn is_for(&self, key: &K) -> bool {
        self.job.as_ref().is_some_and(|(k, _)| k == key)
    }

    /// Drops the running job, if any (its worker stops at its next check).
    pub fn clear(&mut self) {
        self.job = None;
    }

    /// The answer with its key once the worker is done (or lost); nothing is running then.
    pub fn take(&mut self) -> Option<(K, Result<T, Lost>)> {
        let answer = match self.job.as_ref()?.1.poll() {
            Polled::Running => return None,
            Polled::Done(v) => Ok(v),
            Polled::Lost => Err(Lost),
        };
        self.job.take().map(|(k, _)| (k, answer))
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

    /// Polls `p` until its job answers (at most 10 s).
    fn answer(p: &mut Pending<u32, u32>) -> (u32, Result<u32, Lost>) {
        let started = Instant::now();
        loop {
            if let Some(a) = p.take() {
                return a;
            }
            assert!(started.elapsed().as_secs() < 10, "the job never answered");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn a_pending_job_gives_its_answer_once_with_its_key() {
        let mut p: Pending<u32, u32> = Pending::default();
        assert!(p.take().is_none() && !p.busy());
        p.start(7, Job::spawn("test", Arc::new(|| {}), |_| 6 * 7));
        assert!(p.is_for(&7) && !p.is_for(&8));
        assert_eq!(answer(&mut p), (7, Ok(42)));
        assert!(!p.busy() && p.take().is_none());

        p.start(1, Job::spawn("test", Arc::new(|| {}), |_| panic!("lost")));
        assert_eq!(answer(&mut p), (1, Err(Lost)));
    }
}
