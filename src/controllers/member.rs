//! WorkspaceMember controller: a RoleBinding per role in the workspace
//! namespace, read access to its own Workspace, removal on expiry (at that
//! moment) and on deletion (before the object goes); decided in
//! `resources::member`.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::{BoxFuture, Shared};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, Role, RoleBinding};
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use super::Context;
use crate::api::WorkspaceMember;
use crate::api::WorkspaceRole;
use crate::api::common::Condition;
use crate::api::member::WorkspaceMemberStatus;
use crate::conditions::{self, Outcome};
use crate::ownership::names::{self, workspace_namespace};
use crate::ownership::registry::{self, Maker};
use crate::ownership::{Component, Owner, owner_of};
use crate::resources::decision::Decision;
use crate::resources::delegation;
use crate::resources::member::{self as decide, MemberChildren, MemberFacts, MemberInput, Writes};
use crate::resources::namespace_owner;
use crate::resources::teardown::Step;
use crate::runtime::Result;
use crate::runtime::apply::{Owned, Source};
use crate::runtime::informer::{self, valid};
use crate::runtime::pipeline::{self, Reconciler, Runtime};

type Guard = DeserializeGuard<WorkspaceMember>;

pub struct Members {
    ctx: Arc<Context>,
}

pub async fn controller(ctx: &Arc<Context>, shutdown: Shared<BoxFuture<'static, ()>>) {
    let (by_workspace, by_role, by_namespace) = (ctx.clone(), ctx.clone(), ctx.clone());
    let controller = pipeline::controller_of(&ctx.members, ctx.runtime.concurrency)
        // Archive mode and the workspace's existence change what members get.
        .watches_shared_stream(
            ctx.workspaces
                .subscribe_changes(super::workspace::generation_and_conflict),
            move |ws| {
                let (ns, name) = (ws.namespace().unwrap_or_default(), ws.name_any());
                by_workspace
                    .members
                    .refs_in(&ns, |m| m.spec.workspace == name)
            },
        )
        // A role appearing, disappearing or becoming ready.
        .watches_shared_stream(ctx.roles.subscribe_changes(role_signature), move |role| {
            let (ns, name) = (role.namespace().unwrap_or_default(), role.name_any());
            by_role
                .members
                .refs_in(&ns, |m| m.spec.roles.contains(&name))
        })
        // A workspace's namespace appearing (or losing its marks).
        .watches_shared_stream(
            ctx.children.namespaces.subscribe(),
            move |n| match owner_of(&n.metadata) {
                Some(Owner::Workspace { organization, name }) => by_namespace
                    .members
                    .refs_in(&names::organization_namespace(&organization), |m| {
                        m.spec.workspace == name
                    }),
                _ => vec![],
            },
        )
        // Its children edited or deleted by hand: put back.
        .reconcile_on(
            ctx.children
                .changes(&registry::kinds_made_by(Maker::Member), member_of),
        )
        .graceful_shutdown_on(shutdown)
        .run(
            pipeline::reconcile::<Members>,
            pipeline::error_policy::<Members>,
            Arc::new(Members { ctx: ctx.clone() }),
        );
    pipeline::drain("WorkspaceMember", controller).await;
}

/// Whether a change of `member` may take access away (it is being
/// deleted, or its status says it grants nothing): those who follow its
/// grants must see it at once. A grant given may wait for the next recount
/// (at most `throttle::RECOUNT_PERIOD`): a thousand new members make a few
/// rewrites of their organization's visitor bindings, not a thousand.
pub fn revoking_or_deleting(member: &Guard) -> bool {
    valid(member).is_none_or(|m| {
        m.meta().deletion_timestamp.is_some()
            || m.status.as_ref().is_some_and(|s| {
                s.phase != Some(crate::api::member::MemberPhase::Active)
                    || s.granted_roles.as_ref().is_none_or(Vec::is_empty)
            })
    })
}

fn member_of(meta: &kube::api::ObjectMeta) -> Option<ObjectRef<Guard>> {
    match owner_of(meta)? {
        owner @ Owner::Member { .. } => {
            Some(ObjectRef::new(owner.name()).within(&owner.namespace()?))
        }
        _ => None,
    }
}

