//! GitOps: Argo CD health from live status, no drift on re-apply, no
//! tracking labels on children, a prune of everything converging to gone,
//! and a whole organization applied in any order converging to Ready.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, DeleteParams, ListParams};
use kube::{Client, ResourceExt};
use mlua::LuaSerdeExt;
use serde_json::Value;
use workspace_operator::api::{Organization, Workspace, WorkspaceMember, WorkspaceRole};

use crate::organizations::workspace;
use crate::support::*;

const LIMIT: Duration = Duration::from_secs(90);

/// Runs the chart's Argo CD health script on `obj`, as Argo CD does.
fn argo_health(obj: &Value) -> (String, String) {
    let script = std::fs::read_to_string(
        repo_root().join("charts/workspace-operator/files/argocd/health.lua"),
    )
    .unwrap();
    let lua = mlua::Lua::new();
    lua.globals()
        .set("obj", lua.to_value(obj).unwrap())
        .unwrap();
    let hs: mlua::Table = lua.load(&script).eval().expect("health script runs");
    (
        hs.get::<String>("status").unwrap(),
        hs.get::<String>("message").unwrap_or_default(),
    )
}

async fn live<K>(api: &Api<K>, name: &str) -> Value
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + serde::Serialize,
{
    let mut v = serde_json::to_value(api.get(name).await.unwrap()).unwrap();
    v["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    v
}

#[tokio::test]
async fn argo_cd_health_follows_the_live_status() {
    let Opening { admin, org, .. } = opening_with_organization("argo").await;
    let orgs = Api::<Organization>::all(admin.clone());
    let workspaces = Api::<Workspace>::namespaced(admin.clone(), &org);

    // Ready → Healthy.
    let healthy = live(&orgs, &org).await;
    assert_eq!(argo_health(&healthy).0, "Healthy");
    let ws = workspace(&admin, &org, "ok", "{}").await;
    assert_eq!(
        argo_health(&serde_json::to_value(&ws).unwrap()).0,
        "Healthy"
    );

    // No status yet, or a status of an older generation → Progressing.
    let mut fresh = live(&workspaces, "ok").await;
    fresh.as_object_mut().unwrap().remove("status");
    assert_eq!(argo_health(&fresh).0, "Progressing");
    let mut behind = live(&workspaces, "ok").await;
    behind["metadata"]["generation"] =
        (behind["metadata"]["generation"].as_i64().unwrap() + 1).into();
    assert_eq!(argo_health(&behind).0, "Progressing");

    // A spec error → Degraded with the reason.
    apply_yaml(&admin, &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: bad, namespace: {org}}}, spec: {{plan: gold}}}}")).await;
    wait_ready(&workspaces, "bad", "False", LIMIT).await;
    let (status, message) = argo_health(&live(&workspaces, "bad").await);
    assert_eq!(status, "Degraded");
    assert!(message.starts_with("UnknownPlan:"), "{message}");

    // A role beyond the ceiling → Degraded.
    apply_yaml(&admin, &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceRole, metadata: {{name: nodes, namespace: {org}}}, spec: {{rules: [{{apiGroups: [''], resources: [nodes], verbs: [get]}}]}}}}")).await;
    let roles = Api::<WorkspaceRole>::namespaced(admin.clone(), &org);
    wait_ready(&roles, "nodes", "False", LIMIT).await;
    assert_eq!(argo_health(&live(&roles, "nodes").await).0, "Degraded");

    // Being deleted, blocked by a member → Progressing, saying why.
    apply_yaml(&admin, &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceMember, metadata: {{name: ok-bob, namespace: {org}}}, spec: {{workspace: ok, subject: {{kind: User, name: bob}}, roles: [viewer]}}}}")).await;
    let members = Api::<WorkspaceMember>::namespaced(admin.clone(), &org);
    wait_ready(&members, "ok-bob", "True", LIMIT).await;
    assert_eq!(argo_health(&live(&members, "ok-bob").await).0, "Healthy");
    workspaces
        .delete("ok", &DeleteParams::default())
        .await
        .unwrap();
    let (status, message) = eventually("blocked deletion in the health message", LIMIT, || async {
        let (s, m) = argo_health(&live(&workspaces, "ok").await);
        if m.contains("ok-bob") {
            Ok((s, m))
        } else {
            Err(m)
        }
    })
    .await;
    assert_eq!(status, "Progressing");
    assert!(message.starts_with("Deletion blocked:"), "{message}");
}

