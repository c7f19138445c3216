//! The table: one row per figure, with its goal and whether it is met (or by how much not).

use std::time::Duration;

/// p-th percentile (0..=1) of sorted values.
pub fn pct<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn ms_of_us(us: u32) -> f64 {
    f64::from(us) / 1000.0
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Whether a goal holds: `Some(true)`/`Some(false)`, or `None` when there is no goal.
#[derive(Debug, Clone)]
pub struct Row {
    pub metric: String,
    pub value: String,
    pub goal: String,
    pub verdict: String,
}

#[derive(Default)]
pub struct Table {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

impl Table {
    /// A figure without a goal of its own (context for another row).
    pub fn info(&mut self, metric: impl Into<String>, value: impl Into<String>) {
        self.push(metric, value, "", "");
    }

    /// `value <= goal` is met; else "missed by x.xx×".
    pub fn at_most(&mut self, metric: impl Into<String>, value: f64, goal: f64, unit: &str) {
        let verdict = if value <= goal {
            "met".to_string()
        } else {
            format!(
                "missed: {:.2}x the goal",
                value / goal.max(f64::MIN_POSITIVE)
            )
        };
        self.push(
            metric,
            format!("{} {unit}", fmt(value)),
            format!("≤ {} {unit}", fmt(goal)),
            verdict,
        );
    }

    /// `value >= goal` is met; else "missed: x% of the goal".
    pub fn at_least(&mut self, metric: impl Into<String>, value: f64, goal: f64, unit: &str) {
        let verdict = if value >= goal {
            "met".to_string()
        } else {
            format!("missed: {:.0}% of the goal", 100.0 * value / goal)
        };
        self.push(
            metric,
            format!("{} {unit}", fmt(value)),
            format!("≥ {} {unit}", fmt(goal)),
            verdict,
        );
    }

    pub fn push(
        &mut self,
        metric: impl Into<String>,
        value: impl Into<String>,
        goal: impl Into<String>,
        verdict: impl Into<String>,
    ) {
        let row = Row {
            metric: metric.into(),
            value: value.into(),
            goal: goal.into(),
            verdict: verdict.into(),
        };
        println!(
            "  {} = {}{}",
            row.metric,
            row.value,
            if row.goal.is_empty() {
                String::new()
            } else {
                format!("  (goal {}: {})", row.goal, row.verdict)
            }
        );
        self.rows.push(row);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        println!("  note: {note}");
        self.notes.push(note);
    }

    /// A plain-text table for the terminal.
    pub fn print(&self) {
        let w = |f: fn(&Row) -> &str, head: &str| {
            self.rows
                .iter()
                .map(|r| f(r).chars().count())
                .chain([head.len()])
                .max()
                .unwrap_or(0)
        };
        let (wm, wv, wg) = (
            w(|r| &r.metric, "metric"),
            w(|r| &r.value, "value"),
            w(|r| &r.goal, "goal"),
        );
        let line = |m: &str, v: &str, g: &str, x: &str| {
            println!("{m:<wm$}  {v:>wv$}  {g:<wg$}  {x}");
        };
        println!();
        line("metric", "value", "goal", "met?");
        println!("{}", "-".repeat(wm + wv + wg + 16));
        for r in &self.rows {
            line(&r.metric, &r.value, &r.goal, &r.verdict);
        }
        for n in &self.notes {
            println!("note: {n}");
        }
    }

    /// The same table in Markdown, between the markers docs/PERFORMANCE.md keeps it in.
    pub fn markdown(&self, header: &str) -> String {
        let mut out = String::from("<!-- suite-results:begin -->\n");
        out.push_str(header);
        out.push_str("\n| metric | value | goal | met? |\n|---|---:|---|---|\n");
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                r.metric, r.value, r.goal, r.verdict
            ));
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for n in &self.notes {
                out.push_str(&format!("- {n}\n"));
            }
        }
        out.push_str("<!-- suite-results:end -->\n");
        out
    }
}

/// Three significant-ish digits without noise: 12345 -> "12345", 1.234 -> "1.23".
pub fn fmt(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}
