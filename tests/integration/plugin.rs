//! `kubectl workspace`, the real plugin binary, run as the test users with
//! their own kubeconfigs (copies, so `use` edits nothing shared): `list`
//! shows exactly what each may use, `use` points kubectl at the workspace
//! and `use -` back, `members` says who has access through what, `invite`
//! and `remove` write WorkspaceMembers and the API server decides who may.
//!
//! Other tests make organizations with the same users at the same time, so
//! every assertion looks at this test's organizations only.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use kube::api::Api;
use workspace_operator::api::WorkspaceMember;

use crate::organizations::{organization, workspace};
use crate::support::*;

const LIMIT: Duration = Duration::from_secs(60);

/// The plugin binary cargo built for this test run, or `WSOP_PLUGIN_BIN`.
pub fn plugin_binary() -> PathBuf {
    std::env::var_os("WSOP_PLUGIN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_kubectl-workspace")))
}

/// A test user at a terminal of its own: a copy of its kubeconfig, and a
/// state directory for `use -`.
pub struct Terminal {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Terminal {
    pub fn of(user: &str) -> Terminal {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let kubeconfig = dir.path().join("config");
        std::fs::copy(cluster().user_kubeconfig(user), &kubeconfig).expect("copy the kubeconfig");
        Terminal { dir, kubeconfig }
    }

    /// Runs the plugin with KUBECONFIG set to `kubeconfig`.
    fn run_with(&self, kubeconfig: &OsString, args: &[&str]) -> Output {
        Command::new(plugin_binary())
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .output()
            .expect("the plugin runs")
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(&self.kubeconfig.clone().into_os_string(), args)
    }

    /// The JSON a run printed, or what it said on failure.
    pub fn json(&self, args: &[&str]) -> Result<serde_json::Value, String> {
        let out = self.run(args);
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("not JSON: {e}"))
    }

    /// Stdout of a run that must succeed.
    fn ok(&self, args: &[&str]) -> String {
        ok_stdout(
            self.run(args),
            &format!("kubectl workspace {}", args.join(" ")),
        )
    }

