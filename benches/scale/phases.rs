//! The benchmark's phases, in the order they run, and the figures each one
//! produces.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use workspace_operator::api::{Organization, Workspace, WorkspaceMember};
use workspace_operator::ownership::names::workspace_namespace;

use crate::cluster::{self, Cluster, client_from, proc_stats, process_age};
use crate::tracker::Tracker;
use crate::workload::{self, Expected, ROLES};
use crate::{Args, Result, existing_is_fine, progress, with_retries};

pub const PREFIX: &str = "bench-";

/// The phases a partial run (`--until`) may stop after, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Phase {
    Create,
    Latency,
    Idle,
    Restart,
}

#[derive(Debug, Default)]
pub struct Figures {
    pub expected: Option<Expected>,
    pub create: Create,
    pub latency: Latency,
    pub idle: Idle,
    pub restart: Restart,
    pub churn: Churn,
    pub plugin: PluginList,
    pub deletion: crate::deletion::Deletion,
    pub footprint: BTreeMap<String, crate::footprint::KindCost>,
    pub floor: crate::floor::Floor,
}

#[derive(Debug, Default)]
pub struct Create {
    pub seconds: f64,
    pub peak_rss_mib: f64,
    /// Resident when the operator had started (caches empty) and once
    /// everything was Ready (caches full, a few seconds later).
    pub start_rss_mib: f64,
    pub ready_rss_mib: f64,
    pub cpu_seconds: f64,
    pub requests: BTreeMap<String, u64>,
    pub samples: Vec<(f64, usize)>,
}

#[derive(Debug, Default)]
pub struct Latency {
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Default)]
pub struct Idle {
    pub seconds: u64,
    pub requests: BTreeMap<String, u64>,
    pub mutating: u64,
    pub cpu_seconds: f64,
    pub scrape: Scrape,
}

/// What one /metrics scrape of the converged operator costs, the usage
/// gauges (computed from the caches on each scrape) included.
#[derive(Debug, Default)]
pub struct Scrape {
    pub runs: usize,
    pub median_ms: f64,
    /// The operator's CPU seconds per scrape.
    pub cpu_seconds: f64,
    pub bytes: usize,
    pub series: usize,
    /// Of `series`, the usage gauges'.
    pub usage_series: usize,
}

#[derive(Debug, Default)]
pub struct Restart {
    /// From process start until every cache is filled (/readyz says ok).
    pub caches_seconds: f64,
    pub recheck_seconds: f64,
    pub members_checked: u64,
    pub requests: BTreeMap<String, u64>,
    pub mutating: u64,
    pub peak_rss_mib: f64,
    /// CPU of the new process until everything was re-checked.
    pub cpu_seconds: f64,
}

/// `kubectl workspace list`, the real plugin binary, as one user.
#[derive(Debug, Default)]
pub struct PluginList {
    pub organizations: usize,
    /// Workspaces the user is a member of (and the plugin listed).
    pub workspaces: usize,
    pub runs: usize,
    pub median_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Default)]
pub struct Churn {
    pub changed: usize,
    pub seconds: f64,
    pub cpu_seconds: f64,
    pub requests: BTreeMap<String, u64>,
}

pub async fn all(args: &Args, cluster: &Cluster) -> Result<Figures> {
    let mut figures = Figures {
        expected: Some(Expected::of(args)),
        ..Default::default()
    };
    let tracker = Tracker::start(&cluster.admin);
    let done = |phase| args.until.is_some_and(|until| until <= phase);
    figures.create = create(args, cluster, &tracker).await?;
    if done(Phase::Create) {
        return Ok(figures);
    }
    figures.latency = latency(args, cluster).await?;
    if done(Phase::Latency) {
        return Ok(figures);
    }
    figures.idle = idle(args, cluster).await?;
    if done(Phase::Idle) {
        return Ok(figures);
    }
    figures.restart = restart(args, cluster, figures.latency.samples).await?;
    if done(Phase::Restart) {
        return Ok(figures);
    }
    figures.churn = churn(args, cluster, &tracker).await?;
    figures.plugin = plugin_list(args, cluster).await?;
    figures.footprint = crate::footprint::measure(&cluster.admin).await?;
    figures.deletion = crate::deletion::run(args, cluster).await?;
    cluster.stop_operator();
    figures.floor = crate::floor::run(args, cluster).await?;
    Ok(figures)
}

