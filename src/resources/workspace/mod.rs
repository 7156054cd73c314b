//! Workspace → its namespace, access bindings, quota, limits, network
//! isolation and the `workspace-info` ConfigMap.

mod access;
mod namespace;
mod plan;
mod settings;

pub use access::{WorkspaceReaders, access, readers};
pub use namespace::{LiveNamespace, namespace};
pub use plan::{PlanInEffect, admitting, budget_candidate, plan_quota};
use plan::{chosen_plan, cluster_network_error, time_zone_error};
pub use settings::{PlanChildren, WorkspaceSettings, settings, stop_work};

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::ObjectMeta;
use kube::{Resource, ResourceExt};

use super::NamespaceOwner;
use super::credentials::{Share, workspace_shares};
use super::decision::{self, Decision, Next, progressing, ready, stalled};
use super::defaults::is_default_workspace;
pub use super::defaults::{Effective, effective, isolation_required};
use super::tenancy::TenantPolicy;
use crate::api::organization::Plan;
use crate::api::{Organization, Workspace};
use crate::conditions::Outcome;
use crate::ownership::names::{self};
use crate::ownership::{Component, Kind, Owner};
use crate::resources::identity::Identity;

/// Why `ws` does not get something its spec asks for because its
/// organization does not allow it (the workspace gets the platform's value
/// instead), or None.
pub fn refused_setting(ws: &Workspace, org: &Organization) -> Option<String> {
    (ws.spec.network_isolation == Some(false) && isolation_required(org)).then(|| {
        format!(
            "spec.networkIsolation: false is not allowed: Organization {} requires network isolation of its workspaces (spec.defaults.networkIsolation), so the workspace stays isolated; only the platform team can leave isolation to workspaces",
            org.name_any()
        )
    })
}

/// The Ready reason of a workspace that asks for something its
/// organization does not allow.
pub const SETTING_NOT_ALLOWED: &str = "SettingNotAllowed";

/// Why a workspace cannot be set up as written: waits for a spec change.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error(
        "plan {plan:?} is not defined in Organization {organization}'s spec.plans (defined: {defined})"
    )]
    UnknownPlan {
        plan: String,
        organization: String,
        defined: String,
    },
    #[error("time zone {0:?} is not an IANA time zone (for example UTC or Europe/Bucharest)")]
    InvalidTimeZone(String),
    #[error(
        "plan {plan:?} opens egress to everything outside the cluster, but the operator was not told the cluster's own address ranges (--cluster-network, chart value workspaces.clusterNetwork): without them the rule could reach other workspaces' pods, so it is not made"
    )]
    ClusterNetworkUnknown { plan: String },
}

impl SpecError {
    pub fn reason(&self) -> &'static str {
        match self {
            SpecError::UnknownPlan { .. } => "UnknownPlan",
            SpecError::InvalidTimeZone(_) => "InvalidTimeZone",
            SpecError::ClusterNetworkUnknown { .. } => "ClusterNetworkUnknown",
        }
    }
}

/// Everything a workspace wants to exist in its namespace.
#[derive(Clone, Debug)]
pub struct WorkspaceChildren {
    pub namespace: Namespace,
    pub role_bindings: Vec<RoleBinding>,
    pub settings: WorkspaceSettings,
}

impl WorkspaceChildren {
    /// Every object, with its kind in the registry (the namespace first):
    /// what the benchmark's floor writes. Destructured without `..`, so a
    /// new child does not compile until it is listed here.
    pub fn objects(&self) -> Vec<(Kind, serde_json::Value)> {
        let WorkspaceChildren {
            namespace,
            role_bindings,
            settings,
        } = self;
        let WorkspaceSettings {
            network_policy,
            stop_work,
            info,
            plan,
        } = settings;
        fn json<T: serde::Serialize>(o: &T) -> serde_json::Value {
            serde_json::to_value(o).unwrap_or_default()
        }
        let mut out = vec![(Kind::Namespace, json(namespace))];
        out.extend(role_bindings.iter().map(|b| (Kind::RoleBinding, json(b))));
        out.extend(
            network_policy
                .iter()
                .map(|p| (Kind::NetworkPolicy, json(p))),
        );
        out.extend(stop_work.iter().map(|q| (Kind::ResourceQuota, json(q))));
        out.extend(info.iter().map(|c| (Kind::ConfigMap, json(c))));
        if let Some(PlanChildren {
            quota,
            limit_range,
            network_exceptions,
            placement,
        }) = plan
        {
            out.extend(quota.iter().map(|q| (Kind::ResourceQuota, json(q))));
            out.extend(limit_range.iter().map(|l| (Kind::LimitRange, json(l))));
            out.extend(
                network_exceptions
                    .iter()
                    .map(|p| (Kind::NetworkPolicy, json(p))),
            );
            out.extend(placement.iter().map(|c| (Kind::ConfigMap, json(c))));
        }
        out
    }
}

