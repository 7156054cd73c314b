//! Hand edits of what the operator generated are undone, and a namespace the
//! operator did not create is never taken over, whatever its name.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;
use workspace_operator::api::{Organization, WorkspaceMember};
use workspace_operator::ownership;

use crate::organizations::workspace;
use crate::support::*;

const LIMIT: Duration = Duration::from_secs(60);

fn managed() -> ListParams {
    ListParams::default().labels(&ownership::managed_selector())
}

/// The single managed object of a kind in a namespace.
async fn only<K>(api: &Api<K>) -> K
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    let mut items = api.list(&managed()).await.unwrap().items;
    assert_eq!(items.len(), 1, "{items:?}");
    items.remove(0)
}

#[tokio::test]
async fn hand_edits_to_generated_children_are_undone() {
    let Opening { admin, org, .. } = opening_with_organization("tamper").await;
    workspace(&admin, &org, "lab2", "{acceptAnonymous: false}").await;
    workspace(
        &admin,
        &org,
        "lab",
        "{acceptAnonymous: false, sharedCredentials: [{secretName: token, workspaces: [lab2]}]}",
    )
    .await;
    let lab = format!("{org}--lab");
    let lab2 = format!("{org}--lab2");
    apply_yaml(&admin, &format!("{{apiVersion: v1, kind: Secret, metadata: {{name: token, namespace: {lab}}}, stringData: {{token: t0}}}}")).await;
    apply_yaml(&admin, &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceMember, metadata: {{name: lab-bob, namespace: {org}}}, spec: {{workspace: lab, subject: {{kind: User, name: bob}}, roles: [editor]}}}}")).await;
    wait_ready(
        &Api::<WorkspaceMember>::namespaced(admin.clone(), &org),
        "lab-bob",
        "True",
        LIMIT,
    )
    .await;
    let bob = cluster().user("bob").await;
    let mallory = cluster().user("mallory").await;
    wait_access(&bob, "create", "pods", &lab, true).await;

    // A RoleBinding edited to let someone else in: the edit is undone.
    let bindings = Api::<RoleBinding>::namespaced(admin.clone(), &lab);
    let name = "workspaces.dev:member:lab-bob:editor";
    let extra = json!({"subjects": [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"},
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mallory"}
    ]});
    bindings
        .patch(name, &PatchParams::default(), &Patch::Merge(&extra))
        .await
        .unwrap();
    eventually("the binding's subjects restored", LIMIT, || async {
        let b = bindings.get(name).await.map_err(|e| e.to_string())?;
        let names: Vec<String> = b
            .subjects
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.name)
            .collect();
        (names == ["bob"])
            .then_some(())
            .ok_or_else(|| format!("{names:?}"))
    })
    .await;
    wait_access(&mallory, "create", "pods", &lab, false).await;

    // The same binding deleted: restored, and bob's access with it.
    bindings
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
    eventually("the binding restored", LIMIT, || async {
        bindings
            .get_opt(name)
            .await
            .map_err(|e| e.to_string())?
            .map(drop)
            .ok_or_else(|| "absent".to_string())
    })
    .await;
    wait_access(&bob, "create", "pods", &lab, true).await;

    // The quota raised by hand: lowered back to the plan.
    let quotas = Api::<ResourceQuota>::namespaced(admin.clone(), &lab);
    let quota = only(&quotas).await;
    let raise = json!({"spec": {"hard": {"pods": "999"}}});
    quotas
        .patch(
            &quota.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&raise),
        )
        .await
        .unwrap();
    eventually("the quota restored", LIMIT, || async {
        let q = quotas
            .get(&quota.name_any())
            .await
            .map_err(|e| e.to_string())?;
        let pods = q
            .spec
            .and_then(|s| s.hard)
            .and_then(|h| h.get("pods").cloned())
            .map(|q| q.0);
        (pods.as_deref() == Some("10"))
            .then_some(())
            .ok_or_else(|| format!("{pods:?}"))
    })
    .await;

    // The isolation policy opened to everyone, then deleted: back each time.
    let policies = Api::<NetworkPolicy>::namespaced(admin.clone(), &lab);
    let policy = only(&policies).await;
    let wanted = policy.spec.clone();
    let open = json!({"spec": {"ingress": [{}]}});
    policies
        .patch(
            &policy.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&open),
        )
        .await
        .unwrap();
    eventually("the policy restored", LIMIT, || async {
        let p = policies
            .get(&policy.name_any())
            .await
            .map_err(|e| e.to_string())?;
        (p.spec == wanted)
            .then_some(())
            .ok_or_else(|| format!("{:?}", p.spec))
    })
    .await;
    policies
        .delete(&policy.name_any(), &DeleteParams::default())
        .await
        .unwrap();
    eventually("the policy recreated", LIMIT, || async {
        let p = policies
            .get_opt(&policy.name_any())
            .await
            .map_err(|e| e.to_string())?;
        match p {
            Some(p) if p.uid() != policy.uid() && p.spec == wanted => Ok(()),
            other => Err(format!("{:?}", other.map(|p| p.spec))),
        }
    })
    .await;

    // The credential copy deleted: copied again, same data.
    let copies = Api::<Secret>::namespaced(admin.clone(), &lab2);
    let copy = eventually("the copy", LIMIT, || async {
        copies
            .get_opt("token")
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "absent".to_string())
    })
    .await;
    copies
        .delete("token", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the copy restored", LIMIT, || async {
        match copies.get_opt("token").await.map_err(|e| e.to_string())? {
            Some(c) if c.uid() != copy.uid() && c.data == copy.data => Ok(()),
            other => Err(format!("{:?}", other.map(|c| c.uid()))),
        }
    })
    .await;
}

