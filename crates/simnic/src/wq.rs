//! The wait-queue view: the driver's debugfs file [`WQ_PATH`], read and
//! parsed.
//!
//! The file lists every wait queue of simnic.ko (each endpoint's `sk_wq`,
//! the hardware engine's queue, each mini-epoll instance's two queues) with
//! its counters and the entries on it, and each running mini-poll call.
//! Documentation/wait-queues.rst explains it. Its format, one queue per
//! block:
//!
//! ```text
//! endpoint 7000 sk_wq: 1 entry; 3 wake-ups, 3 entries woken, 0 spurious
//!     flags      wake-function              module   private           pid    tgid  comm
//!     excl       autoremove_wake_function   -        task_struct       123     123  reader
//! ```
//!
//! An entry line has its fields separated by spaces, the command name
//! (which may contain spaces) last; a field with no value is `-`.

use std::io;
use std::path::Path;

/// Where the driver's view is (debugfs, readable by root).
pub const WQ_PATH: &str = "/sys/kernel/debug/simnic/wq";

/// The whole view at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WqView {
    /// Every queue, in the file's order.
    pub queues: Vec<WaitQueue>,
    /// Lines that are not part of a queue (the NIC's TX line, mini-poll
    /// calls, notes), without their leading `# ` comments.
    pub other: Vec<String>,
}

/// One wait queue and its entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WaitQueue {
    /// The header up to the colon: "endpoint 7000 sk_wq",
    /// "mini-epoll 3 (2 items) wq", "nic hw_wq (hardware engine)".
    pub title: String,
    /// Entries on the queue when it was read (may exceed `entries.len()`).
    pub count: u64,
    /// Wake-ups made on the queue since it was created.
    pub wakeups: u64,
    /// Entries those wake-ups woke.
    pub woken: u64,
    /// Waiters woken that found nothing and slept again.
    pub spurious: u64,
    /// The entries shown, in the order a wake-up visits them.
    pub entries: Vec<WaitEntry>,
    /// The header line and the entry lines, as read.
    pub text: String,
}

/// One entry of a [`WaitQueue`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WaitEntry {
    /// `WQ_FLAG_*` names: "excl", "woken", ...; empty for none.
    pub flags: Vec<String>,
    /// The wake function's symbol: "autoremove_wake_function", "pollwake",
    /// "ep_poll_callback", "rust_wakefn_simnic_pollwake", ...
    pub func: String,
    /// The module the function is in; `None` if built into the kernel.
    pub module: Option<String>,
    /// What `->private` is: "task_struct", "poll_wqueues", "io_kiocb", "?",
    /// or "-" (NULL).
    pub private: String,
    /// The waiting task's thread id, process id and name, if the entry
    /// belongs to one.
    pub task: Option<WaitTask>,
}

/// The task an entry belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WaitTask {
    /// Thread id (`gettid()`).
    pub pid: i32,
    /// Process id (`getpid()`).
    pub tgid: i32,
    /// `comm`.
    pub comm: String,
}

impl WaitEntry {
    /// `WQ_FLAG_EXCLUSIVE`.
    pub fn exclusive(&self) -> bool {
        self.flags.iter().any(|f| f == "excl")
    }

    /// "autoremove_wake_function", or "rust_wakefn_simnic_pollwake [simnic]" for a
    /// module's function, as `%ps` prints it.
    pub fn func_ps(&self) -> String {
        match &self.module {
            Some(m) => format!("{} [{m}]", self.func),
            None => self.func.clone(),
        }
    }

    /// One line for people: the function, exclusive or not, and whose.
    pub fn describe(&self) -> String {
        let excl = if self.exclusive() {
            "exclusive"
        } else {
            "not exclusive"
        };
        let whose = match &self.task {
            Some(t) => format!("task {} ({}), private = {}", t.pid, t.comm, self.private),
            None if self.private == "-" => "no task (private = NULL)".to_string(),
            None => format!("no task (private = {})", self.private),
        };
        format!("{}, {excl}, {whose}", self.func_ps())
    }
}

