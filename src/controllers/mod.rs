//! The controllers, run together in one process: one module per kind, each
//! a `runtime::pipeline::Reconciler` with what is its own (watches and
//! mappers, reads, the applier of its children set) around the
//! pure `decide` in `resources`. Shared credentials, used by two kinds,
//! have a module of their own.

pub mod context;
pub mod credentials;
pub mod error;
pub mod member;
pub mod organization;
pub mod role;
pub mod teardown;
pub mod usage_metrics;
pub mod workspace;
mod workspace_children;

use std::sync::Arc;

use futures::future::{BoxFuture, Shared};
use kube::Client;
use kube::api::Api;
use tracing::info;

pub use context::{Context, Settings};
pub use error::StartupError;

use crate::api::{Organization, Workspace, WorkspaceMember, WorkspaceRole};

/// How many objects a cache holds, and how many of them are Stalled.
fn census<K>(
    cache: &crate::runtime::informer::Informer<kube::core::DeserializeGuard<K>>,
    conditions: impl Fn(&K) -> Option<&[crate::api::common::Condition]>,
) -> (usize, usize)
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let all = cache.store.state();
    let stalled = all
        .iter()
        .filter_map(|g| crate::runtime::informer::valid(g))
        .filter(|obj| {
            conditions(obj)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Stalled" && c.status == "True")
        })
        .count();
    (all.len(), stalled)
}

/// Runs every controller until `shutdown` resolves, then lets in-flight
/// reconciles finish.
pub async fn run(ctx: Arc<Context>, shutdown: Shared<BoxFuture<'static, ()>>) {
    info!(
        concurrency = ctx.runtime.concurrency,
        "starting controllers"
    );
    for kind in [
        "Organization",
        "Workspace",
        "WorkspaceRole",
        "WorkspaceMember",
    ] {
        ctx.runtime
            .metrics
            .controller_started(kind, ctx.runtime.concurrency);
    }
    let gauges = {
        let ctx = ctx.clone();
        async move {
            loop {
                let metrics = &ctx.runtime.metrics;
                let (n, stalled) = census(&ctx.organizations, |o| {
                    o.status.as_ref().map(|s| &s.conditions[..])
                });
                metrics.set_objects("Organization", n, stalled);
                let (n, stalled) = census(&ctx.workspaces, |o| {
                    o.status.as_ref().map(|s| &s.conditions[..])
                });
                metrics.set_objects("Workspace", n, stalled);
                let (n, stalled) =
                    census(&ctx.roles, |o| o.status.as_ref().map(|s| &s.conditions[..]));
                metrics.set_objects("WorkspaceRole", n, stalled);
                let (n, stalled) = census(&ctx.members, |o| {
                    o.status.as_ref().map(|s| &s.conditions[..])
                });
                metrics.set_objects("WorkspaceMember", n, stalled);
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
        }
    };
    let gauges = tokio::spawn(gauges);
    let orgs = organization::controller(&ctx, shutdown.clone());
    let workspaces = workspace::controller(&ctx, shutdown.clone());
    let roles = role::controller(&ctx, shutdown.clone());
    let members = member::controller(&ctx, shutdown.clone());
    futures::join!(orgs, workspaces, roles, members);
    gauges.abort();
    info!("controllers stopped");
}

/// Every kind the operator serves, for a startup check that the CRDs exist.
pub async fn check_crds(client: &Client) -> Result<(), StartupError> {
    use kube::api::ListParams;
    let lp = ListParams::default().limit(1);
    Api::<Organization>::all(client.clone())
        .list_metadata(&lp)
        .await
        .map_err(crd_missing("organizations"))?;
    Api::<Workspace>::all(client.clone())
        .list_metadata(&lp)
        .await
        .map_err(crd_missing("workspaces"))?;
    Api::<WorkspaceRole>::all(client.clone())
        .list_metadata(&lp)
        .await
        .map_err(crd_missing("workspaceroles"))?;
    Api::<WorkspaceMember>::all(client.clone())
        .list_metadata(&lp)
        .await
        .map_err(crd_missing("workspacemembers"))?;
    Ok(())
}

fn crd_missing(plural: &'static str) -> impl FnOnce(kube::Error) -> StartupError {
    move |source| StartupError::CrdMissing { plural, source }
}
