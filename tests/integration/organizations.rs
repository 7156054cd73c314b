//! The Organization and Workspace controllers on the real control plane:
//! what they make, how they keep it, and the deletion rules.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::{Client, ResourceExt};
use workspace_operator::api::{Organization, Workspace, WorkspaceRole};

use crate::support::*;

const LIMIT: Duration = Duration::from_secs(60);

/// An organization named after the scope, with alice (and acme-platform) as
/// admins, acme-staff as members, and two plans.
pub async fn organization(admin: &Client, scope: &Scope) -> Organization {
    apply_yaml(
        admin,
        &format!(
            r#"
apiVersion: workspaces.dev/v1alpha1
kind: Organization
metadata: {{name: {org}}}
spec:
  displayName: Test {org}
  admins: [{{kind: User, name: alice}}, {{kind: Group, name: acme-platform}}]
  memberGroups: [acme-staff]
  defaults: {{plan: free}}
  plans:
    free: {{quota: {{pods: 10, requests.cpu: "1"}}}}
    pro:
      quota: {{pods: 100, requests.cpu: "16"}}
      limitRange: {{default: {{cpu: 500m}}, defaultRequest: {{cpu: 100m}}}}
"#,
            org = scope.id
        ),
    )
    .await;
    wait_ready(
        &Api::<Organization>::all(admin.clone()),
        &scope.id,
        "True",
        LIMIT,
    )
    .await
}

pub async fn workspace(admin: &Client, org: &str, name: &str, spec: &str) -> Workspace {
    apply_yaml(
        admin,
        &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: {name}, namespace: {org}}}, spec: {spec}}}"),
    )
    .await;
    wait_ready(
        &Api::<Workspace>::namespaced(admin.clone(), org),
        name,
        "True",
        LIMIT,
    )
    .await
}

