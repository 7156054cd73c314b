//! Workspace controller: its namespace, access, plan, isolation, info and
//! credential shares (decided in `resources::workspace`); on deletion,
//! unlink-before-delete, then the namespace deleted or kept and released.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::{BoxFuture, Shared};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, ListParams};
use kube::core::DeserializeGuard;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use super::{Context, credentials, workspace_children as children};
use crate::api::common::Condition;
use crate::api::workspace::{WorkspacePhase, WorkspaceStatus};
use crate::api::{Organization, Workspace, WorkspaceMember};
use crate::conditions::{Aspect, Outcome};
use crate::ownership::names::{self, workspace_namespace};
use crate::ownership::registry::{self, Maker};
use crate::ownership::{self, Component, Owner, owner_of};
use crate::resources::credentials::{ShareProblems, workspace_shares};
use crate::resources::decision::Decision;
use crate::resources::guardrails::{self, kept_namespace};
use crate::resources::identity::Identity;
use crate::resources::keeping;
use crate::resources::teardown::{Live, Step};
use crate::resources::workspace::{
    self as decide, LiveNamespace, WorkspaceFacts, WorkspaceInput, WorkspaceWrites, is_conflicted,
};
use crate::resources::{NamespaceOwner, namespace_owner};
use crate::resources::{budget, defaults};
use crate::runtime::apply::Owned;
use crate::runtime::informer::{self, valid};
use crate::runtime::pipeline::{self, Reconciler, Runtime};
use crate::runtime::throttle;
use crate::runtime::{Error, Result};

type Guard = DeserializeGuard<Workspace>;

