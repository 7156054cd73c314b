//! Prometheus metrics (the `prometheus-client` crate) and the HTTP server
//! that serves them with `/healthz` and `/readyz`.
//!
//! Names follow controller-runtime and client-go, so dashboards and alerts
//! written for Go operators fit: `controller_runtime_reconcile_*`,
//! `controller_runtime_active_workers`, `rest_client_*`,
//! `leader_election_master_status`, `process_*`. What is the operator's own
//! is prefixed `workspace_operator_`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tracing::{info, warn};

/// Upper bounds (seconds) of the reconcile duration histogram
/// (controller-runtime's, trimmed to what a reconcile takes).
const RECONCILE_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9,
    1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0,
    25.0, 30.0, 40.0, 50.0, 60.0,
];
/// client-go's request latency buckets.
const REQUEST_BUCKETS: &[f64] = &[
    0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControllerLabels {
    controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    controller: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    controller: String,
    /// The operator's own error category (ApiError, Invalid, ...).
    category: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    code: String,
    method: String,
    host: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerbLabels {
    verb: String,
    host: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NameLabels {
    name: &'static str,
}

fn reconcile_histogram() -> Histogram {
    Histogram::new(RECONCILE_BUCKETS.iter().copied())
}

fn request_histogram() -> Histogram {
    Histogram::new(REQUEST_BUCKETS.iter().copied())
}

/// Every metric the operator exports.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabels, Counter>,
    reconcile_errors: Family<ControllerLabels, Counter>,
    reconcile_error_categories: Family<ErrorLabels, Counter>,
    reconcile_time: Family<ControllerLabels, Histogram, fn() -> Histogram>,
    active_workers: Family<ControllerLabels, Gauge>,
    max_concurrent: Family<ControllerLabels, Gauge>,
    requests: Family<RequestLabels, Counter>,
    request_time: Family<VerbLabels, Histogram, fn() -> Histogram>,
    objects: Family<KindLabels, Gauge>,
    stalled: Family<KindLabels, Gauge>,
    leader_status: Family<NameLabels, Gauge>,
    /// Metrics of what the runtime does not know (the usage gauges),
    /// added once the caches they read exist (`add_late`).
    late: Arc<OnceLock<Box<dyn Collector>>>,
    /// Caches filled: `/readyz` answers 200.
    pub ready: AtomicBool,
}

/// A collector added after the registry was made: empty until then.
#[derive(Debug)]
struct Late(Arc<OnceLock<Box<dyn Collector>>>);

impl Collector for Late {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        match self.0.get() {
            Some(collector) => collector.encode(encoder),
            None => Ok(()),
        }
    }
}

/// The name of the lease, as the `name` label of `leader_election_master_status`.
pub const LEASE_NAME: &str = "workspace-operator";

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let reconciles = Family::<ResultLabels, Counter>::default();
        registry.register(
            "controller_runtime_reconcile",
            "Total number of reconciliations per controller and result",
            reconciles.clone(),
        );
        let reconcile_errors = Family::<ControllerLabels, Counter>::default();
        registry.register(
            "controller_runtime_reconcile_errors",
            "Total number of reconciliation errors per controller",
            reconcile_errors.clone(),
        );
        let reconcile_error_categories = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "workspace_operator_reconcile_errors",
            "Reconciliation errors per controller and error category",
            reconcile_error_categories.clone(),
        );
        let reconcile_time =
            Family::<ControllerLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                reconcile_histogram,
            );
        registry.register(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            reconcile_time.clone(),
        );
        let active_workers = Family::<ControllerLabels, Gauge>::default();
        registry.register(
            "controller_runtime_active_workers",
            "Number of currently used workers (reconciles in flight) per controller",
            active_workers.clone(),
        );
        let max_concurrent = Family::<ControllerLabels, Gauge>::default();
        registry.register(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            max_concurrent.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "rest_client_requests",
            "Number of HTTP requests to the Kubernetes API, partitioned by status code, method, and host (code <error>: no response)",
            requests.clone(),
        );
        let request_time = Family::<VerbLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            request_histogram,
        );
        registry.register(
            "rest_client_request_duration_seconds",
            "Request latency in seconds, broken down by verb and host",
            request_time.clone(),
        );
        let objects = Family::<KindLabels, Gauge>::default();
        registry.register(
            "workspace_operator_objects",
            "Objects of each kind in the operator's caches",
            objects.clone(),
        );
        let stalled = Family::<KindLabels, Gauge>::default();
        registry.register(
            "workspace_operator_stalled_objects",
            "Objects of each kind whose Stalled condition is True (they need a person)",
            stalled.clone(),
        );
        let leader_status = Family::<NameLabels, Gauge>::default();
        registry.register(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master",
            leader_status.clone(),
        );
        leader_status
            .get_or_create(&NameLabels { name: LEASE_NAME })
            .set(0);
        registry.register_collector(Box::new(BuildInfo));
        registry.register_collector(Box::new(ProcessCollector::new()));
        let late = Arc::new(OnceLock::new());
        registry.register_collector(Box::new(Late(late.clone())));
        Arc::new(Metrics {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_error_categories,
            reconcile_time,
            active_workers,
            max_concurrent,
            requests,
            request_time,
            objects,
            stalled,
            leader_status,
            late,
            ready: AtomicBool::new(false),
        })
    }

    /// The `controller` label of `kind` (controller-runtime names
    /// controllers by their lowercased kind).
    fn controller(kind: &str) -> ControllerLabels {
        ControllerLabels {
            controller: kind.to_ascii_lowercase(),
        }
    }

    /// A reconcile of `kind` starts; the returned guard ends it.
    pub fn reconcile_started(self: &Arc<Self>, kind: &'static str) -> InFlight {
        self.active_workers
            .get_or_create(&Self::controller(kind))
            .inc();
        InFlight {
            metrics: self.clone(),
            kind,
        }
    }

    /// Records one finished reconcile of `kind`; `error` is its category.
    pub fn reconciled(&self, kind: &'static str, took: Duration, error: Option<&'static str>) {
        let controller = Self::controller(kind);
        self.reconciles
            .get_or_create(&ResultLabels {
                controller: controller.controller.clone(),
                result: if error.is_some() { "error" } else { "success" },
            })
            .inc();
        if let Some(category) = error {
            self.reconcile_errors.get_or_create(&controller).inc();
            self.reconcile_error_categories
                .get_or_create(&ErrorLabels {
                    controller: controller.controller.clone(),
                    category,
                })
                .inc();
        }
        self.reconcile_time
            .get_or_create(&controller)
            .observe(took.as_secs_f64());
    }

    /// A controller for `kind` starts, running at most `n` reconciles at
    /// once. As controller-runtime does, its series start at zero, so rates
    /// and alerts see them before the first reconcile (or error).
    pub fn controller_started(&self, kind: &'static str, n: u16) {
        let controller = Self::controller(kind);
        self.max_concurrent
            .get_or_create(&controller)
            .set(i64::from(n));
        for result in ["success", "error"] {
            let _ = self.reconciles.get_or_create(&ResultLabels {
                controller: controller.controller.clone(),
                result,
            });
        }
        let _ = self.reconcile_errors.get_or_create(&controller);
        let _ = self.reconcile_time.get_or_create(&controller);
        let _ = self.active_workers.get_or_create(&controller);
    }

    /// Records one API request and its answer (`code`: the HTTP status, or
    /// `<error>` when none came back).
    pub fn request(&self, method: &str, host: &str, code: &str, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                code: code.to_string(),
                method: method.to_string(),
                host: host.to_string(),
            })
            .inc();
        self.request_time
            .get_or_create(&VerbLabels {
                verb: method.to_string(),
                host: host.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// Sets how many objects of `kind` exist, and how many are Stalled.
    pub fn set_objects(&self, kind: &'static str, total: usize, stalled: usize) {
        let label = KindLabels { kind };
        self.objects
            .get_or_create(&label)
            .set(i64::try_from(total).unwrap_or(i64::MAX));
        self.stalled
            .get_or_create(&label)
            .set(i64::try_from(stalled).unwrap_or(i64::MAX));
    }

    /// Adds `collector`, encoded on every scrape from now on (one only:
    /// a second is refused and returned).
    pub fn add_late(&self, collector: Box<dyn Collector>) -> Result<(), Box<dyn Collector>> {
        self.late.set(collector)
    }

    pub fn set_leader(&self, leading: bool) {
        self.leader_status
            .get_or_create(&NameLabels { name: LEASE_NAME })
            .set(i64::from(leading));
    }

    /// The metrics in Prometheus' text format (0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; a metric that could not be
        // encoded would be a bug of ours, and is logged rather than served.
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            warn!(error = %e, "cannot encode the metrics");
        }
        out
    }

    /// The metrics in the OpenMetrics text format.
    pub fn render_openmetrics(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            warn!(error = %e, "cannot encode the metrics");
        }
        out
    }
}

