//! Request metrics of this process, written in the Prometheus text format by `GET /metrics`
//! together with figures read from the database at scrape time (outbox, jobs, pool).
//!
//! Labels are bounded: the route is a path template of the spec (or one of a few fixed words),
//! the method one of the HTTP methods served, the status a number. A client cannot create
//! series by inventing paths.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
pub const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// The request counters and latency histograms, per (route, method, status).
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), Histogram>>,
}

impl Metrics {
    /// Counts one answered request.
    pub fn observe(&self, route: &str, method: &str, status: u16, latency: Duration) {
        let Ok(mut map) = self.requests.lock() else {
            return;
        };
        let key = (route.to_owned(), method.to_owned(), status);
        map.entry(key).or_default().observe(latency.as_secs_f64());
    }

    /// Writes `reemploi_http_requests_total` and `reemploi_http_request_duration_seconds`.
    pub fn write_requests(&self, out: &mut String) {
        let map = match self.requests.lock() {
            Ok(map) => map.clone(),
            Err(_) => return,
        };
        out.push_str("# HELP reemploi_http_requests_total Requests answered, per route template, method and status.\n");
        out.push_str("# TYPE reemploi_http_requests_total counter\n");
        for ((route, method, status), h) in &map {
            let _ = writeln!(
                out,
                "reemploi_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {}",
                escape(route),
                h.count
            );
        }
        out.push_str("# HELP reemploi_http_request_duration_seconds Time to answer a request, per route template, method and status.\n");
        out.push_str("# TYPE reemploi_http_request_duration_seconds histogram\n");
        for ((route, method, status), h) in &map {
            let labels = format!(
                "route=\"{}\",method=\"{method}\",status=\"{status}\"",
                escape(route)
            );
            for (bound, count) in BUCKETS.iter().zip(h.counts.iter()) {
                let _ = writeln!(
                    out,
                    "reemploi_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "reemploi_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "reemploi_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "reemploi_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
    }
}

/// Escapes a label value (backslash, quote, line break).
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Writes one gauge family: its help, its type and one line per labelled value.
pub fn write_gauge(out: &mut String, name: &str, help: &str, values: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (labels, value) in values {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_each_request_in_every_bucket_above_it() {
        let m = Metrics::default();
        m.observe("/v1/items/{id}", "GET", 200, Duration::from_micros(700));
        m.observe("/v1/items/{id}", "GET", 200, Duration::from_millis(30));
        m.observe("/v1/items/{id}", "GET", 404, Duration::from_millis(2));
        let mut out = String::new();
        m.write_requests(&mut out);
        assert!(out.contains(
            "reemploi_http_requests_total{route=\"/v1/items/{id}\",method=\"GET\",status=\"200\"} 2"
        ));
        assert!(out.contains("status=\"200\",le=\"0.0005\"} 0"));
        assert!(out.contains("status=\"200\",le=\"0.001\"} 1"));
        assert!(out.contains("status=\"200\",le=\"0.05\"} 2"));
        assert!(out.contains("status=\"200\",le=\"+Inf\"} 2"));
        assert!(out.contains("status=\"404\",le=\"0.0025\"} 1"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