#[tokio::test]
async fn a_namespace_of_the_same_name_is_never_taken_over_even_for_an_organization() {
    let Opening { admin, scope, .. } = opening("squat").await;
    // Someone else's namespace, named as the organization will be.
    let namespaces = Api::<Namespace>::all(admin.clone());
    let theirs = namespaces
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(scope.id.clone()),
                    labels: Some([("team".to_string(), "payroll".to_string())].into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    apply_yaml(&admin, &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: Organization, metadata: {{name: {}}}, spec: {{admins: [{{kind: User, name: alice}}]}}}}", scope.id)).await;
    let orgs = Api::<Organization>::all(admin.clone());
    wait_not_ready(&orgs, &scope.id, "NamespaceConflict", LIMIT).await;
    // Nothing was granted in it, and it is still theirs after the
    // organization is gone.
    let alice = cluster().user("alice").await;
    assert!(!can(&alice, "get", "secrets", Some(&scope.id)).await);
    orgs.delete(&scope.id, &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&orgs, &scope.id, LIMIT).await;
    let after = namespaces
        .get(&scope.id)
        .await
        .expect("their namespace stays");
    assert_eq!(after.uid(), theirs.uid());
    assert!(after.metadata.deletion_timestamp.is_none());
    assert_eq!(
        after.labels().get("team").map(String::as_str),
        Some("payroll")
    );
    assert!(!after.labels().contains_key(ownership::MANAGED_BY));
    let rbs = Api::<RoleBinding>::namespaced(admin.clone(), &scope.id);
    assert!(rbs.list(&managed()).await.unwrap().items.is_empty());
    delete_namespace(&admin, &scope.id).await;

    // System namespaces cannot even be named: refused at admission, and
    // kube-system carries no mark of the operator.
    for name in ["kube-system", "default", "kube-public", "kube-node-lease"] {
        let org = json!({"apiVersion": "workspaces.dev/v1alpha1", "kind": "Organization", "metadata": {"name": name}, "spec": {}});
        match apply_value(&admin, &org).await {
            Err(kube::Error::Api(e)) => assert_eq!(e.code, 422, "{name}: {}", e.message),
            other => panic!("{name}: {other:?}"),
        }
        let ns = namespaces.get(name).await.unwrap();
        assert!(!ns.labels().contains_key(ownership::MANAGED_BY), "{name}");
    }
}