/// A workspace as its builders read it: the object as built (without an
/// owner the platform refused), its organization, who it is and its
/// settings in effect, derived once per reconcile.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    pub ws: &'a Workspace,
    pub org: &'a Organization,
    pub id: &'a Identity,
    pub eff: &'a Effective,
}

impl View<'_> {
    /// The marks on a child of the workspace made as `component`.
    pub fn marks(&self, component: Component) -> BTreeMap<String, String> {
        let owner = Owner::Workspace {
            organization: self.id.organization.clone(),
            name: self.id.name.clone(),
        };
        crate::ownership::marks(&owner, &self.id.uid, component)
    }

    /// The metadata of its child `name` in `namespace`, made as `component`.
    pub fn meta(&self, name: &str, namespace: &str, component: Component) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(self.marks(component)),
            ..Default::default()
        }
    }

    /// Its organization's namespace.
    pub fn org_namespace(&self) -> String {
        names::organization_namespace(&self.id.organization)
    }
}

/// Checks what admission could not, and builds the children as a
/// workspace whose spec can be applied gets them. `ws` and `org` must have
/// names and UIDs; `org` is the organization whose namespace `ws` lives in.
pub fn build(
    ws: &Workspace,
    org: &Organization,
    policy: &TenantPolicy,
) -> Result<WorkspaceChildren, SpecError> {
    let (id, eff) = (Identity::of_workspace(ws), effective(ws, org));
    let v = View {
        ws,
        org,
        id: &id,
        eff: &eff,
    };
    let plan = PlanInEffect::chosen(chosen_plan(v)?);
    if let Some(err) = time_zone_error(ws)
        .or_else(|| cluster_network_error(Some(&plan), eff.network_isolation, policy))
    {
        return Err(err);
    }
    Ok(WorkspaceChildren {
        namespace: namespace(v, policy, Some(&plan), &LiveNamespace::default()),
        role_bindings: access(v),
        settings: settings(v, policy, &[], Some(&plan)),
    })
}

/// The readers of `ws` in `org`, its view derived here: for callers
/// outside a reconcile (the benchmark's floor, the fault suite's model).
pub fn readers_of(ws: &Workspace, org: &Organization, policy: &TenantPolicy) -> WorkspaceReaders {
    let (id, eff) = (Identity::of_workspace(ws), effective(ws, org));
    let v = View {
        ws,
        org,
        id: &id,
        eff: &eff,
    };
    readers(v, policy)
}

/// Whether `ws` reports that its namespace is held by someone else.
pub fn is_conflicted(ws: &Workspace) -> bool {
    ready_reason_is(ws, crate::ownership::NAMESPACE_CONFLICT)
}

/// Whether the Ready condition `ws` reports has reason `reason`.
pub fn ready_reason_is(ws: &Workspace, reason: &str) -> bool {
    ws.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.reason == reason)
    })
}

/// The Ready reason of a workspace its organization's budget holds back.
pub const OVER_BUDGET: &str = "OverBudget";

/// What a workspace's reconcile reads.
#[derive(Clone, Debug)]
pub struct WorkspaceInput {
    pub organization: Option<Organization>,
    /// Members linked to it, except one for its owner (sorted names).
    pub linked_members: Vec<String>,
    /// The organization's WorkspaceRoles, by name.
    pub roles: BTreeSet<String>,
    /// Role ClusterRoles that exist (their names).
    pub role_cluster_roles: BTreeSet<String>,
    /// Who made the workspace's namespace (from the cache of marked ones).
    pub namespace: NamespaceOwner,
    /// The workspaces of its organization whose plans admit traffic from
    /// it (sorted names): it may connect to them.
    pub reaches: Vec<String>,
    /// Why the organization's budget gives it no namespace (None: it fits).
    pub budget_refusal: Option<String>,
    /// The UID its namespace is still marked with when it is a deleted
    /// workspace's of the same name, kept until its purge: it is restored.
    pub restore_from: Option<String>,
    /// What it reads of its namespace (its own, or the one it restores).
    pub live: LiveNamespace,
    /// Its namespace as the API server has it now: read only when the
    /// workspace goes with nothing blocking it and its namespace may be
    /// kept, or when it takes a kept namespace back (the marks written then
    /// are conditional on this very version).
    pub namespace_now: crate::resources::teardown::Live<ObjectMeta>,
    /// The time of this reconcile: a purge time counts from it.
    pub now: jiff::Timestamp,
}

