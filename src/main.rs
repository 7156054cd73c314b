use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use std::time::Duration;

use workspace_operator::api::guardrails::{PodSecurity, PodSecurityLevel};
use workspace_operator::controllers::StartupError;
use workspace_operator::runtime::leader::{Elector, Fence, FenceLayer, LeaseSettings};
use workspace_operator::runtime::metrics::{Metrics, RequestMetricsLayer};
use workspace_operator::{controllers, crds};

/// What the controllers stop on: SIGTERM or SIGINT, or a lost lease.
type Shutdown = futures::future::Shared<futures::future::BoxFuture<'static, ()>>;

// jemalloc: the caches are replaced one object at a time for as long as the
// process runs; glibc's malloc kept far more resident for the same objects.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read once at its start (`MALLOC_CONF` still
/// overrides them). By default it keeps four arenas per core and returns
/// freed pages to the system only after ten seconds: on two cores that held
/// tens of MiB beyond the caches' live data. One arena is enough for a
/// process whose work is mostly waiting on the API server, and freed pages
/// go back at once, by a background thread rather than on the allocation
/// path: at the benchmark's default scale peak RSS 105 → 99 MiB (two arenas,
/// one second) for no measurable CPU (docs/benchmarks.md).
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static MALLOC_CONF: &[u8] =
    b"narenas:1,background_thread:true,dirty_decay_ms:0,muzzy_decay_ms:0\0";

/// Manages organizations, workspaces, roles and members declaratively.
#[derive(Parser)]
#[command(name = "workspace-operator", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every controller against the cluster of the current kubeconfig
    /// (or the in-cluster ServiceAccount).
    Run(RunArgs),
    /// Print the CustomResourceDefinitions as YAML, or write one file per kind.
    Crds {
        /// Write `<kind>.yaml` files into this directory instead of printing.
        #[arg(long, value_name = "DIR")]
        write: Option<PathBuf>,
    },
    /// Print the version.
    Version,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Reconciles in flight at once, per kind.
    #[arg(long, env = "WSOP_CONCURRENCY", default_value_t = 32)]
    concurrency: u16,
    /// Most API requests per second the operator sends (client-side limit).
    #[arg(long, env = "WSOP_QPS", default_value_t = 500)]
    qps: u64,
    /// How often a converged object is checked again anyway, in seconds.
    #[arg(long, env = "WSOP_RESYNC_SECONDS", default_value_t = 3600)]
    resync_seconds: u64,
    /// Where to serve /metrics, /healthz and /readyz (for example 0.0.0.0:8080).
    #[arg(long, env = "WSOP_METRICS_ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
    /// Run only while holding the leader Lease, so several replicas are safe.
    #[arg(long, env = "WSOP_LEADER_ELECTION", default_value_t = false)]
    leader_election: bool,
    /// Namespace of the leader Lease (the operator's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    leader_election_namespace: String,
    /// A leader that has not renewed for this many seconds is replaced.
    #[arg(long, env = "WSOP_LEASE_SECONDS", default_value_t = 15)]
    lease_seconds: u64,
    /// The ClusterRole every WorkspaceRole must fit in: each of its rules,
    /// and each rule of the ClusterRoles it includes, must be covered.
    #[arg(long, env = "WSOP_TENANT_CEILING", default_value = workspace_operator::resources::tenancy::DEFAULT_CEILING)]
    tenant_ceiling: String,
    /// ClusterRoles a WorkspaceRole may include in spec.clusterRoles
    /// (comma-separated; each is still checked against the ceiling).
    #[arg(
        long,
        env = "WSOP_ALLOWED_CLUSTER_ROLES",
        value_delimiter = ',',
        default_value = ""
    )]
    allowed_cluster_roles: Vec<String>,
    /// Allow system:* users and groups as subjects of members and owners.
    #[arg(long, env = "WSOP_ALLOW_SYSTEM_SUBJECTS", default_value_t = false)]
    allow_system_subjects: bool,
    /// Allow ServiceAccount subjects from namespaces outside the organization.
    #[arg(
        long,
        env = "WSOP_ALLOW_FOREIGN_SERVICE_ACCOUNTS",
        default_value_t = false
    )]
    allow_foreign_service_accounts: bool,
    /// Let workspace owners, and members holding a role with
    /// manageMembers, write their workspace's WorkspaceMembers. Turn on only
    /// with the admission policy workspaces.dev-delegated-membership
    /// installed (the chart does both): it is what limits those writes.
    #[arg(long, env = "WSOP_DELEGATED_MEMBERSHIP", default_value_t = false)]
    delegated_membership: bool,
    /// Let organization admins change their Organization's spec.admins
    /// (the admission policy workspaces.dev-organization-admins-edit-admins
    /// keeps every other field as it is).
    #[arg(
        long,
        env = "WSOP_ORGANIZATION_ADMINS_MANAGE_ADMINS",
        default_value_t = false
    )]
    organization_admins_manage_admins: bool,
    /// Let workspace owners update their own Workspace. Turn on only with
    /// the admission policy workspaces.dev-owners-edit-settings installed
    /// (the chart does both): it keeps them to its display name,
    /// description, variables and time zone.
    #[arg(long, env = "WSOP_OWNERS_EDIT_SETTINGS", default_value_t = false)]
    owners_edit_settings: bool,
    /// Do not export the usage gauges (`workspace_operator_workspace_quota`
    /// and the organization ones): a series per workspace and resource,
    /// computed on each scrape; for very large clusters.
    #[arg(long, env = "WSOP_NO_USAGE_METRICS", default_value_t = false)]
    no_usage_metrics: bool,
    /// Pod Security level enforced in workspace namespaces whose plan and
    /// Organization set none (privileged, baseline or restricted; left out:
    /// no label, the cluster's default applies).
    #[arg(long, env = "WSOP_POD_SECURITY_ENFORCE", value_parser = pod_security_level)]
    pod_security_enforce: Option<PodSecurityLevel>,
    /// Pod Security level warned about in workspace namespaces by default.
    #[arg(long, env = "WSOP_POD_SECURITY_WARN", value_parser = pod_security_level)]
    pod_security_warn: Option<PodSecurityLevel>,
    /// Pod Security level audited in workspace namespaces by default.
    #[arg(long, env = "WSOP_POD_SECURITY_AUDIT", value_parser = pod_security_level)]
    pod_security_audit: Option<PodSecurityLevel>,
    /// The cluster's own address ranges (pod, service and node CIDRs,
    /// comma-separated): a plan's egressToInternet opens every address but these.
    #[arg(
        long,
        env = "WSOP_CLUSTER_NETWORK",
        value_delimiter = ',',
        default_value = "",
        value_parser = cidr
    )]
    cluster_network: Vec<String>,
    /// Log format: text or json.
    #[arg(long, env = "WSOP_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
}

