//! The tenant ceiling, sealed: every field a tenant writes is input to a more
//! powerful process, so the operator writes only into namespaces carrying its
//! marks for that very workspace, releases a retained namespace clean, puts
//! its children back exactly, carries out a change even when a tenant froze
//! one child, refuses the cluster's own identities and foreign
//! ServiceAccounts as subjects, pins DNS, bounds names at admission, and the
//! admission policies keep its marks its own. Each attempt is made by the
//! tenant with its own credentials; the admin only sets the scene. Outcomes
//! are checked where they matter: what the API server lets people do, and
//! what is (not) in the namespaces.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject as RbacSubject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, ResourceExt};
use serde_json::{Value, json};
use workspace_operator::api::{Organization, Workspace, WorkspaceMember, WorkspaceRole};
use workspace_operator::ownership;

use crate::isolation::two_tenants;
use crate::support::*;

const LIMIT: Duration = Duration::from_secs(90);

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).expect("valid YAML")
}

fn workspace_yaml(org: &str, name: &str, spec: &str) -> Value {
    yaml(&format!(
        "{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: {name}, namespace: {org}}}, spec: {spec}}}"
    ))
}

fn member_yaml(org: &str, name: &str, ws: &str, subject: &str, roles: &str) -> Value {
    yaml(&format!(
        "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceMember, metadata: {{name: '{name}', namespace: {org}}}, \
         spec: {{workspace: {ws}, subject: {subject}, roles: {roles}}}}}"
    ))
}

/// Applies `value` as `client`, which must be allowed to.
async fn apply(client: &Client, value: &Value) {
    apply_value(client, value)
        .await
        .unwrap_or_else(|e| panic!("apply failed: {e}\n{value}"));
}

/// A Secret `name` in `ns` with one key, written as `client`.
async fn put_secret(client: &Client, ns: &str, name: &str, value: &str) {
    apply(
        client,
        &yaml(&format!(
            "{{apiVersion: v1, kind: Secret, metadata: {{name: {name}, namespace: {ns}}}, stringData: {{token: {value}}}}}"
        )),
    )
    .await;
}

