//! Scale benchmark: `make bench` (see docs/benchmarks.md).
//!
//! Starts its own control plane, runs the release operator on it, and
//! measures: create (everything applied → everything Ready), latency (new
//! member → access allowed), idle (writes while nothing changes), restart
//! (re-check time and writes), churn (10% of members change roles), plugin
//! (`kubectl workspace list` as a member of 100 workspaces), delete (one
//! organization pruned at once: time, and nothing left behind), and the
//! floor (the same children written directly, operator stopped). Prints a
//! table and, unless --no-docs, rewrites docs/benchmarks.md's figures and plot.

mod cluster;
mod deletion;
mod floor;
mod footprint;
// The operator process, as the integration tests run it.
#[path = "../../tests/integration/support/operator.rs"]
mod operator;
mod phases;
mod report;
mod tracker;
mod workload;

use std::path::PathBuf;

use clap::Parser;

// Counts the bytes each thread holds: the footprint phase measures what one
// cached object costs with it.
#[global_allocator]
static ALLOCATOR: footprint::Counting = footprint::Counting;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T, E = BoxError> = std::result::Result<T, E>;

/// Requests the benchmark's own clients (the users' creates, the floor)
/// keep in flight: the same on both sides, so the ratio compares like with
/// like.
pub const IN_FLIGHT: usize = 32;

#[derive(Parser, Clone, Debug)]
#[command(about = "workspace-operator scale benchmark")]
pub struct Args {
    /// Organizations.
    #[arg(long, default_value_t = 10)]
    pub orgs: usize,
    /// Workspaces per organization (each organization also has its default one).
    #[arg(long, default_value_t = 100)]
    pub workspaces: usize,
    /// Members per workspace.
    #[arg(long, default_value_t = 10)]
    pub members: usize,
    /// The operator's --concurrency (reconciles in flight per kind). The
    /// benchmark's own clients (the users, the floor) keep `IN_FLIGHT`
    /// requests in flight whatever this is.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// The operator's --qps.
    #[arg(long, default_value_t = 500)]
    pub qps: u64,
    /// New members timed from creation to "allowed".
    #[arg(long, default_value_t = 200)]
    pub latency_samples: usize,
    /// How long the idle phase watches a converged operator.
    #[arg(long, default_value_t = 120)]
    pub idle_seconds: u64,
    /// Give up on a phase after this long.
    #[arg(long, default_value_t = 3600)]
    pub timeout_seconds: u64,
    /// Do not rewrite docs/benchmarks.md and its plot.
    #[arg(long)]
    pub no_docs: bool,
    /// Keep the control plane running afterwards (its directory is printed).
    #[arg(long)]
    pub keep: bool,
    /// Stop after this phase (create, latency, idle or restart), for
    /// profiling one phase; prints what was measured and never writes docs.
    #[arg(long)]
    pub until: Option<phases::Phase>,
}

fn main() -> std::process::ExitCode {
    // `cargo bench` passes --bench; it means nothing here.
    let argv = std::env::args().filter(|a| a != "--bench");
    let args = Args::parse_from(argv);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start tokio: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

async fn run(args: Args) -> Result<()> {
    let cluster = cluster::Cluster::start(&args).await?;
    let result = phases::all(&args, &cluster).await;
    let keep = args.keep || result.is_err();
    cluster.stop(keep);
    let figures = result?;
    if args.until.is_some() {
        println!("\n{figures:#?}");
        return Ok(());
    }
    let table = report::table(&args, &figures);
    println!("\n{table}");
    if !args.no_docs {
        let plot = report::write_docs(&args, &figures, &table)?;
        println!("wrote docs/benchmarks.md and {}", plot.display());
    }
    Ok(())
}

/// Runs `request` until it succeeds, at most 20 times with a growing pause,
/// as a GitOps tool would retry on a control plane loaded on purpose. The
/// first few retries of a run are printed.
pub async fn with_retries<F, Fut>(what: &str, mut request: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), kube::Error>>,
{
    static PRINTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let mut attempt = 0;
    loop {
        match request().await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 20 => {
                attempt += 1;
                if PRINTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 20 {
                    progress(format!("{what}: {e}; retrying"));
                }
                tokio::time::sleep(std::time::Duration::from_millis(250 * attempt)).await;
            }
            Err(e) => return Err(format!("{what}: {e}").into()),
        }
    }
}

/// Treats "already exists" as done: a retried create may have landed.
pub fn existing_is_fine<T>(result: Result<T, kube::Error>) -> Result<(), kube::Error> {
    match result {
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        other => other.map(drop),
    }
}

/// Prints a progress line with the time since the benchmark started.
pub fn progress(msg: impl AsRef<str>) {
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    let t = START.get_or_init(std::time::Instant::now).elapsed();
    eprintln!("[bench {:>7.1}s] {}", t.as_secs_f64(), msg.as_ref());
}
