//! Deletion rules: unlink before delete, the protected default workspace,
//! organizations that wait for their workspaces, Retain, and nothing deleted
//! that the operator cannot prove it made.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use workspace_operator::api::{Organization, Workspace, WorkspaceMember};

use crate::organizations::workspace;
use crate::support::*;

const LIMIT: Duration = Duration::from_secs(90);

async fn member(admin: &Client, org: &str, name: &str, workspace: &str, user: &str) {
    apply_yaml(
        admin,
        &format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceMember, metadata: {{name: {name}, namespace: {org}}}, \
             spec: {{workspace: {workspace}, subject: {{kind: User, name: {user}}}, roles: [viewer]}}}}"
        ),
    )
    .await;
}

fn condition(ws: &Workspace, type_: &str) -> Option<String> {
    ws.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
        .map(|c| c.message.clone())
}

#[tokio::test]
async fn workspace_with_linked_members_waits_until_they_are_unlinked() {
    let Opening { admin, scope, .. } = opening_with_organization("unlink").await;
    workspace(
        &admin,
        &scope.id,
        "team",
        "{owner: {kind: User, name: carol}}",
    )
    .await;
    member(&admin, &scope.id, "team-bob", "team", "bob").await;
    member(&admin, &scope.id, "team-erin", "team", "erin").await;
    // A membership of the owner does not count: the owner is never unlinked.
    member(&admin, &scope.id, "team-carol", "team", "carol").await;

    let workspaces = Api::<Workspace>::namespaced(admin.clone(), &scope.id);
    workspaces
        .delete("team", &DeleteParams::default())
        .await
        .unwrap();
    let blocked = eventually("DeletionBlocked naming the members", LIMIT, || async {
        let ws = workspaces.get("team").await.map_err(|e| e.to_string())?;
        condition(&ws, "DeletionBlocked").ok_or_else(|| format!("{:?}", ws.status))
    })
    .await;
    assert!(
        blocked.contains("team-bob") && blocked.contains("team-erin"),
        "{blocked}"
    );
    assert!(
        !blocked.contains("team-carol"),
        "the owner's membership must not block: {blocked}"
    );
    assert!(
        blocked.contains("kubectl delete workspacemember"),
        "{blocked}"
    );
    eventually("a DeletionBlocked event", LIMIT, || async {
        let events = events_for(&admin, &scope.id, "team").await;
        if events
            .iter()
            .any(|e| e.starts_with("DeletionBlocked") && e.contains("team-bob"))
        {
            Ok(())
        } else {
            Err(format!("{events:?}"))
        }
    })
    .await;
    let ns = format!("{}--team", scope.id);
    let namespaces = Api::<Namespace>::all(admin.clone());
    assert!(
        namespaces
            .get(&ns)
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none(),
        "namespace kept while blocked"
    );

    let members = Api::<WorkspaceMember>::namespaced(admin.clone(), &scope.id);
    members
        .delete("team-bob", &DeleteParams::default())
        .await
        .unwrap();
    eventually("only erin left in the message", LIMIT, || async {
        let ws = workspaces.get("team").await.map_err(|e| e.to_string())?;
        let m = condition(&ws, "DeletionBlocked").unwrap_or_default();
        if m.contains("team-erin") && !m.contains("team-bob") {
            Ok(())
        } else {
            Err(m)
        }
    })
    .await;
    members
        .delete("team-erin", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&workspaces, "team", LIMIT).await;
    wait_gone(&namespaces, &ns, LIMIT).await;
}

#[tokio::test]
async fn default_workspace_cannot_be_deleted_while_its_organization_lives() {
    let Opening { admin, scope, .. } = opening_with_organization("default").await;
    let workspaces = Api::<Workspace>::namespaced(admin.clone(), &scope.id);
    wait_ready(&workspaces, "default", "True", LIMIT).await;
    workspaces
        .delete("default", &DeleteParams::default())
        .await
        .unwrap();
    let why = eventually(
        "DeletionBlocked on the default workspace",
        LIMIT,
        || async {
            let ws = workspaces.get("default").await.map_err(|e| e.to_string())?;
            condition(&ws, "DeletionBlocked").ok_or_else(|| "not yet".to_string())
        },
    )
    .await;
    assert!(
        why.contains("default workspace") && why.contains("Delete the Organization"),
        "{why}"
    );
    let ns = Api::<Namespace>::all(admin.clone())
        .get(&format!("{}--default", scope.id))
        .await
        .unwrap();
    assert!(ns.metadata.deletion_timestamp.is_none());
}

#[tokio::test]
async fn organization_waits_for_its_workspaces_then_removes_everything() {
    let Opening { admin, scope, .. } = opening_with_organization("orgdel").await;
    workspace(&admin, &scope.id, "one", "{}").await;
    let orgs = Api::<Organization>::all(admin.clone());
    let workspaces = Api::<Workspace>::namespaced(admin.clone(), &scope.id);
    let namespaces = Api::<Namespace>::all(admin.clone());

    orgs.delete(&scope.id, &DeleteParams::default())
        .await
        .unwrap();
    let why = eventually("organization DeletionBlocked", LIMIT, || async {
        let org = orgs.get(&scope.id).await.map_err(|e| e.to_string())?;
        org.status
            .and_then(|s| {
                s.conditions
                    .into_iter()
                    .find(|c| c.type_ == "DeletionBlocked")
            })
            .map(|c| c.message)
            .ok_or_else(|| "not yet".to_string())
    })
    .await;
    assert!(why.contains("one") && !why.contains("default"), "{why}");
    // The default workspace stays while the organization waits.
    assert!(
        workspaces
            .get("default")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none()
    );

    workspaces
        .delete("one", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&orgs, &scope.id, LIMIT).await;
    for ns in [
        scope.id.clone(),
        format!("{}--one", scope.id),
        format!("{}--default", scope.id),
    ] {
        wait_gone(&namespaces, &ns, LIMIT).await;
    }
    let cluster_roles = Api::<k8s_openapi::api::rbac::v1::ClusterRole>::all(admin.clone());
    for name in [
        format!("workspaces.dev:role:{}:admin", scope.id),
        format!("workspaces.dev:organization:{}", scope.id),
    ] {
        wait_gone(&cluster_roles, &name, LIMIT).await;
    }
}

