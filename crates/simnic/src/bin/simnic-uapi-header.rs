//! simnic-uapi-header: prints the uapi of /dev/simnic as a C header
//! (`simnic_uapi.h`), generated from `rust/simnic/uapi.rs`; see
//! `simnic::c_header`. `tools/build-guest` runs it to build the C test
//! programs.

use std::io::Write;

fn main() {
    if std::env::args().len() > 1 {
        eprintln!("usage: simnic-uapi-header >simnic_uapi.h");
        std::process::exit(2);
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(simnic::c_header().as_bytes()).and_then(|()| out.flush()) {
        eprintln!("simnic-uapi-header: {e}");
        std::process::exit(1);
    }
}