/// One reconcile in flight: counted in `controller_runtime_active_workers`
/// until dropped (also when the reconcile is cancelled).
pub struct InFlight {
    metrics: Arc<Metrics>,
    kind: &'static str,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.metrics
            .active_workers
            .get_or_create(&Metrics::controller(self.kind))
            .dec();
    }
}

/// `workspace_operator_build_info`: 1, labelled with the version.
#[derive(Debug)]
struct BuildInfo;

impl Collector for BuildInfo {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let gauge = ConstGauge::new(1i64);
        let mut family = encoder.encode_descriptor(
            "workspace_operator_build_info",
            "The operator's build: always 1, labelled with its version",
            None,
            gauge.metric_type(),
        )?;
        let labels = [
            ("version", env!("CARGO_PKG_VERSION")),
            ("os", std::env::consts::OS),
            ("arch", std::env::consts::ARCH),
        ];
        gauge.encode(family.encode_family(&labels)?)
    }
}

/// The standard `process_*` metrics, read from /proc on each scrape (as
/// client_golang's process collector does). Absent where /proc is.
#[derive(Debug)]
struct ProcessCollector {
    ticks_per_second: f64,
    page_size: f64,
}

impl ProcessCollector {
    fn new() -> Self {
        // SAFETY: sysconf only reads configuration values.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        ProcessCollector {
            ticks_per_second: if ticks > 0 { ticks as f64 } else { 100.0 },
            page_size: if page > 0 { page as f64 } else { 4096.0 },
        }
    }
}