/// What members depend on in a role: its rules and whether it is Ready.
fn role_signature(guard: &DeserializeGuard<WorkspaceRole>) -> u64 {
    let ready = valid(guard).is_some_and(|role| {
        role.status.as_ref().is_some_and(|s| {
            conditions::ready_for_generation(
                &s.conditions,
                s.observed_generation,
                role.meta().generation,
            )
        })
    });
    informer::generation(guard) * 2 + u64::from(ready)
}

impl Members {
    /// While its workspace is being deleted: removes the bindings `children`
    /// no longer has and a reader Role's managing rules, adding nothing.
    async fn remove_unwanted(
        &self,
        member: &WorkspaceMember,
        owned: &Owned<'_>,
        children: MemberChildren,
    ) -> Result<()> {
        let cached = &self.ctx.children;
        let here = Some(children.namespace.as_str());
        let keep: BTreeSet<String> = children.bindings.iter().map(|b| b.name_any()).collect();
        let from = Source::Cache(&cached.role_bindings);
        owned
            .prune(from, here, Component::MemberAccess, &keep)
            .await?;
        // Nor does anyone manage members any more (new ones would hold
        // the deletion open); an existing reader Role keeps its reads.
        let org = member.namespace().unwrap_or_default();
        let reader_name = names::member_reader(&member.name_any());
        if let Some(mut role) = children.reader_role
            && cached.roles.get(Some(&org), &reader_name).is_some()
        {
            role.rules = role.rules.map(|rules| {
                rules
                    .into_iter()
                    .filter(|r| !delegation::is_managing(r))
                    .collect()
            });
            owned.one(&cached.roles, &role).await?;
        }
        Ok(())
    }

    /// Writes the workspace bindings, the reader access and the visitor
    /// binding as `children` has them (None and empty sets remove).
    async fn write_all(
        &self,
        member: &WorkspaceMember,
        owned: &Owned<'_>,
        children: MemberChildren,
    ) -> Result<()> {
        let MemberChildren {
            namespace,
            bindings,
            reader_role,
            reader_binding,
            visitor,
            writes: _,
        } = children;
        let cached = &self.ctx.children;
        // The workspace bindings and the reader access are independent:
        // written concurrently. (The reader binding needs its Role first:
        // RBAC checks the Role it binds; and goes before it.)
        let grants = owned.set(
            &cached.role_bindings,
            Some(namespace.as_str()),
            Component::MemberAccess,
            &bindings,
        );
        let reader = self.write_reader(member, owned, reader_role, reader_binding);
        let org = member.namespace().unwrap_or_default();
        let visitor_name = names::member_visitor(&org, &member.name_any());
        let visitor = owned.optional::<ClusterRoleBinding>(
            &cached.cluster_role_bindings,
            None,
            &visitor_name,
            visitor.as_ref(),
        );
        futures::try_join!(grants, reader, visitor)?;
        Ok(())
    }

    /// Writes (or removes, when None) the reader Role and its binding in the
    /// organization namespace, in the order RBAC needs.
    async fn write_reader(
        &self,
        member: &WorkspaceMember,
        owned: &Owned<'_>,
        reader_role: Option<Role>,
        reader_binding: Option<RoleBinding>,
    ) -> Result<()> {
        let cached = &self.ctx.children;
        let org = member.namespace().unwrap_or_default();
        let reader_name = names::member_reader(&member.name_any());
        let here = Some(org.as_str());
        let granting = reader_role.is_some();
        let role = owned.optional(&cached.roles, here, &reader_name, reader_role.as_ref());
        let binding = owned.optional(
            &cached.role_bindings,
            here,
            &reader_name,
            reader_binding.as_ref(),
        );
        // Futures run when awaited: the Role before its binding when
        // granting, the binding first when revoking.
        if granting {
            role.await?;
            binding.await?;
        } else {
            binding.await?;
            role.await?;
        }
        Ok(())
    }
}

impl Reconciler for Members {
    type Kind = WorkspaceMember;
    type Status = WorkspaceMemberStatus;
    type Input = MemberInput;
    type Children = MemberChildren;
    type Facts = MemberFacts;
    type Applied = ();
    const KIND: &'static str = "WorkspaceMember";

    fn runtime(&self) -> &Runtime {
        &self.ctx.runtime
    }

    fn status_of(member: &WorkspaceMember) -> Option<&WorkspaceMemberStatus> {
        member.status.as_ref()
    }

