//! The plan a workspace chooses and the plan in effect (what its namespace
//! holds when the chosen one cannot be applied), what the budget reads of
//! them, and the spec errors only the operator can find.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::{Resource, ResourceExt};

use super::{SpecError, View};
use crate::api::common::QuantityValue;
use crate::api::organization::Plan;
use crate::api::{Organization, Workspace};
use crate::resources::defaults::effective;
use crate::resources::defaults::is_default_workspace;
use crate::resources::guardrails;
use crate::resources::tenancy::TenantPolicy;

pub(super) fn quantities(map: &BTreeMap<String, QuantityValue>) -> BTreeMap<String, Quantity> {
    map.iter()
        .map(|(k, v)| (k.clone(), Quantity(v.0.clone())))
        .collect()
}

/// The plan `ws` chooses (its own, else the organization's default), if
/// the organization defines it.
pub(super) fn plan_of<'o>(ws: &Workspace, org: &'o Organization) -> Option<&'o Plan> {
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
) -> crate::resources::budget::Candidate {
    let asks = plan_quota(ws, org);
    let holds = namespace.map(|applied| match applied {
        Some(applied) => applied.quota.clone(),
        // Recorded nowhere: what its plan asks, or, with a plan that cannot
        // be applied, the most any of the organization's plans gives.
        None => asks
            .as_ref()
            .map(|(_, quota)| quota.clone())
            .unwrap_or_else(|| crate::resources::budget::largest_quota(org)),
    });
    crate::resources::budget::Candidate {
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

/// The plan the workspace chooses, if the organization defines it (None:
/// it chooses none and the organization has no default).
pub(super) fn chosen_plan<'o>(v: View<'o>) -> Result<Option<(&'o str, &'o Plan)>, SpecError> {
    let org = v.org;
    let Some(name) = v.eff.plan.clone() else {
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
pub(super) fn time_zone_error(ws: &Workspace) -> Option<SpecError> {
    let zone = ws.spec.time_zone.as_deref().unwrap_or("UTC");
    jiff::tz::TimeZone::get(zone)
        .is_err()
        .then(|| SpecError::InvalidTimeZone(zone.to_string()))
}

/// A plan in effect that opens egress to everything outside the cluster
/// while the operator does not know the cluster's own ranges (the rule is
/// left out: it could reach other workspaces' pods).
pub(super) fn cluster_network_error(
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
            quota: crate::resources::budget::tighter(
                &applied.quota,
                now.unwrap_or(&BTreeMap::new()),
            ),
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
