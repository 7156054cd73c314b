//! Escalation attempts, each made by a tenant with that tenant's own
//! credentials, each refused: by admission, by Kubernetes RBAC, or by the
//! operator (reported on the object). After each, the access that matters is
//! checked as the user it would have helped.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use workspace_operator::api::{Organization, WorkspaceMember, WorkspaceRole};

use crate::isolation::two_tenants;
use crate::support::*;

const LIMIT: Duration = Duration::from_secs(90);

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).expect("valid YAML")
}

/// The API server's refusal of `value` applied as `client`: (HTTP code, message).
async fn refused(client: &kube::Client, value: &Value) -> (u16, String) {
    match apply_value(client, value).await {
        Ok(_) => panic!("accepted, but should have been refused: {value}"),
        Err(kube::Error::Api(e)) => (e.code, e.message),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// Asserts that the API server refuses `value` from `client` as Forbidden (RBAC).
async fn forbidden(client: &kube::Client, value: &Value) {
    let (code, message) = refused(client, value).await;
    assert_eq!(code, 403, "{value}: {message}");
}

/// Asserts that `client`'s user may do none of `attempts` (verb, resource,
/// namespace), as the API server decides for that user.
async fn none_allowed(client: &kube::Client, attempts: &[(&str, &str, Option<&str>)]) {
    for (verb, resource, namespace) in attempts {
        assert!(
            !can(client, verb, resource, *namespace).await,
            "allowed: {verb} {resource} in {namespace:?}"
        );
    }
}

#[tokio::test]
async fn org_admin_cannot_define_a_role_beyond_the_ceiling_or_cluster_wide() {
    let Opening { admin, scope, .. } = opening("esc-ceiling").await;
    let t = two_tenants(&admin, &scope).await;
    let alice = cluster().user("alice").await;
    let attempts = [
        (
            "everything",
            "rules: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]",
        ),
        (
            "nodes",
            "rules: [{apiGroups: [''], resources: [nodes], verbs: [get, delete]}]",
        ),
        (
            "rbac-escalate",
            "rules: [{apiGroups: [rbac.authorization.k8s.io], resources: [roles, rolebindings], verbs: [create, bind, escalate]}]",
        ),
        ("cluster-admin", "clusterRoles: [cluster-admin]"),
    ];
    let roles = Api::<WorkspaceRole>::namespaced(admin.clone(), &t.a);
    for (name, spec) in attempts {
        // The org admin may write WorkspaceRoles: the refusal is the operator's.
        let role = yaml(&format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceRole, metadata: {{name: {name}, namespace: {}}}, spec: {{{spec}}}}}",
            t.a
        ));
        apply_value(&alice, &role)
            .await
            .expect("alice writes roles in her organization");
        // Included ClusterRoles must be allowed by the platform first.
        let reason = if name == "cluster-admin" {
            "ClusterRoleNotAllowed"
        } else {
            "BeyondCeiling"
        };
        let message = wait_not_ready(&roles, name, reason, LIMIT).await;
        assert!(!message.is_empty());
        let cr = Api::<ClusterRole>::all(admin.clone())
            .get_opt(&format!("workspaces.dev:role:{}:{name}", t.a))
            .await
            .unwrap();
        assert!(cr.is_none(), "a ClusterRole was made for {name}");
    }
    // Granting such a role grants nothing: carol, given all four, gains no
    // cluster-wide or RBAC access.
    let member = yaml(&format!(
        "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceMember, metadata: {{name: private-carol, namespace: {}}}, \
         spec: {{workspace: private, subject: {{kind: User, name: carol}}, roles: [editor, everything, nodes, rbac-escalate, cluster-admin]}}}}",
        t.a
    ));
    apply_value(&alice, &member).await.unwrap();
    let members = Api::<WorkspaceMember>::namespaced(admin.clone(), &t.a);
    wait_not_ready(&members, "private-carol", "RoleNotReady", LIMIT).await;
    let carol = cluster().user("carol").await;
    let ns = format!("{}--private", t.a);
    assert!(
        can(&carol, "create", "pods", Some(&ns)).await,
        "editor still applies"
    );
    none_allowed(
        &carol,
        &[
            ("delete", "nodes", None),
            (
                "create",
                "rbac.authorization.k8s.io/rolebindings",
                Some(&ns),
            ),
            ("bind", "rbac.authorization.k8s.io/clusterroles", Some(&ns)),
            ("get", "secrets", Some("kube-system")),
        ],
    )
    .await;
}

