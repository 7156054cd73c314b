//! An organization's budget (pure): which of its workspaces may have a
//! namespace under `spec.budget`.
//!
//! Workspaces are taken in a fixed order (the default workspace, those that
//! already have a namespace, then by creation time and name), so every
//! workspace's reconcile reaches the same answer from the same cache, and a
//! namespace once given is never taken away: lowering the budget only holds
//! back workspaces that have none yet.

use std::collections::BTreeMap;

use crate::api::Organization;
use crate::api::common::{QuantityValue, parse_quantity};
use crate::api::guardrails::OrganizationBudget;

/// One workspace of the organization as the budget sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub name: String,
    pub default: bool,
    /// It has its namespace (or one kept for it, waiting for its purge).
    pub has_namespace: bool,
    /// With a namespace: the quota the namespace holds (as recorded on it),
    /// counted whatever its spec now asks (an unknown plan asks nothing, but
    /// the quota it had stays). Empty without a namespace.
    pub holds: BTreeMap<String, QuantityValue>,
    /// Creation time (Unix seconds).
    pub created: i64,
    /// Its plan's name and quota; None when it names an unknown plan.
    pub plan: Option<(String, BTreeMap<String, QuantityValue>)>,
}

/// Key by key, the tighter of two quotas: a key only one sets is limited
/// by it; a key both set, by the smaller value.
pub fn tighter(
    a: &BTreeMap<String, QuantityValue>,
    b: &BTreeMap<String, QuantityValue>,
) -> BTreeMap<String, QuantityValue> {
    let mut out = a.clone();
    for (key, value) in b {
        let smaller = match (
            out.get(key).and_then(|v| parse_quantity(v.as_str())),
            parse_quantity(value.as_str()),
        ) {
            (Some(have), Some(new)) => new < have,
            _ => true,
        };
        if smaller || !out.contains_key(key) {
            out.insert(key.clone(), value.clone());
        }
    }
    out
}

/// Whether quota `a` gives no more than `b`: every key `b` limits, `a`
/// limits at most as much.
pub fn within(a: &BTreeMap<String, QuantityValue>, b: &BTreeMap<String, QuantityValue>) -> bool {
    b.iter().all(|(key, limit)| {
        match (
            a.get(key).and_then(|v| parse_quantity(v.as_str())),
            parse_quantity(limit.as_str()),
        ) {
            (Some(asked), Some(limit)) => asked <= limit,
            _ => false,
        }
    })
}

/// Key by key, the largest quota any of `org`'s plans gives: what a
/// namespace recording nothing of its plan may hold at most.
pub fn largest_quota(org: &Organization) -> BTreeMap<String, QuantityValue> {
    let mut largest: BTreeMap<String, (f64, QuantityValue)> = BTreeMap::new();
    for plan in org.spec.plans.iter().flat_map(|p| p.values()) {
        for (key, value) in plan.quota.iter().flatten() {
            let Some(v) = parse_quantity(value.as_str()) else {
                continue;
            };
            if largest.get(key).is_none_or(|(l, _)| v > *l) {
                largest.insert(key.clone(), (v, value.clone()));
            }
        }
    }
    largest.into_iter().map(|(k, (_, v))| (k, v)).collect()
}

/// Why `target` may not have a namespace now, or None when it may; for a
/// workspace that has one (and the default workspace), why its plan's
/// quota may not be applied. `kept` are the quotas of namespaces of deleted
/// workspaces still kept until their purge: they count toward
/// `maxWorkspaces` and the quota totals (their Pods may still run).
pub fn refusal(
    org: &Organization,
    candidates: &[Candidate],
    kept: &[BTreeMap<String, QuantityValue>],
    target: &str,
) -> Option<String> {
    let budget = org.spec.budget.as_ref()?;
    let limits = budget_limits(budget);
    let placed_note = kept_note(kept);
    let mut taken = Taken::before_any(&limits, candidates, kept);
    let mut target_placed = None;
    for c in budget_order(candidates) {
        // A namespace once given is never taken away, and the default
        // workspace always has its place: both count whatever they ask.
        let placed = c.has_namespace || c.default;
        let why = if placed {
            None
        } else {
            taken.refusal(budget.max_workspaces, &limits, c, &placed_note)
        };
        if c.name == target {
            if let Some(why) = why {
                return Some(format!(
                    "{why}; workspace {target} gets no namespace until the budget allows it (raise Organization {}'s spec.budget, or delete a workspace)",
                    org.metadata.name.as_deref().unwrap_or_default()
                ));
            }
            if placed {
                target_placed = Some(c);
            }
        }
        if why.is_none() {
            taken.add(&limits, c, placed);
        }
    }
    plan_refusal(org, &limits, &taken, target_placed?, &placed_note)
}

