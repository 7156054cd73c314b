//! What an organization's workspaces hold and use (pure): the quotas of
//! their namespaces summed, what is left of the organization's budget, and
//! when the figures its status reports are taken again.
//!
//! Figures are taken at most once per `USAGE_PERIOD` and written only when
//! one changed, so a busy organization costs one status write a minute at
//! most and an idle one none.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::api::Organization;
use crate::api::common::{QuantityValue, parse_quantity};
use crate::api::organization::{BudgetRemaining, OrganizationUsage};
use crate::ownership::Component;
use k8s_openapi::api::core::v1::ResourceQuota;

/// How often at most an organization's usage is taken again.
pub const USAGE_PERIOD: Duration = Duration::from_secs(60);

/// What the cache keeps of a workspace's quota beside its marks
/// (`Informer::start_compact_keeping`): its limits as the operator set them
/// (`spec.hard`, known from the start) and what is used of each (`status.used`,
/// 0 until the API server has counted), as JSON. None for other quotas.
pub fn kept_of_quota(quota: &ResourceQuota) -> Option<String> {
    if crate::ownership::component_of(&quota.metadata) != Some(Component::Quota) {
        return None;
    }
    let hard = quota.spec.as_ref()?.hard.as_ref()?;
    let counted = quota.status.as_ref().and_then(|s| s.used.as_ref());
    let used: BTreeMap<&String, &str> = hard
        .keys()
        .map(|k| {
            (
                k,
                counted.and_then(|u| u.get(k)).map_or("0", |q| q.0.as_str()),
            )
        })
        .collect();
    Some(serde_json::json!({"hard": hard, "used": used}).to_string())
}

/// One workspace namespace's quota, as its status says (`hard`, `used`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuotaUse {
    pub workspace: String,
    pub hard: BTreeMap<String, f64>,
    pub used: BTreeMap<String, f64>,
}

impl QuotaUse {
    /// Of a ResourceQuota's status as JSON (what the cache keeps of it);
    /// quantities that do not parse are left out.
    pub fn of_status(workspace: &str, status: &serde_json::Value) -> QuotaUse {
        let amounts = |field: &str| -> BTreeMap<String, f64> {
            status
                .get(field)
                .and_then(serde_json::Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(resource, q)| Some((resource.clone(), parse_quantity(q.as_str()?)?)))
                .collect()
        };
        QuotaUse {
            workspace: workspace.to_string(),
            hard: amounts("hard"),
            used: amounts("used"),
        }
    }
}

/// Sums of `quotas`, by resource: (hard, used).
pub fn totals(quotas: &[QuotaUse]) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
    let mut hard = BTreeMap::new();
    let mut used = BTreeMap::new();
    for q in quotas {
        for (resource, v) in &q.hard {
            *hard.entry(resource.clone()).or_insert(0.0) += v;
        }
        for (resource, v) in &q.used {
            *used.entry(resource.clone()).or_insert(0.0) += v;
        }
    }
    (hard, used)
}

/// What is left of `org`'s budget with `namespaces` namespaces holding
/// quotas whose limits sum to `hard`; None without a budget.
pub fn budget_remaining(
    org: &Organization,
    namespaces: usize,
    hard: &BTreeMap<String, f64>,
) -> Option<(Option<i64>, BTreeMap<String, f64>)> {
    let budget = org.spec.budget.as_ref()?;
    let workspaces = budget
        .max_workspaces
        .map(|max| i64::from(max) - i64::try_from(namespaces).unwrap_or(i64::MAX));
    let quota = budget
        .quota
        .iter()
        .flatten()
        .filter_map(|(key, limit)| {
            let limit = parse_quantity(limit.as_str())?;
            Some((key.clone(), limit - hard.get(key).copied().unwrap_or(0.0)))
        })
        .collect();
    Some((workspaces, quota))
}

/// The figures of `org` taken at `now` from its `namespaces` workspace
/// namespaces and their `quotas`.
pub fn summarize(
    org: &Organization,
    namespaces: usize,
    quotas: &[QuotaUse],
    now: jiff::Timestamp,
) -> OrganizationUsage {
    let (hard, used) = totals(quotas);
    // A limit too large for a number (`1e400`) has no sum to report.
    let quantities = |m: &BTreeMap<String, f64>| {
        m.iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(k, v)| (k.clone(), format_quantity(*v)))
            .collect()
    };
    OrganizationUsage {
        namespaces: i32::try_from(namespaces).unwrap_or(i32::MAX),
        budget_remaining: budget_remaining(org, namespaces, &hard).map(|(workspaces, quota)| {
            BudgetRemaining {
                workspaces: workspaces.map(|w| i32::try_from(w).unwrap_or(i32::MAX)),
                quota: quantities(&quota),
            }
        }),
        hard: quantities(&hard),
        used: quantities(&used),
        observed_at: now.to_string(),
    }
}

