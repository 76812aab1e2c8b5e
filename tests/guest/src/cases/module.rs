//! Module lifetime and parameters. These tests unload and reload simnic.ko,
//! so they run after all the others, and each puts back the default load
//! (no parameters) before it ends, also when it fails. Last of all,
//! `module_refcount_unload`: every open file holds a reference on
//! simnic.ko, so it cannot be unloaded while in use; once unused it
//! unloads, its node goes, and it loads again.

use std::ffi::{CStr, CString};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use simnic::{Endpoint, GEN_STOP_ALL, RCVBUF_MAX};

use crate::cases::nic::{burst_into_rx_ring, fill_tx, fill_tx_exactly, held_fill};
use crate::net::*;
use crate::sys::*;

const REFCNT: &str = "/sys/module/simnic/refcnt";
const PARAMS: &str = "/sys/module/simnic/parameters";
const DEFAULT_KO: &str = "/lib/modules/simnic.ko";

fn refcnt() -> Result<u64, String> {
    let s = std::fs::read_to_string(REFCNT).map_err(|e| format!("{REFCNT}: {e}"))?;
    s.trim()
        .parse()
        .map_err(|_| format!("{REFCNT}: {s:?} is not a number"))
}

fn expect_refcnt(want: u64, what: &str) -> TestResult {
    let got = refcnt()?;
    ensure!(got == want, "{what}: {REFCNT} is {got}, expected {want}");
    Ok(())
}

/// delete_module("simnic", O_NONBLOCK): Ok(()) or Err(errno).
fn delete_module() -> Result<(), i32> {
    // SAFETY: a NUL-terminated name and integer flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_delete_module,
            c"simnic".as_ptr(),
            libc::O_NONBLOCK,
        )
    };
    if r != 0 {
        return Err(errno());
    }
    Ok(())
}

