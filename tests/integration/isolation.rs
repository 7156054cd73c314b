//! The tenant isolation matrix: every test user, in every namespace of two
//! organizations and in kube-system, for the verbs that matter (the
//! namespace itself and RBAC writes included), asked of the API server as
//! that user (SelfSubjectAccessReview with the user's own credentials). The
//! expected answer comes from a small model of who was given what, written
//! here independently of the operator's builders: nobody but the cluster
//! admin may patch or delete a namespace or write RBAC, nobody reads
//! kube-system's Secrets. Prints the table; fails on any cell that differs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::Client;
use kube::api::Api;
use workspace_operator::api::{Workspace, WorkspaceMember};

use crate::support::*;

const LIMIT: Duration = Duration::from_secs(90);

/// Two organizations, A (admins: group acme-platform, members: acme-staff)
/// and B (admins: group globex-admins, members: globex-staff), with:
/// A/open (owner bob, open to acme-staff), A/private (invite-only; carol is
/// an editor), B/ops (invite-only, owner erin; frank is a viewer), and each
/// organization's default workspace (open to its member group).
pub struct Tenants {
    pub a: String,
    pub b: String,
}

pub async fn two_tenants(admin: &Client, scope: &Scope) -> Tenants {
    let (a, b) = (scope.name("a"), scope.name("b"));
    let org = |name: &str, admins: &str, members: &str| {
        format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: Organization, metadata: {{name: {name}}}, \
             spec: {{admins: [{{kind: Group, name: {admins}}}], memberGroups: [{members}]}}}}"
        )
    };
    apply_yaml(admin, &org(&a, "acme-platform", "acme-staff")).await;
    apply_yaml(admin, &org(&b, "globex-admins", "globex-staff")).await;
    let ws = |org: &str, name: &str, spec: &str| {
        format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: {name}, namespace: {org}}}, spec: {spec}}}"
        )
    };
    let member = |org: &str, name: &str, ws: &str, user: &str, role: &str| {
        format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceMember, metadata: {{name: {name}, namespace: {org}}}, \
             spec: {{workspace: {ws}, subject: {{kind: User, name: {user}}}, roles: [{role}]}}}}"
        )
    };
    let objects = [
        ws(&a, "open", "{owner: {kind: User, name: bob}}"),
        ws(&a, "private", "{acceptAnonymous: false}"),
        ws(
            &b,
            "ops",
            "{acceptAnonymous: false, owner: {kind: User, name: erin}}",
        ),
        member(&a, "private-carol", "private", "carol", "editor"),
        member(&b, "ops-frank", "ops", "frank", "viewer"),
    ];
    for yaml in &objects {
        // The organization namespace appears once the operator made it.
        eventually("the organization namespace", LIMIT, || async {
            let value: serde_json::Value = serde_yaml::from_str(yaml).unwrap();
            apply_value(admin, &value).await.map_err(|e| e.to_string())
        })
        .await;
    }
    for (org, names) in [
        (&a, vec!["default", "open", "private"]),
        (&b, vec!["default", "ops"]),
    ] {
        let api = Api::<Workspace>::namespaced(admin.clone(), org);
        for name in names {
            wait_ready(&api, name, "True", LIMIT).await;
        }
    }
    wait_ready(
        &Api::<WorkspaceMember>::namespaced(admin.clone(), &a),
        "private-carol",
        "True",
        LIMIT,
    )
    .await;
    wait_ready(
        &Api::<WorkspaceMember>::namespaced(admin.clone(), &b),
        "ops-frank",
        "True",
        LIMIT,
    )
    .await;
    Tenants { a, b }
}

/// What a grant lets its holder do, for the verbs of the matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Grant {
    /// Organization admin, in the organization namespace.
    OrgAdmin,
    /// A workspace's owner, in the organization namespace: sends writes on
    /// members (the admission policy keeps them to its workspace, see
    /// `who_reads_and_manages_which_workspace`).
    MemberWriter,
    /// Admin or editor inside a workspace (the same for these verbs).
    Edit,
    Viewer,
}

/// (verb, resource, label): the verbs that matter. `namespaces` means the
/// Namespace of the row itself (asked as the API server files a request on
/// it: its own name, in itself).
const VERBS: [(&str, &str, &str); 10] = [
    ("get", "secrets", "read Secrets"),
    ("list", "pods", "list Pods"),
    ("create", "pods", "create Pods"),
    (
        "update",
        "rbac.authorization.k8s.io/rolebindings",
        "change RoleBindings",
    ),
    ("create", "workspaces.dev/workspacemembers", "add members"),
    ("update", "workspaces.dev/workspaces", "edit Workspaces"),
    ("patch", "namespaces", "patch the Namespace"),
    ("delete", "namespaces", "delete the Namespace"),
    (
        "create",
        "rbac.authorization.k8s.io/rolebindings",
        "create RoleBindings",
    ),
    ("create", "rbac.authorization.k8s.io/roles", "create Roles"),
];

