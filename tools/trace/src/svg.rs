// SPDX-License-Identifier: GPL-2.0

//! The timeline as an SVG for Documentation: one lane per execution
//! context, the two phases shaded across all lanes, each step a tick with
//! its name, hand-overs and the wake-up as arrows, times in microseconds
//! since the first event shown, and long idle stretches cut out (a zigzag
//! break labelled with the time it stands for).

use std::fmt::Write;

use crate::axis::{fmt_us, nice_step, Axis};
use crate::timeline::{ArrowKind, SpanKind, Timeline, LANES};

const WIDTH: f64 = 1400.0;
const LEFT: f64 = 210.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 96.0;
const LANE_H: f64 = 92.0;
const CHAR_W: f64 = 6.1;

/// XML text escaping.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn fill(kind: SpanKind) -> (&'static str, &'static str) {
    // (fill, text colour)
    match kind {
        SpanKind::Syscall => ("#4e79a7", "#ffffff"),
        SpanKind::Asleep => ("url(#asleep)", "#333333"),
        SpanKind::Runnable => ("#f1ce63", "#333333"),
        SpanKind::HardIrq => ("#e15759", "#ffffff"),
        SpanKind::Softirq => ("#8cd17d", "#1b3d14"),
        SpanKind::Poll => ("#3b8a3e", "#ffffff"),
        SpanKind::Engine => ("#b07aa1", "#ffffff"),
    }
}

/// Lane `i`'s top.
fn lane_top(i: usize) -> f64 {
    TOP + i as f64 * LANE_H
}

/// Vertical extent of a span of `depth` on lane `lane`.
fn span_y(lane: usize, depth: u8) -> (f64, f64) {
    let top = lane_top(lane);
    if depth == 0 {
        (top + 36.0, top + 70.0)
    } else {
        (top + 41.0, top + 65.0)
    }
}

/// The y of a lane's centre line (where marks and arrows meet it).
fn lane_mid(lane: usize) -> f64 {
    lane_top(lane) + 53.0
}

/// Rows of text above a lane's boxes, filled left to right: returns the
/// row for a label from `x0` to `x1`, or the last row if all are taken.
struct Rows {
    ends: Vec<f64>,
}

impl Rows {
    fn new(n: usize) -> Self {
        Rows {
            ends: vec![f64::MIN; n],
        }
    }
    fn place(&mut self, x0: f64, x1: f64) -> Option<usize> {
        let row = self.ends.iter().position(|&e| e + 4.0 < x0)?;
        self.ends[row] = x1;
        Some(row)
    }
}

