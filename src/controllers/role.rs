//! WorkspaceRole controller: one ClusterRole per role, holding its rules and
//! those of the ClusterRoles it includes, if the tenant ceiling covers them
//! (decided in `resources::role`). Its own: the watches, the live reads of
//! included ClusterRoles, and the memory of grants the API server refused.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::{BoxFuture, Shared};
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use super::Context;
use crate::api::WorkspaceRole;
use crate::api::common::Condition;
use crate::api::role::WorkspaceRoleStatus;
use crate::conditions::Outcome;
use crate::ownership::registry::{self, Maker};
use crate::ownership::{Component, Owner, names, owner_of};
use crate::resources::decision::{Decision, Plan};
use crate::resources::role::{
    self as decide, Included, RefusedGrant, RoleChildren, RoleFacts, RoleInput, granted_spec,
    rules_digest,
};
use crate::resources::teardown::Step;
use crate::runtime::apply::{Owned, Source};
use crate::runtime::informer::{self, valid};
use crate::runtime::pipeline::{self, Reconciler, Runtime};
use crate::runtime::throttle;
use crate::runtime::{Error, Result};

type Guard = DeserializeGuard<WorkspaceRole>;

pub struct Roles {
    ctx: Arc<Context>,
    /// Rules the API server refused to let the operator grant, by role
    /// UID. Not asked again until they change; one entry per role at most,
    /// removed when the role goes.
    refused: Mutex<HashMap<String, RefusedGrant>>,
}

/// The outcome of writing the ClusterRole.
pub enum Applied {
    Written,
    /// Refused by the API server (403): what the status says about it.
    NotHeld(String),
}

pub async fn controller(ctx: &Arc<Context>, shutdown: Shared<BoxFuture<'static, ()>>) {
    let me = Arc::new(Roles {
        ctx: ctx.clone(),
        refused: Mutex::default(),
    });
    let all_roles = ctx.roles.store.clone();
    let controller = pipeline::controller_of(&ctx.roles, ctx.runtime.concurrency)
        // Its ClusterRole edited or deleted by hand: put back.
        .reconcile_on(
            ctx.children
                .changes(&registry::kinds_made_by(Maker::Role), made_by_role),
        )
        // A changed ceiling may admit or refuse any role.
        .watches_shared_stream(ctx.ceiling.subscribe(), move |_| {
            all_roles
                .state()
                .into_iter()
                .map(|r| ObjectRef::from_obj(&*r))
                .collect::<Vec<_>>()
        })
        // Members change the count, and stopping to use a role unblocks its deletion.
        .reconcile_on(throttle::recounts(
            ctx.members.subscribe_changes(informer::generation),
            |m| {
                let ns = m.namespace().unwrap_or_default();
                let roles = valid(m).map(|m| m.spec.roles.clone()).unwrap_or_default();
                roles
                    .into_iter()
                    .map(move |r| ObjectRef::<Guard>::new(&r).within(&ns))
                    .collect::<Vec<_>>()
            },
            informer::is_deleting,
        ))
        .graceful_shutdown_on(shutdown)
        .run(
            pipeline::reconcile::<Roles>,
            pipeline::error_policy::<Roles>,
            me,
        );
    pipeline::drain("WorkspaceRole", controller).await;
}

/// The role that made `meta`, if a role did.
fn made_by_role(meta: &kube::api::ObjectMeta) -> Option<ObjectRef<Guard>> {
    match owner_of(meta)? {
        Owner::Role { organization, name } => {
            Some(ObjectRef::new(&name).within(&names::organization_namespace(&organization)))
        }
        _ => None,
    }
}

impl Roles {
    fn remembered(&self, role: &WorkspaceRole) -> Option<RefusedGrant> {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&role.uid().unwrap_or_default())
            .cloned()
    }

    fn forget(&self, role: &WorkspaceRole) {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&role.uid().unwrap_or_default());
    }

    /// The rules of the included ClusterRoles, read live (aggregated ones
    /// change without any event here); only those the platform allows.
    async fn included(&self, role: &WorkspaceRole) -> Result<Included> {
        let includes = granted_spec(role).cluster_roles.unwrap_or_default();
        if !self
            .ctx
            .tenancy
            .disallowed_cluster_roles(&includes)
            .is_empty()
        {
            return Ok(Included::NotRead);
        }
        let api: Api<ClusterRole> = Api::all(self.ctx.client().clone());
        let mut rules: Vec<PolicyRule> = vec![];
        let mut missing = vec![];
        for name in &includes {
            match api
                .get_opt(name)
                .await
                .map_err(Error::request(format!("reading ClusterRole {name}")))?
            {
                Some(cr) => rules.extend(cr.rules.unwrap_or_default()),
                None => missing.push(name.clone()),
            }
        }
        Ok(if missing.is_empty() {
            Included::Found(rules)
        } else {
            Included::Missing(missing)
        })
    }
}

impl Reconciler for Roles {
    type Kind = WorkspaceRole;
    type Status = WorkspaceRoleStatus;
    type Input = RoleInput;
    type Children = RoleChildren;
    type Facts = RoleFacts;
    type Applied = Applied;
    const KIND: &'static str = "WorkspaceRole";

