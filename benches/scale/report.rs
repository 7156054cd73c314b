//! The figures as a Markdown table, the Ready-over-time plot as SVG, and the
//! rewrite of docs/benchmarks.md between its markers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use crate::phases::Figures;
use crate::{Args, Result, repo_root};

/// The markers of the figures block of `args`' scale in docs/benchmarks.md,
/// and its plot's file name: each scale has a block of its own.
fn block(args: &Args) -> (String, String, String) {
    let default = args.orgs == 10 && args.workspaces == 100 && args.members == 10;
    let scale = format!("{}x{}x{}", args.orgs, args.workspaces, args.members);
    let (name, plot) = if default {
        ("figures".to_string(), "ready-over-time.svg".to_string())
    } else {
        (
            format!("figures {scale}"),
            format!("ready-over-time-{scale}.svg"),
        )
    };
    (
        format!("<!-- {name}:begin (written by make bench) -->"),
        format!("<!-- {name}:end -->"),
        plot,
    )
}

fn verbs(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn per_thousand(seconds: f64, objects: usize) -> f64 {
    seconds * 1000.0 / objects.max(1) as f64
}

fn counts(m: &BTreeMap<String, usize>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    format!("{cores} cores ({cpu}), {mem_gib:.0} GiB RAM")
}

fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(repo_root())
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown".into(), |s| s.trim().to_string())
}