/// The platform shares Secret `secret` of the organization namespace with
/// every workspace (`spec.sharedCredentials`).
async fn share_org_wide(admin: &Client, org: &str, secret: &str) {
    let patch = json!({"spec": {"sharedCredentials": [{"secretName": secret}]}});
    Api::<Organization>::all(admin.clone())
        .patch(org, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

/// Waits until Secret `name` exists in `ns`.
async fn wait_secret(admin: &Client, ns: &str, name: &str) -> Secret {
    let secrets = Api::<Secret>::namespaced(admin.clone(), ns);
    eventually(&format!("Secret {ns}/{name}"), LIMIT, || async {
        secrets
            .get_opt(name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "absent".to_string())
    })
    .await
}

fn managed() -> ListParams {
    ListParams::default().labels(&ownership::managed_selector())
}

/// Names of every RoleBinding in `ns`, as the admin lists them.
async fn role_bindings(admin: &Client, ns: &str) -> Vec<String> {
    Api::<RoleBinding>::namespaced(admin.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|b| b.name_any())
        .collect()
}

/// Waits until condition `type_` of `name` is `status` with `reason`, and
/// returns its message.
async fn wait_condition<K>(
    api: &Api<K>,
    name: &str,
    type_: &str,
    status: &str,
    reason: &str,
) -> String
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + serde::Serialize,
{
    eventually(
        &format!("{name}: {type_}={status} {reason}"),
        LIMIT,
        || async {
            let obj = api.get(name).await.map_err(|e| e.to_string())?;
            let v = serde_json::to_value(&obj).unwrap();
            let conditions = v["status"]["conditions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            conditions
                .iter()
                .find(|c| c["type"] == type_ && c["status"] == status && c["reason"] == reason)
                .map(|c| c["message"].as_str().unwrap_or_default().to_string())
                .ok_or_else(|| format!("{conditions:?}"))
        },
    )
    .await
}

/// The API server's refusal of `result`: (HTTP code, message).
fn refusal<T: std::fmt::Debug>(result: Result<T, kube::Error>, what: &str) -> (u16, String) {
    match result {
        Ok(obj) => panic!("{what}: accepted, but should have been refused: {obj:?}"),
        Err(kube::Error::Api(e)) => (e.code, e.message),
        Err(e) => panic!("{what}: unexpected error: {e}"),
    }
}

/// Asserts that `result` is a refusal by a ValidatingAdmissionPolicy (not by
/// RBAC, which would say "cannot ...").
fn by_policy<T: std::fmt::Debug>(result: Result<T, kube::Error>, what: &str) {
    let (code, message) = refusal(result, what);
    assert!(
        (code == 403 || code == 422) && message.contains("ValidatingAdmissionPolicy"),
        "{what}: refused, but not by an admission policy ({code}): {message}"
    );
}

/// Whether the user `user` (for example a ServiceAccount's
/// `system:serviceaccount:<ns>:<name>`) may `verb` `resource` in `ns`, as the
/// API server's authorizer answers the admin.
async fn user_can(admin: &Client, user: &str, verb: &str, resource: &str, ns: &str) -> bool {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.into()),
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(ns.into()),
                verb: Some(verb.into()),
                resource: Some(resource.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<SubjectAccessReview>::all(admin.clone())
        .create(&PostParams::default(), &review)
        .await
        .expect("access review")
        .status
        .is_some_and(|s| s.allowed)
}

/// The admin impersonating the operator's own user, `workspace-operator`.
/// An invite-only workspace `lab` made by `org_admin`, with test user `user`
/// as a member (`lab-<user>`) holding `role`; returns the Workspace once it
/// and the member are Ready.
async fn lab_with_member(
    admin: &Client,
    org_admin: &Client,
    org: &str,
    user: &str,
    role: &str,
) -> Workspace {
    let member = format!("lab-{user}");
    apply(
        org_admin,
        &workspace_yaml(org, "lab", "{acceptAnonymous: false}"),
    )
    .await;
    apply(
        org_admin,
        &member_yaml(
            org,
            &member,
            "lab",
            &format!("{{kind: User, name: {user}}}"),
            &format!("[{role}]"),
        ),
    )
    .await;
    let ws = wait_ready(
        &Api::<Workspace>::namespaced(admin.clone(), org),
        "lab",
        "True",
        LIMIT,
    )
    .await;
    wait_ready(
        &Api::<WorkspaceMember>::namespaced(admin.clone(), org),
        &member,
        "True",
        LIMIT,
    )
    .await;
    ws
}

async fn as_operator() -> Client {
    let path = &cluster().admin_kubeconfig;
    let kubeconfig = Kubeconfig::read_from(path).expect("admin kubeconfig");
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("admin config");
    config.auth_info.impersonate = Some(ownership::MANAGED_BY_VALUE.into());
    config.read_timeout = Some(Duration::from_secs(60));
    Client::try_from(config).expect("client")
}

/// A RoleBinding granting ClusterRole `role` to mallory in `ns`.
fn grant_mallory(
    ns: &str,
    name: &str,
    role: &str,
    labels: BTreeMap<String, String>,
) -> RoleBinding {
    RoleBinding {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            labels: Some(labels),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: role.into(),
        },
        subjects: Some(vec![RbacSubject {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "User".into(),
            name: "mallory".into(),
            namespace: None,
        }]),
    }
}

/// An unmarked namespace `name` with a `team` label, made by the admin.
async fn foreign_namespace(admin: &Client, name: &str) -> Namespace {
    Api::<Namespace>::all(admin.clone())
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    labels: Some([("team".to_string(), "someone-else".to_string())].into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("create namespace {name}: {e}"))
}

#[tokio::test]
async fn a_member_gets_nothing_in_a_namespace_the_operator_did_not_make() {
    let Opening { admin, org, .. } = opening_with_organization("own-foreign").await;
    let ns = format!("{org}--old");
    let default_ns = format!("{org}--default");

    // Someone else's namespace, named as workspace "old" of the organization
    // would be, holding a Secret of theirs.
    let theirs = foreign_namespace(&admin, &ns).await;
    put_secret(&admin, &ns, "theirs", "not-for-acme").await;
    let their_secret = Api::<Secret>::namespaced(admin.clone(), &ns)
        .get("theirs")
        .await
        .unwrap();
    // The organization shares a credential with every workspace.
    put_secret(&admin, &org, "registry", "pull").await;
    share_org_wide(&admin, &org, "registry").await;
    wait_secret(&admin, &default_ns, "registry").await;

    // alice makes the workspace, has it share "their" Secret with default,
    // and gives carol admin there.
    let alice = cluster().user("alice").await;
    apply(
        &alice,
        &workspace_yaml(
            &org,
            "old",
            "{acceptAnonymous: false, sharedCredentials: [{secretName: theirs, workspaces: [default]}]}",
        ),
    )
    .await;
    apply(
        &alice,
        &member_yaml(
            &org,
            "old-carol",
            "old",
            "{kind: User, name: carol}",
            "[admin]",
        ),
    )
    .await;

    let workspaces = Api::<Workspace>::namespaced(admin.clone(), &org);
    let members = Api::<WorkspaceMember>::namespaced(admin.clone(), &org);
    let orgs = Api::<Organization>::all(admin.clone());
    wait_not_ready(&workspaces, "old", "NamespaceConflict", LIMIT).await;
    let message = wait_not_ready(&members, "old-carol", "NamespaceNotOwned", LIMIT).await;
    assert!(message.contains(&ns), "{message}");

    // Nothing was written into their namespace: no binding, no copy.
    assert_eq!(role_bindings(&admin, &ns).await, Vec::<String>::new());
    let carol = cluster().user("carol").await;
    assert!(!can(&carol, "get", "secrets", Some(&ns)).await);
    assert!(!can(&carol, "list", "pods", Some(&ns)).await);
    assert!(!can(&alice, "get", "secrets", Some(&ns)).await);
    let secrets = Api::<Secret>::namespaced(admin.clone(), &ns);
    let names: Vec<String> = secrets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|s| s.name_any())
        .collect();
    assert_eq!(names, ["theirs"], "a copy was written into {ns}");
    let after = secrets.get("theirs").await.unwrap();
    assert_eq!(after.resource_version(), their_secret.resource_version());
    // ... and nothing was read from it: "theirs" reached no workspace.
    assert!(
        Api::<Secret>::namespaced(admin.clone(), &default_ns)
            .get_opt("theirs")
            .await
            .unwrap()
            .is_none(),
        "a Secret of the foreign namespace was copied into {default_ns}"
    );
    // The namespace itself is as they made it.
    let now = Api::<Namespace>::all(admin.clone()).get(&ns).await.unwrap();
    assert_eq!(now.uid(), theirs.uid());
    assert_eq!(now.labels(), theirs.labels());
    assert_eq!(now.annotations(), theirs.annotations());
    // The organization says why "old" got no copy.
    let message = wait_condition(
        &orgs,
        &org,
        "CredentialsShared",
        "False",
        "NamespaceNotOwned",
    )
    .await;
    assert!(message.contains("old"), "{message}");
}

#[tokio::test]
async fn a_retained_namespace_grants_nothing_and_only_its_workspace_takes_it_back() {
    let Opening { admin, org, .. } = opening_with_organization("own-retain").await;
    let ns = format!("{org}--keep");
    let alice = cluster().user("alice").await;
    let bob = cluster().user("bob").await;
    let carol = cluster().user("carol").await;

    let keep_spec =
        "{acceptAnonymous: false, deletionPolicy: Retain, owner: {kind: User, name: bob}}";
    apply(&alice, &workspace_yaml(&org, "keep", keep_spec)).await;
    apply(
        &alice,
        &workspace_yaml(&org, "src", "{acceptAnonymous: false}"),
    )
    .await;
    let workspaces = Api::<Workspace>::namespaced(admin.clone(), &org);
    wait_ready(&workspaces, "src", "True", LIMIT).await;
    wait_ready(&workspaces, "keep", "True", LIMIT).await;
    // Credentials shared into it: by a workspace and by the organization.
    put_secret(&alice, &format!("{org}--src"), "api-key", "k1").await;
    apply(
        &alice,
        &workspace_yaml(
            &org,
            "src",
            "{acceptAnonymous: false, sharedCredentials: [{secretName: api-key, workspaces: [keep]}]}",
        ),
    )
    .await;
    put_secret(&admin, &org, "registry", "pull").await;
    share_org_wide(&admin, &org, "registry").await;
    wait_secret(&admin, &ns, "api-key").await;
    wait_secret(&admin, &ns, "registry").await;
    // carol, an editor, keeps her own things there.
    apply(
        &alice,
        &member_yaml(
            &org,
            "keep-carol",
            "keep",
            "{kind: User, name: carol}",
            "[editor]",
        ),
    )
    .await;
    let members = Api::<WorkspaceMember>::namespaced(admin.clone(), &org);
    wait_ready(&members, "keep-carol", "True", LIMIT).await;
    wait_access(&carol, "create", "configmaps", &ns, true).await;
    wait_access(&bob, "get", "secrets", &ns, true).await;
    let own_cm = Api::<ConfigMap>::namespaced(carol.clone(), &ns)
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some("carols-notes".into()),
                    ..Default::default()
                },
                data: Some([("k".to_string(), "v".to_string())].into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    put_secret(&carol, &ns, "carols-secret", "mine").await;

    // Unlink first, then delete the workspace.
    Api::<WorkspaceMember>::namespaced(alice.clone(), &org)
        .delete("keep-carol", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&members, "keep-carol", LIMIT).await;
    Api::<Workspace>::namespaced(alice.clone(), &org)
        .delete("keep", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&workspaces, "keep", LIMIT).await;

    // Kept, granting nothing, still the organization's (guarded, counted).
    let namespaces = Api::<Namespace>::all(admin.clone());
    let kept = namespaces
        .get(&ns)
        .await
        .expect("the namespace is retained");
    assert!(kept.metadata.deletion_timestamp.is_none());
    assert!(
        kept.annotations()
            .contains_key("workspaces.dev/retained-at"),
        "{:?}",
        kept.annotations()
    );
    let bindings = Api::<RoleBinding>::namespaced(admin.clone(), &ns);
    let left: Vec<String> = bindings
        .list(&managed())
        .await
        .unwrap()
        .items
        .iter()
        .map(|b| b.name_any())
        .collect();
    assert!(
        left.is_empty(),
        "the operator's RoleBindings stay: {left:?}"
    );
    let secrets = Api::<Secret>::namespaced(admin.clone(), &ns);
    let copies: Vec<String> = secrets
        .list(&managed())
        .await
        .unwrap()
        .items
        .iter()
        .map(|s| s.name_any())
        .collect();
    assert!(copies.is_empty(), "credential copies stay: {copies:?}");
    assert!(!can(&bob, "get", "secrets", Some(&ns)).await);
    assert!(!can(&bob, "list", "pods", Some(&ns)).await);
    assert!(!can(&carol, "get", "configmaps", Some(&ns)).await);
    // The users' own objects stay.
    let cm = Api::<ConfigMap>::namespaced(admin.clone(), &ns)
        .get("carols-notes")
        .await
        .expect("carol's ConfigMap stays");
    assert_eq!(cm.uid(), own_cm.uid());
    secrets
        .get("carols-secret")
        .await
        .expect("carol's Secret stays");

    // Only a Workspace of the same name in the same organization takes it
    // back (restored, with the users' objects as they were); access then
    // follows the new Workspace and its members.
    apply(&alice, &workspace_yaml(&org, "keep", keep_spec)).await;
    apply(
        &alice,
        &member_yaml(
            &org,
            "keep-carol2",
            "keep",
            "{kind: User, name: carol}",
            "[admin]",
        ),
    )
    .await;
    wait_ready(&workspaces, "keep", "True", LIMIT).await;
    wait_ready(&members, "keep-carol2", "True", LIMIT).await;
    wait_access(&carol, "get", "configmaps", &ns, true).await;
    let again = namespaces.get(&ns).await.unwrap();
    assert_eq!(again.uid(), kept.uid());
    assert!(
        !again
            .annotations()
            .contains_key("workspaces.dev/retained-at")
    );
    let cm = Api::<ConfigMap>::namespaced(admin.clone(), &ns)
        .get("carols-notes")
        .await
        .unwrap();
    assert_eq!(cm.uid(), own_cm.uid());
}

#[tokio::test]
async fn generated_children_and_predefined_roles_are_put_back_exactly() {
    let Opening { admin, org, .. } = opening_with_organization("own-exact").await;
    let ns = format!("{org}--lab");
    let alice = cluster().user("alice").await;
    let bob = cluster().user("bob").await;
    lab_with_member(&admin, &alice, &org, "bob", "viewer").await;
    wait_access(&bob, "list", "pods", &ns, true).await;

    // The isolation policy's ingress peer widened to every namespace.
    let policies = Api::<NetworkPolicy>::namespaced(admin.clone(), &ns);
    let wanted = policies.get("workspace-isolation").await.unwrap().spec;
    let widen =
        json!([{"op": "add", "path": "/spec/ingress/0/from/0/namespaceSelector", "value": {}}]);
    let widened = policies
        .patch(
            "workspace-isolation",
            &PatchParams::default(),
            &Patch::Json::<()>(serde_json::from_value(widen).unwrap()),
        )
        .await
        .unwrap();
    let peer = |p: &NetworkPolicy| -> Option<NetworkPolicyPeer> {
        p.spec.as_ref()?.ingress.as_ref()?[0]
            .from
            .as_ref()?
            .first()
            .cloned()
    };
    assert_eq!(
        peer(&widened).and_then(|p| p.namespace_selector),
        Some(LabelSelector::default()),
        "the edit took"
    );
    eventually("the isolation policy put back exactly", LIMIT, || async {
        let p = policies
            .get("workspace-isolation")
            .await
            .map_err(|e| e.to_string())?;
        (p.spec == wanted)
            .then_some(())
            .ok_or_else(|| format!("{:?}", peer(&p)))
    })
    .await;

    // A key added to workspace-info, and another tool's label and annotation.
    let infos = Api::<ConfigMap>::namespaced(admin.clone(), &ns);
    let info = infos.get("workspace-info").await.unwrap();
    let edit = json!({
        "metadata": {
            "labels": {"other-tool.example/scanned": "yes"},
            "annotations": {"other-tool.example/note": "seen"}
        },
        "data": {"EXTRA": "smuggled"}
    });
    infos
        .patch(
            "workspace-info",
            &PatchParams::default(),
            &Patch::Merge(&edit),
        )
        .await
        .unwrap();
    let repaired = eventually("workspace-info's data put back exactly", LIMIT, || async {
        let c = infos
            .get("workspace-info")
            .await
            .map_err(|e| e.to_string())?;
        (c.data == info.data)
            .then_some(c.clone())
            .ok_or_else(|| format!("{:?}", c.data))
    })
    .await;
    assert_eq!(
        repaired
            .labels()
            .get("other-tool.example/scanned")
            .map(String::as_str),
        Some("yes"),
        "another tool's label was removed: {:?}",
        repaired.labels()
    );
    assert_eq!(
        repaired
            .annotations()
            .get("other-tool.example/note")
            .map(String::as_str),
        Some("seen"),
        "another tool's annotation was removed: {:?}",
        repaired.annotations()
    );

    // The organization admin widens the predefined viewer role: refused at
    // admission (deploy/admission-policies.yaml), or accepted and put back.
    // Then the same edit by the cluster admin, whom no policy stops: the
    // operator puts it back exactly.
    let roles = Api::<WorkspaceRole>::namespaced(admin.clone(), &org);
    let viewer = roles.get("viewer").await.unwrap();
    assert!(viewer.labels().contains_key(ownership::PREDEFINED));
    assert_eq!(viewer.spec.cluster_roles, None);
    let widen = yaml(&format!(
        "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceRole, metadata: {{name: viewer, namespace: {org}}}, spec: {{clusterRoles: [edit]}}}}"
    ));
    let put_back = || async {
        eventually("viewer put back exactly", LIMIT, || async {
            let r = roles.get("viewer").await.map_err(|e| e.to_string())?;
            (r.spec == viewer.spec)
                .then_some(())
                .ok_or_else(|| format!("clusterRoles: {:?}", r.spec.cluster_roles))
        })
        .await
    };
    match apply_value(&alice, &widen).await {
        Ok(applied) => assert_eq!(applied.data["spec"]["clusterRoles"], json!(["edit"])),
        refused => by_policy(refused, "alice widening the predefined viewer role"),
    }
    put_back().await;
    let applied = apply_value(&admin, &widen).await.unwrap();
    assert_eq!(applied.data["spec"]["clusterRoles"], json!(["edit"]));
    put_back().await;
    wait_ready(&roles, "viewer", "True", LIMIT).await;
    assert!(
        roles
            .get("viewer")
            .await
            .unwrap()
            .labels()
            .contains_key(ownership::PREDEFINED)
    );
    // A viewer still views (the widened role was refused meanwhile, and its
    // grants with it: they come back), and only views.
    wait_access(&bob, "list", "pods", &ns, true).await;
    assert!(!can(&bob, "create", "pods", Some(&ns)).await);
    assert!(!can(&bob, "update", "configmaps", Some(&ns)).await);
}

#[tokio::test]
async fn a_frozen_child_does_not_stop_the_next_change() {
    let Opening { admin, org, .. } = opening_with_organization("own-frozen").await;
    let (lab, other) = (format!("{org}--lab"), format!("{org}--other"));
    let alice = cluster().user("alice").await;
    let carol = cluster().user("carol").await;
    apply(
        &alice,
        &workspace_yaml(&org, "other", "{acceptAnonymous: false}"),
    )
    .await;
    apply(
        &alice,
        &workspace_yaml(
            &org,
            "lab",
            "{acceptAnonymous: false, variables: {STAGE: one}}",
        ),
    )
    .await;
    let workspaces = Api::<Workspace>::namespaced(admin.clone(), &org);
    wait_ready(&workspaces, "other", "True", LIMIT).await;
    wait_ready(&workspaces, "lab", "True", LIMIT).await;
    put_secret(&alice, &lab, "token", "t1").await;
    apply(
        &alice,
        &workspace_yaml(
            &org,
            "lab",
            "{acceptAnonymous: false, variables: {STAGE: one}, sharedCredentials: [{secretName: token, workspaces: [other]}]}",
        ),
    )
    .await;
    wait_secret(&admin, &other, "token").await;
    apply(
        &alice,
        &member_yaml(
            &org,
            "lab-carol",
            "lab",
            "{kind: User, name: carol}",
            "[editor]",
        ),
    )
    .await;
    wait_ready(
        &Api::<WorkspaceMember>::namespaced(admin.clone(), &org),
        "lab-carol",
        "True",
        LIMIT,
    )
    .await;
    wait_access(&carol, "patch", "configmaps", &lab, true).await;

    // carol, an editor, may write ConfigMaps but not the operator's: the
    // admission policy refuses her. The platform's admin (exempt) freezes
    // the generated ConfigMap while alice makes the next change: new
    // variables and, in the same apply, the share removed. Sent together,
    // so that the operator meets both at once.
    let infos = Api::<ConfigMap>::namespaced(admin.clone(), &lab);
    let info = infos.get("workspace-info").await.unwrap();
    let carols = Api::<ConfigMap>::namespaced(carol.clone(), &lab);
    let freeze = json!({"immutable": true});
    let change = workspace_yaml(
        &org,
        "lab",
        "{acceptAnonymous: false, variables: {STAGE: two}}",
    );
    let pp = PatchParams::default();
    let freeze = Patch::Merge(&freeze);
    match carols.patch("workspace-info", &pp, &freeze).await {
        Err(kube::Error::Api(s)) if s.code == 403 => {
            assert!(
                s.message
                    .contains("only the operator changes or deletes it"),
                "{}",
                s.message
            )
        }
        other => panic!("an editor froze the operator's ConfigMap: {other:?}"),
    }
    let (frozen, changed) = tokio::join!(
        infos.patch("workspace-info", &pp, &freeze),
        apply_value(&alice, &change),
    );
    let frozen = frozen.expect("the platform's admin may freeze it");
    assert_eq!(frozen.immutable, Some(true));
    changed.expect("alice changes her workspace");
    let replaced = eventually(
        "workspace-info replaced with the new data",
        LIMIT,
        || async {
            let c = infos
                .get_opt("workspace-info")
                .await
                .map_err(|e| e.to_string())?
                .ok_or("absent")?;
            let stage = c.data.as_ref().and_then(|d| d.get("STAGE")).cloned();
            (stage.as_deref() == Some("two"))
                .then_some(c.clone())
                .ok_or_else(|| format!("STAGE={stage:?}, immutable={:?}", c.immutable))
        },
    )
    .await;
    assert_ne!(replaced.uid(), info.uid(), "not replaced");
    assert_ne!(replaced.immutable, Some(true));
    let copies = Api::<Secret>::namespaced(admin.clone(), &other);
    wait_gone(&copies, "token", LIMIT).await;
    wait_ready(&workspaces, "lab", "True", LIMIT).await;
}

#[tokio::test]
async fn system_identities_and_foreign_service_accounts_are_not_subjects() {
    let Opening { admin, scope, .. } = opening("own-subj").await;
    let t = two_tenants(&admin, &scope).await;
    let alice = cluster().user("alice").await;
    let mallory = cluster().user("mallory").await;
    let private = format!("{}--private", t.a);
    let members = Api::<WorkspaceMember>::namespaced(admin.clone(), &t.a);
    let sa =
        |ns: &str, name: &str| format!("{{kind: ServiceAccount, name: {name}, namespace: '{ns}'}}");

    let refused = [
        (
            "everyone",
            "{kind: Group, name: 'system:authenticated'}".to_string(),
        ),
        (
            "anonymous",
            "{kind: User, name: 'system:anonymous'}".to_string(),
        ),
        ("kube-sa", sa("kube-system", "default")),
        ("b-ws-sa", sa(&format!("{}--ops", t.b), "default")),
        ("b-org-sa", sa(&t.b, "default")),
    ];
    let allowed = [
        ("own-ws-sa", sa(&private, "robot")),
        ("own-org-sa", sa(&t.a, "robot")),
    ];
    for (name, subject) in refused.iter().chain(&allowed) {
        apply(
            &alice,
            &member_yaml(&t.a, name, "private", subject, "[editor]"),
        )
        .await;
    }
    for (name, _) in &refused {
        let message = wait_not_ready(&members, name, "SubjectNotAllowed", LIMIT).await;
        assert!(!message.is_empty());
    }
    for (name, _) in &allowed {
        wait_ready(&members, name, "True", LIMIT).await;
    }

    // No binding for the refused ones, anywhere.
    for ns in [&private, &t.a] {
        let bindings = Api::<RoleBinding>::namespaced(admin.clone(), ns);
        for (name, _) in &refused {
            let made = bindings
                .list(&ListParams::default().labels(&format!("workspaces.dev/member={name}")))
                .await
                .unwrap()
                .items;
            assert!(made.is_empty(), "{name} got bindings in {ns}: {made:?}");
        }
    }
    // Asked of the authorizer: the refused subjects cannot, the allowed can.
    assert!(!can(&mallory, "list", "pods", Some(&private)).await);
    assert!(!can(&mallory, "get", "secrets", Some(&private)).await);
    for user in [
        "system:anonymous".to_string(),
        "system:serviceaccount:kube-system:default".to_string(),
        format!("system:serviceaccount:{}--ops:default", t.b),
        format!("system:serviceaccount:{}:default", t.b),
    ] {
        assert!(
            !user_can(&admin, &user, "get", "secrets", &private).await,
            "{user} may read Secrets in {private}"
        );
    }
    for user in [
        format!("system:serviceaccount:{private}:robot"),
        format!("system:serviceaccount:{}:robot", t.a),
    ] {
        assert!(
            user_can(&admin, &user, "create", "pods", &private).await,
            "{user} should be an editor in {private}"
        );
    }

    // A workspace handed to everyone as its owner.
    let open = format!("{}--open", t.a);
    apply(
        &alice,
        &workspace_yaml(
            &t.a,
            "open",
            "{owner: {kind: Group, name: 'system:authenticated'}}",
        ),
    )
    .await;
    let workspaces = Api::<Workspace>::namespaced(admin.clone(), &t.a);
    wait_not_ready(&workspaces, "open", "SubjectNotAllowed", LIMIT).await;
    assert!(!can(&mallory, "list", "pods", Some(&open)).await);
    assert!(!can(&mallory, "get", "secrets", Some(&open)).await);
    for b in Api::<RoleBinding>::namespaced(admin.clone(), &open)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
    {
        let name = b.name_any();
        let subjects = b.subjects.unwrap_or_default();
        assert!(
            subjects.iter().all(|s| !s.name.starts_with("system:")),
            "{name} binds {subjects:?}"
        );
    }
}

#[tokio::test]
async fn dns_egress_is_pinned_to_kube_system() {
    let Opening { admin, org, .. } = opening_with_organization("own-dns").await;
    let ns = format!("{org}--default");
    wait_ready(
        &Api::<Workspace>::namespaced(admin.clone(), &org),
        "default",
        "True",
        LIMIT,
    )
    .await;
    let policy = Api::<NetworkPolicy>::namespaced(admin.clone(), &ns)
        .get("workspace-isolation")
        .await
        .unwrap();
    let spec = policy.spec.unwrap();
    let pinned = NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(
                [(
                    "kubernetes.io/metadata.name".to_string(),
                    "kube-system".to_string(),
                )]
                .into(),
            ),
            match_expressions: None,
        }),
        pod_selector: Some(LabelSelector {
            match_labels: Some([("k8s-app".to_string(), "kube-dns".to_string())].into()),
            match_expressions: None,
        }),
        ip_block: None,
    };
    let same_namespace = NetworkPolicyPeer {
        pod_selector: Some(LabelSelector::default()),
        ..Default::default()
    };
    let egress = spec.egress.unwrap_or_default();
    let dns: Vec<_> = egress
        .iter()
        .filter(|r| {
            r.ports.iter().flatten().any(|p| {
                p.port == Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(53))
            })
        })
        .collect();
    assert_eq!(dns.len(), 1, "{egress:?}");
    assert_eq!(
        dns[0].to.as_deref(),
        Some(&[pinned.clone()][..]),
        "{egress:?}"
    );
    // Every other egress peer is the namespace itself.
    for rule in &egress {
        for peer in rule.to.iter().flatten() {
            assert!(
                *peer == pinned || *peer == same_namespace,
                "unpinned egress peer: {peer:?}"
            );
        }
    }
    for rule in spec.ingress.iter().flatten() {
        for peer in rule.from.iter().flatten() {
            assert_eq!(*peer, same_namespace, "ingress beyond the namespace");
        }
    }
}

