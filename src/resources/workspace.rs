//! Workspace → its namespace, access bindings, quota, limits, network
//! isolation and the `workspace-info` ConfigMap.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    ConfigMap, LimitRange, LimitRangeItem, LimitRangeSpec, Namespace, ResourceQuota,
    ResourceQuotaSpec,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::ObjectMeta;
use kube::{Resource, ResourceExt};

use super::credentials::{Share, workspace_shares};
use super::decision::{self, Decision, Next, progressing, ready, stalled};
use super::defaults::is_default_workspace;
pub use super::defaults::{Effective, effective, isolation_required};
use super::guardrails;
use super::tenancy::TenantPolicy;
use super::{NamespaceOwner, predefined_roles, rbac_subject};
use crate::api::common::QuantityValue;
use crate::api::organization::Plan;
use crate::api::{Organization, Subject, SubjectKind, Workspace};
use crate::conditions::Outcome;
use crate::ownership::names::{
    self, INFO_CONFIGMAP, ISOLATION_POLICY, LIMITS, NETWORK_EXCEPTIONS, PLACEMENT, QUOTA,
    STOP_WORK_QUOTA, WorkspaceAccess, workspace_namespace,
};
use crate::ownership::{Component, Owner};

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

fn quantities(map: &BTreeMap<String, QuantityValue>) -> BTreeMap<String, Quantity> {
    map.iter()
        .map(|(k, v)| (k.clone(), Quantity(v.0.clone())))
        .collect()
}

/// The plan `ws` chooses (its own, else the organization's default), if
/// the organization defines it.
fn plan_of<'o>(ws: &Workspace, org: &'o Organization) -> Option<&'o Plan> {
    let plan = effective(ws, org).plan?;
    org.spec.plans.as_ref()?.get(&plan)
}

/// The workspaces of `workspaces` (of `org`) whose plans admit traffic
/// from workspace `from`, sorted.
pub fn admitting(org: &Organization, workspaces: &[&Workspace], from: &str) -> Vec<String> {
    let mut names: Vec<String> = workspaces
        .iter()
        .filter(|w| w.meta().deletion_timestamp.is_none())
        .filter(|w| {
            plan_of(w, org)
                .and_then(|p| p.network.as_ref())
                .and_then(|n| n.ingress_from_workspaces.as_ref())
                .is_some_and(|peers| peers.iter().any(|p| p == from))
        })
        .map(|w| w.name_any())
        .filter(|w| w != from)
        .collect();
    names.sort();
    names
}

/// `ws` as its organization's budget sees it. `namespace` is its
/// namespace's record of the plan it holds, when it has a namespace
/// (`Some(None)`: one that records nothing, made by an earlier version).
pub fn budget_candidate(
    ws: &Workspace,
    org: &Organization,
    namespace: Option<Option<&guardrails::AppliedPlan>>,
) -> super::budget::Candidate {
    let asks = plan_quota(ws, org);
    let holds = namespace.map(|applied| match applied {
        Some(applied) => applied.quota.clone(),
        // Recorded nowhere: what its plan asks, or, with a plan that cannot
        // be applied, the most any of the organization's plans gives.
        None => asks
            .as_ref()
            .map(|(_, quota)| quota.clone())
            .unwrap_or_else(|| super::budget::largest_quota(org)),
    });
    super::budget::Candidate {
        name: ws.name_any(),
        default: is_default_workspace(org, ws),
        has_namespace: namespace.is_some(),
        holds: holds.unwrap_or_default(),
        created: ws
            .meta()
            .creation_timestamp
            .as_ref()
            .map_or(0, |t| t.0.as_second()),
        plan: asks,
    }
}

/// The name and quota of the plan `ws` chooses, if the organization
/// defines it.
pub fn plan_quota(
    ws: &Workspace,
    org: &Organization,
) -> Option<(String, BTreeMap<String, QuantityValue>)> {
    let name = effective(ws, org).plan?;
    let plan = org.spec.plans.as_ref()?.get(&name)?;
    Some((name, plan.quota.clone().unwrap_or_default()))
}