    fn runtime(&self) -> &Runtime {
        &self.ctx.runtime
    }

    fn status_of(role: &WorkspaceRole) -> Option<&WorkspaceRoleStatus> {
        role.status.as_ref()
    }

    fn conditions_of(status: &WorkspaceRoleStatus) -> &[Condition] {
        &status.conditions
    }

    fn made_anything_for(&self, uid: &str) -> bool {
        self.ctx.made_anything_for(uid)
    }

    fn api(&self, role: &WorkspaceRole) -> Api<WorkspaceRole> {
        Api::namespaced(
            self.ctx.client().clone(),
            &role.namespace().unwrap_or_default(),
        )
    }

    async fn read(&self, role: &WorkspaceRole) -> Result<RoleInput> {
        let ctx = &self.ctx;
        let ns = role.namespace().unwrap_or_default();
        let name = role.name_any();
        let organization = ctx.organization(&ns);
        let deleting = role.meta().deletion_timestamp.is_some();
        let mut users: Vec<String> = vec![];
        if deleting {
            users.extend(
                ctx.members
                    .valid_where(&ns, |m| m.spec.roles.contains(&name))
                    .iter()
                    .map(|m| format!("WorkspaceMember {}", m.name_any())),
            );
            users.extend(
                ctx.workspaces
                    .valid_where(&ns, |w| {
                        w.spec.anonymous_role.as_deref() == Some(name.as_str())
                    })
                    .iter()
                    .map(|w| format!("Workspace {} (anonymousRole)", w.name_any())),
            );
        }
        let included = if deleting || organization.is_none() {
            Included::NotRead
        } else {
            self.included(role).await?
        };
        let ceiling = ctx
            .ceiling
            .get(None, &ctx.tenancy.ceiling)
            .map(|c| c.rules.clone().unwrap_or_default());
        let refused_before = self.remembered(role);
        let members = ctx.members.count_in(&ns, |m| m.spec.roles.contains(&name)) as i32;
        Ok(RoleInput {
            organization,
            included,
            ceiling,
            refused_before,
            users,
            members,
        })
    }

    fn decide(&self, role: &WorkspaceRole, input: &RoleInput) -> Decision<RoleChildren, RoleFacts> {
        decide::decide(role, input, &self.ctx.tenancy)
    }

    async fn apply(&self, role: &WorkspaceRole, children: RoleChildren) -> Result<Applied> {
        let RoleChildren { cluster_role } = children;
        let uid = role.uid().unwrap_or_default();
        let owned = Owned::new(self.ctx.client(), &uid);
        let cache = &self.ctx.children.cluster_roles;
        let Some(desired) = cluster_role else {
            if owned
                .prune(
                    Source::Cache(cache),
                    None,
                    Component::Role,
                    &Default::default(),
                )
                .await?
                > 0
            {
                tracing::info!("role refused: its ClusterRole is removed");
            }
            return Ok(Applied::Written);
        };
        // Only a refusal of the grant itself is the ceiling's business; the
        // pruning of names of an earlier scheme comes after it.
        match owned.one(cache, &desired).await {
            Ok(_) => {
                self.forget(role);
                let keep = BTreeSet::from([desired.name_any()]);
                owned
                    .prune(Source::Cache(cache), None, Component::Role, &keep)
                    .await?;
                Ok(Applied::Written)
            }
            Err(err) if err.status_code() == Some(403) => {
                // Inside the ceiling, yet refused: retrying cannot help.
                let digest = rules_digest(desired.rules.as_deref().unwrap_or_default());
                let message = match &err {
                    Error::Request {
                        source: kube::Error::Api(s),
                        ..
                    } => s.message.clone(),
                    other => other.to_string(),
                };
                let message = decide::not_held(&self.ctx.tenancy, &message, &digest);
                let generation = role.meta().generation.unwrap_or_default();
                self.refused
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(
                        uid.clone(),
                        RefusedGrant {
                            generation,
                            digest,
                            message: message.clone(),
                        },
                    );
                Ok(Applied::NotHeld(message))
            }
            Err(err) => Err(err),
        }
    }

    fn settle(&self, plan: &mut Plan<RoleChildren, RoleFacts>, applied: &Applied) {
        if let Applied::NotHeld(message) = applied {
            plan.outcome = crate::resources::decision::stalled(decide::NOT_HELD, message.clone());
            plan.facts.cluster_role = None;
            plan.next = crate::resources::decision::Next::AwaitChange;
        }
    }

    fn status(
        &self,
        role: &WorkspaceRole,
        facts: &RoleFacts,
        _outcome: &Outcome,
        conditions: Vec<Condition>,
    ) -> WorkspaceRoleStatus {
        WorkspaceRoleStatus {
            cluster_role: facts.cluster_role.clone(),
            members: Some(facts.members),
            conditions,
            observed_generation: role.meta().generation,
        }
    }

    async fn carry_out(&self, role: &WorkspaceRole, steps: Vec<Step>) -> Result<()> {
        super::teardown::carry_out(&self.ctx, role, steps).await
    }

    fn forget(&self, role: &WorkspaceRole) {
        Roles::forget(self, role)
    }
}