/// Everything a workspace writes: its children and its credential shares.
#[derive(Clone, Debug)]
pub struct WorkspaceWrites {
    pub namespace: Namespace,
    /// Access bindings whose role is in place: written; every other access
    /// binding goes. (Kubernetes refuses a binding to a ClusterRole that
    /// does not exist, and one would grant nothing: a binding waiting for
    /// its role is made when the role's ClusterRole is.)
    pub role_bindings: Vec<RoleBinding>,
    /// Decided in every state: a plan that cannot be applied (unknown, or
    /// beyond the budget) leaves the plan in effect as it is, never less.
    /// (A namespace is only ever made with its chosen plan: see `decide`.)
    pub settings: WorkspaceSettings,
    pub readers: WorkspaceReaders,
    pub shares: Vec<Share>,
}

/// What a workspace's status reports besides the outcome.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct WorkspaceFacts {
    pub effective: Option<Effective>,
    /// The plan in effect (the chosen one when none is known to be).
    pub plan: Option<String>,
    /// Whether it is its organization's default workspace (None: no organization).
    pub default: Option<bool>,
    pub members: i32,
    /// A deletion waits.
    pub terminating: bool,
}

/// The bindings of `bindings` whose role is in place, with the outcome the
/// others cause: a role that does not exist is a spec error; one whose
/// ClusterRole is not made yet is waited for (its creation wakes the
/// workspace).
fn roles_in_place(
    bindings: Vec<RoleBinding>,
    org_name: &str,
    input: &WorkspaceInput,
) -> (Vec<RoleBinding>, Option<(crate::conditions::Outcome, Next)>) {
    let (ready, waiting): (Vec<RoleBinding>, Vec<RoleBinding>) =
        bindings.into_iter().partition(|b| {
            b.role_ref.kind != "ClusterRole" || input.role_cluster_roles.contains(&b.role_ref.name)
        });
    let missing: BTreeSet<&str> = waiting
        .iter()
        .filter_map(|b| names::role_of_organization(org_name, &b.role_ref.name))
        .collect();
    if missing.is_empty() {
        return (ready, None);
    }
    let unknown: Vec<&str> = missing
        .iter()
        .copied()
        .filter(|r| !input.roles.contains(*r))
        .collect();
    let outcome = if !unknown.is_empty() {
        (
            stalled(
                "UnknownRole",
                format!(
                    "no WorkspaceRole {} in namespace {org_name}; create it or name another role",
                    unknown.join(", ")
                ),
            ),
            Next::AwaitChange,
        )
    } else {
        (
            progressing(
                "RoleNotReady",
                format!(
                    "waiting for WorkspaceRole {} to be ready",
                    missing.into_iter().collect::<Vec<_>>().join(", ")
                ),
            ),
            Next::WaitForOthers,
        )
    };
    (ready, Some(outcome))
}

/// Why `ws` cannot go yet: it is its living organization's default
/// workspace, or members are still linked.
pub fn deletion_blocker(ws: &Workspace, input: &WorkspaceInput) -> Option<String> {
    let ns = ws.namespace().unwrap_or_default();
    if let Some(org) = &input.organization
        && org.meta().deletion_timestamp.is_none()
        && is_default_workspace(org, ws)
    {
        return Some(format!(
            "{} is the default workspace of Organization {}: it cannot be deleted while the organization exists. Delete the Organization instead",
            ws.name_any(),
            org.name_any()
        ));
    }
    let linked = &input.linked_members;
    (!linked.is_empty()).then(|| {
        format!(
            "{} member(s) still linked: {}. Unlink them first: kubectl delete workspacemember -n {ns} {}",
            linked.len(),
            linked.join(", "),
            linked.join(" ")
        )
    })
}

