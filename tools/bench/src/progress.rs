//! Progress lines and a watchdog: a measurement that stops making progress
//! (a lost datagram leaves a reader blocked forever) ends the program with a
//! diagnosis instead of hanging until the VM's timeout.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Shared by the measuring threads and the watchdog.
pub struct Progress {
    count: AtomicU64,
    phase: Mutex<String>,
    t0: u64,
}

impl Progress {
    /// Starts the watchdog: no [`bump`](Self::bump) and no new phase for
    /// `stall_secs` ends the process with exit status 3.
    pub fn start(stall_secs: u64) -> Arc<Self> {
        let p = Arc::new(Self {
            count: AtomicU64::new(0),
            phase: Mutex::new("start".into()),
            t0: crate::sys::now_ns(),
        });
        let w = Arc::clone(&p);
        std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                let mut last = u64::MAX;
                let mut still = 0;
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                    let c = w.count.load(Relaxed);
                    if c != last {
                        last = c;
                        still = 0;
                        continue;
                    }
                    still += 1;
                    if still >= stall_secs {
                        w.stalled();
                    }
                }
            })
            .expect("spawn watchdog");
        p
    }

    /// Marks progress.
    pub fn bump(&self) {
        self.count.fetch_add(1, Relaxed);
    }

    /// Starts a named phase and says so on stderr (`tools/bench/run` shows
    /// these lines live and keeps them out of the saved table).
    pub fn phase(&self, name: &str) {
        *self.phase.lock().unwrap() = name.to_string();
        self.bump();
        let t = (crate::sys::now_ns() - self.t0) as f64 / 1e9;
        eprintln!("simnic-bench: progress: [{t:6.1} s] {name}");
    }

    fn stalled(&self) -> ! {
        let phase = self.phase.lock().map(|p| p.clone()).unwrap_or_default();
        eprintln!("simnic-bench: no progress for a while in phase '{phase}': giving up");
        if let Ok(ep) = simnic::Endpoint::open_nonblocking() {
            if let Ok(s) = ep.nic_stats() {
                eprintln!("simnic-bench: NIC counters: {}", crate::stats::nic_raw(&s));
            }
            if let Ok(r) = ep.ring_state() {
                eprintln!("simnic-bench: rings: {r:?}");
            }
        }
        std::process::exit(3);
    }
}