/// What `/proc/self/stat` and friends say, in Prometheus' units.
#[derive(Debug, PartialEq)]
struct ProcessFigures {
    cpu_seconds: f64,
    resident_bytes: f64,
    virtual_bytes: f64,
    start_time_seconds: f64,
    threads: f64,
}

/// Parses `/proc/<pid>/stat` (`stat`) given the boot time from `/proc/stat`.
fn parse_proc_stat(stat: &str, boot_time: f64, ticks: f64, page: f64) -> Option<ProcessFigures> {
    // The command name is in parentheses and may hold spaces or ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field numbers of proc(5), minus 3 (pid, comm and state come first).
    let field = |n: usize| -> Option<f64> { fields.get(n - 3)?.parse().ok() };
    Some(ProcessFigures {
        cpu_seconds: (field(14)? + field(15)?) / ticks,
        threads: field(20)?,
        start_time_seconds: boot_time + field(22)? / ticks,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)? * page,
    })
}

fn boot_time() -> Option<f64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

fn max_open_files() -> Option<f64> {
    std::fs::read_to_string("/proc/self/limits")
        .ok()?
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(figures) = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .zip(boot_time())
            .and_then(|(stat, boot)| {
                parse_proc_stat(&stat, boot, self.ticks_per_second, self.page_size)
            })
        else {
            return Ok(());
        };
        let cpu = ConstCounter::new(figures.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        let mut gauges = vec![
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                figures.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                figures.virtual_bytes,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                figures.start_time_seconds,
            ),
            (
                "process_threads",
                "Number of OS threads in the process",
                figures.threads,
            ),
        ];
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            gauges.push((
                "process_open_fds",
                "Number of open file descriptors",
                fds.count() as f64,
            ));
        }
        if let Some(max) = max_open_files() {
            gauges.push((
                "process_max_fds",
                "Maximum number of open file descriptors",
                max,
            ));
        }
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

/// A tower layer for the operator's client: counts every request by HTTP
/// method, status code and host, and times it.
#[derive(Clone)]
pub struct RequestMetricsLayer {
    metrics: Arc<Metrics>,
    /// The API server's host:port: the requests this layer sees carry only
    /// a path (kube adds the server below it).
    host: Arc<str>,
}

