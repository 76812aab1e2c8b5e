// SPDX-License-Identifier: GPL-2.0

//! Lines of an ftrace text trace (`/sys/kernel/tracing/trace`), as the
//! kernel prints them with the default options:
//!
//! ```text
//!  sample-blocking-313     [000] ...2.   105.662763: sys_read(fd: 3, buf: 555582fd0050, count: 10000)
//!  sample-blocking-313     [000] ...2.   105.663827: sys_read -> 0x40
//!  sample-blocking-314     [001] b.s4.   105.627459: simnic_data_ready: port=7000 wake-up
//! ```
//!
//! `TASK-PID [CPU] FLAGS TIMESTAMP: EVENT: FIELDS`, where a system call's
//! entry prints as `sys_NAME(ARGS)` and its exit as `sys_NAME -> RET`
//! (`print_syscall_enter`/`print_syscall_exit` in
//! `kernel/trace/trace_syscalls.c`). The flags are those of
//! `trace_print_lat_fmt`: the third says `h` (hard irq), `s` (softirq), `H`
//! (hard irq inside a softirq) or `.` (process context).

/// What a line records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// A trace event: `name: fields`.
    Event {
        /// The event's name (`simnic_deliver`, `sched_wakeup`).
        name: &'a str,
        /// Everything after `name: `.
        fields: &'a str,
    },
    /// A system call's entry: `sys_NAME(ARGS)`.
    SysEnter {
        /// The call's name without `sys_` (`read`, `epoll_wait`).
        name: &'a str,
        /// The arguments as printed, without the parentheses.
        args: &'a str,
    },
    /// A system call's exit: `sys_NAME -> RET`.
    SysExit {
        /// The call's name without `sys_`.
        name: &'a str,
        /// The return value (negative: an errno).
        ret: i64,
    },
}

/// One parsed trace line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// The task's name as the trace shows it (`<idle>` for the idle task).
    pub comm: &'a str,
    /// The task (thread) id of the context the event fired in.
    pub pid: i32,
    /// The CPU.
    pub cpu: u32,
    /// The latency flags, five characters (`d.h3.`).
    pub flags: &'a str,
    /// The timestamp in nanoseconds (the text has microseconds).
    pub ts: u64,
    /// What happened.
    pub kind: Kind<'a>,
}

/// The context a line's event fired in, from its flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// A task (process or kernel thread).
    Task,
    /// A softirq (bottom half).
    Softirq,
    /// A hard interrupt.
    HardIrq,
}

impl<'a> Line<'a> {
    /// The event's name: a trace event's, or `sys_enter`/`sys_exit` for
    /// system calls.
    pub fn event(&self) -> &'a str {
        match self.kind {
            Kind::Event { name, .. } => name,
            Kind::SysEnter { .. } => "sys_enter",
            Kind::SysExit { .. } => "sys_exit",
        }
    }

    /// True for the trace event `name`.
    pub fn is(&self, name: &str) -> bool {
        matches!(self.kind, Kind::Event { name: n, .. } if n == name)
    }

    /// The fields of a trace event ("" for a system call).
    pub fn fields(&self) -> &'a str {
        match self.kind {
            Kind::Event { fields, .. } => fields,
            _ => "",
        }
    }

    /// The value of `key=value` among the event's fields.
    pub fn field(&self, key: &str) -> Option<&'a str> {
        field(self.fields(), key)
    }

    /// [`Line::field`] as a number.
    pub fn num(&self, key: &str) -> Option<i64> {
        self.field(key)?.parse().ok()
    }

    /// The context the event fired in (third flag character).
    pub fn context(&self) -> Context {
        match self.flags.as_bytes().get(2) {
            Some(b'h' | b'H') => Context::HardIrq,
            Some(b's') => Context::Softirq,
            _ => Context::Task,
        }
    }
}

/// The value of the whitespace-separated token `key=value` in `fields`.
pub fn field<'a>(fields: &'a str, key: &str) -> Option<&'a str> {
    fields.split_whitespace().find_map(|tok| {
        tok.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix('='))
    })
}

/// `105.663827` (seconds, up to nine decimals) in nanoseconds.
fn timestamp_ns(text: &str) -> Option<u64> {
    let (secs, frac) = text.split_once('.')?;
    if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_ns: u64 = format!("{frac:0<9}").parse().ok()?;
    Some(secs.parse::<u64>().ok()?.checked_mul(1_000_000_000)? + frac_ns)
}

/// The `[CPU]` column: the first `[digits]` preceded by `TASK-PID` and
/// white space. The task's name may hold spaces, dashes and brackets, so
/// the search is for the whole shape, not for the first `[`.
fn split_task(line: &str) -> Option<(&str, i32, u32, &str)> {
    let mut from = 0;
    while let Some(i) = line[from..].find('[').map(|i| from + i) {
        from = i + 1;
        let Some(close) = line[i..].find(']').map(|c| i + c) else {
            break;
        };
        let digits = &line[i + 1..close];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let head = &line[..i];
        if !head.ends_with(' ') {
            continue;
        }
        let task = head.trim();
        let Some((comm, pid)) = task.rsplit_once('-') else {
            continue;
        };
        let Ok(pid) = pid.parse() else {
            continue;
        };
        let cpu = digits.parse().ok()?;
        return Some((comm, pid, cpu, &line[close + 1..]));
    }
    None
}