/// The places in `maxWorkspaces` taken by `namespaces`, and by the default
/// workspace's, which always has a place, even before the organization has
/// made it (it counts, and comes first): `default_counted` when it is among
/// them or is the one asking.
pub fn places_taken(namespaces: usize, default_counted: bool) -> usize {
    namespaces + usize::from(!default_counted)
}

/// A quota's amount of `key` (0 when it sets none).
fn amount(quota: &BTreeMap<String, QuantityValue>, key: &str) -> f64 {
    quota
        .get(key)
        .and_then(|v| parse_quantity(v.as_str()))
        .unwrap_or(0.0)
}

/// Whether a namespace's plan record changing from `cached` (None: no
/// namespace yet) to `wanted` needs the live recount: a new namespace
/// under `maxWorkspaces` or a budgeted quota, or a change of a budgeted key.
pub fn recount_needed(
    org: &Organization,
    wanted: &BTreeMap<String, QuantityValue>,
    cached: Option<&BTreeMap<String, QuantityValue>>,
) -> bool {
    let Some(budget) = org.spec.budget.as_ref() else {
        return false;
    };
    let limits = budget_limits(budget);
    if limits.is_empty() {
        return cached.is_none() && budget.max_workspaces.is_some();
    }
    cached.is_none_or(|cached| {
        limits
            .keys()
            .any(|key| amount(wanted, key) != amount(cached, key))
    })
}

/// One of the organization's workspace namespaces as the API server lists
/// it (terminating ones included: their Pods may still run).
#[derive(Clone, Debug, PartialEq)]
pub struct Listed {
    pub name: String,
    /// What it holds, as recorded on it (the largest plan's quota when it
    /// records nothing).
    pub holds: BTreeMap<String, QuantityValue>,
}

/// Why namespace `namespace`, to hold `wanted`, does not fit beside the
/// organization's other namespaces in `listed` (the API server's count,
/// which a cache may lag behind), or None. A new namespace needs a place
/// in `maxWorkspaces` (`default_namespace`'s is always kept); only what it
/// would hold beyond what it holds now must fit the quota totals.
pub fn live_refusal(
    org: &Organization,
    namespace: &str,
    default_namespace: &str,
    wanted: &BTreeMap<String, QuantityValue>,
    listed: &[Listed],
) -> Option<String> {
    let budget = org.spec.budget.as_ref()?;
    let (own, others): (Vec<&Listed>, Vec<&Listed>) =
        listed.iter().partition(|n| n.name == namespace);
    let own = own.first().map(|n| &n.holds);
    if let Some(max) = budget.max_workspaces.filter(|_| own.is_none()) {
        let default_counted =
            namespace == default_namespace || others.iter().any(|n| n.name == default_namespace);
        let taken = places_taken(others.len(), default_counted);
        if taken >= max.max(0) as usize {
            return Some(format!(
                "the organization's budget allows {max} workspace namespace(s) and the API server lists {taken} (counting the default workspace's place, and those still terminating)"
            ));
        }
    }
    let limits = budget_limits(budget);
    let grows = own.is_none_or(|own| {
        limits
            .keys()
            .any(|key| amount(wanted, key) > amount(own, key))
    });
    if !grows {
        return None;
    }
    limits.iter().find_map(|(key, (limit, written))| {
        let taken: f64 = others.iter().map(|n| amount(&n.holds, key)).sum();
        let asked = amount(wanted, key);
        (taken + asked > limit * (1.0 + 1e-12)).then(|| format!(
            "the organization's budget limits {key} to {written} in all; the API server lists {taken} held by its other namespaces (those kept and terminating included), and {namespace} would hold {asked}"
        ))
    })
}

/// Per budgeted key: its limit, and the limit as written.
type Limits<'a> = BTreeMap<&'a str, (f64, &'a str)>;

/// The budget's quota keys with the limits they set (unreadable ones left
/// out).
fn budget_limits(budget: &OrganizationBudget) -> Limits<'_> {
    budget
        .quota
        .iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str(), (parse_quantity(v.as_str())?, v.as_str()))))
        .collect()
}

