//! Property tests of the pure layer: random specs (valid names, anything
//! else random, including values admission would refuse) go through the
//! builders. Nothing panics, and every object built for a workspace stays in
//! that workspace's namespace and organization: its namespace, its labels,
//! and the roles its bindings refer to.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::ResourceExt;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;

use crate::api::organization::{
    ContainerLimits, OrganizationSharedCredential, Plan, WorkspaceDefaults,
};
use crate::api::role::RoleRule;
use crate::api::workspace::WorkspaceSharedCredential;
use crate::api::{
    Organization, OrganizationSpec, QuantityValue, Subject, SubjectKind, Workspace,
    WorkspaceMember, WorkspaceMemberSpec, WorkspaceRole, WorkspaceRoleSpec, WorkspaceSpec,
};
use crate::ownership;
use crate::ownership::names::{
    organization_namespace, split_workspace_namespace, workspace_namespace,
};
use crate::resources::{credentials, member, organization, predefined_roles, role, workspace};

/// Names admission accepts for organizations and workspaces.
fn name(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!(
        "[a-z0-9]([a-z0-9]|-[a-z0-9]){{0,{}}}",
        (max - 1) / 2
    ))
    .expect("a valid regex for any max")
}

/// Exactly `s` (a plain string strategy would be read as a regex).
fn lit(s: &'static str) -> Just<String> {
    Just(s.to_string())
}

/// Any text, short: what a field that is not a name may hold.
fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("(.|[:/*-]){0,12}").expect("a fixed, valid regex")
}

fn subject() -> impl Strategy<Value = Subject> {
    (0..3u8, text(), option::of(name(20))).prop_map(|(kind, name, namespace)| Subject {
        kind: match kind {
            0 => SubjectKind::User,
            1 => SubjectKind::Group,
            _ => SubjectKind::ServiceAccount,
        },
        name,
        namespace,
    })
}

fn quantities() -> impl Strategy<Value = Option<BTreeMap<String, QuantityValue>>> {
    option::of(btree_map(
        prop_oneof![
            lit("pods"),
            lit("requests.cpu"),
            lit("limits.memory"),
            text()
        ],
        prop_oneof![lit("1"), lit("500m"), lit("2Gi"), lit("0.5"), text()].prop_map(QuantityValue),
        0..3,
    ))
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        option::of(text()),
        quantities(),
        option::of((quantities(), quantities())),
    )
        .prop_map(|(description, quota, limits)| Plan {
            description,
            quota,
            limit_range: limits.map(|(default, max)| ContainerLimits {
                default,
                default_request: None,
                max,
                min: None,
            }),
            workspace_namespace: None,
            network: None,
            placement: None,
            run_timeout: None,
        })
}

prop_compose! {
    fn org()(
        name in name(30),
        admins in option::of(vec(subject(), 0..3)),
        member_groups in option::of(vec(text(), 0..3)),
        plans in btree_map(name(8), plan(), 0..3),
        free in plan(),
        default_plan in prop_oneof![Just(None), Just(Some("free".to_string())), option::of(name(8))],
        accept_anonymous in option::of(any::<bool>()),
        anonymous_role in option::of(prop_oneof![lit("viewer"), lit("editor"), name(8)]),
        network_isolation in option::of(any::<bool>()),
        shared in option::of(vec(name(12), 0..3)),
        uid in "[a-f0-9]{8}",
    ) -> Organization {
        let mut o = Organization::new(&name, OrganizationSpec {
            display_name: None,
            description: None,
            deletion_protection: None,
            admins,
            member_groups,
            default_workspace: None,
            defaults: Some(WorkspaceDefaults {
                accept_anonymous,
                anonymous_role,
                plan: default_plan,
                network_isolation,
                deletion_grace_period: None,
            }),
            plans: Some(plans.into_iter().chain([("free".to_string(), free)]).collect()),
            shared_credentials: shared.map(|s| s.into_iter().map(|secret_name| OrganizationSharedCredential { secret_name }).collect()),
            workspace_namespace: None,
            budget: None,
        });
        o.metadata.uid = Some(format!("org-{uid}"));
        o
    }
}

