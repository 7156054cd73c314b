//! The tenant ceiling: which of the permissions a WorkspaceRole asks for may
//! be granted, given the platform's ceiling ClusterRole.
//!
//! Covering is Kubernetes' own, ported from its RBAC escalation check
//! (`Covers`, `BreakdownRule` and `ruleCovers` in
//! `k8s.io/component-helpers/auth/rbac/validation/policy_comparator.go`):
//! a role is judged exactly as the API server judges a grant against the
//! granter's own permissions, wildcards, `*/subresource` entries and
//! resourceNames included, so tenants meet the rules they would meet there.
//!
//! On top of the ceiling, a few hard limits hold whatever the ceiling says,
//! because a platform may set the ceiling to cluster-admin by mistake, and
//! these permissions would let a tenant leave its workspace: its namespace,
//! its quota and limits, our own API and cluster-wide access control.

use std::collections::HashMap;

use k8s_openapi::api::rbac::v1::PolicyRule;

use super::predefined_roles::READ;
use crate::api::GROUP;

/// Why a permission is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not covered by any rule of the ceiling ClusterRole.
    NotCovered,
    /// Never grantable, whatever the ceiling says (see `never_grantable`):
    /// the text says why, e.g. "the namespace itself".
    Never(&'static str),
}

/// One refused piece of a wanted rule, for status messages.
#[derive(Clone, Debug, PartialEq)]
pub struct Refused {
    /// The refused permissions: every combination of its groups, resources,
    /// verbs and names (or URLs and verbs) is refused, for the same reason.
    pub rule: PolicyRule,
    /// Why they are refused.
    pub why: Refusal,
}

// `PolicyRule` does not implement `Eq`, so it cannot be derived, but its
// fields are strings and lists of strings: its equality is a true
// equivalence.
impl Eq for Refused {}

/// Every wildcard of RBAC: `rbacv1.VerbAll`, `APIGroupAll`, `ResourceAll`
/// and `NonResourceAll` are all this one string.
const ALL: &str = "*";
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// The resources of our own API (the plurals of its CRDs).
const WORKSPACES_RESOURCES: &[&str] = &[
    "organizations",
    "workspaces",
    "workspaceroles",
    "workspacemembers",
];
/// Resources of the RBAC API, for rules whose group is `*`.
const RBAC_RESOURCES: &[&str] = &[
    "roles",
    "rolebindings",
    "clusterroles",
    "clusterrolebindings",
];
const CLUSTER_RBAC_RESOURCES: &[&str] = &["clusterroles", "clusterrolebindings"];
/// Verbs that get around the RBAC escalation check; `*` contains both.
const ESCALATING_VERBS: &[&str] = &["bind", "escalate", ALL];

const NAMESPACE: &str = "the namespace itself";
const EVERY_RESOURCE: &str = "every resource, including the namespace itself";
const EVERY_SUBRESOURCE: &str = "that subresource of every resource, including the namespace's";
const QUOTA: &str = "the workspace's quota and limits";
const WORKSPACES_API: &str = "the workspaces.dev API (organizations, workspaces, roles, members)";
const ACCESS_CONTROL: &str = "cluster-wide access control";
const NON_RESOURCE: &str = "non-resource URLs are cluster-wide";

/// One atomic permission, as Kubernetes' `BreakdownRule` makes them: every
/// piece is either wholly covered by one owner rule or not at all.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Piece {
    Resource {
        group: String,
        resource: String,
        verb: String,
        /// `None`: every object, which only an owner rule without names covers.
        name: Option<String>,
    },
    NonResource {
        url: String,
        verb: String,
    },
}

/// A list field of a rule: Kubernetes does not tell an absent list from an
/// empty one.
fn list(field: &Option<Vec<String>>) -> &[String] {
    field.as_deref().unwrap_or_default()
}

fn has(set: &[String], element: &str) -> bool {
    set.iter().any(|s| s == element)
}

/// Kubernetes' `BreakdownRule`: one piece per group × resource × verb
/// (× name when the rule has names), then one per URL × verb.
fn breakdown(rule: &PolicyRule) -> Vec<Piece> {
    let names = list(&rule.resource_names);
    let mut pieces = Vec::new();
    for group in list(&rule.api_groups) {
        for resource in list(&rule.resources) {
            for verb in &rule.verbs {
                let piece = |name: Option<&String>| Piece::Resource {
                    group: group.clone(),
                    resource: resource.clone(),
                    verb: verb.clone(),
                    name: name.cloned(),
                };
                if names.is_empty() {
                    pieces.push(piece(None));
                } else {
                    pieces.extend(names.iter().map(|name| piece(Some(name))));
                }
            }
        }
    }
    // URLs only combine with verbs: groups, resources and names mean
    // nothing to them.
    for url in list(&rule.non_resource_urls) {
        for verb in &rule.verbs {
            pieces.push(Piece::NonResource {
                url: url.clone(),
                verb: verb.clone(),
            });
        }
    }
    pieces
}

/// Kubernetes' `resourceCoversAll` for one resource: `*/scale` in the owner
/// covers `deployments/scale`, but a servant `*` or `*/scale` is only covered
/// by that same literal (or `*`), never by an enumeration.
fn resource_covers(owner: &[String], resource: &str) -> bool {
    if has(owner, ALL) || has(owner, resource) {
        return true;
    }
    match resource.split_once('/') {
        Some((_, subresource)) => owner
            .iter()
            .any(|r| r.strip_prefix("*/") == Some(subresource)),
        None => false,
    }
}

/// Kubernetes' `nonResourceURLCovers`: a trailing `*` is a prefix match, so
/// `/apis/*` covers `/apis/v1` but not `/apis`.
fn non_resource_url_covers(owner: &str, url: &str) -> bool {
    owner == url || (owner.ends_with('*') && url.starts_with(owner.trim_end_matches('*')))
}

