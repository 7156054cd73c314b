//! The usage gauges: what each workspace's quota gives and what is used of
//! it, the same summed per organization, and what is left of each
//! organization's budget. Computed from the caches on each scrape: they
//! cost nothing while nobody scrapes, and never write. Labels are bounded by
//! the organizations, workspaces and the resources their plans name.
//!
//! Shaped like kube-state-metrics' `kube_resourcequota` (a `type` label of
//! `hard` or `used`), so dashboards written for it adapt easily.

use std::collections::BTreeMap;
use std::sync::Weak;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;

use super::Context;
use crate::resources::usage::{self, QuotaUse};
use crate::runtime::informer::valid;

/// Reads the caches of `ctx` on each scrape (weakly: the metrics outlive
/// nothing, and hold nothing alive).
#[derive(Debug)]
pub struct UsageGauges {
    pub ctx: Weak<Context>,
}

/// A gauge family being written: its samples, each with its labels.
type Samples<'a> = Vec<(Vec<(&'static str, &'a str)>, f64)>;
/// The same with labels of their own (read from objects no longer borrowed).
type OwnedSamples = Vec<(Vec<(&'static str, String)>, f64)>;
/// An organization's quotas summed: (hard, used) by resource.
type Totals = (BTreeMap<String, f64>, BTreeMap<String, f64>);

fn family<V: prometheus_client::encoding::EncodeLabelValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: Vec<(Vec<(&'static str, V)>, f64)>,
) -> Result<(), std::fmt::Error> {
    if samples.is_empty() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(
        name,
        help,
        None,
        prometheus_client::metrics::MetricType::Gauge,
    )?;
    for (labels, value) in samples {
        ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for UsageGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(ctx) = self.ctx.upgrade() else {
            return Ok(());
        };
        let namespaces = ctx.workspace_namespaces(None);
        let uses = ctx.quota_uses(&namespaces, None);
        family(
            &mut encoder,
            "workspace_operator_workspace_quota",
            "A workspace's quota by resource: what its plan gives (type hard) and what is used of it (type used)",
            workspace_samples(&uses),
        )?;
        let mut by_org: BTreeMap<&str, Vec<QuotaUse>> = BTreeMap::new();
        for (org, q) in &uses {
            by_org.entry(org.as_str()).or_default().push(q.clone());
        }
        let totals: BTreeMap<&str, Totals> = by_org
            .iter()
            .map(|(org, quotas)| (*org, usage::totals(quotas)))
            .collect();
        family(
            &mut encoder,
            "workspace_operator_organization_quota",
            "The quotas of an organization's workspace namespaces summed, by resource (type hard or used)",
            organization_samples(&totals),
        )?;
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for (org, _) in &namespaces {
            *counts.entry(org.as_str()).or_default() += 1;
        }
        let budgets = Budgets::of(&ctx, &counts, &totals);
        family(
            &mut encoder,
            "workspace_operator_organization_namespaces",
            "An organization's workspace namespaces, those kept for deleted workspaces included (what its budget's maxWorkspaces counts)",
            budgets.namespaces,
        )?;
        family(
            &mut encoder,
            "workspace_operator_organization_budget_workspaces",
            "An organization's budget of workspace namespaces: its maxWorkspaces (type limit) and how many more may get one (type remaining)",
            budgets.workspaces,
        )?;
        family(
            &mut encoder,
            "workspace_operator_organization_budget",
            "An organization's budget by resource: the limit (type limit) and what is not given to a namespace yet (type remaining; negative when lowered below what is held)",
            budgets.quota,
        )
    }
}

/// Each workspace's quota, by resource and type.
fn workspace_samples(uses: &[(String, QuotaUse)]) -> Samples<'_> {
    let mut samples = vec![];
    for (org, q) in uses {
        for (kind, amounts) in [("hard", &q.hard), ("used", &q.used)] {
            for (resource, value) in amounts {
                let labels = vec![
                    ("organization", org.as_str()),
                    ("workspace", q.workspace.as_str()),
                    ("resource", resource.as_str()),
                    ("type", kind),
                ];
                samples.push((labels, *value));
            }
        }
    }
    samples
}

/// Each organization's quotas summed, by resource and type.
fn organization_samples<'a>(totals: &'a BTreeMap<&'a str, Totals>) -> Samples<'a> {
    let mut samples = vec![];
    for (org, (hard, used)) in totals {
        for (kind, amounts) in [("hard", hard), ("used", used)] {
            for (resource, value) in amounts {
                let labels = vec![
                    ("organization", *org),
                    ("resource", resource.as_str()),
                    ("type", kind),
                ];
                samples.push((labels, *value));
            }
        }
    }
    samples
}

/// Each organization's namespaces and what is left of its budget.
struct Budgets {
    namespaces: OwnedSamples,
    workspaces: OwnedSamples,
    quota: OwnedSamples,
}

impl Budgets {
    fn of(
        ctx: &Context,
        counts: &BTreeMap<&str, usize>,
        totals: &BTreeMap<&str, Totals>,
    ) -> Budgets {
        let mut out = Budgets {
            namespaces: vec![],
            workspaces: vec![],
            quota: vec![],
        };
        let no_totals = BTreeMap::new();
        for org in ctx
            .organizations
            .store
            .state()
            .iter()
            .filter_map(|g| valid(g))
        {
            let Some(name) = org.metadata.name.as_deref() else {
                continue;
            };
            let counted = counts.get(name).copied().unwrap_or(0);
            let org_label = || ("organization", name.to_string());
            out.namespaces.push((vec![org_label()], counted as f64));
            let hard = totals.get(name).map_or(&no_totals, |(hard, _)| hard);
            let Some((workspaces_left, quota_left)) = usage::budget_remaining(org, counted, hard)
            else {
                continue;
            };
            let budget = org.spec.budget.as_ref();
            if let (Some(max), Some(left)) =
                (budget.and_then(|b| b.max_workspaces), workspaces_left)
            {
                let labels = |t: &str| vec![org_label(), ("type", t.to_string())];
                out.workspaces.push((labels("limit"), max.into()));
                out.workspaces.push((labels("remaining"), left as f64));
            }
            for (key, left) in quota_left {
                let Some(limit) = budget
                    .and_then(|b| b.quota.as_ref()?.get(&key))
                    .and_then(|l| crate::api::common::parse_quantity(l.as_str()))
                else {
                    continue;
                };
                let labels = |t: &str| {
                    vec![
                        org_label(),
                        ("resource", key.clone()),
                        ("type", t.to_string()),
                    ]
                };
                out.quota.push((labels("limit"), limit));
                out.quota.push((labels("remaining"), left));
            }
        }
        out
    }
}
