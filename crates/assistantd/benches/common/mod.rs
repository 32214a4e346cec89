//! Helpers shared by the benchmark binaries (`asr.rs`, `tts.rs`).

use std::time::Duration;

/// A positive integer argument, or an error naming it.
pub fn positive(name: &str, v: &str) -> Result<usize, String> {
    v.parse()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{name} {v}: expected a positive integer"))
}

/// CPU time of the whole process (every thread, user + system), as Python's
/// `time.process_time()` measures it.
pub fn cpu_time() -> Duration {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// The reading of a POSIX clock (zero if it cannot be read): e.g.
/// `CLOCK_THREAD_CPUTIME_ID`, or `CLOCK_MONOTONIC`, which `Instant` and
/// Python's `time.monotonic_ns()` both read on Linux.
pub fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call; an
    // unknown clock id makes the call fail with EINVAL, handled below.
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// Median; the mean of the middle two for an even count.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}
