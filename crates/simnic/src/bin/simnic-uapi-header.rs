//! simnic-uapi-header: prints the uapi of /dev/simnic as a C header
//! (`simnic_uapi.h`), or with `--python` as a Python module
//! (`simnic_uapi.py`), generated from `rust/simnic/uapi.rs`; see
//! `simnic::c_header` and `simnic::py_module`. `tools/build-guest` runs it
//! to build the C test programs; the Python module is committed as
//! `samples/python/simnic_uapi.py`.

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let text = match args.as_slice() {
        [] => simnic::c_header(),
        [p] if p == "--python" => simnic::py_module(),
        _ => {
            eprintln!("usage: simnic-uapi-header >simnic_uapi.h\n       simnic-uapi-header --python >simnic_uapi.py");
            std::process::exit(2);
        }
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        eprintln!("simnic-uapi-header: {e}");
        std::process::exit(1);
    }
}