/// Kubernetes' `ruleCovers` for one piece.
fn rule_covers(owner: &PolicyRule, piece: &Piece) -> bool {
    let (Piece::Resource { verb, .. } | Piece::NonResource { verb, .. }) = piece;
    if !has(&owner.verbs, ALL) && !has(&owner.verbs, verb) {
        return false;
    }
    let owner_names = list(&owner.resource_names);
    match piece {
        Piece::Resource {
            group,
            resource,
            name,
            ..
        } => {
            let groups = list(&owner.api_groups);
            (has(groups, ALL) || has(groups, group))
                && resource_covers(list(&owner.resources), resource)
                && match name {
                    // Every object: names in the owner would narrow it.
                    None => owner_names.is_empty(),
                    Some(name) => owner_names.is_empty() || has(owner_names, name),
                }
        }
        // The piece has no group, resource or name, and Kubernetes' `hasAll`
        // of an empty list holds: only verb and URL count, except that an
        // owner with resourceNames covers no nameless piece, URLs included.
        Piece::NonResource { url, .. } => {
            owner_names.is_empty()
                && list(&owner.non_resource_urls)
                    .iter()
                    .any(|owner_url| non_resource_url_covers(owner_url, url))
        }
    }
}

/// The hard limit `piece` runs into, if any. A wildcard in the piece counts
/// as everything it stands for: `*` verbs include bind and escalate, and a
/// `*/status` resource in the core group includes `namespaces/status`.
fn never_grantable(piece: &Piece) -> Option<&'static str> {
    let (group, resource, verb) = match piece {
        Piece::NonResource { .. } => return Some(NON_RESOURCE),
        Piece::Resource {
            group,
            resource,
            verb,
            ..
        } => (group.as_str(), resource.as_str(), verb.as_str()),
    };
    let base = resource.split_once('/').map_or(resource, |(base, _)| base);
    let any_group = group == ALL;
    if group.is_empty() || any_group {
        if resource == ALL {
            return Some(EVERY_RESOURCE);
        }
        if base == ALL {
            return Some(EVERY_SUBRESOURCE);
        }
        // A namespaced grant of `namespaces` applies to the namespace object
        // itself: the API server files it under its own name as namespace.
        if base == "namespaces" {
            return Some(NAMESPACE);
        }
        if matches!(base, "resourcequotas" | "limitranges") && !READ.contains(&verb) {
            return Some(QUOTA);
        }
    }
    // With group `*`, only resource names our API has can reach it: `*`
    // pods are nobody's workspaces.dev pods.
    if group == GROUP || (any_group && WORKSPACES_RESOURCES.contains(&base)) {
        return Some(WORKSPACES_API);
    }
    let rbac = group == RBAC_GROUP || (any_group && RBAC_RESOURCES.contains(&base));
    if rbac
        && (base == ALL
            || CLUSTER_RBAC_RESOURCES.contains(&base)
            || ESCALATING_VERBS.contains(&verb))
    {
        return Some(ACCESS_CONTROL);
    }
    None
}

/// Refused pieces of one wanted rule, merged back into rules whose every
/// combination is refused for the same reason (never more than was refused).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Block {
    non_resource: bool,
    groups: Vec<String>,
    resources: Vec<String>,
    urls: Vec<String>,
    verbs: Vec<String>,
    names: Option<Vec<String>>,
    /// `None`: not covered by the ceiling.
    never: Option<&'static str>,
}

impl Block {
    fn new(piece: Piece, never: Option<&'static str>) -> Block {
        match piece {
            Piece::Resource {
                group,
                resource,
                verb,
                name,
            } => Block {
                non_resource: false,
                groups: vec![group],
                resources: vec![resource],
                urls: Vec::new(),
                verbs: vec![verb],
                names: name.map(|name| vec![name]),
                never,
            },
            Piece::NonResource { url, verb } => Block {
                non_resource: true,
                groups: Vec::new(),
                resources: Vec::new(),
                urls: vec![url],
                verbs: vec![verb],
                names: None,
                never,
            },
        }
    }

    fn into_refused(self) -> Refused {
        let rule = if self.non_resource {
            PolicyRule {
                non_resource_urls: Some(self.urls),
                verbs: self.verbs,
                ..PolicyRule::default()
            }
        } else {
            PolicyRule {
                api_groups: Some(self.groups),
                resources: Some(self.resources),
                resource_names: self.names,
                verbs: self.verbs,
                non_resource_urls: None,
            }
        };
        let why = match self.never {
            Some(reason) => Refusal::Never(reason),
            None => Refusal::NotCovered,
        };
        Refused { rule, why }
    }
}

/// A list of a block that blocks equal in everything else may share.
#[derive(Clone, Copy)]
enum Dim {
    Verbs,
    Names,
    Resources,
    Urls,
    Groups,
}

impl Dim {
    fn field(self, block: &mut Block) -> Option<&mut Vec<String>> {
        match self {
            Dim::Verbs => Some(&mut block.verbs),
            Dim::Names => block.names.as_mut(),
            Dim::Resources => Some(&mut block.resources),
            Dim::Urls => Some(&mut block.urls),
            Dim::Groups => Some(&mut block.groups),
        }
    }
}

/// Merges blocks that differ only in `dim`: the union of `A × B × {x}` and
/// `A × B × {y}` is exactly `A × B × {x, y}`, so nothing is claimed refused
/// that was not. First appearance decides the order.
fn merge(blocks: Vec<Block>, dim: Dim) -> Vec<Block> {
    let mut merged: Vec<Block> = Vec::with_capacity(blocks.len());
    let mut index: HashMap<Block, usize> = HashMap::new();
    for mut block in blocks {
        let values = dim.field(&mut block).map(std::mem::take);
        match index.get(&block) {
            Some(&at) => {
                if let (Some(into), Some(values)) = (dim.field(&mut merged[at]), values) {
                    for value in values {
                        if !into.contains(&value) {
                            into.push(value);
                        }
                    }
                }
            }
            None => {
                index.insert(block.clone(), merged.len());
                if let (Some(field), Some(values)) = (dim.field(&mut block), values) {
                    *field = values;
                }
                merged.push(block);
            }
        }
    }
    merged
}

