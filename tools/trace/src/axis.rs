// SPDX-License-Identifier: GPL-2.0

//! The figure's time axis: linear, except that long stretches in which
//! nothing happens (the sender's sleep before it sends, say) are cut out
//! and drawn as a narrow break, so that the steps of the datagram get the
//! width.

/// Pixels an elided gap takes.
pub const GAP_PX: f64 = 34.0;
/// The least width of a segment between two gaps: a burst of steps
/// between two long waits stays legible (each segment has its own tick
/// labels, so its scale can be read off).
pub const MIN_SEGMENT_PX: f64 = 130.0;

/// One linear piece of the axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    pub t0: u64,
    pub t1: u64,
    pub x0: f64,
    pub x1: f64,
}

/// A piecewise-linear map from time to x.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub segments: Vec<Segment>,
}

/// The gaps between consecutive `times` (sorted, deduplicated) that are
/// elided: each longer than a quarter of the time not yet elided, found
/// again after each round (at most three), so that one long sleep does not
/// hide the shorter ones around it, and short steps are never cut.
pub fn elided_gaps(times: &[u64]) -> Vec<(u64, u64)> {
    let Some((&first, &last)) = times.first().zip(times.last()) else {
        return Vec::new();
    };
    let total = last - first;
    let mut cut: Vec<(u64, u64)> = Vec::new();
    for _ in 0..3 {
        let rest = total - cut.iter().map(|(a, b)| b - a).sum::<u64>();
        let threshold = rest / 4;
        let before = cut.len();
        for w in times.windows(2) {
            let (a, b) = (w[0], w[1]);
            if b - a > threshold && !cut.contains(&(a, b)) {
                cut.push((a, b));
            }
        }
        if cut.len() == before {
            break;
        }
    }
    cut.sort_unstable();
    cut
}

/// Each piece's width: proportional to its duration, but at least
/// [`MIN_SEGMENT_PX`] (when there is room for that), the others sharing
/// what is left in proportion.
fn segment_widths(pieces: &[(u64, u64)], width: f64) -> Vec<f64> {
    let n = pieces.len();
    let mut fixed = vec![false; n];
    if MIN_SEGMENT_PX * n as f64 > width {
        return pieces.iter().map(|_| width / n as f64).collect();
    }
    loop {
        let rest_w = width - MIN_SEGMENT_PX * fixed.iter().filter(|&&f| f).count() as f64;
        let rest_t: u64 = pieces
            .iter()
            .zip(&fixed)
            .filter(|(_, &f)| !f)
            .map(|((a, b), _)| b - a)
            .sum::<u64>()
            .max(1);
        let widths: Vec<f64> = pieces
            .iter()
            .zip(&fixed)
            .map(|((a, b), &f)| {
                if f {
                    MIN_SEGMENT_PX
                } else {
                    rest_w * (b - a) as f64 / rest_t as f64
                }
            })
            .collect();
        let mut changed = false;
        for i in 0..n {
            if !fixed[i] && widths[i] < MIN_SEGMENT_PX {
                fixed[i] = true;
                changed = true;
            }
        }
        if !changed {
            return widths;
        }
    }
}

impl Axis {
    /// The axis from `x0` to `x1` pixels for the instants `times` (every
    /// start, end and event the figure draws).
    pub fn new(times: &[u64], x0: f64, x1: f64) -> Axis {
        let mut times = times.to_vec();
        times.sort_unstable();
        times.dedup();
        let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
            return Axis {
                segments: vec![Segment {
                    t0: 0,
                    t1: 1,
                    x0,
                    x1,
                }],
            };
        };
        let gaps = elided_gaps(&times);
        let mut pieces = Vec::new();
        let mut from = first;
        for &(a, b) in &gaps {
            pieces.push((from, a));
            from = b;
        }
        pieces.push((from, last.max(from + 1)));
        let width = (x1 - x0) - GAP_PX * gaps.len() as f64;
        let widths = segment_widths(&pieces, width);
        let mut x = x0;
        let mut segments = Vec::new();
        for ((a, b), w) in pieces.into_iter().zip(widths) {
            segments.push(Segment {
                t0: a,
                t1: b,
                x0: x,
                x1: x + w,
            });
            x += w + GAP_PX;
        }
        Axis { segments }
    }

    /// The x of time `t` (inside a gap: its break, proportionally).
    pub fn x(&self, t: u64) -> f64 {
        let segs = &self.segments;
        if t <= segs[0].t0 {
            return segs[0].x0;
        }
        for (i, s) in segs.iter().enumerate() {
            if t <= s.t1 {
                let f = (t - s.t0) as f64 / (s.t1 - s.t0).max(1) as f64;
                return s.x0 + f * (s.x1 - s.x0);
            }
            if let Some(n) = segs.get(i + 1) {
                if t < n.t0 {
                    let f = (t - s.t1) as f64 / (n.t0 - s.t1) as f64;
                    return s.x1 + f * (n.x0 - s.x1);
                }
            }
        }
        segs[segs.len() - 1].x1
    }

    /// The elided gaps: (t start, t end, x start, x end).
    pub fn breaks(&self) -> Vec<(u64, u64, f64, f64)> {
        self.segments
            .windows(2)
            .map(|w| (w[0].t1, w[1].t0, w[0].x1, w[1].x0))
            .collect()
    }
}