#[tokio::test]
async fn organization_gets_its_namespace_roles_and_default_workspace() {
    let Opening { admin, scope, .. } = opening("org").await;
    let org = organization(&admin, &scope).await;
    let status = org.status.unwrap();
    assert_eq!(status.namespace.as_deref(), Some(scope.id.as_str()));
    assert_eq!(status.default_workspace.as_deref(), Some("default"));

    let ns = Api::<Namespace>::all(admin.clone())
        .get(&scope.id)
        .await
        .unwrap();
    assert_eq!(
        ns.labels()["app.kubernetes.io/managed-by"],
        "workspace-operator"
    );
    assert_eq!(
        ns.labels()["workspaces.dev/owner-uid"],
        org.metadata.uid.unwrap()
    );

    let roles = Api::<WorkspaceRole>::namespaced(admin.clone(), &scope.id);
    for role in ["admin", "editor", "viewer"] {
        wait_ready(&roles, role, "True", LIMIT).await;
    }
    let default = wait_ready(
        &Api::<Workspace>::namespaced(admin.clone(), &scope.id),
        "default",
        "True",
        LIMIT,
    )
    .await;
    assert_eq!(default.status.unwrap().default, Some(true));

    // The predefined roles are kept as defined: an edit is undone.
    let edited = serde_json::json!({
        "apiVersion": "workspaces.dev/v1alpha1", "kind": "WorkspaceRole",
        "metadata": {"name": "viewer", "namespace": scope.id},
        "spec": {"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}
    });
    apply_value(&admin, &edited).await.unwrap();
    eventually("viewer role restored", LIMIT, || async {
        let r = roles.get("viewer").await.map_err(|e| e.to_string())?;
        let grants_secrets = r
            .spec
            .rules
            .iter()
            .flatten()
            .any(|r| r.resources.contains(&"secrets".to_string()));
        if grants_secrets {
            Err("still grants secrets".into())
        } else {
            Ok(())
        }
    })
    .await;
}

#[tokio::test]
async fn workspace_gets_namespace_quota_limits_isolation_and_facts() {
    let Opening { admin, scope, .. } = opening_with_organization("ws").await;
    let ws = workspace(
        &admin,
        &scope.id,
        "pay",
        "{displayName: Payments, timeZone: Europe/Bucharest, plan: pro, variables: {REGION: eu-west-1}}",
    )
    .await;
    let status = ws.status.unwrap();
    let ns = format!("{}--pay", scope.id);
    assert_eq!(status.namespace.as_deref(), Some(ns.as_str()));
    assert_eq!(status.plan.as_deref(), Some("pro"));
    assert_eq!(status.network_isolation, Some(true));

    let quotas = Api::<ResourceQuota>::namespaced(admin.clone(), &ns);
    let hard = |q: ResourceQuota| q.spec.unwrap().hard.unwrap();
    assert_eq!(
        hard(quotas.get("workspace-quota").await.unwrap())["pods"].0,
        "100"
    );
    Api::<LimitRange>::namespaced(admin.clone(), &ns)
        .get("workspace-limits")
        .await
        .unwrap();
    let policy = Api::<NetworkPolicy>::namespaced(admin.clone(), &ns)
        .get("workspace-isolation")
        .await
        .unwrap();
    assert_eq!(
        policy.spec.unwrap().policy_types.unwrap(),
        vec!["Ingress", "Egress"]
    );
    let info = Api::<ConfigMap>::namespaced(admin.clone(), &ns)
        .get("workspace-info")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(info["REGION"], "eu-west-1");
    assert_eq!(info["WORKSPACE_TIME_ZONE"], "Europe/Bucharest");
    assert_eq!(info["WORKSPACE_DISPLAY_NAME"], "Payments");
    assert_eq!(info["WORKSPACE_ORGANIZATION"], scope.id);

    // A changed plan, and a changed plan definition, reach the quota.
    workspace(&admin, &scope.id, "pay", "{displayName: Payments, timeZone: Europe/Bucharest, plan: free, variables: {REGION: eu-west-1}}").await;
    eventually("quota follows the plan", LIMIT, || async {
        let pods = hard(
            quotas
                .get("workspace-quota")
                .await
                .map_err(|e| e.to_string())?,
        )["pods"]
            .0
            .clone();
        if pods == "10" { Ok(()) } else { Err(pods) }
    })
    .await;
    assert!(
        Api::<LimitRange>::namespaced(admin.clone(), &ns)
            .get_opt("workspace-limits")
            .await
            .unwrap()
            .is_none(),
        "free has no limits"
    );
    let mut org = serde_json::to_value(
        Api::<Organization>::all(admin.clone())
            .get(&scope.id)
            .await
            .unwrap(),
    )
    .unwrap();
    org["spec"]["plans"]["free"]["quota"]["pods"] = 12.into();
    let org = serde_json::json!({"apiVersion": org["apiVersion"], "kind": org["kind"], "metadata": {"name": scope.id}, "spec": org["spec"]});
    apply_value(&admin, &org).await.unwrap();
    eventually("quota follows the plan definition", LIMIT, || async {
        let pods = hard(
            quotas
                .get("workspace-quota")
                .await
                .map_err(|e| e.to_string())?,
        )["pods"]
            .0
            .clone();
        if pods == "12" { Ok(()) } else { Err(pods) }
    })
    .await;

    // A quota deleted by hand comes back.
    quotas
        .delete("workspace-quota", &DeleteParams::default())
        .await
        .unwrap();
    eventually("quota restored", LIMIT, || async {
        quotas
            .get_opt("workspace-quota")
            .await
            .map_err(|e| e.to_string())?
            .map(drop)
            .ok_or_else(|| "missing".to_string())
    })
    .await;

    // Isolation is the organization's: a workspace asking it off is told
    // so and stays isolated (precedence.rs shows the organization's switch).
    apply_yaml(
        &admin,
        &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: pay, namespace: {}}}, spec: {{plan: free, networkIsolation: false}}}}", scope.id),
    )
    .await;
    let workspaces = Api::<Workspace>::namespaced(admin.clone(), &scope.id);
    wait_not_ready(&workspaces, "pay", "SettingNotAllowed", LIMIT).await;
    let policies = Api::<NetworkPolicy>::namespaced(admin.clone(), &ns);
    assert!(
        policies
            .get_opt("workspace-isolation")
            .await
            .unwrap()
            .is_some(),
        "still isolated"
    );
}