/// The examples, moved to organization `org`.
fn examples_for(org: &str) -> Vec<Value> {
    let mut out = vec![];
    for file in [
        "01-organization.yaml",
        "02-roles.yaml",
        "03-workspaces.yaml",
        "04-members.yaml",
    ] {
        let text = std::fs::read_to_string(repo_root().join("examples").join(file)).unwrap();
        let text = text
            .replace("name: acme\n", &format!("name: {org}\n"))
            .replace("namespace: acme", &format!("namespace: {org}"));
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc).unwrap();
            if !v.is_null() {
                out.push(v);
            }
        }
    }
    out
}

fn to_yaml(objects: &[Value]) -> String {
    objects
        .iter()
        .map(|o| serde_yaml::to_string(o).unwrap())
        .collect::<Vec<_>>()
        .join("---\n")
}

async fn resource_versions(admin: &Client, org: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    out.push((
        "org".into(),
        Api::<Organization>::all(admin.clone())
            .get(org)
            .await
            .unwrap()
            .resource_version()
            .unwrap(),
    ));
    for w in Api::<Workspace>::namespaced(admin.clone(), org)
        .list(&ListParams::default())
        .await
        .unwrap()
    {
        out.push((
            format!("ws/{}", w.name_any()),
            w.resource_version().unwrap(),
        ));
    }
    for m in Api::<WorkspaceMember>::namespaced(admin.clone(), org)
        .list(&ListParams::default())
        .await
        .unwrap()
    {
        out.push((
            format!("wsm/{}", m.name_any()),
            m.resource_version().unwrap(),
        ));
    }
    for r in Api::<WorkspaceRole>::namespaced(admin.clone(), org)
        .list(&ListParams::default())
        .await
        .unwrap()
    {
        out.push((
            format!("wsrole/{}", r.name_any()),
            r.resource_version().unwrap(),
        ));
    }
    out.sort();
    out
}

async fn wait_all_ready(admin: &Client, org: &str) {
    wait_ready(&Api::<Organization>::all(admin.clone()), org, "True", LIMIT).await;
    let workspaces = Api::<Workspace>::namespaced(admin.clone(), org);
    for ws in ["default", "payments", "research", "legacy"] {
        wait_ready(&workspaces, ws, "True", LIMIT).await;
    }
    let members = Api::<WorkspaceMember>::namespaced(admin.clone(), org);
    for m in [
        "payments-bob",
        "payments-carol",
        "payments-deployer",
        "research-contractors",
    ] {
        wait_ready(&members, m, "True", LIMIT).await;
    }
    wait_ready(
        &Api::<WorkspaceRole>::namespaced(admin.clone(), org),
        "configurator",
        "True",
        LIMIT,
    )
    .await;
}

/// Applies `objects` with kubectl until every one is accepted (namespaced
/// objects wait for the operator to create their namespace), as a GitOps
/// tool's retries do.
async fn apply_until_accepted(objects: &[Value], server_side: bool) {
    let yaml = to_yaml(objects);
    let mut args = vec!["apply", "-f", "-"];
    if server_side {
        args.push("--server-side");
    }
    eventually("every object accepted", LIMIT, || {
        let args = args.clone();
        let yaml = yaml.clone();
        async move {
            let out = cluster().kubectl_with(&cluster().admin_kubeconfig, &args, Some(&yaml));
            if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).to_string())
            }
        }
    })
    .await;
}

