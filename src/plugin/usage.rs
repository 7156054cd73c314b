//! `usage`: what a workspace's plan gives and what is used of it; with
//! `--organization`, what an organization's workspaces hold and use in all,
//! what is left of its budget, and each workspace's use (for organization
//! admins, who may read every workspace's quota). Read with the caller's
//! own credentials; a refusal is said in words, not as RBAC's.

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::Client;
use kube::api::{Api, ListParams};
use serde::Serialize;

use super::error::{Error, Request, Result};
use super::output::{self, Format, Row};
use super::roles::{Limit, limits_of};
use super::switch::WorkspaceRef;
use crate::api::common::parse_quantity;
use crate::api::{GROUP, Organization, Workspace};
use crate::ownership::names;

/// One resource of one workspace's quota.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Used {
    pub workspace: String,
    pub resource: String,
    /// What is used; absent until the API server has counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used: Option<String>,
    pub hard: String,
}

impl Used {
    /// Each resource of `limits`, for `workspace`.
    fn rows(workspace: &str, limits: BTreeMap<String, Limit>) -> Vec<Used> {
        limits
            .into_iter()
            .map(|(resource, l)| Used {
                workspace: workspace.to_string(),
                resource,
                used: l.used,
                hard: l.hard,
            })
            .collect()
    }
}

/// `used` of `hard` in per cent, when both are quantities and `hard` is not 0.
pub fn percent(used: Option<&str>, hard: &str) -> Option<String> {
    let (used, hard) = (parse_quantity(used?)?, parse_quantity(hard)?);
    (hard > 0.0).then(|| format!("{:.0}%", 100.0 * used / hard))
}

impl Row for Used {
    const HEADERS: &'static [&'static str] = &["WORKSPACE", "RESOURCE", "USED", "HARD", "USE"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.workspace.clone(),
            self.resource.clone(),
            self.used.clone().unwrap_or_default(),
            self.hard.clone(),
            percent(self.used.as_deref(), &self.hard).unwrap_or_default(),
        ]
    }
}

/// The use of workspace `target`'s quota.
pub async fn workspace(client: &Client, target: &WorkspaceRef) -> Result<Vec<Used>> {
    let namespace = target.namespace();
    let quota = Api::<ResourceQuota>::namespaced(client.clone(), &namespace)
        .get_opt(names::QUOTA)
        .await;
    match quota {
        Ok(Some(q)) => Ok(Used::rows(&target.workspace, limits_of(&q))),
        Ok(None) => Err(Error::NotFound(format!(
            "workspace {target} has no quota: its plan sets none, or its namespace {namespace} is not made yet (kubectl get workspace -n {} {})",
            target.organization, target.workspace
        ))),
        Err(kube::Error::Api(s)) if s.code == 403 => Err(Error::NotShown(format!(
            "the quota of workspace {target} is not readable to you: only its members, its owner and the organization's admins see it (kubectl workspace list shows the workspaces you are in)"
        ))),
        Err(e) => {
            let request = Request::new("get", "resourcequotas", "")
                .named(names::QUOTA)
                .within(&namespace);
            Err(Error::from_api(request, e))
        }
    }
}

/// One resource of an organization's totals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Total {
    pub resource: String,
    pub used: Option<String>,
    pub hard: Option<String>,
    /// What is left of the budget's limit for it, if the budget sets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_remaining: Option<String>,
}

impl Row for Total {
    const HEADERS: &'static [&'static str] = &["RESOURCE", "USED", "HARD", "BUDGET LEFT"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.resource.clone(),
            self.used.clone().unwrap_or_default(),
            self.hard.clone().unwrap_or_default(),
            self.budget_remaining.clone().unwrap_or_default(),
        ]
    }
}

/// What `usage --organization` shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationReport {
    pub organization: String,
    /// Workspace namespaces counted (kept ones included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<i32>,
    /// How many more workspaces may get a namespace under the budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspaces_left: Option<i32>,
    /// When the operator took the totals (at most once a minute).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
    pub totals: Vec<Total>,
    /// Each workspace's use, read now; empty when they may not be read.
    pub workspaces: Vec<Used>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The totals of `org`'s status as rows (pure).
pub fn totals(org: &Organization) -> Vec<Total> {
    let Some(usage) = org.status.as_ref().and_then(|s| s.usage.as_ref()) else {
        return vec![];
    };
    let left = usage.budget_remaining.as_ref().map(|b| &b.quota);
    let mut resources: Vec<&String> = usage
        .hard
        .keys()
        .chain(usage.used.keys())
        .chain(left.into_iter().flat_map(BTreeMap::keys))
        .collect();
    resources.sort();
    resources.dedup();
    resources
        .into_iter()
        .map(|r| Total {
            resource: r.clone(),
            used: usage.used.get(r).map(|q| q.0.clone()),
            hard: usage.hard.get(r).map(|q| q.0.clone()),
            budget_remaining: left.and_then(|l| l.get(r)).map(|q| q.0.clone()),
        })
        .collect()
}