pub fn table(args: &Args, f: &Figures) -> String {
    let e = f.expected.expect("expected counts");
    let ratio = if f.floor.seconds > 0.0 {
        f.create.seconds / f.floor.seconds
    } else {
        f64::NAN
    };
    let mut t = String::new();
    let _ = writeln!(
        t,
        "Run: {} orgs × {} workspaces × {} members (`--orgs {} --workspaces {} --members {} --concurrency {} --qps {}`), commit {}, {}; machine: {}.\n",
        args.orgs,
        args.workspaces,
        args.members,
        args.orgs,
        args.workspaces,
        args.members,
        args.concurrency,
        args.qps,
        commit(),
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
        machine()
    );
    let _ = writeln!(t, "| Phase | Figure | Measured | Target |");
    let _ = writeln!(t, "|---|---|---|---|");
    let mut row = |phase: &str, what: &str, value: String, target: &str| {
        let _ = writeln!(t, "| {phase} | {what} | {value} | {target} |");
    };
    row(
        "create",
        "objects Ready (orgs, workspaces, roles, members)",
        format!(
            "{} ({} + {} + {} + {})",
            e.total(),
            e.organizations,
            e.workspaces,
            e.roles,
            e.members
        ),
        "",
    );
    row(
        "create",
        "time to all Ready",
        format!("{:.1} s", f.create.seconds),
        "",
    );
    row(
        "create",
        "objects per second",
        format!("{:.1}", e.total() as f64 / f.create.seconds.max(0.001)),
        "",
    );
    // The memory targets: 100 MiB at 10 × 100 × 10, 150 MiB at 10,000 workspaces.
    let rss_target = if e.workspaces >= 10_000 { 150.0 } else { 100.0 };
    row(
        "create",
        "operator peak RSS",
        format!("{:.1} MiB", f.create.peak_rss_mib),
        &format!(
            "< {rss_target:.0} MiB at this scale: {}",
            if e.members >= 10_000 {
                met(f.create.peak_rss_mib < rss_target)
            } else {
                "n/a below 10,000 members"
            }
        ),
    );
    // What the operator caches: the children (the floor writes the same
    // ones) and the four kinds.
    let cached = f.floor.children + e.total();
    let grown = (f.create.ready_rss_mib - f.create.start_rss_mib).max(0.0);
    row(
        "create",
        "operator resident memory per cached object",
        format!(
            "{:.0} B ({:.1} MiB at start, {:.1} MiB with {cached} objects cached)",
            grown * 1024.0 * 1024.0 / cached.max(1) as f64,
            f.create.start_rss_mib,
            f.create.ready_rss_mib
        ),
        "",
    );
    row(
        "create",
        "operator CPU (per 1,000 objects)",
        format!(
            "{:.1} s ({:.2} s)",
            f.create.cpu_seconds,
            per_thousand(f.create.cpu_seconds, e.total())
        ),
        "",
    );
    row(
        "create",
        "operator API requests",
        verbs(&f.create.requests),
        "",
    );
    row(
        "floor",
        "the same final state written directly (the users' creates, every child, the final visitor bindings, one status per object)",
        format!(
            "{} writes for {} objects in {:.1} s",
            f.floor.writes, f.floor.objects, f.floor.seconds
        ),
        "",
    );
    let operator_writes: u64 = f
        .create
        .requests
        .iter()
        .filter(|(verb, _)| matches!(verb.as_str(), "POST" | "PUT" | "PATCH" | "DELETE"))
        .map(|(_, n)| n)
        .sum();
    row(
        "floor",
        "writes per object: operator (its own, without the users' creates) / floor (everything)",
        format!(
            "{:.2} ({operator_writes} for {}) / {:.2} ({} for {})",
            operator_writes as f64 / e.total().max(1) as f64,
            e.total(),
            f.floor.writes as f64 / f.floor.objects.max(1) as f64,
            f.floor.writes,
            f.floor.objects
        ),
        "",
    );
    row(
        "floor",
        "operator time / floor time",
        format!("{ratio:.2}"),
        &format!("≤ 1.3: {}", met(ratio <= 1.3)),
    );
    row(
        "latency",
        "new member → access allowed, p50 / p99 / max",
        format!(
            "{:.0} / {:.0} / {:.0} ms ({} members)",
            f.latency.p50_ms, f.latency.p99_ms, f.latency.max_ms, f.latency.samples
        ),
        &format!("p99 < 250 ms: {}", met(f.latency.p99_ms < 250.0)),
    );
    row(
        "idle",
        &format!("mutating requests in {} s", f.idle.seconds),
        format!(
            "{} (all requests: {}; CPU {:.2} s)",
            f.idle.mutating,
            verbs(&f.idle.requests),
            f.idle.cpu_seconds
        ),
        &format!("0: {}", met(f.idle.mutating == 0)),
    );
    let sc = &f.idle.scrape;
    row(
        "idle",
        "one /metrics scrape, the usage gauges included (computed from the caches on each scrape): median time / operator CPU",
        format!(
            "{:.0} ms / {:.0} ms CPU ({} series, {} of them usage gauges; {} KiB; {} scrapes)",
            sc.median_ms,
            sc.cpu_seconds * 1000.0,
            sc.series,
            sc.usage_series,
            sc.bytes / 1024,
            sc.runs
        ),
        "",
    );
    row(
        "restart",
        "time until every object re-checked",
        format!(
            "{:.1} s ({} members; caches filled after {:.1} s)",
            f.restart.recheck_seconds, f.restart.members_checked, f.restart.caches_seconds
        ),
        &format!(
            "10,000 members within 30 s: {}",
            if f.restart.members_checked >= 10_000 {
                met(f.restart.recheck_seconds <= 30.0)
            } else {
                "n/a at this scale"
            }
        ),
    );
    row(
        "restart",
        "mutating requests",
        format!(
            "{} (all requests: {})",
            f.restart.mutating,
            verbs(&f.restart.requests)
        ),
        &format!("0: {}", met(f.restart.mutating == 0)),
    );
    row(
        "restart",
        "operator peak RSS",
        format!("{:.1} MiB", f.restart.peak_rss_mib),
        "",
    );
    let rechecked = e.total() + f.latency.samples;
    row(
        "restart",
        "operator CPU until re-checked (per 1,000 objects)",
        format!(
            "{:.1} s ({:.2} s)",
            f.restart.cpu_seconds,
            per_thousand(f.restart.cpu_seconds, rechecked)
        ),
        "",
    );
    row(
        "churn",
        "10% of members change roles → converged",
        format!(
            "{} members in {:.1} s (requests: {})",
            f.churn.changed,
            f.churn.seconds,
            verbs(&f.churn.requests)
        ),
        "",
    );
    row(
        "churn",
        "operator CPU (per 1,000 members changed)",
        format!(
            "{:.1} s ({:.2} s)",
            f.churn.cpu_seconds,
            per_thousand(f.churn.cpu_seconds, f.churn.changed)
        ),
        "",
    );
    row(
        "plugin",
        &format!(
            "`kubectl workspace list` as a member of {} workspaces in {} organizations, median / max of {} runs",
            f.plugin.workspaces, f.plugin.organizations, f.plugin.runs
        ),
        format!("{:.0} / {:.0} ms", f.plugin.median_ms, f.plugin.max_ms),
        &format!("< 1 s: {}", met(f.plugin.max_ms < 1000.0)),
    );
    let footprint = f
        .footprint
        .iter()
        .filter(|(_, c)| c.sampled > 0)
        .map(|(kind, c)| format!("{kind} {:.0} / {:.0} + {:.0}", c.cached, c.whole, c.key))
        .collect::<Vec<_>>()
        .join(", ");
    row(
        "cache",
        "bytes one cached object holds, by kind: as cached / whole (managed fields dropped) + the cache's key; up to 500 real objects each, counted by the allocator",
        footprint,
        "",
    );
    let d = &f.deletion;
    row(
        "delete",
        &format!(
            "`{}` pruned at once ({} members, then {} workspaces, then the Organization) → it and all its namespaces gone",
            d.organization, d.members, d.workspaces
        ),
        format!("{:.1} s (requests: {})", d.seconds, verbs(&d.requests)),
        "",
    );
    row(
        "delete",
        "the operator's children of it left afterwards",
        format!(
            "{} of {} ({})",
            d.left_total(),
            d.children_total(),
            counts(&d.children)
        ),
        &format!("0: {}", met(d.left_total() == 0 && d.children_total() > 0)),
    );
    row(
        "delete",
        "the operator's objects of the other organizations missing afterwards",
        format!("{} of {}", d.others_missing, d.others),
        &format!("0: {}", met(d.others_missing == 0 && d.others > 0)),
    );
    row(
        "delete",
        "operator CPU (per 1,000 objects deleted)",
        format!(
            "{:.1} s ({:.2} s)",
            d.cpu_seconds,
            per_thousand(d.cpu_seconds, d.members + d.workspaces + d.children_total())
        ),
        "",
    );
    let by_kind = f
        .floor
        .writes_by_kind
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(t, "\nWrites of the floor, by kind: {by_kind}.");
    t
}