impl RequestMetricsLayer {
    pub fn new(metrics: Arc<Metrics>, host: String) -> Self {
        RequestMetricsLayer {
            metrics,
            host: host.into(),
        }
    }
}

impl<S> tower::Layer<S> for RequestMetricsLayer {
    type Service = RequestMetrics<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestMetrics {
            inner,
            metrics: self.metrics.clone(),
            host: self.host.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RequestMetrics<S> {
    inner: S,
    metrics: Arc<Metrics>,
    host: Arc<str>,
}

impl<S, B, R> tower::Service<http::Request<B>> for RequestMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let method = req.method().as_str().to_string();
        let host = req
            .uri()
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_else(|| self.host.to_string());
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let answer = self.inner.call(req);
        Box::pin(async move {
            let result = answer.await;
            let code = match &result {
                Ok(response) => response.status().as_u16().to_string(),
                Err(_) => "<error>".to_string(),
            };
            metrics.request(&method, &host, &code, started.elapsed());
            result
        })
    }
}

/// Serves `/metrics` (Prometheus text, or OpenMetrics when asked for),
/// `/healthz` (the process runs and, when it leads, has renewed its lease
/// within `lease` of the renew deadline) and `/readyz` (caches filled; a
/// standby replica is ready too, so a rollout can proceed).
pub async fn serve(
    addr: std::net::SocketAddr,
    metrics: Arc<Metrics>,
    fence: Arc<crate::runtime::leader::Fence>,
    lease: Duration,
) -> std::io::Result<()> {
    use http_body_util::Full;
    use hyper::body::Bytes;

    let listener = tokio::net::TcpListener::bind(addr).await?;
    info!(%addr, "serving /metrics, /healthz and /readyz");
    // Whoever reaches the port must not be able to hold the operator's file
    // descriptors or memory: a few connections at a time (more are closed at
    // once), one request each, and a bound on how long each may take.
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors, say: do not spin.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let metrics = metrics.clone();
        let fence = fence.clone();
        let service =
            hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let (status, content_type, body) = answer(&req, &metrics, &fence, lease);
                let response = http::Response::builder()
                    .status(status)
                    .header(http::header::CONTENT_TYPE, content_type)
                    .body(Full::new(Bytes::from(body)));
                async move { Ok::<_, Infallible>(response.unwrap_or_default()) }
            });
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let served = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(5))
                .keep_alive(false)
                .serve_connection(io, service);
            match tokio::time::timeout(CONNECTION_TIMEOUT, served).await {
                Ok(Err(e)) => tracing::debug!(error = %e, "metrics connection"),
                Err(_) => tracing::debug!("metrics connection took too long; closed"),
                Ok(Ok(())) => {}
            }
            drop(slot);
        });
    }
}

/// Connections the metrics server serves at once (Prometheus and the
/// kubelet's probes need a handful).
const MAX_CONNECTIONS: usize = 128;
/// The longest a connection to the metrics server may stay open.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(15);

const TEXT: &str = "text/plain; charset=utf-8";