    /// Stderr of a run that must fail.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "kubectl workspace {} succeeded:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `list -o json` rows of `orgs`: (organization, workspace, roles).
    fn list(&self, orgs: &[&str]) -> Result<BTreeSet<(String, String, String)>, String> {
        let out = self.run(&["list", "-o", "json"]);
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let rows: Vec<serde_json::Value> =
            serde_json::from_slice(&out.stdout).map_err(|e| format!("not JSON: {e}"))?;
        Ok(rows
            .iter()
            .filter(|r| orgs.contains(&r["organization"].as_str().unwrap_or_default()))
            .map(|r| {
                let roles: Vec<&str> = r["roles"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                    .unwrap_or_default();
                (
                    r["organization"].as_str().unwrap_or_default().to_string(),
                    r["workspace"].as_str().unwrap_or_default().to_string(),
                    roles.join(","),
                )
            })
            .collect())
    }

    /// Waits until `list` shows exactly `want` of `orgs`.
    async fn wait_list(&self, who: &str, orgs: &[&str], want: &[(&str, &str, &str)]) {
        let want: BTreeSet<(String, String, String)> = want
            .iter()
            .map(|(o, w, r)| (o.to_string(), w.to_string(), r.to_string()))
            .collect();
        eventually(&format!("{who}'s list to be {want:?}"), LIMIT, || async {
            let got = self.list(orgs)?;
            if got == want {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        })
        .await;
    }
}

/// (organization, workspace, roles) as `list` shows them.
type Listed<'a> = (&'a str, &'a str, &'a str);

fn apply_member(org: &str, name: &str, spec: &str) -> String {
    format!(
        "{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceMember, metadata: {{name: {name}, namespace: {org}}}, spec: {spec}}}"
    )
}

#[tokio::test]
async fn plugin_list_shows_exactly_the_workspaces_each_user_may_use() {
    operator().await;
    let admin = cluster().admin().await;
    let (a, b) = (Scope::new("plug-a"), Scope::new("plug-b"));
    let (oa, ob) = (a.id.as_str(), b.id.as_str());
    organization(&admin, &a).await;
    organization(&admin, &b).await;
    // a/lab: invite-only, owned by erin; carol a member; dave's membership
    // has expired. a/open: the member groups (acme-staff) may enter.
    // b/lab: invite-only, carol an editor. Both defaults are open.
    workspace(
        &admin,
        oa,
        "lab",
        "{owner: {kind: User, name: erin}, acceptAnonymous: false}",
    )
    .await;
    workspace(&admin, oa, "open", "{acceptAnonymous: true}").await;
    workspace(&admin, ob, "lab", "{acceptAnonymous: false}").await;
    for yaml in [
        apply_member(
            oa,
            "lab-carol",
            "{workspace: lab, subject: {kind: User, name: carol}, roles: [viewer]}",
        ),
        apply_member(
            oa,
            "lab-dave",
            "{workspace: lab, subject: {kind: User, name: dave}, roles: [viewer], expiresAt: '2020-01-01T00:00:00Z'}",
        ),
        apply_member(
            ob,
            "lab-carol",
            "{workspace: lab, subject: {kind: User, name: carol}, roles: [editor]}",
        ),
    ] {
        apply_yaml(&admin, &yaml).await;
    }

    let admin_role = "admin (organization)";
    let admin_and_group = "admin (organization),group acme-staff";
    let group = "group acme-staff";
    let expected: [(&str, Vec<Listed>); 7] = [
        // An organization admin (also in the member groups): everything.
        (
            "alice",
            vec![
                (oa, "default", admin_and_group),
                (oa, "lab", admin_role),
                (oa, "open", admin_and_group),
                (ob, "default", admin_and_group),
                (ob, "lab", admin_role),
            ],
        ),
        // In the member groups: the open workspaces.
        (
            "bob",
            vec![
                (oa, "default", group),
                (oa, "open", group),
                (ob, "default", group),
            ],
        ),
        // Member groups, and a member of both labs.
        (
            "carol",
            vec![
                (oa, "default", group),
                (oa, "lab", "viewer"),
                (oa, "open", group),
                (ob, "default", group),
                (ob, "lab", "editor"),
            ],
        ),
        // An expired member: nothing.
        ("dave", vec![]),
        // The owner of a/lab, in no group of these organizations.
        ("erin", vec![(oa, "lab", "owner")]),
        (
            "frank",
            vec![
                (oa, "default", group),
                (oa, "open", group),
                (ob, "default", group),
            ],
        ),
        // An outsider.
        ("mallory", vec![]),
    ];
    for (user, want) in &expected {
        Terminal::of(user).wait_list(user, &[oa, ob], want).await;
    }

    // The table, as kubectl prints one.
    let erin = Terminal::of("erin");
    let table = erin.ok(&["list"]);
    assert!(
        table.starts_with("ORG ") && table.lines().next().unwrap().ends_with("NAMESPACE"),
        "{table}"
    );
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with(&format!("{oa} ")))
        .unwrap_or_else(|| panic!("no row of {oa}:\n{table}"))
        .split_whitespace()
        .collect();
    let ns = format!("{oa}--lab");
    assert_eq!(
        row,
        vec![oa, "lab", "owner", "Ready", "<none>", ns.as_str()]
    );
    let yaml = erin.ok(&["list", "-o", "yaml"]);
    let parsed: serde_yaml::Value = serde_yaml::from_str(&yaml).expect("-o yaml parses");
    assert!(parsed.as_sequence().is_some(), "{yaml}");

    // `use WS` with a name two of carol's workspaces share: the choices.
    let carol = Terminal::of("carol");
    let err = carol.fails(&["use", "lab"]);
    assert!(
        err.contains(&format!("{oa}/lab")) && err.contains(&format!("{ob}/lab")),
        "{err}"
    );

    // Not logged in: a kubeconfig the API server does not accept, or none.
    let stranger = Terminal::of("mallory");
    let text = std::fs::read_to_string(&stranger.kubeconfig).unwrap();
    let forged: String = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("token:") {
                "    token: not-a-valid-token".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&stranger.kubeconfig, forged).unwrap();
    let err = stranger.fails(&["list"]);
    assert!(err.contains("not logged in"), "{err}");
    let err = stranger.fails(&["--kubeconfig", "/nonexistent/config", "list"]);
    assert!(
        err.contains("not logged in") && err.contains("/nonexistent/config"),
        "{err}"
    );
}