fn pod_security_level(s: &str) -> Result<PodSecurityLevel, String> {
    match s {
        "privileged" => Ok(PodSecurityLevel::Privileged),
        "baseline" => Ok(PodSecurityLevel::Baseline),
        "restricted" => Ok(PodSecurityLevel::Restricted),
        other => Err(format!(
            "{other:?} is not a Pod Security level: privileged, baseline or restricted"
        )),
    }
}

/// An IPv4 or IPv6 CIDR such as 10.0.0.0/8 (empty entries are dropped).
fn cidr(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(String::new());
    }
    let refuse = || format!("{s:?} is not a CIDR such as 10.0.0.0/8 or fd00::/8");
    let (ip, bits) = s.split_once('/').ok_or_else(refuse)?;
    let ip: std::net::IpAddr = ip.parse().map_err(|_| refuse())?;
    let bits: u8 = bits.parse().map_err(|_| refuse())?;
    if bits > if ip.is_ipv4() { 32 } else { 128 } {
        return Err(refuse());
    }
    Ok(s.to_string())
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Connects, checks the CRDs, serves metrics and runs the controllers.
async fn run(args: RunArgs) -> Result<ExitCode, StartupError> {
    use futures::FutureExt;
    use std::sync::atomic::Ordering;

    let metrics = Metrics::new();
    let (config, identity) = client_config().await?;
    let fence = if args.leader_election {
        Fence::closed()
    } else {
        Fence::always_open()
    };
    let (client, config) = build_client(config, args.qps, &fence, &metrics)?;
    controllers::check_crds(&client).await?;
    let lease = LeaseSettings::for_lease(
        &args.leader_election_namespace,
        "workspace-operator",
        &identity,
        Duration::from_secs(args.lease_seconds),
    );
    if let Some(addr) = args.metrics_addr {
        serve_metrics(addr, &metrics, &fence, lease.duration);
    }
    let ctx = controllers::Context::new(client.clone(), settings(&args), metrics.clone()).await?;
    if !args.no_usage_metrics {
        let gauges = controllers::usage_metrics::UsageGauges {
            ctx: Arc::downgrade(&ctx),
        };
        // The only late collector: added once.
        let _ = metrics.add_late(Box::new(gauges));
    }
    metrics.ready.store(true, Ordering::Relaxed);

    let terminated = workspace_operator::runtime::pipeline::termination_signal()
        .boxed()
        .shared();
    if !args.leader_election {
        metrics.set_leader(true);
        controllers::run(ctx, terminated).await;
        return Ok(ExitCode::SUCCESS);
    }
    let lease_client = lease_client(config, &lease)?;
    let elector = Elector::new(lease_client, lease, fence);
    Ok(lead(elector, ctx, &metrics, &identity, terminated).await)
}

