//! `simnicctl wq`: the driver's wait-queue view (debugfs `wq`), filtered,
//! with a legend of the wake functions on screen; once, or redrawn every
//! interval like watch(1).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use simnic::wq::WqView;

/// What a wake function on a simnic queue means, for the legend.
pub fn meaning(func: &str) -> &'static str {
    match func {
        "autoremove_wake_function" => {
            "a task asleep in wait_event (a blocking read(), mini-epoll's wait): \
             the wake-up wakes it and takes its entry off the queue"
        }
        "woken_wake_function" => "a task in wait_woken(): marked WQ_FLAG_WOKEN and woken",
        "default_wake_function" => "a task woken as is; its entry stays queued",
        "pollwake" => {
            "select() or poll() (__pollwait): wakes the polling task if the key matches \
             what it polls for"
        }
        "ep_poll_callback" => {
            "epoll: puts the item on the instance's ready list and wakes epoll_wait(); \
             no task of its own"
        }
        "aio_poll_wake" => "Linux AIO IOCB_CMD_POLL: completes the iocb, no task",
        "io_poll_wake" => "io_uring POLL_ADD: queues task work for the request, no task",
        "rust_wakefn_simnic_pollwake" => "the module's mini-poll (pollwake's role)",
        "rust_wakefn_simnic_ep_poll_callback" => {
            "the module's mini-epoll (ep_poll_callback's role)"
        }
        _ => "",
    }
}

/// The view's `text` as shown: every queue in the file's order (only
/// `port`'s with `port`, only those with entries with `busy`), the lines
/// that are not queues (without `port`), and a legend of the wake
/// functions shown. `text` must parse ([`WqView::parse`]).
pub fn render(text: &str, port: Option<u32>, busy: bool) -> Result<String, String> {
    let mut out = String::new();
    let mut funcs = BTreeSet::new();
    let mut shown = 0;
    // Blocks: a line at the margin and the indented lines under it.
    let mut blocks: Vec<String> = Vec::new();
    for line in text.lines() {
        match blocks.last_mut() {
            Some(b) if line.starts_with("    ") => {
                b.push_str(line);
                b.push('\n');
            }
            _ => blocks.push(format!("{line}\n")),
        }
    }
    for block in blocks.iter().filter(|b| !b.starts_with("# ")) {
        let v = WqView::parse(block)?;
        match v.queues.first() {
            Some(q) => {
                if port.is_some_and(|p| q.endpoint_port() != Some(p)) || (busy && q.count == 0) {
                    continue;
                }
                shown += 1;
                funcs.extend(q.entries.iter().map(|e| e.func.clone()));
            }
            None if port.is_some() => continue,
            None => {}
        }
        out.push_str(block);
    }
    if shown == 0 {
        match port {
            Some(p) => {
                let _ = writeln!(out, "no endpoint is bound to port {p}");
            }
            None if busy => {
                let _ = writeln!(out, "no entry on any queue: nobody waits");
            }
            None => {
                let _ = writeln!(out, "no queues");
            }
        }
    }
    let legend: Vec<_> = funcs.iter().filter(|f| !meaning(f).is_empty()).collect();
    if !legend.is_empty() {
        let _ = writeln!(out, "\nwake functions:");
        let w = legend.iter().map(|f| f.len()).max().unwrap_or(0);
        for f in legend {
            let _ = writeln!(out, "  {f:<w$}  {}", meaning(f));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# a comment
endpoint 7000 sk_wq: 1 entry; 2 wake-ups, 2 entries woken, 0 spurious
    flags      wake-function              module   private           pid    tgid  comm
    excl       autoremove_wake_function   -        task_struct        43      43  reader
endpoint 7001 sk_wq: no entries; 0 wake-ups, 0 entries woken, 0 spurious
nic tx: no wait queue (a full ring gives ENOBUFS); waiting for TX room: none
";

    #[test]
    fn filters_and_explains() {
        let all = render(TEXT, None, false).unwrap();
        let body = &TEXT["# a comment\n".len()..];
        assert!(
            all.starts_with(body),
            "the file's order, comments left out:\n{all}"
        );
        assert!(
            all.contains("autoremove_wake_function  a task asleep in wait_event"),
            "{all}"
        );
        let busy = render(TEXT, None, true).unwrap();
        assert!(
            busy.contains("endpoint 7000") && !busy.contains("endpoint 7001"),
            "{busy}"
        );
        assert!(
            busy.contains("nic tx"),
            "lines that are not queues stay: {busy}"
        );
        let one = render(TEXT, Some(7001), false).unwrap();
        assert!(
            one.starts_with("endpoint 7001")
                && !one.contains("nic tx")
                && !one.contains("wake functions")
        );
        assert_eq!(
            render(TEXT, Some(9), false).unwrap(),
            "no endpoint is bound to port 9\n"
        );
        let bad = "endpoint 1 sk_wq: 1 entry; 0 wake-ups, 0 entries woken, 0 spurious\n    x\n";
        assert!(render(bad, None, false).is_err());
    }
}
