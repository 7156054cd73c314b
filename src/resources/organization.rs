//! Organization → its namespace, its admins' access, the predefined roles
//! and the default workspace.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject as RbacSubject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::ObjectMeta;
use kube::core::DeserializeGuard;
use kube::{Resource, ResourceExt};

use super::credentials::{Share, organization_shares};
use super::decision::{self, Decision, Next, ready};
pub use super::defaults::{DEFAULT_WORKSPACE_NAME, default_workspace_name, is_default_workspace};
use super::guardrails::KeptNamespace;
use super::tenancy::TenantPolicy;
use super::{delegation, owner_reference, predefined_roles, rbac_subject};
use crate::api::member::MemberPhase;
use crate::api::organization::{PendingPurge, RetainedNamespace};
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

/// The organization as its children are named and marked by it.
struct Parent {
    name: String,
    uid: String,
    /// The organization namespace.
    namespace: String,
    reference: Option<OwnerReference>,
}

impl Parent {
    /// The parent of `org`'s children.
    fn of(org: &Organization) -> Self {
        let name = org.name_any();
        Parent {
            namespace: organization_namespace(&name),
            uid: org.uid().unwrap_or_default(),
            reference: owner_reference(org),
            name,
        }
    }

    /// The operator's marks of its child of `component`.
    fn marks(&self, component: Component) -> BTreeMap<String, String> {
        let owner = Owner::Organization {
            name: self.name.clone(),
        };
        ownership::marks(&owner, &self.uid, component)
    }

    /// The metadata of its child `name` of `component` in the organization
    /// namespace.
    fn namespaced(&self, name: &str, component: Component) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(self.namespace.clone()),
            labels: Some(self.marks(component)),
            ..Default::default()
        }
    }

    /// The metadata of its cluster-scoped child `name` of `component`,
    /// owned by it (the garbage collector removes it after the organization).
    fn cluster_scoped(&self, name: &str, component: Component) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(self.marks(component)),
            owner_references: self.reference.clone().map(|o| vec![o]),
            ..Default::default()
        }
    }
}

/// A reference to the RBAC role of `kind` named `name`.
fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef {
        api_group: "rbac.authorization.k8s.io".into(),
        kind: kind.into(),
        name: name.into(),
    }
}

/// Builds the organization's children. `org` must have a name and a UID.
pub fn build(org: &Organization, policy: &TenantPolicy) -> OrganizationChildren {
    let parent = Parent::of(org);
    let admins: Vec<_> = org.spec.admins.iter().flatten().map(rbac_subject).collect();
    let reader_cluster_role = reader_cluster_role(&parent);
    let editors_cluster_role = editors_cluster_role(&parent, policy);
    OrganizationChildren {
        namespace: namespace(&parent),
        admin_role: admin_role(&parent),
        admin_binding: admin_binding(&parent, &admins),
        reader_binding: admins_cluster_binding(&parent, &reader_cluster_role, &admins),
        reader_cluster_role,
        editors_binding: editors_cluster_role
            .as_ref()
            .and_then(|role| admins_cluster_binding(&parent, role, &admins)),
        editors_cluster_role,
        predefined_roles: predefined_workspace_roles(&parent),
        default_workspace: default_workspace(org),
    }
}

/// The organization namespace.
fn namespace(parent: &Parent) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(parent.namespace.clone()),
            labels: Some(parent.marks(Component::OrganizationNamespace)),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// What org admins may do in the organization namespace: its workspaces,
/// roles and members, every member of the organization, its secrets and
/// config maps; read their status and its events.
fn admin_role(parent: &Parent) -> Role {
    let all = predefined_roles::WRITE;
    Role {
        metadata: parent.namespaced(ADMIN_ROLE, Component::OrganizationAccess),
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
    }
}

/// Binds `admins` to the admin Role; None when there are no admins.
fn admin_binding(parent: &Parent, admins: &[RbacSubject]) -> Option<RoleBinding> {
    (!admins.is_empty()).then(|| RoleBinding {
        metadata: parent.namespaced(ORGANIZATION_ADMINS_BINDING, Component::OrganizationAccess),
        role_ref: role_ref("Role", ADMIN_ROLE),
        subjects: Some(admins.to_vec()),
    })
}