#[tokio::test]
async fn plugin_use_points_the_context_at_the_workspace_and_back() {
    use std::os::unix::fs::PermissionsExt;
    let Opening { admin, scope, .. } = opening_with_organization("plug-use").await;
    let org = scope.id.as_str();
    // A name no other test uses, so `use WS` is unambiguous for erin.
    let ws = format!("w{}", random_suffix(8));
    workspace(
        &admin,
        org,
        &ws,
        "{owner: {kind: User, name: erin}, acceptAnonymous: false}",
    )
    .await;
    let ns = format!("{org}--{ws}");
    let full = format!("{org}/{ws}");

    let erin = Terminal::of("erin");
    std::fs::set_permissions(&erin.kubeconfig, std::fs::Permissions::from_mode(0o640)).unwrap();
    let original = std::fs::read_to_string(&erin.kubeconfig).unwrap();
    let err = erin.fails(&["current"]);
    assert!(err.contains("not a workspace"), "{err}");

    // The owner's access to read the Workspace is made by the operator.
    eventually("erin may use the workspace", LIMIT, || async {
        let out = erin.run(&["use", &full]);
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    })
    .await;
    let edited = std::fs::read_to_string(&erin.kubeconfig).unwrap();
    assert_eq!(
        edited,
        original.replace(
            "{cluster: wsop, user: user}",
            &format!("{{cluster: wsop, namespace: '{ns}', user: user}}")
        ),
        "only the namespace changes"
    );
    let mode = std::fs::metadata(&erin.kubeconfig)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o640, "the file keeps its mode");

    // kubectl now works in the workspace namespace.
    let get = cluster().kubectl_with(&erin.kubeconfig, &["get", "pods"], None);
    let said = String::from_utf8_lossy(&get.stderr).into_owned();
    assert!(get.status.success(), "kubectl get pods: {said}");
    assert!(said.contains(&format!("in {ns} namespace")), "{said}");
    ok_stdout(
        cluster().kubectl_with(
            &erin.kubeconfig,
            &["create", "configmap", "made-by-erin", "--from-literal=a=b"],
            None,
        ),
        "kubectl create configmap",
    );
    ok_stdout(
        cluster().kubectl(&["get", "configmap", "made-by-erin", "-n", &ns]),
        "the ConfigMap is in the workspace namespace",
    );
    assert_eq!(erin.ok(&["current"]), format!("{full}\n"));
    let json: serde_json::Value =
        serde_json::from_str(&erin.ok(&["current", "-o", "json"])).unwrap();
    assert_eq!(json["organization"], org);
    assert_eq!(json["workspace"], ws.as_str());
    assert_eq!(json["namespace"], ns.as_str());

    // `use -` goes back: the file is as it was, byte for byte.
    erin.ok(&["use", "-"]);
    assert_eq!(std::fs::read_to_string(&erin.kubeconfig).unwrap(), original);
    erin.fails(&["current"]);
    // ... and forth again, as `cd -` does.
    erin.ok(&["use", "-"]);
    assert_eq!(erin.ok(&["current"]), format!("{full}\n"));
    erin.ok(&["use", "-"]);

    // A bare name when only one of erin's workspaces has it.
    erin.ok(&["use", &ws]);
    assert_eq!(erin.ok(&["current"]), format!("{full}\n"));

    // No such workspace, and one that is not erin's.
    let err = erin.fails(&["use", &format!("{org}/nope")]);
    assert!(err.contains(&format!("no workspace {org}/nope")), "{err}");
    let err = erin.fails(&["use", &format!("{org}/default")]);
    assert!(err.contains("no workspace"), "{err}");

    // With several KUBECONFIG files the one defining the context changes.
    erin.ok(&["use", "-"]);
    let other = erin.dir.path().join("other");
    let other_text = "apiVersion: v1\nkind: Config\ncontexts:\n- name: elsewhere\n  context: {cluster: wsop, user: user}\n";
    std::fs::write(&other, other_text).unwrap();
    let both = std::env::join_paths([other.as_path(), erin.kubeconfig.as_path()]).unwrap();
    let out = erin.run_with(&both, &["use", &full]);
    ok_stdout(out, "use with two kubeconfig files");
    assert_eq!(std::fs::read_to_string(&other).unwrap(), other_text);
    assert_eq!(std::fs::read_to_string(&erin.kubeconfig).unwrap(), edited);
    // --context names the context to edit.
    let out = erin.run_with(&both, &["--context", "elsewhere", "use", &full]);
    ok_stdout(out, "use --context elsewhere");
    assert!(
        std::fs::read_to_string(&other)
            .unwrap()
            .contains(&format!("namespace: '{ns}'"))
    );
}