/// The candidates in the order they get their places: the default
/// workspace, those with a namespace, then by creation time and name.
fn budget_order(candidates: &[Candidate]) -> Vec<&Candidate> {
    let mut order: Vec<&Candidate> = candidates.iter().collect();
    order.sort_by(|a, b| {
        (!a.default, !a.has_namespace, &a.created, &a.name).cmp(&(
            !b.default,
            !b.has_namespace,
            &b.created,
            &b.name,
        ))
    });
    order
}

/// What a refusal adds about the namespaces kept for deleted workspaces;
/// empty if there are none.
fn kept_note(kept: &[BTreeMap<String, QuantityValue>]) -> String {
    if kept.is_empty() {
        String::new()
    } else {
        format!(
            " ({} kept for deleted workspaces: waiting for their purge, retained or still terminating)",
            kept.len()
        )
    }
}

/// The name of `c`'s plan, or "(unknown)".
fn plan_name(c: &Candidate) -> String {
    c.plan
        .as_ref()
        .map_or("(unknown)", |(p, _)| p.as_str())
        .to_string()
}

/// How much of `key` `c`'s plan asks; None if it sets no (readable) quota
/// for it or is unknown.
fn asks(c: &Candidate, key: &str) -> Option<f64> {
    c.plan
        .as_ref()
        .and_then(|(_, q)| q.get(key))
        .and_then(|v| parse_quantity(v.as_str()))
}

/// How much of `key` a workspace with a namespace is counted at.
fn counted(c: &Candidate, key: &str) -> Option<f64> {
    // A workspace with a namespace counts at the larger of what it holds
    // and what it asks: an unknown plan does not hide the quota it still
    // has, and a plan switched to a bigger one is counted big for the
    // others (two switching at once cannot both take the last room).
    let holds = c.holds.get(key).and_then(|v| parse_quantity(v.as_str()));
    match (holds, asks(c, key)) {
        (Some(h), Some(a)) => Some(h.max(a)),
        (h, a) => h.or(a),
    }
}

/// Why `c`'s plan does not fit beside `taken(key)` of each budgeted
/// key (`taken_text` says what is taken), or None when it fits.
fn exceeded(
    limits: &Limits,
    c: &Candidate,
    taken: &dyn Fn(&str) -> f64,
    taken_text: &dyn Fn(f64) -> String,
) -> Option<String> {
    limits.iter().find_map(|(key, (limit, written))| {
        let taken = taken(key);
        match asks(c, key) {
            None => Some(format!(
                "the organization's budget limits {key} to {written} in all, and plan {} sets no {key} quota",
                plan_name(c)
            )),
            Some(ask) if taken + ask > limit * (1.0 + 1e-12) => Some(format!(
                "the organization's budget limits {key} to {written} in all: {} and plan {} asks {}",
                taken_text(taken),
                plan_name(c),
                show(ask)
            )),
            Some(_) => None,
        }
    })
}

/// Of every quota `kept` records, the total of `key`.
fn kept_total(kept: &[BTreeMap<String, QuantityValue>], key: &str) -> f64 {
    kept.iter()
        .filter_map(|q| q.get(key).and_then(|v| parse_quantity(v.as_str())))
        .sum()
}

/// What the workspaces given their place so far take of the budget.
struct Taken<'a> {
    /// Namespaces, counted toward `maxWorkspaces`.
    count: usize,
    /// Per budgeted key, the quota counted.
    used: BTreeMap<&'a str, f64>,
}

impl<'a> Taken<'a> {
    /// What is taken before any candidate gets its place: the namespaces
    /// kept for deleted workspaces, and the default workspace's place.
    fn before_any(
        limits: &Limits<'a>,
        candidates: &[Candidate],
        kept: &[BTreeMap<String, QuantityValue>],
    ) -> Self {
        let count = places_taken(kept.len(), candidates.iter().any(|c| c.default));
        let used = limits.keys().map(|k| (*k, kept_total(kept, k))).collect();
        Taken { count, used }
    }

    /// How much of `key` is taken.
    fn of(&self, key: &str) -> f64 {
        self.used.get(key).copied().unwrap_or(0.0)
    }