#[tokio::test]
async fn org_admin_cannot_reach_another_organizations_workspace_role_or_secret() {
    let Opening { admin, scope, .. } = opening("esc-cross").await;
    let t = two_tenants(&admin, &scope).await;
    let alice = cluster().user("alice").await;

    // Writing into the other organization's namespace: RBAC says no.
    let intruder = |ns: &str| {
        yaml(&format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceMember, metadata: {{name: alice-in, namespace: {ns}}}, \
             spec: {{workspace: ops, subject: {{kind: User, name: alice}}, roles: [admin]}}}}"
        ))
    };
    forbidden(&alice, &intruder(&t.b)).await;
    let secret_in_b = Api::<Secret>::namespaced(alice.clone(), &format!("{}--ops", t.b));
    assert!(secret_in_b.list(&ListParams::default()).await.is_err());

    // A member in her own organization naming B's workspace: the name
    // resolves in A only, where no such workspace exists.
    apply_value(&alice, &intruder(&t.a)).await.unwrap();
    let members = Api::<WorkspaceMember>::namespaced(admin.clone(), &t.a);
    wait_not_ready(&members, "alice-in", "WorkspaceNotFound", LIMIT).await;

    // B's custom role, named from A: unknown in A.
    let b_role = yaml(&format!(
        "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceRole, metadata: {{name: b-secret-reader, namespace: {}}}, \
         spec: {{rules: [{{apiGroups: [''], resources: [secrets], verbs: [get, list]}}]}}}}",
        t.b
    ));
    apply_value(&admin, &b_role).await.unwrap();
    let uses_b_role = yaml(&format!(
        "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceMember, metadata: {{name: bob-b-role, namespace: {}}}, \
         spec: {{workspace: private, subject: {{kind: User, name: bob}}, roles: [b-secret-reader]}}}}",
        t.a
    ));
    apply_value(&alice, &uses_b_role).await.unwrap();
    wait_not_ready(&members, "bob-b-role", "UnknownRole", LIMIT).await;

    // A namespaced reference cannot even be written across organizations:
    // names with '/' or '--' are refused at admission.
    for (field, value) in [
        ("secretName", format!("{}/token", t.b)),
        ("secretName", format!("{}--ops/token", t.b)),
    ] {
        let org = yaml(&format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: Organization, metadata: {{name: {}}}, \
             spec: {{sharedCredentials: [{{{field}: '{value}'}}]}}}}",
            t.a
        ));
        let (code, message) = refused(&admin, &org).await;
        assert_eq!(code, 422, "{message}");
    }
    let ws = yaml(&format!(
        "{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: private, namespace: {}}}, \
         spec: {{acceptAnonymous: false, sharedCredentials: [{{secretName: token, workspaces: ['{}--ops']}}]}}}}",
        t.a, t.b
    ));
    let (code, message) = refused(&alice, &ws).await;
    assert_eq!(code, 422, "{message}");

    // Nothing of all this reached B.
    let bindings = Api::<RoleBinding>::namespaced(admin.clone(), &format!("{}--ops", t.b));
    for b in bindings.list(&ListParams::default()).await.unwrap().items {
        let subjects = b.subjects.unwrap_or_default();
        assert!(
            subjects
                .iter()
                .all(|s| s.name != "alice" && s.name != "bob"),
            "{:?} in B names an A user",
            b.metadata.name
        );
    }
    let bob = cluster().user("bob").await;
    assert!(!can(&bob, "get", "secrets", Some(&format!("{}--private", t.a))).await);
    assert!(!can(&alice, "get", "pods", Some(&format!("{}--ops", t.b))).await);
}

#[tokio::test]
async fn a_member_cannot_grant_itself_more_than_its_roles() {
    let Opening { admin, scope, .. } = opening("esc-self").await;
    let t = two_tenants(&admin, &scope).await;
    let ns = format!("{}--private", t.a);
    // carol is an editor in A/private; bob owns A/open (admin there).
    let carol = cluster().user("carol").await;
    let bind = |name: &str, ns: &str, kind: &str, role: &str, user: &str| {
        yaml(&format!(
            "{{apiVersion: rbac.authorization.k8s.io/v1, kind: RoleBinding, metadata: {{name: {name}, namespace: {ns}}}, \
             roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: {kind}, name: '{role}'}}, \
             subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: {user}}}]}}"
        ))
    };
    let attempts = [
        bind(
            "me-admin",
            &ns,
            "ClusterRole",
            &format!("workspaces.dev:role:{}:admin", t.a),
            "carol",
        ),
        bind(
            "me-cluster-admin",
            &ns,
            "ClusterRole",
            "cluster-admin",
            "carol",
        ),
        bind(
            "me-b",
            &format!("{}--ops", t.b),
            "ClusterRole",
            "admin",
            "carol",
        ),
    ];
    for attempt in &attempts {
        forbidden(&carol, attempt).await;
    }
    // Editing the binding the operator made for her.
    let own = "workspaces.dev:member:private-carol:editor";
    let bindings = Api::<RoleBinding>::namespaced(carol.clone(), &ns);
    let patch = json!({"subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mallory"}]});
    assert!(
        bindings
            .patch(own, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .is_err()
    );
    // Her own membership: more roles, or another workspace.
    let more = yaml(&format!(
        "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceMember, metadata: {{name: private-carol, namespace: {}}}, \
         spec: {{workspace: private, subject: {{kind: User, name: carol}}, roles: [admin]}}}}",
        t.a
    ));
    forbidden(&carol, &more).await;
    // The workspace owner (admin inside): still no RBAC writes.
    let bob = cluster().user("bob").await;
    let open = format!("{}--open", t.a);
    forbidden(
        &bob,
        &bind("bob-more", &open, "ClusterRole", "admin", "bob"),
    )
    .await;
    forbidden(
        &bob,
        &bind(
            "carol-in",
            &open,
            "ClusterRole",
            &format!("workspaces.dev:role:{}:editor", t.a),
            "carol",
        ),
    )
    .await;
    // And the organization admin cannot hand out RBAC directly either.
    let alice = cluster().user("alice").await;
    forbidden(
        &alice,
        &bind("alice-direct", &ns, "ClusterRole", "cluster-admin", "alice"),
    )
    .await;

    none_allowed(
        &carol,
        &[
            (
                "create",
                "rbac.authorization.k8s.io/rolebindings",
                Some(&ns),
            ),
            ("update", "workspaces.dev/workspacemembers", Some(&t.a)),
            ("create", "pods", Some(&open)),
        ],
    )
    .await;
    assert!(
        can(&carol, "create", "pods", Some(&ns)).await,
        "her own role still works"
    );
}