/// The access review for column `verb` in namespace `ns`.
fn ask(verb: usize, ns: &str) -> crate::support::Ask {
    let (verb, resource, _) = VERBS[verb];
    if resource == "namespaces" {
        return Ask::the_namespace(verb, ns);
    }
    let (group, resource) = resource.split_once('/').unwrap_or(("", resource));
    Ask::new(verb, group, resource).within(ns)
}

fn allows(grant: Grant, verb: usize) -> bool {
    // Columns 3 and 6 to 9 (RBAC writes, the namespace itself) are in no
    // grant: only the cluster admin may do them.
    match grant {
        // Secrets, members and workspaces in the organization namespace; no
        // Pods there, no RBAC anywhere.
        Grant::OrgAdmin => matches!(verb, 0 | 4 | 5),
        Grant::MemberWriter => verb == 4,
        Grant::Edit => matches!(verb, 0..=2),
        Grant::Viewer => verb == 1,
    }
}

/// Who was given what, where: from the organizations' admins and member
/// groups (users.txt), the owners and the members of `two_tenants`.
fn grants(t: &Tenants) -> BTreeMap<(&'static str, String), Vec<Grant>> {
    let ns = |org: &str, ws: &str| format!("{org}--{ws}");
    let mut g: BTreeMap<(&'static str, String), Vec<Grant>> = BTreeMap::new();
    let mut give = |user: &'static str, namespace: String, grant: Grant| {
        g.entry((user, namespace)).or_default().push(grant)
    };
    let a_workspaces = ["default", "open", "private"];
    let b_workspaces = ["default", "ops"];
    // alice is in acme-platform: admin of A, admin inside every A workspace.
    give("alice", t.a.clone(), Grant::OrgAdmin);
    for w in a_workspaces {
        give("alice", ns(&t.a, w), Grant::Edit);
    }
    // dave is in globex-admins.
    give("dave", t.b.clone(), Grant::OrgAdmin);
    for w in b_workspaces {
        give("dave", ns(&t.b, w), Grant::Edit);
    }
    // acme-staff (alice, bob, carol, frank) enter A's open workspaces as viewers.
    for user in ["alice", "bob", "carol", "frank"] {
        give(user, ns(&t.a, "default"), Grant::Viewer);
        give(user, ns(&t.a, "open"), Grant::Viewer);
    }
    // globex-staff (dave, erin, frank) enter B's default workspace.
    for user in ["dave", "erin", "frank"] {
        give(user, ns(&t.b, "default"), Grant::Viewer);
    }
    // The owners of A/open and B/ops.
    give("bob", t.a.clone(), Grant::MemberWriter);
    give("erin", t.b.clone(), Grant::MemberWriter);
    give("bob", ns(&t.a, "open"), Grant::Edit);
    give("carol", ns(&t.a, "private"), Grant::Edit);
    give("erin", ns(&t.b, "ops"), Grant::Edit);
    give("frank", ns(&t.b, "ops"), Grant::Viewer);
    g
}