    /// Why `c`, which has no place yet, gets none beside what is taken, or
    /// None when it fits.
    fn refusal(
        &self,
        max_workspaces: Option<i32>,
        limits: &Limits,
        c: &Candidate,
        placed_note: &str,
    ) -> Option<String> {
        let count = self.count;
        if let Some(max) = max_workspaces
            && count >= max.max(0) as usize
        {
            return Some(format!(
                "the organization's budget allows {max} workspace namespace(s) and {count} are taken{placed_note}"
            ));
        }
        exceeded(limits, c, &|key| self.of(key), &|taken| {
            format!("{} are taken{placed_note}", show(taken))
        })
    }

    /// Counts `c` in: at what it is `counted` at if `placed` before, else
    /// at what it asks.
    fn add(&mut self, limits: &Limits<'a>, c: &Candidate, placed: bool) {
        self.count += 1;
        for key in limits.keys() {
            let takes = if placed {
                counted(c, key)
            } else {
                asks(c, key)
            };
            *self.used.entry(key).or_default() += takes.unwrap_or(0.0);
        }
    }
}

/// Why the plan of `c`, which has its place, may not be applied beside what
/// the others take, or None when it fits.
fn plan_refusal(
    org: &Organization,
    limits: &Limits,
    taken: &Taken,
    c: &Candidate,
    placed_note: &str,
) -> Option<String> {
    // A workspace that has its place: does its plan's quota fit beside
    // everything else (a plan switched to a bigger one, or to one without a
    // budgeted key, must not take more than the budget)?
    let target = &c.name;
    let others = |key: &str| taken.of(key) - counted(c, key).unwrap_or(0.0);
    let why = exceeded(limits, c, &others, &|taken| {
        format!("the other workspaces take {}{placed_note}", show(taken))
    })?;
    Some(format!(
        "{why}; the plan's quota, limits and network and placement settings are not applied to workspace {target}, which keeps what it has (raise Organization {}'s spec.budget, or choose a smaller plan)",
        org.metadata.name.as_deref().unwrap_or_default()
    ))
}

