//! Usage, as the people who read it see it: the Organization's status sums
//! its workspaces' quotas and says what is left of its budget, /metrics has
//! a gauge per workspace and resource (and promtool accepts them), and
//! `kubectl workspace usage` shows a member their workspace's use and an
//! organization admin every workspace's, each with their own credentials.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use workspace_operator::api::Organization;

use crate::metrics::{promtool_check, samples, scrape};
use crate::organizations::workspace;
use crate::plugin::Terminal;
use crate::support::*;

/// Figures are taken at most once a minute: two periods, and some.
const LIMIT: Duration = Duration::from_secs(150);

#[tokio::test]
async fn usage_is_summed_per_organization_exported_and_shown_to_those_who_may_see_it() {
    let Opening { admin, scope, .. } = opening_with_organization("usage").await;
    let org = scope.id.as_str();
    // A budget: four namespaces, 35 Pods in all.
    Api::<Organization>::all(admin.clone())
        .patch(
            org,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"budget": {"maxWorkspaces": 4, "quota": {"pods": "35"}}}}),
            ),
        )
        .await
        .expect("the budget is set");
    workspace(
        &admin,
        org,
        "lab",
        "{owner: {kind: User, name: erin}, acceptAnonymous: false}",
    )
    .await;
    workspace(&admin, org, "web", "{acceptAnonymous: false}").await;
    apply_yaml(
        &admin,
        &format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceMember, metadata: {{name: lab-carol, namespace: {org}}}, spec: {{workspace: lab, subject: {{kind: User, name: carol}}, roles: [viewer]}}}}"
        ),
    )
    .await;
    // One Pod in lab: the quota counts it when it is created.
    let lab_ns = format!("{org}--lab");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox",
            "resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "250m", "memory": "16Mi"}}}]}
    }))
    .unwrap();
    eventually("the Pod is admitted in lab", LIMIT, || async {
        Api::<Pod>::namespaced(admin.clone(), &lab_ns)
            .create(&PostParams::default(), &pod)
            .await
            .map(drop)
            .or_else(|e| match e {
                kube::Error::Api(s) if s.code == 409 => Ok(()),
                e => Err(e.to_string()),
            })
    })
    .await;

    // The status: three namespaces (the default workspace's, lab's, web's),
    // three plans of 10 Pods and 1 CPU, a Pod and 250m used, and what is
    // left of the budget.
    let usage = eventually("the organization reports its usage", LIMIT, || async {
        let o = Api::<Organization>::all(admin.clone())
            .get(org)
            .await
            .map_err(|e| e.to_string())?;
        let usage = serde_json::to_value(o.status.and_then(|s| s.usage)).unwrap();
        if usage["namespaces"] == 3
            && usage["used"]["pods"] == "1"
            && usage["used"]["requests.cpu"] == "250m"
        {
            Ok(usage)
        } else {
            Err(usage.to_string())
        }
    })
    .await;
    assert_eq!(usage["hard"]["pods"], "30", "{usage}");
    assert_eq!(usage["hard"]["requests.cpu"], "3", "{usage}");
    assert_eq!(usage["budgetRemaining"]["workspaces"], 1, "{usage}");
    assert_eq!(usage["budgetRemaining"]["quota"]["pods"], "5", "{usage}");
    assert!(usage["observedAt"].is_string(), "{usage}");

    // The gauges, as Prometheus reads them.
    let text = scrape().await;
    let got = samples(&text);
    let series = |name: &str, labels: &str| got.get(&format!("{name}{{{labels}}}")).copied();
    assert_eq!(
        series(
            "workspace_operator_workspace_quota",
            &format!(r#"organization="{org}",workspace="lab",resource="pods",type="used""#)
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        series(
            "workspace_operator_workspace_quota",
            &format!(r#"organization="{org}",workspace="lab",resource="requests.cpu",type="used""#)
        ),
        Some(0.25)
    );
    assert_eq!(
        series(
            "workspace_operator_organization_quota",
            &format!(r#"organization="{org}",resource="pods",type="hard""#)
        ),
        Some(30.0)
    );
    assert_eq!(
        series(
            "workspace_operator_organization_budget",
            &format!(r#"organization="{org}",resource="pods",type="remaining""#)
        ),
        Some(5.0)
    );
    assert_eq!(
        series(
            "workspace_operator_organization_budget_workspaces",
            &format!(r#"organization="{org}",type="remaining""#)
        ),
        Some(1.0)
    );
    assert_eq!(
        series(
            "workspace_operator_organization_namespaces",
            &format!(r#"organization="{org}""#)
        ),
        Some(3.0)
    );
    let (ok, said) = promtool_check(&text);
    assert!(
        ok && said.trim().is_empty(),
        "promtool check metrics:\n{said}"
    );

    // carol, a member of lab, sees its use; mallory, nobody there, is told
    // so in words.
    let lab = format!("{org}/lab");
    let rows = Terminal::of("carol")
        .json(&["usage", &lab, "-o", "json"])
        .unwrap();
    let pods = rows
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["resource"] == "pods")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (pods["used"].clone(), pods["hard"].clone()),
        (json!("1"), json!("10")),
        "{rows}"
    );
    let table =
        String::from_utf8_lossy(&Terminal::of("carol").run(&["usage", &lab]).stdout).into_owned();
    assert!(
        table.starts_with("WORKSPACE   RESOURCE")
            && table
                .lines()
                .any(|l| l.starts_with("lab") && l.contains("pods") && l.ends_with("10%")),
        "a kubectl-like table:\n{table}"
    );
    let refused = Terminal::of("mallory").run(&["usage", &lab]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && said.contains("not readable to you"),
        "{said}"
    );

    // alice, an organization admin, sees the totals, the budget and each
    // workspace's use.
    let report = Terminal::of("alice")
        .json(&["usage", "--organization", org, "-o", "json"])
        .unwrap();
    assert_eq!(report["namespaces"], 3, "{report}");
    assert_eq!(report["workspacesLeft"], 1, "{report}");
    let total = |resource: &str| {
        report["totals"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["resource"] == resource)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(total("pods")["used"], "1", "{report}");
    assert_eq!(total("pods")["budgetRemaining"], "5", "{report}");
    let each: Vec<String> = report["workspaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["resource"] == "pods")
        .map(|r| {
            format!(
                "{} {}",
                r["workspace"].as_str().unwrap_or(""),
                r["used"].as_str().unwrap_or("")
            )
        })
        .collect();
    for want in ["lab 1", "web 0"] {
        assert!(each.contains(&want.to_string()), "{want}: {report}");
    }
    // The platform lowers the budget below what the plans already give:
    // what is left is negative, and the status says so (a figure no spec
    // quantity could hold).
    Api::<Organization>::all(admin.clone())
        .patch(
            org,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"budget": {"quota": {"pods": "20"}}}})),
        )
        .await
        .expect("the budget is lowered");
    eventually("the status shows the budget overdrawn", LIMIT, || async {
        let o = Api::<Organization>::all(admin.clone())
            .get(org)
            .await
            .map_err(|e| e.to_string())?;
        let usage = serde_json::to_value(o.status.and_then(|s| s.usage)).unwrap();
        (usage["budgetRemaining"]["quota"]["pods"] == "-10")
            .then_some(())
            .ok_or(usage.to_string())
    })
    .await;

    // carol reads the totals (she may read the Organization) but not the
    // other workspaces' use: said in a note.
    let out = Terminal::of("carol").run(&["usage", "--organization", org]);
    let (table, notes) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{notes}");
    assert!(
        table.starts_with(&format!(
            "Organization {org}: 3 workspace namespace(s), 1 more allowed by its budget"
        )),
        "{table}"
    );
    assert!(
        notes.contains(&format!(
            "each workspace's use is shown to the admins of {org} only"
        )),
        "{notes}"
    );
}