/// An SVG line plot of Ready objects over time, operator and floor.
pub fn plot(f: &Figures) -> String {
    let (w, h, left, bottom, top, right) = (720.0, 400.0, 70.0, 50.0, 30.0, 20.0);
    let series = [
        ("operator: objects Ready", "#1f77b4", &f.create.samples),
        (
            "floor: objects' children written",
            "#ff7f0e",
            &f.floor.samples,
        ),
    ];
    let max_t = series
        .iter()
        .flat_map(|(_, _, s)| s.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let max_n = series
        .iter()
        .flat_map(|(_, _, s)| s.iter().map(|p| p.1))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let x = |t: f64| left + (w - left - right) * t / max_t;
    let y = |n: f64| h - bottom - (h - bottom - top) * n / max_n;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    // Axes and ticks.
    let _ = writeln!(
        svg,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"black\"/>",
        h - bottom,
        w - right,
        h - bottom,
        h - bottom
    );
    for i in 0..=5 {
        let t = max_t * f64::from(i) / 5.0;
        let n = max_n * f64::from(i) / 5.0;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{t:.0}</text>\n<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{n:.0}</text>\n<line x1=\"{left}\" y1=\"{:.1}\" x2=\"{}\" y2=\"{:.1}\" stroke=\"#ddd\"/>",
            x(t),
            h - bottom + 18.0,
            left - 6.0,
            y(n) + 4.0,
            y(n),
            w - right,
            y(n)
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">seconds since the first write</text>\n<text x=\"16\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {})\">objects</text>",
        left + (w - left - right) / 2.0,
        h - 12.0,
        h / 2.0,
        h / 2.0
    );
    for (i, (label, colour, samples)) in series.iter().enumerate() {
        let points = samples
            .iter()
            .map(|(t, n)| format!("{:.1},{:.1}", x(*t), y(*n as f64)))
            .collect::<Vec<_>>()
            .join(" ");
        let ly = top + 4.0 + 18.0 * i as f64;
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{points}\"/>\n<line x1=\"{}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"3\"/>\n<text x=\"{}\" y=\"{}\">{label}</text>",
            left + 20.0,
            left + 45.0,
            left + 50.0,
            ly + 4.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Rewrites the figures block of this run's scale (and its plot); a scale
/// without a block in docs/benchmarks.md is an error that names the markers.
pub fn write_docs(args: &Args, f: &Figures, table: &str) -> Result<PathBuf> {
    let (begin, end, plot_name) = block(args);
    let docs = repo_root().join("docs");
    std::fs::create_dir_all(docs.join("benchmarks"))?;
    let path = docs.join("benchmarks.md");
    let text = std::fs::read_to_string(&path)?;
    let (Some(b), Some(e)) = (text.find(&begin), text.find(&end)) else {
        return Err(format!(
            "{} has no block for this scale: add the lines `{begin}` and `{end}` where its figures go",
            path.display()
        )
        .into());
    };
    std::fs::write(docs.join("benchmarks").join(&plot_name), plot(f))?;
    let new = format!(
        "{}{begin}\n{table}\n![Ready objects over time](benchmarks/{plot_name})\n{}",
        &text[..b],
        &text[e..]
    );
    std::fs::write(&path, new)?;
    Ok(docs.join("benchmarks").join(plot_name))
}
