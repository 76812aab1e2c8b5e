//! simnic-selftest: the in-guest test suite of /dev/simnic.
//!
//! Each test is a named function run in its own forked process, in its own
//! process group, with an alarm(2) timeout (longer for the few tests that
//! ask for it): a hang, a crash or a panic fails that test only, and
//! whatever it left running is killed before the next one starts. Output,
//! one line per test, then the totals:
//!
//! ```text
//! ok - echo_roundtrip
//! not ok - rx_queue_full_bytes: endpoint stats rx_drops 1 (expected 2); all: ...
//! selftest: 54 passed, 1 failed
//! ```
//!
//! Usage: `simnic-selftest [--list] [--timeout SECS] [--no-tracefs|--only-tracefs]
//! [FILTER...]`; a test runs
//! when its full name, `module::name` (`limits::rx_queue_full_bytes`),
//! contains any FILTER (all run without one), so a FILTER can pick a test or
//! a whole file of them. `--timeout` sets each test's alarm (default 60 s);
//! a test registered with a longer one (`cases/mod.rs`) keeps its own.
//! `--no-tracefs` leaves out the tests that turn tracepoints on or off
//! (`[tracefs]` in `cases/mod.rs`), `--only-tracefs` runs only those. Exit
//! status 0 when every test passed, 1 when one failed, 2 on a usage error.

/// Fails the test with a formatted reason unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+));
        }
    };
}

mod aio;
mod cases;
mod net;
mod sys;
mod udp;
mod uring;

use std::io::Write;
use std::time::{Duration, Instant};

use sys::{describe_status, errname, errno, signame};

/// How long one test may run before SIGALRM ends it: a guard against a
/// hang, far above what a test takes when it passes, even on an emulated
/// guest stalled by host load (every wait for something that must happen
/// inside a test is `sys::WAIT` or `sys::ARRIVAL`, 10 s, and fails with its
/// own message first).
const DEFAULT_TIMEOUT_SECS: u32 = 60;

/// One test: a name to select and print, the file (module of `cases`) it is
/// in, also matched by the filters, the function the child runs, the
/// seconds it needs at least (0: the default suffices), and whether it
/// turns tracepoints on or off.
pub struct Test {
    pub module: &'static str,
    pub name: &'static str,
    /// It toggles tracepoints, which rewrites kernel code: `make check`
    /// runs it in a guest whose vCPUs share one QEMU thread, where that
    /// cannot race with the other vCPU (Documentation/testing.rst, "Two
    /// boots"). `--no-tracefs` skips it, `--only-tracefs` runs only such.
    pub tracefs: bool,
    pub min_timeout: u32,
    pub run: fn() -> sys::TestResult,
}

fn usage() -> ! {
    eprintln!(
        "usage: simnic-selftest [--list] [--timeout SECS] [--no-tracefs|--only-tracefs] [FILTER...]"
    );
    eprintln!("  runs the tests whose module::name contains any FILTER (all without one)");
    eprintln!("  --no-tracefs: skip the tests that toggle tracepoints; any other that tries fails");
    eprintln!("  --only-tracefs: run only the tests that toggle tracepoints");
    std::process::exit(2);
}

fn main() {
    let mut filters: Vec<String> = Vec::new();
    let mut list = false;
    let mut timeout = DEFAULT_TIMEOUT_SECS;
    // None: every test; Some(b): only those whose `tracefs` is b.
    let mut tracefs: Option<bool> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--list" | "-l" => list = true,
            "--no-tracefs" if tracefs != Some(true) => tracefs = Some(false),
            "--only-tracefs" if tracefs != Some(false) => tracefs = Some(true),
            "--timeout" | "-t" => {
                timeout = match args.next().and_then(|v| v.parse().ok()) {
                    Some(t) if t > 0 => t,
                    _ => usage(),
                }
            }
            "--help" | "-h" => usage(),
            s if s.starts_with('-') => usage(),
            _ => filters.push(arg),
        }
    }

    let selected = select(cases::TESTS, &filters, tracefs);
    // Inherited by every test's child: one not marked `[tracefs]` that
    // turns a tracepoint on fails, instead of racing in a guest whose
    // vCPUs run in parallel.
    if tracefs == Some(false) {
        sys::TRACEFS_ALLOWED.store(false, std::sync::atomic::Ordering::Relaxed);
        // And for the programs the tests run: `simnic-trace record`
        // refuses to start under it. Set before any thread exists.
        std::env::set_var("SIMNIC_NO_TRACEFS", "1");
    }
    if list {
        for t in &selected {
            println!("{}", t.name);
        }
        return;
    }
    if selected.is_empty() {
        eprintln!("selftest: no test matches {}", filters.join(" "));
        std::process::exit(2);
    }

    // Panics are reported as the test's failure reason, not printed by the
    // default hook.
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut m) = sys::LAST_PANIC.lock() {
            *m = Some(info.to_string());
        }
    }));
    // Orphans of a test (its children that outlive it) are re-parented to
    // the runner, so it can kill and reap them before the next test.
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };

    let plural = if selected.len() == 1 { "" } else { "s" };
    println!(
        "# simnic-selftest: {} test{plural}, {timeout} s timeout each{}",
        selected.len(),
        selected
            .iter()
            .filter(|t| t.min_timeout > timeout)
            .map(|t| format!(", {} s for {}", t.min_timeout, t.name))
            .collect::<String>()
    );
    let (mut passed, mut failed) = (0, 0);
    for test in selected {
        let verdict = run_one(test, timeout.max(test.min_timeout));
        // A test killed half-way cannot undo its NIC-wide settings (a
        // generator flow, a wire delay, the limits, loopback off); do it
        // for it, so that one failure does not spread to the tests after it.
        net::restore_nic();
        match verdict {
            Ok(()) => {
                passed += 1;
                println!("ok - {}", test.name);
            }
            Err(reason) => {
                failed += 1;
                println!("not ok - {}: {}", test.name, reason.replace('\n', " "));
            }
        }
    }
    println!("selftest: {passed} passed, {failed} failed");
    let _ = std::io::stdout().flush();
    std::process::exit(if failed > 0 { 1 } else { 0 });
}