pub struct Workspaces {
    ctx: Arc<Context>,
    /// One lock per organization with `maxWorkspaces`: its namespaces are
    /// counted and made one at a time.
    budget_locks: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

fn workspace_ref(owner: Owner) -> Option<ObjectRef<Guard>> {
    match &owner {
        Owner::Workspace { name, .. } => Some(ObjectRef::new(name).within(&owner.namespace()?)),
        _ => None,
    }
}

/// The workspace that made `meta`, if a workspace did.
fn made_by_workspace(meta: &kube::api::ObjectMeta) -> Option<ObjectRef<Guard>> {
    workspace_ref(owner_of(meta)?)
}

pub async fn controller(ctx: &Arc<Context>, shutdown: Shared<BoxFuture<'static, ()>>) {
    let [by_org, by_role, by_namespace, by_secret, by_target, by_plan] =
        std::array::from_fn(|_| ctx.clone());
    let cached = &ctx.children;
    let controller = pipeline::controller_of(&ctx.workspaces, ctx.runtime.concurrency)
        // An organization change (plans, admins, defaults) touches all its workspaces.
        .watches_shared_stream(
            ctx.organizations.subscribe_changes(informer::generation),
            move |org| by_org.workspaces.refs_in(&org.name_any(), |_| true),
        )
        // Members change counts and unblock deletions.
        .reconcile_on(throttle::recounts(
            ctx.members.subscribe_changes(informer::generation),
            workspace_of_member,
            informer::is_deleting,
        ))
        .watches_shared_stream(cached.cluster_roles.subscribe(), move |cr| {
            waiting_for_role(&by_role, &cr.metadata)
        })
        .watches_shared_stream(cached.namespaces.subscribe(), move |n| {
            woken_by_namespace(&by_namespace, &n)
        })
        // Its other children, edited or deleted by hand: put back.
        .reconcile_on(cached.changes(
            &registry::kinds_made_by(Maker::Workspace),
            made_by_workspace,
        ))
        // Shared credentials: a source Secret changing, a copy edited or deleted.
        .watches_shared_stream(ctx.secrets.subscribe(), move |s| {
            workspace_ref(credentials::sharer_of_secret(&by_secret, &s.metadata)?)
        })
        .watches_shared_stream(
            ctx.workspaces.subscribe_changes(generation_and_conflict),
            move |target| woken_by_workspace(&by_target, &target),
        )
        // A workspace changing its plan may make room in its organization's
        // budget (only a plan change: any other edit frees nothing).
        .watches_shared_stream(ctx.workspaces.subscribe_changes(plan_signature), move |w| {
            let ns = w.namespace().unwrap_or_default();
            match has_budget(&by_plan, &ns) {
                true => over_budget_in(&by_plan, &ns),
                false => vec![],
            }
        })
        .graceful_shutdown_on(shutdown)
        .run(
            pipeline::reconcile::<Workspaces>,
            pipeline::error_policy::<Workspaces>,
            Arc::new(Workspaces {
                ctx: ctx.clone(),
                budget_locks: Default::default(),
            }),
        );
    pipeline::drain("Workspace", controller).await;
}

/// The workspace a member is linked to.
fn workspace_of_member(m: &DeserializeGuard<WorkspaceMember>) -> Option<ObjectRef<Guard>> {
    let ns = m.namespace()?;
    let ws = valid(m)?.spec.workspace.clone();
    Some(ObjectRef::<Guard>::new(&ws).within(&ns))
}

/// A role's ClusterRole appearing lets the workspaces that wait for it go
/// on: those of its organization not Ready.
fn waiting_for_role(ctx: &Context, meta: &kube::api::ObjectMeta) -> Vec<ObjectRef<Guard>> {
    match owner_of(meta) {
        Some(Owner::Role { organization, .. }) => ctx
            .workspaces
            .refs_in(&names::organization_namespace(&organization), |w| {
                !is_ready(w)
            }),
        _ => vec![],
    }
}

/// Whom a namespace's change concerns: the workspace that made it (edited
/// or deleted by hand: put back), those that share with it (it appeared:
/// they copy into it), and, as it goes (a purge), those the budget held back.
fn woken_by_namespace(ctx: &Context, n: &Namespace) -> Vec<ObjectRef<Guard>> {
    let mut wake: Vec<ObjectRef<Guard>> = made_by_workspace(&n.metadata).into_iter().collect();
    if let Some(Owner::Workspace { organization, name }) = owner_of(&n.metadata) {
        wake.extend(sharers_of(ctx, &organization, &name));
        if n.meta().deletion_timestamp.is_some() {
            wake.extend(over_budget_in(ctx, &organization));
        }
    }
    wake
}

/// Whom a workspace's change concerns: those that share with it (it
/// appeared: they make their copies), every workspace a plan names (those
/// its plan admits, now or before, may connect to it now, or no longer),
/// and, as it goes, those the budget held back.
fn woken_by_workspace(ctx: &Context, target: &Guard) -> Vec<ObjectRef<Guard>> {
    let ns = target.namespace().unwrap_or_default();
    let mut wake = sharers_of(ctx, &ns, &target.name_any());
    wake.extend(admitted_by_plans_of(ctx, &ns));
    if target.meta().deletion_timestamp.is_some() {
        wake.extend(over_budget_in(ctx, &ns));
    }
    wake
}

/// The workspaces of organization `org` that share a credential with `target`.
fn sharers_of(ctx: &Context, org: &str, target: &str) -> Vec<ObjectRef<Guard>> {
    ctx.workspaces
        .refs_in(&names::organization_namespace(org), |w| {
            // Most share nothing: asked without building their shares.
            w.spec.shared_credentials.is_some()
                && workspace_shares(w)
                    .iter()
                    .any(|s| s.targets.iter().any(|t| t == target))
        })
}

/// The workspaces of organization namespace `ns` that any of its plans
/// admits traffic from (by name).
fn admitted_by_plans_of(ctx: &Context, ns: &str) -> Vec<ObjectRef<Guard>> {
    // Read in the cache, not cloned: this runs for every workspace change.
    let Some(guard) = ctx.organizations.get(None, ns) else {
        return vec![];
    };
    let Some(org) = valid(&guard) else {
        return vec![];
    };
    let names: BTreeSet<String> = org
        .spec
        .plans
        .iter()
        .flatten()
        .filter_map(|(_, p)| p.network.as_ref()?.ingress_from_workspaces.clone())
        .flatten()
        .collect();
    names
        .iter()
        .map(|name| ObjectRef::new(name).within(ns))
        .collect()
}

/// What the budget reads of a Workspace's spec: the plan it names.
fn plan_signature(guard: &Guard) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    valid(guard).map(|w| w.spec.plan.clone()).hash(&mut h);
    h.finish()
}

