//! Access as real users hit it, each with their own credentials: organization
//! admins, owners, member groups, outsiders, and archive mode.

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use workspace_operator::api::{Organization, Workspace};

use crate::organizations::{organization, workspace};
use crate::support::*;

#[tokio::test]
async fn organization_admins_manage_their_own_organization_only() {
    operator().await;
    let cluster = cluster();
    let admin = cluster.admin().await;
    let mine = Scope::new("mine");
    let theirs = Scope::new("theirs");
    organization(&admin, &mine).await;
    // globex's admin is dave; alice is not an admin there.
    apply_yaml(
        &admin,
        &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: Organization, metadata: {{name: {}}}, spec: {{admins: [{{kind: User, name: dave}}]}}}}", theirs.id),
    )
    .await;
    wait_ready(
        &Api::<Organization>::all(admin.clone()),
        &theirs.id,
        "True",
        Duration::from_secs(60),
    )
    .await;

    let alice = cluster.user("alice").await;
    for (verb, resource) in [
        ("create", "workspaces.dev/workspaces"),
        ("delete", "workspaces.dev/workspacemembers"),
        ("create", "workspaces.dev/workspaceroles"),
        ("create", "secrets"),
        ("update", "configmaps"),
    ] {
        wait_access(&alice, verb, resource, &mine.id, true).await;
        assert!(
            !can(&alice, verb, resource, Some(&theirs.id)).await,
            "alice may {verb} {resource} in {}",
            theirs.id
        );
    }
    // Nothing else, even at home: no RBAC, no pods in the organization namespace.
    assert!(
        !can(
            &alice,
            "create",
            "rbac.authorization.k8s.io/rolebindings",
            Some(&mine.id)
        )
        .await
    );
    assert!(!can(&alice, "create", "pods", Some(&mine.id)).await);

    // For real, through the API: alice creates a workspace at home, not next door.
    let as_alice = Api::<Workspace>::namespaced(alice.clone(), &mine.id);
    apply_value(
        &alice,
        &serde_json::json!({
            "apiVersion": "workspaces.dev/v1alpha1", "kind": "Workspace",
            "metadata": {"name": "by-alice", "namespace": mine.id}, "spec": {}
        }),
    )
    .await
    .expect("alice creates a workspace in her organization");
    wait_ready(&as_alice, "by-alice", "True", Duration::from_secs(60)).await;
    let err = apply_value(
        &alice,
        &serde_json::json!({
            "apiVersion": "workspaces.dev/v1alpha1", "kind": "Workspace",
            "metadata": {"name": "intruder", "namespace": theirs.id}, "spec": {}
        }),
    )
    .await
    .expect_err("alice cannot create in another organization");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403),
        "{err}"
    );

    // Her own Organization object, readable; the other one, not.
    Api::<Organization>::all(alice.clone())
        .get(&mine.id)
        .await
        .expect("alice reads her organization");
    let err = Api::<Organization>::all(alice.clone())
        .get(&theirs.id)
        .await
        .expect_err("not theirs");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403),
        "{err}"
    );
    // And she is an admin inside every workspace of hers.
    wait_access(
        &alice,
        "create",
        "apps/deployments",
        &format!("{}--by-alice", mine.id),
        true,
    )
    .await;
    assert!(
        !can(
            &alice,
            "get",
            "pods",
            Some(&format!("{}--default", theirs.id))
        )
        .await
    );
}