#[tokio::test]
async fn what_only_the_operator_can_check_is_reported_on_the_workspace() {
    let Opening { admin, scope, .. } = opening_with_organization("wsbad").await;
    let workspaces = Api::<Workspace>::namespaced(admin.clone(), &scope.id);

    apply_yaml(&admin, &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: gold, namespace: {}}}, spec: {{plan: gold}}}}", scope.id)).await;
    let ws = wait_ready(&workspaces, "gold", "False", LIMIT).await;
    let (_, reason, message) = ready_condition(&ws).unwrap();
    assert_eq!(reason, "UnknownPlan");
    assert!(
        message.contains("gold") && message.contains("free, pro"),
        "{message}"
    );
    let conditions = ws.status.unwrap().conditions;
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Stalled" && c.status == "True"),
        "{conditions:?}"
    );
    eventually("an UnknownPlan event", LIMIT, || async {
        let events = events_for(&admin, &scope.id, "gold").await;
        if events.iter().any(|e| e.starts_with("UnknownPlan")) {
            Ok(())
        } else {
            Err(format!("{events:?}"))
        }
    })
    .await;

    apply_yaml(&admin, &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: mars, namespace: {}}}, spec: {{timeZone: Mars/Olympus_Mons}}}}", scope.id)).await;
    let ws = wait_ready(&workspaces, "mars", "False", LIMIT).await;
    assert_eq!(ready_condition(&ws).unwrap().1, "InvalidTimeZone");
    // A namespace comes only with its plan's quota, limits and isolation:
    // none for a new workspace whose spec cannot be carried out.
    let namespaces = Api::<Namespace>::all(admin.clone());
    for name in ["gold", "mars"] {
        let ns = format!("{}--{name}", scope.id);
        assert!(
            namespaces.get_opt(&ns).await.unwrap().is_none(),
            "{ns} made for a workspace with an error in its spec"
        );
    }

    // Fixing the spec is enough: nothing else needs to happen.
    workspace(&admin, &scope.id, "gold", "{plan: pro}").await;

    // A role that does not exist is named, not retried with backoff...
    apply_yaml(&admin, &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: open, namespace: {}}}, spec: {{acceptAnonymous: true, anonymousRole: reviewer}}}}", scope.id)).await;
    let ws = wait_ready(&workspaces, "open", "False", LIMIT).await;
    let (_, reason, message) = ready_condition(&ws).unwrap();
    assert_eq!(reason, "UnknownRole");
    assert!(message.contains("reviewer"), "{message}");
    // ...and creating it is enough: its ClusterRole appearing wakes the workspace.
    apply_yaml(
        &admin,
        &format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceRole, metadata: {{name: reviewer, namespace: {}}}, spec: {{rules: [{{apiGroups: [''], resources: [configmaps], verbs: [get]}}]}}}}",
            scope.id
        ),
    )
    .await;
    wait_ready(&workspaces, "open", "True", LIMIT).await;
}

#[tokio::test]
async fn a_namespace_the_operator_did_not_create_is_never_taken_over() {
    let Opening { admin, scope, .. } = opening_with_organization("taken").await;
    let ns_name = format!("{}--taken", scope.id);
    let existing = Api::<Namespace>::all(admin.clone())
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(ns_name.clone()),
                    labels: Some([("team".to_string(), "someone-else".to_string())].into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let workspaces = Api::<Workspace>::namespaced(admin.clone(), &scope.id);
    apply_yaml(&admin, &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: taken, namespace: {}}}, spec: {{}}}}", scope.id)).await;
    // Ready=False may first say RoleNotReady (its roles still being set up).
    let message = wait_not_ready(&workspaces, "taken", "NamespaceConflict", LIMIT).await;
    assert!(
        message.contains(&ns_name) && message.contains("never takes over"),
        "{message}"
    );

    workspaces
        .delete("taken", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&workspaces, "taken", LIMIT).await;
    let after = Api::<Namespace>::all(admin.clone())
        .get(&ns_name)
        .await
        .expect("the namespace is untouched");
    assert_eq!(after.metadata.uid, existing.metadata.uid);
    assert_eq!(after.metadata.deletion_timestamp, None);
    assert_eq!(
        after.labels().get("team").map(String::as_str),
        Some("someone-else")
    );
    assert!(!after.labels().contains_key("app.kubernetes.io/managed-by"));
}
