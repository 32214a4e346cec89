//! What the process holds after each run: resident memory, open file
//! descriptors and threads, read from `/proc/self`. A long `bench`
//! (`--repeat 1000 --pace fast`) is the soak: each run builds and tears
//! down a whole turn loop, so a leak of any of the three shows as growth
//! from an early run to the last.

use serde::Serialize;
use serde_json::{Value, json};

/// The process after one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Resources {
    /// Resident set size, KiB (`VmRSS`).
    pub rss_kib: u64,
    /// Open file descriptors.
    pub fds: u64,
    /// Threads.
    pub threads: u64,
}

impl Resources {
    /// Now, or `None` where `/proc/self` cannot be read (not Linux).
    #[must_use]
    pub fn now() -> Option<Self> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
        };
        let fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        Some(Self {
            rss_kib: field("VmRSS:")?,
            // The directory's own descriptor, open while it is counted.
            fds: fds.saturating_sub(1),
            threads: field("Threads:")?,
        })
    }
}

/// The soak's figures: the process after the baseline run (a tenth of the
/// way in, once caches and pools have settled: run 100 of 1,000) against
/// after the last one.
///
/// `runs` are the measured runs' `(run number, resources)` in order.
#[must_use]
pub fn soak(runs: &[(u32, Resources)]) -> Option<Value> {
    let (last_run, last) = *runs.last()?;
    let (base_run, base) = runs[(runs.len() / 10).saturating_sub(1).min(runs.len() - 1)];
    let growth = |a: u64, b: u64| {
        if a == 0 {
            0.0
        } else {
            (b as f64 - a as f64) / a as f64 * 100.0
        }
    };
    Some(json!({
        "baseline_run": base_run,
        "last_run": last_run,
        "rss_kib": [base.rss_kib, last.rss_kib],
        "rss_growth_pct": (growth(base.rss_kib, last.rss_kib) * 100.0).round() / 100.0,
        "fds": [base.fds, last.fds],
        "threads": [base.threads, last.threads],
        "peak_rss_kib": runs.iter().map(|(_, r)| r.rss_kib).max(),
    }))
}

/// Runs after which a soak's memory has settled (the arenas are full by
/// about run 50 on the build machine).
const SETTLED: u64 = 100;

/// The soak line of the table.
#[must_use]
pub fn line(soak: &Value) -> String {
    let pair = |key: &str| {
        (
            soak[key][0].as_u64().unwrap_or_default(),
            soak[key][1].as_u64().unwrap_or_default(),
        )
    };
    let (rss_a, rss_b) = pair("rss_kib");
    let (fd_a, fd_b) = pair("fds");
    let (th_a, th_b) = pair("threads");
    let mut line = format!(
        "process after run {} → run {}: RSS {:.1} → {:.1} MiB ({:+.2} %), file descriptors {fd_a} → {fd_b}, threads {th_a} → {th_b}\n",
        soak["baseline_run"],
        soak["last_run"],
        rss_a as f64 / 1024.0,
        rss_b as f64 / 1024.0,
        soak["rss_growth_pct"].as_f64().unwrap_or_default(),
    );
    if soak["last_run"].as_u64().unwrap_or_default() < SETTLED {
        line.push_str(&format!(
            "  (a short run: memory still grows while the allocator fills its per-thread arenas; a soak wants --repeat of {SETTLED} runs or more)\n"
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_read() {
        let now = Resources::now().unwrap_or_default();
        // The harness's threads and the three standard streams at least
        // (an exact count would race the tests running beside this one).
        assert!(now.rss_kib > 1024 && now.threads >= 2 && now.fds >= 3, "{now:?}");
    }

    #[test]
    fn the_baseline_is_a_tenth_of_the_way_in() {
        let runs: Vec<(u32, Resources)> = (1..=1000)
            .map(|k| {
                (
                    k,
                    Resources {
                        rss_kib: 100_000 + u64::from(k),
                        fds: 20,
                        threads: 9,
                    },
                )
            })
            .collect();
        let soak = soak(&runs).unwrap_or_default();
        assert_eq!(soak["baseline_run"], 100);
        assert_eq!(soak["last_run"], 1000);
        assert_eq!(soak["rss_kib"], json!([100_100, 101_000]));
        assert_eq!(soak["rss_growth_pct"], 0.9);
        assert_eq!(soak["peak_rss_kib"], 101_000);
        assert!(line(&soak).contains("run 100 → run 1000"), "{}", line(&soak));
        assert!(!line(&soak).contains("short run"), "{}", line(&soak));
        // One run: it is its own baseline.
        let one = super::soak(&runs[..1]).unwrap_or_default();
        assert_eq!(one["baseline_run"], 1);
        assert!(line(&one).contains("a short run"), "{}", line(&one));
        assert!(super::soak(&[]).is_none());
    }
}