/// A tick step of 1, 2 or 5 times a power of ten, near `raw`.
pub fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    let n = if m < 1.5 {
        1.0
    } else if m < 3.5 {
        2.0
    } else if m < 7.5 {
        5.0
    } else {
        10.0
    };
    n * p
}

/// Microseconds for the labels: "0", "12.5", "1 234", "103 512".
pub fn fmt_us(ns: u64) -> String {
    let us = ns as f64 / 1e3;
    let whole = us.trunc() as u64;
    let mut digits = whole.to_string();
    let mut grouped = String::new();
    while digits.len() > 3 {
        let tail = digits.split_off(digits.len() - 3);
        grouped = format!("\u{2009}{tail}{grouped}");
    }
    grouped = format!("{digits}{grouped}");
    if us < 100.0 && !ns.is_multiple_of(1000) {
        format!("{us:.1}")
    } else {
        grouped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_idle_gaps_are_cut_short_steps_kept() {
        // Steps 10 apart, then a sleep of 1000, then more steps.
        let t = [0, 10, 20, 30, 1030, 1040, 1050];
        assert_eq!(elided_gaps(&t), vec![(30, 1030)]);
        // Evenly spaced: nothing to cut.
        assert!(elided_gaps(&[0, 10, 20, 30, 40, 50]).is_empty());
        // Two sleeps of different lengths: both go, in two rounds.
        let t = [0, 10, 20, 2020, 2030, 2330, 2340];
        assert_eq!(elided_gaps(&t), vec![(20, 2020), (2030, 2330)]);
    }

    #[test]
    fn axis_is_monotonic_and_spans_its_width() {
        let t = [0, 10, 20, 30, 1030, 1040, 1050];
        let a = Axis::new(&t, 100.0, 1100.0);
        assert_eq!(a.segments.len(), 2);
        assert_eq!(a.x(0), 100.0);
        assert!((a.x(1050) - 1100.0).abs() < 1e-9);
        let mut prev = f64::MIN;
        for t in 0..=1050 {
            let x = a.x(t);
            assert!(x >= prev, "x({t}) = {x} < {prev}");
            prev = x;
        }
        // The 1000 of idle time take GAP_PX, the 50 of steps the rest.
        let (_, _, xa, xb) = a.breaks()[0];
        assert!((xb - xa - GAP_PX).abs() < 1e-9);
        assert!((a.x(30) - a.x(0) - (1000.0 - GAP_PX) * 30.0 / 50.0).abs() < 1e-9);
    }

    #[test]
    fn short_segments_get_a_least_width() {
        // A burst of 10 between two sleeps, beside 1000 of steady steps.
        let mut t: Vec<u64> = (0..=10).map(|i| i * 100).collect();
        t.extend([100_000, 100_010, 200_000]);
        let a = Axis::new(&t, 0.0, 1000.0);
        assert_eq!(a.segments.len(), 3, "{a:?}");
        for s in &a.segments {
            assert!(s.x1 - s.x0 >= MIN_SEGMENT_PX - 1e-9, "{s:?}");
        }
        assert!((a.segments[2].x1 - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn labels() {
        assert_eq!(fmt_us(0), "0");
        assert_eq!(fmt_us(12_500), "12.5");
        assert_eq!(fmt_us(1_234_000), "1\u{2009}234");
        assert_eq!(fmt_us(103_512_345), "103\u{2009}512");
        assert_eq!(nice_step(0.7), 0.5);
        assert_eq!(nice_step(2600.0), 2000.0);
        assert_eq!(nice_step(80.0), 100.0);
    }
}
