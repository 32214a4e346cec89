//! Where a stage's own thread runs its waits.
//!
//! A stage thread (`asr`, `tts`, `tts-interrupt`) needs an async runtime
//! only to wait on channels and cancellation tokens together; its work
//! (decoding, inference) runs on the thread itself, never on a runtime
//! worker. Called from within a tokio runtime (the daemon), a stage takes
//! that runtime's handle, so the daemon has one runtime per process;
//! called outside any (one-shot commands, benchmarks, synchronous tests),
//! it gets a private current-thread runtime. The waits use neither timers
//! nor I/O, so they need none of a runtime's drivers: they work the same on
//! a runtime whose own threads are busy, and on one that has shut down.

use std::future::Future;

/// A stage thread's event loop. See the [module docs](self).
#[derive(Debug)]
pub enum EventLoop {
    /// The caller's runtime: one runtime per process in the daemon.
    Shared(tokio::runtime::Handle),
    /// No runtime around the caller: a private current-thread one.
    Private(tokio::runtime::Runtime),
}

impl EventLoop {
    /// The runtime of the calling thread if it has one, else a new
    /// current-thread runtime. Call it on the caller's thread, not the
    /// stage's: a new thread is in no runtime.
    ///
    /// # Errors
    /// If a private runtime cannot be built.
    pub fn for_caller() -> std::io::Result<Self> {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => Ok(Self::Shared(handle)),
            // Only to wait on channels and tokens: no drivers to enable.
            Err(_) => tokio::runtime::Builder::new_current_thread().build().map(Self::Private),
        }
    }

    /// Runs `future` to completion on the calling thread, which must be in
    /// no runtime (a stage's own thread is not).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        match self {
            Self::Shared(handle) => handle.block_on(future),
            Self::Private(runtime) => runtime.block_on(future),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::EventLoop;

    #[test]
    fn a_stage_uses_the_callers_runtime_and_makes_one_only_without() {
        assert!(matches!(EventLoop::for_caller(), Ok(EventLoop::Private(_))));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(3)
            .build()
            .unwrap_or_else(|e| panic!("a test runtime: {e}"));
        match runtime.block_on(async { EventLoop::for_caller() }) {
            // The caller's runtime, not a new current-thread one.
            Ok(EventLoop::Shared(handle)) => assert_eq!(handle.metrics().num_workers(), 3),
            other => panic!("expected the caller's runtime, got {other:?}"),
        }
        // On the runtime's blocking pool, and under its enter guard (a sync
        // call inside the daemon), too.
        let blocking = runtime.block_on(async { tokio::task::spawn_blocking(EventLoop::for_caller).await });
        assert!(matches!(blocking, Ok(Ok(EventLoop::Shared(_)))), "{blocking:?}");
        let _entered = runtime.enter();
        assert!(matches!(EventLoop::for_caller(), Ok(EventLoop::Shared(_))));
    }

    #[test]
    fn a_shared_loop_needs_nobody_to_drive_its_runtime() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("a test runtime: {e}"));
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(1);
        let event_loop = runtime
            .block_on(async { EventLoop::for_caller() })
            .unwrap_or_else(|e| panic!("a loop: {e}"));
        // A current-thread runtime that nobody drives (its thread, this
        // one, is outside `Runtime::block_on`): the waits need no driver.
        let thread = std::thread::spawn(move || event_loop.block_on(async move { rx.recv().await }));
        tx.blocking_send(7).unwrap_or_else(|e| panic!("the thread waits: {e}"));
        assert_eq!(thread.join().ok().flatten(), Some(7));
    }
}
