//! Organization → its namespace, its admins' access, the predefined roles
//! and the default workspace.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef,
};
use kube::api::ObjectMeta;
use kube::core::DeserializeGuard;
use kube::{Resource, ResourceExt};

use super::credentials::{Share, organization_shares};
use super::decision::{self, Decision, Next, ready};
pub use super::defaults::{DEFAULT_WORKSPACE_NAME, default_workspace_name, is_default_workspace};
use super::tenancy::TenantPolicy;
use super::{delegation, owner_reference, predefined_roles, rbac_subject};
use crate::api::member::MemberPhase;
use crate::api::workspace::WorkspaceSpec;
use crate::api::{Organization, Workspace, WorkspaceMember, WorkspaceRole};
use crate::ownership::names::{
    self, ORGANIZATION_ADMIN_ROLE as ADMIN_ROLE, ORGANIZATION_ADMINS_BINDING,
    organization_namespace,
};
use crate::ownership::{self, Component, Owner};

/// Everything an organization wants to exist.
#[derive(Clone, Debug)]
pub struct OrganizationChildren {
    pub namespace: Namespace,
    /// What org admins may do in the organization namespace.
    pub admin_role: Role,
    /// Binds the admins to `admin_role`; None when there are no admins.
    pub admin_binding: Option<RoleBinding>,
    /// Lets the admins read their own Organization object.
    pub reader_cluster_role: ClusterRole,
    pub reader_binding: Option<ClusterRoleBinding>,
    /// Lets the admins change the admins list (the admission policy keeps
    /// the rest of the Organization), when the platform allows it.
    pub editors_cluster_role: Option<ClusterRole>,
    pub editors_binding: Option<ClusterRoleBinding>,
    pub predefined_roles: Vec<WorkspaceRole>,
    pub default_workspace: Workspace,
}

fn rule(
    groups: &[&str],
    resources: &[&str],
    verbs: &[&str],
    names: Option<Vec<String>>,
) -> PolicyRule {
    PolicyRule {
        api_groups: Some(groups.iter().map(|s| s.to_string()).collect()),
        resources: Some(resources.iter().map(|s| s.to_string()).collect()),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        resource_names: names,
        non_resource_urls: None,
    }
}