#[tokio::test]
async fn names_carried_in_labels_are_bounded_at_admission() {
    let Opening { admin, org, .. } = opening_with_organization("own-limits").await;
    let alice = cluster().user("alice").await;
    let bob = "{kind: User, name: bob}";

    let long = "m".repeat(64);
    let (code, message) = refusal(
        apply_value(
            &alice,
            &member_yaml(&org, &long, "default", bob, "[viewer]"),
        )
        .await,
        "a 64-character member name",
    );
    assert_eq!(code, 422, "{message}");
    assert!(
        message.contains("metadata.name") && message.contains("label"),
        "{message}"
    );
    // 63 is fine, all the way to the binding.
    let longest = "m".repeat(63);
    apply(
        &alice,
        &member_yaml(&org, &longest, "default", bob, "[viewer]"),
    )
    .await;
    wait_ready(
        &Api::<WorkspaceMember>::namespaced(admin.clone(), &org),
        &longest,
        "True",
        LIMIT,
    )
    .await;
    assert!(
        role_bindings(&admin, &format!("{org}--default"))
            .await
            .contains(&format!("workspaces.dev:member:{longest}:viewer"))
    );

    let secret = "s".repeat(64);
    let (code, message) = refusal(
        apply_value(
            &alice,
            &workspace_yaml(
                &org,
                "lab",
                &format!(
                    "{{sharedCredentials: [{{secretName: {secret}, workspaces: [default]}}]}}"
                ),
            ),
        )
        .await,
        "a workspace share of a 64-character secretName",
    );
    assert_eq!(code, 422, "{message}");
    assert!(message.contains("secretName"), "{message}");
    let org_share = json!({
        "apiVersion": "workspaces.dev/v1alpha1", "kind": "Organization",
        "metadata": {"name": org},
        "spec": {"sharedCredentials": [{"secretName": secret}]}
    });
    let (code, message) = refusal(
        Api::<Organization>::all(admin.clone())
            .patch(&org, &PatchParams::default(), &Patch::Merge(&org_share))
            .await,
        "an organization share of a 64-character secretName",
    );
    assert_eq!(code, 422, "{message}");
    assert!(message.contains("secretName"), "{message}");
    apply(
        &alice,
        &workspace_yaml(
            &org,
            "lab",
            &format!(
                "{{sharedCredentials: [{{secretName: {}, workspaces: [default]}}]}}",
                "s".repeat(63)
            ),
        ),
    )
    .await;
}