/// `members -o json` as (kind, subject, role, through).
fn members_of(terminal: &Terminal, ws: &str) -> Result<BTreeSet<[String; 4]>, String> {
    let out = terminal.run(&["members", ws, "-o", "json"]);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let rows: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    Ok(rows
        .iter()
        .map(|r| {
            ["subjectKind", "subject", "role", "through"]
                .map(|k| r[k].as_str().unwrap_or_default().to_string())
        })
        .collect())
}

#[tokio::test]
async fn plugin_members_shows_who_has_access_and_through_what() {
    let Opening { admin, scope, .. } = opening_with_organization("plug-mem").await;
    let org = scope.id.as_str();
    workspace(
        &admin,
        org,
        "lab",
        "{owner: {kind: User, name: erin}, acceptAnonymous: false}",
    )
    .await;
    workspace(&admin, org, "open", "{acceptAnonymous: true}").await;
    apply_yaml(
        &admin,
        &apply_member(
            org,
            "lab-carol",
            "{workspace: lab, subject: {kind: User, name: carol}, roles: [viewer, editor]}",
        ),
    )
    .await;

    let alice = Terminal::of("alice");
    let row = |k: &str, s: &str, r: &str, t: &str| [k, s, r, t].map(String::from);
    let want = BTreeSet::from([
        row("User", "erin", "admin", "owner"),
        row("User", "alice", "admin", "organization admins"),
        row("Group", "acme-platform", "admin", "organization admins"),
        row("User", "carol", "editor", "member lab-carol"),
        row("User", "carol", "viewer", "member lab-carol"),
    ]);
    let lab = format!("{org}/lab");
    eventually("alice sees lab's members", LIMIT, || async {
        let got = members_of(&alice, &lab)?;
        if got == want {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
    let table = alice.ok(&["members", &lab]);
    assert!(
        table.starts_with("SUBJECT KIND   SUBJECT"),
        "a kubectl-like table:\n{table}"
    );
    let open = format!("{org}/open");
    eventually("the member groups in open", LIMIT, || async {
        let got = members_of(&alice, &open)?;
        if got.contains(&row("Group", "acme-staff", "viewer", "member groups")) {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;

    // bob enters open as a viewer, which does not read RBAC: told so.
    let bob = Terminal::of("bob");
    let err = eventually("bob is refused the members of open", LIMIT, || async {
        match members_of(&bob, &open) {
            Err(e) if e.contains("not allowed") => Ok(e),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(
        err.contains(&format!(
            "list rolebindings.rbac.authorization.k8s.io in namespace \"{org}--open\""
        )),
        "{err}"
    );
    // ... in plain words first, with where to look instead.
    assert!(
        err.contains(&format!(
            "who has access to {open} is shown to those who may read"
        )) && err.contains("kubectl workspace roles"),
        "{err}"
    );
    // mallory cannot see the workspace at all.
    let err = Terminal::of("mallory").fails(&["members", &lab]);
    assert!(err.contains(&format!("no workspace {lab}")), "{err}");

    // carol, a member, sees what each of her roles allows, the plan with
    // what is used of it, and that lab is not archived.
    let carol = Terminal::of("carol");
    let shown = eventually("carol's roles in lab", LIMIT, || async {
        let out = carol.run(&["roles", &lab, "-o", "json"]);
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
        let roles: BTreeSet<String> = v["allowed"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                format!(
                    "{} {}",
                    a["role"].as_str().unwrap_or(""),
                    a["through"].as_str().unwrap_or("")
                )
            })
            .collect();
        let used = &v["limits"]["pods"]["used"];
        if roles == BTreeSet::from(["editor member".to_string(), "viewer member".to_string()])
            && used.is_string()
        {
            Ok(v)
        } else {
            Err(v.to_string())
        }
    })
    .await;
    assert_eq!(shown["archived"], false, "{shown}");
    assert_eq!(shown["plan"], "free", "{shown}");
    assert_eq!(shown["limits"]["pods"]["hard"], "10", "{shown}");
    assert!(
        shown.get("notes").is_none(),
        "everything was readable: {shown}"
    );
    let editor_writes_secrets = shown["allowed"].as_array().unwrap().iter().any(|a| {
        a["role"] == "editor"
            && a["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "secrets")
            && a["verbs"].as_array().unwrap().iter().any(|v| v == "create")
    });
    assert!(
        editor_writes_secrets,
        "the editor role's own rules: {shown}"
    );
    let table = carol.ok(&["roles", &lab]);
    assert!(
        table.starts_with(&format!("Workspace {lab}: plan free (pods "))
            && table.contains("not archived."),
        "{table}"
    );
    assert!(
        table.contains("ROLE     THROUGH"),
        "a kubectl-like table:\n{table}"
    );
    // bob, in open through the member groups only, reads the role they
    // hold there, the open workspace's anonymous role.
    let table = eventually("bob's roles in open", LIMIT, || async {
        let out = bob.run(&["roles", &open]);
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        let table = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && said.is_empty() {
            Ok(table)
        } else {
            Err(format!("{said}{table}"))
        }
    })
    .await;
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("viewer   group acme-staff")),
        "{table}"
    );
}

#[tokio::test]
async fn plugin_invite_and_remove_as_an_organization_admin() {
    let Opening { admin, scope, .. } = opening_with_organization("plug-inv").await;
    let org = scope.id.as_str();
    workspace(
        &admin,
        org,
        "lab",
        "{owner: {kind: User, name: erin}, acceptAnonymous: false}",
    )
    .await;
    apply_yaml(&admin, &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceRole, metadata: {{name: secops, namespace: {org}}}, spec: {{rules: [{{apiGroups: [''], resources: [secrets], verbs: [get]}}]}}}}")).await;
    let lab = format!("{org}/lab");
    let members = Api::<WorkspaceMember>::namespaced(admin.clone(), org);

    let alice = Terminal::of("alice");
    let said = alice.ok(&[
        "invite",
        "user:frank",
        "--role",
        "editor",
        "--expires",
        "7d",
        "-w",
        &lab,
    ]);
    assert!(said.contains("lab.user.frank"), "{said}");
    let member = members
        .get("lab.user.frank")
        .await
        .expect("the member exists");
    assert_eq!(member.spec.workspace, "lab");
    assert_eq!(member.spec.roles, vec!["editor"]);
    assert_eq!(member.spec.subject.name, "frank");
    let expires = member.spec.expires_at.expect("an expiry").0;
    let in_a_week = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(7 * 24);
    assert!(
        in_a_week.duration_since(expires).abs() < jiff::SignedDuration::from_secs(120),
        "{expires}"
    );
    let managers: Vec<_> = member
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|f| f.manager.clone())
        .collect();
    assert!(
        managers.contains(&"kubectl-workspace".to_string()),
        "{managers:?}"
    );

    // frank finds it, with its expiry.
    let frank = Terminal::of("frank");
    frank
        .wait_list(
            "frank",
            &[org],
            &[(org, "default", "group acme-staff"), (org, "lab", "editor")],
        )
        .await;
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&frank.ok(&["list", "-o", "json"])).unwrap();
    let lab_row = rows
        .iter()
        .find(|r| r["organization"] == org && r["workspace"] == "lab")
        .unwrap();
    assert!(lab_row["expiresAt"].is_string(), "{lab_row}");

    // Invited again with other roles: the same member, changed.
    alice.ok(&[
        "invite", "frank", "--role", "viewer", "--role", "editor", "-w", &lab,
    ]);
    let member = members.get("lab.user.frank").await.unwrap();
    assert_eq!(member.spec.roles, vec!["viewer", "editor"]);
    assert_eq!(member.spec.expires_at, None);

    // A group, in JSON.
    let out: serde_json::Value = serde_json::from_str(&alice.ok(&[
        "invite",
        "group:acme-contractors",
        "--role",
        "viewer",
        "-w",
        &lab,
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(out["member"], "lab.group.acme-contractors");

    // remove finds frank's member through its bindings.
    eventually("frank's bindings", LIMIT, || async {
        let rb = cluster().kubectl(&[
            "get",
            "rolebindings",
            "-n",
            &format!("{org}--lab"),
            "-l",
            "workspaces.dev/member=lab.user.frank",
            "-o",
            "name",
        ]);
        if String::from_utf8_lossy(&rb.stdout).trim().is_empty() {
            Err("none yet".to_string())
        } else {
            Ok(())
        }
    })
    .await;
    let said = alice.ok(&["remove", "user:frank", "-w", &lab]);
    assert!(said.contains("lab.user.frank"), "{said}");
    wait_gone(&members, "lab.user.frank", LIMIT).await;
    frank
        .wait_list("frank", &[org], &[(org, "default", "group acme-staff")])
        .await;
    let err = alice.fails(&["remove", "user:frank", "-w", &lab]);
    assert!(err.contains("has no access to"), "{err}");
    alice.ok(&["remove", "group:acme-contractors", "-w", &lab]);
    wait_gone(&members, "lab.group.acme-contractors", LIMIT).await;

    // An outsider is refused by the API server, which says what is missing.
    let err = Terminal::of("mallory").fails(&["invite", "mallory", "--role", "admin", "-w", &lab]);
    assert!(
        err.contains("not allowed") && err.contains("patch workspacemembers.workspaces.dev"),
        "{err}"
    );
    // Nonsense is refused before anything is sent.
    let out = alice.run(&[
        "invite",
        "bob",
        "--role",
        "viewer",
        "--expires",
        "yesterday",
        "-w",
        &lab,
    ]);
    assert_eq!(out.status.code(), Some(2));
}

/// Delegated membership (issue 16): a workspace's owner, and members with
/// a role that may manage members, invite and remove with the plugin; the
/// API server refuses them anything beyond their workspace. Passes once the
/// admission policies of delegated membership are installed.
#[tokio::test]
async fn delegated_owner_and_workspace_admin_invite_and_remove_with_the_plugin() {
    let Opening { admin, scope, .. } = opening_with_organization("plug-del").await;
    let org = scope.id.as_str();
    workspace(
        &admin,
        org,
        "lab",
        "{owner: {kind: User, name: erin}, acceptAnonymous: false}",
    )
    .await;
    workspace(
        &admin,
        org,
        "other",
        "{owner: {kind: User, name: dave}, acceptAnonymous: false}",
    )
    .await;
    apply_yaml(&admin, &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceRole, metadata: {{name: secops, namespace: {org}}}, spec: {{rules: [{{apiGroups: [''], resources: [secrets], verbs: [get]}}]}}}}")).await;
    let lab = format!("{org}/lab");
    let members = Api::<WorkspaceMember>::namespaced(admin.clone(), org);

    // The owner invites bob; bob finds the workspace.
    let erin = Terminal::of("erin");
    eventually("erin may invite into lab", LIMIT, || async {
        let out = erin.run(&["invite", "user:bob", "--role", "editor", "-w", &lab]);
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    })
    .await;
    Terminal::of("bob")
        .wait_list(
            "bob",
            &[org],
            &[(org, "default", "group acme-staff"), (org, "lab", "editor")],
        )
        .await;
    // Not into another workspace.
    let err = erin.fails(&[
        "invite",
        "user:bob",
        "--role",
        "editor",
        "-w",
        &format!("{org}/other"),
    ]);
    assert!(
        err.contains("not allowed") || err.contains("refused"),
        "{err}"
    );

    // The owner makes carol a workspace admin, who invites in turn.
    erin.ok(&["invite", "user:carol", "--role", "admin", "-w", &lab]);
    let carol = Terminal::of("carol");
    eventually("carol may invite into lab", LIMIT, || async {
        let out = carol.run(&["invite", "user:frank", "--role", "viewer", "-w", &lab]);
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    })
    .await;
    // A role she may not give: admin gives the predefined roles only.
    let err = carol.fails(&["invite", "user:dave", "--role", "secops", "-w", &lab]);
    assert!(
        err.contains("may not give or take back every role this request touches (secops)"),
        "{err}"
    );
    let err = carol.fails(&[
        "invite",
        "user:frank",
        "--role",
        "viewer",
        "-w",
        &format!("{org}/other"),
    ]);
    assert!(
        err.contains("not allowed") || err.contains("refused"),
        "{err}"
    );

    // And both remove.
    carol.ok(&["remove", "user:frank", "-w", &lab]);
    erin.ok(&["remove", "user:bob", "-w", &lab]);
    wait_gone(&members, "lab.user.frank", LIMIT).await;
    wait_gone(&members, "lab.user.bob", LIMIT).await;
}
