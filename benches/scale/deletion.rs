//! The delete phase: one whole organization pruned at once, the way a
//! GitOps tool prunes an application (every member, then every workspace,
//! then the Organization, without waiting in between). Measures the time
//! until every namespace of the organization is gone, and proves that
//! nothing the operator made for it is left and nothing it made for the
//! other organizations went with it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use workspace_operator::api::{Organization, Workspace, WorkspaceMember};
use workspace_operator::ownership::{self, DEFAULT_WORKSPACE, ORGANIZATION};

use crate::cluster::{self, Cluster, proc_stats};
use crate::phases::PREFIX;
use crate::{Args, Result, progress, workload};

#[derive(Debug, Default)]
pub struct Deletion {
    pub organization: String,
    pub workspaces: usize,
    pub members: usize,
    /// What the operator had made for the organization, by kind.
    pub children: BTreeMap<String, usize>,
    /// From the first delete call until the Organization and every one of
    /// its namespaces are gone.
    pub seconds: f64,
    /// What the operator had made for it and is still there afterwards.
    pub left: BTreeMap<String, usize>,
    /// What the operator made for the other organizations: before, and
    /// how many of those objects are missing afterwards.
    pub others: usize,
    pub others_missing: usize,
    pub cpu_seconds: f64,
    pub requests: BTreeMap<String, u64>,
}

impl Deletion {
    pub fn children_total(&self) -> usize {
        self.children.values().sum()
    }

    pub fn left_total(&self) -> usize {
        self.left.values().sum()
    }
}

/// (kind, namespace/name, uid) of everything `selector` picks of kind `K`.
async fn marked<K>(client: &Client, selector: &str) -> Result<Vec<(String, String, String)>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let list = Api::<K>::all(client.clone())
        .list_metadata(&ListParams::default().labels(selector))
        .await?;
    Ok(list
        .items
        .into_iter()
        .map(|o| {
            let at = format!(
                "{}/{}",
                o.metadata.namespace.clone().unwrap_or_default(),
                o.name_any()
            );
            (K::kind(&()).to_string(), at, o.uid().unwrap_or_default())
        })
        .collect())
}

/// Every kind the operator makes, picked by `selector`.
async fn inventory(client: &Client, selector: &str) -> Result<Vec<(String, String, String)>> {
    let mut all = vec![];
    all.extend(marked::<Namespace>(client, selector).await?);
    all.extend(marked::<Role>(client, selector).await?);
    all.extend(marked::<RoleBinding>(client, selector).await?);
    all.extend(marked::<ClusterRole>(client, selector).await?);
    all.extend(marked::<ClusterRoleBinding>(client, selector).await?);
    all.extend(marked::<ResourceQuota>(client, selector).await?);
    all.extend(marked::<LimitRange>(client, selector).await?);
    all.extend(marked::<NetworkPolicy>(client, selector).await?);
    all.extend(marked::<ConfigMap>(client, selector).await?);
    all.extend(marked::<Secret>(client, selector).await?);
    Ok(all)
}

fn by_kind(objects: &[(String, String, String)]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (kind, _, _) in objects {
        *counts.entry(kind.clone()).or_default() += 1;
    }
    counts
}

/// Deletes everything in `names` of `api` at once (`concurrency` in flight);
/// one already gone is fine.
async fn delete_all<K>(api: &Api<K>, names: Vec<String>, concurrency: usize) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let results: Vec<Result<()>> = futures::stream::iter(names)
        .map(|name| async move {
            crate::with_retries(&format!("deleting {name}"), || async {
                match api.delete(&name, &DeleteParams::default()).await {
                    Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                    other => other.map(drop),
                }
            })
            .await
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    results.into_iter().collect()
}

pub async fn run(args: &Args, cluster: &Cluster) -> Result<Deletion> {
    let client = &cluster.admin;
    let org = workload::org_name(PREFIX, args.orgs - 1);
    let ours = format!("{},{ORGANIZATION}={org}", ownership::managed_selector());
    let theirs = format!("{},{ORGANIZATION}!={org}", ownership::managed_selector());
    let children = inventory(client, &ours).await?;
    let others: BTreeSet<String> = inventory(client, &theirs)
        .await?
        .into_iter()
        .map(|(_, _, uid)| uid)
        .collect();
    let namespaces: Vec<String> = children
        .iter()
        .filter(|(kind, _, _)| kind == "Namespace")
        .map(|(_, at, _)| at.trim_start_matches('/').to_string())
        .collect();
    let members_api = Api::<WorkspaceMember>::namespaced(client.clone(), &org);
    let workspaces_api = Api::<Workspace>::namespaced(client.clone(), &org);
    let members: Vec<String> = members_api
        .list_metadata(&ListParams::default())
        .await?
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    // The default workspace goes with its Organization (nobody may delete it).
    let workspaces: Vec<String> = workspaces_api
        .list_metadata(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|w| !w.labels().contains_key(DEFAULT_WORKSPACE))
        .map(ResourceExt::name_any)
        .collect();
    let mut figures = Deletion {
        organization: org.clone(),
        workspaces: workspaces.len(),
        members: members.len(),
        children: by_kind(&children),
        others: others.len(),
        ..Default::default()
    };
    progress(format!(
        "delete: {org} with {} workspaces, {} members and {} children, pruned at once",
        figures.workspaces,
        figures.members,
        figures.children_total()
    ));
    let pid = cluster.operator_pid()?;
    let before = cluster::requests_by_method(&cluster.metrics().await?);
    let cpu_before = proc_stats(pid)?.cpu_seconds;
    let start = Instant::now();
    let in_flight = crate::IN_FLIGHT;
    delete_all(&members_api, members, in_flight).await?;
    delete_all(&workspaces_api, workspaces, in_flight).await?;
    delete_all(
        &Api::<Organization>::all(client.clone()),
        vec![org.clone()],
        1,
    )
    .await?;
    let all_namespaces = Api::<Namespace>::all(client.clone());
    let orgs = Api::<Organization>::all(client.clone());
    loop {
        let mut remaining = 0;
        for ns in &namespaces {
            remaining += usize::from(all_namespaces.get_opt(ns).await?.is_some());
        }
        remaining += usize::from(orgs.get_opt(&org).await?.is_some());
        if remaining == 0 {
            break;
        }
        if start.elapsed() > Duration::from_secs(args.timeout_seconds) {
            return Err(format!("delete: {remaining} namespaces or the Organization left").into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    figures.seconds = start.elapsed().as_secs_f64();
    figures.cpu_seconds = proc_stats(pid)?.cpu_seconds - cpu_before;
    figures.requests = cluster::diff(
        &cluster::requests_by_method(&cluster.metrics().await?),
        &before,
    );
    figures.left = by_kind(&inventory(client, &ours).await?);
    let still: BTreeSet<String> = inventory(client, &theirs)
        .await?
        .into_iter()
        .map(|(_, _, uid)| uid)
        .collect();
    figures.others_missing = others.difference(&still).count();
    progress(format!(
        "delete: everything gone in {:.1} s; {} of its children left; {} of {} others' missing",
        figures.seconds,
        figures.left_total(),
        figures.others_missing,
        figures.others
    ));
    Ok(figures)
}