/// The ClusterRole that lets its holders read the Organization object.
fn reader_cluster_role(parent: &Parent) -> ClusterRole {
    let reader = names::organization_reader(&parent.name);
    ClusterRole {
        metadata: parent.cluster_scoped(&reader, Component::OrganizationAccess),
        rules: Some(vec![rule(
            &["workspaces.dev"],
            &["organizations", "organizations/status"],
            &["get", "watch"],
            Some(vec![parent.name.clone()]),
        )]),
        aggregation_rule: None,
    }
}

/// The ClusterRole that lets its holders change the admins list, when the
/// platform allows it.
fn editors_cluster_role(parent: &Parent, policy: &TenantPolicy) -> Option<ClusterRole> {
    let editors = names::organization_editors(&parent.name);
    policy
        .organization_admins_manage_admins
        .then(|| ClusterRole {
            metadata: parent.cluster_scoped(&editors, Component::OrganizationAccess),
            rules: Some(vec![delegation::organization_admins_edit(&parent.name)]),
            aggregation_rule: None,
        })
}

/// Binds `admins` to `role`, under its name; None when there are no admins.
fn admins_cluster_binding(
    parent: &Parent,
    role: &ClusterRole,
    admins: &[RbacSubject],
) -> Option<ClusterRoleBinding> {
    let name = role.name_any();
    (!admins.is_empty()).then(|| ClusterRoleBinding {
        metadata: parent.cluster_scoped(&name, Component::OrganizationAccess),
        role_ref: role_ref("ClusterRole", &name),
        subjects: Some(admins.to_vec()),
    })
}

/// The predefined roles in the organization namespace, marked as its and as
/// predefined.
fn predefined_workspace_roles(parent: &Parent) -> Vec<WorkspaceRole> {
    predefined_roles::all()
        .into_iter()
        .map(|(role, spec)| {
            let mut r = WorkspaceRole::new(role, spec);
            let mut l = parent.marks(Component::PredefinedRole);
            l.insert(ownership::PREDEFINED.into(), "true".into());
            r.metadata.namespace = Some(parent.namespace.clone());
            r.metadata.labels = Some(l);
            r
        })
        .collect()
}

/// The default workspace, as the operator writes it.
fn default_workspace(org: &Organization) -> Workspace {
    // Only the mark: the spec stays the users' to set (GitOps may own it).
    let mut default_workspace = Workspace::new(default_workspace_name(org), empty_workspace_spec());
    default_workspace.metadata.namespace = Some(organization_namespace(&org.name_any()));
    default_workspace.metadata.labels =
        Some([(ownership::DEFAULT_WORKSPACE.to_string(), "true".to_string())].into());
    default_workspace
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
    pub kept: Vec<KeptNamespace>,
    /// Its namespaces as the API server lists them: read only when it goes
    /// with no workspace left (a cache may lag, and a kept namespace left
    /// behind could be restored into a later organization of the same name).
    /// None: not read (its teardown then waits rather than take that for
    /// "none").
    pub namespaces_now: Option<Vec<ObjectMeta>>,
    /// Its usage to report: taken now from the caches (`usage::summarize`),
    /// or, when taken less than a period ago (`usage::due_since`), those
    /// figures if they are newer than the status's; None: the status's stand.
    pub usage: Option<crate::api::organization::OrganizationUsage>,
    /// When `usage` was not taken now: how long until figures are due again.
    pub usage_due_in: Option<std::time::Duration>,
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
    pub purges: Vec<KeptNamespace>,
}

/// What an organization's status reports besides the outcome.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct OrganizationFacts {
    pub workspaces: i32,
    /// Kept namespaces not purged yet, by purge time.
    pub pending_purges: Vec<crate::api::organization::PendingPurge>,
    /// Namespaces of deleted workspaces retained (no purge time), by workspace.
    pub retained: Vec<crate::api::organization::RetainedNamespace>,
    /// What its workspaces hold and use (`usage::reported`).
    pub usage: Option<crate::api::organization::OrganizationUsage>,
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
    let parent = Parent::of(org);
    let live = live_workspaces(workspaces);
    let groups = member_groups(org);
    let mut subjects: Vec<&crate::api::Subject> =
        live.iter().flat_map(|ws| ws.spec.owner.iter()).collect();
    if live
        .iter()
        .any(|ws| super::defaults::effective(ws, org).accept_anonymous)
    {
        subjects.extend(groups.iter());
    }
    subjects.extend(granted_subjects(&live, members, now));
    let rbac = admitted_subjects(subjects, policy, &parent.name);
    if rbac.is_empty() {
        return vec![];
    }
    spread_over_shards(rbac)
        .into_iter()
        .enumerate()
        .filter(|(_, subjects)| !subjects.is_empty())
        .map(|(shard, subjects)| visitor_shard(&parent, shard, subjects))
        .collect()
}

