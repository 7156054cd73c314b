//! The control plane (up.sh/down.sh) and the operator process (the tests'
//! `Operator`): starting them, and reading the operator's metrics and /proc
//! figures.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use kube::Client;

use crate::operator::Operator;
use crate::{Args, Result, progress, repo_root};

pub struct Cluster {
    pub dir: PathBuf,
    pub admin: Client,
    /// The operator's own credentials: the floor writes as the operator would.
    pub operator_client: Client,
    metrics_addr: String,
    operator_env: Vec<(String, String)>,
    operator: Mutex<Option<Operator>>,
    http: reqwest_lite::Http,
}

/// A minimal HTTP/1.0 GET over a TCP socket: the metrics endpoint is plain
/// HTTP on loopback, and this avoids another HTTP client dependency.
mod reqwest_lite {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[derive(Clone, Default)]
    pub struct Http;

    impl Http {
        pub async fn get(&self, addr: &str, path: &str) -> std::io::Result<String> {
            let mut s = tokio::net::TcpStream::connect(addr).await?;
            s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
                .await?;
            let mut body = String::new();
            s.read_to_string(&mut body).await?;
            Ok(body
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.to_string())
                .unwrap_or_default())
        }
    }
}

pub async fn client_from(kubeconfig: &Path) -> Result<Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await?;
    Ok(Client::try_from(cfg)?)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn script(name: &str) -> PathBuf {
    repo_root().join("tests/control-plane").join(name)
}

fn run_checked(cmd: &mut Command) -> Result<()> {
    let status = cmd.status()?;
    if !status.success() {
        return Err(format!("{cmd:?} failed: {status}").into());
    }
    Ok(())
}

impl Cluster {
    pub async fn start(args: &Args) -> Result<Self> {
        let dir = PathBuf::from(
            String::from_utf8(
                Command::new("mktemp")
                    .args(["-d", "/tmp/wsop-bench.XXXXXX"])
                    .output()?
                    .stdout,
            )?
            .trim(),
        );
        progress(format!("starting a control plane in {}", dir.display()));
        run_checked(
            Command::new(script("up.sh"))
                .arg(&dir)
                .env("WSOP_OWNER_PID", std::process::id().to_string())
                .stdout(std::process::Stdio::null()),
        )?;
        let admin = client_from(&dir.join("admin.kubeconfig")).await?;
        let operator_client = client_from(&dir.join("operator.kubeconfig")).await?;
        let metrics_addr = format!("127.0.0.1:{}", free_port()?);
        let operator_env = vec![
            ("WSOP_METRICS_ADDR".into(), metrics_addr.clone()),
            ("WSOP_CONCURRENCY".into(), args.concurrency.to_string()),
            ("WSOP_QPS".into(), args.qps.to_string()),
            ("RUST_LOG".into(), "warn".into()),
        ];
        let cluster = Cluster {
            dir,
            admin,
            operator_client,
            metrics_addr,
            operator_env,
            operator: Mutex::new(None),
            http: Default::default(),
        };
        Ok(cluster)
    }

    pub fn operator_binary() -> PathBuf {
        repo_root().join("target/release/workspace-operator")
    }