prop_compose! {
    fn workspace_spec()(
        time_zone in prop_oneof![3 => Just(None), 3 => option::of(lit("Europe/Bucharest")), 1 => option::of(text())],
        owner in option::of(subject()),
        accept_anonymous in option::of(any::<bool>()),
        anonymous_role in option::of(prop_oneof![lit("viewer"), name(8)]),
        plan in prop_oneof![3 => Just(None), 3 => option::of(lit("free")), 1 => option::of(name(8))],
        network_isolation in option::of(any::<bool>()),
        variables in option::of(btree_map(text(), text(), 0..4)),
        shared in option::of(vec((name(12), vec(name(31), 0..3)), 0..3)),
        archived in option::of(any::<bool>()),
    ) -> WorkspaceSpec {
        WorkspaceSpec {
            display_name: None,
            description: None,
            time_zone,
            owner,
            accept_anonymous,
            anonymous_role,
            plan,
            network_isolation,
            variables,
            shared_credentials: shared.map(|s| s.into_iter().map(|(secret_name, workspaces)| WorkspaceSharedCredential { secret_name, workspaces }).collect()),
            archived,
            deletion_policy: None,
            deletion_protection: None,
            deletion_grace_period: None,
        }
    }
}

fn rule() -> impl Strategy<Value = RoleRule> {
    (
        vec(prop_oneof![lit(""), lit("apps"), lit("*"), text()], 1..3),
        vec(
            prop_oneof![lit("pods"), lit("secrets"), lit("*"), text()],
            1..3,
        ),
        option::of(vec(text(), 0..2)),
        vec(
            prop_oneof![lit("get"), lit("create"), lit("*"), text()],
            1..3,
        ),
    )
        .prop_map(|(api_groups, resources, resource_names, verbs)| RoleRule {
            api_groups,
            resources,
            resource_names,
            verbs,
        })
}

fn role_spec() -> impl Strategy<Value = WorkspaceRoleSpec> {
    (option::of(vec(rule(), 0..4)), option::of(vec(text(), 0..2))).prop_map(
        |(rules, cluster_roles)| WorkspaceRoleSpec {
            description: None,
            rules,
            cluster_roles,
            manage_members: None,
        },
    )
}

fn in_namespace<K: kube::Resource>(obj: &K, ns: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        obj.meta().namespace.as_deref(),
        Some(ns),
        "{:?}",
        obj.meta().name
    );
    Ok(())
}

fn marked_for(
    labels_of: &BTreeMap<String, String>,
    org: &str,
    ws: Option<&str>,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        labels_of.get(ownership::ORGANIZATION).map(String::as_str),
        Some(org)
    );
    prop_assert_eq!(
        labels_of.get(ownership::MANAGED_BY).map(String::as_str),
        Some(ownership::MANAGED_BY_VALUE)
    );
    if let Some(ws) = ws {
        prop_assert_eq!(
            labels_of.get(ownership::WORKSPACE).map(String::as_str),
            Some(ws)
        );
    }
    Ok(())
}

