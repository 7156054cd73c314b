//! Organization controller: its namespace, its admins' access, the predefined
//! roles and the default workspace; on deletion, waits for its workspaces.

use std::sync::Arc;

use futures::future::{BoxFuture, Shared};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, DeleteParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::instrument;

use super::{Context, drain, informer, ref_from_labels, writes};
use crate::api::common::conditions::DELETION_BLOCKED;
use crate::api::names::organization_namespace;
use crate::api::organization::{OrganizationStatus, WorkspaceDefaults};
use crate::api::{Organization, Workspace, WorkspaceRole};
use crate::apply::{
    Source, apply_unless_contained, apply_unless_current, delete_owned, ensure_cached, ensure_owned,
};
use crate::conditions::{self, Aspect, Outcome};
use crate::error::{Error, Result};
use crate::labels;
use crate::resources::organization::{self as build, default_workspace_name};
use crate::resources::predefined_roles;

type Guard = DeserializeGuard<Organization>;

pub async fn controller(ctx: &Arc<Context>, shutdown: Shared<BoxFuture<'static, ()>>) {
    let client = ctx.client.clone();
    let orgs = ctx.organizations.store.clone();
    let sharing = ctx.organizations.store.clone();
    let cached = &ctx.children;
    let controller = super::controller_of(&ctx.organizations, &ctx.settings)
        // Workspaces change the count, and their deletion unblocks ours.
        .watches_shared_stream(
            ctx.workspaces
                .subscribe_changes(super::workspace::generation_and_conflict),
            |ws| ws.namespace().map(|ns| ObjectRef::<Guard>::new(&ns)),
        )
        // A predefined role changed in any way (spec, or its marks removed):
        // by name, since a tenant can remove the label that says so.
        .watches_shared_stream(ctx.roles.subscribe_changes(predefined_signature), |r| {
            predefined_roles::is_predefined_name(&r.name_any())
                .then(|| r.namespace().map(|ns| ObjectRef::<Guard>::new(&ns)))
                .flatten()
        })
        .watches_shared_stream(cached.namespaces.subscribe(), move |o| {
            // A workspace's namespace appearing: the organization's shares
            // can be copied into it now (only into namespaces it made).
            if let Some(org) = o.labels().get(labels::ORGANIZATION)
                && o.labels().contains_key(labels::WORKSPACE)
            {
                let org = ObjectRef::<Guard>::new(org);
                let shares = sharing
                    .get(&org)
                    .and_then(|g| super::valid(&g).map(|o| o.spec.shared_credentials.is_some()))
                    .unwrap_or(false);
                return shares.then_some(org);
            }
            org_child(&o.metadata)
        })
        .watches_shared_stream(cached.roles.subscribe(), |o| org_child(&o.metadata))
        .watches_shared_stream(cached.role_bindings.subscribe(), |o| org_child(&o.metadata))
        .watches_shared_stream(cached.cluster_role_bindings.subscribe(), |o| {
            org_child(&o.metadata)
        })
        // Shared credentials: a source in the organization namespace, or a copy.
        .watches_stream(super::workspace::all_secrets(&client), move |s| {
            // A copy the organization (not a workspace) shared.
            if let Some(origin) = crate::resources::credentials::copy_origin(&s.metadata) {
                return origin
                    .workspace
                    .is_none()
                    .then(|| ObjectRef::<Guard>::new(&origin.organization));
            }
            let ns = s.metadata.namespace.as_deref()?;
            // A source: a Secret of the organization namespace that it shares.
            let org = ObjectRef::<Guard>::new(ns);
            let name = s.metadata.name.as_deref()?;
            let shares_it = orgs.get(&org).is_some_and(|g| {
                super::valid(&g).is_some_and(|o| {
                    o.spec
                        .shared_credentials
                        .iter()
                        .flatten()
                        .any(|c| c.secret_name == name)
                })
            });
            shares_it.then_some(org)
        })
        .graceful_shutdown_on(shutdown)
        .run(
            |obj, ctx| super::timed("Organization", ctx.clone(), reconcile(obj, ctx)),
            super::error_policy,
            ctx.clone(),
        );
    drain("Organization", controller).await;
}

/// What the organization keeps of a predefined role: its spec (generation)
/// and its marks.
fn predefined_signature(role: &DeserializeGuard<WorkspaceRole>) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    informer::generation(role).hash(&mut h);
    role.labels().iter().for_each(|l| l.hash(&mut h));
    h.finish()
}

/// The organization that made `meta`, if it is an organization's own child
/// (not a workspace's or a member's).
fn org_child(meta: &kube::api::ObjectMeta) -> Option<ObjectRef<Guard>> {
    let marks = meta.labels.as_ref()?;
    if marks.contains_key(labels::WORKSPACE)
        || marks.contains_key(crate::resources::member::MEMBER_LABEL)
    {
        return None;
    }
    ref_from_labels(meta, false)
}

