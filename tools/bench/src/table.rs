//! A plain text table: the first column left-aligned, the others right-
//! aligned, columns two spaces apart, a rule under the header.

pub struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(head: &[&str]) -> Self {
        Self {
            head: head.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.head.len(), "row width");
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut w: Vec<usize> = self.head.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i == 0 {
                    s += &format!("{c:<width$}", width = w[0]);
                } else {
                    s += &format!("  {c:>width$}", width = w[i]);
                }
            }
            s.trim_end().to_string() + "\n"
        };
        let mut out = line(&self.head);
        let total = w.iter().sum::<usize>() + 2 * (w.len() - 1);
        out += &"-".repeat(total);
        out += "\n";
        for r in &self.rows {
            out += &line(r);
        }
        out
    }
}

/// Nanoseconds as microseconds, one decimal.
pub fn us(ns: u64) -> String {
    format!("{:.1} us", ns as f64 / 1000.0)
}

/// Nanoseconds as milliseconds, one decimal.
pub fn ms(ns: u64) -> String {
    format!("{:.1} ms", ns as f64 / 1e6)
}

/// A ratio `a / b` as "1.23x" ("-" when `b` is zero).
pub fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 {
        "-".into()
    } else {
        format!("{:.2}x", a / b)
    }
}

/// A whole number with thousands separators.
pub fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Bytes (signed) in a readable unit.
pub fn bytes(v: f64) -> String {
    if v.abs() >= 10.0 * 1024.0 {
        format!("{:.1} KiB", v / 1024.0)
    } else {
        format!("{} B", thousands(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_columns() {
        let mut t = Table::new(&["name", "n"]);
        t.row(vec!["a".into(), "1".into()]);
        t.row(vec!["longer".into(), "100".into()]);
        assert_eq!(
            t.render(),
            "name      n\n-----------\na         1\nlonger  100\n"
        );
    }

    #[test]
    fn number_formats() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(-1000.0), "-1,000");
        assert_eq!(ratio(3.0, 2.0), "1.50x");
        assert_eq!(ratio(1.0, 0.0), "-");
        assert_eq!(us(21_763), "21.8 us");
        assert_eq!(ms(156_340_000), "156.3 ms");
        assert_eq!(bytes(2540.0), "2,540 B");
        assert_eq!(bytes(16_654.0), "16.3 KiB");
    }
}