/// Whether the organization of namespace `ns` has a budget.
fn has_budget(ctx: &Context, ns: &str) -> bool {
    ctx.organizations
        .get(None, ns)
        .as_deref()
        .and_then(valid)
        .is_some_and(|o| o.spec.budget.is_some())
}

/// The workspaces of organization `org` its budget holds back.
fn over_budget_in(ctx: &Context, org: &str) -> Vec<ObjectRef<Guard>> {
    ctx.workspaces
        .refs_in(&names::organization_namespace(org), |w| {
            decide::ready_reason_is(w, decide::OVER_BUDGET)
        })
}

/// What others depend on in a Workspace: its spec, and whether its
/// namespace turned out to be someone else's (then nothing is written there).
pub fn generation_and_conflict(guard: &Guard) -> u64 {
    let conflicted = valid(guard).is_some_and(is_conflicted);
    informer::generation(guard) * 2 + u64::from(conflicted)
}

/// Whether `ws` is Ready for its current generation.
fn is_ready(ws: &Workspace) -> bool {
    ws.status.as_ref().is_some_and(|s| {
        crate::conditions::ready_for_generation(
            &s.conditions,
            s.observed_generation,
            ws.meta().generation,
        )
    })
}

/// Members linked to `ws`, except one for its owner (the owner is never unlinked).
pub fn linked_members(ws: &Workspace, members: &[WorkspaceMember]) -> Vec<String> {
    let mut names: Vec<String> = members
        .iter()
        .filter(|m| m.spec.workspace == ws.name_any())
        .filter(|m| ws.spec.owner.as_ref() != Some(&m.spec.subject))
        .map(|m| m.name_any())
        .collect();
    names.sort();
    names
}

impl Workspaces {
    /// A namespace about to be made, or given a larger quota, under a
    /// budget: counted again as the API server lists them, one
    /// organization's at a time (the caches that `decide` read may not show
    /// one made or changed a moment ago). Returns the budget's lock, held
    /// until the namespace and its plan are written, and, for a namespace
    /// that exists (`!fresh`) and is beyond the budget by the API server's
    /// count while the caches said it fits, the refusal: it keeps its plan
    /// (and its record), everything else still follows (access removals,
    /// isolation, the stop on new work) and the refusal is reported after.
    async fn counted(
        &self,
        org: &str,
        ns: &str,
        namespace: &Namespace,
        fresh: bool,
    ) -> Result<(Option<tokio::sync::OwnedMutexGuard<()>>, Option<Error>)> {
        let Some(o) = self.ctx.organization(org) else {
            return Ok((None, None));
        };
        let live = self.ctx.children.namespaces.get(None, ns);
        let held = live.as_ref().map(|n| {
            guardrails::applied_plan(n.meta()).unwrap_or_else(|| guardrails::AppliedPlan {
                name: None,
                quota: budget::largest_quota(&o),
            })
        });
        let wanted = guardrails::applied_plan(&namespace.metadata).unwrap_or_default();
        match self.recount(&o, ns, &wanted, held.as_ref()).await {
            Ok(guard) => Ok((guard, None)),
            Err(err @ Error::Waiting { .. }) if !fresh => Ok((None, Some(err))),
            Err(err) => Err(err),
        }
    }

