//! Prometheus metrics, kept in memory and rendered in the text format, and
//! the small HTTP server that serves them with `/healthz` and `/readyz`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::{info, warn};

/// Upper bounds (seconds) of the reconcile duration histogram.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// Every metric the operator exports.
#[derive(Default)]
pub struct Metrics {
    reconciles: Mutex<BTreeMap<&'static str, u64>>,
    errors: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    durations: Mutex<BTreeMap<&'static str, Histogram>>,
    requests: Mutex<BTreeMap<String, u64>>,
    objects: Mutex<BTreeMap<&'static str, i64>>,
    pub leader: AtomicBool,
    pub ready: AtomicBool,
    started: AtomicU64,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let m = Metrics::default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        m.started.store(now.as_secs(), Ordering::Relaxed);
        Arc::new(m)
    }

    /// Records one finished reconcile of `kind`; `error` is its category.
    pub fn reconciled(&self, kind: &'static str, took: Duration, error: Option<&'static str>) {
        *self
            .reconciles
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(kind)
            .or_default() += 1;
        if let Some(category) = error {
            *self
                .errors
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry((kind, category))
                .or_default() += 1;
        }
        let mut durations = self
            .durations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let h = durations.entry(kind).or_insert_with(|| Histogram {
            counts: vec![0; BUCKETS.len()],
            ..Default::default()
        });
        let secs = took.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// Records one API request by HTTP method (GET, POST, PATCH, ...).
    pub fn request(&self, method: &str) {
        *self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(method.to_string())
            .or_default() += 1;
    }

    /// Sets how many objects of `kind` exist.
    pub fn set_objects(&self, kind: &'static str, n: i64) {
        self.objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(kind, n);
    }

    /// The metrics in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP workspace_operator_reconciles_total Reconciles finished, by kind.\n# TYPE workspace_operator_reconciles_total counter\n");
        for (kind, n) in self
            .reconciles
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "workspace_operator_reconciles_total{{kind=\"{kind}\"}} {n}"
            );
        }
        out.push_str("# HELP workspace_operator_reconcile_errors_total Reconciles that failed, by kind and error category.\n# TYPE workspace_operator_reconcile_errors_total counter\n");
        for ((kind, category), n) in self
            .errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "workspace_operator_reconcile_errors_total{{kind=\"{kind}\",category=\"{category}\"}} {n}"
            );
        }
        out.push_str("# HELP workspace_operator_reconcile_duration_seconds Time per reconcile, by kind.\n# TYPE workspace_operator_reconcile_duration_seconds histogram\n");
        for (kind, h) in self
            .durations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            for (bound, count) in BUCKETS.iter().zip(&h.counts) {
                let _ = writeln!(
                    out,
                    "workspace_operator_reconcile_duration_seconds_bucket{{kind=\"{kind}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "workspace_operator_reconcile_duration_seconds_bucket{{kind=\"{kind}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "workspace_operator_reconcile_duration_seconds_sum{{kind=\"{kind}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "workspace_operator_reconcile_duration_seconds_count{{kind=\"{kind}\"}} {}",
                h.count
            );
        }
        out.push_str("# HELP workspace_operator_api_requests_total Requests sent to the Kubernetes API, by HTTP method.\n# TYPE workspace_operator_api_requests_total counter\n");
        for (method, n) in self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "workspace_operator_api_requests_total{{method=\"{method}\"}} {n}"
            );
        }
        out.push_str("# HELP workspace_operator_objects Objects in the operator's caches, by kind.\n# TYPE workspace_operator_objects gauge\n");
        for (kind, n) in self
            .objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(out, "workspace_operator_objects{{kind=\"{kind}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP workspace_operator_leader Whether this process holds the leader lease.\n# TYPE workspace_operator_leader gauge\nworkspace_operator_leader {}",
            u8::from(self.leader.load(Ordering::Relaxed))
        );
        let _ = writeln!(
            out,
            "# HELP workspace_operator_start_time_seconds When the process started.\n# TYPE workspace_operator_start_time_seconds gauge\nworkspace_operator_start_time_seconds {}",
            self.started.load(Ordering::Relaxed)
        );
        out
    }
}

/// Serves `/metrics`, `/healthz` (the process runs and, when it leads, has
/// renewed its lease within `lease` of the renew deadline) and `/readyz`
/// (caches filled; a standby replica is ready too, so a rollout can proceed).
pub async fn serve(
    addr: std::net::SocketAddr,
    metrics: Arc<Metrics>,
    fence: Arc<crate::runtime::leader::Fence>,
    lease: Duration,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    info!(%addr, "serving /metrics, /healthz and /readyz");
    loop {
        let (mut stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "accept failed");
                continue;
            }
        };
        let metrics = metrics.clone();
        let fence = fence.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let n = match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await
            {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let request = String::from_utf8_lossy(&buf[..n]);
            let path = request.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = match path {
                "/metrics" => ("200 OK", metrics.render()),
                "/healthz" if fence.healthy(lease) => ("200 OK", "ok\n".to_string()),
                "/healthz" => (
                    "500 Internal Server Error",
                    "leading, but the leader lease was not renewed in time\n".to_string(),
                ),
                "/readyz" if metrics.ready.load(Ordering::Relaxed) => {
                    ("200 OK", "ok\n".to_string())
                }
                "/readyz" => (
                    "503 Service Unavailable",
                    "caches not filled yet\n".to_string(),
                ),
                _ => ("404 Not Found", "not found\n".to_string()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::new();
        m.reconciled("Workspace", Duration::from_millis(20), None);
        m.reconciled("Workspace", Duration::from_millis(300), Some("ApiError"));
        m.request("PATCH");
        m.set_objects("Workspace", 3);
        let text = m.render();
        assert!(text.contains("workspace_operator_reconciles_total{kind=\"Workspace\"} 2"));
        assert!(text.contains(
            "workspace_operator_reconcile_errors_total{kind=\"Workspace\",category=\"ApiError\"} 1"
        ));
        assert!(text.contains("workspace_operator_reconcile_duration_seconds_bucket{kind=\"Workspace\",le=\"0.025\"} 1"));
        assert!(text.contains(
            "workspace_operator_reconcile_duration_seconds_bucket{kind=\"Workspace\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains("workspace_operator_api_requests_total{method=\"PATCH\"} 1"));
        assert!(text.contains("workspace_operator_objects{kind=\"Workspace\"} 3"));
        assert!(text.contains("workspace_operator_leader 0"));
    }
}