/// Builds the organization's children. `org` must have a name and a UID.
pub fn build(org: &Organization, policy: &TenantPolicy) -> OrganizationChildren {
    let name = org.name_any();
    let uid = org.uid().unwrap_or_default();
    let ns = organization_namespace(&name);
    let owner = Owner::Organization { name: name.clone() };
    let marks = |component| ownership::marks(&owner, &uid, component);
    let meta = |n: &str, component: Component| ObjectMeta {
        name: Some(n.to_string()),
        namespace: Some(ns.clone()),
        labels: Some(marks(component)),
        ..Default::default()
    };
    let owner = owner_reference(org);
    let subjects: Vec<_> = org.spec.admins.iter().flatten().map(rbac_subject).collect();
    let all = predefined_roles::WRITE;

    let admin_role = Role {
        metadata: meta(ADMIN_ROLE, Component::OrganizationAccess),
        rules: Some(vec![
            rule(
                &["workspaces.dev"],
                &["workspaces", "workspaceroles", "workspacemembers"],
                all,
                None,
            ),
            rule(
                &["workspaces.dev"],
                &[
                    "workspaces/status",
                    "workspaceroles/status",
                    "workspacemembers/status",
                ],
                &["get", "list", "watch"],
                None,
            ),
            // The admission policy of delegated membership lets them
            // manage every member of the organization.
            delegation::organization_wide(),
            rule(&[""], &["secrets", "configmaps"], all, None),
            rule(&[""], &["events"], &["get", "list", "watch"], None),
            rule(
                &["events.k8s.io"],
                &["events"],
                &["get", "list", "watch"],
                None,
            ),
        ]),
    };
    let role_ref = |kind: &str, n: &str| RoleRef {
        api_group: "rbac.authorization.k8s.io".into(),
        kind: kind.into(),
        name: n.into(),
    };
    let admin_binding = (!subjects.is_empty()).then(|| RoleBinding {
        metadata: meta(ORGANIZATION_ADMINS_BINDING, Component::OrganizationAccess),
        role_ref: role_ref("Role", ADMIN_ROLE),
        subjects: Some(subjects.clone()),
    });

    let reader_name = names::organization_reader(&name);
    let cluster_meta = || ObjectMeta {
        name: Some(reader_name.clone()),
        labels: Some(marks(Component::OrganizationAccess)),
        owner_references: owner.clone().map(|o| vec![o]),
        ..Default::default()
    };
    let reader_cluster_role = ClusterRole {
        metadata: cluster_meta(),
        rules: Some(vec![rule(
            &["workspaces.dev"],
            &["organizations", "organizations/status"],
            &["get", "watch"],
            Some(vec![name.clone()]),
        )]),
        aggregation_rule: None,
    };
    let reader_binding = (!subjects.is_empty()).then(|| ClusterRoleBinding {
        metadata: cluster_meta(),
        role_ref: role_ref("ClusterRole", &reader_name),
        subjects: Some(subjects.clone()),
    });
    let editors_name = names::organization_editors(&name);
    let editors_meta = || ObjectMeta {
        name: Some(editors_name.clone()),
        ..cluster_meta()
    };
    let editors_cluster_role = policy
        .organization_admins_manage_admins
        .then(|| ClusterRole {
            metadata: editors_meta(),
            rules: Some(vec![delegation::organization_admins_edit(&name)]),
            aggregation_rule: None,
        });
    let editors_binding = editors_cluster_role
        .as_ref()
        .filter(|_| !subjects.is_empty())
        .map(|_| ClusterRoleBinding {
            metadata: editors_meta(),
            role_ref: role_ref("ClusterRole", &editors_name),
            subjects: Some(subjects),
        });

    let predefined_roles = predefined_roles::all()
        .into_iter()
        .map(|(role, spec)| {
            let mut r = WorkspaceRole::new(role, spec);
            let mut l = marks(Component::PredefinedRole);
            l.insert(ownership::PREDEFINED.into(), "true".into());
            r.metadata.namespace = Some(ns.clone());
            r.metadata.labels = Some(l);
            r
        })
        .collect();

    // Only the mark: the spec stays the users' to set (GitOps may own it).
    let mut default_workspace = Workspace::new(default_workspace_name(org), empty_workspace_spec());
    default_workspace.metadata.namespace = Some(ns.clone());
    default_workspace.metadata.labels =
        Some([(ownership::DEFAULT_WORKSPACE.to_string(), "true".to_string())].into());

    OrganizationChildren {
        namespace: Namespace {
            metadata: ObjectMeta {
                name: Some(ns.clone()),
                labels: Some(marks(Component::OrganizationNamespace)),
                ..Default::default()
            },
            ..Default::default()
        },
        admin_role,
        admin_binding,
        reader_cluster_role,
        reader_binding,
        editors_cluster_role,
        editors_binding,
        predefined_roles,
        default_workspace,
    }
}

fn empty_workspace_spec() -> WorkspaceSpec {
    serde_json::from_value(serde_json::json!({})).expect("every workspace field is optional")
}

/// What an organization's reconcile reads: the cached objects themselves,
/// shared, not copies (an organization of a thousand workspaces is read on
/// every member's first grant).
#[derive(Clone, Debug)]
pub struct OrganizationInput {
    /// Its workspaces, sorted by name (those that decode).
    pub workspaces: Vec<Arc<DeserializeGuard<Workspace>>>,
    /// Its members (their status says what they grant).
    pub members: Vec<Arc<DeserializeGuard<WorkspaceMember>>>,
    /// Namespaces of its deleted workspaces kept until their purge, or
    /// retained (none whose Workspace exists again: that one is restoring it).
    pub kept: Vec<super::guardrails::KeptNamespace>,
    /// Its namespaces as the API server lists them: read only when it goes
    /// with no workspace left (a cache may lag, and a kept namespace left
    /// behind could be restored into a later organization of the same name).
    pub namespaces_now: Vec<ObjectMeta>,
    pub now: jiff::Timestamp,
}

impl OrganizationInput {
    fn workspaces(&self) -> Vec<&Workspace> {
        self.workspaces
            .iter()
            .filter_map(|g| g.0.as_ref().ok())
            .collect()
    }

    fn members(&self) -> Vec<&WorkspaceMember> {
        self.members
            .iter()
            .filter_map(|g| g.0.as_ref().ok())
            .collect()
    }
}