/// Parses one line; `None` for comments (`#`), blank lines and anything
/// else that is not a trace record.
pub fn parse(line: &str) -> Option<Line<'_>> {
    if line.trim_start().starts_with('#') {
        return None;
    }
    let (comm, pid, cpu, rest) = split_task(line)?;
    let rest = rest.trim_start();
    let (flags, rest) = rest.split_once(' ')?;
    let rest = rest.trim_start();
    let (ts_text, text) = rest.split_once(": ")?;
    let ts = timestamp_ns(ts_text)?;
    let name_end = text.find([':', '(', ' ']).unwrap_or(text.len());
    let name = &text[..name_end];
    let after = &text[name_end..];
    let kind = if let (Some(call), true) = (name.strip_prefix("sys_"), after.starts_with('(')) {
        Kind::SysEnter {
            name: call,
            args: after[1..].strip_suffix(')').unwrap_or(&after[1..]),
        }
    } else if let (Some(call), Some(ret)) = (name.strip_prefix("sys_"), after.strip_prefix(" -> "))
    {
        let ret = ret.trim();
        let ret = match ret.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok()? as i64,
            None => ret.parse().ok()?,
        };
        Kind::SysExit { name: call, ret }
    } else if let Some(fields) = after.strip_prefix(':') {
        Kind::Event {
            name,
            fields: fields.strip_prefix(' ').unwrap_or(fields),
        }
    } else {
        return None;
    };
    Some(Line {
        comm,
        pid,
        cpu,
        flags,
        ts,
        kind,
    })
}

/// Every record of `text`, in the order of the text.
pub fn parse_all(text: &str) -> Vec<Line<'_>> {
    text.lines().filter_map(parse).collect()
}

/// The `# simnic-trace: KEY: VALUE` lines that `simnic-trace record` puts
/// before the trace: what ran, which pid, with which module parameters.
pub fn metadata(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter_map(|l| l.strip_prefix(META_PREFIX))
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

/// The prefix of the metadata lines.
pub const META_PREFIX: &str = "# simnic-trace: ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_syscalls_and_flags() {
        let l = parse(" sample-blocking-314     [001] b.s4.   105.627459: simnic_data_ready: port=7000 wake-up").unwrap();
        assert_eq!(
            (l.comm, l.pid, l.cpu, l.flags),
            ("sample-blocking", 314, 1, "b.s4.")
        );
        assert_eq!(l.ts, 105_627_459_000);
        assert!(l.is("simnic_data_ready"));
        assert_eq!(l.fields(), "port=7000 wake-up");
        assert_eq!(l.num("port"), Some(7000));
        assert_eq!(l.context(), Context::Softirq);

        let l = parse(" sample-blocking-313     [000] ...2.   105.662763: sys_read(fd: 3, buf: 555582fd0050, count: 10000)").unwrap();
        assert_eq!(
            l.kind,
            Kind::SysEnter {
                name: "read",
                args: "fd: 3, buf: 555582fd0050, count: 10000"
            }
        );
        assert_eq!(l.context(), Context::Task);
        let l =
            parse(" sample-blocking-313     [000] ...2.   105.663827: sys_read -> 0x40").unwrap();
        assert_eq!(
            l.kind,
            Kind::SysExit {
                name: "read",
                ret: 64
            }
        );
        let l = parse(
            " sample-nonblock-320     [000] ...2.   1.000001: sys_read -> 0xfffffffffffffff5",
        )
        .unwrap();
        assert_eq!(
            l.kind,
            Kind::SysExit {
                name: "read",
                ret: -11
            }
        );
        let l =
            parse("              sh-305     [001] ...2.   105.817272: sys_rt_sigreturn()").unwrap();
        assert_eq!(
            l.kind,
            Kind::SysEnter {
                name: "rt_sigreturn",
                args: ""
            }
        );
    }

    #[test]
    fn task_names_with_dashes_spaces_and_brackets() {
        let l = parse("          <idle>-0       [001] dNh3.   105.630391: sched_wakeup: comm=sample-blocking pid=313 prio=120 target_cpu=000").unwrap();
        assert_eq!((l.comm, l.pid), ("<idle>", 0));
        assert_eq!(l.context(), Context::HardIrq);
        assert_eq!(l.field("pid"), Some("313"));
        assert_eq!(l.field("comm"), Some("sample-blocking"));
        let l =
            parse("   a [x] b-c-42  [003] ..s1.   2.5: simnic_napi_poll_start: budget=64").unwrap();
        assert_eq!((l.comm, l.pid, l.cpu), ("a [x] b-c", 42, 3));
        assert_eq!(l.ts, 2_500_000_000);
    }

    #[test]
    fn nanosecond_timestamps_and_non_records() {
        let l = parse("  k-1  [001] d.h..  123.000456789: simnic_intr: masked").unwrap();
        assert_eq!(l.ts, 123_000_456_789);
        assert!(parse("# tracer: nop").is_none());
        assert!(parse("").is_none());
        assert!(parse("CPU:1 [LOST 12 EVENTS]").is_none());
        assert!(parse("  k-1  [001] d.h..  12x.5: simnic_intr: masked").is_none());
    }

    #[test]
    fn metadata_lines() {
        let text =
            "# simnic-trace: model: blocking\n# simnic-trace: sample pid: 313\n# tracer: nop\n";
        assert_eq!(
            metadata(text),
            vec![("model", "blocking"), ("sample pid", "313")]
        );
    }
}
