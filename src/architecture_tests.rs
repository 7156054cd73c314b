//! Checks of the code's own shape, and of the recipes in
//! docs/architecture.md: each fails when a step of a recipe is skipped.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::ownership::registry::{self, Kind, Place};
use crate::ownership::{Component, FIELD_MANAGER};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, recursively, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The YAML documents of `file` (relative to the repository).
fn documents(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|d| Value::deserialize(d).ok())
        .filter(|v| !v.is_null())
        .collect()
}

use serde::Deserialize;

#[test]
fn the_architecture_page_names_every_file_under_src() {
    let page = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let src = root().join("src");
    let missing: Vec<String> = rust_files(&src)
        .iter()
        .map(|p| p.strip_prefix(&src).unwrap().display().to_string())
        .filter(|relative| !page.contains(&format!("`{relative}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md does not name (as `path` relative to src/): {missing:?}"
    );
}

/// The functions of `text` (outside its test module) longer than `limit`
/// lines, from the `fn` line to its closing brace: (name, first line, lines).
fn long_functions(text: &str, limit: usize) -> Vec<(String, usize, usize)> {
    let code = text.split("\n#[cfg(test)]").next().unwrap_or_default();
    let mut open: Vec<(String, usize, i64)> = vec![];
    let mut depth: i64 = 0;
    let mut long = vec![];
    for (i, line) in code.lines().enumerate() {
        let trimmed = line.trim_start();
        let header = trimmed
            .split_once("fn ")
            .filter(|(before, _)| {
                before.split_whitespace().all(|w| {
                    matches!(w, "pub" | "async" | "const" | "unsafe") || w.starts_with("pub(")
                })
            })
            .map(|(_, after)| after);
        if let Some(after) = header.filter(|_| !trimmed.starts_with("//")) {
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            open.push((name, i, depth));
        }
        depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
        while let Some((name, start, at)) = open.last().cloned() {
            let closed = depth <= at && (line.contains('}') || line.trim_end().ends_with(';'));
            if !closed {
                break;
            }
            open.pop();
            let lines = i - start + 1;
            if lines > limit {
                long.push((name, start + 1, lines));
            }
        }
    }
    long
}

#[test]
fn no_function_in_controllers_and_resources_is_over_60_lines() {
    let mut long = vec![];
    for dir in ["src/controllers", "src/resources"] {
        for file in rust_files(&root().join(dir)) {
            let name = file.file_name().unwrap().to_string_lossy();
            if name.ends_with("_tests.rs") || name == "properties.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            for (f, line, lines) in long_functions(&text, 60) {
                let at = file.strip_prefix(root()).unwrap().display();
                long.push(format!("{at}:{line} {f} ({lines} lines)"));
            }
        }
    }
    assert!(long.is_empty(), "functions to split: {long:#?}");
}

#[test]
fn the_length_check_sees_a_long_function() {
    let body = "    let x = 1;\n".repeat(61);
    let text = format!("pub async fn long() {{\n{body}}}\n\nfn short() {{\n}}\n");
    assert_eq!(long_functions(&text, 60), [("long".to_string(), 1, 63)]);
    assert!(long_functions(&text, 63).is_empty());
}

/// The rules of the operator's own ClusterRole in deploy/operator-rbac.yaml.
fn operator_rules() -> Vec<Value> {
    let docs = documents("deploy/operator-rbac.yaml");
    let role = docs
        .iter()
        .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == FIELD_MANAGER)
        .expect("the operator's ClusterRole");
    role["rules"].as_sequence().unwrap().clone()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

/// Recipe "a new kind of child", step "the operator's RBAC": every kind
/// the registry lists can be read, watched, written and deleted by it.
#[test]
fn the_operator_may_write_and_delete_every_kind_of_the_registry() {
    let rules = operator_rules();
    for kind in Kind::ALL {
        for verb in ["get", "list", "watch", "create", "patch", "delete"] {
            let granted = rules.iter().any(|r| {
                strings(&r["apiGroups"]).iter().any(|g| g == kind.group())
                    && strings(&r["resources"]).iter().any(|x| x == kind.plural())
                    && strings(&r["verbs"]).iter().any(|v| v == verb || v == "*")
            });
            assert!(
                granted,
                "deploy/operator-rbac.yaml does not let the operator {verb} {}",
                kind.plural()
            );
        }
    }
}

/// Recipe "a new guardrail", step "only the operator changes it": every
/// kind the operator makes inside workspace namespaces is covered by an
/// admission policy that refuses tenants' updates and deletes of the
/// operator's objects there.
#[test]
fn every_kind_made_in_workspace_namespaces_is_protected_by_admission() {
    let protecting = [
        "workspaces.dev-protect-workspace-guardrails",
        "workspaces.dev-read-only-credential-copies",
    ];
    let policies = documents("deploy/admission-policies.yaml");
    let covered: Vec<String> = policies
        .iter()
        .filter(|p| p["kind"] == "ValidatingAdmissionPolicy")
        .filter(|p| protecting.iter().any(|n| p["metadata"]["name"] == *n))
        .flat_map(|p| {
            p["spec"]["matchConstraints"]["resourceRules"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|rule| {
            let ops = strings(&rule["operations"]);
            ops.iter().any(|o| o == "UPDATE") && ops.iter().any(|o| o == "DELETE")
        })
        .flat_map(|rule| strings(&rule["resources"]))
        .collect();
    let in_workspaces = registry::kinds_where(|_, e| e.place == Place::WorkspaceNamespace);
    for kind in in_workspaces {
        assert!(
            covered.iter().any(|r| r == kind.plural()),
            "no admission policy keeps tenants from changing the operator's {} in workspace namespaces",
            kind.plural()
        );
    }
}

/// Recipe "a new Organization default": the organization's status reports
/// every default with the value in effect, whether or not it sets it.
#[test]
fn every_organization_default_is_reported_in_effect() {
    let org: crate::api::Organization = serde_yaml::from_str(
        "{apiVersion: workspaces.dev/v1alpha1, kind: Organization, metadata: {name: acme}, spec: {admins: []}}",
    )
    .unwrap();
    let reported =
        serde_json::to_value(crate::resources::defaults::organization_defaults(&org)).unwrap();
    let crd: serde_json::Value = serde_yaml::from_str(
        &std::fs::read_to_string(root().join("crds/organization.yaml")).unwrap(),
    )
    .unwrap();
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let fields = schema["properties"]["spec"]["properties"]["defaults"]["properties"]
        .as_object()
        .expect("spec.defaults in the CRD");
    for field in fields.keys() {
        // The plan has no default: none is reported when none is set.
        if field == "plan" {
            continue;
        }
        assert!(
            !reported[field].is_null(),
            "status.effectiveDefaults does not report spec.defaults.{field} (resources::defaults::organization_defaults)"
        );
    }
}

/// Recipe "a new kind of child", step "mark it": every component names
/// its kinds and maker in the registry, and its marks lead back to its owner.
#[test]
fn every_component_of_the_registry_has_kinds_unless_it_marks_one_of_the_four() {
    for c in Component::ALL {
        let entry = c.entry();
        assert!(
            !entry.kinds.is_empty() || c == Component::PredefinedRole,
            "{c} names no kind"
        );
    }
}

/// The benchmark's floor writes a workspace's children as
/// `WorkspaceChildren::objects` lists them: every kind a workspace makes in
/// its namespace is there (credential copies aside: they need a share).
#[test]
fn a_workspace_lists_every_kind_it_makes_for_the_floor() {
    let org: crate::api::Organization = serde_yaml::from_str(
        "{apiVersion: workspaces.dev/v1alpha1, kind: Organization, metadata: {name: acme, uid: o}, spec: {defaults: {plan: pro}, plans: {pro: {quota: {pods: '9'}, limitRange: {default: {cpu: 500m}}, placement: {nodeSelector: {pool: a}}, network: {ingressFromWorkspaces: [web]}}}}}",
    )
    .unwrap();
    let ws: crate::api::Workspace = serde_yaml::from_str(
        "{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {name: pay, namespace: acme, uid: w}, spec: {owner: {kind: User, name: alice}, archived: true}}",
    )
    .unwrap();
    let children = crate::resources::workspace::build(&ws, &org, &Default::default()).unwrap();
    let listed: Vec<Kind> = children.objects().into_iter().map(|(k, _)| k).collect();
    let made = registry::kinds_where(|c, e| {
        e.place == Place::WorkspaceNamespace
            && e.makers.contains(&registry::Maker::Workspace)
            && c != Component::CredentialCopy
    });
    for kind in made.into_iter().chain([Kind::Namespace]) {
        assert!(
            listed.contains(&kind),
            "WorkspaceChildren::objects lists no {kind:?}"
        );
    }
}
