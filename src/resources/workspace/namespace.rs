//! A workspace's namespace: its marks and isolation label, and the
//! platform's labels and annotations for the plan in effect.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::api::ObjectMeta;

use super::plan::PlanInEffect;
use crate::api::{Organization, Workspace};
use crate::ownership::names::workspace_namespace;
use crate::ownership::{Component, Owner};
use crate::resources::defaults::effective;
use crate::resources::guardrails;
use crate::resources::tenancy::TenantPolicy;

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