    fn conditions_of(status: &WorkspaceMemberStatus) -> &[Condition] {
        &status.conditions
    }

    fn made_anything_for(&self, uid: &str) -> bool {
        self.ctx.made_anything_for(uid)
    }

    fn api(&self, member: &WorkspaceMember) -> Api<WorkspaceMember> {
        Api::namespaced(
            self.ctx.client().clone(),
            &member.namespace().unwrap_or_default(),
        )
    }

    async fn read(&self, member: &WorkspaceMember) -> Result<MemberInput> {
        let ctx = &self.ctx;
        let org = member.namespace().unwrap_or_default();
        let workspace = ctx.workspace(&org, &member.spec.workspace);
        let ns = workspace_namespace(&org, &member.spec.workspace);
        let namespace = match &workspace {
            Some(ws) => {
                let cached = ctx.children.namespaces.get(None, &ns);
                namespace_owner(cached.as_deref().map(|n| &n.metadata), ws)
            }
            None => crate::resources::NamespaceOwner::NotYet,
        };
        Ok(MemberInput {
            now: jiff::Timestamp::now(),
            organization: ctx.organization(&org),
            workspace,
            namespace,
            roles: ctx.roles_in(&org),
        })
    }

    fn decide(
        &self,
        member: &WorkspaceMember,
        input: &MemberInput,
    ) -> Decision<MemberChildren, MemberFacts> {
        decide::decide(member, input, &self.ctx.tenancy)
    }

    async fn apply(&self, member: &WorkspaceMember, children: MemberChildren) -> Result<()> {
        let uid = member.uid().unwrap_or_default();
        let owned = Owned::new(self.ctx.client(), &uid);
        match children.writes {
            Writes::RemovalsOnly => self.remove_unwanted(member, &owned, children).await,
            Writes::All => self.write_all(member, &owned, children).await,
        }
    }

    fn status(
        &self,
        member: &WorkspaceMember,
        facts: &MemberFacts,
        _outcome: &Outcome,
        conditions: Vec<Condition>,
    ) -> WorkspaceMemberStatus {
        WorkspaceMemberStatus {
            phase: Some(facts.phase),
            namespace: Some(workspace_namespace(
                &member.namespace().unwrap_or_default(),
                &member.spec.workspace,
            )),
            granted_roles: Some(facts.granted.clone()),
            workspace_uid: facts.workspace_uid.clone(),
            conditions,
            observed_generation: member.meta().generation,
        }
    }

    async fn carry_out(&self, member: &WorkspaceMember, steps: Vec<Step>) -> Result<()> {
        super::teardown::carry_out(&self.ctx, member, steps).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::member::{MemberPhase, WorkspaceMemberStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn member(status: Option<(MemberPhase, &[&str])>, deleting: bool) -> Guard {
        let mut m = WorkspaceMember::new(
            "m",
            serde_json::from_value(serde_json::json!({
                "workspace": "lab",
                "subject": {"kind": "User", "name": "carol"},
                "roles": ["viewer"],
            }))
            .expect("a valid spec"),
        );
        m.status = status.map(|(phase, roles)| WorkspaceMemberStatus {
            phase: Some(phase),
            granted_roles: Some(roles.iter().map(|r| r.to_string()).collect()),
            ..Default::default()
        });
        if deleting {
            m.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        }
        DeserializeGuard(Ok(m))
    }

    #[test]
    fn only_a_change_that_may_take_access_away_wakes_the_organization_at_once() {
        // Granted: may wait for the next recount.
        assert!(!revoking_or_deleting(&member(
            Some((MemberPhase::Active, &["viewer"])),
            false
        )));
        // New, not reconciled yet: grants nothing yet.
        assert!(!revoking_or_deleting(&member(None, false)));
        // Going, expired, failed or granted nothing: at once.
        assert!(revoking_or_deleting(&member(
            Some((MemberPhase::Active, &["viewer"])),
            true
        )));
        assert!(revoking_or_deleting(&member(None, true)));
        assert!(revoking_or_deleting(&member(
            Some((MemberPhase::Expired, &[])),
            false
        )));
        assert!(revoking_or_deleting(&member(
            Some((MemberPhase::Failed, &[])),
            false
        )));
        assert!(revoking_or_deleting(&member(
            Some((MemberPhase::Active, &[])),
            false
        )));
    }
}
