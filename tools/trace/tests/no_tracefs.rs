//! `simnic-trace record` under `SIMNIC_NO_TRACEFS` (set by
//! `simnic-selftest --no-tracefs`) refuses before it touches tracefs or
//! starts a sample: the guest it runs in may have parallel vCPUs, where
//! turning tracepoints on can oops it (Documentation/testing.rst, "Two
//! boots").

use std::process::Command;

#[test]
fn record_refuses_under_simnic_no_tracefs() {
    let out = Command::new(env!("CARGO_BIN_EXE_simnic-trace"))
        .args(["record", "blocking", "-o", "/nonexistent/dir/out.trace"])
        .env("SIMNIC_NO_TRACEFS", "1")
        .output()
        .expect("running simnic-trace");
    assert!(!out.status.success(), "record ran under SIMNIC_NO_TRACEFS");
    let err = String::from_utf8_lossy(&out.stderr);
    // Refused for this reason, not for the output path it never opened.
    assert!(err.contains("SIMNIC_NO_TRACEFS is set"), "stderr: {err}");
}
