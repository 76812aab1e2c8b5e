//! What every sample shows of the kernel's side of its wait: the entries
//! the kernel hooked on its endpoints' wait queues while it waits, read
//! from the driver's wait-queue view (debugfs `wq`, `simnic::wq`), e.g.
//!
//! ```text
//! wq view while poll() waits (/sys/kernel/debug/simnic/wq):
//!   port 7000: pollwake, not exclusive, task 312 (sample-poll), private = poll_wqueues
//! ```
//!
//! Included with `#[path = "../../common/wq_view.rs"] mod wq_view;`. A
//! second thread does the looking, started just before the wait begins:
//! the main thread is the one waiting. The view needs root and a mounted
//! debugfs; without them the sample says so and carries on. With
//! `SIMNIC_WQ_VIEW=0` in the environment no thread is started and nothing
//! is shown (`simnic-trace record` sets it, so that the recorded timeline
//! holds the sample's own calls only).

use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use simnic::wq::{WaitEntry, WqView, WQ_PATH};

/// How long the looking thread keeps looking for an entry.
const PATIENCE: Duration = Duration::from_secs(5);
/// How long it looks when no entry is expected.
const GLANCE: Duration = Duration::from_millis(300);

/// The entries of this process on the queues of `ports` (tasks of this
/// process, or entries without a task: on our own ports, those are ours,
/// epoll's items), and those of this process on mini-epoll instances.
fn ours(view: &WqView, ports: &[u32]) -> Vec<(String, WaitEntry)> {
    let me = std::process::id() as i32;
    let mine = |e: &WaitEntry| e.task.as_ref().is_none_or(|t| t.tgid == me);
    let mut found = Vec::new();
    for &port in ports {
        if let Some(q) = view.endpoint(port) {
            for e in q.entries.iter().filter(|e| mine(e)) {
                found.push((format!("port {port}"), e.clone()));
            }
        }
    }
    for q in view.mini_epoll_queues() {
        for e in q
            .entries
            .iter()
            .filter(|e| e.task.as_ref().is_some_and(|t| t.tgid == me))
        {
            found.push((q.title.clone(), e.clone()));
        }
    }
    found
}

/// Whether the main thread (whose thread id is the process id) is asleep
/// in the kernel (state `S` in /proc/self/task/PID/stat).
fn main_thread_sleeping() -> bool {
    let path = format!("/proc/self/task/{}/stat", std::process::id());
    let Ok(stat) = std::fs::read_to_string(path) else {
        return false;
    };
    // The command name is in parentheses and may contain anything.
    stat.rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('S'))
}

/// Starts a thread that waits until the main thread sleeps with an entry of
/// ours on the queues of `ports` (at most a few seconds), then prints each,
/// saying that the wait is `waiting` ("poll()", "a blocking read()"). Join
/// it after the wait, so its line comes out before the program ends.
pub fn show_callbacks(ports: &[u32], waiting: &str) -> View {
    let ports = ports.to_vec();
    let waiting = waiting.to_string();
    spawn_quiet(move || {
        let start = Instant::now();
        loop {
            // Asleep before and after the reading: the view shows the wait.
            let asleep = main_thread_sleeping();
            let view = match WqView::read() {
                Ok(v) => v,
                Err(e) => return unavailable(&e),
            };
            let found = ours(&view, &ports);
            if asleep && main_thread_sleeping() && !found.is_empty() {
                let mut text = format!("wq view while {waiting} waits ({WQ_PATH}):\n");
                for (queue, e) in found {
                    text.push_str(&format!("  {queue}: {}\n", e.describe()));
                }
                print!("{text}");
                return;
            }
            if start.elapsed() > PATIENCE {
                println!("wq view: no entry of ours seen on the queues of ports {ports:?} while {waiting} waited");
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
    })
}

/// Starts a thread that looks at the queues of `ports` for a moment while
/// the program waits without a wait queue entry (`how`: "SIGIO arrives
/// through the fasync list"), and prints what it saw.
pub fn show_no_callback(ports: &[u32], waiting: &str, how: &str) -> View {
    let ports = ports.to_vec();
    let (waiting, how) = (waiting.to_string(), how.to_string());
    spawn_quiet(move || {
        let start = Instant::now();
        let mut seen = Vec::new();
        while start.elapsed() < GLANCE {
            match WqView::read() {
                Ok(v) => seen.extend(ours(&v, &ports)),
                Err(e) => return unavailable(&e),
            }
            thread::sleep(Duration::from_millis(20));
        }
        if seen.is_empty() {
            println!("wq view while {waiting} ({WQ_PATH}): no entry on the queues of ports {ports:?}: {how}");
        } else {
            let mut text = format!("wq view while {waiting} ({WQ_PATH}), unexpectedly:\n");
            for (queue, e) in seen {
                text.push_str(&format!("  {queue}: {}\n", e.describe()));
            }
            print!("{text}");
        }
    })
}

/// Starts the looking thread with every signal blocked: the program's
/// signals (SIGIO in sample-sigio) must go to its main thread.
/// The looking thread, if one was started.
pub struct View(Option<JoinHandle<()>>);

impl View {
    /// Waits for the looking thread to finish showing what it saw.
    pub fn join(self) -> thread::Result<()> {
        self.0.map_or(Ok(()), JoinHandle::join)
    }
}

fn spawn_quiet(f: impl FnOnce() + Send + 'static) -> View {
    if std::env::var_os("SIMNIC_WQ_VIEW").is_some_and(|v| v == "0") {
        return View(None);
    }
    // SAFETY: sigset_t is plain data; sigfillset fills it; blocking signals
    // in the calling thread only.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        // The new thread inherits the mask; this one gets its own back.
        let handle = thread::spawn(f);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        View(Some(handle))
    }
}

fn unavailable(e: &std::io::Error) {
    let why = match e.raw_os_error() {
        Some(libc::ENOENT) => "not there: is debugfs mounted and simnic.ko loaded?",
        Some(libc::EACCES) => "debugfs is readable by root only",
        _ => "",
    };
    println!("wq view: cannot read {WQ_PATH} ({e}) {why}; carrying on without it");
}