fn show(v: f64) -> String {
    let rounded = (v * 1000.0).round() / 1000.0;
    format!("{rounded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(budget: &str) -> Organization {
        serde_yaml::from_str(&format!(
            "{{apiVersion: workspaces.dev/v1alpha1, kind: Organization, metadata: {{name: acme}}, spec: {{budget: {budget}}}}}"
        ))
        .unwrap()
    }

    fn ws(name: &str, created: &str, has_namespace: bool, cpu: Option<&str>) -> Candidate {
        Candidate {
            name: name.into(),
            default: name == "default",
            has_namespace,
            holds: BTreeMap::new(),
            created: created.replace('-', "").parse().unwrap(),
            plan: Some((
                "small".into(),
                cpu.map(|c| BTreeMap::from([("requests.cpu".into(), QuantityValue(c.into()))]))
                    .unwrap_or_default(),
            )),
        }
    }

    fn cpu(c: &str) -> BTreeMap<String, QuantityValue> {
        BTreeMap::from([("requests.cpu".into(), QuantityValue(c.into()))])
    }

    fn listed(name: &str, c: &str) -> Listed {
        Listed {
            name: name.into(),
            holds: cpu(c),
        }
    }

    #[test]
    fn the_live_recount_keeps_the_default_workspaces_place_and_counts_only_growth() {
        let o = org("{maxWorkspaces: 2, quota: {requests.cpu: '4'}}");
        let (default, new) = ("acme--default", "acme--new");
        // The default workspace's namespace not made yet: it keeps its place.
        let one = [listed("acme--a", "1")];
        let why = live_refusal(&o, new, default, &cpu("1"), &one).unwrap();
        assert!(
            why.contains("allows 2 workspace namespace(s) and the API server lists 2"),
            "{why}"
        );
        // The default workspace itself always fits its place.
        assert_eq!(live_refusal(&o, default, default, &cpu("1"), &one), None);
        // A namespace that has its place only needs its growth to fit.
        let two = [listed(default, "2"), listed("acme--a", "1")];
        assert_eq!(live_refusal(&o, "acme--a", default, &cpu("2"), &two), None);
        let why = live_refusal(&o, "acme--a", default, &cpu("3"), &two).unwrap();
        assert!(
            why.contains("lists 2 held by its other namespaces"),
            "{why}"
        );
        // Shrinking never needs room.
        assert_eq!(live_refusal(&o, "acme--a", default, &cpu("0"), &two), None);
        // Only a new namespace or a budgeted key changing is recounted.
        assert!(recount_needed(&o, &cpu("1"), None));
        assert!(recount_needed(&o, &cpu("2"), Some(&cpu("1"))));
        assert!(!recount_needed(&o, &cpu("1"), Some(&cpu("1"))));
        let count_only = org("{maxWorkspaces: 2}");
        assert!(recount_needed(&count_only, &cpu("1"), None));
        assert!(!recount_needed(&count_only, &cpu("2"), Some(&cpu("1"))));
        assert!(!recount_needed(&org("{}"), &cpu("1"), None));
    }

    #[test]
    fn the_fifth_workspace_over_four_waits_and_a_raise_releases_it() {
        let all = [
            ws("default", "2026-01-01", true, None),
            ws("a", "2026-01-02", true, None),
            ws("b", "2026-01-03", false, None),
            ws("c", "2026-01-04", false, None),
            ws("d", "2026-01-05", false, None),
        ];
        let four = org("{maxWorkspaces: 4}");
        for name in ["default", "a", "b", "c"] {
            assert_eq!(refusal(&four, &all, &[], name), None, "{name}");
        }
        let why = refusal(&four, &all, &[], "d").unwrap();
        assert!(
            why.contains("allows 4") && why.contains("4 are taken"),
            "{why}"
        );
        assert_eq!(refusal(&org("{maxWorkspaces: 5}"), &all, &[], "d"), None);
        let why = refusal(&org("{maxWorkspaces: 5}"), &all, &[BTreeMap::new()], "d").unwrap();
        assert!(why.contains("kept for deleted workspaces"), "{why}");
    }

    #[test]
    fn the_default_workspace_has_its_place_before_it_exists() {
        let all = [
            ws("a", "2026-01-02", false, None),
            ws("b", "2026-01-03", false, None),
        ];
        let two = org("{maxWorkspaces: 2}");
        assert_eq!(refusal(&two, &all, &[], "a"), None);
        assert!(refusal(&two, &all, &[], "b").is_some());
    }

    #[test]
    fn a_namespace_once_given_is_kept_when_the_budget_shrinks() {
        let all = [
            ws("default", "2026-01-01", true, None),
            ws("a", "2026-01-02", true, None),
            ws("b", "2026-01-03", true, None),
            ws("c", "2026-01-01", false, None),
        ];
        let two = org("{maxWorkspaces: 2}");
        assert_eq!(refusal(&two, &all, &[], "b"), None);
        assert!(
            refusal(&two, &all, &[], "c").is_some(),
            "older, but has none yet"
        );
    }

    #[test]
    fn quota_totals_count_each_plan_and_a_plan_without_the_key_does_not_fit() {
        let all = [
            ws("default", "2026-01-01", true, Some("2")),
            ws("a", "2026-01-02", false, Some("6")),
            ws("b", "2026-01-03", false, Some("2500m")),
            ws("c", "2026-01-04", false, Some("1")),
            ws("d", "2026-01-05", false, None),
        ];
        let budget = org("{quota: {requests.cpu: 10}}");
        assert_eq!(refusal(&budget, &all, &[], "a"), None);
        let why = refusal(&budget, &all, &[], "b").unwrap();
        assert!(why.contains("8 are taken and plan small asks 2.5"), "{why}");
        assert_eq!(
            refusal(&budget, &all, &[], "c"),
            None,
            "a smaller one still fits"
        );
        let why = refusal(&budget, &all, &[], "d").unwrap();
        assert!(why.contains("sets no requests.cpu quota"), "{why}");
        assert_eq!(refusal(&org("{}"), &all, &[], "d"), None);
    }

    #[test]
    fn a_plan_switched_to_a_bigger_one_does_not_take_more_than_the_budget() {
        let budget = org("{quota: {requests.cpu: 10}}");
        let mut all = vec![
            ws("default", "2026-01-01", true, Some("2")),
            ws("a", "2026-01-02", true, Some("2")),
            ws("b", "2026-01-03", true, Some("2")),
        ];
        assert_eq!(refusal(&budget, &all, &[], "a"), None);
        all[1] = ws("a", "2026-01-02", true, Some("50"));
        let why = refusal(&budget, &all, &[], "a").unwrap();
        assert!(
            why.contains("the other workspaces take 4") && why.contains("asks 50"),
            "{why}"
        );
        assert!(why.contains("keeps what it has"), "{why}");
        // One without the budgeted key would be unlimited.
        all[1] = ws("a", "2026-01-02", true, None);
        assert!(
            refusal(&budget, &all, &[], "a")
                .unwrap()
                .contains("sets no requests.cpu")
        );
        // The default workspace too.
        all[0] = ws("default", "2026-01-01", true, Some("9"));
        assert!(refusal(&budget, &all, &[], "default").is_some());
    }

    #[test]
    fn an_unknown_plan_does_not_hide_the_quota_a_namespace_holds() {
        // Budget 4 CPU; default and b1 hold 2 each; b1 then names a plan
        // that does not exist (it asks nothing, and keeps its 2).
        let budget = org("{quota: {requests.cpu: 4}}");
        let two = || BTreeMap::from([("requests.cpu".into(), QuantityValue("2".into()))]);
        let mut b1 = ws("b1", "2026-01-02", true, Some("2"));
        b1.holds = two();
        let mut default = ws("default", "2026-01-01", true, Some("2"));
        default.holds = two();
        let b2 = ws("b2", "2026-01-03", false, Some("2"));
        let all = [default.clone(), b1.clone(), b2.clone()];
        assert!(refusal(&budget, &all, &[], "b2").is_some());
        b1.plan = None;
        let all = [default, b1, b2];
        let why = refusal(&budget, &all, &[], "b2").expect("b1's quota still counts");
        assert!(why.contains("4 are taken"), "{why}");
    }

    #[test]
    fn a_switch_counts_at_the_larger_of_held_and_asked() {
        let budget = org("{quota: {requests.cpu: 10}}");
        let mut a = ws("a", "2026-01-02", true, Some("6"));
        a.holds = BTreeMap::from([("requests.cpu".into(), QuantityValue("2".into()))]);
        let mut b = ws("b", "2026-01-03", true, Some("6"));
        b.holds = a.holds.clone();
        let all = [ws("default", "2026-01-01", true, Some("1")), a, b];
        // Each would fit alone beside the other's 2; neither may take the
        // room the other asks for at the same time.
        assert!(refusal(&budget, &all, &[], "a").is_some());
        assert!(refusal(&budget, &all, &[], "b").is_some());
    }

    #[test]
    fn tighter_and_within_compare_key_by_key() {
        let q = |pairs: &[(&str, &str)]| -> BTreeMap<String, QuantityValue> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), QuantityValue(v.to_string())))
                .collect()
        };
        let held = q(&[("requests.cpu", "4"), ("pods", "40")]);
        let lowered = q(&[("requests.cpu", "2"), ("pods", "80"), ("services", "5")]);
        assert_eq!(
            tighter(&held, &lowered),
            q(&[("requests.cpu", "2"), ("pods", "40"), ("services", "5")])
        );
        assert!(within(
            &q(&[("requests.cpu", "500m"), ("pods", "40")]),
            &held
        ));
        assert!(
            !within(&q(&[("requests.cpu", "500m")]), &held),
            "pods unlimited"
        );
        assert!(!within(&q(&[("requests.cpu", "5"), ("pods", "1")]), &held));
    }

    #[test]
    fn largest_quota_is_an_upper_bound_key_by_key() {
        let o: Organization = serde_yaml::from_str(
            "{apiVersion: workspaces.dev/v1alpha1, kind: Organization, metadata: {name: acme}, spec: {plans: {s: {quota: {requests.cpu: 2, pods: 50}}, l: {quota: {requests.cpu: 8, pods: 10}}}}}",
        )
        .unwrap();
        let largest = largest_quota(&o);
        assert_eq!(largest["requests.cpu"].0, "8");
        assert_eq!(largest["pods"].0, "50");
    }

    #[test]
    fn kept_namespaces_count_toward_the_quota_totals() {
        let budget = org("{quota: {requests.cpu: 10}}");
        let all = [
            ws("default", "2026-01-01", true, Some("2")),
            ws("a", "2026-01-02", false, Some("4")),
        ];
        assert_eq!(refusal(&budget, &all, &[], "a"), None);
        let kept = [BTreeMap::from([(
            "requests.cpu".to_string(),
            QuantityValue("5".into()),
        )])];
        let why = refusal(&budget, &all, &kept, "a").unwrap();
        assert!(why.contains("7 are taken"), "{why}");
    }
}
