// SPDX-License-Identifier: GPL-2.0

//! Module parameters: `module_param(name, uint, perm)` for Rust modules.
//!
//! 6.12's `module!` macro takes no parameters. [`module_param_u32!`] emits
//! what C's `module_param()` does: a `struct kernel_param` in the `__param`
//! section (which `load_module` parses from the insmod command line before the
//! module's init runs, and exposes in `/sys/module/<name>/parameters/`), and
//! the `parm`/`parmtype` strings in `.modinfo` that `modinfo` shows.
//!
//! Parameters are read-only after load (the macro refuses write permission),
//! so reading them needs no lock: the loader's writes happen before `init`.
//! Only loadable modules are supported (a built-in would need the
//! `modname.` prefix).
//!
//! C header: [`include/linux/moduleparam.h`](srctree/include/linux/moduleparam.h)

use crate::{bindings, str::CStr};
use core::sync::atomic::{AtomicU32, Ordering};

/// The storage of a `u32` module parameter.
#[repr(transparent)]
pub struct ParamU32(AtomicU32);

impl ParamU32 {
    /// A parameter with a default value.
    pub const fn new(default: u32) -> Self {
        Self(AtomicU32::new(default))
    }

    /// The value: the default, or what insmod's command line set.
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// The storage, for `kernel_param.arg`.
    pub const fn as_ptr(&self) -> *mut crate::ffi::c_void {
        self.0.as_ptr().cast()
    }
}

/// A `struct kernel_param`, placed in `__param` by [`module_param_u32!`].
///
/// # Invariants
///
/// `arg` points to a `'static` [`ParamU32`] and `ops` is `param_ops_uint`,
/// which reads and writes an `unsigned int` there.
#[repr(transparent)]
pub struct KernelParam(bindings::kernel_param);

// SAFETY: The loader writes the parameter's storage (an atomic) before init;
// with read-only permissions nothing writes it afterwards; the struct itself
// is never mutated.
unsafe impl Sync for KernelParam {}

impl KernelParam {
    /// Describes the `uint` parameter `name` stored in `value`.
    ///
    /// # Panics
    ///
    /// At compile time (the macro evaluates this in a `static`) if `perm`
    /// grants write access.
    pub const fn new_u32(name: &'static CStr, value: &'static ParamU32, perm: u16) -> Self {
        assert!(perm & 0o222 == 0, "module parameters are read-only here");
        // INVARIANT: `arg` is `value`, `ops` is `param_ops_uint`.
        Self(bindings::kernel_param {
            name: name.as_char_ptr(),
            mod_: core::ptr::null_mut(),
            ops: core::ptr::addr_of!(bindings::param_ops_uint),
            perm,
            level: -1,
            flags: 0,
            __bindgen_anon_1: bindings::kernel_param__bindgen_ty_1 { arg: value.as_ptr() },
        })
    }
}

/// `s` as a NUL-terminated byte array of length `N` (`s.len() + 1`), for a
/// `.modinfo` string.
pub const fn modinfo_bytes<const N: usize>(s: &str) -> [u8; N] {
    let b = s.as_bytes();
    assert!(b.len() + 1 == N);
    let mut out = [0u8; N];
    let mut i = 0;
    while i < b.len() {
        out[i] = b[i];
        i += 1;
    }
    out
}

/// Declares a read-only `u32` module parameter, like C's
/// `module_param(name, uint, perm)` plus `MODULE_PARM_DESC(name, desc)`.
///
/// ```ignore
/// kernel::module_param_u32!(budget, 64, 0o444, "NAPI poll budget");
/// // in init: let b = budget.get();
/// ```
#[macro_export]
macro_rules! module_param_u32 {
    ($name:ident, $default:expr, $perm:expr, $desc:literal $(,)?) => {
        #[allow(non_upper_case_globals)]
        static $name: $crate::module_param::ParamU32 = $crate::module_param::ParamU32::new($default);

        const _: () = {
            #[link_section = "__param"]
            #[used]
            static PARAM: $crate::module_param::KernelParam = $crate::module_param::KernelParam::new_u32(
                $crate::c_str!(::core::stringify!($name)),
                &$name,
                $perm,
            );

            const PARMTYPE: &str = ::core::concat!("parmtype=", ::core::stringify!($name), ":uint");
            #[link_section = ".modinfo"]
            #[used]
            static MODINFO_PARMTYPE: [u8; PARMTYPE.len() + 1] =
                $crate::module_param::modinfo_bytes(PARMTYPE);

            const PARM: &str = ::core::concat!("parm=", ::core::stringify!($name), ":", $desc);
            #[link_section = ".modinfo"]
            #[used]
            static MODINFO_PARM: [u8; PARM.len() + 1] = $crate::module_param::modinfo_bytes(PARM);
        };
    };
}
