//! The Helm chart on a control plane of its own: lint, template accepted by
//! the API server, install, the operator running as the chart's
//! ServiceAccount reconciling every example, the admission policies, a
//! missing permission failing visibly, upgrade updating CRDs, and uninstall
//! keeping CRDs and workspaces.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use workspace_operator::api::{Organization, Workspace, WorkspaceMember};

use crate::support::*;

const CHART: &str = "charts/workspace-operator";
const NS: &str = "wsop-system";
const LIMIT: Duration = Duration::from_secs(90);

fn chart() -> String {
    repo_root().join(CHART).to_string_lossy().into_owned()
}

fn start_operator_as(kubeconfig: &Path, log: &Path) -> KillOnDrop {
    Command::new(env!("CARGO_BIN_EXE_workspace-operator"))
        .args(["run", "--leader-election", "--lease-seconds", "6"])
        .env("KUBECONFIG", kubeconfig)
        .env("POD_NAMESPACE", NS)
        .env("POD_NAME", "chart-operator")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .map(KillOnDrop)
        .expect("operator starts")
}

/// A kubeconfig for the chart's ServiceAccount, from a TokenRequest.
fn service_account_kubeconfig(plane: &ControlPlane) -> std::path::PathBuf {
    let token = ok_stdout(
        plane.kubectl(
            &[
                "create",
                "token",
                "-n",
                NS,
                "wsop-workspace-operator",
                "--duration",
                "2h",
            ],
            None,
        ),
        "kubectl create token",
    );
    let admin = std::fs::read_to_string(plane.admin_kubeconfig()).unwrap();
    let server = admin
        .lines()
        .find(|l| l.trim_start().starts_with("server:"))
        .unwrap()
        .trim()
        .trim_start_matches("server:")
        .trim()
        .to_string();
    let ca = plane.dir.join("pki/ca.crt");
    let path = plane.dir.join("chart-operator.kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: {server}, certificate-authority: {}}}}}]\n\
             contexts: [{{name: c, context: {{cluster: c, user: sa}}}}]\ncurrent-context: c\nusers: [{{name: sa, user: {{token: {}}}}}]\n",
            ca.display(),
            token.trim()
        ),
    )
    .unwrap();
    path
}

async fn apply_file(admin: &Client, file: &str) {
    let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let value: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
        if !value.is_null() {
            apply_value(admin, &value)
                .await
                .unwrap_or_else(|e| panic!("{file}: {e}"));
        }
    }
}

#[test]
fn chart_lints() {
    let plane_free = Command::new(cluster().bin_dir.as_ref().unwrap().join("helm"))
        .args(["lint", "--strict", &chart()])
        .output()
        .unwrap();
    assert!(
        plane_free.status.success(),
        "{}",
        String::from_utf8_lossy(&plane_free.stdout)
    );
}