#[tokio::test]
async fn owners_members_and_outsiders_get_exactly_their_access() {
    let Opening { admin, scope, .. } = opening_with_organization("access").await;
    let cluster = cluster();
    workspace(
        &admin,
        &scope.id,
        "open",
        "{owner: {kind: User, name: carol}, acceptAnonymous: true}",
    )
    .await;
    workspace(
        &admin,
        &scope.id,
        "closed",
        "{owner: {kind: User, name: carol}, acceptAnonymous: false}",
    )
    .await;
    let open = format!("{}--open", scope.id);
    let closed = format!("{}--closed", scope.id);

    // The owner is admin inside: writes workloads and Secrets, for real.
    let carol = cluster.user("carol").await;
    wait_access(&carol, "create", "apps/deployments", &closed, true).await;
    assert!(can(&carol, "get", "secrets", Some(&closed)).await);
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("notes".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(carol.clone(), &closed)
        .create(&PostParams::default(), &cm)
        .await
        .expect("owner writes");
    // ... but cannot hand out access behind the operator's back.
    assert!(
        !can(
            &carol,
            "create",
            "rbac.authorization.k8s.io/rolebindings",
            Some(&closed)
        )
        .await
    );

    // bob is in acme-staff: the open workspace lets him look, the closed one not.
    let bob = cluster.user("bob").await;
    wait_access(&bob, "list", "pods", &open, true).await;
    assert!(
        !can(&bob, "create", "pods", Some(&open)).await,
        "anonymous role is viewer"
    );
    assert!(!can(&bob, "list", "pods", Some(&closed)).await);
    Api::<ConfigMap>::namespaced(bob.clone(), &open)
        .list(&ListParams::default())
        .await
        .expect("bob lists for real");

    // mallory is nobody here.
    let mallory = cluster.user("mallory").await;
    for ns in [&open, &closed, &scope.id] {
        assert!(!can(&mallory, "list", "pods", Some(ns)).await);
        assert!(!can(&mallory, "get", "configmaps", Some(ns)).await);
    }
    let err = Api::<ConfigMap>::namespaced(mallory.clone(), &open)
        .list(&ListParams::default())
        .await
        .expect_err("outsider");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403),
        "{err}"
    );

    // Turning anonymous access off removes bob's access.
    workspace(
        &admin,
        &scope.id,
        "open",
        "{owner: {kind: User, name: carol}, acceptAnonymous: false}",
    )
    .await;
    wait_access(&bob, "list", "pods", &open, false).await;
}

#[tokio::test]
async fn archived_workspace_is_read_only_for_everyone_until_restored() {
    let Opening { admin, scope, .. } = opening_with_organization("archive").await;
    let cluster = cluster();
    workspace(
        &admin,
        &scope.id,
        "old",
        "{owner: {kind: User, name: carol}}",
    )
    .await;
    let ns = format!("{}--old", scope.id);
    let (carol, alice) = (cluster.user("carol").await, cluster.user("alice").await);
    wait_access(&carol, "create", "configmaps", &ns, true).await;

    let ws = workspace(
        &admin,
        &scope.id,
        "old",
        "{owner: {kind: User, name: carol}, archived: true}",
    )
    .await;
    assert_eq!(
        ws.status.unwrap().phase,
        Some(workspace_operator::api::WorkspacePhase::Archived)
    );
    for user in [&carol, &alice] {
        wait_access(user, "create", "configmaps", &ns, false).await;
        assert!(!can(user, "delete", "apps/deployments", Some(&ns)).await);
        assert!(
            can(user, "list", "configmaps", Some(&ns)).await,
            "still readable"
        );
    }
    eventually(
        "an Event says it was archived",
        Duration::from_secs(30),
        || async {
            let events = events_for(&admin, &scope.id, "old").await;
            if events.iter().any(|e| e.starts_with("Archived: ")) {
                Ok(())
            } else {
                Err(format!("{events:?}"))
            }
        },
    )
    .await;
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("late".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let err = Api::<ConfigMap>::namespaced(carol.clone(), &ns)
        .create(&PostParams::default(), &cm)
        .await
        .expect_err("read-only");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403),
        "{err}"
    );

    workspace(
        &admin,
        &scope.id,
        "old",
        "{owner: {kind: User, name: carol}, archived: false}",
    )
    .await;
    wait_access(&carol, "create", "configmaps", &ns, true).await;
    Api::<ConfigMap>::namespaced(carol.clone(), &ns)
        .create(&PostParams::default(), &cm)
        .await
        .expect("writable again");
    eventually(
        "an Event says it was restored",
        Duration::from_secs(30),
        || async {
            // The latest Ready Event (Events of one reason and message are
            // counted in a series) is newer than the Archived one.
            let latest = |reason: &'static str| {
                let admin = admin.clone();
                let ns = scope.id.clone();
                async move {
                    use k8s_openapi::api::events::v1::Event;
                    Api::<Event>::namespaced(admin, &ns)
                        .list(&ListParams::default())
                        .await
                        .map(|l| {
                            l.items
                                .into_iter()
                                .filter(|e| {
                                    e.regarding.as_ref().and_then(|r| r.name.as_deref())
                                        == Some("old")
                                        && e.reason.as_deref() == Some(reason)
                                })
                                .filter_map(|e| {
                                    e.series
                                        .map(|s| s.last_observed_time.0)
                                        .or(e.event_time.map(|t| t.0))
                                })
                                .max()
                        })
                        .ok()
                        .flatten()
                }
            };
            match (latest("Archived").await, latest("Ready").await) {
                (Some(archived), Some(ready)) if ready > archived => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
}