/// Everything a workspace's reconcile concludes, from what it read: its
/// deletion (waiting, or its teardown), taking back a kept namespace, or
/// its children and how it stands.
pub fn decide(
    ws: &Workspace,
    input: &WorkspaceInput,
    policy: &TenantPolicy,
) -> Decision<WorkspaceWrites, WorkspaceFacts> {
    // Who it is and its settings in effect, derived once for every step.
    let id = Identity::of_workspace(ws);
    let effective = input.organization.as_ref().map(|o| effective(ws, o));
    let planned = input
        .organization
        .as_ref()
        .zip(effective.as_ref())
        .map(|(org, eff)| planned(ws, org, eff, &id, input, policy));
    let mut facts = WorkspaceFacts {
        plan: effective.as_ref().and_then(|e| e.plan.clone()),
        effective: effective.clone(),
        default: input
            .organization
            .as_ref()
            .map(|o| is_default_workspace(o, ws)),
        members: input.linked_members.len() as i32,
        terminating: false,
    };
    if let Some(in_effect) = planned.as_ref().and_then(|p| p.in_effect.clone()) {
        facts.plan = in_effect;
    }
    if ws.meta().deletion_timestamp.is_some() {
        return deletion(ws, input, planned.and_then(|p| p.writes), facts);
    }
    if let Some(teardown) = crate::resources::keeping::restore(ws, input) {
        return Decision::Prepare { teardown, facts };
    }
    let Some(planned) = planned else {
        // Not (yet) in an organization namespace: nothing to make.
        return Decision::unattached(
            stalled(
                "OrganizationNotFound",
                format!(
                    "no Organization named {:?}: a Workspace must live in its organization's namespace, which has the organization's name",
                    id.organization
                ),
            ),
            facts,
            Next::WaitForOthers,
        );
    };
    let (outcome, next) = standing(&id, &planned, effective.as_ref());
    Decision::Converge(decision::Plan {
        children: planned.writes,
        outcome,
        facts,
        next,
    })
}

/// What a workspace of an organization is to write, and what stands in
/// its way.
struct Planned {
    /// None: nothing is written (no namespace yet, and a spec error or no
    /// room in the budget).
    writes: Option<WorkspaceWrites>,
    /// A spec error, or why the budget holds it back.
    problem: Option<Result<String, SpecError>>,
    /// Bindings waiting for their roles.
    roles: Option<(Outcome, Next)>,
    /// Some: a plan is in effect, by this name (None: no plan).
    in_effect: Option<Option<String>>,
    /// Why the owner gets nothing.
    refused_owner: Option<String>,
    /// Why a setting of the spec is not applied.
    refused_setting: Option<String>,
}

/// The writes of `ws` in `org`, whatever else fails: access follows the
/// organization and the spec, and an error in the plan never freezes who
/// may enter. An owner the platform does not allow gets nothing:
/// everything is built as if there were no owner (so a previous owner's
/// access goes), and the workspace reports why.
fn planned(
    ws: &Workspace,
    org: &Organization,
    eff: &Effective,
    id: &Identity,
    input: &WorkspaceInput,
    policy: &TenantPolicy,
) -> Planned {
    let refused_owner = ws
        .spec
        .owner
        .as_ref()
        .and_then(|owner| policy.subject_refusal(owner, &id.organization));
    let without_owner = refused_owner.as_ref().map(|_| {
        let mut copy = ws.clone();
        copy.spec.owner = None;
        copy
    });
    let buildable = without_owner.as_ref().unwrap_or(ws);
    let v = View {
        ws: buildable,
        org,
        id,
        eff,
    };
    let (role_bindings, roles) = roles_in_place(access(v), &id.organization, input);
    let chosen = chosen_plan(v);
    let over_budget = input.budget_refusal.clone();
    let plan = in_effect(&chosen, over_budget.is_some(), input, org);
    let problem = chosen
        .err()
        .or_else(|| time_zone_error(buildable))
        .or_else(|| cluster_network_error(plan.as_ref(), eff.network_isolation, policy))
        .map(Err)
        .or(over_budget.map(Ok));
    let has_namespace =
        input.namespace == NamespaceOwner::ThisWorkspace || input.restore_from.is_some();
    // A namespace is made only with its plan's quota, limits and isolation,
    // and within the organization's budget: with an error in the spec or
    // over the budget, nothing is written unless the workspace has its
    // namespace already (then its access still follows, and its guardrails
    // hold as the plan in effect says).
    let writes = (problem.is_none() || has_namespace).then(|| WorkspaceWrites {
        namespace: namespace(v, policy, plan.as_ref(), &input.live),
        role_bindings,
        settings: settings(v, policy, &input.reaches, plan.as_ref()),
        readers: readers(v, policy),
        shares: workspace_shares(ws),
    });
    Planned {
        writes,
        problem,
        roles,
        in_effect: plan.as_ref().map(|p| p.name.clone()),
        refused_owner,
        refused_setting: refused_setting(ws, org),
    }
}