// ---- admission policies (deploy/admission-policies.yaml) -----------------

#[tokio::test]
async fn tenants_cannot_forge_the_operators_marks() {
    let Opening { admin, org, .. } = opening_with_organization("own-forge").await;
    let ns = format!("{org}--lab");
    let alice = cluster().user("alice").await;
    let carol = cluster().user("carol").await;
    let ws = lab_with_member(&admin, &alice, &org, "carol", "editor").await;
    wait_access(&carol, "create", "secrets", &ns, true).await;

    let marks = ownership::marks(
        &ownership::Owner::Workspace {
            organization: org.clone(),
            name: "lab".into(),
        },
        &ws.uid().unwrap(),
        ownership::Component::CredentialCopy,
    );
    let forged = |name: &str| Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(marks.clone()),
            ..Default::default()
        },
        string_data: Some([("token".to_string(), "forged".to_string())].into()),
        ..Default::default()
    };
    for (who, client) in [("carol", &carol), ("alice", &alice)] {
        let secrets = Api::<Secret>::namespaced(client.clone(), &ns);
        let name = format!("forged-by-{who}");
        by_policy(
            secrets.create(&PostParams::default(), &forged(&name)).await,
            &format!("{who} creating a credential copy"),
        );
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(
                    [(
                        ownership::MANAGED_BY.to_string(),
                        ownership::MANAGED_BY_VALUE.to_string(),
                    )]
                    .into(),
                ),
                ..Default::default()
            },
            ..Default::default()
        };
        by_policy(
            Api::<ConfigMap>::namespaced(client.clone(), &ns)
                .create(&PostParams::default(), &cm)
                .await,
            &format!("{who} creating a ConfigMap marked as the operator's"),
        );
    }
    // The same Secret without the marks is carol's to make: the marks are
    // what is refused. Marking it afterwards is refused too.
    let carols = Api::<Secret>::namespaced(carol.clone(), &ns);
    let mut plain = forged("plain");
    plain.metadata.labels = None;
    carols
        .create(&PostParams::default(), &plain)
        .await
        .expect("an editor creates Secrets");
    by_policy(
        carols
            .patch(
                "plain",
                &PatchParams::default(),
                &Patch::Merge(&json!({"metadata": {"labels": marks}})),
            )
            .await,
        "carol marking her Secret as the operator's",
    );

    let secrets = Api::<Secret>::namespaced(admin.clone(), &ns);
    let marked: Vec<String> = secrets
        .list(&managed())
        .await
        .unwrap()
        .items
        .iter()
        .map(|s| s.name_any())
        .collect();
    assert!(marked.is_empty(), "forged: {marked:?}");
    let plain = secrets.get("plain").await.unwrap();
    assert!(!plain.labels().contains_key(ownership::MANAGED_BY));
}

