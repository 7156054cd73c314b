//! Quiet when idle: once converged, the operator writes nothing, neither
//! while it runs on nor after a restart. Counted from the API server's own
//! audit log (failed writes included), so nothing the operator reports
//! about itself is trusted. The objects include ones that cannot converge
//! to Ready: a role refused by the tenant ceiling, a member given it, a
//! workspace whose namespace someone else made, and a member of that
//! workspace. They are reported once, then left alone.

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ObjectMeta, PostParams};
use workspace_operator::api::{Workspace, WorkspaceMember, WorkspaceRole};

use crate::ceiling::{restart_operator_and_settle, writes_about_each, writes_since};
use crate::organizations::workspace;
use crate::support::*;

const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn converged_objects_cause_no_writes_running_or_after_restart() {
    let Opening { admin, scope, org } = opening_with_organization("idle").await;
    workspace(
        &admin,
        &org,
        "a",
        "{owner: {kind: User, name: carol}, plan: pro, variables: {X: y}}",
    )
    .await;
    workspace(&admin, &org, "b", "{archived: true}").await;
    wait_ready(
        &Api::<Workspace>::namespaced(admin.clone(), &org),
        "default",
        "True",
        LIMIT,
    )
    .await;

    // What cannot become Ready. The namespace of workspace "taken" is the
    // admin's, made before the workspace.
    let taken_ns = format!("{org}--taken");
    let plain = Namespace {
        metadata: ObjectMeta {
            name: Some(taken_ns.clone()),
            labels: Some([("wsop-test".to_string(), scope.id.clone())].into()),
            ..Default::default()
        },
        ..Default::default()
    };
    // As the API server stored it (it adds kubernetes.io/metadata.name).
    let plain = Api::<Namespace>::all(admin.clone())
        .create(&PostParams::default(), &plain)
        .await
        .unwrap_or_else(|e| panic!("create namespace {taken_ns}: {e}"));
    let refused_role = scope.name("refused");
    let refused_member = scope.name("a-refused");
    let taken_member = scope.name("taken-bob");
    for yaml in [
        format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: taken, namespace: {org}}}, spec: {{}}}}"
        ),
        format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceRole, metadata: {{name: {refused_role}, namespace: {org}}}, \
             spec: {{rules: [{{apiGroups: [''], resources: [namespaces], verbs: [get, patch, delete]}}]}}}}"
        ),
        format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceMember, metadata: {{name: {refused_member}, namespace: {org}}}, \
             spec: {{workspace: a, subject: {{kind: User, name: bob}}, roles: [viewer, {refused_role}]}}}}"
        ),
        format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceMember, metadata: {{name: {taken_member}, namespace: {org}}}, \
             spec: {{workspace: taken, subject: {{kind: User, name: bob}}, roles: [viewer]}}}}"
        ),
    ] {
        apply_yaml(&admin, &yaml).await;
    }
    let workspaces = Api::<Workspace>::namespaced(admin.clone(), &org);
    let roles = Api::<WorkspaceRole>::namespaced(admin.clone(), &org);
    let members = Api::<WorkspaceMember>::namespaced(admin.clone(), &org);
    wait_not_ready(&workspaces, "taken", "NamespaceConflict", LIMIT).await;
    wait_not_ready(&roles, &refused_role, "BeyondCeiling", LIMIT).await;
    wait_not_ready(&members, &refused_member, "RoleNotReady", LIMIT).await;
    wait_not_ready(&members, &taken_member, "NamespaceNotOwned", LIMIT).await;

    // Let in-flight follow-up reconciles (triggered by our own writes) settle.
    tokio::time::sleep(Duration::from_secs(5)).await;
    // Markers of the objects that cannot become Ready (the taken namespace,
    // the refused role, both members), counted apart for a precise report;
    // then everything of the scope (the Workspace "taken" included).
    let stuck = vec![
        taken_ns.clone(),
        refused_role.clone(),
        refused_member.clone(),
        taken_member.clone(),
    ];
    let stuck_converged = writes_about_each(&stuck);
    let converged = operator_writes_about(&scope.id);
    assert!(
        !converged.is_empty(),
        "the audit log shows the operator's writes"
    );
    assert!(
        stuck_converged[1..].iter().all(|w| !w.is_empty()),
        "the audit log shows the status writes about {:?}: {stuck_converged:?}",
        &stuck[1..]
    );

    tokio::time::sleep(Duration::from_secs(15)).await;
    let stuck_idle = writes_since(&stuck, &stuck_converged);
    assert!(
        stuck_idle.is_empty(),
        "writes about objects that cannot become Ready, while idle: {stuck_idle:#?}"
    );
    let idle = operator_writes_about(&scope.id);
    assert_eq!(
        idle[converged.len()..],
        [] as [String; 0],
        "writes while idle"
    );

    // After a restart, once a fresh organization converged (the restarted
    // operator has worked through its start-up queue).
    restart_operator_and_settle(&admin).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let stuck_after = writes_since(&stuck, &stuck_converged);
    assert!(
        stuck_after.is_empty(),
        "writes about objects that cannot become Ready, after a restart: {stuck_after:#?}"
    );
    let after_restart = operator_writes_about(&scope.id);
    assert_eq!(
        after_restart[converged.len()..],
        [] as [String; 0],
        "writes after a restart"
    );
    // Still reported as they were, and the admin's namespace untouched.
    wait_not_ready(&workspaces, "taken", "NamespaceConflict", LIMIT).await;
    wait_not_ready(&roles, &refused_role, "BeyondCeiling", LIMIT).await;
    wait_not_ready(&members, &taken_member, "NamespaceNotOwned", LIMIT).await;
    let ns = Api::<Namespace>::all(admin.clone())
        .get(&taken_ns)
        .await
        .unwrap();
    assert_eq!(
        ns.metadata.labels, plain.metadata.labels,
        "the operator marked {taken_ns}"
    );
}