/// The plan in effect: the chosen plan when it can be applied; else
/// (unknown, or beyond the budget) the plan the namespace holds, with the
/// quota it gave: a tenant's error never relaxes a quota, a Pod Security
/// level, isolation, placement or a stop on new work, nor restores less.
fn in_effect<'o>(
    chosen: &Result<Option<(&'o str, &'o Plan)>, SpecError>,
    over_budget: bool,
    input: &WorkspaceInput,
    org: &'o Organization,
) -> Option<PlanInEffect<'o>> {
    let held = input
        .live
        .applied
        .as_ref()
        .and_then(|applied| PlanInEffect::held(applied, org));
    match chosen {
        Ok(chosen) if !over_budget => Some(PlanInEffect::chosen(*chosen)),
        // Beyond the budget, a plan that asks no more than the one held is
        // applied all the same: it only frees room.
        Ok(chosen)
            if held.as_ref().is_some_and(|held| {
                crate::resources::budget::within(&PlanInEffect::chosen(*chosen).quota, &held.quota)
            }) =>
        {
            Some(PlanInEffect::chosen(*chosen))
        }
        _ => held,
    }
}

/// A deleted workspace: it waits while something blocks it (and is still
/// the workspace meanwhile: its access follows the organization and the
/// spec), else it is torn down.
fn deletion(
    ws: &Workspace,
    input: &WorkspaceInput,
    writes: Option<WorkspaceWrites>,
    facts: WorkspaceFacts,
) -> Decision<WorkspaceWrites, WorkspaceFacts> {
    match deletion_blocker(ws, input) {
        Some(why) => Decision::DeletionBlocked {
            why,
            children: writes,
            facts: WorkspaceFacts {
                terminating: true,
                ..facts
            },
        },
        None => Decision::Delete {
            teardown: crate::resources::keeping::teardown(ws, input),
            facts,
        },
    }
}