/// The tests of `tests` whose `module::name` contains one of `filters`
/// (all without one) and, with `tracefs` given, whose `tracefs` mark is it.
fn select<'a>(tests: &'a [Test], filters: &[String], tracefs: Option<bool>) -> Vec<&'a Test> {
    tests
        .iter()
        .filter(|t| {
            let full = format!("{}::{}", t.module, t.name);
            (filters.is_empty() || filters.iter().any(|f| full.contains(f.as_str())))
                && tracefs.is_none_or(|only| t.tracefs == only)
        })
        .collect()
}

/// Runs `test` in a forked child in a new process group, with an alarm of
/// `timeout` seconds; the child sends its failure reason through a pipe.
fn run_one(test: &Test, timeout: u32) -> Result<(), String> {
    let pipe = sys::Pipe::new()?;
    use std::os::fd::AsRawFd;
    let (rfd, wfd) = (pipe.r.as_raw_fd(), pipe.w.as_raw_fd());
    // SAFETY: the runner is single-threaded; the child runs the test and
    // _exits.
    let pid = unsafe { sys::fork_flushed() }?;
    if pid == 0 {
        // SAFETY: setpgid/alarm/_exit on ourselves.
        unsafe {
            libc::setpgid(0, 0);
            libc::alarm(timeout);
        }
        let result = match std::panic::catch_unwind(test.run) {
            Ok(r) => r,
            Err(_) => Err(sys::take_panic_message()),
        };
        let code = match result {
            Ok(()) => 0,
            Err(reason) => {
                let mut bytes = reason.into_bytes();
                bytes.truncate(4000); // below PIPE_BUF: one write, never blocks
                let _ = sys::write(wfd, &bytes);
                1
            }
        };
        // SAFETY: _exit never returns; no stdio state of the runner is
        // flushed twice.
        unsafe { libc::_exit(code) };
    }
    // SAFETY: both calls only affect the child we just forked (setpgid here
    // too closes the race with the child's own call).
    unsafe { libc::setpgid(pid, pid) };
    drop(pipe.w);

    // The alarm ends the child; the runner still keeps its own deadline in
    // case a test blocks SIGALRM or the child is stuck in the kernel.
    let started = Instant::now();
    let deadline = started + Duration::from_secs(u64::from(timeout) + 5);
    let mut status = 0;
    let mut watchdog_fired = false;
    loop {
        // SAFETY: `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        if r < 0 && errno() != libc::EINTR {
            return Err(format!("waitpid: {}", errname(errno())));
        }
        if Instant::now() >= deadline && !watchdog_fired {
            watchdog_fired = true;
            // SAFETY: kill our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(2));
    }

    let mut reason = Vec::new();
    if sys::set_nonblocking(rfd, true).is_ok() {
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = sys::read(rfd, &mut chunk) {
            reason.extend_from_slice(&chunk[..n]);
        }
    }
    let leftovers = kill_process_group(pid);
    let reason = String::from_utf8_lossy(&reason).into_owned();

    let mut verdict = if watchdog_fired {
        Err(format!(
            "hung: still running {} s after its {timeout} s alarm, killed",
            timeout + 5
        ))
    } else if libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGALRM {
        Err(format!("timed out after {timeout} s"))
    } else if libc::WIFSIGNALED(status) {
        Err(format!(
            "crashed: killed by {}",
            signame(libc::WTERMSIG(status))
        ))
    } else if status == 0 {
        Ok(())
    } else if !reason.is_empty() {
        Err(reason)
    } else {
        Err(format!(
            "test process {} without a reason",
            describe_status(status)
        ))
    };
    if leftovers > 0 {
        // Left-over processes hold the device open and would spoil the next
        // tests (and the refcount test); say so even when the test passed.
        let note = format!("left {leftovers} process(es) running, killed");
        verdict = match verdict {
            Ok(()) => Err(note),
            Err(r) => Err(format!("{r} (and {note})")),
        };
    }
    verdict
}

