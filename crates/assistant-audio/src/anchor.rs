//! A sample position and the clock time it was seen, published by an audio
//! callback and read by another thread without locks.
//!
//! Devices deliver and take samples in bursts, so audio is timed by anchors:
//! the callback stamps one sample of a burst with the pipeline clock, and
//! the neighbouring samples are placed from it at the stream's rate. The
//! pair is written under a sequence lock (one writer, the callback; it never
//! waits) so a reader never sees the index of one stamp with the time of
//! another.

use std::sync::atomic::{AtomicU64, Ordering};

use assistant_core::Timestamp;

/// The latest (sample index, time) pair. One writer.
#[derive(Debug, Default)]
pub(crate) struct Anchor {
    /// Odd while a write is in progress; 0 before the first.
    seq: AtomicU64,
    index: AtomicU64,
    nanos: AtomicU64,
}

impl Anchor {
    /// Publishes a new pair (only ever called by the one writer).
    pub(crate) fn publish(&self, index: u64, at: Timestamp) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq + 1, Ordering::Release);
        self.index.store(index, Ordering::Release);
        self.nanos.store(at.as_nanos(), Ordering::Release);
        self.seq.store(seq + 2, Ordering::Release);
    }

    /// The latest pair, read consistently; `None` before the first.
    pub(crate) fn read(&self) -> Option<(u64, Timestamp)> {
        loop {
            let before = self.seq.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let index = self.index.load(Ordering::Acquire);
            let nanos = self.nanos.load(Ordering::Acquire);
            if self.seq.load(Ordering::Acquire) == before {
                return Some((index, Timestamp::from_nanos(nanos)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_sees_whole_pairs() {
        let anchor = std::sync::Arc::new(Anchor::default());
        assert_eq!(anchor.read(), None);
        let writer = {
            let anchor = std::sync::Arc::clone(&anchor);
            std::thread::spawn(move || {
                for i in 1..200_000_u64 {
                    anchor.publish(i, Timestamp::from_nanos(i * 10));
                }
            })
        };
        for _ in 0..100_000 {
            if let Some((index, at)) = anchor.read() {
                assert_eq!(at.as_nanos(), index * 10, "a torn pair");
            }
        }
        writer.join().expect("writer");
        assert_eq!(anchor.read(), Some((199_999, Timestamp::from_nanos(1_999_990))));
    }
}