/// How the workspace stands once its children are written, and when to
/// look again: the first of its problems, else Ready (or Archived).
fn standing(id: &Identity, planned: &Planned, effective: Option<&Effective>) -> (Outcome, Next) {
    match &planned.problem {
        Some(Err(err)) => return (stalled(err.reason(), err.to_string()), Next::AwaitChange),
        // Another workspace's deletion or a raised budget wakes it (the
        // organization's workspaces are watched).
        Some(Ok(why)) => return (stalled(OVER_BUDGET, why.clone()), Next::AwaitChange),
        None => {}
    }
    if let Some(waiting) = planned.roles.clone() {
        return waiting;
    }
    if let Some(why) = &planned.refused_owner {
        let why = format!("spec.owner: {why}; no access is given to it");
        return (stalled("SubjectNotAllowed", why), Next::AwaitChange);
    }
    if let Some(why) = &planned.refused_setting {
        return (stalled(SETTING_NOT_ALLOWED, why.clone()), Next::AwaitChange);
    }
    if effective.is_some_and(|e| e.archived) {
        // Its own Ready reason, so archiving and restoring each publish an
        // Event (the Ready reason changes) and `kubectl describe` says it.
        let message = "archived: everything is in place, every access is read-only";
        let archived = Outcome::Ready {
            reason: "Archived",
            message: message.into(),
        };
        return (archived, Next::Resync);
    }
    let message = format!(
        "namespace {} and its access, plan and isolation are in place",
        id.namespace
    );
    (ready(message), Next::Resync)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn parse<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn org() -> Organization {
        let mut o: Organization = parse(
            r#"
apiVersion: workspaces.dev/v1alpha1
kind: Organization
metadata: {name: acme}
spec:
  admins: [{kind: Group, name: acme-platform}]
  memberGroups: [acme-staff]
  defaults: {plan: free}
  plans:
    free: {quota: {pods: 20, requests.cpu: "2"}}
    pro: {quota: {pods: 200}, limitRange: {default: {cpu: 500m}}}
"#,
        );
        o.metadata.uid = Some("org-uid".into());
        o
    }

    fn ws(spec: &str) -> Workspace {
        let mut w: Workspace = parse(&format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: pay, namespace: acme}}, spec: {spec}}}"
        ));
        w.metadata.uid = Some("ws-uid".into());
        w
    }

    #[test]
    fn anonymous_access_needs_member_groups_to_mean_anything() {
        let open = ws("{owner: {kind: User, name: carol}}");
        assert!(effective(&open, &org()).accept_anonymous, "open by default");
        let closed = ws("{owner: {kind: User, name: carol}, acceptAnonymous: false}");
        assert!(!effective(&closed, &org()).accept_anonymous);
        let mut no_groups = org();
        no_groups.spec.member_groups = None;
        assert!(
            !effective(&open, &no_groups).accept_anonymous,
            "nobody is anonymous without member groups"
        );
        no_groups.spec.member_groups = Some(vec![]);
        assert!(!effective(&open, &no_groups).accept_anonymous);
    }

    fn binding_roles(c: &WorkspaceChildren) -> Vec<(String, String)> {
        c.role_bindings
            .iter()
            .map(|b| (b.metadata.name.clone().unwrap(), b.role_ref.name.clone()))
            .collect()
    }

    #[test]
    fn everything_lands_in_the_workspace_namespace_with_marks() {
        let c = build(
            &ws("{owner: {kind: User, name: alice}}"),
            &org(),
            &TenantPolicy::default(),
        )
        .unwrap();
        assert_eq!(c.namespace.metadata.name.as_deref(), Some("acme--pay"));
        let labels = c.namespace.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[crate::ownership::OWNER_UID], "ws-uid");
        for b in &c.role_bindings {
            assert_eq!(b.metadata.namespace.as_deref(), Some("acme--pay"));
        }
        assert_eq!(
            c.settings
                .info
                .as_ref()
                .unwrap()
                .metadata
                .namespace
                .as_deref(),
            Some("acme--pay")
        );
    }

    #[test]
    fn owner_and_admins_are_admin_and_members_get_the_anonymous_role() {
        let c = build(
            &ws("{owner: {kind: User, name: alice}}"),
            &org(),
            &TenantPolicy::default(),
        )
        .unwrap();
        assert_eq!(
            binding_roles(&c),
            vec![
                (
                    "workspaces.dev:owner:admin".into(),
                    "workspaces.dev:role:acme:admin".into()
                ),
                (
                    "workspaces.dev:organization-admins:admin".into(),
                    "workspaces.dev:role:acme:admin".into()
                ),
                (
                    "workspaces.dev:anonymous:viewer".into(),
                    "workspaces.dev:role:acme:viewer".into()
                ),
            ]
        );
    }

    #[test]
    fn invite_only_has_no_anonymous_binding() {
        let c = build(
            &ws("{acceptAnonymous: false}"),
            &org(),
            &TenantPolicy::default(),
        )
        .unwrap();
        assert!(
            c.role_bindings.iter().all(|b| !b
                .metadata
                .name
                .as_ref()
                .unwrap()
                .contains("anonymous"))
        );
    }

    #[test]
    fn archive_makes_every_binding_view_only() {
        let c = build(
            &ws("{owner: {kind: User, name: alice}, archived: true, anonymousRole: editor}"),
            &org(),
            &TenantPolicy::default(),
        )
        .unwrap();
        assert!(
            c.role_bindings
                .iter()
                .all(|b| b.role_ref.name == "workspaces.dev:role:acme:viewer")
        );
        assert_eq!(
            c.settings.info.as_ref().unwrap().data.as_ref().unwrap()["WORKSPACE_ARCHIVED"],
            "true"
        );
        let stop = c.settings.stop_work.expect("archive stops new work");
        let hard = stop.spec.unwrap().hard.unwrap();
        assert_eq!(hard["pods"], Quantity("0".into()));
        assert_eq!(hard["count/jobs.batch"], Quantity("0".into()));
        let running = build(&ws("{}"), &org(), &TenantPolicy::default()).unwrap();
        assert!(running.settings.stop_work.is_none());
    }

    #[test]
    fn plan_comes_from_the_workspace_or_the_organization_default() {
        let c = build(&ws("{}"), &org(), &TenantPolicy::default()).unwrap();
        assert_eq!(
            c.settings
                .quota()
                .cloned()
                .unwrap()
                .spec
                .unwrap()
                .hard
                .unwrap()["pods"],
            Quantity("20".into())
        );
        assert!(c.settings.limit_range().is_none());
        let c = build(&ws("{plan: pro}"), &org(), &TenantPolicy::default()).unwrap();
        assert_eq!(
            c.settings
                .quota()
                .cloned()
                .unwrap()
                .spec
                .unwrap()
                .hard
                .unwrap()["pods"],
            Quantity("200".into())
        );
        assert!(c.settings.limit_range().is_some());
    }

    #[test]
    fn unknown_plan_and_time_zone_are_spec_errors() {
        let err = build(&ws("{plan: gold}"), &org(), &TenantPolicy::default()).unwrap_err();
        assert_eq!(err.reason(), "UnknownPlan");
        assert!(err.to_string().contains("free, pro"), "{err}");
        let err = build(
            &ws("{timeZone: Mars/Olympus}"),
            &org(),
            &TenantPolicy::default(),
        )
        .unwrap_err();
        assert_eq!(err, SpecError::InvalidTimeZone("Mars/Olympus".into()));
        assert!(
            build(
                &ws("{timeZone: Europe/Bucharest}"),
                &org(),
                &TenantPolicy::default()
            )
            .is_ok()
        );
    }

    #[test]
    fn egress_to_the_internet_needs_the_cluster_network() {
        let mut o = org();
        o.spec
            .plans
            .as_mut()
            .unwrap()
            .insert("lab".into(), parse("{network: {egressToInternet: true}}"));
        let err = build(&ws("{plan: lab}"), &o, &TenantPolicy::default()).unwrap_err();
        assert_eq!(err.reason(), "ClusterNetworkUnknown");
        let known = TenantPolicy {
            cluster_network: vec!["10.0.0.0/8".into()],
            ..Default::default()
        };
        let c = build(&ws("{plan: lab}"), &o, &known).unwrap();
        assert!(c.settings.network_exceptions().is_some());
        o.spec.defaults = Some(parse("{plan: free, networkIsolation: false}"));
        let open = build(&ws("{plan: lab}"), &o, &TenantPolicy::default());
        assert!(open.unwrap().settings.network_exceptions().is_none());
    }

    #[test]
    fn isolation_is_a_floor_only_the_organization_lowers() {
        let isolated = |spec: &str, org: &Organization| {
            build(&ws(spec), org, &TenantPolicy::default())
                .unwrap()
                .settings
                .network_policy
                .is_some()
        };
        assert!(isolated("{}", &org()));
        assert!(
            isolated("{networkIsolation: false}", &org()),
            "a workspace cannot lift the organization's isolation"
        );
        let mut open = org();
        open.spec.defaults = Some(parse("{plan: free, networkIsolation: false}"));
        assert!(!isolated("{}", &open));
        assert!(!isolated("{networkIsolation: false}", &open));
        assert!(
            isolated("{networkIsolation: true}", &open),
            "but may tighten it"
        );
        assert!(refused_setting(&ws("{networkIsolation: false}"), &org()).is_some());
        assert!(refused_setting(&ws("{networkIsolation: false}"), &open).is_none());
        assert!(refused_setting(&ws("{networkIsolation: true}"), &org()).is_none());
    }

    #[test]
    fn variables_and_facts_are_published() {
        let c = build(
            &ws("{displayName: Payments, variables: {REGION: eu}}"),
            &org(),
            &TenantPolicy::default(),
        )
        .unwrap();
        let data = c.settings.info.unwrap().data.unwrap();
        assert_eq!(data["REGION"], "eu");
        assert_eq!(data["WORKSPACE_DISPLAY_NAME"], "Payments");
        assert_eq!(data["WORKSPACE_ORGANIZATION"], "acme");
        assert_eq!(data["WORKSPACE_TIME_ZONE"], "UTC");
    }
}