    /// Makes the namespace (never taking over one it did not make), unless
    /// the budget holds it back; names the tenants' NetworkPolicies that
    /// reach past an isolation newly enforced on it (an upgrade, or the
    /// platform turning it on: not the operator's to delete).
    async fn claim(
        &self,
        ws: &Workspace,
        owned: &Owned<'_>,
        namespace: &Namespace,
        held_back: bool,
    ) -> Result<()> {
        if held_back {
            return Ok(());
        }
        let ctx = &self.ctx;
        let ns = namespace.name_any();
        let newly_isolated = ctx.children.namespaces.get(None, &ns).is_some_and(|live| {
            !live.labels().contains_key(guardrails::ISOLATION_LABEL)
                && namespace.labels().contains_key(guardrails::ISOLATION_LABEL)
        });
        let conflicted = is_conflicted(ws);
        if let Err(err) = owned
            .claimed(&ctx.children.namespaces, namespace, conflicted)
            .await
        {
            if matches!(err, Error::NotOwned { .. }) {
                // Not its namespace: nothing is read from it (its Secrets
                // are not this workspace's to share) and its earlier copies
                // elsewhere go.
                let (org, uid) = (
                    ws.namespace().unwrap_or_default(),
                    ws.uid().unwrap_or_default(),
                );
                credentials::sync(ctx, &org, &ns, Some(&ws.name_any()), &uid, &[]).await?;
            }
            return Err(err);
        }
        if newly_isolated {
            self.report_open_policies(ws, &ns).await?;
        }
        Ok(())
    }

    /// Under a budget, before a namespace is made or its record of a
    /// budgeted key changes (`cached`: the record the cache shows): takes
    /// the organization's lock and checks, by the API server's list of the
    /// organization's workspace namespaces (terminating ones included: their
    /// Pods may still run), that `wanted` fits where it holds more than the
    /// namespace records now; the caches `decide` read may not show a
    /// namespace made, or a plan applied, a moment ago. The lock is held (by
    /// the returned guard) until the namespace and its plan are written.
    async fn recount(
        &self,
        org: &Organization,
        namespace: &str,
        wanted: &guardrails::AppliedPlan,
        cached: Option<&guardrails::AppliedPlan>,
    ) -> Result<Option<tokio::sync::OwnedMutexGuard<()>>> {
        if !budget::recount_needed(org, &wanted.quota, cached.map(|c| &c.quota)) {
            return Ok(None);
        }
        let guard = self.budget_lock(&org.name_any()).lock_owned().await;
        let listed = self.listed_namespaces(org).await?;
        let default = workspace_namespace(&org.name_any(), defaults::default_workspace_name(org));
        match budget::live_refusal(org, namespace, &default, &wanted.quota, &listed) {
            None => Ok(Some(guard)),
            Some(why) => Err(Error::Waiting {
                reason: decide::OVER_BUDGET,
                message: format!("{why}: waiting for the caches to catch up"),
            }),
        }
    }

    /// The lock of organization `name`'s budget.
    fn budget_lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.budget_locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    /// The workspace namespaces of `org` as the API server lists them, with
    /// what each holds (the largest plan's quota where nothing is recorded).
    async fn listed_namespaces(&self, org: &Organization) -> Result<Vec<budget::Listed>> {
        let api: Api<Namespace> = Api::all(self.ctx.client().clone());
        let selector =
            ownership::organization_selector(&org.name_any(), Some(Component::WorkspaceNamespace));
        let listed = api
            .list_metadata(&ListParams::default().labels(&selector))
            .await
            .map_err(Error::request("counting the organization's namespaces"))?;
        let largest = budget::largest_quota(org);
        Ok(listed
            .items
            .iter()
            .map(|n| budget::Listed {
                name: n.name_any(),
                holds: guardrails::held_quota(&n.metadata).unwrap_or_else(|| largest.clone()),
            })
            .collect())
    }

    /// The quotas of the organization's namespaces still terminating whose
    /// workspace is gone (a purge, a deletion): their Pods may still run, so
    /// they keep their place in the budget until they are gone.
    fn terminating(
        org: &Organization,
        namespaces: &[Arc<Namespace>],
        workspaces: &[&Workspace],
    ) -> Vec<std::collections::BTreeMap<String, crate::api::common::QuantityValue>> {
        let largest = crate::resources::budget::largest_quota(org);
        namespaces
            .iter()
            .filter(|n| {
                n.meta().deletion_timestamp.is_some()
                    && ownership::component_of(n.meta()) == Some(Component::WorkspaceNamespace)
                    && !workspaces.iter().any(|w| {
                        ownership::is_owned_by(n.labels().into(), &w.uid().unwrap_or_default())
                    })
            })
            .map(|n| guardrails::held_quota(n.meta()).unwrap_or_else(|| largest.clone()))
            .collect()
    }