/// A binding made for organization `org` refers only to that organization's
/// roles: never to a built-in ClusterRole or another organization's role.
fn binds_own_roles(b: &RoleBinding, org: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(&b.role_ref.kind, "ClusterRole");
    prop_assert!(
        b.role_ref
            .name
            .starts_with(&crate::ownership::names::role(org, "")),
        "{} binds {}",
        b.name_any(),
        b.role_ref.name
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn organization_children_stay_in_the_organization(org in org()) {
        let name = org.name_any();
        let ns = organization_namespace(&name);
        let c = organization::build(&org, &crate::resources::tenancy::TenantPolicy {
            delegated_membership: true,
            organization_admins_manage_admins: true,
            ..Default::default()
        });
        prop_assert_eq!(c.namespace.name_any(), ns.clone());
        marked_for(c.namespace.labels(), &name, None)?;
        in_namespace(&c.admin_role, &ns)?;
        for b in c.admin_binding.iter() {
            in_namespace(b, &ns)?;
            prop_assert_eq!(&b.role_ref.kind, "Role");
        }
        // The cluster-scoped pieces are named after the organization and
        // grant reading that one Organization object only.
        prop_assert!(c.reader_cluster_role.name_any().contains(&name));
        for rule in c.reader_cluster_role.rules.iter().flatten() {
            prop_assert_eq!(rule.resource_names.clone(), Some(vec![name.clone()]));
        }
        for b in c.reader_binding.iter() {
            prop_assert_eq!(&b.role_ref.name, &c.reader_cluster_role.name_any());
        }
        // The admins' editors role changes that one Organization only.
        let editors = c.editors_cluster_role.as_ref().expect("allowed by the policy");
        prop_assert_eq!(editors.name_any(), crate::ownership::names::organization_editors(&name));
        for rule in editors.rules.iter().flatten() {
            prop_assert_eq!(rule.resource_names.clone(), Some(vec![name.clone()]));
            prop_assert_eq!(rule.resources.clone(), Some(vec!["organizations".to_string()]));
        }
        for b in c.editors_binding.iter() {
            prop_assert_eq!(&b.role_ref.name, &editors.name_any());
        }
        for r in &c.predefined_roles {
            in_namespace(r, &ns)?;
        }
        in_namespace(&c.default_workspace, &ns)?;
    }

    #[test]
    fn workspace_children_stay_in_the_workspace(
        org in org(),
        ws_name in name(31),
        spec in workspace_spec(),
    ) {
        let org_name = org.name_any();
        let mut ws = Workspace::new(&ws_name, spec);
        ws.metadata.namespace = Some(organization_namespace(&org_name));
        ws.metadata.uid = Some("ws-uid".into());
        let ns = workspace_namespace(&org_name, &ws_name);
        prop_assert_eq!(split_workspace_namespace(&ns), Some((org_name.as_str(), ws_name.as_str())));
        // A spec only the operator can judge is an error, never a panic.
        let Ok(c) = workspace::build(&ws, &org, &Default::default()) else { return Ok(()) };
        prop_assert_eq!(c.namespace.name_any(), ns.clone());
        marked_for(c.namespace.labels(), &org_name, Some(&ws_name))?;
        for b in &c.role_bindings {
            in_namespace(b, &ns)?;
            marked_for(b.labels(), &org_name, Some(&ws_name))?;
            binds_own_roles(b, &org_name)?;
        }
        if ws.spec.archived == Some(true) {
            for b in &c.role_bindings {
                prop_assert_eq!(&b.role_ref.name, &crate::ownership::names::role(&org_name, predefined_roles::VIEWER));
            }
        }
        for q in c.settings.quota().iter() { in_namespace(*q, &ns)?; }
        for l in c.settings.limit_range().iter() { in_namespace(*l, &ns)?; }
        for n in c.settings.network_policy.iter() { in_namespace(n, &ns)?; }
        for i in c.settings.info.iter() { in_namespace(i, &ns)?; }

        // Credential copies land in workspaces of the same organization only.
        for share in credentials::workspace_shares(&ws)
            .into_iter()
            .chain(credentials::organization_shares(&org, std::slice::from_ref(&ws)))
        {
            prop_assert!(!share.targets.contains(&ws_name) || org.spec.shared_credentials.is_some());
            for target in &share.targets {
                let mut source = k8s_openapi::api::core::v1::Secret::default();
                source.metadata.name = Some(share.secret.clone());
                source.metadata.namespace = Some(ns.clone());
                let copy = credentials::copy(&source, &org_name, target, "uid", Some(&ws_name));
                in_namespace(&copy, &workspace_namespace(&org_name, target))?;
                marked_for(copy.labels(), &org_name, Some(target))?;
                prop_assert_eq!(copy.immutable, Some(true));
            }
        }
    }

    #[test]
    fn member_access_stays_in_its_workspace_and_roles(
        org_name in name(30),
        ws_name in name(31),
        member_name in name(40),
        subject in subject(),
        wanted in vec(prop_oneof![lit("viewer"), lit("editor"), lit("admin"), name(8)], 0..4),
        known in vec(name(8), 0..3),
        archived in any::<bool>(),
        expires in option::of(0i64..4_000_000_000),
    ) {
        let org_ns = organization_namespace(&org_name);
        let mut m = WorkspaceMember::new(&member_name, WorkspaceMemberSpec {
            workspace: ws_name.clone(),
            subject,
            roles: wanted.clone(),
            expires_at: expires.and_then(|s| jiff::Timestamp::from_second(s).ok())
                .map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time),
        });
        m.metadata.namespace = Some(org_ns.clone());
        m.metadata.uid = Some("member-uid".into());
        let roles: Vec<WorkspaceRole> = predefined_roles::all()
            .into_iter()
            .map(|(n, s)| (n.to_string(), s))
            .chain(known.iter().map(|n| (n.clone(), predefined_roles::viewer())))
            .map(|(n, s)| {
                let mut r = WorkspaceRole::new(&n, s);
                r.metadata.namespace = Some(org_ns.clone());
                r
            })
            .collect();
        let access = member::build(&m, &roles, archived, true);
        let ns = workspace_namespace(&org_name, &ws_name);
        for b in &access.bindings {
            in_namespace(b, &ns)?;
            marked_for(b.labels(), &org_name, Some(&ws_name))?;
            binds_own_roles(b, &org_name)?;
            // Only roles the member asked for and the organization has.
            let granted = b.role_ref.name.rsplit(':').next().expect("rsplit yields at least one part").to_string();
            prop_assert!(roles.iter().any(|r| r.name_any() == granted));
            if archived {
                prop_assert_eq!(granted, predefined_roles::VIEWER);
            } else {
                prop_assert!(wanted.contains(&granted));
            }
        }
        // The reader access is in the organization namespace and reads this
        // member and its workspace only.
        for r in access.reader_role.iter() {
            in_namespace(r, &org_ns)?;
            for rule in r.rules.iter().flatten() {
                // A manager's writes on members (the admission policy
                // limits them): never a read, never anything else.
                if *rule == crate::resources::delegation::member_writes() {
                    prop_assert!(!archived);
                    continue;
                }
                // And the verbs the admission policy asks about, on this
                // workspace only.
                if rule.verbs.iter().any(|v| v == crate::resources::delegation::MANAGE_MEMBERS) {
                    prop_assert!(!archived);
                    prop_assert_eq!(rule.resource_names.clone(), Some(vec![ws_name.clone()]));
                    prop_assert_eq!(rule.resources.clone(), Some(vec!["workspaces".to_string()]));
                    prop_assert!(rule.verbs.iter().all(|v| v == "manage-members" || v.starts_with("assign-")));
                    continue;
                }
                let names = rule.resource_names.clone().unwrap_or_default();
                prop_assert!(!names.is_empty(), "reader rule without resourceNames");
                if rule.resources.iter().flatten().any(|x| x == "workspaceroles") {
                    // The WorkspaceRoles it holds (asked for and known), no other.
                    prop_assert!(names.iter().all(|n| wanted.contains(n) && roles.iter().any(|r| r.name_any() == *n)), "{:?}", names);
                } else {
                    prop_assert!(names.iter().all(|n| *n == member_name || *n == ws_name), "{:?}", names);
                }
                prop_assert!(rule.verbs.iter().all(|v| v == "get" || v == "watch" || v == "list"));
            }
        }
        for b in access.reader_binding.iter() {
            in_namespace(b, &org_ns)?;
            prop_assert_eq!(&b.role_ref.kind, "Role");
        }
    }

    #[test]
    fn role_cluster_role_is_the_organizations_own(
        org_name in name(30),
        role_name in name(40),
        spec in role_spec(),
    ) {
        let cr = role::cluster_role(&org_name, &role_name, "role-uid", &spec, &[]);
        prop_assert_eq!(cr.name_any(), crate::ownership::names::role(&org_name, &role_name));
        marked_for(cr.labels(), &org_name, None)?;
        prop_assert!(cr.aggregation_rule.is_none());
        for rule in cr.rules.iter().flatten() {
            prop_assert!(rule.non_resource_urls.is_none());
        }
    }

    #[test]
    fn different_names_never_share_a_namespace(
        a in (name(30), name(31)),
        b in (name(30), name(31)),
    ) {
        let (na, nb) = (workspace_namespace(&a.0, &a.1), workspace_namespace(&b.0, &b.1));
        prop_assert_eq!(na == nb, a == b);
        prop_assert!(na.len() <= 63);
        // No workspace namespace is ever an organization namespace.
        prop_assert_ne!(na, organization_namespace(&b.0));
    }
}

/// The properties above skip specs the builder refuses; most random specs
/// must build, or those properties would check next to nothing.
#[test]
fn most_random_workspaces_build() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let cases = 200;
    let built = (0..cases)
        .filter(|_| {
            let org = org()
                .new_tree(&mut runner)
                .expect("strategies without filters never reject")
                .current();
            let spec = workspace_spec()
                .new_tree(&mut runner)
                .expect("strategies without filters never reject")
                .current();
            let mut ws = Workspace::new("w", spec);
            ws.metadata.namespace = Some(org.name_any());
            ws.metadata.uid = Some("ws-uid".into());
            workspace::build(&ws, &org, &Default::default()).is_ok()
        })
        .count();
    assert!(
        built * 3 >= cases,
        "only {built} of {cases} random workspaces built"
    );
}
