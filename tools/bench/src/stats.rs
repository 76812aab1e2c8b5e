//! Sample summaries and counter arithmetic.

use simnic::NicStats;

/// Order statistics of a set of nanosecond samples.
#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    pub n: usize,
    pub min: u64,
    pub p10: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
    pub mean: u64,
}

impl Summary {
    /// Summarises `samples` (nearest-rank percentiles).
    pub fn of(samples: &[u64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        let mut s = samples.to_vec();
        s.sort_unstable();
        let rank = |p: f64| s[((p / 100.0 * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
        Self {
            n: s.len(),
            min: s[0],
            p10: rank(10.0),
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            max: s[s.len() - 1],
            mean: s.iter().sum::<u64>() / s.len() as u64,
        }
    }

    /// One line of raw numbers, in nanoseconds.
    pub fn raw(&self) -> String {
        format!(
            "n={} min={} p50={} p90={} p99={} max={} mean={} (ns)",
            self.n, self.min, self.p50, self.p90, self.p99, self.max, self.mean
        )
    }
}

/// `after - before`, counter by counter.
pub fn nic_delta(before: &NicStats, after: &NicStats) -> NicStats {
    after.wrapping_sub(before)
}

/// `a + b`, counter by counter (deltas of several blocks).
pub fn nic_sum(a: &NicStats, b: &NicStats) -> NicStats {
    a.wrapping_add(b)
}

/// The counters as `name=value` pairs, for the raw section.
pub fn nic_raw(s: &NicStats) -> String {
    s.fields()
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).rev().collect();
        let s = Summary::of(&v);
        assert_eq!(
            (s.n, s.min, s.p10, s.p50, s.p90, s.p99, s.max, s.mean),
            (100, 1, 10, 50, 90, 99, 100, 50)
        );
        let one = Summary::of(&[7]);
        assert_eq!((one.p50, one.p99), (7, 7));
        assert_eq!(Summary::of(&[]).n, 0);
    }

    #[test]
    fn counter_arithmetic() {
        let a = NicStats {
            irqs: 3,
            wakeups: 10,
            ..Default::default()
        };
        let b = NicStats {
            irqs: 5,
            wakeups: 25,
            ..Default::default()
        };
        let d = nic_delta(&a, &b);
        assert_eq!((d.irqs, d.wakeups), (2, 15));
        assert_eq!(nic_sum(&a, &d), b);
        assert!(nic_raw(&d).starts_with("irqs=2 "));
    }
}