impl WaitQueue {
    /// The port of an endpoint's queue.
    pub fn endpoint_port(&self) -> Option<u32> {
        let rest = self.title.strip_prefix("endpoint ")?;
        rest.split_whitespace().next()?.parse().ok()
    }

    /// The id of a mini-epoll instance's queue and which of its queues it
    /// is ("wq" or "poll_wq").
    pub fn mini_epoll(&self) -> Option<(u64, &str)> {
        let rest = self.title.strip_prefix("mini-epoll ")?;
        let id = rest.split_whitespace().next()?.parse().ok()?;
        Some((id, rest.rsplit(' ').next()?))
    }
}

impl WqView {
    /// Reads and parses [`WQ_PATH`].
    pub fn read() -> io::Result<Self> {
        Self::read_from(Path::new(WQ_PATH))
    }

    /// Reads and parses the view at `path`.
    pub fn read_from(path: &Path) -> io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        Self::parse(&text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })
    }

    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut view = WqView::default();
        for line in text.lines() {
            if let Some(entry) = line.strip_prefix("    ") {
                let Some(q) = view.queues.last_mut() else {
                    return Err(format!("an entry line before any queue: {line:?}"));
                };
                q.text.push_str(line);
                q.text.push('\n');
                if entry.starts_with("flags ") || entry.starts_with("... ") {
                    continue;
                }
                q.entries
                    .push(parse_entry(entry).ok_or_else(|| format!("bad entry line {line:?}"))?);
            } else if let Some(q) = parse_header(line) {
                let mut q = q;
                q.text = format!("{line}\n");
                view.queues.push(q);
            } else if !line.is_empty() && !line.starts_with("# ") {
                view.other.push(line.to_string());
            }
        }
        Ok(view)
    }

    /// The queue of the endpoint bound to `port`.
    pub fn endpoint(&self, port: u32) -> Option<&WaitQueue> {
        self.queues.iter().find(|q| q.endpoint_port() == Some(port))
    }

    /// The queues of mini-epoll instances.
    pub fn mini_epoll_queues(&self) -> impl Iterator<Item = &WaitQueue> {
        self.queues.iter().filter(|q| q.mini_epoll().is_some())
    }

    /// The lines about running mini-poll calls.
    pub fn mini_poll_calls(&self) -> impl Iterator<Item = &str> {
        self.other
            .iter()
            .filter(|l| l.starts_with("mini-poll call "))
            .map(|l| l.as_str())
    }
}

/// "endpoint 7000 sk_wq: 2 entries; 3 wake-ups, 3 entries woken, 0 spurious"
fn parse_header(line: &str) -> Option<WaitQueue> {
    let (title, rest) = line.split_once(": ")?;
    let (count, counters) = rest.split_once("; ")?;
    let count = match count {
        "no entries" => 0,
        "1 entry" => 1,
        c => c
            .trim_start_matches("at least ")
            .strip_suffix(" entries")?
            .parse()
            .ok()?,
    };
    let mut nums = counters
        .split(", ")
        .map(|part| part.split(' ').next().and_then(|n| n.parse::<u64>().ok()));
    let (wakeups, woken, spurious) = (nums.next()??, nums.next()??, nums.next()??);
    counters.contains(" wake-ups, ").then_some(WaitQueue {
        title: title.to_string(),
        count,
        wakeups,
        woken,
        spurious,
        ..Default::default()
    })
}