fn timeout(args: &Args) -> Duration {
    Duration::from_secs(args.timeout_seconds)
}

/// Creates `obj`, retrying transient failures; an existing object is fine.
async fn create_object<K>(api: &Api<K>, obj: &K) -> Result<()>
where
    K: Clone + Serialize + DeserializeOwned + std::fmt::Debug + Resource,
{
    with_retries(&format!("creating {}", obj.name_any()), || async {
        existing_is_fine(api.create(&PostParams::default(), obj).await)
    })
    .await
}

/// Applies every object the way a GitOps sync would: the organizations, and
/// once an organization's namespace exists, its workspaces and members.
async fn apply_all(args: Args, client: Client) -> Result<()> {
    let limit = Arc::new(Semaphore::new(crate::IN_FLIGHT));
    let orgs = (0..args.orgs).map(|i| {
        let (client, limit, args) = (client.clone(), limit.clone(), args.clone());
        async move {
            let name = workload::org_name(PREFIX, i);
            {
                let _permit = limit.acquire().await?;
                create_object(
                    &Api::<Organization>::all(client.clone()),
                    &workload::organization(&name),
                )
                .await?;
            }
            let namespaces = Api::<Namespace>::all(client.clone());
            while namespaces.get_opt(&name).await?.is_none() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let workspaces = Api::<Workspace>::namespaced(client.clone(), &name);
            let members = Api::<WorkspaceMember>::namespaced(client.clone(), &name);
            let ws_creates = futures::stream::iter(0..args.workspaces)
                .map(|j| {
                    let (limit, workspaces, name) = (limit.clone(), workspaces.clone(), &name);
                    async move {
                        let _permit = limit.acquire().await?;
                        create_object(&workspaces, &workload::workspace(name, j)).await
                    }
                })
                .buffer_unordered(crate::IN_FLIGHT);
            let member_creates = futures::stream::iter(
                (0..args.workspaces).flat_map(|j| (0..args.members).map(move |k| (j, k))),
            )
            .map(|(j, k)| {
                let (limit, members, name) = (limit.clone(), members.clone(), &name);
                async move {
                    let _permit = limit.acquire().await?;
                    create_object(&members, &workload::bench_member(name, j, k)).await
                }
            })
            .buffer_unordered(crate::IN_FLIGHT);
            let results: Vec<Result<()>> = ws_creates.chain(member_creates).collect().await;
            results.into_iter().collect::<Result<Vec<()>>>()?;
            Ok::<(), crate::BoxError>(())
        }
    });
    let results: Vec<Result<()>> = futures::future::join_all(orgs).await;
    results.into_iter().collect::<Result<Vec<()>>>()?;
    Ok(())
}

async fn create(args: &Args, cluster: &Cluster, tracker: &Tracker) -> Result<Create> {
    let expected = Expected::of(args);
    cluster.start_operator().await?;
    let pid = cluster.operator_pid()?;
    let before = cluster::requests_by_method(&cluster.metrics().await?);
    let at_start = proc_stats(pid)?;
    let cpu_before = at_start.cpu_seconds;
    progress(format!(
        "create: applying {} organizations, {} workspaces, {} members",
        expected.organizations,
        args.orgs * args.workspaces,
        expected.members
    ));
    let start = Instant::now();
    let applying = tokio::spawn(apply_all(args.clone(), cluster.admin.clone()));
    let samples = tracker
        .sample_until(
            start,
            expected.total(),
            timeout(args),
            |t| t.ready_with_prefix(PREFIX),
            "create",
        )
        .await?;
    applying.await??;
    let seconds = samples.last().map_or(0.0, |s| s.0);
    let stats = proc_stats(pid)?;
    let after = cluster::requests_by_method(&cluster.metrics().await?);
    progress(format!(
        "create: {} objects Ready in {seconds:.1} s",
        expected.total()
    ));
    // The last counts and visitors land within a few seconds of the last Ready.
    tokio::time::sleep(Duration::from_secs(5)).await;
    Ok(Create {
        seconds,
        peak_rss_mib: stats.peak_rss_mib,
        start_rss_mib: at_start.rss_mib,
        ready_rss_mib: proc_stats(pid)?.rss_mib,
        cpu_seconds: stats.cpu_seconds - cpu_before,
        requests: cluster::diff(&after, &before),
        samples,
    })
}