/// The answer to one request of the metrics server: status, content type, body.
fn answer<B>(
    req: &http::Request<B>,
    metrics: &Metrics,
    fence: &crate::runtime::leader::Fence,
    lease: Duration,
) -> (http::StatusCode, &'static str, String) {
    use http::StatusCode;
    if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, TEXT, "GET only\n".into());
    }
    match req.uri().path() {
        "/metrics" => {
            let openmetrics = req
                .headers()
                .get_all(http::header::ACCEPT)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.contains("application/openmetrics-text"));
            if openmetrics {
                (
                    StatusCode::OK,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    metrics.render_openmetrics(),
                )
            } else {
                (
                    StatusCode::OK,
                    prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                    metrics.render(),
                )
            }
        }
        "/healthz" | "/livez" if fence.healthy(lease) => (StatusCode::OK, TEXT, "ok\n".into()),
        "/healthz" | "/livez" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            TEXT,
            "leading, but the leader lease was not renewed in time\n".into(),
        ),
        "/readyz" if metrics.ready.load(Ordering::Relaxed) => (StatusCode::OK, TEXT, "ok\n".into()),
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            TEXT,
            "caches not filled yet\n".into(),
        ),
        _ => (StatusCode::NOT_FOUND, TEXT, "not found\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_controller_runtime_and_client_go_names() {
        let m = Metrics::new();
        let flight = m.reconcile_started("Workspace");
        m.reconciled("Workspace", Duration::from_millis(20), None);
        m.reconciled("Workspace", Duration::from_millis(300), Some("ApiError"));
        m.request("PATCH", "127.0.0.1:6443", "200", Duration::from_millis(3));
        m.set_objects("Workspace", 3, 1);
        m.controller_started("Workspace", 8);
        m.controller_started("Organization", 8);
        let text = m.render();
        for line in [
            "controller_runtime_reconcile_total{controller=\"workspace\",result=\"success\"} 1",
            "controller_runtime_reconcile_total{controller=\"workspace\",result=\"error\"} 1",
            "controller_runtime_reconcile_errors_total{controller=\"workspace\"} 1",
            "workspace_operator_reconcile_errors_total{controller=\"workspace\",category=\"ApiError\"} 1",
            "controller_runtime_reconcile_time_seconds_bucket{controller=\"workspace\",le=\"0.025\"} 1",
            "controller_runtime_reconcile_time_seconds_count{controller=\"workspace\"} 2",
            "controller_runtime_active_workers{controller=\"workspace\"} 1",
            "controller_runtime_max_concurrent_reconciles{controller=\"workspace\"} 8",
            "rest_client_requests_total{code=\"200\",method=\"PATCH\",host=\"127.0.0.1:6443\"} 1",
            "rest_client_request_duration_seconds_count{verb=\"PATCH\",host=\"127.0.0.1:6443\"} 1",
            "workspace_operator_objects{kind=\"Workspace\"} 3",
            "workspace_operator_stalled_objects{kind=\"Workspace\"} 1",
            "leader_election_master_status{name=\"workspace-operator\"} 0",
            // Started, never reconciled: its series are there, at zero.
            "controller_runtime_reconcile_total{controller=\"organization\",result=\"error\"} 0",
            "controller_runtime_reconcile_errors_total{controller=\"organization\"} 0",
            "controller_runtime_reconcile_time_seconds_count{controller=\"organization\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
        drop(flight);
        assert!(
            m.render()
                .contains("controller_runtime_active_workers{controller=\"workspace\"} 0")
        );
        assert!(text.contains("workspace_operator_build_info{version=\""));
        assert!(text.contains("# TYPE process_cpu_seconds_total counter"));
        assert!(text.contains("process_resident_memory_bytes "));
    }

    #[test]
    fn reads_proc_stat_as_proc5_numbers_its_fields() {
        // A command name with a space and a parenthesis.
        let stat = "4242 (work (op) r) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 1000 123456789 2048 18446744073709551615";
        let f = parse_proc_stat(stat, 1_700_000_000.0, 100.0, 4096.0).unwrap();
        assert_eq!(
            f,
            ProcessFigures {
                cpu_seconds: 3.0,
                threads: 7.0,
                start_time_seconds: 1_700_000_010.0,
                virtual_bytes: 123_456_789.0,
                resident_bytes: 2048.0 * 4096.0,
            }
        );
        assert_eq!(parse_proc_stat("garbage", 0.0, 100.0, 4096.0), None);
    }

    #[test]
    fn metrics_server_answers_by_path_and_accept_header() {
        let m = Metrics::new();
        let fence = crate::runtime::leader::Fence::always_open();
        let get = |path: &str, accept: Option<&str>| {
            let mut req = http::Request::get(path);
            if let Some(a) = accept {
                req = req.header(http::header::ACCEPT, a);
            }
            answer(&req.body(()).unwrap(), &m, &fence, Duration::from_secs(15))
        };
        let (status, kind, body) = get("/metrics", None);
        assert_eq!(status, 200);
        assert!(kind.starts_with("text/plain; version=0.0.4"));
        assert!(!body.contains("# EOF"));
        let (_, kind, body) = get(
            "/metrics",
            Some("application/openmetrics-text; version=1.0.0"),
        );
        assert!(kind.starts_with("application/openmetrics-text"));
        assert!(body.ends_with("# EOF\n"));
        assert_eq!(get("/readyz", None).0, 503);
        m.ready.store(true, Ordering::Relaxed);
        assert_eq!(get("/readyz", None).0, 200);
        assert_eq!(get("/healthz", None).0, 200);
        assert_eq!(get("/nothing", None).0, 404);
    }
}