/// The workspaces of `workspaces` not being deleted.
fn live_workspaces<'a>(workspaces: &[&'a Workspace]) -> Vec<&'a Workspace> {
    workspaces
        .iter()
        .copied()
        .filter(|w| w.meta().deletion_timestamp.is_none())
        .collect()
}

/// The organization's member groups, as subjects.
fn member_groups(org: &Organization) -> Vec<crate::api::Subject> {
    org.spec
        .member_groups
        .iter()
        .flatten()
        .map(|g| crate::api::Subject {
            kind: crate::api::SubjectKind::Group,
            name: g.clone(),
            namespace: None,
        })
        .collect()
}

/// The subjects of the `members` whose status says they are granted a role
/// in one of the `live` workspaces, not expired at `now`, not going.
fn granted_subjects<'a>(
    live: &[&Workspace],
    members: &[&'a WorkspaceMember],
    now: jiff::Timestamp,
) -> Vec<&'a crate::api::Subject> {
    let live_names: std::collections::BTreeSet<String> =
        live.iter().map(|w| w.name_any()).collect();
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
    members
        .iter()
        .filter(granted)
        .map(|m| &m.spec.subject)
        .collect()
}

/// The RBAC subjects of `subjects` the policy lets into `organization`,
/// sorted and without duplicates.
fn admitted_subjects(
    subjects: Vec<&crate::api::Subject>,
    policy: &TenantPolicy,
    organization: &str,
) -> Vec<RbacSubject> {
    let mut rbac: Vec<_> = subjects
        .into_iter()
        .filter(|s| policy.subject_refusal(s, organization).is_none())
        .map(rbac_subject)
        .collect();
    rbac.sort_by(|a, b| (&a.kind, &a.namespace, &a.name).cmp(&(&b.kind, &b.namespace, &b.name)));
    rbac.dedup();
    rbac
}

/// `rbac` spread by a stable hash over a power-of-two number of shards,
/// each of at most about [`SUBJECTS_PER_SHARD`] (some may be empty).
fn spread_over_shards(rbac: Vec<RbacSubject>) -> Vec<Vec<RbacSubject>> {
    let shards = rbac.len().div_ceil(SUBJECTS_PER_SHARD).next_power_of_two();
    let mut by_shard: Vec<Vec<RbacSubject>> = vec![vec![]; shards];
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
}

/// The visitor shard number `shard`: binds `subjects` to the reader
/// ClusterRole.
fn visitor_shard(parent: &Parent, shard: usize, subjects: Vec<RbacSubject>) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: parent.cluster_scoped(
            &names::visitor_shard(&parent.name, shard),
            Component::VisitorShard,
        ),
        role_ref: role_ref("ClusterRole", &names::organization_reader(&parent.name)),
        subjects: Some(subjects),
    }
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
    let pending = pending_purges(input);
    let reported = org.status.as_ref().and_then(|s| s.usage.as_ref());
    let facts = OrganizationFacts {
        usage: super::usage::reported(reported, input.usage.clone()),
        ..organization_facts(input, &pending)
    };
    if org.meta().deletion_timestamp.is_some() {
        return deletion(org, input, facts);
    }
    // Figures not taken now because they were taken a moment ago are
    // taken when due (a change meanwhile is then reported).
    let usage_due = input.usage_due_in;
    let next_look = next_purge(&pending, input.now)
        .into_iter()
        .chain(usage_due)
        .min();
    converge(org, input, policy, facts, next_look)
}

/// The kept namespaces whose purge time has come.
fn due_purges(input: &OrganizationInput) -> Vec<KeptNamespace> {
    // Retained namespaces have no purge time: the operator never purges them.
    input
        .kept
        .iter()
        .filter(|k| k.purge_at.is_some_and(|at| at <= input.now))
        .cloned()
        .collect()
}

/// The kept namespaces whose purge time is still to come, with it, by purge
/// time then workspace.
fn pending_purges(input: &OrganizationInput) -> Vec<(jiff::Timestamp, &KeptNamespace)> {
    let mut pending: Vec<_> = input
        .kept
        .iter()
        .filter_map(|k| Some((k.purge_at?, k)))
        .filter(|(at, _)| *at > input.now)
        .collect();
    pending.sort_by_key(|(at, k)| (*at, k.workspace.clone()));
    pending
}