    fn operator(&self) -> MutexGuard<'_, Option<Operator>> {
        self.operator.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the operator (release build) and waits until it serves metrics.
    pub async fn start_operator(&self) -> Result<()> {
        let bin = Self::operator_binary();
        if !bin.exists() {
            return Err(format!(
                "no operator at {}: run cargo build --release first (make bench does)",
                bin.display()
            )
            .into());
        }
        *self.operator() = Some(Operator::start(&self.dir, &bin, &self.operator_env)?);
        self.wait_metrics().await
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub fn stop_operator(&self) {
        if let Some(operator) = self.operator().take() {
            operator.stop();
        }
    }

    /// Stops the operator and starts it again; waits until it serves metrics.
    pub async fn restart_operator(&self) -> Result<()> {
        self.operator()
            .as_ref()
            .ok_or("the operator is not running")?
            .restart()?;
        self.wait_metrics().await
    }

    async fn wait_metrics(&self) -> Result<()> {
        for _ in 0..600 {
            if self.metrics().await.is_ok() {
                return Ok(());
            }
            if !self.operator().as_ref().is_some_and(Operator::alive) {
                return Err("the operator exited; see logs/workspace-operator.log".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err("the operator never served /metrics".into())
    }

    pub fn operator_pid(&self) -> Result<u32> {
        Ok(self
            .operator()
            .as_ref()
            .ok_or("the operator is not running")?
            .pid())
    }

    /// Whether the operator's /readyz says ok (its caches are filled).
    pub async fn ready(&self) -> bool {
        self.http
            .get(&self.metrics_addr, "/readyz")
            .await
            .is_ok_and(|body| body.trim() == "ok")
    }

    /// The operator's /metrics as served.
    pub async fn metrics_text(&self) -> Result<String> {
        let body = self.http.get(&self.metrics_addr, "/metrics").await?;
        if body.is_empty() {
            return Err("empty /metrics".into());
        }
        Ok(body)
    }

    /// The operator's metrics as (name{labels}) → value.
    pub async fn metrics(&self) -> Result<BTreeMap<String, f64>> {
        Ok(self
            .metrics_text()
            .await?
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect())
    }

    pub fn stop(&self, keep: bool) {
        let mut down = Command::new(script("down.sh"));
        down.arg(&self.dir);
        if !keep {
            down.arg("--purge");
        }
        if let Err(e) = run_checked(&mut down) {
            eprintln!("stopping the control plane: {e}");
        }
        if keep {
            eprintln!("control plane directory kept: {}", self.dir.display());
        }
    }
}

/// A series "name{a=\"x\",b=\"y\"}" split into its name and labels
/// (label values hold no quotes or commas here).
fn series(key: &str) -> (&str, BTreeMap<&str, &str>) {
    let (name, rest) = key.split_once('{').unwrap_or((key, "}"));
    let labels = rest
        .trim_end_matches('}')
        .split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((k, v.trim_matches('"')))
        })
        .collect();
    (name, labels)
}

/// Sums the samples of `metric` by the value of `label`.
fn sum_by(m: &BTreeMap<String, f64>, metric: &str, label: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (k, v) in m {
        let (name, labels) = series(k);
        if name == metric
            && let Some(value) = labels.get(label)
        {
            *out.entry(value.to_string()).or_default() += *v as u64;
        }
    }
    out
}

/// API requests by HTTP method, from the operator's counters.
pub fn requests_by_method(m: &BTreeMap<String, f64>) -> BTreeMap<String, u64> {
    sum_by(m, "rest_client_requests_total", "method")
}

/// `after - before`, method by method.
pub fn diff(
    after: &BTreeMap<String, u64>,
    before: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v.saturating_sub(*before.get(k).unwrap_or(&0))))
        .filter(|(_, v)| *v > 0)
        .collect()
}

pub fn mutating(by_method: &BTreeMap<String, u64>) -> u64 {
    by_method
        .iter()
        .filter(|(k, _)| matches!(k.as_str(), "POST" | "PUT" | "PATCH" | "DELETE"))
        .map(|(_, v)| v)
        .sum()
}

/// Reconciles finished, by kind (controllers are named by lowercased kind).
pub fn reconciles(m: &BTreeMap<String, f64>) -> BTreeMap<String, u64> {
    sum_by(m, "controller_runtime_reconcile_total", "controller")
        .into_iter()
        .map(|(controller, n)| {
            let kind = match controller.as_str() {
                "organization" => "Organization",
                "workspace" => "Workspace",
                "workspacerole" => "WorkspaceRole",
                "workspacemember" => "WorkspaceMember",
                other => other,
            };
            (kind.to_string(), n)
        })
        .collect()
}

/// A process's peak and current resident memory (MiB) and CPU seconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcStats {
    pub peak_rss_mib: f64,
    pub cpu_seconds: f64,
    /// Resident now (VmRSS).
    pub rss_mib: f64,
}

pub fn proc_stats(pid: u32) -> Result<ProcStats> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |key: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 (1-based) of /proc/pid/stat.
    let cpu_ticks = stat_field(pid, 14)? + stat_field(pid, 15)?;
    Ok(ProcStats {
        peak_rss_mib: kib("VmHWM:") / 1024.0,
        rss_mib: kib("VmRSS:") / 1024.0,
        cpu_seconds: cpu_ticks / USER_HZ,
    })
}

/// /proc counts time in clock ticks of 1/100 s (USER_HZ) on Linux.
const USER_HZ: f64 = 100.0;

/// Field `n` (1-based, as in proc(5)) of /proc/`pid`/stat, as a number.
fn stat_field(pid: u32, n: usize) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; fields after it start at 3.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let value = after
        .split_whitespace()
        .nth(n - 3)
        .ok_or_else(|| format!("no field {n} in /proc/{pid}/stat"))?;
    Ok(value.parse()?)
}

/// Seconds since process `pid` started.
pub fn process_age(pid: u32) -> Result<f64> {
    // starttime is field 22.
    let start = stat_field(pid, 22)? / USER_HZ;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")?
        .split_whitespace()
        .next()
        .ok_or("no /proc/uptime")?
        .parse()?;
    Ok(uptime - start)
}