#[tokio::test]
async fn a_namespace_holding_a_credential_copy_can_be_deleted() {
    let Opening { admin, org, .. } = opening_with_organization("own-delcopy").await;
    let ns = format!("{org}--gone");
    let alice = cluster().user("alice").await;
    apply(
        &alice,
        &workspace_yaml(&org, "gone", "{acceptAnonymous: false}"),
    )
    .await;
    let workspaces = Api::<Workspace>::namespaced(admin.clone(), &org);
    wait_ready(&workspaces, "gone", "True", LIMIT).await;
    put_secret(&admin, &org, "registry", "pull").await;
    share_org_wide(&admin, &org, "registry").await;
    let copy = wait_secret(&admin, &ns, "registry").await;
    assert_eq!(
        copy.labels().get(ownership::COMPONENT).map(String::as_str),
        Some("credential-copy")
    );
    let namespace = Api::<Namespace>::all(admin.clone()).get(&ns).await.unwrap();

    Api::<Workspace>::namespaced(alice.clone(), &org)
        .delete("gone", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&workspaces, "gone", LIMIT).await;
    // The namespace controller empties it, copy included, and it goes.
    let namespaces = Api::<Namespace>::all(admin.clone());
    eventually(&format!("namespace {ns} gone"), LIMIT, || async {
        match namespaces.get_opt(&ns).await.map_err(|e| e.to_string())? {
            Some(n) if n.uid() == namespace.uid() => Err(format!(
                "still there: {:?}",
                n.status.and_then(|s| s.conditions)
            )),
            _ => Ok(()),
        }
    })
    .await;
}