#[tokio::test]
async fn retain_keeps_the_namespace_and_its_contents() {
    let Opening { admin, scope, .. } = opening_with_organization("retain").await;
    workspace(&admin, &scope.id, "keep", "{deletionPolicy: Retain}").await;
    let ns = format!("{}--keep", scope.id);
    let data = ConfigMap {
        metadata: ObjectMeta {
            name: Some("precious".into()),
            ..Default::default()
        },
        data: Some([("k".to_string(), "v".to_string())].into()),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &data)
        .await
        .unwrap();

    let workspaces = Api::<Workspace>::namespaced(admin.clone(), &scope.id);
    workspaces
        .delete("keep", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&workspaces, "keep", LIMIT).await;
    let kept = Api::<Namespace>::all(admin.clone())
        .get(&ns)
        .await
        .expect("namespace retained");
    assert!(kept.metadata.deletion_timestamp.is_none());
    // Kept in the organization (guarded, counted) until the platform
    // deletes it: precedence.rs shows the guardrails and the release.
    assert!(
        kept.annotations()
            .contains_key("workspaces.dev/retained-at"),
        "retained: {:?}",
        kept.annotations()
    );
    Api::<ConfigMap>::namespaced(admin.clone(), &ns)
        .get("precious")
        .await
        .expect("contents kept");
}

/// `spec.deletionProtection: true` makes the API server refuse the delete of
/// a Workspace (as an Argo CD prune or a stray `kubectl delete` would send
/// it) and of an Organization, for everyone, until it is set back to false;
/// organization admins cannot lift their Organization's.
#[tokio::test]
async fn a_protected_workspace_or_organization_survives_a_delete() {
    let Opening { admin, scope, .. } = opening_with_organization("protect").await;
    let org = scope.id.clone();
    let cluster = cluster();
    workspace(&admin, &org, "vault", "{deletionProtection: true}").await;
    let workspaces = Api::<Workspace>::namespaced(admin.clone(), &org);
    let alice = cluster.user_kubeconfig("alice");

    // An organization admin's kubectl delete is refused, saying why.
    let out = cluster.kubectl_with(
        &alice,
        &["delete", "workspace", "vault", "-n", &org, "--wait=false"],
        None,
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "deleted: {said}");
    assert!(
        said.contains("Workspace vault is protected from deletion")
            && said.contains("spec.deletionProtection to false"),
        "{said}"
    );
    // So is the cluster admin's (exempt from other policies), and a
    // delete of the whole collection.
    let refused = workspaces
        .delete("vault", &DeleteParams::default())
        .await
        .expect_err("the admin's delete is refused");
    assert!(
        refused.to_string().contains("protected from deletion"),
        "{refused}"
    );
    let _ = workspaces
        .delete_collection(&DeleteParams::default(), &Default::default())
        .await;
    let ws = workspaces.get("vault").await.unwrap();
    assert!(ws.metadata.deletion_timestamp.is_none());
    assert_eq!(condition(&ws, "DeletionBlocked"), None);

    // The platform protects the Organization; its admins cannot lift it.
    let orgs = Api::<Organization>::all(admin.clone());
    let protect = |on: bool| serde_json::json!({"spec": {"deletionProtection": on}});
    orgs.patch(&org, &PatchParams::default(), &Patch::Merge(&protect(true)))
        .await
        .unwrap();
    let as_alice = Api::<Organization>::all(cluster.user("alice").await);
    let lifted = as_alice
        .patch(
            &org,
            &PatchParams::default(),
            &Patch::Merge(&protect(false)),
        )
        .await;
    let said = lifted
        .expect_err("an organization admin lifted it")
        .to_string();
    assert!(said.contains("may change only spec.admins"), "{said}");
    let refused = orgs
        .delete(&org, &DeleteParams::default())
        .await
        .expect_err("a protected organization's delete is refused");
    assert!(
        refused
            .to_string()
            .contains(&format!("Organization {org} is protected")),
        "{refused}"
    );
    orgs.patch(
        &org,
        &PatchParams::default(),
        &Patch::Merge(&protect(false)),
    )
    .await
    .unwrap();

    // Lifted by someone who may edit the Workspace, the delete goes through.
    let out = cluster.kubectl_with(
        &alice,
        &[
            "patch",
            "workspace",
            "vault",
            "-n",
            &org,
            "--type=merge",
            "-p",
            r#"{"spec":{"deletionProtection":false}}"#,
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cluster.kubectl_with(
        &alice,
        &["delete", "workspace", "vault", "-n", &org, "--wait=false"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_gone(&workspaces, "vault", LIMIT).await;
}
