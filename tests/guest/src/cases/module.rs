//! Module lifetime: every open file holds a reference on simnic.ko, so it
//! cannot be unloaded while in use; once unused it unloads, its node goes,
//! and it loads again. Runs last: it unloads and reloads the module.

use std::ffi::{CStr, CString};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use simnic::Endpoint;

use crate::sys::*;

const REFCNT: &str = "/sys/module/simnic/refcnt";
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

/// finit_module(open($SIMNIC_KO or /lib/modules/simnic.ko), "", 0).
fn load_module() -> TestResult {
    let path = std::env::var("SIMNIC_KO").unwrap_or_else(|_| DEFAULT_KO.to_string());
    let cpath = CString::new(path.clone()).map_err(|_| format!("bad SIMNIC_KO {path:?}"))?;
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(cpath.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    ensure!(fd >= 0, "open {path}: {}", errname(errno()));
    // SAFETY: an open fd, an empty NUL-terminated parameter string, no flags.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, fd, c"".as_ptr(), 0) };
    let e = errno();
    // SAFETY: our fd.
    unsafe { libc::close(fd) };
    ensure!(r == 0, "finit_module({path}) failed with {}", errname(e));
    Ok(())
}

fn exists(path: &CStr) -> Result<bool, String> {
    match stat(path) {
        Ok(_) => Ok(true),
        Err(libc::ENOENT) => Ok(false),
        Err(e) => Err(format!("stat {path:?}: {}", errname(e))),
    }
}

fn echo(ep: &Endpoint, msg: &[u8], what: &str) -> TestResult {
    send(ep.as_raw_fd(), msg, &format!("{what}: write"))?;
    expect_datagram(ep.as_raw_fd(), msg, &format!("{what}: echo"))
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
    if unloaded && !exists(c"/sys/module/simnic").unwrap_or(true) {
        // Leave the guest as found, for whatever runs after the suite.
        if let Err(e) = load_module() {
            return Err(format!("{reason} (and reloading the module failed: {e})"));
        }
    }
    Err(reason)
}

/// The test proper; sets `unloaded` once its delete_module succeeded.
fn unload_and_reload(unloaded: &mut bool) -> TestResult {
    ensure!(
        exists(c"/sys/module/simnic")?,
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
    let deadline = Instant::now() + Duration::from_secs(2);
    while exists(c"/dev/simnic")? {
        ensure!(
            Instant::now() < deadline,
            "/dev/simnic still exists 2 s after the module was unloaded"
        );
        sleep_ms(20);
    }
    ensure!(
        !exists(c"/sys/module/simnic")?,
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

    load_module()?;
    let deadline = Instant::now() + Duration::from_secs(2);
    let ep = loop {
        match Endpoint::open_nonblocking() {
            Ok(ep) => break ep,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && Instant::now() < deadline => {
                sleep_ms(20)
            }
            Err(e) => return Err(format!("open /dev/simnic after reloading: {e}")),
        }
    };
    expect_refcnt(1, "after reloading, with one file open")?;
    echo(&ep, b"back again", "after reloading")?;
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