/// Everything an organization writes: its children and credential shares.
#[derive(Clone, Debug)]
pub struct OrganizationWrites {
    pub children: OrganizationChildren,
    /// Everyone with access to one of its workspaces may read the
    /// Organization: its visitor shards (none when nobody has access).
    pub visitors: Vec<ClusterRoleBinding>,
    pub shares: Vec<Share>,
    /// Kept namespaces whose purge time has come.
    pub purges: Vec<super::guardrails::KeptNamespace>,
}

/// What an organization's status reports besides the outcome.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct OrganizationFacts {
    pub workspaces: i32,
    /// Kept namespaces not purged yet, by purge time.
    pub pending_purges: Vec<crate::api::organization::PendingPurge>,
    /// Namespaces of deleted workspaces retained (no purge time), by workspace.
    pub retained: Vec<crate::api::organization::RetainedNamespace>,
}

/// Most subjects in one visitor shard: a rewrite stays small (tens of KB)
/// and far from etcd's object size limit, whatever tenants do.
pub const SUBJECTS_PER_SHARD: usize = 500;

/// The ClusterRoleBindings that let everyone with access to a workspace of
/// `org` read it: owners and open member groups of its workspaces, and
/// members whose status says they are granted a role, not expired, not
/// going. A few per organization, not one per member or workspace: the API
/// server's authorizer walks every ClusterRoleBinding on each request (and
/// the escalation check of every Role and RoleBinding write walks them
/// all), so their number is a cost for the whole cluster. Subjects are
/// spread over a power-of-two number of shards by a stable hash, each of at
/// most about [`SUBJECTS_PER_SHARD`]: a change rewrites one small shard.
pub fn visitors(
    org: &Organization,
    workspaces: &[&Workspace],
    members: &[&WorkspaceMember],
    policy: &TenantPolicy,
    now: jiff::Timestamp,
) -> Vec<ClusterRoleBinding> {
    let name = org.name_any();
    let live: Vec<&Workspace> = workspaces
        .iter()
        .copied()
        .filter(|w| w.meta().deletion_timestamp.is_none())
        .collect();
    let live_names: std::collections::BTreeSet<String> =
        live.iter().map(|w| w.name_any()).collect();
    let mut subjects: Vec<&crate::api::Subject> = vec![];
    let groups: Vec<crate::api::Subject> = org
        .spec
        .member_groups
        .iter()
        .flatten()
        .map(|g| crate::api::Subject {
            kind: crate::api::SubjectKind::Group,
            name: g.clone(),
            namespace: None,
        })
        .collect();
    let mut any_open = false;
    for ws in &live {
        subjects.extend(ws.spec.owner.iter());
        any_open |= super::defaults::effective(ws, org).accept_anonymous;
    }
    if any_open {
        subjects.extend(groups.iter());
    }
    let granted = |m: &&&WorkspaceMember| {
        m.meta().deletion_timestamp.is_none()
            && live_names.contains(&m.spec.workspace)
            && m.spec
                .expires_at
                .as_ref()
                .is_none_or(|e| e.0.duration_since(now).is_positive())
            && m.status.as_ref().is_some_and(|s| {
                s.phase == Some(MemberPhase::Active)
                    && s.granted_roles.as_ref().is_some_and(|r| !r.is_empty())
            })
    };
    subjects.extend(members.iter().filter(granted).map(|m| &m.spec.subject));
    let mut rbac: Vec<_> = subjects
        .into_iter()
        .filter(|s| policy.subject_refusal(s, &name).is_none())
        .map(rbac_subject)
        .collect();
    rbac.sort_by(|a, b| (&a.kind, &a.namespace, &a.name).cmp(&(&b.kind, &b.namespace, &b.name)));
    rbac.dedup();
    if rbac.is_empty() {
        return vec![];
    }
    let shards = rbac.len().div_ceil(SUBJECTS_PER_SHARD).next_power_of_two();
    let mut by_shard: Vec<Vec<k8s_openapi::api::rbac::v1::Subject>> = vec![vec![]; shards];
    for subject in rbac {
        let key = format!(
            "{}/{}/{}",
            subject.kind,
            subject.namespace.as_deref().unwrap_or_default(),
            subject.name
        );
        by_shard[(stable_hash(&key) % shards as u64) as usize].push(subject);
    }
    by_shard
        .into_iter()
        .enumerate()
        .filter(|(_, subjects)| !subjects.is_empty())
        .map(|(shard, subjects)| ClusterRoleBinding {
            metadata: ObjectMeta {
                name: Some(names::visitor_shard(&name, shard)),
                labels: Some(ownership::marks(
                    &Owner::Organization { name: name.clone() },
                    &org.uid().unwrap_or_default(),
                    Component::VisitorShard,
                )),
                owner_references: owner_reference(org).map(|o| vec![o]),
                ..Default::default()
            },
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: names::organization_reader(&name),
            },
            subjects: Some(subjects),
        })
        .collect()
}