/// finit_module(open($SIMNIC_KO or /lib/modules/simnic.ko), params, 0):
/// Ok(()) or Err(errno); Err(String) when the file cannot be opened.
fn finit_module(params: &str) -> Result<Result<(), i32>, String> {
    let path = std::env::var("SIMNIC_KO").unwrap_or_else(|_| DEFAULT_KO.to_string());
    let cpath = CString::new(path.clone()).map_err(|_| format!("bad SIMNIC_KO {path:?}"))?;
    let cparams = CString::new(params).map_err(|_| format!("bad parameters {params:?}"))?;
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(cpath.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    ensure!(fd >= 0, "open {path}: {}", errname(errno()));
    // SAFETY: an open fd, a NUL-terminated parameter string, no flags.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, fd, cparams.as_ptr(), 0) };
    let e = errno();
    // SAFETY: our fd.
    unsafe { libc::close(fd) };
    Ok(if r == 0 { Ok(()) } else { Err(e) })
}

fn exists(path: &CStr) -> Result<bool, String> {
    match stat(path) {
        Ok(_) => Ok(true),
        Err(libc::ENOENT) => Ok(false),
        Err(e) => Err(format!("stat {path:?}: {}", errname(e))),
    }
}

fn loaded() -> Result<bool, String> {
    exists(c"/sys/module/simnic")
}

/// Loads simnic.ko with `params` and waits for /dev/simnic to open.
fn load(params: &str) -> TestResult {
    finit_module(params)?.map_err(|e| {
        format!(
            "finit_module(simnic.ko, {params:?}) failed with {}",
            errname(e)
        )
    })?;
    let deadline = Instant::now() + WAIT;
    loop {
        match Endpoint::open_nonblocking() {
            Ok(_) => return Ok(()),
            Err(e) if raw(&e) == libc::ENOENT && Instant::now() < deadline => sleep_ms(20),
            Err(e) => {
                return Err(format!(
                    "open /dev/simnic after loading with {params:?}: {e}"
                ))
            }
        }
    }
}

/// Unloads simnic.ko (nothing may hold it) and waits for /dev/simnic to go.
fn unload(what: &str) -> TestResult {
    delete_module().map_err(|e| {
        format!(
            "{what}: delete_module failed with {} (refcnt {})",
            errname(e),
            refcnt().map(|r| r.to_string()).unwrap_or_else(|e| e)
        )
    })?;
    let deadline = Instant::now() + WAIT;
    while exists(c"/dev/simnic")? {
        ensure!(
            Instant::now() < deadline,
            "{what}: /dev/simnic still exists {} s after the module was unloaded",
            WAIT.as_secs()
        );
        sleep_ms(20);
    }
    ensure!(
        !loaded()?,
        "{what}: /sys/module/simnic still exists after delete_module succeeded"
    );
    Ok(())
}

/// Puts back the default load: unloads whatever is loaded (a test may have
/// left it loaded with parameters) and loads simnic.ko without parameters.
fn restore_default_load() -> TestResult {
    if loaded()? {
        // Files a failed test still had open are closed by now, but a
        // child it forked may take a moment to die.
        let deadline = Instant::now() + WAIT;
        while refcnt()? > 0 && Instant::now() < deadline {
            sleep_ms(20);
        }
        unload("restoring the default load")?;
    }
    load("")
}

/// Runs `f` with simnic.ko loaded with `params`, then restores the default
/// load whatever `f` returned.
pub(crate) fn with_params(params: &str, f: impl FnOnce() -> TestResult) -> TestResult {
    ensure!(loaded()?, "simnic is not loaded at the start of the test");
    expect_refcnt(0, "before reloading (a file left open by an earlier test?)")?;
    unload(&format!("unloading to reload with {params:?}"))?;
    let r = load(params).and_then(|()| f());
    match (r, restore_default_load()) {
        (r, Ok(())) => r,
        (Ok(()), Err(e)) => Err(e),
        (Err(r), Err(e)) => Err(format!("{r} (and {e})")),
    }
}

fn param(name: &str) -> Result<String, String> {
    let path = format!("{PARAMS}/{name}");
    Ok(std::fs::read_to_string(&path)
        .map_err(|e| format!("{path}: {e}"))?
        .trim()
        .to_string())
}

fn expect_params(want: &[(&str, u32)], what: &str) -> TestResult {
    for (name, v) in want {
        let got = param(name)?;
        ensure!(
            got == v.to_string(),
            "{what}: {PARAMS}/{name} is {got:?}, expected {v}"
        );
    }
    Ok(())
}

/// Module parameters out of range make the load fail with EINVAL, leaving
/// no module behind: rx_ring_size and tx_ring_size not a power of two in
/// 64..=4096, budget outside 1..=4096, tx_delay_us above 1000000, and a
/// value that is not a number.
pub fn module_params_invalid() -> TestResult {
    ensure!(loaded()?, "simnic is not loaded at the start of the test");
    expect_refcnt(0, "before unloading (a file left open by an earlier test?)")?;
    unload("unloading to try invalid parameters")?;
    let mut result = Ok(());
    for params in [
        "rx_ring_size=100",
        "rx_ring_size=32",
        "rx_ring_size=8192",
        "rx_ring_size=0",
        "tx_ring_size=100",
        "tx_ring_size=8192",
        "budget=0",
        "budget=4097",
        "tx_delay_us=2000000",
        "tx_delay_us=1000001",
        "budget=abc",
        "hw_inline=2",
    ] {
        let r = finit_module(params).and_then(|r| match r {
            Err(libc::EINVAL) => Ok(()),
            Err(e) => Err(format!(
                "finit_module with {params:?} failed with {}, expected EINVAL",
                errname(e)
            )),
            Ok(()) => {
                let _ = unload("unloading the module loaded with invalid parameters");
                Err(format!(
                    "finit_module with {params:?} succeeded, expected EINVAL"
                ))
            }
        });
        let r = r.and_then(|()| {
            ensure!(
                !loaded()?,
                "/sys/module/simnic exists after the refused load with {params:?}"
            );
            Ok(())
        });
        if r.is_err() {
            result = r;
            break;
        }
    }
    match (result, restore_default_load()) {
        (r, Ok(())) => r,
        (Ok(()), Err(e)) => Err(e),
        (Err(r), Err(e)) => Err(format!("{r} (and {e})")),
    }
}

/// Valid parameters take effect and show in /sys/module/simnic/parameters
/// and RING_STATE: rx_ring_size=64 tx_ring_size=128 tx_delay_us=20000 give
/// rings of 64 and 128 (127 one-descriptor frames fill the TX ring), a
/// 20 ms wire delay, and an RX ring that misses all but 63 frames of a
/// burst of 100; the limits rx_ring_size=4096 tx_ring_size=64 budget=4096
/// tx_delay_us=1000000 load too, and the TX ring of 64 holds exactly 63
/// one-descriptor frames for the 1 s the delay keeps them.
pub fn module_params_valid() -> TestResult {
    with_params("rx_ring_size=64 tx_ring_size=128 tx_delay_us=20000", || {
        expect_params(
            &[
                ("rx_ring_size", 64),
                ("tx_ring_size", 128),
                ("budget", 64),
                ("tx_delay_us", 20000),
            ],
            "loaded with rx_ring_size=64 tx_ring_size=128 tx_delay_us=20000",
        )?;
        let ep = open_dev()?;
        let fd = ep.as_raw_fd();
        let s = ring_state(&ep)?;
        ensure!(
            (s.rx_size, s.tx_size, s.budget, s.tx_delay_ns) == (64, 128, 64, 20_000_000),
            "RING_STATE with rx_ring_size=64 tx_ring_size=128 tx_delay_us=20000: {s:?}"
        );
        let t0 = Instant::now();
        send(fd, b"slow wire", "write with a 20 ms wire delay")?;
        let mut buf = [0u8; 64];
        let n = read(fd, &mut buf).map_err(|e| format!("blocking read: {}", errname(e)))?;
        check_data(&buf[..n], b"slow wire", "the delayed echo")?;
        ensure!(
            t0.elapsed() >= Duration::from_millis(20),
            "the echo took {} ms with tx_delay_us=20000",
            t0.elapsed().as_millis()
        );

        // The TX ring of 128 takes 3 frames of 33 descriptors and 14 of 2
        // (127 descriptors), with a delay that holds them. They leave nearly
        // together for an RX ring of 64, which misses what it cannot hold:
        // each is delivered or counted missed.
        const DELAY: Duration = Duration::from_secs(1);
        okay(ep.set_rcvbuf(RCVBUF_MAX), "SET_RCVBUF")?;
        let f = held_fill(&ep, DELAY, "filling the 128-descriptor TX ring", |_| {
            (fill_tx_exactly(&ep, 127), write(fd, b""))
        })?;
        let ((filled, last), n0) = (f.out, f.n0);
        let (nbig, nmid) = filled?;
        okay(ep.set_tx_delay_ns(0), "SET_TX_DELAY(0)")?;
        expect_errno(
            last,
            libc::ENOBUFS,
            "write of 0 bytes with the 128-descriptor TX ring full",
        )?;
        let n = u64::from(nbig + nmid);
        settle(&ep)?;
        let d = nic_delta(&n0, &nic_stats(&ep)?);
        let queued = u64::from(ep_stats(&ep)?.queued);
        ensure!(
            d.tx_packets == n
                && d.tx_busy == 3
                && d.rx_packets + d.rx_missed == n
                && queued == d.rx_packets,
            "{n} frames through a TX ring of 128 into an RX ring of 64: {queued} queued; {}",
            nic_summary(&d)
        );
        let mut buf = vec![0u8; 65536];
        // A blocking endpoint: drain it without waiting.
        while ep.recv_from(&mut buf, true).is_ok() {}

        // The RX ring of 64: 63 of a burst of 100.
        let _restore = NicRestore(&ep);
        okay(ep.set_rcvbuf(RCVBUF_MAX), "SET_RCVBUF")?;
        burst_into_rx_ring(&ep, 0, 100, 16)
    })?;

    with_params(
        "rx_ring_size=4096 tx_ring_size=64 budget=4096 tx_delay_us=1000000",
        || {
            expect_params(
                &[
                    ("rx_ring_size", 4096),
                    ("tx_ring_size", 64),
                    ("budget", 4096),
                    ("tx_delay_us", 1_000_000),
                ],
                "loaded with the largest values",
            )?;
            let ep = open_dev_nonblocking()?;
            let s = ring_state(&ep)?;
            ensure!(
            (s.rx_size, s.tx_size, s.budget, s.tx_delay_ns) == (4096, 64, 4096, 1_000_000_000),
            "RING_STATE with rx_ring_size=4096 tx_ring_size=64 budget=4096 tx_delay_us=1000000: {s:?}"
        );
            // The delay the module was loaded with holds the frames (held_fill
            // sets the same 1 s again, and again after a try the guest stalled
            // through).
            let port = port_of(&ep)?;
            let f = held_fill(
                &ep,
                Duration::from_secs(1),
                "filling the TX ring of 64",
                |_| {
                    let n = fill_tx(&ep, b"o", 63, "1-byte frames into the TX ring of 64");
                    (n, as_sys(ep.send_to(port, b"x")))
                },
            )?;
            let ((n, sendto), t0, n0) = (f.out, f.t0, f.n0);
            let n = n?;
            ensure!(
                n == 63,
                "the TX ring of 64 took {n} one-descriptor frames, expected 63"
            );
            expect_errno(sendto, libc::ENOBUFS, "SENDTO with the TX ring of 64 full")?;
            wait_queued(&ep, 63, "the 63 frames, after the 1 s delay")?;
            ensure!(
                t0.elapsed() >= Duration::from_secs(1),
                "the frames arrived {} ms after they were sent with tx_delay_us=1000000",
                t0.elapsed().as_millis()
            );
            settle(&ep)?;
            let d = nic_delta(&n0, &nic_stats(&ep)?);
            expect_nic(
                &d,
                &[
                    ("tx_packets", 63),
                    ("tx_busy", 2),
                    ("rx_packets", 63),
                    ("rx_missed", 0),
                ],
                "after the fill",
            )?;
            Ok(())
        },
    )
}

/// With budget=4 (RING_STATE and the parameter say so) a burst of 100
/// frames is cleaned 4 descriptors per poll: 25 polls use up their budget
/// and reschedule, a 26th finds the ring empty and completes; one
/// interrupt for all of it.
pub fn module_budget() -> TestResult {
    with_params("budget=4", || {
        expect_params(
            &[("budget", 4), ("rx_ring_size", 256), ("tx_ring_size", 256)],
            "loaded with budget=4",
        )?;
        let ep = open_dev_nonblocking()?;
        let _restore = NicRestore(&ep);
        let port = port_of(&ep)?;
        let s = settle(&ep)?;
        ensure!(
            s.budget == 4,
            "RING_STATE.budget is {} with budget=4",
            s.budget
        );
        let n0 = nic_stats(&ep)?;
        okay(
            ep.gen_start(&flow(0, port, 16, 1, 100, 100)),
            "GEN_START of a 100-frame burst",
        )?;
        wait_queued(&ep, 100, "the burst")?;
        settle(&ep)?;
        expect_nic(
            &nic_delta(&n0, &nic_stats(&ep)?),
            &[
                ("gen_packets", 100),
                ("rx_packets", 100),
                ("rx_descs", 100),
                ("irqs", 1),
                ("polls", 26),
                ("budget_exhausted", 25),
                ("napi_complete", 1),
            ],
            "a burst of 100 frames with budget 4",
        )?;
        // And traffic through the TX ring is cleaned the same way.
        let n1 = nic_stats(&ep)?;
        let mut tx = Paced::new(&ep)?;
        for i in 0..10 {
            tx.send(&pattern(i, 10), "write")?;
        }
        settle(&ep)?;
        let d = nic_delta(&n1, &nic_stats(&ep)?);
        ensure!(
            d.rx_descs == 10 && d.rx_packets == 10 && d.polls >= 3,
            "10 frames with budget 4: {}",
            nic_summary(&d)
        );
        Ok(())
    })
}

/// The module unloads cleanly with traffic in flight: frames waiting on the
/// TX ring for their launch time, generator flows running (to an endpoint
/// and to nobody), datagrams queued on endpoints, and all files closed.
/// It then loads again fresh: counters at zero, no delay, no flow running.
pub fn module_unload_traffic() -> TestResult {
    ensure!(loaded()?, "simnic is not loaded at the start of the test");
    expect_refcnt(
        0,
        "before the test opens anything (a file left open by an earlier test?)",
    )?;
    let r = (|| -> TestResult {
        {
            let a = open_dev_nonblocking()?;
            let b = open_dev_nonblocking()?;
            let pb = port_of(&b)?;
            okay(b.set_rcvbuf(RCVBUF_MAX), "SET_RCVBUF")?;
            okay(a.set_tx_delay_ns(1_000_000_000), "SET_TX_DELAY(1 s)")?;
            for i in 0..50 {
                expect_count(
                    as_sys(a.send_to(pb, &pattern(i, 1000))),
                    1000,
                    "SENDTO held by the delay",
                )?;
            }
            okay(a.gen_start(&flow(0, pb, 64, 5000, 8, 0)), "GEN_START to b")?;
            okay(
                a.gen_start(&flow(1, 4444, 64, 1000, 1, 0)),
                "GEN_START to nobody",
            )?;
            okay(
                a.gen_start(&flow(2, pb, 65535, 200, 1, 0)),
                "GEN_START of 65535-byte frames to b",
            )?;
            wait_queued(&b, 20, "generated datagrams at b")?;
            let s = ring_state(&a)?;
            ensure!(
                s.tx_head != s.tx_tail,
                "the delayed frames left the TX ring early: {s:?}"
            );
        }
        expect_refcnt(0, "with every file closed and the generator running")?;
        unload("unloading with traffic in flight")?;
        load("")?;
        let ep = open_dev_nonblocking()?;
        let s = settle(&ep)?;
        ensure!(
            s.tx_delay_ns == 0 && s.tx_head == 0 && s.tx_tail == 0 && s.rx_head == 0,
            "the reloaded module's rings are not fresh: {s:?}"
        );
        // A fresh NIC: its counters start at 0 and nothing runs without a
        // doorbell (a flow of the old module cannot have survived: the
        // counters would show it, whenever it ran).
        sleep_ms(QUIET.as_millis() as u64);
        let st = nic_stats(&ep)?;
        expect_nic(
            &st,
            &[
                ("gen_packets", 0),
                ("tx_packets", 0),
                ("rx_packets", 0),
                ("irqs", 0),
            ],
            "the reloaded module",
        )?;
        send(ep.as_raw_fd(), b"fresh", "write after reloading")?;
        expect_datagram(ep.as_raw_fd(), b"fresh", "echo after reloading")
    })();
    if r.is_err() {
        // Stop the flows before anything else, if the module is still there.
        if let Ok(ep) = Endpoint::open_nonblocking() {
            let _ = ep.gen_stop(GEN_STOP_ALL);
            let _ = ep.set_tx_delay_ns(0);
        }
    }
    match (r, restore_default_load()) {
        (r, Ok(())) => r,
        (Ok(()), Err(e)) => Err(e),
        (Err(r), Err(e)) => Err(format!("{r} (and {e})")),
    }
}

fn echo(ep: &Endpoint, msg: &[u8], what: &str) -> TestResult {
    send(ep.as_raw_fd(), msg, &format!("{what}: write"))?;
    expect_datagram(ep.as_raw_fd(), msg, &format!("{what}: echo"))
}

/// A debugfs file of the module held open pins the module as a device file
/// does: the close after an unload would otherwise run `release` through
/// `file_operations` in freed module memory. refcnt 1 and delete_module
/// refused while it is open, 0 after.
pub fn module_debugfs_open_pins() -> TestResult {
    expect_refcnt(0, "before the test opens anything")?;
    let f = std::fs::File::open("/sys/kernel/debug/simnic/stats")
        .map_err(|e| format!("open /sys/kernel/debug/simnic/stats: {e}"))?;
    expect_refcnt(1, "with a debugfs file open")?;
    match delete_module() {
        Err(e) if e == libc::EAGAIN || e == libc::EWOULDBLOCK => {}
        Err(e) => {
            return Err(format!(
                "delete_module with a debugfs file open: {}",
                errname(e)
            ))
        }
        Ok(()) => {
            std::mem::forget(f);
            return Err("delete_module succeeded with a debugfs file open".into());
        }
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut &f, &mut text).map_err(|e| format!("read: {e}"))?;
    ensure!(text.contains("irqs"), "the stats file reads {text:?}");
    drop(f);
    expect_refcnt(0, "after closing the debugfs file")
}

/// A mapped receive ring holds its file, and the file the module: with
/// the descriptor closed and only the mapping left, refcnt stays 1,
/// delete_module fails with EAGAIN and the ring still receives. After
/// munmap the module unloads, and loads again.
pub fn module_unload_with_ring_mapped() -> TestResult {
    expect_refcnt(0, "before the test opens anything")?;
    let ep = open_dev_nonblocking()?;
    let port = port_of(&ep)?;
    let layout = okay(ep.rx_ring_setup(4, 256), "RX_RING_SETUP")?;
    let ring = okay(simnic::RxRing::map(&ep, &layout), "mmap")?;
    drop(ep);
    expect_refcnt(1, "with the ring mapped and its descriptor closed")?;
    match delete_module() {
        Err(e) if e == libc::EAGAIN || e == libc::EWOULDBLOCK => {}
        Err(e) => return Err(format!("delete_module with a ring mapped: {}", errname(e))),
        Ok(()) => {
            std::mem::forget(ring);
            return Err("delete_module succeeded with a ring mapped".into());
        }
    }
    {
        let sender = open_dev_nonblocking()?;
        okay(
            sender.send_to(port, b"still here"),
            "send to the mapped ring",
        )?;
        let deadline = Instant::now() + ARRIVAL;
        while ring.producer() != 1 {
            ensure!(
                Instant::now() < deadline,
                "nothing arrived in the ring after the refused unload"
            );
            sleep_ms(5);
        }
        let f = ring.next_frame().ok_or("empty ring")?;
        check_data(
            &f.payload.to_vec(),
            b"still here",
            "the datagram in the ring",
        )?;
    }
    drop(ring);
    expect_refcnt(0, "after munmap")?;
    let mut unloaded = false;
    let r = unload("after munmap")
        .map(|()| unloaded = true)
        .and_then(|()| load(""));
    if r.is_err() && unloaded && !loaded().unwrap_or(true) {
        let _ = load("");
    }
    r
}

/// With two files open: refcnt 2, delete_module fails with EAGAIN
/// (EWOULDBLOCK) and the device keeps working. With none: refcnt 0,
/// delete_module succeeds and /dev/simnic and /sys/module/simnic go away.
/// finit_module brings it all back, working.
pub fn module_refcount_unload() -> TestResult {
    let mut unloaded = false;
    let Err(reason) = unload_and_reload(&mut unloaded) else {
        return Ok(());
    };
    if unloaded && !loaded().unwrap_or(true) {
        // Leave the guest as found, for whatever runs after the suite.
        if let Err(e) = load("") {
            return Err(format!("{reason} (and reloading the module failed: {e})"));
        }
    }
    Err(reason)
}

/// The test proper; sets `unloaded` once its delete_module succeeded.
fn unload_and_reload(unloaded: &mut bool) -> TestResult {
    ensure!(
        loaded()?,
        "/sys/module/simnic does not exist: is simnic loaded as a module?"
    );
    expect_refcnt(
        0,
        "before the test opens anything (a file left open by an earlier test?)",
    )?;
    let a = open_dev()?;
    expect_refcnt(1, "with one file open")?;
    let b = open_dev_nonblocking()?;
    expect_refcnt(2, "with two files open")?;

    match delete_module() {
        Err(e) if e == libc::EAGAIN || e == libc::EWOULDBLOCK => {}
        Err(e) => {
            return Err(format!(
                "delete_module with two files open failed with {}, expected EAGAIN/EWOULDBLOCK",
                errname(e)
            ))
        }
        Ok(()) => {
            *unloaded = true;
            // The files still point at the unloaded module: do not touch them.
            std::mem::forget(a);
            std::mem::forget(b);
            return Err("delete_module succeeded with two files open".into());
        }
    }
    expect_refcnt(2, "after the refused delete_module")?;
    ensure!(
        exists(c"/dev/simnic")?,
        "/dev/simnic is gone after the refused delete_module"
    );
    echo(
        &a,
        b"still here",
        "first file after the refused delete_module",
    )?;
    echo(&b, b"me too", "second file after the refused delete_module")?;

    drop(a);
    expect_refcnt(1, "after closing one of the two files")?;
    drop(b);
    expect_refcnt(0, "after closing both files")?;
    delete_module()
        .map_err(|e| format!("delete_module with no file open failed with {}", errname(e)))?;
    *unloaded = true;
    let deadline = Instant::now() + WAIT;
    while exists(c"/dev/simnic")? {
        ensure!(
            Instant::now() < deadline,
            "/dev/simnic still exists {} s after the module was unloaded",
            WAIT.as_secs()
        );
        sleep_ms(20);
    }
    ensure!(
        !loaded()?,
        "/sys/module/simnic still exists after delete_module succeeded"
    );
    match Endpoint::open() {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => {
            return Err(format!(
                "open /dev/simnic after unload: {e}, expected ENOENT"
            ))
        }
        Ok(_) => return Err("open /dev/simnic succeeded after unload".into()),
    }

    load("")?;
    let ep = open_dev_nonblocking()?;
    expect_refcnt(1, "after reloading, with one file open")?;
    echo(&ep, b"back again", "after reloading")?;
    settle(&ep)?;
    expect_errno(
        read(ep.as_raw_fd(), &mut [0u8; 16]),
        libc::EAGAIN,
        "read after the echo, reloaded",
    )?;
    let st = stat(c"/dev/simnic")
        .map_err(|e| format!("stat /dev/simnic after reloading: {}", errname(e)))?;
    ensure!(
        st.st_mode & 0o7777 == 0o666,
        "reloaded /dev/simnic has mode {:04o}, expected 0666",
        st.st_mode & 0o7777
    );
    drop(ep);
    expect_refcnt(0, "after reloading and closing")
}

/// Both hardware execution models carry traffic: in each, a blocked
/// reader is woken, and a burst of 100 datagrams from two writing threads
/// arrives whole, in order per writer, with the counters exact. Where
/// each runs the hardware is `module_hw_dma_context`'s (traced) part.
pub fn module_hw_execution_models() -> TestResult {
    for (params, inline) in [("hw_inline=0", false), ("hw_inline=1", true)] {
        with_params(params, || {
            expect_params(&[("hw_inline", u32::from(inline))], params)?;
            let ep = open_dev()?;
            let fd = ep.as_raw_fd();
            wake_blocked_reader(fd, params)?;

            okay(ep.set_rcvbuf(RCVBUF_MAX), "SET_RCVBUF")?;
            let n0 = nic_stats(&ep)?;
            let writers: Vec<_> = (0..2u8)
                .map(|w| {
                    std::thread::spawn(move || -> Result<(), String> {
                        for i in 0..50u8 {
                            loop {
                                match write(fd, &[w, i]) {
                                    Ok(_) => break,
                                    Err(libc::ENOBUFS) => std::thread::yield_now(),
                                    Err(e) => return Err(format!("write: {}", errname(e))),
                                }
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            for w in writers {
                w.join().map_err(|_| "writer panicked".to_string())??;
            }
            let mut next = [0u8; 2];
            for _ in 0..100 {
                let mut buf = [0u8; 8];
                let n =
                    read(fd, &mut buf).map_err(|e| format!("{params}: read: {}", errname(e)))?;
                ensure!(n == 2, "{params}: a datagram of {n} bytes");
                let (w, i) = (buf[0] as usize, buf[1]);
                ensure!(
                    w < 2 && i == next[w],
                    "{params}: writer {w}'s datagram {i} when {} was next",
                    next[w]
                );
                next[w] += 1;
            }
            let d = nic_delta(&n0, &nic_stats(&ep)?);
            ensure!(
                d.tx_packets == 100
                    && d.rx_packets == 100
                    && d.rx_missed == 0
                    && d.rx_queue_full == 0,
                "{params}: counters over the burst: {d:?}"
            );
            Ok(())
        })?;
    }
    Ok(())
}

/// Each hardware execution model runs the hardware where it says: with
/// `hw_inline=0` the DMA into the RX ring is done by the `simnic-hw`
/// thread, with `hw_inline=1` by the writer itself (the
/// `simnic_hw_rx_dma` event's task), for a datagram to a blocked reader.
pub fn module_hw_dma_context() -> TestResult {
    for (params, inline) in [("hw_inline=0", false), ("hw_inline=1", true)] {
        with_params(params, || {
            expect_params(&[("hw_inline", u32::from(inline))], params)?;
            let ep = open_dev()?;
            let session = super::trace::TraceSession::start()?;
            wake_blocked_reader(ep.as_raw_fd(), params)?;
            let trace = super::trace::read_trace()?;
            drop(session);
            let dma: Vec<&str> = trace
                .lines()
                .filter(|l| l.contains("simnic_hw_rx_dma:"))
                .collect();
            ensure!(
                dma.len() == 1,
                "{params}: {} simnic_hw_rx_dma events for one datagram:\n{trace}",
                dma.len()
            );
            let by_thread = dma[0].trim_start().starts_with("simnic-hw-");
            ensure!(
                by_thread != inline,
                "{params}: the DMA ran in the {} context: {}",
                if by_thread {
                    "engine thread's"
                } else {
                    "writer's"
                },
                dma[0]
            );
            Ok(())
        })?;
    }
    Ok(())
}

/// A reader blocked on `fd` is woken by one datagram written to it, and
/// gets it whole.
fn wake_blocked_reader(fd: i32, params: &str) -> TestResult {
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        read(fd, &mut buf).map(|n| buf[..n].to_vec())
    });
    std::thread::sleep(Duration::from_millis(300));
    send(
        fd,
        b"model",
        &format!("{params}: a write to a blocked reader"),
    )?;
    let got = reader.join().map_err(|_| "reader panicked".to_string())?;
    let got = got.map_err(|e| format!("{params}: blocked read: {}", errname(e)))?;
    check_data(
        &got,
        b"model",
        &format!("{params}: the woken reader's datagram"),
    )
}

/// A posted AIO read holds its file, and so the module, even after the
/// descriptor is closed: refcnt stays 1 and delete_module is refused.
/// io_destroy cancels the read; its completion drops the file, whose
/// release (a delayed fput) gives the module back; then it unloads
/// cleanly and loads again.
pub fn module_aio_read_pins_module() -> TestResult {
    use crate::aio::{AioContext, Iocb};
    expect_refcnt(0, "before the test opens anything")?;
    let ep = open_dev()?;
    let ctx = AioContext::new(4)?;
    let mut buf = vec![0u8; 64];
    let mut cb = Iocb::pread(ep.as_raw_fd(), buf.as_mut_ptr(), buf.len(), 1);
    ctx.submit_one(&mut cb, "read on an empty endpoint")?;
    drop(ep);
    expect_refcnt(1, "with the descriptor closed and a read posted")?;
    match delete_module() {
        Err(e) if e == libc::EAGAIN || e == libc::EWOULDBLOCK => {}
        Err(e) => return Err(format!("delete_module with a read posted: {}", errname(e))),
        Ok(()) => {
            std::mem::forget(ctx);
            std::mem::forget(buf);
            return Err("delete_module succeeded with a read posted".into());
        }
    }
    ctx.destroy()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while refcnt()? > 0 {
        ensure!(
            Instant::now() < deadline,
            "refcnt {} 5 s after io_destroy",
            refcnt()?
        );
        sleep_ms(10);
    }
    unload("after the read was cancelled")?;
    load("")?;
    let ep = open_dev_nonblocking()?;
    echo(&ep, b"reloaded", "after the reload")
}