async fn allowed(client: &Client, namespace: &str) -> Result<bool> {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(namespace.into()),
                verb: Some("create".into()),
                resource: Some("pods".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let answer = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// New members one at a time, each giving user alice "editor" in a workspace
/// where she had nothing: time from create until her own access review says
/// "allowed".
async fn latency(args: &Args, cluster: &Cluster) -> Result<Latency> {
    let alice = client_from(&cluster.dir.join("users/alice.kubeconfig")).await?;
    let n = args.latency_samples.min(args.orgs * args.workspaces);
    progress(format!("latency: {n} new members, one at a time"));
    let mut took = vec![];
    for i in 0..n {
        let org = workload::org_name(PREFIX, i % args.orgs);
        let ws = workload::workspace_name((i / args.orgs) % args.workspaces);
        let ns = workspace_namespace(&org, &ws);
        if allowed(&alice, &ns).await? {
            return Err(format!("alice may already create pods in {ns}").into());
        }
        let m = workload::member(&org, &format!("latency-{i}"), &ws, "alice", "editor");
        let start = Instant::now();
        Api::<WorkspaceMember>::namespaced(cluster.admin.clone(), &org)
            .create(&PostParams::default(), &m)
            .await?;
        while !allowed(&alice, &ns).await? {
            if start.elapsed() > Duration::from_secs(60) {
                return Err(format!("latency: no access in {ns} after 60 s").into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        took.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    took.sort_by(f64::total_cmp);
    let figures = Latency {
        samples: took.len(),
        p50_ms: percentile(&took, 50.0),
        p99_ms: percentile(&took, 99.0),
        max_ms: took.last().copied().unwrap_or(0.0),
    };
    progress(format!(
        "latency: p50 {:.0} ms, p99 {:.0} ms",
        figures.p50_ms, figures.p99_ms
    ));
    Ok(figures)
}

/// Nothing changes. The window starts once the last change's follow-ups
/// (the last latency member's status, counts, and the organizations' usage
/// summaries, written at most once a minute: up to a minute after the last
/// change of create) have had time to land.
async fn idle(args: &Args, cluster: &Cluster) -> Result<Idle> {
    tokio::time::sleep(
        workspace_operator::resources::usage::USAGE_PERIOD + Duration::from_secs(10),
    )
    .await;
    progress(format!(
        "idle: watching the operator for {} s",
        args.idle_seconds
    ));
    let pid = cluster.operator_pid()?;
    let before = cluster::requests_by_method(&cluster.metrics().await?);
    let cpu_before = proc_stats(pid)?.cpu_seconds;
    tokio::time::sleep(Duration::from_secs(args.idle_seconds)).await;
    let requests = cluster::diff(
        &cluster::requests_by_method(&cluster.metrics().await?),
        &before,
    );
    let figures = Idle {
        seconds: args.idle_seconds,
        mutating: cluster::mutating(&requests),
        cpu_seconds: proc_stats(pid)?.cpu_seconds - cpu_before,
        requests,
        scrape: scrape_cost(cluster, pid).await?,
    };
    progress(format!(
        "idle: {} mutating requests; one scrape {:.0} ms ({} series, {} of them usage gauges)",
        figures.mutating,
        figures.scrape.median_ms,
        figures.scrape.series,
        figures.scrape.usage_series
    ));
    Ok(figures)
}

/// Scrapes /metrics a few times after the idle window (so its CPU is not
/// in the idle figure): time, CPU and size of one scrape.
async fn scrape_cost(cluster: &Cluster, pid: u32) -> Result<Scrape> {
    const RUNS: usize = 11;
    let cpu_before = proc_stats(pid)?.cpu_seconds;
    let mut times = vec![];
    let mut body = String::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        body = cluster.metrics_text().await?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let cpu = proc_stats(pid)?.cpu_seconds - cpu_before;
    times.sort_by(f64::total_cmp);
    let samples = body
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let (mut series, mut usage_series) = (0, 0);
    for line in samples {
        series += 1;
        if line.starts_with("workspace_operator_workspace_quota")
            || line.starts_with("workspace_operator_organization_")
        {
            usage_series += 1;
        }
    }
    Ok(Scrape {
        runs: RUNS,
        median_ms: times[RUNS / 2],
        cpu_seconds: cpu / RUNS as f64,
        bytes: body.len(),
        series,
        usage_series,
    })
}

/// Restarts the operator on the converged cluster: time until it has
/// reconciled every object once, and what it wrote meanwhile.
async fn restart(args: &Args, cluster: &Cluster, latency_members: usize) -> Result<Restart> {
    let e = Expected::of(args);
    let want: BTreeMap<&str, u64> = [
        ("Organization", e.organizations as u64),
        ("Workspace", e.workspaces as u64),
        ("WorkspaceRole", e.roles as u64),
        ("WorkspaceMember", (e.members + latency_members) as u64),
    ]
    .into();
    progress("restart: stopping and starting the operator");
    cluster.restart_operator().await?;
    let pid = cluster.operator_pid()?;
    let mut caches_seconds = None;
    let (recheck_seconds, recheck_cpu) = loop {
        if caches_seconds.is_none() && cluster.ready().await {
            caches_seconds = Some(process_age(pid)?);
        }
        let done = cluster::reconciles(&cluster.metrics().await?);
        if want
            .iter()
            .all(|(kind, n)| done.get(*kind).copied().unwrap_or(0) >= *n)
        {
            break (process_age(pid)?, proc_stats(pid)?.cpu_seconds);
        }
        if process_age(pid)? > timeout(args).as_secs_f64() {
            return Err(format!("restart: only {done:?} of {want:?} reconciled").into());
        }
        // Not more often: each scrape computes the usage gauges too (the
        // idle phase's scrape figure says what one costs).
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Anything the re-check sets off has time to show before counting writes.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let m = cluster.metrics().await?;
    let requests = cluster::requests_by_method(&m);
    let figures = Restart {
        caches_seconds: caches_seconds.unwrap_or(recheck_seconds),
        recheck_seconds,
        members_checked: cluster::reconciles(&m)
            .get("WorkspaceMember")
            .copied()
            .unwrap_or(0),
        mutating: cluster::mutating(&requests),
        requests,
        peak_rss_mib: proc_stats(pid)?.peak_rss_mib,
        cpu_seconds: recheck_cpu,
    };
    progress(format!(
        "restart: everything re-checked {recheck_seconds:.1} s after start; {} mutating requests",
        figures.mutating
    ));
    Ok(figures)
}

/// Every tenth member gets the next role at once: time until all of them
/// are Ready for their new generation.
async fn churn(args: &Args, cluster: &Cluster, tracker: &Tracker) -> Result<Churn> {
    let before = cluster::requests_by_method(&cluster.metrics().await?);
    let pid = cluster.operator_pid()?;
    let cpu_before = proc_stats(pid)?.cpu_seconds;
    let mut changes = vec![];
    for i in 0..args.orgs {
        let org = workload::org_name(PREFIX, i);
        for j in 0..args.workspaces {
            for k in 0..args.members {
                if (j * args.members + k).is_multiple_of(10) {
                    let next = ROLES[(j + k + 1) % ROLES.len()];
                    changes.push((org.clone(), workload::member_name(j, k), next));
                }
            }
        }
    }
    progress(format!("churn: {} members change roles", changes.len()));
    let start = Instant::now();
    let client = cluster.admin.clone();
    let patched: Vec<Result<(String, String, i64)>> = futures::stream::iter(changes)
        .map(|(org, name, role)| {
            let api = Api::<WorkspaceMember>::namespaced(client.clone(), &org);
            async move {
                let patch = serde_json::json!({"spec": {"roles": [role]}});
                let m = api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
                Ok((org, name, m.metadata.generation.unwrap_or(0)))
            }
        })
        .buffer_unordered(crate::IN_FLIGHT)
        .collect()
        .await;
    let patched: Vec<(String, String, i64)> = patched.into_iter().collect::<Result<_>>()?;
    let changed = patched.len();
    loop {
        let pending = patched
            .iter()
            .filter(|(org, name, generation)| {
                !tracker
                    .get(&("WorkspaceMember", org.clone(), name.clone()))
                    .is_some_and(|s| s.is_ready() && s.observed >= *generation)
            })
            .count();
        if pending == 0 {
            break;
        }
        if start.elapsed() > timeout(args) {
            return Err(format!("churn: {pending} members not converged").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seconds = start.elapsed().as_secs_f64();
    let requests = cluster::diff(
        &cluster::requests_by_method(&cluster.metrics().await?),
        &before,
    );
    progress(format!("churn: converged in {seconds:.1} s"));
    Ok(Churn {
        changed,
        seconds,
        cpu_seconds: proc_stats(pid)?.cpu_seconds - cpu_before,
        requests,
    })
}

/// The plugin phase's user (a test user with a token of its own; the other
/// phases leave it alone).
const PLUGIN_USER: &str = "erin";
/// Timed runs of `kubectl workspace list`, after the one that found them all.
const PLUGIN_RUNS: usize = 9;

/// Runs `kubectl workspace list -o json` as `kubeconfig`'s user: wall time
/// and how many workspaces of the benchmark's organizations it listed.
fn list_once(kubeconfig: &std::path::Path) -> Result<(f64, usize)> {
    let start = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-workspace"))
        .args(["list", "-o", "json"])
        .env("KUBECONFIG", kubeconfig)
        .output()?;
    let took = start.elapsed().as_secs_f64() * 1000.0;
    if !out.status.success() {
        return Err(format!(
            "kubectl workspace list: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)?;
    let ours = rows
        .iter()
        .filter(|r| {
            r["organization"]
                .as_str()
                .is_some_and(|o| o.starts_with(PREFIX))
        })
        .count();
    Ok((took, ours))
}

/// One user becomes a member of ten workspaces in each of ten
/// organizations (at the default scale); `kubectl workspace list` as that
/// user, with its own token, is timed once it lists them all.
async fn plugin_list(args: &Args, cluster: &Cluster) -> Result<PluginList> {
    let (orgs, per_org) = (args.orgs.min(10), args.workspaces.min(10));
    let want = orgs * per_org;
    progress(format!(
        "plugin: {PLUGIN_USER} joins {per_org} workspaces in each of {orgs} organizations"
    ));
    let joins = (0..orgs).flat_map(|i| (0..per_org).map(move |j| (i, j)));
    let created: Vec<Result<()>> = futures::stream::iter(joins)
        .map(|(i, j)| {
            let client = cluster.admin.clone();
            async move {
                let org = workload::org_name(PREFIX, i);
                let ws = workload::workspace_name(j);
                let m = workload::member(
                    &org,
                    &format!("plugin-{PLUGIN_USER}-{ws}"),
                    &ws,
                    PLUGIN_USER,
                    ROLES[j % ROLES.len()],
                );
                create_object(&Api::<WorkspaceMember>::namespaced(client, &org), &m).await
            }
        })
        .buffer_unordered(crate::IN_FLIGHT)
        .collect()
        .await;
    created.into_iter().collect::<Result<Vec<()>>>()?;
    let kubeconfig = cluster.dir.join(format!("users/{PLUGIN_USER}.kubeconfig"));
    let start = Instant::now();
    // The operator makes each member's reader access: wait for all of it.
    loop {
        let k = kubeconfig.clone();
        let (_, listed) = tokio::task::spawn_blocking(move || list_once(&k)).await??;
        if listed == want {
            break;
        }
        if start.elapsed() > timeout(args) {
            return Err(format!("plugin: {listed} of {want} workspaces listed").into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut took = vec![];
    for _ in 0..PLUGIN_RUNS {
        let k = kubeconfig.clone();
        let (ms, listed) = tokio::task::spawn_blocking(move || list_once(&k)).await??;
        if listed != want {
            return Err(format!("plugin: listed {listed} of {want} workspaces").into());
        }
        took.push(ms);
    }
    took.sort_by(f64::total_cmp);
    let figures = PluginList {
        organizations: orgs,
        workspaces: want,
        runs: took.len(),
        median_ms: percentile(&took, 50.0),
        max_ms: took.last().copied().unwrap_or(0.0),
    };
    progress(format!(
        "plugin: list of {want} workspaces: median {:.0} ms, max {:.0} ms",
        figures.median_ms, figures.max_ms
    ));
    Ok(figures)
}
