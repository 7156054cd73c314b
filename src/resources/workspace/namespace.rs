//! A workspace's namespace: its marks and isolation label, and the
//! platform's labels and annotations for the plan in effect.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::ObjectMeta;

use super::View;
use super::plan::PlanInEffect;
use crate::ownership::Component;
use crate::resources::guardrails;
use crate::resources::tenancy::TenantPolicy;

/// The namespace of the workspace: its marks and isolation label, which
/// follow the spec in every state, and the platform's labels and
/// annotations for the plan in effect, with that plan recorded. With no plan
/// known to be in effect, the live namespace's own (`live`: its platform
/// labels and annotations, and its record of the plan it holds) are kept as
/// they are.
pub fn namespace(
    v: View,
    policy: &TenantPolicy,
    plan: Option<&PlanInEffect>,
    live: &LiveNamespace,
) -> Namespace {
    let (mut labels, annotations) = match plan {
        Some(plan) => {
            let (labels, mut annotations) =
                guardrails::namespace_metadata(v.org, plan.plan, &policy.pod_security);
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
            let (floor, _) = guardrails::namespace_metadata(v.org, None, &policy.pod_security);
            guardrails::raise_pod_security(&mut labels, &floor);
            (labels, annotations)
        }
    };
    // The marks always win over the platform's labels.
    labels.extend(v.marks(Component::WorkspaceNamespace));
    if v.eff.network_isolation {
        labels.insert(
            guardrails::ISOLATION_LABEL.into(),
            guardrails::ISOLATION_ENFORCED.into(),
        );
    }
    Namespace {
        metadata: ObjectMeta {
            name: Some(v.id.namespace.clone()),
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
