//! What simnicctl prints, as pure functions of the driver's structs, so that
//! the host tests can check every line without a device.

use std::fmt::Write as _;

use simnic::{NicStats, RingState};

/// One NIC counter: its name (the uapi field's), value and meaning.
pub type Counter = (&'static str, u64, &'static str);

/// What each NIC counter means, by its uapi field name.
fn meaning(name: &str) -> &'static str {
    match name {
        "irqs" => "interrupts the hardware raised",
        "irqs_suppressed" => "frames written while the interrupt was masked (mitigation)",
        "polls" => "NAPI poll runs",
        "budget_exhausted" => "polls that used their whole budget and ran again",
        "napi_complete" => "polls that drained the ring and unmasked the interrupt",
        "rx_descs" => "RX descriptors processed",
        "rx_packets" => "frames delivered to an endpoint's queue",
        "rx_bytes" => "payload bytes of those frames",
        "rx_missed" => "dropped by the hardware: RX ring full",
        "rx_no_port" => "dropped: no endpoint bound to the destination port",
        "rx_queue_full" => "dropped: the endpoint's receive queue was full",
        "rx_errors" => "dropped: malformed frame header",
        "tx_packets" => "frames transmitted from the TX ring",
        "tx_bytes" => "payload bytes of those frames",
        "tx_busy" => "sends refused with ENOBUFS: TX ring full",
        "gen_packets" => "frames the built-in generator made",
        "wakeups" => "wake-ups of endpoint wait queues (data_ready)",
        "hw_runs" => "times the hardware engine ran",
        "tx_lost" => "frames sent with loopback off: left the NIC",
        "rx_mem_drops" => "dropped: the NIC-wide receive memory budget was used up",
        "rx_closed" => "dropped: endpoint shut for reading or closing",
        "port_unreach" => "connected senders told ECONNREFUSED (port unreachable)",
        "write_space" => "endpoints woken when TX room came back",
        _ => "",
    }
}

/// Every field of [`NicStats`], in the struct's order (from the uapi's
/// own list, so a new counter cannot be forgotten here).
pub fn nic_counters(s: &NicStats) -> [Counter; NicStats::FIELDS] {
    s.fields().map(|(name, value)| (name, value, meaning(name)))
}

/// The counters as an aligned table: name, value (right-aligned), meaning.
pub fn stats_table(s: &NicStats) -> String {
    let rows = nic_counters(s);
    let name_w = rows
        .iter()
        .map(|r| r.0.len())
        .max()
        .unwrap_or(0)
        .max("counter".len());
    let value_w = rows
        .iter()
        .map(|r| r.1.to_string().len())
        .max()
        .unwrap_or(0)
        .max("value".len());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<name_w$}  {:>value_w$}  meaning",
        "counter", "value"
    );
    for (name, value, meaning) in rows {
        let _ = writeln!(out, "{name:<name_w$}  {value:>value_w$}  {meaning}");
    }
    out
}

/// A JSON object of `(key, value)` pairs, one per line. The keys are
/// identifiers chosen here, so they need no escaping.
pub fn json_object(pairs: &[(&str, u64)]) -> String {
    let mut out = String::from("{\n");
    for (i, (key, value)) in pairs.iter().enumerate() {
        let comma = if i + 1 < pairs.len() { "," } else { "" };
        let _ = writeln!(out, "  \"{key}\": {value}{comma}");
    }
    out.push_str("}\n");
    out
}

/// The counters as a JSON object, keys the uapi's field names.
pub fn stats_json(s: &NicStats) -> String {
    let pairs: Vec<(&str, u64)> = nic_counters(s).iter().map(|&(n, v, _)| (n, v)).collect();
    json_object(&pairs)
}

/// The ring state as a JSON object, keys the uapi's field names.
pub fn rings_json(r: &RingState) -> String {
    json_object(&[
        ("rx_size", r.rx_size.into()),
        ("rx_head", r.rx_head.into()),
        ("rx_tail", r.rx_tail.into()),
        ("rx_next_to_clean", r.rx_next_to_clean.into()),
        ("tx_size", r.tx_size.into()),
        ("tx_head", r.tx_head.into()),
        ("tx_tail", r.tx_tail.into()),
        ("tx_next_to_clean", r.tx_next_to_clean.into()),
        ("irq_masked", r.irq_masked.into()),
        ("budget", r.budget.into()),
        ("tx_delay_ns", r.tx_delay_ns),
    ])
}