/// When the figures in `reported` were taken (None: never, or unreadable).
pub fn taken_at(reported: Option<&OrganizationUsage>) -> Option<jiff::Timestamp> {
    reported?.observed_at.parse().ok()
}

/// When figures last taken at `taken` are due to be taken again, seen at
/// `now`: None when they are due (or were never taken), else how long until.
pub fn due_since(taken: Option<jiff::Timestamp>, now: jiff::Timestamp) -> Option<Duration> {
    let age = now.duration_since(taken?);
    let period = jiff::SignedDuration::try_from(USAGE_PERIOD).ok()?;
    // A time ahead of now (a clock stepped back) counts as due.
    (age >= jiff::SignedDuration::ZERO && age < period)
        .then(|| Duration::try_from(period - age).ok())
        .flatten()
}

/// What the status reports: the figures just taken (`fresh`) when they
/// differ from those reported, else those reported (with their time: an
/// unchanged figure is no write).
pub fn reported(
    old: Option<&OrganizationUsage>,
    fresh: Option<OrganizationUsage>,
) -> Option<OrganizationUsage> {
    match (old, fresh) {
        (Some(old), Some(fresh)) if same_figures(old, &fresh) => Some(old.clone()),
        (_, Some(fresh)) => Some(fresh),
        (old, None) => old.cloned(),
    }
}

/// Whether `a` and `b` give the same figures (whenever they were taken).
pub fn same_figures(a: &OrganizationUsage, b: &OrganizationUsage) -> bool {
    OrganizationUsage {
        observed_at: String::new(),
        ..a.clone()
    } == OrganizationUsage {
        observed_at: String::new(),
        ..b.clone()
    }
}