fn workspaces_of(org: &Organization, ctx: &Context) -> Vec<Workspace> {
    let mut list = ctx.workspaces_in(&organization_namespace(&org.name_any()));
    list.sort_by_key(|w| w.name_any());
    list
}

#[instrument(skip_all, fields(organization = %guard.name_any()))]
async fn reconcile(guard: Arc<Guard>, ctx: Arc<Context>) -> Result<Action> {
    let org = match &guard.0 {
        Ok(org) => org,
        Err(invalid) => {
            tracing::warn!(error = %invalid, "Organization cannot be decoded; waiting for it to change");
            return Ok(Action::await_change());
        }
    };
    if org.meta().deletion_timestamp.is_some() {
        return finalize(org, &ctx).await;
    }
    if !writes::has_finalizer(org) {
        patch_finalizers(org, &ctx, true).await?;
    }
    match apply_children(org, &ctx).await {
        Ok(shared) => {
            ctx.succeeded(org);
            let ns = organization_namespace(&org.name_any());
            let outcome = Outcome::Ready {
                reason: "Ready",
                message: format!(
                    "namespace {ns}, admin access, roles and the default workspace are in place"
                ),
            };
            write_status_shared(org, &ctx, outcome, None, shared).await?;
            Ok(Action::requeue(ctx.settings.resync))
        }
        Err(err @ (Error::Spec { .. } | Error::Conflict { .. })) => {
            write_status(
                org,
                &ctx,
                Outcome::Stalled {
                    reason: err.category(),
                    message: err.to_string(),
                },
                None,
            )
            .await?;
            Ok(super::spec_error_action(&err))
        }
        Err(err) => {
            write_status(
                org,
                &ctx,
                Outcome::Progressing {
                    reason: "Reconciling",
                    message: err.to_string(),
                },
                None,
            )
            .await?;
            Err(err)
        }
    }
}

async fn apply_children(org: &Organization, ctx: &Context) -> Result<Option<Aspect>> {
    let children = build::build(org);
    let uid = org.uid().unwrap_or_default();
    let client = &ctx.client;
    let ns = organization_namespace(&org.name_any());

    let cached = &ctx.children;
    let namespaces = Api::<Namespace>::all(client.clone());
    ensure_owned(&namespaces, &cached.namespaces, &children.namespace, &uid).await?;
    let roles: Api<Role> = Api::namespaced(client.clone(), &ns);
    ensure_cached(&roles, &cached.roles, &children.admin_role).await?;
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &ns);
    match &children.admin_binding {
        Some(b) => ensure_cached(&bindings, &cached.role_bindings, b)
            .await
            .map(drop)?,
        None => delete_owned(
            &bindings,
            Source::Cache(&cached.role_bindings),
            Some(&ns),
            "workspaces.dev:organization-admins",
            &uid,
        )
        .await
        .map(drop)?,
    }
    let cluster_roles: Api<ClusterRole> = Api::all(client.clone());
    ensure_cached(
        &cluster_roles,
        &cached.cluster_roles,
        &children.reader_cluster_role,
    )
    .await?;
    let cluster_bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    match &children.reader_binding {
        Some(b) => ensure_cached(&cluster_bindings, &cached.cluster_role_bindings, b)
            .await
            .map(drop)?,
        None => delete_owned(
            &cluster_bindings,
            Source::Cache(&cached.cluster_role_bindings),
            None,
            &children.reader_cluster_role.name_any(),
            &uid,
        )
        .await
        .map(drop)?,
    }
    let workspace_roles: Api<WorkspaceRole> = Api::namespaced(client.clone(), &ns);
    for role in &children.predefined_roles {
        let live = ctx.roles.get(Some(&ns), &role.name_any());
        let live = live.as_deref().and_then(super::valid);
        apply_unless_current(&workspace_roles, live, role).await?;
    }
    let workspaces: Api<Workspace> = Api::namespaced(client.clone(), &ns);
    let default = &children.default_workspace;
    let live = ctx.workspaces.get(Some(&ns), &default.name_any());
    // Only its mark is the operator's: the spec stays the users' to set.
    apply_unless_contained(&workspaces, live.as_deref().and_then(super::valid), default).await?;

    let targets: Vec<Workspace> = workspaces_of(org, ctx)
        .into_iter()
        .filter(|w| w.meta().deletion_timestamp.is_none())
        .collect();
    let shares = crate::resources::credentials::organization_shares(org, &targets);
    let problems = super::credentials::sync(ctx, &org.name_any(), &ns, None, &uid, &shares).await?;
    Ok(problems.aspect(&shares))
}