/// The quota of zero Pods and Jobs of `ws`, marked as its child: while it
/// is archived, or kept after its deletion.
pub fn stop_work(ws: &Workspace) -> ResourceQuota {
    let org = ws.namespace().unwrap_or_default();
    let owner = Owner::Workspace {
        organization: org.clone(),
        name: ws.name_any(),
    };
    guardrails::stop_work_quota(ObjectMeta {
        name: Some(STOP_WORK_QUOTA.into()),
        namespace: Some(workspace_namespace(&org, &ws.name_any())),
        labels: Some(crate::ownership::marks(
            &owner,
            &ws.uid().unwrap_or_default(),
            Component::StopWork,
        )),
        ..Default::default()
    })
}

/// The plan `ws` chooses, if the organization defines it (None: it
/// chooses none and the organization has no default).
fn chosen_plan<'o>(
    ws: &Workspace,
    org: &'o Organization,
) -> Result<Option<(&'o str, &'o Plan)>, SpecError> {
    let Some(name) = effective(ws, org).plan else {
        return Ok(None);
    };
    org.spec
        .plans
        .as_ref()
        .and_then(|plans| plans.get_key_value(&name))
        .map(|(name, plan)| Some((name.as_str(), plan)))
        .ok_or_else(|| SpecError::UnknownPlan {
            plan: name,
            organization: org.name_any(),
            defined: org
                .spec
                .plans
                .iter()
                .flat_map(|p| p.keys().cloned())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// An invalid time zone, which admission could not judge.
fn time_zone_error(ws: &Workspace) -> Option<SpecError> {
    let zone = ws.spec.time_zone.as_deref().unwrap_or("UTC");
    jiff::tz::TimeZone::get(zone)
        .is_err()
        .then(|| SpecError::InvalidTimeZone(zone.to_string()))
}

/// A plan in effect that opens egress to everything outside the cluster
/// while the operator does not know the cluster's own ranges (the rule is
/// left out: it could reach other workspaces' pods).
fn cluster_network_error(
    plan: Option<&PlanInEffect>,
    isolated: bool,
    policy: &TenantPolicy,
) -> Option<SpecError> {
    let plan = plan?;
    (isolated && policy.cluster_network.is_empty() && plan.opens_internet()).then(|| {
        SpecError::ClusterNetworkUnknown {
            plan: plan.name.clone().unwrap_or_default(),
        }
    })
}

/// The plan whose children a workspace namespace gets: the plan its spec
/// chooses when that can be applied; else the plan the namespace holds
/// already, with the quota that plan gave it (so a plan that cannot be
/// applied, unknown or beyond the budget, never relaxes or drops one).
#[derive(Clone, Debug, PartialEq)]
pub struct PlanInEffect<'o> {
    /// None: no plan (no quota, limits, exceptions or placement).
    pub name: Option<String>,
    pub plan: Option<&'o Plan>,
    /// The quota it gives.
    pub quota: BTreeMap<String, QuantityValue>,
}

impl<'o> PlanInEffect<'o> {
    /// The plan chosen in the spec (or none).
    pub fn chosen(chosen: Option<(&str, &'o Plan)>) -> Self {
        PlanInEffect {
            name: chosen.map(|(name, _)| name.to_string()),
            plan: chosen.map(|(_, plan)| plan),
            quota: chosen
                .and_then(|(_, plan)| plan.quota.clone())
                .unwrap_or_default(),
        }
    }

    /// The plan `applied` records, with the tighter, key by key, of the
    /// quota it records and the quota the plan gives now (the platform may
    /// lower a plan; a tenant's unknown plan never keeps it from doing so).
    /// None when the organization no longer defines that plan, or the
    /// record names none but holds a quota (an earlier version's namespace,
    /// kept with a quota counted for the budget only): nothing is known to
    /// be in effect then.
    pub fn held(applied: &guardrails::AppliedPlan, org: &'o Organization) -> Option<Self> {
        let plan = match &applied.name {
            Some(name) => Some(org.spec.plans.as_ref()?.get(name)?),
            None if applied.quota.is_empty() => None,
            None => return None,
        };
        let now = plan.and_then(|p| p.quota.as_ref());
        Some(PlanInEffect {
            name: applied.name.clone(),
            plan,
            quota: super::budget::tighter(&applied.quota, now.unwrap_or(&BTreeMap::new())),
        })
    }

    /// What the namespace records of it.
    pub fn applied(&self) -> guardrails::AppliedPlan {
        guardrails::AppliedPlan {
            name: self.name.clone(),
            quota: self.quota.clone(),
        }
    }

    fn opens_internet(&self) -> bool {
        self.plan
            .and_then(|p| p.network.as_ref())
            .is_some_and(|n| n.egress_to_internet == Some(true))
    }
}

/// The access bindings of `ws`: buildable even when the spec has an error,
/// so access follows the organization (an admin removed loses access)
/// whatever a tenant writes into the plan.
pub fn access(ws: &Workspace, org: &Organization) -> Vec<RoleBinding> {
    let eff = effective(ws, org);
    let org_name = org.name_any();
    let ws_name = ws.name_any();
    let uid = ws.uid().unwrap_or_default();
    let ns = workspace_namespace(&org_name, &ws_name);
    let owner = Owner::Workspace {
        organization: org_name.clone(),
        name: ws_name.clone(),
    };
    let meta = |name: &str| ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(ns.clone()),
        labels: Some(crate::ownership::marks(
            &owner,
            &uid,
            Component::WorkspaceAccess,
        )),
        ..Default::default()
    };

    // Archive mode: every binding grants the viewer role instead.
    let granted = |role: &str| {
        if eff.archived {
            predefined_roles::VIEWER.to_string()
        } else {
            role.to_string()
        }
    };
    let binding = |purpose, role: &str, subjects: Vec<&Subject>| RoleBinding {
        metadata: meta(&names::workspace_binding(purpose, role)),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: names::role(&org_name, role),
        },
        subjects: Some(subjects.into_iter().map(rbac_subject).collect()),
    };
    let mut role_bindings = vec![];
    if let Some(owner) = &ws.spec.owner {
        role_bindings.push(binding(
            WorkspaceAccess::Owner,
            &granted(predefined_roles::ADMIN),
            vec![owner],
        ));
    }
    let admins: Vec<&Subject> = org.spec.admins.iter().flatten().collect();
    if !admins.is_empty() {
        role_bindings.push(binding(
            WorkspaceAccess::OrganizationAdmins,
            &granted(predefined_roles::ADMIN),
            admins,
        ));
    }
    let member_groups: Vec<Subject> = org
        .spec
        .member_groups
        .iter()
        .flatten()
        .map(|g| Subject {
            kind: SubjectKind::Group,
            name: g.clone(),
            namespace: None,
        })
        .collect();
    if eff.accept_anonymous && !member_groups.is_empty() {
        role_bindings.push(binding(
            WorkspaceAccess::Anonymous,
            &granted(&eff.anonymous_role),
            member_groups.iter().collect(),
        ));
    }
    role_bindings
}

/// The namespace of `ws`: its marks and isolation label, which follow the
/// spec in every state, and the platform's labels and annotations for the
/// plan in effect, with that plan recorded. With no plan known to be in
/// effect, the live namespace's own (`live`: its platform labels and
/// annotations, and its record of the plan it holds) are kept as they are.
pub fn namespace(
    ws: &Workspace,
    org: &Organization,
    policy: &TenantPolicy,
    plan: Option<&PlanInEffect>,
    live: &LiveNamespace,
) -> Namespace {
    let (mut labels, annotations) = match plan {
        Some(plan) => {
            let (labels, mut annotations) =
                guardrails::namespace_metadata(org, plan.plan, &policy.pod_security);
            annotations.extend(guardrails::applied_plan_annotations(&plan.applied()));
            (labels, annotations)
        }
        None => {
            let (mut labels, mut annotations) = live.platform.clone().unwrap_or_default();
            if let Some(applied) = &live.applied {
                annotations.extend(guardrails::applied_plan_annotations(applied));
            }
            // No plan known: its labels stay as they are, but no Pod
            // Security level is below what the Organization and the platform
            // set now.
            let (floor, _) = guardrails::namespace_metadata(org, None, &policy.pod_security);
            guardrails::raise_pod_security(&mut labels, &floor);
            (labels, annotations)
        }
    };
    // The marks always win over the platform's labels.
    let owner = Owner::Workspace {
        organization: org.name_any(),
        name: ws.name_any(),
    };
    labels.extend(crate::ownership::marks(
        &owner,
        &ws.uid().unwrap_or_default(),
        Component::WorkspaceNamespace,
    ));
    if effective(ws, org).network_isolation {
        labels.insert(
            guardrails::ISOLATION_LABEL.into(),
            guardrails::ISOLATION_ENFORCED.into(),
        );
    }
    Namespace {
        metadata: ObjectMeta {
            name: Some(workspace_namespace(&org.name_any(), &ws.name_any())),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// What a workspace's reconcile reads of its live namespace (when it is
/// its own, or one it restores).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveNamespace {
    /// Its labels and annotations besides the operator's own.
    pub platform: Option<(BTreeMap<String, String>, BTreeMap<String, String>)>,
    /// Its record of the plan it holds.
    pub applied: Option<guardrails::AppliedPlan>,
}

/// Checks what admission could not, and builds the children as a
/// workspace whose spec can be applied gets them. `ws` and `org` must have
/// names and UIDs; `org` is the organization whose namespace `ws` lives in.
pub fn build(
    ws: &Workspace,
    org: &Organization,
    policy: &TenantPolicy,
) -> Result<WorkspaceChildren, SpecError> {
    let plan = PlanInEffect::chosen(chosen_plan(ws, org)?);
    let isolated = effective(ws, org).network_isolation;
    if let Some(err) =
        time_zone_error(ws).or_else(|| cluster_network_error(Some(&plan), isolated, policy))
    {
        return Err(err);
    }
    Ok(WorkspaceChildren {
        namespace: namespace(ws, org, policy, Some(&plan), &LiveNamespace::default()),
        role_bindings: access(ws, org),
        settings: settings(ws, org, policy, &[], Some(&plan)),
    })
}

/// What the spec's settings and the plan in effect make in a workspace
/// namespace.
#[derive(Clone, Debug)]
pub struct WorkspaceSettings {
    /// Isolation (None: off), decided in every state.
    pub network_policy: Option<NetworkPolicy>,
    /// Zero Pods and Jobs while archived, decided in every state.
    pub stop_work: Option<ResourceQuota>,
    /// None while the time zone is invalid: left as it is.
    pub info: Option<ConfigMap>,
    /// What the plan in effect makes; None when no plan is known to be in
    /// effect: left as they are.
    pub plan: Option<PlanChildren>,
}

impl WorkspaceSettings {
    /// The plan's quota, when the plan in effect is known and sets one.
    pub fn quota(&self) -> Option<&ResourceQuota> {
        self.plan.as_ref()?.quota.as_ref()
    }

    pub fn limit_range(&self) -> Option<&LimitRange> {
        self.plan.as_ref()?.limit_range.as_ref()
    }

    pub fn network_exceptions(&self) -> Option<&NetworkPolicy> {
        self.plan.as_ref()?.network_exceptions.as_ref()
    }

    pub fn placement(&self) -> Option<&ConfigMap> {
        self.plan.as_ref()?.placement.as_ref()
    }
}

/// What a plan makes in a workspace namespace.
#[derive(Clone, Debug, Default)]
pub struct PlanChildren {
    pub quota: Option<ResourceQuota>,
    pub limit_range: Option<LimitRange>,
    /// The plan's network exceptions; never without isolation.
    pub network_exceptions: Option<NetworkPolicy>,
    /// The placement policy's parameters.
    pub placement: Option<ConfigMap>,
}

/// The isolation policy, the stop-work quota, the info ConfigMap, and what
/// `plan` (the plan in effect; None: unknown, left as it is) makes.
pub fn settings(
    ws: &Workspace,
    org: &Organization,
    policy: &TenantPolicy,
    reaches: &[String],
    plan: Option<&PlanInEffect>,
) -> WorkspaceSettings {
    let eff = effective(ws, org);
    let org_name = org.name_any();
    let ws_name = ws.name_any();
    let uid = ws.uid().unwrap_or_default();
    let ns = workspace_namespace(&org_name, &ws_name);
    let owner = Owner::Workspace {
        organization: org_name.clone(),
        name: ws_name.clone(),
    };
    let meta = |name: &str, component| ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(ns.clone()),
        labels: Some(crate::ownership::marks(&owner, &uid, component)),
        ..Default::default()
    };

    let plan_children = plan.map(|plan| {
        let quota = (!plan.quota.is_empty()).then(|| ResourceQuota {
            metadata: meta(QUOTA, Component::Quota),
            spec: Some(ResourceQuotaSpec {
                hard: Some(quantities(&plan.quota)),
                ..Default::default()
            }),
            status: None,
        });
        let limit_range = plan
            .plan
            .and_then(|p| p.limit_range.as_ref())
            .map(|l| LimitRange {
                metadata: meta(LIMITS, Component::Limits),
                spec: Some(LimitRangeSpec {
                    limits: vec![container_limits_as_stored(LimitRangeItem {
                        type_: "Container".into(),
                        default: l.default.as_ref().map(quantities),
                        default_request: l.default_request.as_ref().map(quantities),
                        max: l.max.as_ref().map(quantities),
                        min: l.min.as_ref().map(quantities),
                        max_limit_request_ratio: None,
                    })],
                }),
            });
        // Exceptions open holes in the isolation: without it everything is
        // open already, and an exception alone would isolate what it selects.
        // Egress to the internet is left out while the cluster's own ranges
        // are unknown (reported as ClusterNetworkUnknown).
        let network_exceptions = eff
            .network_isolation
            .then(|| {
                guardrails::network_exceptions(
                    plan.plan,
                    &org_name,
                    &policy.cluster_network,
                    reaches,
                    meta(NETWORK_EXCEPTIONS, Component::NetworkExceptions),
                )
            })
            .flatten();
        let placement =
            guardrails::placement_parameters(plan.plan, meta(PLACEMENT, Component::Placement));
        PlanChildren {
            quota,
            limit_range,
            network_exceptions,
            placement,
        }
    });
    let network_policy = eff
        .network_isolation
        .then(|| isolation_policy(meta(ISOLATION_POLICY, Component::Isolation)));
    let stop_work = eff.archived.then(|| stop_work(ws));

    let info = time_zone_error(ws).is_none().then(|| {
        let mut data = BTreeMap::from([
            ("WORKSPACE_NAME".to_string(), ws_name.clone()),
            ("WORKSPACE_ORGANIZATION".to_string(), org_name.clone()),
            ("WORKSPACE_NAMESPACE".to_string(), ns.clone()),
            ("WORKSPACE_TIME_ZONE".to_string(), eff.time_zone.clone()),
            ("WORKSPACE_ARCHIVED".to_string(), eff.archived.to_string()),
        ]);
        if let Some(d) = &ws.spec.display_name {
            data.insert("WORKSPACE_DISPLAY_NAME".into(), d.clone());
        }
        // The plan in effect (or, when none is known, the one chosen).
        if let Some(p) = plan.map_or(eff.plan.clone(), |p| p.name.clone()) {
            data.insert("WORKSPACE_PLAN".into(), p);
        }
        for (k, v) in ws.spec.variables.iter().flatten() {
            data.insert(k.clone(), v.clone());
        }
        ConfigMap {
            metadata: meta(INFO_CONFIGMAP, Component::Info),
            data: Some(data),
            ..Default::default()
        }
    });

    WorkspaceSettings {
        network_policy,
        stop_work,
        info,
        plan: plan_children,
    }
}

/// A Container LimitRangeItem as the API server stores it (its defaulting,
/// `SetDefaults_LimitRangeItem`): a default limit from the max, a default
/// request from the default limit, else from the min. Built this way, the
/// desired item equals the stored one exactly, so any other difference is
/// somebody's edit.
fn container_limits_as_stored(mut item: LimitRangeItem) -> LimitRangeItem {
    let mut default = item.default.take().unwrap_or_default();
    for (k, v) in item.max.iter().flatten() {
        default.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let mut request = item.default_request.take().unwrap_or_default();
    for (k, v) in default.iter().chain(item.min.iter().flatten()) {
        request.entry(k.clone()).or_insert_with(|| v.clone());
    }
    item.default = (!default.is_empty()).then_some(default);
    item.default_request = (!request.is_empty()).then_some(request);
    item
}

/// Admits traffic only from pods of the same namespace; lets pods talk to
/// each other and to cluster DNS, nothing else.
fn isolation_policy(metadata: ObjectMeta) -> NetworkPolicy {
    let same_namespace = NetworkPolicyPeer {
        pod_selector: Some(LabelSelector::default()),
        ..Default::default()
    };
    let dns_port = |protocol: &str| NetworkPolicyPort {
        port: Some(IntOrString::Int(53)),
        protocol: Some(protocol.into()),
        end_port: None,
    };
    NetworkPolicy {
        metadata,
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![same_namespace.clone()]),
                ports: None,
            }]),
            egress: Some(vec![
                NetworkPolicyEgressRule {
                    to: Some(vec![same_namespace]),
                    ports: None,
                },
                NetworkPolicyEgressRule {
                    to: Some(vec![NetworkPolicyPeer {
                        // Pinned to kube-system: any namespace could otherwise
                        // run a pod labelled k8s-app=kube-dns and receive the
                        // workspace's DNS traffic.
                        namespace_selector: Some(LabelSelector {
                            match_labels: Some(
                                [(
                                    "kubernetes.io/metadata.name".to_string(),
                                    "kube-system".to_string(),
                                )]
                                .into(),
                            ),
                            ..Default::default()
                        }),
                        pod_selector: Some(LabelSelector {
                            match_labels: Some(
                                [("k8s-app".to_string(), "kube-dns".to_string())].into(),
                            ),
                            ..Default::default()
                        }),
                        ip_block: None,
                    }]),
                    ports: Some(vec![dns_port("UDP"), dns_port("TCP")]),
                },
            ]),
        }),
    }
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
    pub namespace_now: Option<ObjectMeta>,
    /// The time of this reconcile: a purge time counts from it.
    pub now: jiff::Timestamp,
    /// Who the workspace is.
    pub identity: super::identity::Identity,
    /// Its settings in effect (None: no organization).
    pub effective: Option<Effective>,
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