/// FNV-1a: the same on every build and platform (a subject must stay in
/// its shard across operator versions, or every shard is rewritten).
fn stable_hash(text: &str) -> u64 {
    crate::digest::fnv1a_64(text.bytes())
}

/// When the earliest membership of `members` that grants now expires: the
/// organization looks again then (its visitors change).
pub fn next_expiry(
    members: &[&WorkspaceMember],
    now: jiff::Timestamp,
) -> Option<std::time::Duration> {
    members
        .iter()
        .filter_map(|m| m.spec.expires_at.as_ref())
        .map(|e| e.0.duration_since(now))
        .filter(|left| left.is_positive())
        .min()
        .and_then(|left| std::time::Duration::try_from(left).ok())
        .map(|left| left + std::time::Duration::from_millis(50))
}

/// Everything an organization's reconcile concludes, from what it read.
pub fn decide(
    org: &Organization,
    input: &OrganizationInput,
    policy: &TenantPolicy,
) -> Decision<OrganizationWrites, OrganizationFacts> {
    let ns = organization_namespace(&org.name_any());
    let (workspaces, members) = (input.workspaces(), input.members());
    // Retained namespaces have no purge time: the operator never purges them.
    let (due, waiting): (Vec<_>, Vec<_>) = input
        .kept
        .iter()
        .filter_map(|k| Some((k.purge_at?, k)))
        .partition(|(at, _)| *at <= input.now);
    let due: Vec<_> = due.into_iter().map(|(_, k)| k.clone()).collect();
    let mut pending = waiting;
    pending.sort_by_key(|(at, k)| (*at, k.workspace.clone()));
    let mut retained: Vec<_> = input
        .kept
        .iter()
        .filter(|k| k.purge_at.is_none())
        .map(|k| crate::api::organization::RetainedNamespace {
            workspace: k.workspace.clone(),
            namespace: k.namespace.clone(),
        })
        .collect();
    retained.sort_by(|a, b| a.workspace.cmp(&b.workspace));
    let facts = OrganizationFacts {
        workspaces: workspaces.len() as i32,
        pending_purges: pending
            .iter()
            .map(|(at, k)| crate::api::organization::PendingPurge {
                workspace: k.workspace.clone(),
                namespace: k.namespace.clone(),
                purge_at: at.to_string(),
            })
            .collect(),
        retained,
    };
    // The next purge is a moment to look again, like a member's expiry.
    let next_purge = pending
        .first()
        .and_then(|(at, _)| std::time::Duration::try_from(at.duration_since(input.now)).ok())
        .map(|left| left + std::time::Duration::from_millis(50));
    if org.meta().deletion_timestamp.is_some() {
        let default_name = default_workspace_name(org);
        let others: Vec<String> = workspaces
            .iter()
            .map(|w| w.name_any())
            .filter(|n| n != default_name)
            .collect();
        if others.is_empty() {
            // Only the default workspace may be left: deleted, and waited for.
            return Decision::Delete {
                teardown: teardown(org, input),
                facts,
            };
        }
        return Decision::DeletionBlocked {
            why: format!(
                "{} workspace(s) remain: {}. Delete them first: kubectl delete workspace -n {ns} {}",
                others.len(),
                others.join(", "),
                others.join(" ")
            ),
            children: None,
            facts,
        };
    }
    let targets = workspaces
        .iter()
        .copied()
        .filter(|w| w.meta().deletion_timestamp.is_none());
    Decision::Converge(decision::Plan {
        children: Some(OrganizationWrites {
            children: build(org, policy),
            visitors: visitors(org, &workspaces, &members, policy, input.now),
            shares: organization_shares(org, targets),
            purges: due,
        }),
        outcome: ready(format!(
            "namespace {ns}, admin access, roles and the default workspace are in place"
        )),
        facts,
        next: next_expiry(&members, input.now)
            .into_iter()
            .chain(next_purge)
            .min()
            .map_or(Next::Resync, Next::ResyncAtMost),
    })
}