#[tokio::test]
async fn the_operators_own_user_writes_only_where_its_marks_are() {
    let Opening { admin, scope, org } = opening_with_organization("own-opuser").await;
    let marked = format!("{org}--default");
    wait_ready(
        &Api::<Workspace>::namespaced(admin.clone(), &org),
        "default",
        "True",
        LIMIT,
    )
    .await;
    let plain = scope.namespace(&admin, "plain").await;
    let operator = as_operator().await;

    // It holds no tenant power of its own: what the ceiling gives a tenant in
    // a workspace (exec, tokens, impersonating ServiceAccounts) would, held
    // cluster-wide, reach kube-system and pass every policy keyed on its name.
    for (verb, resource, ns) in [
        ("create", "serviceaccounts/token", Some("kube-system")),
        ("impersonate", "serviceaccounts", Some("kube-system")),
        ("impersonate", "serviceaccounts", None),
        ("create", "pods/exec", Some("kube-system")),
        ("create", "pods", Some(marked.as_str())),
        ("get", "pods", None),
    ] {
        let ask = Ask::new(verb, "", resource);
        let ask = match ns {
            Some(ns) => ask.within(ns),
            None => ask,
        };
        assert!(!may(&operator, &ask).await, "the operator may {ask}");
    }
    let name = format!("{}-view", scope.id);
    // A role the operator holds (it made it, within the ceiling), so that
    // Kubernetes' escalation check passes and only the policies decide.
    let role = workspace_operator::ownership::names::role(&org, "viewer");
    let marks: BTreeMap<String, String> = [(
        ownership::MANAGED_BY.to_string(),
        ownership::MANAGED_BY_VALUE.to_string(),
    )]
    .into();

    // Where its marks are, it may write (dry run: nothing is kept).
    Api::<RoleBinding>::namespaced(operator.clone(), &marked)
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &grant_mallory(&marked, &name, &role, marks.clone()),
        )
        .await
        .expect("the operator writes in its own namespaces");

    // Elsewhere it may not, whatever its RBAC says.
    for ns in ["kube-system", plain.as_str()] {
        let bindings = Api::<RoleBinding>::namespaced(operator.clone(), ns);
        let result = bindings
            .create(
                &PostParams::default(),
                &grant_mallory(ns, &name, &role, marks.clone()),
            )
            .await;
        if result.is_ok() {
            // Leave no access behind on the shared control plane.
            let _ = Api::<RoleBinding>::namespaced(admin.clone(), ns)
                .delete(&name, &DeleteParams::default())
                .await;
        }
        by_policy(result, &format!("the operator's user binding in {ns}"));
        assert!(
            Api::<RoleBinding>::namespaced(admin.clone(), ns)
                .get_opt(&name)
                .await
                .unwrap()
                .is_none()
        );
    }
    let mallory = cluster().user("mallory").await;
    assert!(!can(&mallory, "list", "pods", Some("kube-system")).await);

    let namespaces = Api::<Namespace>::all(admin.clone());
    let before = namespaces.get(&plain).await.unwrap();
    by_policy(
        Api::<Namespace>::all(operator.clone())
            .delete(&plain, &DeleteParams::default())
            .await,
        "the operator's user deleting an unmarked namespace",
    );
    let after = namespaces.get(&plain).await.expect("still there");
    assert_eq!(after.uid(), before.uid());
    assert!(after.metadata.deletion_timestamp.is_none());
    assert_eq!(after.labels(), before.labels());
}