/// What lets everyone with access to a workspace find it: read the
/// Workspace (in the organization namespace) and the Organization. Org
/// admins read both through the organization's own access; a member's own
/// reader covers its Workspace and its membership.
#[derive(Clone, Debug)]
pub struct WorkspaceReaders {
    /// `get`/`watch` of this Workspace only.
    pub role: Role,
    /// The owner and, when the workspace is open, the member groups; None
    /// when there are none.
    pub binding: Option<RoleBinding>,
    /// Always None: the per-workspace binding of the organization's reader
    /// ClusterRole earlier versions made goes (the organization's visitors
    /// binding lets the owner and open member groups read it now).
    pub visitors: Option<ClusterRoleBinding>,
    /// The owner's Role and RoleBinding of delegated membership (member
    /// writes, and managing this workspace as the predefined admin does);
    /// None without an owner, delegation, or in archive mode.
    pub owner_manages: Option<(Role, RoleBinding)>,
}

/// The readers of `ws`.
pub fn readers(ws: &Workspace, org: &Organization, delegated: bool) -> WorkspaceReaders {
    let eff = effective(ws, org);
    let org_name = org.name_any();
    let ws_name = ws.name_any();
    let uid = ws.uid().unwrap_or_default();
    let owner = Owner::Workspace {
        organization: org_name.clone(),
        name: ws_name.clone(),
    };
    let name = names::workspace_reader(&ws_name);
    let meta = |name: &str, namespace: Option<String>, component| ObjectMeta {
        name: Some(name.to_string()),
        namespace,
        labels: Some(crate::ownership::marks(&owner, &uid, component)),
        ..Default::default()
    };
    let org_ns = Some(names::organization_namespace(&org_name));
    let mut finders: Vec<Subject> = ws.spec.owner.iter().cloned().collect();
    if eff.accept_anonymous {
        finders.extend(org.spec.member_groups.iter().flatten().map(|g| Subject {
            kind: SubjectKind::Group,
            name: g.clone(),
            namespace: None,
        }));
    }
    let rbac = |subjects: &[Subject]| {
        let mut out: Vec<_> = subjects.iter().map(rbac_subject).collect();
        out.sort_by(|a, b| (&a.kind, &a.namespace, &a.name).cmp(&(&b.kind, &b.namespace, &b.name)));
        out.dedup();
        out
    };
    let role = Role {
        metadata: meta(&name, org_ns.clone(), Component::WorkspaceReader),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["workspaces.dev".into()]),
            resources: Some(vec!["workspaces".into(), "workspaces/status".into()]),
            resource_names: Some(vec![ws_name.clone()]),
            verbs: vec!["get".into(), "watch".into()],
            non_resource_urls: None,
        }]),
    };
    // The owner (admin in its workspace) manages its members as the
    // predefined admin does: it may send writes on WorkspaceMembers, which
    // the admission policy limits to this workspace and the roles admin may
    // give. Member groups never do (anonymous access manages nobody), nor
    // anyone in archive mode (viewer only).
    let owner_manages = ws
        .spec
        .owner
        .as_ref()
        // Nor while the workspace waits for its deletion: a new member would
        // hold it open.
        .filter(|_| delegated && !eff.archived && ws.meta().deletion_timestamp.is_none())
        .map(|owner| {
            let name = names::workspace_owner(&ws_name);
            let assignable = predefined_roles::admin()
                .manage_members
                .map(|m| m.assignable_roles);
            let role = Role {
                metadata: meta(&name, org_ns.clone(), Component::WorkspaceReader),
                rules: Some(vec![
                    super::delegation::member_writes(),
                    super::delegation::managing_rule(
                        &ws_name,
                        assignable.iter().flatten().map(String::as_str),
                    ),
                ]),
            };
            let binding = RoleBinding {
                metadata: meta(&name, org_ns.clone(), Component::WorkspaceReader),
                role_ref: RoleRef {
                    api_group: "rbac.authorization.k8s.io".into(),
                    kind: "Role".into(),
                    name,
                },
                subjects: Some(rbac(std::slice::from_ref(owner))),
            };
            (role, binding)
        });
    let binding = (!finders.is_empty()).then(|| RoleBinding {
        metadata: meta(&name, org_ns.clone(), Component::WorkspaceReader),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: name.clone(),
        },
        subjects: Some(rbac(&finders)),
    });
    // The Organization is read through the organization's one visitors
    // binding; one per workspace, made by earlier versions, goes.
    let visitors = None;
    WorkspaceReaders {
        role,
        binding,
        visitors,
        owner_manages,
    }
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