/// Renders `t` as an SVG document; `caption` goes under the figure
/// (what was run, where).
pub fn render(t: &Timeline, caption: &str) -> String {
    let axis = Axis::new(&t.anchors, LEFT, WIDTH - RIGHT);
    let x = |ns: u64| axis.x(ns);
    let bottom = lane_top(LANES);
    let height = bottom + 150.0;

    let mut o = String::new();
    let _ = writeln!(
        o,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Verdana, sans-serif" font-size="11">"##
    );
    let _ = writeln!(
        o,
        r##"<title>{}</title>
<defs>
<pattern id="asleep" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff" fill-opacity="0.25"/><line x1="0" y1="0" x2="0" y2="6" stroke="#ffffff" stroke-opacity="0.75" stroke-width="2.5"/></pattern>
<marker id="ah-wake" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c0392b"/></marker>
<marker id="ah-data" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555555"/></marker>
</defs>
<rect width="100%" height="100%" fill="#ffffff"/>"##,
        esc(&t.title)
    );
    let _ = writeln!(
        o,
        r##"<text x="12" y="22" font-size="15" font-weight="bold">{}</text>"##,
        esc(&t.title)
    );

    // Phase bands across every lane, and their brackets in the header.
    for (i, p) in t.phases.iter().enumerate() {
        let (a, b) = (x(p.start), x(p.end).max(x(p.start) + 2.0));
        let colour = if p.number == 1 { "#4e79a7" } else { "#f28e2b" };
        let _ = writeln!(
            o,
            r##"<rect x="{a:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{colour}" fill-opacity="{}"><title>{}</title></rect>"##,
            TOP - 4.0,
            b - a,
            bottom - TOP + 4.0,
            if p.number == 1 { 0.09 } else { 0.22 },
            esc(&p.label)
        );
        let y = 40.0 + i as f64 * 22.0;
        let _ = writeln!(
            o,
            r##"<path d="M{a:.1},{:.1} V{y:.1} H{b:.1} V{:.1}" fill="none" stroke="{colour}" stroke-width="1.5"/>"##,
            y + 6.0,
            y + 6.0
        );
        let text = format!("{}: {} µs", p.label, fmt_us(p.end - p.start));
        let w = text.chars().count() as f64 * CHAR_W;
        // Centred over the bracket if it fits, else beside it, inside the
        // figure.
        let (tx, anchor) = if w + 8.0 < b - a {
            ((a + b) / 2.0, "middle")
        } else if b + 6.0 + w < WIDTH - 4.0 {
            (b + 6.0, "start")
        } else {
            (a - 6.0, "end")
        };
        let _ = writeln!(
            o,
            r##"<text x="{tx:.1}" y="{:.1}" text-anchor="{anchor}" fill="{colour}" font-weight="bold">{}</text>"##,
            y - 3.0,
            esc(&text)
        );
    }

    // Lanes: separators, names, and what each holds.
    for (i, (name, detail)) in t.lanes.iter().enumerate() {
        let top = lane_top(i);
        let _ = writeln!(
            o,
            r##"<line x1="8" y1="{top:.1}" x2="{:.1}" y2="{top:.1}" stroke="#d0d0d0"/>
<text x="12" y="{:.1}" font-weight="bold" font-size="12">{}</text>"##,
            WIDTH - 8.0,
            top + 44.0,
            esc(name),
        );
        let _ = write!(
            o,
            r##"<text x="12" y="{:.1}" fill="#555555" font-size="9.5">"##,
            top + 58.0
        );
        for (k, l) in wrap(detail, 36).iter().enumerate() {
            let _ = write!(
                o,
                r##"<tspan x="12" dy="{}">{}</tspan>"##,
                if k == 0 { 0.0 } else { 11.0 },
                esc(l)
            );
        }
        let _ = writeln!(o, "</text>");
    }
    let _ = writeln!(
        o,
        r##"<line x1="8" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}" stroke="#d0d0d0"/>"##,
        WIDTH - 8.0
    );

    // Spans: interrupt contexts, then system calls, the poll and the
    // engine, then the scheduler's states over them (a system call asleep
    // shows hatched), then the labels on top.
    let layer = |k: SpanKind| match k {
        SpanKind::HardIrq | SpanKind::Softirq => 0,
        SpanKind::Syscall | SpanKind::Poll | SpanKind::Engine => 1,
        SpanKind::Asleep | SpanKind::Runnable => 2,
    };
    let mut spans: Vec<_> = t.spans.iter().collect();
    spans.sort_by_key(|s| (layer(s.kind), s.start));
    let mut labels = String::new();
    let breaks: Vec<(f64, f64)> = axis
        .breaks()
        .iter()
        .map(|&(_, _, xa, xb)| (xa, xb))
        .collect();
    for s in spans {
        let (a, b) = (x(s.start), x(s.end));
        let w = (b - a).max(1.5);
        let (y0, y1) = span_y(s.lane, if layer(s.kind) == 0 { 0 } else { 1 });
        let (bg, fg) = fill(s.kind);
        let extra = match s.kind {
            SpanKind::Runnable => {
                r##" fill-opacity="0.8" stroke="#b8860b" stroke-dasharray="3,2""##
            }
            SpanKind::Asleep => r##" stroke="#8a8a8a" stroke-width="0.8""##,
            _ => "",
        };
        let _ = writeln!(
            o,
            r##"<rect x="{a:.1}" y="{y0:.1}" width="{w:.1}" height="{:.1}" fill="{bg}"{extra}><title>{}</title></rect>"##,
            y1 - y0,
            esc(&s.detail)
        );
        let (label, ty, size, colour) = match s.kind {
            SpanKind::Asleep => ("asleep", y1 + 10.0, 9.0, "#666666"),
            SpanKind::Runnable => ("runnable", y1 + 10.0, 9.0, "#8a6d00"),
            SpanKind::HardIrq | SpanKind::Softirq => (s.label.as_str(), y1 + 10.0, 9.0, "#555555"),
            _ => (s.label.as_str(), (y0 + y1) / 2.0 + 4.0, 11.0, fg),
        };
        // The label goes on the widest piece of the span that no break
        // hides.
        let (pa, pb) = widest_visible(a, a + w, &breaks);
        if !label.is_empty()
            && (label.chars().count() as f64 * CHAR_W * size / 11.0 + 6.0) < pb - pa
        {
            let _ = writeln!(
                labels,
                r##"<text x="{:.1}" y="{ty:.1}" text-anchor="middle" fill="{colour}" font-size="{size}">{}</text>"##,
                (pa + pb) / 2.0,
                esc(label)
            );
        }
    }
    o.push_str(&labels);

    // Breaks: a white band with zigzag edges through every lane, and the
    // time it stands for.
    for (ta, tb, xa, xb) in axis.breaks() {
        let mid = (xa + xb) / 2.0;
        let _ = writeln!(
            o,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#ffffff"/>"##,
            xa + 3.0,
            TOP - 6.0,
            xb - xa - 6.0,
            bottom - TOP + 8.0
        );
        for edge in [xa + 3.0, xb - 3.0] {
            let mut d = format!("M{edge:.1},{:.1}", TOP - 6.0);
            let mut y = TOP - 6.0;
            let mut k = 0;
            while y < bottom + 2.0 {
                y += 6.0;
                let dx = if k % 2 == 0 { 3.0 } else { -3.0 };
                let _ = write!(d, " L{:.1},{y:.1}", edge + dx);
                k += 1;
            }
            let _ = writeln!(o, r##"<path d="{d}" fill="none" stroke="#888888"/>"##);
        }
        let _ = writeln!(
            o,
            r##"<text x="{mid:.1}" y="{:.1}" text-anchor="middle" fill="#666666" font-size="9.5">⋯</text><text transform="translate({:.1},{:.1}) rotate(-90)" text-anchor="middle" fill="#666666" font-size="9.5">{} µs cut</text>"##,
            bottom + 21.0,
            mid + 3.5,
            (TOP + bottom) / 2.0,
            fmt_us(tb - ta)
        );
    }

    // Marks: a tick through the lane, the name above, in rows that do not
    // overlap.
    let mut rows: Vec<Rows> = (0..LANES).map(|_| Rows::new(3)).collect();
    let mut marks: Vec<_> = t.marks.iter().collect();
    marks.sort_by_key(|m| m.t);
    for m in marks {
        let mx = x(m.t);
        let top = lane_top(m.lane);
        let w = m.label.chars().count() as f64 * CHAR_W;
        let row = rows[m.lane].place(mx - w / 2.0, mx + w / 2.0);
        let ty = match row {
            Some(r) => top + 12.0 + r as f64 * 11.5,
            None => top + 12.0 + 2.0 * 11.5,
        };
        let _ = writeln!(
            o,
            r##"<g><title>{}</title><line x1="{mx:.1}" y1="{:.1}" x2="{mx:.1}" y2="{:.1}" stroke="#222222" stroke-width="1.2"/><circle cx="{mx:.1}" cy="{:.1}" r="3" fill="#222222"/><text x="{mx:.1}" y="{ty:.1}" text-anchor="middle" font-size="10.5">{}</text></g>"##,
            esc(&m.detail),
            ty + 2.0,
            top + 74.0,
            lane_mid(m.lane),
            esc(&m.label)
        );
    }

    // Arrows.
    for a in &t.arrows {
        let (x0, y0) = (x(a.from.1), lane_mid(a.from.0));
        let (x1, y1) = (x(a.to.1), lane_mid(a.to.0));
        let (colour, width, marker) = match a.kind {
            ArrowKind::Wakeup => ("#c0392b", 2.0, "ah-wake"),
            ArrowKind::Datapath => ("#555555", 1.3, "ah-data"),
        };
        let d = if a.from.0 == a.to.0 {
            // Along one lane: a low arc, so it does not hide the lane.
            let lift = 18.0;
            format!(
                "M{x0:.1},{y0:.1} C{x0:.1},{:.1} {x1:.1},{:.1} {x1:.1},{y1:.1}",
                y0 + lift,
                y1 + lift
            )
        } else {
            format!("M{x0:.1},{y0:.1} L{x1:.1},{y1:.1}")
        };
        let _ = writeln!(
            o,
            r##"<path d="{d}" fill="none" stroke="{colour}" stroke-width="{width}" marker-end="url(#{marker})"><title>{}</title></path>"##,
            esc(&a.label)
        );
        // Hand-overs labelled on their left, wake-ups on their right, so
        // that two arrows crossing one lane boundary keep apart; an arc
        // along a lane under its lowest point.
        let (lx, ly, anchor) = if a.from.0 == a.to.0 {
            ((x0 + x1) / 2.0, y0 + 26.0, "middle")
        } else if a.kind == ArrowKind::Wakeup {
            ((x0 + x1) / 2.0 + 6.0, (y0 + y1) / 2.0 + 4.0, "start")
        } else {
            ((x0 + x1) / 2.0 - 6.0, (y0 + y1) / 2.0 + 4.0, "end")
        };
        let _ = writeln!(
            o,
            r##"<text x="{lx:.1}" y="{ly:.1}" text-anchor="{anchor}" fill="{colour}" font-size="9.5" font-style="italic">{}</text>"##,
            esc(&a.label)
        );
    }

    // The axis: ticks in microseconds since the first event, per segment.
    let ay = bottom + 4.0;
    let _ = writeln!(
        o,
        r##"<text x="12" y="{:.1}" fill="#333333">µs since the first event shown</text>"##,
        ay + 14.0
    );
    let mut last_x = f64::MIN;
    for seg in &axis.segments {
        let span_us = (seg.t1 - seg.t0) as f64 / 1e3;
        let px = seg.x1 - seg.x0;
        let step = nice_step(span_us / (px / 95.0).max(1.0));
        let rel0 = (seg.t0 - t.t0) as f64 / 1e3;
        let rel1 = (seg.t1 - t.t0) as f64 / 1e3;
        let mut v = (rel0 / step).ceil() * step;
        // The segment's own start, then round values.
        let mut ticks = vec![rel0];
        while v <= rel1 + 1e-9 {
            ticks.push(v);
            v += step;
        }
        for tv in ticks {
            let ns = t.t0 + (tv * 1e3).round() as u64;
            let tx = axis.x(ns);
            if tx - last_x < 66.0 {
                continue;
            }
            last_x = tx;
            let _ = writeln!(
                o,
                r##"<line x1="{tx:.1}" y1="{TOP:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#000000" stroke-opacity="0.08"/><line x1="{tx:.1}" y1="{ay:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#333333"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle" fill="#333333">{}</text>"##,
                bottom,
                ay + 5.0,
                ay + 17.0,
                fmt_us(ns - t.t0)
            );
        }
    }
    // Legend and caption.
    let ly = bottom + 44.0;
    let legend: [(&str, &str, &str); 8] = [
        ("#4e79a7", "", "system call"),
        (
            "url(#asleep)",
            r##" stroke="#8a8a8a" stroke-width="0.8""##,
            "asleep (hatched over its call)",
        ),
        (
            "#f1ce63",
            r##" stroke="#b8860b" stroke-dasharray="3,2""##,
            "runnable, not yet running",
        ),
        ("#e15759", "", "hard irq handler"),
        ("#8cd17d", "", "softirq"),
        ("#3b8a3e", "", "NAPI poll"),
        ("#b07aa1", "", "hardware engine"),
        ("#f28e2b", "", "phase 2 (phase 1 in blue)"),
    ];
    let mut lx = 12.0;
    for (bg, stroke, name) in legend {
        if bg == "url(#asleep)" {
            // The hatch shows over a system call's colour.
            let _ = writeln!(
                o,
                r##"<rect x="{lx:.1}" y="{:.1}" width="14" height="10" fill="#4e79a7"/>"##,
                ly - 9.0
            );
        }
        let _ = writeln!(
            o,
            r##"<rect x="{lx:.1}" y="{:.1}" width="14" height="10" fill="{bg}"{stroke}/><text x="{:.1}" y="{:.1}">{}</text>"##,
            ly - 9.0,
            lx + 18.0,
            ly,
            esc(name)
        );
        lx += 18.0 + name.chars().count() as f64 * CHAR_W + 16.0;
    }
    let _ = writeln!(
        o,
        r##"<path d="M{:.1},{:.1} h26" stroke="#c0392b" stroke-width="2" marker-end="url(#ah-wake)"/><text x="{:.1}" y="{ly:.1}">wake-up</text><path d="M{:.1},{:.1} h26" stroke="#555555" stroke-width="1.3" marker-end="url(#ah-data)"/><text x="{:.1}" y="{ly:.1}">hand-over</text>"##,
        lx,
        ly - 4.0,
        lx + 32.0,
        lx + 90.0,
        ly - 4.0,
        lx + 122.0
    );
    for (k, line) in wrap(caption, 215).iter().enumerate() {
        let _ = writeln!(
            o,
            r##"<text x="12" y="{:.1}" fill="#444444" font-size="10.5">{}</text>"##,
            ly + 24.0 + k as f64 * 14.0,
            esc(line)
        );
    }
    o.push_str("</svg>\n");
    o
}

/// The widest part of `a..b` outside every break `(xa, xb)`.
fn widest_visible(a: f64, b: f64, breaks: &[(f64, f64)]) -> (f64, f64) {
    let mut best = (a, a);
    let mut from = a;
    for &(xa, xb) in breaks {
        if xb <= from || xa >= b {
            continue;
        }
        if xa - from > best.1 - best.0 {
            best = (from, xa);
        }
        from = xb.max(from);
    }
    if b - from > best.1 - best.0 {
        best = (from, b);
    }
    best
}

/// `text` cut into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}