    /// Why the organization's budget gives `workspace` no namespace now.
    /// Reads every namespace and workspace of the organization from the
    /// caches: only organizations with a budget pay for it.
    fn budget_refusal(&self, org: &Organization, workspace: &str) -> Option<String> {
        let ctx = &self.ctx;
        let org_name = org.name_any();
        let namespaces = ctx.organization_namespaces(&org_name);
        let kept = Context::kept_of(&namespaces, &org_name);
        let workspaces = ctx.workspaces.shared_in(&org_name);
        let workspaces: Vec<&Workspace> = workspaces.iter().filter_map(|g| valid(g)).collect();
        let candidates: Vec<_> = workspaces
            .iter()
            .map(|w| {
                let name = w.name_any();
                let ns = ctx
                    .children
                    .namespaces
                    .get(None, &workspace_namespace(&org_name, &name));
                let holds = ns.filter(|n| {
                    ownership::is_owned_by(n.labels().into(), &w.uid().unwrap_or_default())
                        || kept.iter().any(|k| k.workspace == name)
                });
                let applied = holds.as_ref().map(|n| guardrails::applied_plan(n.meta()));
                decide::budget_candidate(w, org, applied.as_ref().map(Option::as_ref))
            })
            .collect();
        let pending: Vec<_> = guardrails::pending(&kept, &workspaces)
            .map(|k| k.quota.clone())
            .chain(Self::terminating(org, &namespaces, &workspaces))
            .collect();
        budget::refusal(org, &candidates, &pending, workspace)
    }

    /// Who holds the workspace's namespace (in the cache), the UID of a
    /// deleted workspace of this name and organization whose kept namespace
    /// this one is to take back, and what it reads of the namespace (its
    /// own, or the one it restores).
    fn own_namespace(
        &self,
        ws: &Workspace,
        identity: &Identity,
    ) -> (NamespaceOwner, Option<String>, LiveNamespace) {
        let own = self.ctx.children.namespaces.get(None, &identity.namespace);
        let own_meta = own.as_deref().map(|n| &n.metadata);
        let namespace = namespace_owner(own_meta, ws);
        let restore_from = own_meta
            .and_then(kept_namespace)
            .filter(|k| {
                namespace != NamespaceOwner::ThisWorkspace
                    && k.organization == identity.organization
                    && k.workspace == identity.name
                    && ws.meta().deletion_timestamp.is_none()
            })
            .map(|k| k.owner_uid);
        let theirs = own_meta
            .filter(|_| namespace == NamespaceOwner::ThisWorkspace || restore_from.is_some());
        let live = LiveNamespace {
            platform: theirs.map(guardrails::platform_metadata),
            applied: theirs.and_then(guardrails::applied_plan),
        };
        (namespace, restore_from, live)
    }

    /// The workspaces whose plans admit traffic from this one. Only
    /// organizations whose plans admit other workspaces pay for reading
    /// their workspaces here.
    fn reaches(&self, organization: Option<&Organization>, identity: &Identity) -> Vec<String> {
        let Some(org) = organization.filter(|o| {
            o.spec.plans.iter().flatten().any(|(_, p)| {
                p.network
                    .as_ref()
                    .is_some_and(|n| n.ingress_from_workspaces.is_some())
            })
        }) else {
            return vec![];
        };
        let shared = self.ctx.workspaces.shared_in(&identity.organization);
        let all: Vec<&Workspace> = shared.iter().filter_map(|g| valid(g)).collect();
        decide::admitting(org, &all, &identity.name)
    }