async fn patch_finalizers(org: &Organization, ctx: &Context, add: bool) -> Result<()> {
    writes::set_finalizer(ctx, &Api::<Organization>::all(ctx.client.clone()), org, add).await
}

async fn finalize(org: &Organization, ctx: &Context) -> Result<Action> {
    if !writes::has_finalizer(org) {
        return Ok(Action::await_change());
    }
    let name = org.name_any();
    let ns = organization_namespace(&name);
    let workspaces = workspaces_of(org, ctx);
    let default_name = default_workspace_name(org);
    let others: Vec<String> = workspaces
        .iter()
        .map(|w| w.name_any())
        .filter(|n| n != default_name)
        .collect();
    if !others.is_empty() {
        let why = format!(
            "{} workspace(s) remain: {}. Delete them first: kubectl delete workspace -n {ns} {}",
            others.len(),
            others.join(", "),
            others.join(" ")
        );
        let was = org.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == DELETION_BLOCKED && c.message == why)
        });
        if !was {
            ctx.event(org, EventType::Warning, "DeletionBlocked", why.clone())
                .await;
        }
        write_status(
            org,
            ctx,
            Outcome::Progressing {
                reason: "DeletionBlocked",
                message: why.clone(),
            },
            Some(&why),
        )
        .await?;
        return Ok(Action::requeue(super::WAIT_FOR_OTHERS));
    }
    // Only the default workspace is left: delete it, and wait until it is gone
    // (its own finalizer removes its namespace).
    if let Some(default) = workspaces.first() {
        if default.meta().deletion_timestamp.is_none() {
            let api: Api<Workspace> = Api::namespaced(ctx.client.clone(), &ns);
            match api.delete(default_name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(Error::kube("deleting the default workspace")(e)),
            }
        }
        let why = format!("waiting for the default workspace {default_name} to be deleted");
        write_status(
            org,
            ctx,
            Outcome::Progressing {
                reason: "Deleting",
                message: why,
            },
            None,
        )
        .await?;
        return Ok(Action::requeue(super::WAIT_FOR_OTHERS));
    }
    let uid = org.uid().unwrap_or_default();
    super::credentials::prune_copies(ctx, &uid, &Default::default(), true).await?;
    let namespaces = Api::<Namespace>::all(ctx.client.clone());
    if delete_owned(&namespaces, Source::Server, None, &ns, &uid).await? {
        ctx.event(
            org,
            EventType::Normal,
            "NamespaceDeleted",
            format!("namespace {ns} is being deleted"),
        )
        .await;
    }
    // The reader ClusterRole and its binding carry an owner reference to the
    // organization: the garbage collector removes them.
    patch_finalizers(org, ctx, false).await?;
    Ok(Action::await_change())
}

async fn write_status(
    org: &Organization,
    ctx: &Context,
    outcome: Outcome,
    deletion_blocked: Option<&str>,
) -> Result<()> {
    write_status_shared(org, ctx, outcome, deletion_blocked, None).await
}

async fn write_status_shared(
    org: &Organization,
    ctx: &Context,
    outcome: Outcome,
    deletion_blocked: Option<&str>,
    shared: Option<Aspect>,
) -> Result<()> {
    let old = org.status.clone().unwrap_or_default();
    let now = conditions::now();
    let conditions = conditions::next_with_aspect(
        &old.conditions,
        &outcome,
        deletion_blocked,
        shared.as_ref(),
        org.meta().generation,
        &now,
    );
    if let Some(aspect) = &shared {
        super::workspace::announce_aspect(ctx, org, &old.conditions, aspect).await;
    }
    let defaults = org.spec.defaults.as_ref();
    let status = OrganizationStatus {
        namespace: Some(organization_namespace(&org.name_any())),
        workspaces: Some(workspaces_of(org, ctx).len() as i32),
        default_workspace: Some(default_workspace_name(org).to_string()),
        effective_defaults: Some(WorkspaceDefaults {
            accept_anonymous: Some(defaults.and_then(|d| d.accept_anonymous).unwrap_or(true)),
            anonymous_role: Some(
                defaults
                    .and_then(|d| d.anonymous_role.clone())
                    .unwrap_or_else(|| predefined_roles::VIEWER.into()),
            ),
            plan: defaults.and_then(|d| d.plan.clone()),
            network_isolation: Some(defaults.and_then(|d| d.network_isolation).unwrap_or(true)),
        }),
        conditions,
        observed_generation: org.meta().generation,
    };
    let api = Api::<Organization>::all(ctx.client.clone());
    let conditions = (old.conditions.as_slice(), status.conditions.as_slice());
    writes::write_status(
        ctx,
        &api,
        org,
        &old,
        &status,
        conditions,
        deletion_blocked.is_some(),
    )
    .await
}