/// How one ring's descriptors split between its owners, from the three
/// indices, as e1000-class drivers keep them: the hardware owns
/// `[head, tail)`; the driver has `[next_to_clean, head)` (done by the
/// hardware, not yet cleaned) and `[tail, next_to_clean)` (for RX the
/// one-descriptor gap that keeps `head == tail` meaning "hardware owns
/// none"; for TX the free descriptors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingSpec {
    /// "RX" or "TX".
    pub name: &'static str,
    /// Descriptors in the ring.
    pub size: u32,
    /// Head index.
    pub head: u32,
    /// Tail index.
    pub tail: u32,
    /// The driver's next_to_clean index.
    pub next_to_clean: u32,
    /// The picture's character and the legend's words for the three ranges
    /// `[next_to_clean, head)`, `[head, tail)`, `[tail, next_to_clean)`.
    pub ranges: [(char, &'static str); 3],
    /// The ranges by precedence: a picture cell covering several
    /// descriptors shows the first of these it contains.
    pub precedence: [usize; 3],
}

impl RingSpec {
    /// The RX ring of `r`.
    pub fn rx(r: &RingState) -> Self {
        Self {
            name: "RX",
            size: r.rx_size,
            head: r.rx_head,
            tail: r.rx_tail,
            next_to_clean: r.rx_next_to_clean,
            ranges: [
                ('#', "received, waiting for the poll"),
                ('.', "empty, owned by the hardware"),
                ('-', "held by the driver"),
            ],
            precedence: [0, 2, 1],
        }
    }

    /// The TX ring of `r`.
    pub fn tx(r: &RingState) -> Self {
        Self {
            name: "TX",
            size: r.tx_size,
            head: r.tx_head,
            tail: r.tx_tail,
            next_to_clean: r.tx_next_to_clean,
            ranges: [
                ('+', "sent, waiting to be reclaimed"),
                ('#', "queued for the hardware to send"),
                ('.', "free"),
            ],
            precedence: [1, 0, 2],
        }
    }

    /// True when the indices can be drawn: a power-of-two size and every
    /// index below it.
    pub fn is_consistent(&self) -> bool {
        self.size.is_power_of_two()
            && self.head < self.size
            && self.tail < self.size
            && self.next_to_clean < self.size
    }

    /// Descriptors from `from` up to (not including) `to`.
    fn distance(&self, from: u32, to: u32) -> u32 {
        to.wrapping_sub(from) & (self.size - 1)
    }

    /// Descriptors in each of the three ranges (see
    /// [`ranges`](Self::ranges)). Call only when consistent.
    ///
    /// The three distances add up to the ring's size, except when all three
    /// indices are equal: then the hardware owns nothing and has nothing
    /// done, so the whole ring is in the third range (an idle TX ring is all
    /// free).
    pub fn counts(&self) -> [u32; 3] {
        let counts = [
            self.distance(self.next_to_clean, self.head),
            self.distance(self.head, self.tail),
            self.distance(self.tail, self.next_to_clean),
        ];
        if counts == [0, 0, 0] {
            [0, 0, self.size]
        } else {
            counts
        }
    }

    /// Which range descriptor `i` is in. Call only when consistent.
    fn range_of(&self, i: u32) -> usize {
        let starts = [self.next_to_clean, self.head, self.tail];
        let counts = self.counts();
        (0..3)
            .find(|&k| self.distance(starts[k], i) < counts[k])
            .unwrap_or(2)
    }

    /// The picture: one line of cells (at most 64, each covering
    /// `size / cells` descriptors), a line marking where the indices are,
    /// and the legend.
    pub fn picture(&self) -> Vec<String> {
        if !self.is_consistent() {
            return vec![format!(
                "(no picture: indices {}/{}/{} do not fit a ring of {})",
                self.head, self.tail, self.next_to_clean, self.size
            )];
        }
        let cells = self.size.min(64);
        let per = self.size / cells;
        let mut bar = String::new();
        for c in 0..cells {
            let present: Vec<usize> = (c * per..(c + 1) * per).map(|i| self.range_of(i)).collect();
            let shown = self
                .precedence
                .iter()
                .find(|k| present.contains(k))
                .copied()
                .unwrap_or(2);
            bar.push(self.ranges[shown].0);
        }
        let mut marks = vec![' '; cells as usize];
        for (letter, index) in [
            ('C', self.next_to_clean),
            ('H', self.head),
            ('T', self.tail),
        ] {
            let m = &mut marks[(index / per) as usize];
            *m = if *m == ' ' { letter } else { '*' };
        }
        let marks: String = marks.into_iter().collect::<String>().trim_end().to_string();
        let counts = self.counts();
        let legend: Vec<String> = (0..3)
            .map(|k| format!("{} {} {}", self.ranges[k].0, counts[k], self.ranges[k].1))
            .collect();
        let cell_note = if per == 1 {
            "one descriptor per cell".to_string()
        } else {
            format!("{per} descriptors per cell")
        };
        vec![
            format!("|{bar}|  {cell_note}"),
            format!(" {marks}"),
            format!(
                "C next_to_clean {}, H head {}, T tail {} (* several)",
                self.next_to_clean, self.head, self.tail
            ),
            legend.join(";  "),
        ]
    }
}

/// One index in the `rings` report: name, value, meaning.
type IndexRow = (&'static str, u32, &'static str);

/// The `rings` report: each ring's indices with what they mean, its
/// picture, then the interrupt, budget and wire delay.
pub fn rings_text(r: &RingState) -> String {
    let mut out = String::new();
    let rx = RingSpec::rx(r);
    let tx = RingSpec::tx(r);
    let rows: [(&RingSpec, [IndexRow; 3]); 2] = [
        (
            &rx,
            [
                ("head", rx.head, "next descriptor the hardware fills (RDH)"),
                (
                    "tail",
                    rx.tail,
                    "the hardware owns descriptors from head up to here (RDT)",
                ),
                (
                    "next_to_clean",
                    rx.next_to_clean,
                    "next descriptor the NAPI poll looks at",
                ),
            ],
        ),
        (
            &tx,
            [
                ("head", tx.head, "next descriptor the hardware sends (TDH)"),
                (
                    "tail",
                    tx.tail,
                    "where the driver puts the next frame (TDT)",
                ),
                (
                    "next_to_clean",
                    tx.next_to_clean,
                    "next sent descriptor the driver reclaims",
                ),
            ],
        ),
    ];
    for (spec, indices) in rows {
        let _ = writeln!(out, "{} ring: {} descriptors", spec.name, spec.size);
        for (name, value, meaning) in indices {
            let _ = writeln!(out, "  {name:<13}  {value:>4}  {meaning}");
        }
        for line in spec.picture() {
            let _ = writeln!(out, "  {line}");
        }
        out.push('\n');
    }
    let irq = if r.irq_masked != 0 {
        "masked (a NAPI poll is scheduled or running)"
    } else {
        "unmasked (the next frame raises it)"
    };
    let _ = writeln!(out, "interrupt   {irq}");
    let _ = writeln!(out, "budget      {} descriptors per poll", r.budget);
    let _ = writeln!(out, "wire delay  {}", format_ns(r.tx_delay_ns));
    out
}

/// `ns` for people: "0 ns", "250 ns", "10 us (10000 ns)", "1.5 ms (1500000 ns)".
pub fn format_ns(ns: u64) -> String {
    let (div, unit) = match ns {
        0..1_000 => return format!("{ns} ns"),
        1_000..1_000_000 => (1_000, "us"),
        1_000_000..1_000_000_000 => (1_000_000, "ms"),
        _ => (1_000_000_000, "s"),
    };
    let whole = ns / div;
    let frac = (ns % div) * 10 / div;
    if frac == 0 {
        format!("{whole} {unit} ({ns} ns)")
    } else {
        format!("{whole}.{frac} {unit} ({ns} ns)")
    }
}

/// Parses a duration in nanoseconds: a whole number with an optional unit,
/// `ns` (the default), `us`, `ms` or `s`: "250", "10us", "5 ms", "1s".
pub fn parse_ns(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let mult: u64 = match unit.trim() {
        "" | "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        other => return Err(format!("unknown unit {other:?}: use ns, us, ms or s")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number of ns, us, ms or s"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("{text:?} does not fit in 64 bits of nanoseconds"))
}

/// The columns of `watch`: a name and the counter (or sum) it follows.
pub const WATCH_COLUMNS: [&str; 7] = [
    "irqs",
    "suppressed",
    "polls",
    "budget_exh",
    "rx_packets",
    "drops",
    "wakeups",
];

/// The values of [`WATCH_COLUMNS`] in `s`. `drops` is every receive-side
/// drop: `rx_missed + rx_no_port + rx_queue_full + rx_errors`.
pub fn watch_values(s: &NicStats) -> [u64; 7] {
    [
        s.irqs,
        s.irqs_suppressed,
        s.polls,
        s.budget_exhausted,
        s.rx_packets,
        s.rx_missed
            .wrapping_add(s.rx_no_port)
            .wrapping_add(s.rx_queue_full)
            .wrapping_add(s.rx_errors),
        s.wakeups,
    ]
}

/// How much each watched counter grew from `prev` to `cur`. A counter that
/// went backwards was reset (`simnicctl reset`) during the interval: it
/// counts from zero.
pub fn watch_deltas(prev: &NicStats, cur: &NicStats) -> [u64; 7] {
    let (p, c) = (watch_values(prev), watch_values(cur));
    std::array::from_fn(|i| c[i].checked_sub(p[i]).unwrap_or(c[i]))
}

/// Width of each `watch` column.
const WATCH_W: usize = 11;

/// The header line of `watch`.
pub fn watch_header() -> String {
    let mut out = format!("{:>8}", "secs");
    for name in WATCH_COLUMNS {
        let _ = write!(out, "{name:>WATCH_W$}");
    }
    out
}

/// One line of `watch`: seconds since the start, then the deltas.
pub fn watch_row(secs: f64, deltas: &[u64; 7]) -> String {
    let mut out = format!("{secs:>8.2}");
    for d in deltas {
        let _ = write!(out, "{d:>WATCH_W$}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A NicStats whose field number i (from 0, in declaration order) holds
    /// `f(i)`, built from its byte image so no field name is involved.
    fn stats_with(f: impl Fn(usize) -> u64) -> NicStats {
        let mut b = [0u8; NicStats::SIZE];
        for (i, chunk) in b.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&f(i).to_ne_bytes());
        }
        NicStats::from_bytes(&b)
    }

    #[test]
    fn counters_cover_every_field_in_order() {
        let s = stats_with(|i| 100 + i as u64);
        for (name, _, meaning) in nic_counters(&s) {
            assert!(!meaning.is_empty(), "counter {name} has no meaning in simnicctl");
        }
        for (i, (name, value, _)) in nic_counters(&s).iter().enumerate() {
            assert_eq!(*value, 100 + i as u64, "counter {name} is not field {i}");
        }
        let mut names: Vec<&str> = nic_counters(&s).iter().map(|r| r.0).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), NicStats::FIELDS, "names must be unique");
    }

    #[test]
    fn stats_table_is_aligned() {
        let s = NicStats {
            irqs: 7,
            rx_bytes: 1_234_567,
            ..Default::default()
        };
        let text = stats_table(&s);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), NicStats::FIELDS + 1);
        assert!(lines[0].starts_with("counter "));
        // Every value ends in the same column.
        let value_end = lines[0].find("value").unwrap() + "value".len();
        for line in &lines[1..] {
            let digits_end = line[..value_end].trim_end().len();
            assert_eq!(digits_end, value_end, "{line:?}");
        }
        assert!(text.contains("irqs_suppressed"));
        assert!(lines
            .iter()
            .any(|l| l.starts_with("rx_bytes") && l.contains(" 1234567  payload")));
    }

    #[test]
    fn stats_json_parses_back() {
        let s = stats_with(|i| (i as u64) << 40);
        let v: serde_json::Value = serde_json::from_str(&stats_json(&s)).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), NicStats::FIELDS);
        for (name, value, _) in nic_counters(&s) {
            assert_eq!(obj[name].as_u64(), Some(value), "{name}");
        }
        // Empty object too.
        let v: serde_json::Value = serde_json::from_str(&json_object(&[])).unwrap();
        assert!(v.as_object().unwrap().is_empty());
    }

    #[test]
    fn rings_json_parses_back() {
        let r = RingState {
            rx_size: 256,
            tx_delay_ns: 5000,
            irq_masked: 1,
            ..Default::default()
        };
        let v: serde_json::Value = serde_json::from_str(&rings_json(&r)).unwrap();
        assert_eq!(v["rx_size"], 256);
        assert_eq!(v["tx_delay_ns"], 5000);
        assert_eq!(v["irq_masked"], 1);
        assert_eq!(v.as_object().unwrap().len(), 11);
    }

    fn rx(size: u32, head: u32, tail: u32, ntc: u32) -> RingSpec {
        RingSpec::rx(&RingState {
            rx_size: size,
            rx_head: head,
            rx_tail: tail,
            rx_next_to_clean: ntc,
            ..Default::default()
        })
    }

    #[test]
    fn counts_split_the_ring() {
        // Idle after init: the hardware owns all but the gap.
        assert_eq!(rx(256, 0, 255, 0).counts(), [0, 255, 1]);
        // 14 frames arrived, not yet polled.
        assert_eq!(rx(256, 14, 255, 0).counts(), [14, 241, 1]);
        // Ring full from the hardware's side: head caught up with tail.
        assert_eq!(rx(256, 255, 255, 0).counts(), [255, 0, 1]);
        // Wrapped around the end.
        assert_eq!(rx(64, 3, 59, 60).counts(), [7, 56, 1]);
        for spec in [rx(256, 0, 255, 0), rx(64, 3, 59, 60), rx(128, 100, 7, 50)] {
            assert_eq!(spec.counts().iter().sum::<u32>(), spec.size);
        }
    }

    #[test]
    fn picture_of_a_small_ring() {
        // 64 descriptors, one per cell: 5 received (60..=63 and 0), the
        // gap at 59, the rest the hardware's.
        let lines = rx(64, 1, 59, 60).picture();
        let bar = &lines[0][1..65];
        assert_eq!(&bar[..1], "#");
        assert_eq!(&bar[1..59], ".".repeat(58));
        assert_eq!(&bar[59..60], "-");
        assert_eq!(&bar[60..], "####");
        assert!(lines[0].ends_with("one descriptor per cell"));
        // Markers under their cells: H at 1, T at 59, C at 60.
        let marks = &lines[1][1..];
        assert_eq!(marks.find('H'), Some(1));
        assert_eq!(marks.find('T'), Some(59));
        assert_eq!(marks.find('C'), Some(60));
        assert!(lines[3].contains("# 5 received"), "{}", lines[3]);
        assert!(lines[3].contains(". 58 empty"), "{}", lines[3]);
        assert!(lines[3].contains("- 1 held"), "{}", lines[3]);
    }

    #[test]
    fn picture_cells_show_the_most_telling_state() {
        // 256 descriptors, 4 per cell; one frame received at 8, the gap at
        // 7. A single descriptor decides its cell's character: cell 2 shows
        // the frame although 3 of its 4 descriptors are the hardware's, and
        // cell 1 the gap.
        let lines = rx(256, 9, 7, 8).picture();
        let bar = &lines[0][1..65];
        assert_eq!(&bar[..4], ".-#.");
        assert_eq!(bar.matches('#').count(), 1);
        assert_eq!(bar.matches('-').count(), 1);
        assert!(lines[0].ends_with("4 descriptors per cell"));
        // T (7) marks cell 1; C (8) and H (9) share cell 2.
        assert_eq!(&lines[1][1..], " T*");
    }

    #[test]
    fn picture_refuses_inconsistent_indices() {
        for spec in [
            rx(0, 0, 0, 0),
            rx(100, 0, 99, 0),
            rx(64, 64, 0, 0),
            rx(64, 0, 0, 70),
        ] {
            let lines = spec.picture();
            assert_eq!(lines.len(), 1);
            assert!(lines[0].starts_with("(no picture"), "{lines:?}");
        }
    }

    #[test]
    fn tx_picture_shows_queued_frames() {
        let spec = RingSpec::tx(&RingState {
            tx_size: 64,
            tx_head: 10,
            tx_tail: 12,
            tx_next_to_clean: 8,
            ..Default::default()
        });
        assert_eq!(spec.counts(), [2, 2, 60]);
        let bar = &spec.picture()[0][1..65];
        assert_eq!(&bar[8..12], "++##");
        assert_eq!(bar.matches('.').count(), 60);
    }

    #[test]
    fn idle_tx_ring_is_all_free() {
        let spec = RingSpec::tx(&RingState {
            tx_size: 128,
            tx_head: 5,
            tx_tail: 5,
            tx_next_to_clean: 5,
            ..Default::default()
        });
        assert_eq!(spec.counts(), [0, 0, 128]);
        let lines = spec.picture();
        assert_eq!(&lines[0][1..65], ".".repeat(64));
        assert!(lines[3].ends_with(". 128 free"), "{}", lines[3]);
    }

    #[test]
    fn rings_text_mentions_everything() {
        let r = RingState {
            rx_size: 256,
            rx_head: 14,
            rx_tail: 255,
            rx_next_to_clean: 0,
            tx_size: 256,
            tx_head: 3,
            tx_tail: 3,
            tx_next_to_clean: 3,
            irq_masked: 1,
            budget: 64,
            tx_delay_ns: 10_000,
        };
        let text = rings_text(&r);
        for want in [
            "RX ring: 256 descriptors",
            "TX ring: 256 descriptors",
            "  head             14",
            "  tail            255",
            "interrupt   masked",
            "budget      64 descriptors per poll",
            "wire delay  10 us (10000 ns)",
            "# 14 received",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn ns_formats_for_people() {
        assert_eq!(format_ns(0), "0 ns");
        assert_eq!(format_ns(999), "999 ns");
        assert_eq!(format_ns(10_000), "10 us (10000 ns)");
        assert_eq!(format_ns(1_500_000), "1.5 ms (1500000 ns)");
        assert_eq!(format_ns(1_000_000_000), "1 s (1000000000 ns)");
    }

    #[test]
    fn ns_parses_with_units() {
        assert_eq!(parse_ns("250"), Ok(250));
        assert_eq!(parse_ns("250ns"), Ok(250));
        assert_eq!(parse_ns("10us"), Ok(10_000));
        assert_eq!(parse_ns("5 ms"), Ok(5_000_000));
        assert_eq!(parse_ns("1s"), Ok(1_000_000_000));
        assert_eq!(parse_ns("0"), Ok(0));
        assert!(parse_ns("").is_err());
        assert!(parse_ns("ms").is_err());
        assert!(parse_ns("1.5ms").is_err());
        assert!(parse_ns("-3").is_err());
        assert!(parse_ns("10 minutes").is_err());
        assert!(parse_ns("18446744073709551615s").is_err());
    }

    #[test]
    fn watch_deltas_follow_counters_and_resets() {
        let prev = NicStats {
            irqs: 10,
            irqs_suppressed: 5,
            polls: 12,
            budget_exhausted: 1,
            rx_packets: 100,
            rx_missed: 1,
            rx_no_port: 2,
            rx_queue_full: 3,
            rx_errors: 4,
            wakeups: 50,
            tx_packets: 999,
            ..Default::default()
        };
        let cur = NicStats {
            irqs: 13,
            irqs_suppressed: 25,
            polls: 16,
            budget_exhausted: 1,
            rx_packets: 160,
            rx_missed: 2,
            rx_no_port: 2,
            rx_queue_full: 10,
            rx_errors: 4,
            wakeups: 55,
            tx_packets: 0,
            ..Default::default()
        };
        assert_eq!(watch_deltas(&prev, &cur), [3, 20, 4, 0, 60, 8, 5]);
        // After a reset the counters are smaller: the new values are the
        // growth since the reset.
        let after_reset = NicStats {
            irqs: 2,
            rx_packets: 7,
            ..Default::default()
        };
        assert_eq!(watch_deltas(&cur, &after_reset), [2, 0, 0, 0, 7, 0, 0]);
    }

    #[test]
    fn watch_lines_line_up() {
        let header = watch_header();
        let row = watch_row(1.0, &[1, 22, 333, 4444, 55555, 0, 7]);
        assert_eq!(header.len(), row.len());
        assert_eq!(header.len(), 8 + 7 * WATCH_W);
        for (i, name) in WATCH_COLUMNS.iter().enumerate() {
            let end = 8 + (i + 1) * WATCH_W;
            assert!(header[..end].ends_with(name));
        }
        assert!(row.starts_with("    1.00"));
        assert!(row.ends_with("          7"));
    }
}