    /// The namespace `name` as the API server has it now (its metadata).
    async fn namespace_now(&self, name: &str) -> Result<Option<kube::api::ObjectMeta>> {
        let api: Api<Namespace> = Api::all(self.ctx.client().clone());
        let live = api
            .get_metadata_opt(name)
            .await
            .map_err(Error::request("reading the namespace"))?;
        Ok(live.map(|n| n.metadata))
    }

    /// Publishes a Warning naming the tenants' NetworkPolicies in `namespace`
    /// that reach past the isolation now enforced there.
    async fn report_open_policies(&self, ws: &Workspace, namespace: &str) -> Result<()> {
        let api: Api<NetworkPolicy> = Api::namespaced(self.ctx.client().clone(), namespace);
        let listed = api
            .list(&ListParams::default())
            .await
            .map_err(Error::request("listing the namespace's network policies"))?;
        let open: Vec<String> = listed
            .items
            .iter()
            .filter(|p| {
                ownership::component_of(p.meta()).is_none() && guardrails::reaches_outside(p)
            })
            .map(|p| p.name_any())
            .collect();
        if !open.is_empty() {
            let note = format!(
                "network isolation is enforced in {namespace} now, but NetworkPolicies written before admit traffic from or to outside it: {}. Isolation does not hold until they are removed (kubectl delete networkpolicy -n {namespace} {}); the operator does not delete what it did not make",
                open.join(", "),
                open.join(" ")
            );
            self.ctx
                .runtime
                .reporter
                .event(ws, EventType::Warning, "OpenNetworkPolicies", note)
                .await;
        }
        Ok(())
    }
}

impl Reconciler for Workspaces {
    type Kind = Workspace;
    type Status = WorkspaceStatus;
    type Input = WorkspaceInput;
    type Children = WorkspaceWrites;
    type Facts = WorkspaceFacts;
    type Applied = ShareProblems;
    const KIND: &'static str = "Workspace";

    fn runtime(&self) -> &Runtime {
        &self.ctx.runtime
    }

    fn status_of(ws: &Workspace) -> Option<&WorkspaceStatus> {
        ws.status.as_ref()
    }

    fn conditions_of(status: &WorkspaceStatus) -> &[Condition] {
        &status.conditions
    }

    fn made_anything_for(&self, uid: &str) -> bool {
        self.ctx.made_anything_for(uid)
    }

    fn api(&self, ws: &Workspace) -> Api<Workspace> {
        Api::namespaced(
            self.ctx.client().clone(),
            &ws.namespace().unwrap_or_default(),
        )
    }

    async fn read(&self, ws: &Workspace) -> Result<WorkspaceInput> {
        let ctx = &self.ctx;
        let identity = Identity::of_workspace(ws);
        let org = &identity.organization;
        let roles: BTreeSet<String> = ctx.roles_in(org).iter().map(|r| r.name_any()).collect();
        let role_cluster_roles = roles
            .iter()
            .map(|r| names::role(org, r))
            .filter(|name| ctx.children.cluster_roles.get(None, name).is_some())
            .collect();
        let (namespace, restore_from, live) = self.own_namespace(ws, &identity);
        let organization = ctx.organization(org);
        let budget_refusal = organization
            .as_ref()
            .filter(|o| o.spec.budget.is_some())
            .and_then(|o| self.budget_refusal(o, &identity.name));
        let members = ctx
            .members
            .valid_where(org, |m| m.spec.workspace == identity.name);
        let mut input = WorkspaceInput {
            namespace,
            reaches: self.reaches(organization.as_ref(), &identity),
            budget_refusal,
            restore_from,
            live,
            organization,
            linked_members: linked_members(ws, &members),
            roles,
            role_cluster_roles,
            namespace_now: Live::NotRead,
            now: jiff::Timestamp::now(),
        };
        let going = ws.meta().deletion_timestamp.is_some()
            && decide::deletion_blocker(ws, &input).is_none()
            && keeping::reads_live_namespace(ws, &input);
        if going || input.restore_from.is_some() {
            let found = self.namespace_now(&identity.namespace).await?;
            input.namespace_now = Live::read(found);
        }
        Ok(input)
    }

