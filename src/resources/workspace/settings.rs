//! What a workspace's settings and the plan in effect make in its
//! namespace: isolation, the stop on new work, the info ConfigMap, the
//! plan's quota, limits, network exceptions and placement.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, LimitRange, LimitRangeItem, LimitRangeSpec, ResourceQuota, ResourceQuotaSpec,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use kube::api::ObjectMeta;

use super::View;
use super::plan::{PlanInEffect, quantities, time_zone_error};
use crate::api::Workspace;
use crate::ownership::names::{
    INFO_CONFIGMAP, ISOLATION_POLICY, LIMITS, NETWORK_EXCEPTIONS, PLACEMENT, QUOTA,
    STOP_WORK_QUOTA, workspace_namespace,
};
use crate::ownership::{Component, Owner};
use crate::resources::guardrails;
use crate::resources::tenancy::TenantPolicy;

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
/// `reaches`: the workspaces whose plans admit traffic from this one.
pub fn settings(
    v: View,
    policy: &TenantPolicy,
    reaches: &[String],
    plan: Option<&PlanInEffect>,
) -> WorkspaceSettings {
    let meta = |name: &str, component| v.meta(name, &v.id.namespace, component);
    WorkspaceSettings {
        network_policy: v
            .eff
            .network_isolation
            .then(|| isolation_policy(meta(ISOLATION_POLICY, Component::Isolation))),
        stop_work: v.eff.archived.then(|| stop_work(v.ws)),
        info: info(v, plan),
        plan: plan.map(|plan| plan_children(v, policy, reaches, plan)),
    }
}

/// What the plan in effect makes: its quota, limits, network exceptions
/// and placement parameters.
fn plan_children(
    v: View,
    policy: &TenantPolicy,
    reaches: &[String],
    plan: &PlanInEffect,
) -> PlanChildren {
    let meta = |name: &str, component| v.meta(name, &v.id.namespace, component);
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
    let network_exceptions = v
        .eff
        .network_isolation
        .then(|| {
            guardrails::network_exceptions(
                plan.plan,
                &v.id.organization,
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
}

/// The `workspace-info` ConfigMap: the workspace's facts and variables;
/// None while its time zone is invalid (left as it is).
fn info(v: View, plan: Option<&PlanInEffect>) -> Option<ConfigMap> {
    time_zone_error(v.ws).is_none().then(|| {
        let mut data = BTreeMap::from([
            ("WORKSPACE_NAME".to_string(), v.id.name.clone()),
            (
                "WORKSPACE_ORGANIZATION".to_string(),
                v.id.organization.clone(),
            ),
            ("WORKSPACE_NAMESPACE".to_string(), v.id.namespace.clone()),
            ("WORKSPACE_TIME_ZONE".to_string(), v.eff.time_zone.clone()),
            ("WORKSPACE_ARCHIVED".to_string(), v.eff.archived.to_string()),
        ]);
        if let Some(d) = &v.ws.spec.display_name {
            data.insert("WORKSPACE_DISPLAY_NAME".into(), d.clone());
        }
        // The plan in effect (or, when none is known, the one chosen).
        if let Some(p) = plan.map_or(v.eff.plan.clone(), |p| p.name.clone()) {
            data.insert("WORKSPACE_PLAN".into(), p);
        }
        // Read by the MutatingAdmissionPolicy workspaces.dev-workload-defaults
        // (a Job's default activeDeadlineSeconds).
        let run_timeout = plan
            .and_then(|p| p.plan)
            .and_then(|p| p.run_timeout.as_deref())
            .and_then(guardrails::parse_duration);
        if let Some(timeout) = run_timeout {
            data.insert(
                "WORKSPACE_RUN_TIMEOUT_SECONDS".into(),
                timeout.as_secs().to_string(),
            );
        }
        for (k, value) in v.ws.spec.variables.iter().flatten() {
            data.insert(k.clone(), value.clone());
        }
        ConfigMap {
            metadata: v.meta(INFO_CONFIGMAP, &v.id.namespace, Component::Info),
            data: Some(data),
            ..Default::default()
        }
    })
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