/// Reads what `usage --organization` shows of `organization`.
pub async fn organization(client: &Client, organization: &str) -> Result<OrganizationReport> {
    let org = Api::<Organization>::all(client.clone())
        .get(organization)
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 403 || s.code == 404 => Error::NotShown(format!(
                "organization {organization} is not readable to you: it does not exist, or you have no workspace in it"
            )),
            e => Error::from_api(
                Request::new("get", "organizations", GROUP).named(organization),
                e,
            ),
        })?;
    let usage = org.status.as_ref().and_then(|s| s.usage.as_ref());
    let mut notes = vec![];
    if usage.is_none() {
        notes.push(format!(
            "organization {organization} reports no usage yet: the operator takes it within a minute of a change"
        ));
    }
    let listed = Api::<Workspace>::namespaced(client.clone(), organization)
        .list(&ListParams::default())
        .await;
    let workspaces = match listed {
        Ok(list) => {
            let refs: Vec<WorkspaceRef> = list
                .items
                .iter()
                .filter_map(|w| w.metadata.name.clone())
                .map(|workspace| WorkspaceRef {
                    organization: organization.to_string(),
                    workspace,
                })
                .collect();
            each_workspace(client, &refs, &mut notes).await?
        }
        Err(kube::Error::Api(s)) if s.code == 403 => {
            notes.push(format!(
                "each workspace's use is shown to the admins of {organization} only"
            ));
            vec![]
        }
        Err(e) => {
            let request = Request::new("list", "workspaces", GROUP).within(organization);
            return Err(Error::from_api(request, e));
        }
    };
    Ok(OrganizationReport {
        organization: organization.to_string(),
        namespaces: usage.map(|u| u.namespaces),
        workspaces_left: usage
            .and_then(|u| u.budget_remaining.as_ref())
            .and_then(|b| b.workspaces),
        observed_at: usage.map(|u| u.observed_at.clone()),
        totals: totals(&org),
        workspaces,
        notes,
    })
}

/// The use of each of `refs`, a few read at once; one with no quota (or
/// not readable) is noted and left out.
async fn each_workspace(
    client: &Client,
    refs: &[WorkspaceRef],
    notes: &mut Vec<String>,
) -> Result<Vec<Used>> {
    let results: Vec<(String, Result<Vec<Used>>)> = futures::stream::iter(refs)
        .map(|r| async move { (r.workspace.clone(), workspace(client, r).await) })
        .buffered(8)
        .collect()
        .await;
    let mut rows = vec![];
    let mut without = vec![];
    for (name, result) in results {
        match result {
            Ok(used) => rows.extend(used),
            Err(Error::NotFound(_) | Error::NotShown(_)) => without.push(name),
            Err(e) => return Err(e),
        }
    }
    if !without.is_empty() {
        notes.push(format!(
            "no quota to show for: {} (no plan quota, no namespace yet, or not readable to you)",
            without.join(", ")
        ));
    }
    Ok(rows)
}

/// The summary line of an organization's report (pure).
pub fn summary(report: &OrganizationReport) -> String {
    let mut line = format!("Organization {}", report.organization);
    if let Some(n) = report.namespaces {
        line.push_str(&format!(": {n} workspace namespace(s)"));
    }
    if let Some(left) = report.workspaces_left {
        line.push_str(&format!(", {left} more allowed by its budget"));
    }
    if let Some(at) = &report.observed_at {
        line.push_str(&format!(" (totals taken {at})"));
    }
    line + "."
}

/// Prints an organization's report in `format`.
pub fn print_organization(format: Format, report: &OrganizationReport) -> Result<()> {
    output::print_report(
        format,
        report,
        &summary(report),
        &[
            output::table_of(&report.totals),
            output::table_of(&report.workspaces),
        ],
        &report.notes,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn use_is_given_in_per_cent_of_what_is_limited() {
        assert_eq!(percent(Some("500m"), "2").as_deref(), Some("25%"));
        assert_eq!(percent(Some("1Gi"), "4Gi").as_deref(), Some("25%"));
        assert_eq!(percent(Some("3"), "0"), None);
        assert_eq!(percent(None, "2"), None);
        let row = Used {
            workspace: "web".into(),
            resource: "pods".into(),
            used: Some("3".into()),
            hard: "20".into(),
        };
        assert_eq!(row.cells(), ["web", "pods", "3", "20", "15%"]);
    }

    #[test]
    fn an_organizations_totals_line_up_with_its_budget() {
        let org: Organization = serde_json::from_value(json!({
            "apiVersion": "workspaces.dev/v1alpha1",
            "kind": "Organization",
            "metadata": {"name": "acme"},
            "spec": {"admins": [{"kind": "User", "name": "a"}]},
            "status": {"usage": {
                "namespaces": 2,
                "hard": {"pods": "30", "requests.cpu": "3500m"},
                "used": {"pods": "3"},
                "budgetRemaining": {"workspaces": 1, "quota": {"requests.cpu": "-500m"}},
                "observedAt": "2026-12-07T10:00:00Z"
            }}
        }))
        .unwrap();
        let rows = totals(&org);
        assert_eq!(
            rows.iter().map(Row::cells).collect::<Vec<_>>(),
            [
                vec!["pods", "3", "30", ""],
                vec!["requests.cpu", "", "3500m", "-500m"],
            ]
        );
        let report = OrganizationReport {
            organization: "acme".into(),
            namespaces: Some(2),
            workspaces_left: Some(1),
            observed_at: Some("2026-12-07T10:00:00Z".into()),
            totals: rows,
            workspaces: vec![],
            notes: vec![],
        };
        assert_eq!(
            summary(&report),
            "Organization acme: 2 workspace namespace(s), 1 more allowed by its budget (totals taken 2026-12-07T10:00:00Z)."
        );
    }
}