    fn decide(
        &self,
        ws: &Workspace,
        input: &WorkspaceInput,
    ) -> Decision<WorkspaceWrites, WorkspaceFacts> {
        decide::decide(ws, input, &self.ctx.tenancy)
    }

    async fn apply(&self, ws: &Workspace, children: WorkspaceWrites) -> Result<ShareProblems> {
        let WorkspaceWrites {
            namespace,
            role_bindings,
            mut settings,
            readers,
            shares,
        } = children;
        let ctx = &self.ctx;
        let uid = ws.uid().unwrap_or_default();
        let org = ws.namespace().unwrap_or_default();
        let ws_name = ws.name_any();
        let ns = workspace_namespace(&org, &ws_name);
        let owned = Owned::new(ctx.client(), &uid);
        let cached = &ctx.children;
        let fresh = cached.namespaces.get(None, &ns).is_none();
        let (_counted, held_back) = self.counted(&org, &ns, &namespace, fresh).await?;
        if held_back.is_some() {
            settings.plan = None;
        }
        self.claim(ws, &owned, &namespace, held_back.is_some())
            .await?;
        // Once the namespace exists, its guardrails are written, then its
        // access, readers and shares concurrently. One that cannot be
        // written never holds back another's write, nor the credential
        // shares (a removed share is a revocation); the first failure is
        // reported after all were tried.
        let here = Some(ns.as_str());
        let access = owned.set(
            &cached.role_bindings,
            here,
            Component::WorkspaceAccess,
            &role_bindings,
        );
        let readers = children::write_readers(&owned, cached, &org, &ws_name, readers);
        let shared = credentials::sync(ctx, &org, &ns, Some(&ws_name), &uid, &shares);
        // The guardrails first (quota, isolation, the stop on new work),
        // then who may enter: a new namespace never grants access before
        // they hold, nor does an archive. A guardrail that cannot be written
        // still holds back no access change (a removal is a revocation).
        let settings = match children::write_settings(&owned, cached, &ns, settings).await {
            // A new namespace grants nothing before its guardrails hold.
            Err(err) if fresh => return Err(err),
            settings => settings,
        };
        let (access, readers, shared) = futures::join!(access, readers, shared);
        let problems = shared?;
        access?;
        settings?;
        readers?;
        match held_back {
            Some(err) => Err(err),
            None => Ok(problems),
        }
    }

    fn aspect(applied: &ShareProblems) -> Option<Aspect> {
        applied.aspect()
    }

    fn status(
        &self,
        ws: &Workspace,
        facts: &WorkspaceFacts,
        outcome: &Outcome,
        conditions: Vec<Condition>,
    ) -> WorkspaceStatus {
        let effective = facts.effective.as_ref();
        let phase = match outcome {
            _ if facts.terminating => WorkspacePhase::Terminating,
            Outcome::Ready { .. } if effective.is_some_and(|e| e.archived) => {
                WorkspacePhase::Archived
            }
            Outcome::Ready { .. } => WorkspacePhase::Ready,
            Outcome::Stalled { .. } => WorkspacePhase::Failed,
            Outcome::Progressing { .. } => WorkspacePhase::Pending,
        };
        let org = ws.namespace().unwrap_or_default();
        let old_namespace = ws.status.as_ref().and_then(|s| s.namespace.clone());
        WorkspaceStatus {
            organization: Some(org.clone()),
            namespace: facts
                .default
                .map(|_| workspace_namespace(&org, &ws.name_any()))
                .or(old_namespace),
            phase: Some(phase),
            members: Some(facts.members),
            plan: facts.plan.clone(),
            accept_anonymous: effective.map(|e| e.accept_anonymous),
            anonymous_role: effective.map(|e| e.anonymous_role.clone()),
            network_isolation: effective.map(|e| e.network_isolation),
            default: facts.default,
            conditions,
            observed_generation: ws.meta().generation,
        }
    }

    async fn carry_out(&self, ws: &Workspace, steps: Vec<Step>) -> Result<()> {
        super::teardown::carry_out(&self.ctx, ws, steps).await
    }
}