/// Infers the kube config and this replica's identity, named in its User-Agent.
async fn client_config() -> Result<(kube::Config, String), StartupError> {
    let config = kube::Config::infer()
        .await
        .map_err(|e| StartupError::Config(e.to_string()))?;
    let identity = std::env::var("POD_NAME").unwrap_or_else(|_| {
        format!(
            "{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "workspace-operator".into()),
            std::process::id()
        )
    });
    // Named in the API server's audit log, one replica told from another.
    let agent = format!(
        "workspace-operator/{} ({identity})",
        env!("CARGO_PKG_VERSION")
    );
    let config = with_user_agent(config, &agent)?;
    Ok((config, identity))
}

/// The reconcilers' client (fenced, rate-limited, counted) and its config.
fn build_client(
    mut config: kube::Config,
    qps: u64,
    fence: &Arc<Fence>,
    metrics: &Arc<Metrics>,
) -> Result<(kube::Client, kube::Config), StartupError> {
    // kube-rs has no client-side rate limit of its own: bound it here, and
    // count every request by method and answer for /metrics.
    let limit = tower::limit::RateLimitLayer::new(qps.max(1), Duration::from_secs(1));
    let api_host = config
        .cluster_url
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_default();
    let count = RequestMetricsLayer::new(metrics.clone(), api_host);
    // Innermost of ours, so the check is the last thing before the request
    // goes out: a replica that lost (or never held) the lease sends no write,
    // and abandons one still unfinished when its lease could pass.
    let fenced = FenceLayer::new(fence.clone());
    // kube's own retries (429, 503, 504) sit below every layer added here and
    // would resend a write without asking the fence: off. A failed reconcile
    // is retried by its controller with backoff, through the fence.
    config.default_retry = false;
    let client = kube::client::ClientBuilder::try_from(config.clone())
        .map_err(|e| StartupError::Config(e.to_string()))?
        .with_layer(&fenced)
        .with_layer(&limit)
        .with_layer(&count)
        .build();
    Ok((client, config))
}

/// Serves /metrics, /healthz and /readyz on `addr` in the background.
fn serve_metrics(
    addr: std::net::SocketAddr,
    metrics: &Arc<Metrics>,
    fence: &Arc<Fence>,
    lease: Duration,
) {
    let server =
        workspace_operator::runtime::metrics::serve(addr, metrics.clone(), fence.clone(), lease);
    tokio::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
}

/// The controllers' settings from the command line.
fn settings(args: &RunArgs) -> controllers::Settings {
    controllers::Settings {
        concurrency: args.concurrency.max(1),
        resync: Duration::from_secs(args.resync_seconds.max(10)),
        tenancy: workspace_operator::resources::tenancy::TenantPolicy {
            ceiling: args.tenant_ceiling.clone(),
            allowed_cluster_roles: args
                .allowed_cluster_roles
                .iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            allow_system_subjects: args.allow_system_subjects,
            allow_foreign_service_accounts: args.allow_foreign_service_accounts,
            delegated_membership: args.delegated_membership,
            organization_admins_manage_admins: args.organization_admins_manage_admins,
            owners_edit_settings: args.owners_edit_settings,
            pod_security: PodSecurity {
                enforce: args.pod_security_enforce,
                warn: args.pod_security_warn,
                audit: args.pod_security_audit,
            },
            cluster_network: args
                .cluster_network
                .iter()
                .filter(|c| !c.is_empty())
                .cloned()
                .collect(),
        },
        ..Default::default()
    }
}

