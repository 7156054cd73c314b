//! The chart where platform teams put it: as a subchart of an umbrella
//! chart (which passes `global` to it), installed by Helm 4 as well as Helm
//! 3, with every optional value rendered and accepted by the API server,
//! and a single replica that a node drain can evict (its
//! PodDisruptionBudget allows it; the old `minAvailable: 1` did not).

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, EvictParams, ListParams, Patch, PatchParams};

use crate::support::*;

const NS: &str = "platform";

fn umbrella(dir: &std::path::Path) -> String {
    let chart = repo_root().join("charts/workspace-operator");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        format!(
            "apiVersion: v2\nname: platform\nversion: 1.0.0\ndependencies:\n  - name: workspace-operator\n    version: 0.1.0\n    repository: file://{}\n",
            chart.display()
        ),
    )
    .unwrap();
    // What an umbrella chart typically passes down: globals, and the
    // subchart's own values under its name.
    std::fs::write(
        dir.join("values.yaml"),
        "global:\n  imageRegistry: registry.example.com\n  team: platform\nworkspace-operator:\n  replicaCount: 1\n  crds:\n    keep: false\n",
    )
    .unwrap();
    dir.to_string_lossy().into_owned()
}

/// Marks `pod` Running and Ready, as a kubelet would (there is none here);
/// `report` makes each report a change.
async fn run_pod(pods: &Api<Pod>, name: &str, report: u32) {
    let status = serde_json::json!({"status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        "message": format!("report {report}"),
    }});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

/// The one pod the Deployment made, once there is exactly one.
async fn the_pod(pods: &Api<Pod>) -> String {
    eventually("one operator pod", Duration::from_secs(60), || async {
        let list = pods
            .list(&ListParams::default().labels("app.kubernetes.io/name=workspace-operator"))
            .await
            .map_err(|e| e.to_string())?;
        let live: Vec<_> = list
            .items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        match live.as_slice() {
            [one] => Ok(one.metadata.name.clone().unwrap()),
            other => Err(format!("{} pods", other.len())),
        }
    })
    .await
}

/// Waits until the PDB counts the pod healthy, then evicts it: whether the
/// eviction was allowed.
async fn evict(admin: &kube::Client, pdb_name: &str, expect_allowed: bool) -> bool {
    let pods: Api<Pod> = Api::namespaced(admin.clone(), NS);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(admin.clone(), NS);
    let pod = the_pod(&pods).await;
    run_pod(&pods, &pod, 0).await;
    let reports = std::sync::atomic::AtomicU32::new(0);
    let (reports, pods_ref, pdbs_ref, pod_ref) = (&reports, &pods, &pdbs, &pod);
    eventually(
        "the disruption controller counts the pod",
        Duration::from_secs(60),
        || async move {
            let (pods, pdbs, pod) = (pods_ref, pdbs_ref, pod_ref);
            tokio::time::sleep(Duration::from_millis(300)).await;
            let pdb = pdbs.get(pdb_name).await.map_err(|e| e.to_string())?;
            let status = pdb.status.unwrap_or_default();
            let settled = status.current_healthy == 1
                && status.observed_generation == pdb.metadata.generation
                && (status.disruptions_allowed > 0) == expect_allowed;
            if settled {
                Ok(())
            } else {
                // As a kubelet does, report the pod's status again now and
                // then: a freshly started disruption controller that failed
                // its first syncs backs off for minutes otherwise.
                let n = reports.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if n % 10 == 0 {
                    run_pod(pods, pod, n).await;
                }
                Err(format!("{status:?}"))
            }
        },
    )
    .await;
    match pods.evict(&pod, &EvictParams::default()).await {
        Ok(_) => true,
        Err(kube::Error::Api(e)) if e.code == 429 => false,
        Err(e) => panic!("evicting {pod}: {e}"),
    }
}

#[tokio::test]
async fn the_chart_installs_as_a_subchart_with_helm_4_and_a_single_replica_drains() {
    let plane = ControlPlane::start("umbrella");
    let chart_dir = plane.dir.join("umbrella");
    let chart = umbrella(&chart_dir);
    ok_stdout(
        plane.helm4(&["dependency", "update", &chart]),
        "helm4 dependency update",
    );

    // Every optional value, rendered by both Helm majors, accepted by the
    // API server (server-side dry run).
    let all_values = [
        "--set",
        "workspace-operator.nameOverride=wsop",
        "--set",
        "workspace-operator.image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "--set",
        "workspace-operator.operator.extraArgs[0]=--future-flag=1",
        "--set",
        "workspace-operator.operator.extraEnv[0].name=EXTRA",
        "--set",
        "workspace-operator.operator.extraEnv[0].value=yes",
        "--set",
        "workspace-operator.operator.logLevel=debug",
        "--set",
        "workspace-operator.podSecurityContext.fsGroup=65532",
        "--set",
        "workspace-operator.replicaCount=3",
        "--set",
        "workspace-operator.podDisruptionBudget.minAvailable=2",
    ];
    ok_stdout(
        plane.kubectl(&["create", "namespace", NS], None),
        "namespace",
    );
    for binary in ["helm", "helm4"] {
        for extra in [&[][..], &all_values[..]] {
            let mut args = vec!["template", "platform", chart.as_str(), "-n", NS];
            args.extend(extra);
            let out = if binary == "helm" {
                plane.helm(&args)
            } else {
                plane.helm4(&args)
            };
            let rendered = ok_stdout(out, &format!("{binary} template {extra:?}"));
            if !extra.is_empty() {
                for wanted in [
                    "workspace-operator@sha256:0123456789abcdef",
                    "- \"--future-flag=1\"",
                    "name: EXTRA",
                    "value: \"debug\"",
                    "fsGroup: 65532",
                    "topologyKey: kubernetes.io/hostname",
                    "minAvailable: 2",
                    "app.kubernetes.io/name: wsop",
                    "app.kubernetes.io/managed-by: Helm",
                ] {
                    assert!(
                        rendered.contains(wanted),
                        "{binary}: {wanted} in\n{rendered}"
                    );
                }
            } else {
                assert!(
                    !rendered.contains("RUST_LOG"),
                    "no log level forced by default"
                );
                assert!(
                    !rendered.contains("topologySpreadConstraints"),
                    "one replica: no spread"
                );
            }
            ok_stdout(
                plane.kubectl(
                    &["apply", "--dry-run=server", "--server-side", "-f", "-"],
                    Some(&rendered),
                ),
                &format!("{binary}: server dry run"),
            );
        }
    }

    // Installed by Helm 4, as the umbrella's subchart, with one replica.
    ok_stdout(
        plane.helm4(&["install", "platform", &chart, "-n", NS, "--wait=false"]),
        "helm4 install",
    );
    let admin = plane.admin().await;
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), NS);
    let deployment = deployments
        .get("platform-workspace-operator")
        .await
        .unwrap();
    assert_eq!(deployment.spec.as_ref().unwrap().replicas, Some(1));
    assert_eq!(
        deployment.metadata.labels.as_ref().unwrap()["app.kubernetes.io/managed-by"],
        "Helm"
    );

    // A drain evicts the single replica: the disruption controller counts
    // it healthy and its budget allows one disruption (the chart's old
    // `minAvailable: 1` allowed none: the wait below would time out), and
    // the eviction API lets it go.
    assert!(
        evict(&admin, "platform-workspace-operator", true).await,
        "the default PodDisruptionBudget lets a drain evict the single replica"
    );
    ok_stdout(
        plane.helm4(&["uninstall", "platform", "-n", NS]),
        "helm4 uninstall",
    );
}