/// The parts of `wanted` that may not be granted: each wanted rule is broken
/// down Kubernetes' way (one piece per group × resource × verb × resourceName,
/// or per non-resource URL × verb), each piece checked first against the hard
/// limits, then against `ceiling` with Kubernetes' `ruleCovers` semantics.
///
/// Refused pieces of the same wanted rule with the same refusal are merged
/// back into shorter rules (e.g. verbs `[get, patch]`); every refused piece
/// is in exactly one of them, and nothing else is. Empty: everything may be
/// granted. The order follows `wanted`, then Kubernetes' breakdown order.
pub fn refused(ceiling: &[PolicyRule], wanted: &[PolicyRule]) -> Vec<Refused> {
    wanted
        .iter()
        .flat_map(|rule| {
            let blocks: Vec<Block> = breakdown(rule)
                .into_iter()
                .filter_map(|piece| {
                    let never = never_grantable(&piece);
                    if never.is_none() && ceiling.iter().any(|owner| rule_covers(owner, &piece)) {
                        return None;
                    }
                    Some(Block::new(piece, never))
                })
                .collect();
            [
                Dim::Verbs,
                Dim::Names,
                Dim::Resources,
                Dim::Urls,
                Dim::Groups,
            ]
            .into_iter()
            .fold(blocks, merge)
        })
        .map(Block::into_refused)
        .collect()
}