/// A workspace whose plan a tenant broke keeps its clean-up: the tenant
/// cannot take the finalizer off (admission), and when someone exempt does,
/// the operator puts it back although the plan lets it write nothing else;
/// a deletion then still waits for the linked member.
#[tokio::test]
async fn the_cleanup_finalizer_stays_whatever_the_plan_says() {
    let Opening { admin, org, .. } = opening_with_organization("keep-fin").await;
    let ns = format!("{org}--lab");
    let alice = cluster().user("alice").await;
    lab_with_member(&admin, &alice, &org, "carol", "editor").await;
    let as_alice = Api::<Workspace>::namespaced(alice.clone(), &org);
    let as_admin = Api::<Workspace>::namespaced(admin.clone(), &org);
    let broken = json!({"spec": {"plan": "nope"}});
    as_alice
        .patch("lab", &PatchParams::default(), &Patch::Merge(&broken))
        .await
        .unwrap();
    wait_condition(&as_admin, "lab", "Ready", "False", "UnknownPlan").await;

    let strip = json!({"metadata": {"finalizers": null}});
    let refused = as_alice
        .patch("lab", &PatchParams::default(), &Patch::Merge(&strip))
        .await;
    let (_, message) = refusal(refused, "alice taking the cleanup finalizer off");
    assert!(
        message.contains("workspaces.dev/cleanup")
            && message.contains("only the operator removes it"),
        "{message}"
    );

    as_admin
        .patch("lab", &PatchParams::default(), &Patch::Merge(&strip))
        .await
        .unwrap();
    eventually("the finalizer put back", LIMIT, || async {
        let ws = as_admin.get("lab").await.map_err(|e| e.to_string())?;
        ws.finalizers()
            .iter()
            .any(|f| f == ownership::FINALIZER)
            .then_some(())
            .ok_or_else(|| format!("{:?}", ws.finalizers()))
    })
    .await;

    as_alice
        .delete("lab", &DeleteParams::default())
        .await
        .unwrap();
    let why = wait_condition(
        &as_admin,
        "lab",
        "DeletionBlocked",
        "True",
        "DeletionBlocked",
    )
    .await;
    assert!(why.contains("lab-carol"), "{why}");
    let namespace = Api::<Namespace>::all(admin.clone()).get(&ns).await.unwrap();
    assert!(namespace.metadata.deletion_timestamp.is_none());
}