/// `v` as a Kubernetes quantity: a whole number (in Mi, Gi, ... when it is a
/// whole number of them), else in thousandths (`500m`), else as a decimal.
pub fn format_quantity(v: f64) -> QuantityValue {
    const BINARY: [(&str, i64); 5] = [
        ("Pi", 1 << 50),
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    // Below 2^53 a whole f64 is exact as an integer.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    let text = if v.fract() == 0.0 && v.abs() < EXACT {
        #[allow(clippy::cast_possible_truncation)]
        let n = v as i64;
        // Ki only for a large amount: 2048 Pods stay 2048.
        match BINARY
            .iter()
            .find(|(_, unit)| n != 0 && n % unit == 0 && n.abs() >= (1 << 20))
        {
            Some((suffix, unit)) => format!("{}{suffix}", n / unit),
            None => n.to_string(),
        }
    } else {
        let milli = (v * 1000.0).round();
        if (v * 1000.0 - milli).abs() < 1e-6 && milli.abs() < EXACT {
            #[allow(clippy::cast_possible_truncation)]
            let m = milli as i64;
            format!("{m}m")
        } else {
            format!("{v}")
        }
    };
    QuantityValue(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn org(budget: serde_json::Value) -> Organization {
        serde_json::from_value(json!({
            "apiVersion": "workspaces.dev/v1alpha1",
            "kind": "Organization",
            "metadata": {"name": "acme"},
            "spec": {"admins": [{"kind": "User", "name": "a"}], "budget": budget}
        }))
        .unwrap()
    }

    fn quota(ws: &str, hard: serde_json::Value, used: serde_json::Value) -> QuotaUse {
        QuotaUse::of_status(ws, &json!({"hard": hard, "used": used}))
    }

    fn at(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_workspace_quota_is_kept_as_its_limits_and_their_use() {
        let quota = |component: &str, status: serde_json::Value| -> ResourceQuota {
            serde_json::from_value(json!({
                "metadata": {"name": "workspace-quota", "namespace": "acme--web",
                    "labels": {"workspaces.dev/component": component,
                        "app.kubernetes.io/managed-by": "workspace-operator"}},
                "spec": {"hard": {"pods": "20", "requests.cpu": "2"}},
                "status": status
            }))
            .unwrap()
        };
        // Before the API server counted: the limits, nothing used.
        let fresh = kept_of_quota(&quota("quota", json!(null))).unwrap();
        assert_eq!(
            fresh,
            r#"{"hard":{"pods":"20","requests.cpu":"2"},"used":{"pods":"0","requests.cpu":"0"}}"#
        );
        // Counted at zero: the same text (no change to report).
        let counted = json!({"hard": {"pods": "20", "requests.cpu": "2"},
            "used": {"pods": "0", "requests.cpu": "0"}});
        assert_eq!(kept_of_quota(&quota("quota", counted)).unwrap(), fresh);
        let busy = json!({"used": {"pods": "3", "requests.cpu": "250m", "other": "1"}});
        let kept: serde_json::Value =
            serde_json::from_str(&kept_of_quota(&quota("quota", busy)).unwrap()).unwrap();
        let q = QuotaUse::of_status("web", &kept);
        assert_eq!(q.used.get("pods"), Some(&3.0));
        assert_eq!(q.used.get("requests.cpu"), Some(&0.25));
        assert_eq!(q.used.get("other"), None, "only what is limited");
        // An archive's stop on new work, or anything else: nothing kept.
        assert_eq!(kept_of_quota(&quota("stop-work", json!(null))), None);
    }

    #[test]
    fn quantities_are_written_as_kubernetes_writes_them() {
        for (v, want) in [
            (0.0, "0"),
            (20.0, "20"),
            (2048.0, "2048"),
            (4.0 * 1024f64.powi(3), "4Gi"),
            (1.5 * 1024f64.powi(3), "1536Mi"),
            (0.5, "500m"),
            (0.1 + 0.1 + 0.1, "300m"),
            (2.25, "2250m"),
            (-0.5, "-500m"),
            (-3.0, "-3"),
            (0.000_001, "0.000001"),
        ] {
            assert_eq!(format_quantity(v).as_str(), want, "{v}");
            let back = parse_quantity(want).unwrap();
            assert!((back - v).abs() < 1e-9, "{want} parses back to {v}");
        }
    }

    #[test]
    fn quotas_add_up_and_the_budget_says_what_is_left() {
        let quotas = [
            quota(
                "a",
                json!({"pods": "20", "requests.cpu": "2", "requests.memory": "4Gi"}),
                json!({"pods": "3", "requests.cpu": "500m", "requests.memory": "1Gi"}),
            ),
            quota(
                "b",
                json!({"pods": "10", "requests.cpu": "1500m", "odd": "x"}),
                json!({"pods": "0", "requests.cpu": "0"}),
            ),
        ];
        let org = org(json!({"maxWorkspaces": 3, "quota": {"requests.cpu": "3", "pods": "100"}}));
        let usage = summarize(&org, 2, &quotas, at("2026-12-07T10:00:00Z"));
        let q = |pairs: &[(&str, &str)]| -> BTreeMap<String, QuantityValue> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), (*v).into()))
                .collect()
        };
        assert_eq!(
            usage,
            OrganizationUsage {
                namespaces: 2,
                hard: q(&[
                    ("pods", "30"),
                    ("requests.cpu", "3500m"),
                    ("requests.memory", "4Gi")
                ]),
                used: q(&[
                    ("pods", "3"),
                    ("requests.cpu", "500m"),
                    ("requests.memory", "1Gi")
                ]),
                budget_remaining: Some(BudgetRemaining {
                    workspaces: Some(1),
                    // Lowered below what is given: negative.
                    quota: q(&[("pods", "70"), ("requests.cpu", "-500m")]),
                }),
                observed_at: "2026-12-07T10:00:00Z".into(),
            }
        );
        let no_budget = summarize(
            &self::org(json!(null)),
            2,
            &quotas,
            at("2026-12-07T10:00:00Z"),
        );
        assert_eq!(no_budget.budget_remaining, None);
    }

    #[test]
    fn figures_are_taken_at_most_once_a_period_and_kept_when_unchanged() {
        let org = org(json!(null));
        let quotas = [quota("a", json!({"pods": "20"}), json!({"pods": "1"}))];
        let first = summarize(&org, 1, &quotas, at("2026-12-07T10:00:00Z"));
        // Nothing reported yet: due.
        assert_eq!(due_since(None, at("2026-12-07T10:00:00Z")), None);
        // Taken 20 s ago: due in 40 s.
        assert_eq!(
            due_since(taken_at(Some(&first)), at("2026-12-07T10:00:20Z")),
            Some(Duration::from_secs(40))
        );
        assert_eq!(
            due_since(taken_at(Some(&first)), at("2026-12-07T10:01:00Z")),
            None
        );
        // A clock stepped back: due rather than waiting an hour.
        assert_eq!(
            due_since(taken_at(Some(&first)), at("2026-12-07T09:00:00Z")),
            None
        );

        // The same figures a minute later: the old time is kept (no write).
        let same = summarize(&org, 1, &quotas, at("2026-12-07T10:01:00Z"));
        assert_eq!(reported(Some(&first), Some(same)), Some(first.clone()));
        // A changed figure: the new one, with its time.
        let busier = [quota("a", json!({"pods": "20"}), json!({"pods": "2"}))];
        let changed = summarize(&org, 1, &busier, at("2026-12-07T10:01:00Z"));
        assert_eq!(reported(Some(&first), Some(changed.clone())), Some(changed));
        // Not taken this time: what was reported stays.
        assert_eq!(reported(Some(&first), None), Some(first));
        assert_eq!(reported(None, None), None);
    }
}