#[tokio::test]
async fn reapplying_the_examples_changes_nothing_and_children_carry_no_tracking_labels() {
    operator().await;
    let admin = cluster().admin().await;
    for server_side in [false, true] {
        let scope = Scope::new(if server_side { "ssa" } else { "csa" });
        let org = scope.id.clone();
        let mut objects = examples_for(&org);
        // What Argo CD and Helm put on the objects they manage.
        for o in &mut objects {
            o["metadata"]["labels"]["app.kubernetes.io/instance"] = "tenants".into();
            o["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] =
                "tenants:workspaces.dev/Workspace:x/y".into();
            o["metadata"]["annotations"]["meta.helm.sh/release-name"] = "tenants".into();
        }
        apply_until_accepted(&objects, server_side).await;
        wait_all_ready(&admin, &org).await;
        tokio::time::sleep(Duration::from_secs(3)).await;

        let before = resource_versions(&admin, &org).await;
        apply_until_accepted(&objects, server_side).await;
        let mut diff_args = vec!["diff", "-f", "-"];
        if server_side {
            diff_args.push("--server-side");
        }
        let diff = cluster().kubectl_with(
            &cluster().admin_kubeconfig,
            &diff_args,
            Some(&to_yaml(&objects)),
        );
        assert!(
            diff.status.success(),
            "kubectl diff is not empty:\n{}",
            String::from_utf8_lossy(&diff.stdout)
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            resource_versions(&admin, &org).await,
            before,
            "re-applying changed objects (server_side={server_side})"
        );

        // The operator writes status (and its finalizer), never spec, labels or annotations.
        let ws = Api::<Workspace>::namespaced(admin.clone(), &org)
            .get("payments")
            .await
            .unwrap();
        for entry in ws.managed_fields() {
            let manager = entry.manager.clone().unwrap_or_default();
            if manager.starts_with("kubectl") || entry.subresource.as_deref() == Some("status") {
                continue;
            }
            let fields = serde_json::to_string(&entry.fields_v1).unwrap();
            assert!(
                !fields.contains("f:spec")
                    && !fields.contains("f:labels")
                    && !fields.contains("f:annotations"),
                "{manager} owns {fields}"
            );
        }

        // Children carry none of the tracking labels or annotations.
        let ns = format!("{org}--payments");
        let namespace = Api::<Namespace>::all(admin.clone()).get(&ns).await.unwrap();
        let info = Api::<ConfigMap>::namespaced(admin.clone(), &ns)
            .get("workspace-info")
            .await
            .unwrap();
        let bindings = Api::<RoleBinding>::namespaced(admin.clone(), &ns)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items;
        let metas: Vec<_> = [namespace.metadata, info.metadata]
            .into_iter()
            .chain(bindings.into_iter().map(|b| b.metadata))
            .collect();
        for meta in metas {
            let keys: Vec<String> = meta
                .labels
                .iter()
                .flatten()
                .chain(meta.annotations.iter().flatten())
                .map(|(k, _)| k.clone())
                .collect();
            assert!(
                keys.iter().all(|k| k != "app.kubernetes.io/instance"
                    && !k.starts_with("argocd.argoproj.io/")
                    && !k.starts_with("meta.helm.sh/")),
                "{:?} carries {keys:?}",
                meta.name
            );
        }
    }
}

#[tokio::test]
async fn a_whole_organization_applied_in_any_order_converges_then_a_prune_removes_it_all() {
    let Opening { admin, org, .. } = opening("anyorder").await;
    let mut objects = examples_for(&org);
    // Members first, the organization last: the worst order.
    objects.reverse();
    apply_until_accepted(&objects, true).await;
    wait_all_ready(&admin, &org).await;
    // kstatus' contract, as the tools use it: kubectl wait works for every kind.
    for kind in ["workspaces", "workspaceroles", "workspacemembers"] {
        ok_stdout(
            cluster().kubectl(&[
                "wait",
                "--for=condition=Ready",
                kind,
                "--all",
                "-n",
                &org,
                "--timeout=60s",
            ]),
            &format!("kubectl wait {kind}"),
        );
    }
    ok_stdout(
        cluster().kubectl(&[
            "wait",
            "--for=condition=Ready",
            &format!("organization/{org}"),
            "--timeout=60s",
        ]),
        "kubectl wait organization",
    );

    // What a GitOps prune does: delete everything of the organization at once.
    let mut args = vec!["delete", "--wait=false", "-f", "-"];
    args.push("--ignore-not-found");
    let out = cluster().kubectl_with(&cluster().admin_kubeconfig, &args, Some(&to_yaml(&objects)));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let namespaces = Api::<Namespace>::all(admin.clone());
    wait_gone(
        &Api::<Organization>::all(admin.clone()),
        &org,
        Duration::from_secs(150),
    )
    .await;
    for ns in [
        org.clone(),
        format!("{org}--payments"),
        format!("{org}--research"),
        format!("{org}--default"),
    ] {
        wait_gone(&namespaces, &ns, Duration::from_secs(150)).await;
    }
    // Retain: legacy's namespace stays, released.
    let legacy = namespaces
        .get(&format!("{org}--legacy"))
        .await
        .expect("Retain keeps legacy");
    assert!(!legacy.labels().contains_key("workspaces.dev/owner-uid"));
}
