//! The controllers, run together in one process: one module per kind, each a
//! thin pipeline of read → build (pure, in `resources`) → apply → status.

pub mod context;
pub mod credentials;
pub mod informer;
pub mod member;
pub mod organization;
pub mod role;
pub mod workspace;
pub mod writes;

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use futures::future::{BoxFuture, Shared};
use futures::{Stream, StreamExt};
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource};
use tracing::{info, warn};

pub use context::{Context, Settings};

use crate::api::{Organization, Workspace, WorkspaceMember, WorkspaceRole};
use crate::error::StartupError;
use crate::labels;

/// A controller of the kind `informer` caches, fed by it (no watch of its
/// own), running at most `settings.concurrency` reconciles at once.
pub fn controller_of<G: context::Cacheable>(
    informer: &informer::Informer<G>,
    settings: &Settings,
) -> kube::runtime::Controller<G> {
    kube::runtime::Controller::for_shared_stream(informer.subscribe(), informer.store.clone())
        .with_config(kube::runtime::controller::Config::default().concurrency(settings.concurrency))
}

/// The object inside a guard, or None when it could not be decoded.
pub fn valid<K>(guard: &DeserializeGuard<K>) -> Option<&K> {
    guard.0.as_ref().ok()
}

/// A reference to the `K` named by a label pair on a child.
pub fn ref_from_labels<K>(
    meta: &kube::api::ObjectMeta,
    namespaced: bool,
) -> Option<ObjectRef<DeserializeGuard<K>>>
where
    K: Resource<DynamicType = ()>,
    DeserializeGuard<K>: Resource<DynamicType = ()>,
    <DeserializeGuard<K> as Resource>::DynamicType: Eq + Hash + Clone,
{
    let labels = meta.labels.as_ref()?;
    let org = labels.get(labels::ORGANIZATION)?;
    if namespaced {
        let ws = labels.get(labels::WORKSPACE)?;
        Some(ObjectRef::new(ws).within(&crate::api::names::organization_namespace(org)))
    } else {
        Some(ObjectRef::new(org))
    }
}

/// Runs every controller until SIGTERM or Ctrl-C, then lets in-flight
/// reconciles finish.
/// Runs every controller until `shutdown` resolves, then lets in-flight
/// reconciles finish.
pub async fn run(ctx: Arc<Context>, shutdown: Shared<BoxFuture<'static, ()>>) {
    info!(
        concurrency = ctx.settings.concurrency,
        "starting controllers"
    );
    let gauges = {
        let ctx = ctx.clone();
        async move {
            loop {
                ctx.metrics
                    .set_objects("Organization", ctx.organizations.store.len() as i64);
                ctx.metrics
                    .set_objects("Workspace", ctx.workspaces.store.len() as i64);
                ctx.metrics
                    .set_objects("WorkspaceRole", ctx.roles.store.len() as i64);
                ctx.metrics
                    .set_objects("WorkspaceMember", ctx.members.store.len() as i64);
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

/// Times a reconcile and counts it (and its error category) in the metrics.
pub async fn timed<F>(
    kind: &'static str,
    ctx: Arc<Context>,
    reconcile: F,
) -> crate::error::Result<kube::runtime::controller::Action>
where
    F: std::future::Future<Output = crate::error::Result<kube::runtime::controller::Action>>,
{
    let started = std::time::Instant::now();
    let result = reconcile.await;
    ctx.metrics.reconciled(
        kind,
        started.elapsed(),
        result.as_ref().err().map(|e| e.category()),
    );
    result
}

/// Resolves once SIGTERM or SIGINT arrives.
pub async fn termination_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => info!("SIGINT: shutting down"),
    }
}

/// Logs each reconcile result; the stream must be driven for the controller to run.
pub async fn drain<S, T, E>(kind: &'static str, stream: S)
where
    S: Stream<Item = Result<T, E>>,
    T: Debug,
    E: std::fmt::Display,
{
    stream
        .for_each(|result| async move {
            match result {
                // A trigger for an object that is gone: nothing to do.
                Err(e) if e.to_string().contains("not found in local store") => {
                    tracing::debug!(kind, error = %e, "controller event")
                }
                Err(e) => warn!(kind, error = %e, "controller event"),
                Ok(_) => {}
            }
        })
        .await;
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

/// After a failed reconcile: the per-object backoff in `Context`; an object
/// that cannot be decoded waits for its next change.
pub fn error_policy<K>(
    guard: Arc<DeserializeGuard<K>>,
    err: &crate::error::Error,
    ctx: Arc<Context>,
) -> kube::runtime::controller::Action
where
    K: Resource<DynamicType = ()>,
{
    match valid(&guard) {
        Some(obj) => ctx.failure_action(obj, err),
        None => kube::runtime::controller::Action::await_change(),
    }
}

/// How soon an object waiting on another one (a member to be unlinked, a
/// workspace or role to appear) looks again. The trigger from the other
/// object's watch can arrive before the cache this controller reads has seen
/// the change, so waiting for a change alone could wait forever. Only cached
/// reads happen then; nothing is written unless something changed.
pub const WAIT_FOR_OTHERS: std::time::Duration = std::time::Duration::from_secs(10);

/// After an error the spec causes: wait for the next change of the object,
/// no retry loop. A conflict over a name can clear without such a change (the
/// other object is deleted), so it is looked at again now and then.
pub fn spec_error_action(err: &crate::error::Error) -> kube::runtime::controller::Action {
    match err {
        crate::error::Error::Conflict { .. } => {
            kube::runtime::controller::Action::requeue(std::time::Duration::from_secs(300))
        }
        _ => kube::runtime::controller::Action::await_change(),
    }
}