/// The elector's own client, from the reconcilers' config.
fn lease_client(config: kube::Config, lease: &LeaseSettings) -> Result<kube::Client, StartupError> {
    // The elector's own client: not behind the reconcilers' rate limit or
    // their fence, no automatic retries, and every request bounded in time.
    let mut lease_config = config;
    lease_config.connect_timeout = Some(lease.renew_deadline);
    lease_config.read_timeout = Some(lease.renew_deadline);
    lease_config.write_timeout = Some(lease.renew_deadline);
    lease_config.reset_reader_on_write = true;
    lease_config.default_retry = false;
    kube::Client::try_from(lease_config).map_err(|e| StartupError::Config(e.to_string()))
}

/// Waits for the lease, then runs the controllers until shutdown or its loss.
async fn lead(
    mut elector: Elector,
    ctx: Arc<controllers::Context>,
    metrics: &Metrics,
    identity: &str,
    terminated: Shutdown,
) -> ExitCode {
    use futures::FutureExt;

    tracing::info!(identity, "waiting for the leader lease");
    tokio::select! {
        _ = elector.acquire() => {}
        _ = terminated.clone() => return ExitCode::SUCCESS,
    }
    tracing::info!(identity, "leading");
    metrics.set_leader(true);
    let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let holding = tokio::spawn(async move {
        tokio::select! {
            _ = elector.hold() => { let _ = lost_tx.send(()); }
            // Shutting down: give the lease up so a standby takes over at once.
            _ = stop_rx => elector.release().await,
        }
    });
    let lost = lost_rx.map(|r| r.is_ok()).shared();
    let stop = futures::future::select(terminated.clone(), lost.clone())
        .map(|_| ())
        .boxed()
        .shared();
    controllers::run(ctx, stop).await;
    metrics.set_leader(false);
    if lost.now_or_never() == Some(true) {
        tracing::error!("lost the leader lease; exiting so a fresh process can stand by");
        return ExitCode::FAILURE;
    }
    let _ = stop_tx.send(());
    let _ = holding.await;
    ExitCode::SUCCESS
}

/// Adds a User-Agent naming this process to every request.
fn with_user_agent(mut config: kube::Config, agent: &str) -> Result<kube::Config, StartupError> {
    let value = http::HeaderValue::from_str(agent)
        .map_err(|e| StartupError::Config(format!("user agent {agent:?}: {e}")))?;
    config.headers.push((http::header::USER_AGENT, value));
    Ok(config)
}

/// Raises the soft limit on open files to the hard limit, as Go programs
/// do: the watches, the API connections and the metrics server share it.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on this process with a valid pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => {
            init_logging(args.log_format);
            raise_open_files_limit();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            match runtime.block_on(run(args)) {
                Ok(code) => code,
                Err(e) => {
                    tracing::error!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Crds { write: None } => {
            print!("{}", crds::all_yaml());
            ExitCode::SUCCESS
        }
        Command::Crds { write: Some(dir) } => {
            for (file, crd) in crds::all() {
                let path = dir.join(file);
                if let Err(err) = std::fs::write(&path, crds::to_yaml(&crd)) {
                    eprintln!("cannot write {}: {err}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("workspace-operator {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[test]
    fn the_command_line_is_well_formed_and_parses_the_guardrail_flags() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "workspace-operator",
            "run",
            "--pod-security-enforce=restricted",
            "--cluster-network=10.0.0.0/24,fd00::/8",
        ])
        .unwrap();
        let Command::Run(run) = cli.command else {
            panic!("run")
        };
        assert_eq!(run.pod_security_enforce, Some(PodSecurityLevel::Restricted));
        assert_eq!(run.pod_security_warn, None);
        assert_eq!(run.cluster_network, ["10.0.0.0/24", "fd00::/8"]);
        assert!(
            Cli::try_parse_from(["workspace-operator", "run", "--pod-security-enforce=strict"])
                .is_err()
        );
        assert!(
            Cli::try_parse_from(["workspace-operator", "run", "--cluster-network=10.0.0.0"])
                .is_err()
        );
    }
}
