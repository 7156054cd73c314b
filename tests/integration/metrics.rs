//! /metrics as Prometheus reads it: the shared operator's exposition passes
//! `promtool check metrics` (the real checker, built from pinned modules),
//! and its counters move with the work done.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::*;

/// Scrapes the shared operator.
pub async fn scrape() -> String {
    let port = operator_metrics_port();
    eventually("/metrics answers", Duration::from_secs(30), || async move {
        match http_get(port, "/metrics") {
            Some((200, body)) => Ok(body),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// Samples as "name{labels}" → value.
pub fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The sum of the samples of `name` whose labels contain every one of `labels`.
fn sum(samples: &BTreeMap<String, f64>, name: &str, labels: &[&str]) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| {
            series.split('{').next() == Some(name) && labels.iter().all(|l| series.contains(l))
        })
        .map(|(_, v)| v)
        .sum()
}

pub fn promtool_check(text: &str) -> (bool, String) {
    let mut child = Command::new(cluster().bin_dir.join("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (tests/control-plane/build.sh builds it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn promtool_rejects_what_breaks_the_conventions() {
    // The checker can fail: a counter without _total and without help.
    let (ok, said) = promtool_check("# TYPE requests counter\nrequests 1\n");
    assert!(!ok, "promtool accepted a badly named counter: {said}");
}

#[tokio::test]
async fn metrics_pass_promtool_and_count_the_work_done() {
    operator().await;
    let before = scrape().await;
    let (ok, said) = promtool_check(&before);
    assert!(
        ok,
        "promtool check metrics:\n{said}\n--- exposition:\n{before}"
    );

    let b = samples(&before);
    for family in [
        "workspace_operator_build_info",
        "leader_election_master_status",
        "controller_runtime_max_concurrent_reconciles",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
        "process_open_fds",
    ] {
        assert!(
            b.keys().any(|k| k.split('{').next() == Some(family)),
            "{family} is exported:\n{before}"
        );
    }
    assert_eq!(
        sum(&b, "leader_election_master_status", &[]),
        1.0,
        "without leader election the one process leads"
    );

    let scope = Scope::new("metrics");
    let admin = cluster().admin().await;
    apply_organization(&admin, &scope.id).await;
    wait_organization_ready(&admin, &scope.id).await;

    let org = ["controller=\"organization\""];
    let success = ["controller=\"organization\"", "result=\"success\""];
    let after = eventually(
        "the organization's work shows in /metrics",
        Duration::from_secs(30),
        || async {
            let text = scrape().await;
            let a = samples(&text);
            let moved = [
                ("controller_runtime_reconcile_total", &success[..]),
                ("controller_runtime_reconcile_time_seconds_count", &org[..]),
                (
                    "rest_client_requests_total",
                    &["method=\"PATCH\"", "code=\"200\""][..],
                ),
                (
                    "rest_client_request_duration_seconds_count",
                    &["verb=\"PATCH\""][..],
                ),
            ];
            let stuck: Vec<_> = moved
                .iter()
                .filter(|(name, labels)| sum(&a, name, labels) <= sum(&b, name, labels))
                .map(|(name, labels)| format!("{name}{labels:?}"))
                .collect();
            if stuck.is_empty()
                && sum(&a, "workspace_operator_objects", &["kind=\"Organization\""]) >= 1.0
            {
                Ok(text)
            } else {
                Err(format!("not moved: {stuck:?}"))
            }
        },
    )
    .await;
    let (ok, said) = promtool_check(&after);
    assert!(
        ok && said.trim().is_empty(),
        "promtool check metrics after work:\n{said}"
    );
}

/// The chart's PrometheusRule and Grafana dashboard, rendered by helm.
fn monitoring() -> (String, String) {
    let out = Command::new(cluster().bin_dir.join("helm"))
        .args(["template", "wsop"])
        .arg(repo_root().join("charts/workspace-operator"))
        .args(["-n", "wsop-system"])
        .args(["--set", "metrics.prometheusRule.enabled=true"])
        .args(["--set", "metrics.grafanaDashboard.enabled=true"])
        .output()
        .unwrap();
    let rendered = ok_stdout(out, "helm template");
    let docs: Vec<serde_json::Value> = serde_yaml::Deserializer::from_str(&rendered)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &serde_json::Value| !v.is_null())
        .collect();
    let rule = docs
        .iter()
        .find(|d| d["kind"] == "PrometheusRule")
        .expect("a PrometheusRule");
    let dashboard = docs
        .iter()
        .find(|d| {
            d["kind"] == "ConfigMap" && d["metadata"]["name"] == "wsop-workspace-operator-dashboard"
        })
        .expect("the dashboard ConfigMap");
    (
        serde_yaml::to_string(&rule["spec"]).unwrap(),
        dashboard["data"]["workspace-operator.json"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

/// Metric names an expression uses (the project's and the standard prefixes).
fn metric_names(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| {
            [
                "controller_runtime_",
                "rest_client_",
                "workspace_operator_",
                "leader_election_",
                "process_",
            ]
            .iter()
            .any(|p| w.starts_with(p))
        })
        .map(|w| {
            w.trim_end_matches("_bucket")
                .trim_end_matches("_count")
                .trim_end_matches("_sum")
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn the_charts_alerts_pass_promtool_and_use_only_exported_metrics() {
    let (rules, dashboard) = monitoring();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yaml");
    std::fs::write(&file, &rules).unwrap();
    let out = Command::new(cluster().bin_dir.join("promtool"))
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check rules:\n{}{}\n{rules}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).expect("dashboard JSON");
    let mut exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_string))
        .collect();
    let rules: serde_json::Value = serde_yaml::from_str(&rules).unwrap();
    exprs.extend(
        rules["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["expr"].as_str().map(str::to_string)),
    );
    assert!(exprs.len() >= 10, "{exprs:?}");

    // Every metric they name is one the running operator exports.
    operator().await;
    // Declared families count too: a counter with labels shows no sample
    // until its first increment (no reconcile error yet, say).
    let text = scrape().await;
    let families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let unknown: Vec<String> = exprs
        .iter()
        .flat_map(|e| metric_names(e))
        .filter(|name| !families.contains(&name.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "alerts and dashboard name metrics the operator does not export: {unknown:?}"
    );
}