/// What an organization's deletion does once only its default workspace
/// may be left: deletes it and waits until it is gone (its own finalizer
/// removes its namespace); then purges its kept namespaces and releases
/// its retained ones (nobody would after it), removes its credential
/// copies and its namespace. Its reader ClusterRole and binding carry an
/// owner reference to it: the garbage collector removes them.
pub fn teardown(org: &Organization, input: &OrganizationInput) -> super::teardown::Teardown {
    use super::teardown::{Look, Note, Step, Target, Teardown};
    use crate::ownership::Kind;
    let ns = organization_namespace(&org.name_any());
    if let Some(left) = input.workspaces.first() {
        let name = default_workspace_name(org);
        let steps = match left.meta().deletion_timestamp {
            None => vec![Step::DeleteWorkspace {
                namespace: ns,
                name: name.to_string(),
            }],
            Some(_) => vec![],
        };
        let why = format!("waiting for the default workspace {name} to be deleted");
        return Teardown::wait(steps, "Deleting", why);
    }
    let uid = org.uid().unwrap_or_default();
    let mut steps = super::keeping::purge_or_release_all(&input.namespaces_now);
    steps.push(Step::DeleteComponent {
        kind: Kind::Secret,
        namespace: None,
        owner: uid.clone(),
        component: Component::CredentialCopy,
    });
    steps.push(Step::DeleteOwned {
        target: Target::new(Kind::Namespace, None, ns.clone()),
        owner: uid,
        look: Look::Server,
        announce: Some(Note::new(
            "NamespaceDeleted",
            format!("namespace {ns} is being deleted"),
        )),
    });
    Teardown::done(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(yaml: &str) -> Organization {
        let mut o: Organization = serde_yaml::from_str(yaml).unwrap();
        o.metadata.uid = Some("uid-1".into());
        o
    }

    #[test]
    fn admins_get_the_org_namespace_and_read_their_organization_only() {
        let o = org(
            "{apiVersion: workspaces.dev/v1alpha1, kind: Organization, metadata: {name: acme}, spec: {admins: [{kind: User, name: alice}]}}",
        );
        let c = build(&o, &TenantPolicy::default());
        assert_eq!(c.namespace.metadata.name.as_deref(), Some("acme"));
        let binding = c.admin_binding.unwrap();
        assert_eq!(binding.metadata.namespace.as_deref(), Some("acme"));
        assert_eq!(binding.subjects.unwrap()[0].name, "alice");
        let reader = &c.reader_cluster_role.rules.as_ref().unwrap()[0];
        assert_eq!(
            reader.resource_names.as_deref(),
            Some(&["acme".to_string()][..])
        );
        assert!(c.admin_role.rules.unwrap().iter().all(|r| {
            !r.api_groups
                .as_ref()
                .unwrap()
                .contains(&"rbac.authorization.k8s.io".to_string())
        }));
    }

    #[test]
    fn no_admins_no_bindings() {
        let c = build(
            &org(
                "{apiVersion: workspaces.dev/v1alpha1, kind: Organization, metadata: {name: acme}, spec: {}}",
            ),
            &TenantPolicy::default(),
        );
        assert!(c.admin_binding.is_none() && c.reader_binding.is_none());
    }

    #[test]
    fn default_workspace_carries_only_its_mark() {
        let c = build(
            &org(
                "{apiVersion: workspaces.dev/v1alpha1, kind: Organization, metadata: {name: acme}, spec: {defaultWorkspace: {name: main}}}",
            ),
            &TenantPolicy::default(),
        );
        assert_eq!(c.default_workspace.metadata.name.as_deref(), Some("main"));
        assert_eq!(
            serde_json::to_value(&c.default_workspace.spec).unwrap(),
            serde_json::json!({})
        );
        assert_eq!(c.predefined_roles.len(), 3);
    }
}