/// "excl       autoremove_wake_function   -        task_struct   123   123  reader"
fn parse_entry(line: &str) -> Option<WaitEntry> {
    let mut rest = line.trim_start();
    let mut field = || {
        let s = rest.trim_start();
        let end = s.find(' ').unwrap_or(s.len());
        let (f, r) = s.split_at(end);
        rest = r;
        (!f.is_empty()).then_some(f)
    };
    let flags = field()?;
    let func = field()?.to_string();
    let module = field()?;
    let private = field()?.to_string();
    let pid = field()?;
    let tgid = field()?;
    let comm = rest.trim_start().to_string();
    let flags = if flags == "-" {
        Vec::new()
    } else {
        flags.split(',').map(str::to_string).collect()
    };
    let module = (module != "-").then(|| module.to_string());
    let task = match (pid.parse(), tgid.parse()) {
        (Ok(pid), Ok(tgid)) => Some(WaitTask { pid, tgid, comm }),
        _ => None,
    };
    Some(WaitEntry {
        flags,
        func,
        module,
        private,
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
# simnic wait queues; entries in the order a wake-up visits them
endpoint 7000 sk_wq: 3 entries; 5 wake-ups, 4 entries woken, 1 spurious
    flags      wake-function                        module   private           pid    tgid  comm
    -          pollwake                             -        poll_wqueues       41      41  sample-poll
    -          rust_wakefn_simnic_pollwake          simnic   task_struct        42      40  my prog
    excl       autoremove_wake_function             -        task_struct        43      43  reader
    ... 2 more entries not shown
endpoint 7001 sk_wq: no entries; 0 wake-ups, 0 entries woken, 0 spurious
nic tx: no wait queue (a full ring gives ENOBUFS); waiting for TX room: none
nic hw_wq (hardware engine): 1 entry; 9 wake-ups, 9 entries woken, 0 spurious
    flags      wake-function                        module   private           pid    tgid  comm
    -          ep_poll_callback                     -        -                   -       -  -
mini-epoll 3 (2 items) poll_wq: at least 65536 entries; 0 wake-ups, 0 entries woken, 0 spurious
mini-poll call 4: pid 42 tgid 40; 2 descriptors, 2 entries hooked, 0 wake-ups, 1 scans, 0 spurious; no queue of its own (sleeps in poll_schedule_timeout)
";

    #[test]
    fn parses_queues_entries_and_the_rest() {
        let v = WqView::parse(SAMPLE).unwrap();
        assert_eq!(v.queues.len(), 4);
        let q = v.endpoint(7000).unwrap();
        assert_eq!((q.count, q.wakeups, q.woken, q.spurious), (3, 5, 4, 1));
        assert_eq!(q.entries.len(), 3, "the truncation line is not an entry");
        let e = &q.entries[0];
        assert_eq!(
            (e.func.as_str(), e.exclusive(), e.private.as_str()),
            ("pollwake", false, "poll_wqueues")
        );
        assert_eq!(
            e.task,
            Some(WaitTask {
                pid: 41,
                tgid: 41,
                comm: "sample-poll".into()
            })
        );
        let e = &q.entries[1];
        assert_eq!(e.module.as_deref(), Some("simnic"));
        assert_eq!(e.func_ps(), "rust_wakefn_simnic_pollwake [simnic]");
        assert_eq!(
            e.task.as_ref().unwrap().comm,
            "my prog",
            "a command name keeps its spaces"
        );
        assert!(q.entries[2].exclusive());
        assert_eq!(v.endpoint(7001).unwrap().count, 0);
        let hw = &v.queues[2];
        assert_eq!(hw.title, "nic hw_wq (hardware engine)");
        assert_eq!(hw.entries[0].task, None);
        assert_eq!(hw.entries[0].private, "-");
        assert!(hw.entries[0]
            .describe()
            .contains("no task (private = NULL)"));
        let ep = &v.queues[3];
        assert_eq!(ep.mini_epoll(), Some((3, "poll_wq")));
        assert_eq!(ep.count, 65536);
        assert_eq!(v.other.len(), 2);
        assert_eq!(v.mini_poll_calls().count(), 1);
    }

    #[test]
    fn refuses_garbage() {
        assert!(
            WqView::parse("    excl x - - 1 1 a\n").is_err(),
            "an entry before any queue"
        );
        let bad = "endpoint 1 sk_wq: 1 entry; 0 wake-ups, 0 entries woken, 0 spurious\n    excl\n";
        assert!(
            WqView::parse(bad).is_err(),
            "an entry line with too few fields"
        );
        assert_eq!(WqView::parse("").unwrap(), WqView::default());
    }
}
