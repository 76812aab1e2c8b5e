//! Memory per idle endpoint: open N, let the system settle, and compare
//! `/proc/meminfo` (and `/proc/slabinfo` when the kernel has it) before and
//! after; the same for N idle UDP sockets bound to 127.0.0.1.

use crate::sys;
use std::collections::BTreeMap;
use std::io;

/// The `/proc/meminfo` fields compared, and the sign that makes "more
/// memory used" positive: MemFree and MemAvailable go down as memory is
/// used, the others go up.
pub const FIELDS: [(&str, i64); 6] = [
    ("MemAvailable", -1),
    ("MemFree", -1),
    ("Slab", 1),
    ("SUnreclaim", 1),
    ("VmallocUsed", 1),
    ("Percpu", 1),
];

/// What opening `n` objects cost.
pub struct MemResult {
    pub n: usize,
    /// Per field of [`FIELDS`]: bytes used by all `n` objects (signed).
    pub used: BTreeMap<&'static str, i64>,
    /// Slab caches that grew, by bytes (active objects times object size),
    /// largest first; `None` without `/proc/slabinfo`.
    pub slab_growth: Option<Vec<(String, i64, i64)>>,
}

impl MemResult {
    /// Bytes per object of `field`.
    pub fn per_obj(&self, field: &str) -> f64 {
        self.used.get(field).copied().unwrap_or(0) as f64 / self.n as f64
    }
}

fn used(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<&'static str, i64> {
    FIELDS
        .iter()
        .filter_map(|&(f, sign)| {
            let (b, a) = (*before.get(f)? as i64, *after.get(f)? as i64);
            Some((f, sign * (a - b)))
        })
        .collect()
}

/// Changes between two meminfo readings with nothing opened in between:
/// the noise floor of [`measure`].
pub fn noise(settle: f64) -> io::Result<BTreeMap<&'static str, i64>> {
    sys::sleep_secs(settle);
    let a = sys::meminfo()?;
    sys::sleep_secs(settle);
    let b = sys::meminfo()?;
    Ok(used(&a, &b))
}

/// Opens `n` objects with `open`, keeps them idle for `settle` seconds, and
/// measures; then closes them all.
pub fn measure<T>(
    n: usize,
    settle: f64,
    mut open: impl FnMut() -> io::Result<T>,
) -> io::Result<MemResult> {
    let mut objs = Vec::with_capacity(n);
    sys::sleep_secs(settle);
    let before = sys::meminfo()?;
    let slab_before = sys::slabinfo();
    for _ in 0..n {
        objs.push(open()?);
    }
    sys::sleep_secs(settle);
    let after = sys::meminfo()?;
    let slab_after = sys::slabinfo();
    drop(objs);

    let slab_growth = match (slab_before, slab_after) {
        (Some(b), Some(a)) => {
            let mut g: Vec<(String, i64, i64)> = a
                .iter()
                .map(|(name, &(objs, size))| {
                    let (objs0, _) = b.get(name).copied().unwrap_or((0, size));
                    let d = objs as i64 - objs0 as i64;
                    (name.clone(), d, d * size as i64)
                })
                .filter(|(_, d, _)| *d > 0)
                .collect();
            g.sort_by_key(|x| std::cmp::Reverse(x.2));
            Some(g)
        }
        _ => None,
    };
    Ok(MemResult {
        n,
        used: used(&before, &after),
        slab_growth,
    })
}