#[tokio::test]
async fn chart_installs_runs_the_operator_as_its_service_account_and_guards_what_it_should() {
    let plane = ControlPlane::start("chart");
    ok_stdout(
        plane.kubectl(&["create", "namespace", NS], None),
        "namespace",
    );
    let chart = chart();

    // Templates with default and non-default values are accepted by the API server.
    for extra in [
        vec![],
        vec![
            "--set",
            "replicaCount=3",
            "--set",
            "leaderElection.enabled=false",
            "--set",
            "networkPolicy.enabled=true",
            "--set",
            "crds.keep=false",
            "--set",
            "admissionPolicies.exemptUsers[0]=someone",
            "--set",
            "tenantCeiling.clusterRole=edit",
            "--set",
            "tenantCeiling.extraRules[0].apiGroups[0]=example.com",
            "--set",
            "tenantCeiling.extraRules[0].resources[0]=widgets",
            "--set",
            "tenantCeiling.extraRules[0].verbs[0]=get",
        ],
    ] {
        let mut args = vec!["template", "wsop", chart.as_str(), "-n", NS];
        args.extend(extra.iter().copied());
        let rendered = ok_stdout(plane.helm(&args), "helm template");
        ok_stdout(
            plane.kubectl(
                &["apply", "--dry-run=server", "--server-side", "-f", "-"],
                Some(&rendered),
            ),
            "server dry run",
        );
    }

    ok_stdout(
        plane.helm(&["install", "wsop", &chart, "-n", NS, "--wait=false"]),
        "helm install",
    );
    let admin = plane.admin().await;
    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    let crd = crds
        .get("workspaces.workspaces.dev")
        .await
        .expect("CRDs installed by the chart");
    assert_eq!(
        crd.annotations()
            .get("helm.sh/resource-policy")
            .map(String::as_str),
        Some("keep")
    );
    ok_stdout(
        plane.kubectl(
            &["wait", "--for=condition=Established", "crd", "--all"],
            None,
        ),
        "crds established",
    );
    for (kind, name, namespaced) in [
        ("deployment", "wsop-workspace-operator", true),
        ("serviceaccount", "wsop-workspace-operator", true),
        ("service", "wsop-workspace-operator-metrics", true),
        ("poddisruptionbudget", "wsop-workspace-operator", true),
        ("role", "wsop-workspace-operator:leader-election", true),
        ("clusterrole", "wsop-workspace-operator", false),
        (
            "clusterrolebinding",
            "wsop-workspace-operator:tenant-ceiling",
            false,
        ),
        (
            "validatingadmissionpolicy",
            "workspaces.dev-protect-default-workspace",
            false,
        ),
        (
            "validatingadmissionpolicybinding",
            "workspaces.dev-read-only-credential-copies",
            false,
        ),
    ] {
        let mut args = vec!["get", kind, name];
        if namespaced {
            args.extend(["-n", NS]);
        }
        ok_stdout(
            plane.kubectl(&args, None),
            &format!("helm install made {kind} {name}"),
        );
    }

    // The operator as the chart's ServiceAccount, with exactly the chart's RBAC.
    let kubeconfig = service_account_kubeconfig(&plane);
    let operator = start_operator_as(&kubeconfig, &plane.dir.join("logs/chart-operator.log"));
    apply_file(&admin, "examples/01-organization.yaml").await;
    wait_ready(
        &Api::<Organization>::all(admin.clone()),
        "acme",
        "True",
        LIMIT,
    )
    .await;
    for file in [
        "examples/02-roles.yaml",
        "examples/03-workspaces.yaml",
        "examples/04-members.yaml",
    ] {
        apply_file(&admin, file).await;
    }
    let workspaces: Api<Workspace> = Api::namespaced(admin.clone(), "acme");
    for ws in ["default", "payments", "research", "legacy"] {
        wait_ready(&workspaces, ws, "True", LIMIT).await;
    }
    let members: Api<WorkspaceMember> = Api::namespaced(admin.clone(), "acme");
    for m in [
        "payments-bob",
        "payments-carol",
        "payments-deployer",
        "research-contractors",
    ] {
        wait_ready(&members, m, "True", LIMIT).await;
    }
    apply_file(&admin, "examples/05-credentials.yaml").await;
    let copies: Api<Secret> = Api::namespaced(admin.clone(), "acme--research");
    for name in ["registry-pull", "openai-key"] {
        eventually(&format!("copy {name}"), LIMIT, || async {
            copies
                .get_opt(name)
                .await
                .map_err(|e| e.to_string())?
                .map(drop)
                .ok_or_else(|| "missing".to_string())
        })
        .await;
    }

    // The admission policies refuse even a cluster admin, with what to do...
    let err = workspaces
        .delete("default", &DeleteParams::default())
        .await
        .expect_err("default workspace protected");
    assert!(
        err.to_string().contains("Delete the Organization instead"),
        "{err}"
    );
    let unlabel = serde_json::json!({"metadata": {"labels": {"workspaces.dev/default": null}}});
    let err = workspaces
        .patch("default", &PatchParams::default(), &Patch::Merge(&unlabel))
        .await
        .expect_err("mark protected");
    assert!(err.to_string().contains("workspaces.dev/default"), "{err}");
    let err = copies
        .delete("openai-key", &DeleteParams::default())
        .await
        .expect_err("copy protected");
    assert!(
        err.to_string().contains("read-only copy")
            && err.to_string().contains("acme--payments/openai-key"),
        "{err}"
    );
    let relabel = serde_json::json!({"metadata": {"labels": {"tampered": "yes"}}});
    copies
        .patch(
            "openai-key",
            &PatchParams::default(),
            &Patch::Merge(&relabel),
        )
        .await
        .expect_err("copy edit refused");
    // ... and let the operator through: a changed source reaches the copy.
    let source: Api<Secret> = Api::namespaced(admin.clone(), "acme--payments");
    let rotate = serde_json::json!({"stringData": {"api-key": "rotated"}});
    source
        .patch(
            "openai-key",
            &PatchParams::default(),
            &Patch::Merge(&rotate),
        )
        .await
        .unwrap();
    eventually("copy refreshed by the operator", LIMIT, || async {
        let s = copies.get("openai-key").await.map_err(|e| e.to_string())?;
        let v = s
            .data
            .unwrap_or_default()
            .get("api-key")
            .map(|b| b.0.clone())
            .unwrap_or_default();
        if v == b"rotated" {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&v).to_string())
        }
    })
    .await;

    // One needed permission removed: the failure is visible on the object.
    let roles: Api<ClusterRole> = Api::all(admin.clone());
    let mut own = roles.get("wsop-workspace-operator").await.unwrap();
    let full = own.rules.clone();
    // resourcequotas: the tenant ceiling (admin) only reads them, so this
    // rule of the chart's own ClusterRole is the only one that lets it write.
    for rule in own.rules.as_mut().unwrap() {
        if let Some(resources) = rule.resources.as_mut() {
            resources.retain(|x| x != "resourcequotas");
        }
    }
    own.metadata.managed_fields = None;
    roles
        .replace("wsop-workspace-operator", &Default::default(), &own)
        .await
        .unwrap();
    apply_yaml(&admin, "{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {name: locked, namespace: acme}, spec: {}}").await;
    eventually("the missing permission shows", LIMIT, || async {
        let ws = workspaces.get("locked").await.map_err(|e| e.to_string())?;
        match ready_condition(&ws) {
            Some((s, _, m))
                if s == "False" && m.contains("resourcequotas") && m.contains("forbidden") =>
            {
                Ok(())
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(
        Api::<k8s_openapi::api::core::v1::ResourceQuota>::namespaced(admin.clone(), "acme--locked")
            .get_opt("workspace-quota")
            .await
            .unwrap()
            .is_none()
    );
    let mut restored = roles.get("wsop-workspace-operator").await.unwrap();
    restored.rules = full;
    restored.metadata.managed_fields = None;
    roles
        .replace("wsop-workspace-operator", &Default::default(), &restored)
        .await
        .unwrap();
    wait_ready(&workspaces, "locked", "True", LIMIT).await;

    // helm upgrade with a changed CRD updates it.
    let changed = plane.dir.join("chart");
    copy_dir(&repo_root().join(CHART), &changed);
    let file = changed.join("files/crds/workspace.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replacen(
            "metadata:\n  name: workspaces.workspaces.dev\n",
            "metadata:\n  name: workspaces.workspaces.dev\n  labels: {upgraded: \"yes\"}\n",
            1,
        ),
    )
    .unwrap();
    ok_stdout(
        plane.helm(&[
            "upgrade",
            "wsop",
            changed.to_str().unwrap(),
            "-n",
            NS,
            "--wait=false",
        ]),
        "helm upgrade",
    );
    let crd = crds.get("workspaces.workspaces.dev").await.unwrap();
    assert_eq!(
        crd.labels().get("upgraded").map(String::as_str),
        Some("yes"),
        "upgrade updated the CRD"
    );

    // helm uninstall keeps the CRDs and every workspace.
    ok_stdout(
        plane.helm(&["uninstall", "wsop", "-n", NS]),
        "helm uninstall",
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    for name in [
        "organizations",
        "workspaces",
        "workspaceroles",
        "workspacemembers",
    ] {
        crds.get(&format!("{name}.workspaces.dev"))
            .await
            .expect("CRD kept");
    }
    for ws in ["default", "payments", "research", "legacy", "locked"] {
        workspaces.get(ws).await.expect("workspace kept");
    }
    drop(operator);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