/// Kills every process left in the test's process group and reaps them (they
/// are the runner's children once their parents died: the runner is a
/// subreaper). Returns how many it reaped.
fn kill_process_group(pgid: libc::pid_t) -> usize {
    let mut count = 0;
    let deadline = Instant::now() + sys::WAIT;
    // SAFETY: signal and reap only the test's own process group.
    unsafe {
        // ESRCH: nobody, not even a zombie, is left in the group.
        while libc::kill(-pgid, libc::SIGKILL) == 0 && Instant::now() < deadline {
            while libc::waitpid(-pgid, std::ptr::null_mut(), libc::WNOHANG) > 0 {
                count += 1;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    count
}

#[cfg(test)]
mod tests {
    //! The runner's verdicts, on the host: these tests do not touch the
    //! device. One #[test] runs them in sequence, so the process does not
    //! fork while other test threads run.
    use super::*;

    fn passes() -> sys::TestResult {
        Ok(())
    }
    fn fails() -> sys::TestResult {
        Err("boom\nsecond line".into())
    }
    fn panics() -> sys::TestResult {
        let v: Vec<u8> = Vec::new();
        assert_eq!(v.len(), 1, "the vector is empty");
        Ok(())
    }
    fn hangs() -> sys::TestResult {
        std::thread::sleep(Duration::from_secs(30));
        Ok(())
    }
    fn aborts() -> sys::TestResult {
        std::process::abort()
    }
    fn leaves_a_child() -> sys::TestResult {
        let child = sys::Child::spawn(|| {
            std::thread::sleep(Duration::from_secs(30));
            0
        })?;
        std::mem::forget(child); // so its Drop does not kill it
        Ok(())
    }

    fn run(run: fn() -> sys::TestResult, timeout: u32) -> Result<(), String> {
        run_one(
            &Test {
                module: "m",
                name: "t",
                min_timeout: 0,
                tracefs: false,
                run,
            },
            timeout,
        )
    }

    /// `--no-tracefs` and `--only-tracefs` split the suite in two, the
    /// filters still apply, and the trace tests are on the tracefs side.
    #[test]
    fn tracefs_selection_splits_the_suite() {
        let all = select(cases::TESTS, &[], None);
        let only = select(cases::TESTS, &[], Some(true));
        let none = select(cases::TESTS, &[], Some(false));
        assert_eq!(all.len(), cases::TESTS.len());
        assert_eq!(only.len() + none.len(), all.len());
        assert!(only.iter().all(|t| t.tracefs) && none.iter().all(|t| !t.tracefs));
        for name in [
            "trace_events_one_datagram_in_order",
            "trace_timeline_blocking_read",
            "module_hw_dma_context",
        ] {
            assert!(
                only.iter().any(|t| t.name == name),
                "{name} not marked [tracefs]"
            );
        }
        assert!(none.iter().any(|t| t.name == "echo_roundtrip"));
        assert!(none.iter().any(|t| t.name == "module_hw_execution_models"));
        let f = vec!["trace::".to_string()];
        let traced = select(cases::TESTS, &f, Some(true));
        assert!(!traced.is_empty() && traced.iter().all(|t| t.module == "trace"));
        assert!(select(cases::TESTS, &f, Some(false)).is_empty());
    }

    #[test]
    fn verdicts() {
        let _guard = sys::tests::FORK_LOCK.lock().unwrap();
        std::panic::set_hook(Box::new(|info| {
            *sys::LAST_PANIC.lock().unwrap() = Some(info.to_string());
        }));
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };

        // Alarms far above what these take, but for `hangs`: a loaded host
        // must not time out a test that passes.
        assert_eq!(run(passes, 60), Ok(()));
        assert_eq!(run(fails, 60), Err("boom\nsecond line".to_string()));
        let reason = run(panics, 60).unwrap_err();
        assert!(
            reason.contains("main.rs") && reason.contains("the vector is empty"),
            "{reason}"
        );

        let t0 = Instant::now();
        assert_eq!(run(hangs, 1), Err("timed out after 1 s".to_string()));
        // Well before the 30 s the test sleeps: the alarm ended it.
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the timeout took {:?}",
            t0.elapsed()
        );

        assert_eq!(
            run(aborts, 60),
            Err("crashed: killed by SIGABRT".to_string())
        );

        let t0 = Instant::now();
        assert_eq!(
            run(leaves_a_child, 60),
            Err("left 1 process(es) running, killed".to_string())
        );
        // Well before the 30 s the child sleeps: it was killed.
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "cleaning up took {:?}",
            t0.elapsed()
        );
        _ = std::panic::take_hook();
    }

    #[test]
    fn test_names_are_unique_and_module_tests_run_last() {
        let names: Vec<&str> = cases::TESTS.iter().map(|t| t.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            names.len(),
            "duplicate test names in {names:?}"
        );
        assert_eq!(names.last(), Some(&"module_refcount_unload"));
        // The tests that unload and reload simnic.ko run after all others.
        let first_module = names.iter().position(|n| n.starts_with("module_")).unwrap();
        assert!(
            names[first_module..]
                .iter()
                .all(|n| n.starts_with("module_")),
            "a test runs after the module tests: {names:?}"
        );
    }
}