#[tokio::test]
async fn every_user_gets_exactly_the_expected_access_in_every_tenant_namespace() {
    let Opening { admin, scope, .. } = opening("matrix").await;
    let tenants = two_tenants(&admin, &scope).await;
    let grants = grants(&tenants);
    // kube-system: nobody was given anything there.
    let namespaces = vec![
        "kube-system".to_string(),
        tenants.a.clone(),
        format!("{}--default", tenants.a),
        format!("{}--open", tenants.a),
        format!("{}--private", tenants.a),
        tenants.b.clone(),
        format!("{}--default", tenants.b),
        format!("{}--ops", tenants.b),
    ];
    let users: Vec<String> = cluster().users.keys().cloned().collect();
    let mut clients = BTreeMap::new();
    for user in &users {
        clients.insert(user.clone(), cluster().user(user).await);
    }
    // Every question can be answered yes: the cluster admin may do each, so
    // a "-" below is a refusal, not a question the API server cannot grant.
    for ns in &namespaces {
        for i in 0..VERBS.len() {
            let ask = ask(i, ns);
            assert!(
                crate::support::may(&admin, &ask).await,
                "the cluster admin may not {ask}"
            );
        }
    }

    // RBAC changes reach the authorizer within moments; a mismatch is
    // reported only once it persists.
    let start = Instant::now();
    loop {
        let mut rows = vec![];
        let mut mismatches = vec![];
        let mut checks = 0;
        for user in &users {
            for ns in &namespaces {
                let held = grants
                    .get(&(user.as_str(), ns.clone()))
                    .cloned()
                    .unwrap_or_default();
                let mut cells = vec![];
                for (i, (_, _, label)) in VERBS.iter().enumerate() {
                    let expected = held.iter().any(|g| allows(*g, i));
                    let actual = crate::support::may(&clients[user], &ask(i, ns)).await;
                    checks += 1;
                    if actual != expected {
                        mismatches.push(format!(
                            "{user} {label} in {ns}: expected {expected}, got {actual}"
                        ));
                    }
                    cells.push(match (actual, actual == expected) {
                        (true, true) => "allow",
                        (false, true) => "-",
                        (true, false) => "ALLOW!",
                        (false, false) => "DENY!",
                    });
                }
                rows.push((user.clone(), ns.clone(), cells));
            }
        }
        if mismatches.is_empty() || start.elapsed() > Duration::from_secs(30) {
            let scope_prefix = format!("{}-", scope.id);
            eprintln!("\ntenant isolation matrix ({checks} access reviews, each as the user):");
            eprint!("{:<8} {:<14}", "user", "namespace");
            for (_, _, label) in VERBS {
                eprint!(" {label:>20}");
            }
            eprintln!();
            for (user, ns, cells) in &rows {
                eprint!("{user:<8} {:<14}", ns.trim_start_matches(&scope_prefix));
                for c in cells {
                    eprint!(" {c:>20}");
                }
                eprintln!();
            }
            assert!(
                mismatches.is_empty(),
                "access differs from the model:\n{}",
                mismatches.join("\n")
            );
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Whether `user` may read each workspace of `two_tenants`, and add a
/// viewer to it: the model, from who was given what.
fn workspace_model(user: &str) -> Vec<(&'static str, &'static str, bool, bool)> {
    // (organization A or B, workspace, reads, manages)
    let a_admin = user == "alice";
    let b_admin = user == "dave";
    let acme_staff = ["alice", "bob", "carol", "frank"].contains(&user);
    let globex_staff = ["dave", "erin", "frank"].contains(&user);
    vec![
        ("a", "default", a_admin || acme_staff, a_admin),
        ("a", "open", a_admin || acme_staff, a_admin || user == "bob"),
        ("a", "private", a_admin || user == "carol", a_admin),
        ("b", "default", b_admin || globex_staff, b_admin),
        (
            "b",
            "ops",
            b_admin || ["erin", "frank"].contains(&user),
            b_admin || user == "erin",
        ),
    ]
}

/// The new cells of the matrix: who may read which Workspace (access
/// review of `get` on it), and who may add a member to which workspace
/// (a dry-run create as the user: RBAC and the admission policies decide,
/// nothing is stored).
#[tokio::test]
async fn who_reads_and_manages_which_workspace() {
    let Opening { admin, scope, .. } = opening("wsmatrix").await;
    let t = two_tenants(&admin, &scope).await;
    let users: Vec<String> = cluster().users.keys().cloned().collect();
    let start = Instant::now();
    loop {
        let mut mismatches = vec![];
        let mut rows = vec![];
        for user in &users {
            let client = cluster().user(user).await;
            for (org, ws, reads, manages) in workspace_model(user) {
                let org = if org == "a" { &t.a } else { &t.b };
                let read = Ask::new("get", "workspaces.dev", "workspaces")
                    .named(ws)
                    .within(org);
                let may_read = crate::support::may(&client, &read).await;
                let member: WorkspaceMember = serde_json::from_value(serde_json::json!({
                    "apiVersion": "workspaces.dev/v1alpha1",
                    "kind": "WorkspaceMember",
                    "metadata": {"name": format!("{ws}-probe"), "namespace": org},
                    "spec": {"workspace": ws, "subject": {"kind": "User", "name": "mallory"}, "roles": ["viewer"]},
                }))
                .expect("a valid member");
                let api = Api::<WorkspaceMember>::namespaced(client.clone(), org);
                let params = kube::api::PostParams {
                    dry_run: true,
                    ..Default::default()
                };
                let may_manage = api.create(&params, &member).await.is_ok();
                if (may_read, may_manage) != (reads, manages) {
                    mismatches.push(format!(
                        "{user} on {org}/{ws}: read {may_read} (expected {reads}), add a member {may_manage} (expected {manages})"
                    ));
                }
                rows.push(format!(
                    "{user:<8} {:<10} {:>6} {:>13}",
                    format!("{}/{ws}", if *org == t.a { "A" } else { "B" }),
                    if may_read { "read" } else { "-" },
                    if may_manage { "add members" } else { "-" }
                ));
            }
        }
        if mismatches.is_empty() || start.elapsed() > Duration::from_secs(30) {
            eprintln!("\nwho reads and manages which workspace (as each user):");
            eprintln!("{}", rows.join("\n"));
            assert!(
                mismatches.is_empty(),
                "differs from the model:\n{}",
                mismatches.join("\n")
            );
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