#[tokio::test]
async fn names_cannot_collide_with_another_tenants_or_the_systems_namespaces() {
    let Opening { admin, scope, .. } = opening("esc-names").await;
    let t = two_tenants(&admin, &scope).await;
    let alice = cluster().user("alice").await;
    // A workspace of A whose namespace would be B's: needs '--' in a name.
    let collide = yaml(&format!(
        "{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: 'x--ops', namespace: {}}}, spec: {{}}}}",
        t.a
    ));
    let (code, message) = refused(&alice, &collide).await;
    assert_eq!(code, 422);
    assert!(message.contains("'--'"), "{message}");
    // Organizations are the platform's: tenants cannot create them at all.
    let org = |name: &str| {
        yaml(&format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: Organization, metadata: {{name: '{name}'}}, spec: {{}}}}"
        ))
    };
    forbidden(&alice, &org(&scope.name("mine"))).await;
    // Even the platform cannot name one after a system namespace, or so that
    // its namespace would be a workspace namespace.
    for name in [
        "kube-system",
        "kube-public",
        "default",
        "kube-anything",
        &format!("{}--ops", t.b),
    ] {
        let (code, message) = refused(&admin, &org(name)).await;
        assert_eq!(code, 422, "{name}: {message}");
    }
    let orgs = Api::<Organization>::all(admin.clone());
    assert!(orgs.get_opt("kube-system").await.unwrap().is_none());
}

#[tokio::test]
async fn a_shared_credential_never_reaches_another_organization() {
    let Opening { admin, scope, .. } = opening("esc-share").await;
    let t = two_tenants(&admin, &scope).await;
    let alice = cluster().user("alice").await;
    let secret = |ns: &str| {
        yaml(&format!(
            "{{apiVersion: v1, kind: Secret, metadata: {{name: token, namespace: {ns}}}, stringData: {{token: from-a}}}}"
        ))
    };
    let a_private = format!("{}--private", t.a);
    apply_value(&alice, &secret(&t.a)).await.unwrap();
    apply_value(&alice, &secret(&a_private)).await.unwrap();
    // Aimed at B's workspace by its bare name ("ops" exists only in B), and
    // shared organization-wide: copies go to A's workspaces only.
    let ws = yaml(&format!(
        "{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: private, namespace: {}}}, \
         spec: {{acceptAnonymous: false, sharedCredentials: [{{secretName: token, workspaces: [ops, open]}}]}}}}",
        t.a
    ));
    apply_value(&alice, &ws).await.unwrap();
    let org = yaml(&format!(
        "{{apiVersion: workspaces.dev/v1alpha1, kind: Organization, metadata: {{name: {}}}, \
         spec: {{admins: [{{kind: Group, name: acme-platform}}], memberGroups: [acme-staff], sharedCredentials: [{{secretName: token}}]}}}}",
        t.a
    ));
    apply_value(&admin, &org).await.unwrap();
    let copy_in = |ns: String| async move {
        Api::<Secret>::namespaced(cluster().admin().await, &ns)
            .get_opt("token")
            .await
            .unwrap()
    };
    eventually("the copy in A/open", LIMIT, || async {
        copy_in(format!("{}--open", t.a))
            .await
            .map(drop)
            .ok_or_else(|| "not yet".to_string())
    })
    .await;
    eventually("the copy in A/default", LIMIT, || async {
        copy_in(format!("{}--default", t.a))
            .await
            .map(drop)
            .ok_or_else(|| "not yet".to_string())
    })
    .await;
    let workspaces = Api::<workspace_operator::api::Workspace>::namespaced(admin.clone(), &t.a);
    let message = eventually("the missing target reported", LIMIT, || async {
        let w = workspaces.get("private").await.map_err(|e| e.to_string())?;
        let text = serde_json::to_string(&w.status).unwrap();
        text.contains("ops")
            .then_some(text)
            .ok_or_else(|| "not yet".to_string())
    })
    .await;
    assert!(message.contains("ops"), "{message}");
    for ws in ["ops", "default"] {
        assert!(
            copy_in(format!("{}--{ws}", t.b)).await.is_none(),
            "a copy reached B/{ws}"
        );
    }
    let erin = cluster().user("erin").await;
    assert!(!can(&erin, "get", "secrets", Some(&a_private)).await);
}