fn quoted(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Human text for one refused piece, e.g.
/// `namespaces (group "") verbs get, patch: never grantable (the namespace itself)`
/// or `nodes (group "") verbs get: not in the tenant ceiling`; names, when
/// the rule has some, follow the resources (`secrets named "a", "b"`).
pub fn describe(refused: &Refused) -> String {
    let rule = &refused.rule;
    let mut what = Vec::new();
    let groups = list(&rule.api_groups);
    let resources = list(&rule.resources);
    if !groups.is_empty() || !resources.is_empty() {
        let names = list(&rule.resource_names);
        let named = if names.is_empty() {
            String::new()
        } else {
            format!(" named {}", quoted(names))
        };
        let label = if groups.len() == 1 { "group" } else { "groups" };
        let text = format!(
            "{}{named} ({label} {})",
            resources.join(", "),
            quoted(groups)
        );
        what.push(text.trim_start().to_string());
    }
    let urls = list(&rule.non_resource_urls);
    if !urls.is_empty() {
        let label = if urls.len() == 1 {
            "non-resource URL"
        } else {
            "non-resource URLs"
        };
        what.push(format!("{label} {}", urls.join(", ")));
    }
    let why = match &refused.why {
        Refusal::NotCovered => "not in the tenant ceiling".to_string(),
        Refusal::Never(reason) => format!("never grantable ({reason})"),
    };
    format!(
        "{} verbs {}: {why}",
        what.join(" and "),
        rule.verbs.join(", ")
    )
}

/// One line for a status condition: the first few refused pieces described
/// and joined with "; ", then how many more there are, so a huge role does
/// not make a huge condition.
pub fn summary(refused: &[Refused]) -> String {
    const SHOWN: usize = 5;
    let mut line = refused
        .iter()
        .take(SHOWN)
        .map(describe)
        .collect::<Vec<_>>()
        .join("; ");
    if refused.len() > SHOWN {
        line.push_str(&format!("; and {} more", refused.len() - SHOWN));
    }
    line
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::collection::vec;
    use proptest::option;
    use proptest::prelude::*;

    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
        PolicyRule {
            api_groups: Some(strings(groups)),
            resources: Some(strings(resources)),
            verbs: strings(verbs),
            ..PolicyRule::default()
        }
    }

    fn named(mut rule: PolicyRule, names: &[&str]) -> PolicyRule {
        rule.resource_names = Some(strings(names));
        rule
    }

    fn urls(urls: &[&str], verbs: &[&str]) -> PolicyRule {
        PolicyRule {
            non_resource_urls: Some(strings(urls)),
            verbs: strings(verbs),
            ..PolicyRule::default()
        }
    }

    fn cluster_admin() -> Vec<PolicyRule> {
        vec![rule(&["*"], &["*"], &["*"]), urls(&["*"], &["*"])]
    }

    /// A piece as Kubernetes writes an uncovered subrule.
    fn piece_rule(piece: &Piece) -> PolicyRule {
        match piece {
            Piece::Resource {
                group,
                resource,
                verb,
                name,
            } => PolicyRule {
                api_groups: Some(vec![group.clone()]),
                resources: Some(vec![resource.clone()]),
                verbs: vec![verb.clone()],
                resource_names: name.clone().map(|name| vec![name]),
                non_resource_urls: None,
            },
            Piece::NonResource { url, verb } => PolicyRule {
                non_resource_urls: Some(vec![url.clone()]),
                verbs: vec![verb.clone()],
                ..PolicyRule::default()
            },
        }
    }

    /// Kubernetes' `Covers`, without the hard limits: the uncovered subrules.
    fn covers(owner: &[PolicyRule], servant: &[PolicyRule]) -> Vec<PolicyRule> {
        servant
            .iter()
            .flat_map(breakdown)
            .filter(|piece| !owner.iter().any(|o| rule_covers(o, piece)))
            .map(|piece| piece_rule(&piece))
            .collect()
    }

    /// Kubernetes' `escalationTest.test`: covered iff nothing is left, and
    /// the uncovered subrules match in any order (its `rulesMatch`).
    fn escalation_test(
        owner: Vec<PolicyRule>,
        servant: Vec<PolicyRule>,
        uncovered: Vec<PolicyRule>,
    ) {
        let got = covers(&owner, &servant);
        assert_eq!(got.len(), uncovered.len(), "{got:?}");
        for expected in &uncovered {
            assert!(got.contains(expected), "{expected:?} not in {got:?}");
        }
    }

    // Kubernetes' policy_comparator_test.go, case by case.

    #[test]
    fn covers_exact_match() {
        escalation_test(
            vec![rule(&["v1"], &["builds"], &["get"])],
            vec![rule(&["v1"], &["builds"], &["get"])],
            vec![],
        );
    }

    #[test]
    fn covers_subresource_wildcard() {
        escalation_test(
            vec![rule(&["v1"], &["*/scale"], &["get"])],
            vec![rule(&["v1"], &["foo/scale"], &["get"])],
            vec![],
        );
    }

    #[test]
    fn covers_multiple_rules_covering_single_rule() {
        escalation_test(
            vec![
                rule(&["v1"], &["deployments"], &["delete"]),
                rule(&["v1"], &["builds"], &["delete"]),
                rule(&["v1"], &["builds", "deployments"], &["update"]),
            ],
            vec![rule(
                &["v1"],
                &["builds", "deployments"],
                &["delete", "update"],
            )],
            vec![],
        );
    }

    #[test]
    fn covers_multiple_api_groups_covering_single_rule() {
        escalation_test(
            vec![
                rule(&["group1"], &["deployments"], &["delete"]),
                rule(&["group1"], &["builds"], &["delete"]),
                rule(&["group1"], &["builds", "deployments"], &["update"]),
                rule(&["group2"], &["deployments"], &["delete"]),
                rule(&["group2"], &["builds"], &["delete"]),
                rule(&["group2"], &["builds", "deployments"], &["update"]),
            ],
            vec![rule(
                &["group1", "group2"],
                &["builds", "deployments"],
                &["delete", "update"],
            )],
            vec![],
        );
    }

    #[test]
    fn covers_single_api_groups_covering_multiple() {
        escalation_test(
            vec![rule(
                &["group1", "group2"],
                &["builds", "deployments"],
                &["delete", "update"],
            )],
            vec![
                rule(&["group1"], &["deployments"], &["delete"]),
                rule(&["group1"], &["builds"], &["delete"]),
                rule(&["group1"], &["builds", "deployments"], &["update"]),
                rule(&["group2"], &["deployments"], &["delete"]),
                rule(&["group2"], &["builds"], &["delete"]),
                rule(&["group2"], &["builds", "deployments"], &["update"]),
            ],
            vec![],
        );
    }

    #[test]
    fn covers_multiple_rules_missing_single_verb_resource_combination() {
        escalation_test(
            vec![
                rule(&["v1"], &["builds", "deployments"], &["delete", "update"]),
                rule(&["v1"], &["pods"], &["delete"]),
            ],
            vec![rule(
                &["v1"],
                &["builds", "deployments", "pods"],
                &["delete", "update"],
            )],
            vec![rule(&["v1"], &["pods"], &["update"])],
        );
    }

    #[test]
    fn covers_api_group_star_covering_multiple() {
        escalation_test(
            vec![rule(&["*"], &["roles"], &["get"])],
            vec![rule(&["group1", "group2"], &["roles"], &["get"])],
            vec![],
        );
    }

    #[test]
    fn covers_enumeration_not_covering_api_group_star() {
        escalation_test(
            vec![rule(&["dummy-group"], &["roles"], &["get"])],
            vec![rule(&["*"], &["roles"], &["get"])],
            vec![rule(&["*"], &["roles"], &["get"])],
        );
    }

    #[test]
    fn covers_api_group_star_covering_star() {
        escalation_test(
            vec![rule(&["*"], &["roles"], &["get"])],
            vec![rule(&["*"], &["roles"], &["get"])],
            vec![],
        );
    }

    #[test]
    fn covers_verb_star_covering_multiple() {
        escalation_test(
            vec![rule(&["v1"], &["roles"], &["*"])],
            vec![rule(&["v1"], &["roles"], &["watch", "list"])],
            vec![],
        );
    }

    #[test]
    fn covers_enumeration_not_covering_verb_star() {
        escalation_test(
            vec![rule(
                &["v1"],
                &["roles"],
                &["get", "list", "watch", "create", "update", "delete", "exec"],
            )],
            vec![rule(&["v1"], &["roles"], &["*"])],
            vec![rule(&["v1"], &["roles"], &["*"])],
        );
    }

    #[test]
    fn covers_verb_star_covering_star() {
        escalation_test(
            vec![rule(&["v1"], &["roles"], &["*"])],
            vec![rule(&["v1"], &["roles"], &["*"])],
            vec![],
        );
    }

    #[test]
    fn covers_resource_star_covering_multiple() {
        escalation_test(
            vec![rule(&["v1"], &["*"], &["get"])],
            vec![rule(&["v1"], &["resourcegroup:deployments"], &["get"])],
            vec![],
        );
    }

    #[test]
    fn covers_enumeration_not_covering_resource_star() {
        escalation_test(
            vec![rule(
                &["v1"],
                &["roles", "resourcegroup:deployments"],
                &["get"],
            )],
            vec![rule(&["v1"], &["*"], &["get"])],
            vec![rule(&["v1"], &["*"], &["get"])],
        );
    }

    #[test]
    fn covers_resource_star_covering_star() {
        escalation_test(
            vec![rule(&["v1"], &["*"], &["get"])],
            vec![rule(&["v1"], &["*"], &["get"])],
            vec![],
        );
    }

    #[test]
    fn covers_resource_name_empty_covering_multiple() {
        escalation_test(
            vec![named(rule(&["v1"], &["pods"], &["get"]), &[])],
            vec![named(rule(&["v1"], &["pods"], &["get"]), &["foo", "bar"])],
            vec![],
        );
    }

    #[test]
    fn covers_enumeration_not_covering_resource_name_empty() {
        escalation_test(
            vec![named(rule(&["v1"], &["pods"], &["get"]), &["foo", "bar"])],
            vec![named(rule(&["v1"], &["pods"], &["get"]), &[])],
            vec![rule(&["v1"], &["pods"], &["get"])],
        );
    }

    #[test]
    fn covers_non_resource_urls() {
        escalation_test(
            vec![urls(&["/apis"], &["*"])],
            vec![urls(&["/apis"], &["*"])],
            vec![],
        );
    }

    #[test]
    fn covers_non_resource_urls_star() {
        escalation_test(
            vec![urls(&["*"], &["*"])],
            vec![urls(&["/apis", "/apis/v1", "/"], &["*"])],
            vec![],
        );
    }

    #[test]
    fn covers_non_resource_urls_star_after_prefix_doesnt_cover() {
        escalation_test(
            vec![urls(&["/apis/*"], &["*"])],
            vec![urls(&["/apis", "/apis/v1"], &["get"])],
            vec![urls(&["/apis"], &["get"])],
        );
    }

    #[test]
    fn covers_non_resource_urls_star_after_prefix() {
        escalation_test(
            vec![urls(&["/apis/*"], &["*"])],
            vec![urls(&["/apis/v1/foo", "/apis/v1"], &["get"])],
            vec![],
        );
    }

    #[test]
    fn covers_non_resource_urls_with_other_fields() {
        let both = || PolicyRule {
            non_resource_urls: Some(strings(&["/apis"])),
            ..rule(&["v1"], &["builds"], &["get"])
        };
        escalation_test(vec![both()], vec![both()], vec![]);
    }

    #[test]
    fn covers_non_resource_urls_with_other_fields_failure() {
        escalation_test(
            vec![rule(&["v1"], &["builds"], &["get"])],
            vec![PolicyRule {
                non_resource_urls: Some(strings(&["/apis"])),
                ..rule(&["v1"], &["builds"], &["get"])
            }],
            vec![urls(&["/apis"], &["get"])],
        );
    }

    #[test]
    fn non_resource_url_covers_table() {
        for (owner, requested, want) in [
            ("*", "", true),
            ("*", "/", true),
            ("*", "/api", true),
            ("/*", "", false),
            ("/*", "/", true),
            ("/*", "/foo", true),
            ("/api", "/api", true),
            ("/apis", "/api", false),
            ("/api/v1", "/api", false),
            ("/api/v1", "/api/v1", true),
            ("/api/*", "/api/v1", true),
            ("/api/*", "/api", false),
            ("/api/*/*", "/api/v1", false),
            ("/*/v1/*", "/api/v1", false),
        ] {
            assert_eq!(
                non_resource_url_covers(owner, requested),
                want,
                "{owner:?} covers {requested:?}"
            );
        }
    }

    // Covering through `refused`, on the cases the ceiling is about.

    #[test]
    fn star_subresource_in_the_ceiling_covers_that_subresource_only() {
        let ceiling = [rule(&["apps"], &["*/scale"], &["get", "patch"])];
        assert_eq!(
            refused(
                &ceiling,
                &[rule(&["apps"], &["deployments/scale"], &["get", "patch"])]
            ),
            vec![]
        );
        assert_eq!(
            refused(&ceiling, &[rule(&["apps"], &["*/scale"], &["get"])]),
            vec![]
        );
        for resource in ["deployments", "deployments/status"] {
            assert_eq!(
                refused(&ceiling, &[rule(&["apps"], &[resource], &["get"])]).len(),
                1,
                "{resource}"
            );
        }
    }

    #[test]
    fn a_resource_in_the_ceiling_does_not_cover_its_subresources() {
        let ceiling = [rule(&[""], &["pods"], &["*"])];
        assert_eq!(
            refused(&ceiling, &[rule(&[""], &["pods/exec"], &["create"])]),
            vec![Refused {
                rule: rule(&[""], &["pods/exec"], &["create"]),
                why: Refusal::NotCovered,
            }]
        );
    }

    #[test]
    fn names_in_the_ceiling_cover_only_those_names() {
        let ceiling = [named(rule(&[""], &["secrets"], &["get"]), &["a", "b"])];
        assert_eq!(
            refused(
                &ceiling,
                &[named(rule(&[""], &["secrets"], &["get"]), &["b", "a"])]
            ),
            vec![]
        );
        assert_eq!(
            refused(
                &ceiling,
                &[named(rule(&[""], &["secrets"], &["get"]), &["a", "c"])]
            ),
            vec![Refused {
                rule: named(rule(&[""], &["secrets"], &["get"]), &["c"]),
                why: Refusal::NotCovered,
            }]
        );
        // Without names the wanted rule is every secret, names or not.
        assert_eq!(
            refused(&ceiling, &[rule(&[""], &["secrets"], &["get"])]),
            vec![Refused {
                rule: rule(&[""], &["secrets"], &["get"]),
                why: Refusal::NotCovered,
            }]
        );
    }

    #[test]
    fn an_empty_name_in_the_ceiling_is_not_every_name() {
        let ceiling = [named(rule(&[""], &["secrets"], &["get"]), &[""])];
        assert_eq!(
            refused(&ceiling, &[rule(&[""], &["secrets"], &["get"])]).len(),
            1
        );
        assert_eq!(
            refused(
                &ceiling,
                &[named(rule(&[""], &["secrets"], &["get"]), &[""])]
            ),
            vec![]
        );
    }

    #[test]
    fn a_wanted_wildcard_is_covered_by_a_ceiling_wildcard_only() {
        let enumerated = [rule(
            &["", "apps"],
            &["pods", "secrets", "deployments"],
            &[
                "get", "list", "watch", "create", "update", "patch", "delete",
            ],
        )];
        for wanted in [
            rule(&["apps"], &["*"], &["get"]),
            rule(&["apps"], &["deployments"], &["*"]),
        ] {
            assert_eq!(
                refused(&enumerated, std::slice::from_ref(&wanted)).len(),
                1,
                "{wanted:?}"
            );
            assert_eq!(
                refused(
                    &[rule(&["*"], &["*"], &["*"])],
                    std::slice::from_ref(&wanted)
                ),
                vec![],
                "{wanted:?}"
            );
        }
        // Group `*` would also be every resource of the core group.
        assert_eq!(
            refused(&enumerated, &[rule(&["*"], &["pods"], &["get"])]).len(),
            1
        );
        assert_eq!(
            refused(
                &[rule(&["*"], &["pods"], &["get"])],
                &[rule(&["*"], &["pods"], &["get"])]
            ),
            vec![]
        );
    }

    #[test]
    fn an_empty_ceiling_refuses_everything_and_nothing_wanted_is_fine() {
        let wanted = [rule(&["apps"], &["deployments"], &["get"])];
        assert_eq!(
            refused(&[], &wanted),
            vec![Refused {
                rule: wanted[0].clone(),
                why: Refusal::NotCovered
            }]
        );
        assert_eq!(refused(&cluster_admin(), &[]), vec![]);
        assert_eq!(refused(&[], &[]), vec![]);
        // A rule without verbs (or groups, or resources) grants nothing.
        assert_eq!(
            refused(&[], &[rule(&["apps"], &["deployments"], &[])]),
            vec![]
        );
        assert_eq!(refused(&[], &[PolicyRule::default()]), vec![]);
    }

    #[test]
    fn a_ceiling_rule_with_names_covers_no_url_not_even_its_own() {
        // Kubernetes' quirk: the URL pieces have no name, so an owner with
        // names does not cover them.
        let odd = PolicyRule {
            non_resource_urls: Some(strings(&["/healthz"])),
            ..named(rule(&[""], &["pods"], &["get"]), &["a"])
        };
        assert_eq!(
            covers(std::slice::from_ref(&odd), std::slice::from_ref(&odd)),
            vec![urls(&["/healthz"], &["get"])]
        );
    }

    // The hard limits, with a ceiling that would allow anything.

    fn never(wanted: PolicyRule) -> Vec<Refusal> {
        refused(&cluster_admin(), &[wanted])
            .into_iter()
            .map(|r| r.why)
            .collect()
    }

    #[test]
    fn the_namespace_itself_is_never_grantable() {
        for group in ["", "*"] {
            for resource in ["namespaces", "namespaces/status", "namespaces/finalize"] {
                assert_eq!(
                    never(rule(&[group], &[resource], &["get"])),
                    vec![Refusal::Never(NAMESPACE)],
                    "{group:?} {resource}"
                );
            }
            assert_eq!(
                never(rule(&[group], &["*"], &["get"])),
                vec![Refusal::Never(EVERY_RESOURCE)]
            );
            assert_eq!(
                never(rule(&[group], &["*/status"], &["get"])),
                vec![Refusal::Never(EVERY_SUBRESOURCE)]
            );
        }
        // No other group has namespaces: the ceiling decides.
        assert_eq!(never(rule(&["apps"], &["namespaces"], &["get"])), vec![]);
        assert_eq!(never(rule(&["apps"], &["*/status"], &["get"])), vec![]);
    }

    #[test]
    fn quota_and_limits_are_read_only() {
        for group in ["", "*"] {
            for resource in ["resourcequotas", "limitranges", "resourcequotas/status"] {
                assert_eq!(
                    never(rule(&[group], &[resource], &["get", "list", "watch"])),
                    vec![],
                    "{group:?} {resource}"
                );
                for verb in [
                    "create",
                    "update",
                    "patch",
                    "delete",
                    "deletecollection",
                    "*",
                ] {
                    assert_eq!(
                        never(rule(&[group], &[resource], &[verb])),
                        vec![Refusal::Never(QUOTA)],
                        "{group:?} {resource} {verb}"
                    );
                }
            }
        }
        assert_eq!(
            never(rule(&["example.com"], &["resourcequotas"], &["*"])),
            vec![]
        );
    }

    #[test]
    fn our_own_api_is_never_grantable() {
        for resource in ["workspaces", "workspacemembers/status", "pods", "*"] {
            assert_eq!(
                never(rule(&[GROUP], &[resource], &["get"])),
                vec![Refusal::Never(WORKSPACES_API)],
                "{resource}"
            );
        }
        for resource in WORKSPACES_RESOURCES {
            assert_eq!(
                never(rule(&["*"], &[resource], &["list"])),
                vec![Refusal::Never(WORKSPACES_API)],
                "{resource}"
            );
        }
        assert_eq!(
            never(rule(&["*"], &["workspaceroles/status"], &["list"])),
            vec![Refusal::Never(WORKSPACES_API)]
        );
        // There are no workspaces.dev pods.
        assert_eq!(never(rule(&["*"], &["pods"], &["*"])), vec![]);
    }

    #[test]
    fn workspaces_resources_are_the_plurals_of_our_crds() {
        use crate::api::{Organization, Workspace, WorkspaceMember, WorkspaceRole};
        use kube::Resource;
        let plurals = [
            Organization::plural(&()),
            Workspace::plural(&()),
            WorkspaceRole::plural(&()),
            WorkspaceMember::plural(&()),
        ];
        assert_eq!(
            plurals.map(|p| p.to_string()).to_vec(),
            strings(WORKSPACES_RESOURCES)
        );
    }

    #[test]
    fn cluster_wide_access_control_is_never_grantable() {
        for group in [RBAC_GROUP, "*"] {
            for resource in ["clusterroles", "clusterrolebindings"] {
                assert_eq!(
                    never(rule(&[group], &[resource], &["get"])),
                    vec![Refusal::Never(ACCESS_CONTROL)],
                    "{group} {resource}"
                );
            }
            for resource in ["roles", "rolebindings"] {
                for verb in ["bind", "escalate", "*"] {
                    assert_eq!(
                        never(rule(&[group], &[resource], &[verb])),
                        vec![Refusal::Never(ACCESS_CONTROL)],
                        "{group} {resource} {verb}"
                    );
                }
                // Whether roles may be written is the ceiling's business.
                assert_eq!(
                    never(rule(&[group], &[resource], &["get", "create", "delete"])),
                    vec![],
                    "{group} {resource}"
                );
            }
        }
        assert_eq!(
            never(rule(&[RBAC_GROUP], &["*"], &["get"])),
            vec![Refusal::Never(ACCESS_CONTROL)]
        );
        // `bind` means something else outside RBAC.
        assert_eq!(never(rule(&["*"], &["pods"], &["bind"])), vec![]);
    }

    #[test]
    fn non_resource_urls_are_never_grantable() {
        assert_eq!(
            never(urls(&["/metrics", "/healthz"], &["get"])),
            vec![Refusal::Never(NON_RESOURCE)]
        );
    }

    #[test]
    fn hard_limits_come_before_the_ceiling() {
        assert_eq!(
            refused(&[], &[rule(&[""], &["namespaces"], &["get"])])[0].why,
            Refusal::Never(NAMESPACE)
        );
    }

    // Merging, describing, summing up.

    #[test]
    fn refused_pieces_merge_per_refusal() {
        let got = refused(
            &[],
            &[rule(&[""], &["nodes", "namespaces"], &["get", "patch"])],
        );
        assert_eq!(
            got,
            vec![
                Refused {
                    rule: rule(&[""], &["nodes"], &["get", "patch"]),
                    why: Refusal::NotCovered,
                },
                Refused {
                    rule: rule(&[""], &["namespaces"], &["get", "patch"]),
                    why: Refusal::Never(NAMESPACE),
                },
            ]
        );
        // Only what was refused: get of both, list of nodes only.
        let got = refused(
            &[rule(&[""], &["pods"], &["list"])],
            &[rule(&[""], &["nodes", "pods"], &["get", "list"])],
        );
        assert_eq!(
            got.iter().map(|r| r.rule.clone()).collect::<Vec<_>>(),
            vec![
                rule(&[""], &["nodes"], &["get", "list"]),
                rule(&[""], &["pods"], &["get"])
            ]
        );
        // Wanted rules are never merged with each other.
        assert_eq!(
            refused(
                &[],
                &[
                    rule(&[""], &["nodes"], &["get"]),
                    rule(&[""], &["nodes"], &["list"])
                ]
            )
            .len(),
            2
        );
    }

    #[test]
    fn descriptions_read_like_the_examples() {
        let got = refused(&[], &[rule(&[""], &["namespaces"], &["get", "patch"])]);
        assert_eq!(
            describe(&got[0]),
            r#"namespaces (group "") verbs get, patch: never grantable (the namespace itself)"#
        );
        let got = refused(&[], &[rule(&[""], &["nodes"], &["get"])]);
        assert_eq!(
            describe(&got[0]),
            r#"nodes (group "") verbs get: not in the tenant ceiling"#
        );
        let got = refused(
            &[],
            &[named(rule(&[""], &["secrets"], &["get"]), &["a", "b"])],
        );
        assert_eq!(
            describe(&got[0]),
            r#"secrets named "a", "b" (group "") verbs get: not in the tenant ceiling"#
        );
        let got = refused(&[], &[rule(&["", "apps"], &["pods"], &["get"])]);
        assert_eq!(
            describe(&got[0]),
            r#"pods (groups "", "apps") verbs get: not in the tenant ceiling"#
        );
        let got = refused(&[], &[urls(&["/metrics"], &["get"])]);
        assert_eq!(
            describe(&got[0]),
            "non-resource URL /metrics verbs get: never grantable (non-resource URLs are cluster-wide)"
        );
    }

    #[test]
    fn summary_shows_five_and_counts_the_rest() {
        assert_eq!(summary(&[]), "");
        let wanted: Vec<PolicyRule> = (0..7)
            .map(|i| rule(&[""], &[&format!("r{i}")], &["get"]))
            .collect();
        let got = refused(&[], &wanted);
        assert_eq!(got.len(), 7);
        let line = summary(&got);
        assert_eq!(line.matches("not in the tenant ceiling").count(), 5);
        assert!(line.starts_with(r#"r0 (group "") verbs get: not in the tenant ceiling; r1 "#));
        assert!(
            line.ends_with("r4 (group \"\") verbs get: not in the tenant ceiling; and 2 more"),
            "{line}"
        );
        assert_eq!(summary(&got[..1]), describe(&got[0]));
    }

    // Properties.

    const GROUPS: &[&str] = &["", "apps", RBAC_GROUP, GROUP, "*"];
    const RESOURCES: &[&str] = &[
        "pods",
        "pods/exec",
        "*/scale",
        "deployments/scale",
        "secrets",
        "namespaces",
        "nodes",
        "roles",
        "rolebindings",
        "clusterroles",
        "resourcequotas",
        "*",
    ];
    const VERBS: &[&str] = &["get", "list", "create", "delete", "bind", "escalate", "*"];
    const NAMES: &[&str] = &["a", "b", ""];
    const URLS: &[&str] = &["/metrics", "/api", "/api/*", "*"];

    fn pick(values: &'static [&'static str]) -> impl Strategy<Value = String> {
        proptest::sample::select(values).prop_map(str::to_string)
    }

    /// Any text, short: what a tenant or a platform may write.
    fn text() -> impl Strategy<Value = String> {
        proptest::string::string_regex("(.|[:/*-]){0,12}").expect("a fixed, valid regex")
    }

    fn any_rule(
        group: impl Strategy<Value = String>,
        resource: impl Strategy<Value = String>,
        verb: impl Strategy<Value = String>,
        name: impl Strategy<Value = String>,
        url: impl Strategy<Value = String>,
    ) -> impl Strategy<Value = PolicyRule> {
        (
            option::weighted(0.9, vec(group, 0..3)),
            option::weighted(0.9, vec(resource, 0..3)),
            vec(verb, 0..3),
            option::weighted(0.4, vec(name, 0..3)),
            option::weighted(0.15, vec(url, 0..3)),
        )
            .prop_map(
                |(api_groups, resources, verbs, resource_names, non_resource_urls)| PolicyRule {
                    api_groups,
                    resources,
                    verbs,
                    resource_names,
                    non_resource_urls,
                },
            )
    }

    fn policy_rule() -> impl Strategy<Value = PolicyRule> {
        any_rule(
            pick(GROUPS),
            pick(RESOURCES),
            pick(VERBS),
            pick(NAMES),
            pick(URLS),
        )
    }

    fn rules(max: usize) -> impl Strategy<Value = Vec<PolicyRule>> {
        vec(policy_rule(), 0..max)
    }

    /// A ceiling and wanted pieces that are its own pieces with one part
    /// changed: random wanted rules rarely come close enough to a random
    /// ceiling to test the edges of covering (names, `*/sub`, wildcards).
    fn ceiling_and_near_misses() -> impl Strategy<Value = (Vec<PolicyRule>, Vec<PolicyRule>)> {
        rules(6).prop_flat_map(|ceiling| {
            let pieces: Vec<Piece> = ceiling
                .iter()
                .flat_map(atoms)
                .filter(|piece| matches!(piece, Piece::Resource { .. }))
                .collect();
            let wanted = if pieces.is_empty() {
                rules(4).boxed()
            } else {
                let near_miss = (
                    proptest::sample::select(pieces),
                    0..5u8,
                    pick(GROUPS),
                    pick(RESOURCES),
                    pick(VERBS),
                    option::of(pick(NAMES)),
                )
                    .prop_map(|(mut piece, part, g, r, v, n)| {
                        if let Piece::Resource {
                            group,
                            resource,
                            verb,
                            name,
                        } = &mut piece
                        {
                            match part {
                                0 => *group = g,
                                1 => *resource = r,
                                2 => *verb = v,
                                3 => *name = n,
                                _ => {}
                            }
                        }
                        piece_rule(&piece)
                    });
                vec(near_miss, 0..4).boxed()
            };
            (Just(ceiling), wanted)
        })
    }

    /// The pieces of a rule, written apart from `breakdown`.
    fn atoms(rule: &PolicyRule) -> Vec<Piece> {
        let names: Vec<Option<String>> = match rule.resource_names.as_deref() {
            Some(names) if !names.is_empty() => names.iter().cloned().map(Some).collect(),
            _ => vec![None],
        };
        let mut atoms = Vec::new();
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    for name in &names {
                        atoms.push(Piece::Resource {
                            group: group.clone(),
                            resource: resource.clone(),
                            verb: verb.clone(),
                            name: name.clone(),
                        });
                    }
                }
            }
        }
        for url in rule.non_resource_urls.iter().flatten() {
            for verb in &rule.verbs {
                atoms.push(Piece::NonResource {
                    url: url.clone(),
                    verb: verb.clone(),
                });
            }
        }
        atoms
    }

    /// RBAC's authorizer `RuleAllows` for a resource request (VerbMatches,
    /// APIGroupMatches, ResourceMatches, ResourceNameMatches).
    fn allows(rule: &PolicyRule, group: &str, resource: &str, verb: &str, name: &str) -> bool {
        let subresource = resource.split_once('/').map_or("", |(_, s)| s);
        rule.verbs.iter().any(|v| v == "*" || v == verb)
            && rule
                .api_groups
                .iter()
                .flatten()
                .any(|g| g == "*" || g == group)
            && rule.resources.iter().flatten().any(|r| {
                r == "*"
                    || r == resource
                    || (!subresource.is_empty()
                        && r.len() == subresource.len() + 2
                        && r.starts_with("*/")
                        && r.ends_with(subresource))
            })
            && (rule.resource_names.as_deref().is_none_or(|n| n.is_empty())
                || rule.resource_names.iter().flatten().any(|n| n == name))
    }

    /// RBAC's `RuleAllows` for a non-resource request.
    fn allows_url(rule: &PolicyRule, url: &str, verb: &str) -> bool {
        rule.verbs.iter().any(|v| v == "*" || v == verb)
            && rule.non_resource_urls.iter().flatten().any(|u| {
                u == "*"
                    || u == url
                    || (u.ends_with('*') && url.starts_with(u.trim_end_matches('*')))
            })
    }

    /// Whether some ceiling rule grants the whole piece. A request for the
    /// empty name is not every name: a piece without a name is every object,
    /// which only a rule without names grants. A literal `*` in the piece is
    /// compared literally by `allows`, so only a `*` grants it.
    fn granted(ceiling: &[PolicyRule], piece: &Piece) -> bool {
        let nameless =
            |rule: &PolicyRule| rule.resource_names.as_deref().is_none_or(|n| n.is_empty());
        ceiling.iter().any(|rule| match piece {
            Piece::Resource {
                group,
                resource,
                verb,
                name: Some(name),
            } => allows(rule, group, resource, verb, name),
            Piece::Resource {
                group,
                resource,
                verb,
                name: None,
            } => nameless(rule) && allows(rule, group, resource, verb, ""),
            Piece::NonResource { url, verb } => nameless(rule) && allows_url(rule, url, verb),
        })
    }

    /// Every refused piece with its refusal, as `refused` should find them.
    fn expected(ceiling: &[PolicyRule], wanted: &[PolicyRule]) -> BTreeSet<(Piece, String)> {
        wanted
            .iter()
            .flat_map(atoms)
            .filter_map(|piece| {
                let why = match never_grantable(&piece) {
                    Some(reason) => Refusal::Never(reason),
                    None if granted(ceiling, &piece) => return None,
                    None => Refusal::NotCovered,
                };
                Some((piece, format!("{why:?}")))
            })
            .collect()
    }

    /// The pieces `refused` reports, each with its refusal.
    fn expand(refused: &[Refused]) -> BTreeSet<(Piece, String)> {
        refused
            .iter()
            .flat_map(|r| {
                atoms(&r.rule)
                    .into_iter()
                    .map(|p| (p, format!("{:?}", r.why)))
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn refused_is_what_rbac_would_not_allow(ceiling in rules(6), wanted in rules(4)) {
            let got = refused(&ceiling, &wanted);
            let want = expected(&ceiling, &wanted);
            prop_assert_eq!(got.is_empty(), want.is_empty());
            // Merging neither loses a refused piece nor adds one.
            prop_assert_eq!(expand(&got), want);
        }

        #[test]
        fn near_misses_are_refused_as_rbac_would((ceiling, wanted) in ceiling_and_near_misses()) {
            let got = refused(&ceiling, &wanted);
            let want = expected(&ceiling, &wanted);
            prop_assert_eq!(got.is_empty(), want.is_empty());
            prop_assert_eq!(expand(&got), want);
        }

        #[test]
        fn a_ceiling_covers_itself_minus_the_hard_limits(ceiling in rules(6)) {
            let grantable: Vec<PolicyRule> = ceiling
                .iter()
                .flat_map(atoms)
                .filter(|piece| never_grantable(piece).is_none())
                .map(|piece| piece_rule(&piece))
                .collect();
            prop_assert_eq!(refused(&ceiling, &grantable), vec![]);
        }

        #[test]
        fn a_larger_ceiling_never_refuses_more(
            ceiling in rules(5),
            more in rules(3),
            wanted in rules(4),
        ) {
            let larger: Vec<PolicyRule> = ceiling.iter().chain(&more).cloned().collect();
            let before = expand(&refused(&ceiling, &wanted));
            let after = expand(&refused(&larger, &wanted));
            prop_assert!(after.is_subset(&before), "{:?} not in {:?}", after, before);
        }

        #[test]
        fn nothing_panics(
            ceiling in vec(any_rule(text(), text(), text(), text(), text()), 0..4),
            wanted in vec(any_rule(
                prop_oneof![pick(GROUPS), text()],
                prop_oneof![pick(RESOURCES), text()],
                prop_oneof![pick(VERBS), text()],
                text(),
                text(),
            ), 0..4),
        ) {
            let got = refused(&ceiling, &wanted);
            for r in &got {
                prop_assert!(!describe(r).is_empty());
            }
            let _ = summary(&got);
        }
    }
}