/// Access follows the organization whatever a tenant writes into a plan:
/// an organization admin who broke a workspace's plan before being removed
/// from the admins loses her access there too, and the plan's quota is
/// left as it was (an error never relaxes it).
#[tokio::test]
async fn access_follows_the_organization_even_with_a_broken_plan() {
    let Opening { admin, org, .. } = opening_with_organization("broken-plan").await;
    let ns = format!("{org}--lab");
    let alice = cluster().user("alice").await;
    lab_with_member(&admin, &alice, &org, "carol", "editor").await;
    wait_access(&alice, "create", "secrets", &ns, true).await;
    let quotas = Api::<ResourceQuota>::namespaced(admin.clone(), &ns);
    let quota_before = quotas.get("workspace-quota").await.unwrap().spec;
    let as_admin = Api::<Workspace>::namespaced(admin.clone(), &org);
    Api::<Workspace>::namespaced(alice.clone(), &org)
        .patch(
            "lab",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"plan": "nope"}})),
        )
        .await
        .unwrap();
    wait_condition(&as_admin, "lab", "Ready", "False", "UnknownPlan").await;

    let demoted = json!({"spec": {"admins": [{"kind": "User", "name": "bob"}]}});
    Api::<Organization>::all(admin.clone())
        .patch(&org, &PatchParams::default(), &Patch::Merge(&demoted))
        .await
        .unwrap();
    wait_access(&alice, "create", "secrets", &ns, false).await;
    let bob = cluster().user("bob").await;
    wait_access(&bob, "create", "secrets", &ns, true).await;
    let quota_after = quotas.get("workspace-quota").await.unwrap().spec;
    assert_eq!(
        quota_after, quota_before,
        "the plan's quota is left as it was"
    );
}

/// The chart's MutatingAdmissionPolicy (workspaces.dev-finalizer) puts the
/// operator's finalizer on what users create without finalizers, so the
/// operator does not write it; not owned by whoever applied the object, so a
/// GitOps tool's next apply keeps it. One created with finalizers of its own
/// gets it from the operator, as before, and keeps it too. On an API server
/// without the policy (before 1.36) the operator adds it to both.
#[tokio::test]
async fn the_api_server_puts_the_finalizer_on_what_users_create() {
    let Opening { admin, org, .. } = opening_with_organization("own-final").await;
    let at_admission = serves_mutating_policies();
    let members = Api::<WorkspaceMember>::namespaced(admin.clone(), &org);
    let gitops = PatchParams::apply("argocd-controller");
    let value = |name: &str, roles: Value| {
        let mut v = member_yaml(&org, name, "default", "{kind: User, name: zed}", "[]");
        v["spec"]["roles"] = roles;
        v
    };
    let ours = [ownership::FINALIZER.to_string()];
    if at_admission {
        // The API server matches the policy by the namespace's labels, from
        // its own cache of namespaces: a namespace made a moment ago may not
        // be there yet (the policy is then skipped and the operator adds
        // the finalizer). Wait, by dry runs, until it is.
        let dry = PatchParams {
            dry_run: true,
            ..gitops.clone()
        };
        let probe = value("probe", json!(["viewer"]));
        eventually(
            "the finalizer policy to apply in the new namespace",
            Duration::from_secs(30),
            || async {
                match members.patch("probe", &dry, &Patch::Apply(&probe)).await {
                    Ok(m) if m.finalizers() == ours => Ok(()),
                    Ok(m) => Err(format!("finalizers {:?}", m.finalizers())),
                    Err(e) => Err(e.to_string()),
                }
            },
        )
        .await;
    }
    let created = members
        .patch(
            "finalized",
            &gitops,
            &Patch::Apply(&value("finalized", json!(["viewer"]))),
        )
        .await
        .expect("applied as a GitOps tool would");
    // The create's own answer carries it when admission put it there.
    if at_admission {
        assert_eq!(created.finalizers(), ours);
    }
    let ready = wait_ready(&members, "finalized", "True", Duration::from_secs(60)).await;
    assert_eq!(ready.finalizers(), ours);
    let again = members
        .patch(
            "finalized",
            &gitops,
            &Patch::Apply(&value("finalized", json!(["viewer", "editor"]))),
        )
        .await
        .expect("applied again");
    assert_eq!(again.finalizers(), ours);
    wait_ready(&members, "finalized", "True", Duration::from_secs(60)).await;
    // With the policy the operator wrote its status, never the object itself.
    let own_writes: Vec<String> = operator_writes_about(&org)
        .into_iter()
        .filter(|w| w.contains("/workspacemembers/finalized") && !w.contains("/status"))
        .collect();
    assert_eq!(own_writes.is_empty(), at_admission, "{own_writes:?}");

    // With a finalizer of its own: the operator adds its own, and a later
    // apply that drops the tool's finalizer keeps the operator's.
    let mut with_own = value("kept", json!(["viewer"]));
    with_own["metadata"]["finalizers"] = json!(["example.com/keep"]);
    let created = members
        .patch("kept", &gitops, &Patch::Apply(&with_own))
        .await
        .expect("applied with a finalizer of its own");
    assert_eq!(created.finalizers(), ["example.com/keep".to_string()]);
    wait_ready(&members, "kept", "True", Duration::from_secs(60)).await;
    let again = members
        .patch(
            "kept",
            &gitops,
            &Patch::Apply(&value("kept", json!(["viewer"]))),
        )
        .await
        .expect("applied without its finalizer");
    assert_eq!(again.finalizers(), ours);

    // And their teardowns still run before they go.
    for name in ["finalized", "kept"] {
        members
            .delete(name, &DeleteParams::default())
            .await
            .expect("deleted");
        wait_gone(&members, name, Duration::from_secs(60)).await;
    }
}
