//! Prometheus' text exposition format (version 0.0.4): each family once, as `# HELP`, `# TYPE`, then its
//! samples; label values and help texts escaped; histograms as cumulative `_bucket{le}` series ending in
//! `+Inf`, then `_sum` and `_count`.

use std::fmt::Write as _;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A family's type, as its `# TYPE` line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Labels of one sample: `(name, value)` in order.
pub type Labels<'a> = [(&'a str, &'a str)];

/// One histogram series: `(upper bound, observations in it and not in a lower bucket)` in any order, the
/// sum of the observed values and nothing cumulative yet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistogramSeries {
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
}

/// The text of an exposition, written family by family.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// Starts a family: its `# HELP` and `# TYPE` lines. Counters' names end in `_total`.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        debug_assert!(kind != Kind::Counter || name.ends_with("_total"), "{name}");
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {}", kind.as_str());
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: &Labels<'_>, value: impl std::fmt::Display) {
        self.text.push_str(name);
        write_labels(&mut self.text, labels, None);
        let _ = writeln!(self.text, " {value}");
    }

    /// One series of the current (histogram) family `name`: cumulative buckets by bound, `+Inf` last (added
    /// when the series has none), then `_sum` and `_count`.
    pub fn histogram(&mut self, name: &str, labels: &Labels<'_>, series: &HistogramSeries) {
        let mut buckets = series.buckets.clone();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut cumulative = 0u64;
        let mut bounds: Vec<(f64, u64)> = Vec::with_capacity(buckets.len() + 1);
        for (bound, n) in buckets {
            cumulative += n;
            match bounds.last_mut() {
                Some(last) if last.0 == bound => last.1 = cumulative,
                _ => bounds.push((bound, cumulative)),
            }
        }
        if bounds.last().is_none_or(|last| last.0 != f64::INFINITY) {
            bounds.push((f64::INFINITY, cumulative));
        }
        let bucket_name = format!("{name}_bucket");
        for (bound, n) in bounds {
            self.text.push_str(&bucket_name);
            write_labels(&mut self.text, labels, Some(&format_float(bound)));
            let _ = writeln!(self.text, " {n}");
        }
        self.sample(&format!("{name}_sum"), labels, format_float(series.sum));
        self.sample(&format!("{name}_count"), labels, cumulative);
    }

    /// The finished text.
    pub fn finish(self) -> String {
        self.text
    }
}

fn write_labels(out: &mut String, labels: &Labels<'_>, le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let all = labels.iter().copied().chain(le.map(|le| ("le", le)));
    for (index, (name, value)) in all.enumerate() {
        if index > 0 {
            out.push(',');
        }
        let _ = write!(out, "{name}=\"{}\"", escape_label_value(value));
    }
    out.push('}');
}

/// A float as Prometheus writes one: `+Inf`, `-Inf`, `NaN`, else the shortest exact decimal.
pub fn format_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{value}")
    }
}

/// A label value: backslash, double quote and line feed escaped.
pub fn escape_label_value(value: &str) -> String {
    escape(value, true)
}

/// A help text: backslash and line feed escaped.
pub fn escape_help(help: &str) -> String {
    escape(help, false)
}

fn escape(text: &str, quote: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_has_help_type_and_escaped_samples() {
        let mut out = Exposition::default();
        out.family("x_total", Kind::Counter, "Things \\ counted\non two lines.");
        out.sample("x_total", &[("project", "a \"b\" \\ c\nd"), ("result", "ok")], 3);
        out.sample("x_total", &[], 0);
        assert_eq!(
            out.finish(),
            "# HELP x_total Things \\\\ counted\\non two lines.\n# TYPE x_total counter\n\
             x_total{project=\"a \\\"b\\\" \\\\ c\\nd\",result=\"ok\"} 3\nx_total 0\n"
        );
    }

    #[test]
    fn a_histogram_is_cumulative_sorted_and_ends_in_inf() {
        let mut out = Exposition::default();
        out.family("d_seconds", Kind::Histogram, "Durations.");
        let series = HistogramSeries { buckets: vec![(0.1, 2), (0.005, 3), (1.0, 0), (f64::INFINITY, 1)], sum: 1.25 };
        out.histogram("d_seconds", &[("c", "tasks")], &series);
        let text = out.finish();
        let samples: Vec<&str> = text.lines().skip(2).collect();
        assert_eq!(
            samples,
            [
                "d_seconds_bucket{c=\"tasks\",le=\"0.005\"} 3",
                "d_seconds_bucket{c=\"tasks\",le=\"0.1\"} 5",
                "d_seconds_bucket{c=\"tasks\",le=\"1\"} 5",
                "d_seconds_bucket{c=\"tasks\",le=\"+Inf\"} 6",
                "d_seconds_sum{c=\"tasks\"} 1.25",
                "d_seconds_count{c=\"tasks\"} 6",
            ]
        );
    }

    #[test]
    fn a_histogram_without_an_inf_bucket_gets_one_and_repeated_bounds_merge() {
        let mut out = Exposition::default();
        let series = HistogramSeries { buckets: vec![(0.5, 1), (0.5, 2)], sum: 0.75 };
        out.histogram("h", &[], &series);
        assert_eq!(out.finish(), "h_bucket{le=\"0.5\"} 3\nh_bucket{le=\"+Inf\"} 3\nh_sum 0.75\nh_count 3\n");
    }

    #[test]
    fn floats_are_written_as_prometheus_reads_them() {
        assert_eq!(format_float(0.0025), "0.0025");
        assert_eq!(format_float(10.0), "10");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float(f64::NAN), "NaN");
    }
}