/// The namespaces of deleted workspaces retained (no purge time), by
/// workspace.
fn retained_namespaces(input: &OrganizationInput) -> Vec<RetainedNamespace> {
    let mut retained: Vec<_> = input
        .kept
        .iter()
        .filter(|k| k.purge_at.is_none())
        .map(|k| RetainedNamespace {
            workspace: k.workspace.clone(),
            namespace: k.namespace.clone(),
        })
        .collect();
    retained.sort_by(|a, b| a.workspace.cmp(&b.workspace));
    retained
}

/// What the status reports: the workspace count, the `pending` purges and
/// the retained namespaces.
fn organization_facts(
    input: &OrganizationInput,
    pending: &[(jiff::Timestamp, &KeptNamespace)],
) -> OrganizationFacts {
    OrganizationFacts {
        workspaces: input.workspaces().len() as i32,
        pending_purges: pending
            .iter()
            .map(|(at, k)| PendingPurge {
                workspace: k.workspace.clone(),
                namespace: k.namespace.clone(),
                purge_at: at.to_string(),
            })
            .collect(),
        retained: retained_namespaces(input),
        usage: None,
    }
}

/// How long until the first of the `pending` purges, if any.
fn next_purge(
    pending: &[(jiff::Timestamp, &KeptNamespace)],
    now: jiff::Timestamp,
) -> Option<std::time::Duration> {
    pending
        .first()
        .and_then(|(at, _)| std::time::Duration::try_from(at.duration_since(now)).ok())
        .map(|left| left + std::time::Duration::from_millis(50))
}

/// The decision for an organization being deleted: blocked while workspaces
/// other than the default one remain, else go.
fn deletion(
    org: &Organization,
    input: &OrganizationInput,
    facts: OrganizationFacts,
) -> Decision<OrganizationWrites, OrganizationFacts> {
    let default_name = default_workspace_name(org);
    let others: Vec<String> = input
        .workspaces()
        .iter()
        .map(|w| w.name_any())
        .filter(|n| n != default_name)
        .collect();
    let ns = organization_namespace(&org.name_any());
    let protected = input.workspaces().iter().any(|w| {
        w.name_any() == default_name
            && w.spec.deletion_protection == Some(true)
            && w.meta().deletion_timestamp.is_none()
    });
    if others.is_empty() && protected {
        // Its delete would be refused at admission: said, not retried.
        return Decision::DeletionBlocked {
            why: format!(
                "the default workspace {default_name} is protected from deletion (spec.deletionProtection: true). Lift it first: kubectl patch workspace -n {ns} {default_name} --type merge -p '{{\"spec\":{{\"deletionProtection\":false}}}}'"
            ),
            children: None,
            facts,
        };
    }
    if others.is_empty() {
        // Only the default workspace may be left: deleted, and waited for.
        return Decision::Delete {
            teardown: teardown(org, input),
            facts,
        };
    }
    Decision::DeletionBlocked {
        why: format!(
            "{} workspace(s) remain: {}. Delete them first: kubectl delete workspace -n {ns} {}",
            others.len(),
            others.join(", "),
            others.join(" ")
        ),
        children: None,
        facts,
    }
}

/// The plan of a live organization: its children, visitors, shares and due
/// purges; it looks again at the next expiry or `next_purge`.
fn converge(
    org: &Organization,
    input: &OrganizationInput,
    policy: &TenantPolicy,
    facts: OrganizationFacts,
    next_look: Option<std::time::Duration>,
) -> Decision<OrganizationWrites, OrganizationFacts> {
    let ns = organization_namespace(&org.name_any());
    let (workspaces, members) = (input.workspaces(), input.members());
    let targets = workspaces
        .iter()
        .copied()
        .filter(|w| w.meta().deletion_timestamp.is_none());
    Decision::Converge(decision::Plan {
        children: Some(OrganizationWrites {
            children: build(org, policy),
            visitors: visitors(org, &workspaces, &members, policy, input.now),
            shares: organization_shares(org, targets),
            purges: due_purges(input),
        }),
        outcome: ready(format!(
            "namespace {ns}, admin access, roles and the default workspace are in place"
        )),
        facts,
        // The next purge (or usage due) is a moment to look again, like a
        // member's expiry.
        next: next_expiry(&members, input.now)
            .into_iter()
            .chain(next_look)
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
    let Some(live) = &input.namespaces_now else {
        let why = "waiting for its namespaces to be listed";
        return Teardown::wait(vec![], "Deleting", why);
    };
    let mut steps = super::keeping::purge_or_release_all(live);
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