/// Everything a workspace's reconcile concludes, from what it read.
pub fn decide(
    ws: &Workspace,
    input: &WorkspaceInput,
    policy: &TenantPolicy,
) -> Decision<WorkspaceWrites, WorkspaceFacts> {
    let org_name = ws.namespace().unwrap_or_default();
    let org = input.organization.as_ref();
    let effective = org.map(|org| effective(ws, org));
    let mut facts = WorkspaceFacts {
        plan: effective.as_ref().and_then(|e| e.plan.clone()),
        effective: effective.clone(),
        default: org.map(|org| is_default_workspace(org, ws)),
        members: input.linked_members.len() as i32,
        terminating: false,
    };
    // An owner the platform does not allow gets nothing: everything is
    // built as if there were no owner (so a previous owner's access goes),
    // and the workspace reports why.
    let refused_owner = ws
        .spec
        .owner
        .as_ref()
        .and_then(|owner| policy.subject_refusal(owner, &org_name));
    // Access follows the organization and the spec whatever else fails:
    // an error in the plan never freezes who may enter.
    let writes = org.map(|org| {
        let without_owner;
        let buildable = if refused_owner.is_some() {
            let mut copy = ws.clone();
            copy.spec.owner = None;
            without_owner = copy;
            &without_owner
        } else {
            ws
        };
        let (role_bindings, roles_outcome) =
            roles_in_place(access(buildable, org), &org_name, input);
        let chosen = chosen_plan(buildable, org);
        let over_budget = input.budget_refusal.clone();
        // The chosen plan when it can be applied; else (unknown, or beyond
        // the budget) the plan the namespace holds, with the quota it gave:
        // a tenant's error never relaxes a quota, a Pod Security level,
        // isolation, placement or a stop on new work, nor restores less.
        let held = input
            .live
            .applied
            .as_ref()
            .and_then(|applied| PlanInEffect::held(applied, org));
        let plan = match (&chosen, &over_budget) {
            (Ok(chosen), None) => Some(PlanInEffect::chosen(*chosen)),
            // Beyond the budget, a plan that asks no more than the one held
            // is applied all the same: it only frees room.
            (Ok(chosen), Some(_))
                if held.as_ref().is_some_and(|held| {
                    super::budget::within(&PlanInEffect::chosen(*chosen).quota, &held.quota)
                }) =>
            {
                Some(PlanInEffect::chosen(*chosen))
            }
            _ => held,
        };
        let isolated = effective.as_ref().is_some_and(|e| e.network_isolation);
        let spec_error = chosen
            .err()
            .or_else(|| time_zone_error(buildable))
            .or_else(|| cluster_network_error(plan.as_ref(), isolated, policy));
        let has_namespace =
            input.namespace == NamespaceOwner::ThisWorkspace || input.restore_from.is_some();
        // A namespace is made only with its plan's quota, limits and
        // isolation, and within the organization's budget: with an error in
        // the spec or over the budget, nothing is written unless the
        // workspace has its namespace already (then its access still
        // follows, and its guardrails hold as the plan in effect says).
        let writable = (spec_error.is_none() && over_budget.is_none()) || has_namespace;
        let in_effect = plan.as_ref().and_then(|p| p.name.clone());
        let writes = writable.then(|| WorkspaceWrites {
            namespace: namespace(buildable, org, policy, plan.as_ref(), &input.live),
            role_bindings,
            settings: settings(buildable, org, policy, &input.reaches, plan.as_ref()),
            readers: readers(buildable, org, policy.delegated_membership),
            shares: workspace_shares(ws),
        });
        (
            writes,
            spec_error.map(Err).or(over_budget.map(Ok)),
            roles_outcome,
            plan.is_some().then_some(in_effect),
            refused_setting(ws, org),
        )
    });
    if let Some((_, _, _, Some(in_effect), _)) = &writes {
        facts.plan = in_effect.clone();
    }
    if ws.meta().deletion_timestamp.is_some() {
        return match deletion_blocker(ws, input) {
            // Still the workspace while it waits: its access follows the
            // organization and the spec.
            Some(why) => Decision::DeletionBlocked {
                why,
                children: writes.and_then(|(w, ..)| w),
                facts: WorkspaceFacts {
                    terminating: true,
                    ..facts
                },
            },
            None => Decision::Delete {
                teardown: super::keeping::teardown(ws, input),
                facts,
            },
        };
    }
    if let Some(teardown) = super::keeping::restore(ws, input) {
        return Decision::Prepare { teardown, facts };
    }
    let Some(writes) = writes else {
        // Not (yet) in an organization namespace: nothing to make.
        return Decision::unattached(
            stalled(
                "OrganizationNotFound",
                format!(
                    "no Organization named {org_name:?}: a Workspace must live in its organization's namespace, which has the organization's name"
                ),
            ),
            facts,
            Next::WaitForOthers,
        );
    };
    let (writes, spec_error, roles_outcome, _, refused_setting) = writes;
    let (outcome, next) = if let Some(Err(err)) = spec_error {
        (stalled(err.reason(), err.to_string()), Next::AwaitChange)
    } else if let Some(Ok(why)) = spec_error {
        // Another workspace's deletion or a raised budget wakes it (the
        // organization's workspaces are watched).
        (stalled(OVER_BUDGET, why), Next::AwaitChange)
    } else if let Some(waiting) = roles_outcome {
        waiting
    } else if let Some(why) = refused_owner {
        (
            stalled(
                "SubjectNotAllowed",
                format!("spec.owner: {why}; no access is given to it"),
            ),
            Next::AwaitChange,
        )
    } else if let Some(why) = refused_setting {
        (stalled(SETTING_NOT_ALLOWED, why), Next::AwaitChange)
    } else if effective.is_some_and(|e| e.archived) {
        // Its own Ready reason, so archiving and restoring each publish an
        // Event (the Ready reason changes) and `kubectl describe` says it.
        (
            Outcome::Ready {
                reason: "Archived",
                message: "archived: everything is in place, every access is read-only".into(),
            },
            Next::Resync,
        )
    } else {
        (
            ready(format!(
                "namespace {} and its access, plan and isolation are in place",
                workspace_namespace(&org_name, &ws.name_any())
            )),
            Next::Resync,
        )
    };
    Decision::Converge(decision::Plan {
        children: writes,
        outcome,
        facts,
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
