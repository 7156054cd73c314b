//! The floor: the same final state, written directly, operator stopped.
//! The users' creates of the four kinds (as the create phase makes them,
//! during its timed window), every child the operator makes (built by its
//! own pure builders: organization children, role ClusterRoles, workspace
//! children, readers and owner roles, member bindings and readers), each
//! organization's final visitor bindings once, and one status per object
//! (observedGeneration and Ready). One client with the operator's
//! credentials, 32 in flight. What the operator adds beyond this (reads,
//! finalizers, Events, intermediate statuses and writes, ordering) is the gap.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use workspace_operator::api::WorkspaceRole;
use workspace_operator::ownership::Kind;
use workspace_operator::resources::{
    member as member_build, organization as org_build, predefined_roles, role as role_build,
    workspace as ws_build,
};

use crate::workload;
use crate::{Args, Result, existing_is_fine, progress, with_retries};

const FIELD_MANAGER: &str = "workspace-operator-floor";

#[derive(Debug, Default)]
pub struct Floor {
    pub seconds: f64,
    /// Writes sent: creates, applies and status writes.
    pub writes: usize,
    /// Of them, the operator's children (what its caches hold besides the
    /// four kinds).
    pub children: usize,
    /// Objects of the four kinds written (each with its status).
    pub objects: usize,
    /// Units (one per organization, role, workspace, member) over time.
    pub samples: Vec<(f64, usize)>,
    pub writes_by_kind: BTreeMap<String, usize>,
}

/// One write: a user's create of one of the four kinds, a namespace the
/// operator creates (never taken over), anything else the operator applies
/// (forced server-side apply), or one status.
struct Write {
    ar: ApiResource,
    obj: DynamicObject,
    how: How,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum How {
    Create,
    Apply,
    /// The status subresource: observedGeneration and Ready, once.
    Status,
}

fn write_of<K: Resource<DynamicType = ()> + Serialize + Clone>(obj: &K, create: bool) -> Write {
    // The owners here are made up; the garbage collector would delete what
    // points at them (and bindings to a deleted role then fail).
    let mut obj = obj.clone();
    obj.meta_mut().owner_references = None;
    let value = serde_json::to_value(&obj).expect("objects serialize");
    Write {
        ar: ApiResource::erase::<K>(&()),
        obj: serde_json::from_value(value).expect("an object is a DynamicObject"),
        how: if create { How::Create } else { How::Apply },
    }
}

/// The one status write of `obj` (one of the four kinds): converged, Ready.
fn status_of<K: Resource<DynamicType = ()> + Serialize + Clone>(obj: &K) -> Write {
    let mut w = write_of(obj, false);
    w.how = How::Status;
    w.obj.data = serde_json::json!({"status": {
        "observedGeneration": 1,
        "conditions": [{
            "type": "Ready",
            "status": "True",
            "reason": "Ready",
            "message": "in place",
            "lastTransitionTime": jiff::Timestamp::now().round(jiff::Unit::Second).map(|t| t.to_string()).unwrap_or_default(),
            "observedGeneration": 1,
        }],
    }});
    w
}

async fn write(client: &Client, w: &Write) -> Result<()> {
    let api: Api<DynamicObject> = match w.obj.namespace() {
        Some(ns) => Api::namespaced_with(client.clone(), &ns, &w.ar),
        None => Api::all_with(client.clone(), &w.ar),
    };
    let name = w.obj.name_any();
    let what = format!("floor: writing {} {name}", w.ar.kind);
    with_retries(&what, || async {
        match w.how {
            How::Create => existing_is_fine(api.create(&PostParams::default(), &w.obj).await),
            How::Apply => {
                let apply = PatchParams::apply(FIELD_MANAGER).force();
                api.patch(&name, &apply, &Patch::Apply(&w.obj))
                    .await
                    .map(drop)
            }
            How::Status => {
                let status = Patch::Merge(&w.obj.data);
                api.patch_status(&name, &PatchParams::default(), &status)
                    .await
                    .map(drop)
            }
        }
    })
    .await
}

/// A child of a registry `Kind`, given as JSON: namespaces by create,
/// everything else by apply.
fn write_of_kind(kind: Kind, value: serde_json::Value) -> Write {
    use k8s_openapi::api::core::v1 as core;
    use k8s_openapi::api::networking::v1 as net;
    use k8s_openapi::api::rbac::v1 as rbac;
    let ar = match kind {
        Kind::Namespace => ApiResource::erase::<core::Namespace>(&()),
        Kind::Role => ApiResource::erase::<rbac::Role>(&()),
        Kind::RoleBinding => ApiResource::erase::<rbac::RoleBinding>(&()),
        Kind::ClusterRole => ApiResource::erase::<rbac::ClusterRole>(&()),
        Kind::ClusterRoleBinding => ApiResource::erase::<rbac::ClusterRoleBinding>(&()),
        Kind::ResourceQuota => ApiResource::erase::<core::ResourceQuota>(&()),
        Kind::LimitRange => ApiResource::erase::<core::LimitRange>(&()),
        Kind::NetworkPolicy => ApiResource::erase::<net::NetworkPolicy>(&()),
        Kind::ConfigMap => ApiResource::erase::<core::ConfigMap>(&()),
        Kind::Secret => ApiResource::erase::<core::Secret>(&()),
    };
    let mut obj: DynamicObject =
        serde_json::from_value(value).expect("an object is a DynamicObject");
    obj.metadata.owner_references = None;
    Write {
        ar,
        obj,
        how: if kind == Kind::Namespace {
            How::Create
        } else {
            How::Apply
        },
    }
}

fn with_uid<K: Resource>(mut obj: K, uid: String) -> K {
    obj.meta_mut().uid = Some(uid);
    obj
}

/// The phases of the floor: units written concurrently within a phase (a
/// unit's writes one after another), each phase after the one before.
type Phases = Vec<Vec<Vec<Write>>>;

/// Builds every unit's writes, phase by phase, in the order the work
/// depends on: organizations (the user's create, their children) and
/// their roles' ClusterRoles; workspaces (the user's create, children,
/// readers); members (the user's create, bindings, reader); then each
/// organization's final visitor bindings and one status per object.
async fn build_phases(args: &Args, client: &Client) -> Result<Phases> {
    let cluster_roles = Api::<ClusterRole>::all(client.clone());
    let policy = operator_policy();
    let mut phases: Phases = vec![vec![], vec![], vec![], vec![]];
    for i in 0..args.orgs {
        let name = workload::org_name("floor-", i);
        let org = with_uid(workload::organization(&name), format!("floor-uid-{name}"));
        let c = org_build::build(&org, &policy);
        phases[0].push(organization_unit(&org, &c));
        let mut roles: Vec<WorkspaceRole> = vec![];
        for (role_name, spec) in predefined_roles::all() {
            let mut included = vec![];
            for cr in spec.cluster_roles.iter().flatten() {
                if let Some(cr) = cluster_roles.get_opt(cr).await? {
                    included.extend(cr.rules.unwrap_or_default());
                }
            }
            let uid = format!("floor-uid-{name}-{role_name}");
            let cr = role_build::cluster_role(&name, role_name, &uid, &spec, &included);
            // RoleBindings to it need it to exist (RBAC escalation check).
            phases[0].push(vec![write_of(&cr, false)]);
            let mut role = WorkspaceRole::new(role_name, spec);
            role.metadata.namespace = Some(name.clone());
            roles.push(with_uid(role, uid));
        }
        let default_ws = with_uid(
            c.default_workspace.clone(),
            format!("floor-uid-{name}-default"),
        );
        let created = (0..args.workspaces).map(|j| {
            with_uid(
                workload::workspace(&name, j),
                format!("floor-uid-{name}-w{j}"),
            )
        });
        let workspaces: Vec<_> = std::iter::once(default_ws).chain(created).collect();
        for (n, ws) in workspaces.iter().enumerate() {
            // The default workspace is the operator's to create (above).
            phases[1].push(workspace_unit(ws, &org, &policy, n > 0)?);
        }
        let mut members = vec![];
        for j in 0..args.workspaces {
            for k in 0..args.members {
                let m = with_uid(
                    workload::bench_member(&name, j, k),
                    format!("floor-uid-{name}-m{k}-w{j}"),
                );
                phases[2].push(member_unit(&m, &roles));
                members.push(granted(m));
            }
        }
        phases[3].extend(finishing_units(
            &org,
            &workspaces,
            &roles,
            &members,
            &policy,
        ));
    }
    Ok(phases)
}

/// An organization's unit: the user's create, then its children (the
/// predefined roles and default workspace among them).
fn organization_unit(
    org: &workspace_operator::api::Organization,
    c: &org_build::OrganizationChildren,
) -> Vec<Write> {
    let mut created = org.clone();
    created.metadata.uid = None;
    let mut unit = vec![
        write_of(&created, true),
        write_of(&c.namespace, true),
        write_of(&c.admin_role, false),
        write_of(&c.reader_cluster_role, false),
    ];
    unit.extend(c.admin_binding.iter().map(|b| write_of(b, false)));
    unit.extend(c.reader_binding.iter().map(|b| write_of(b, false)));
    unit.extend(c.editors_cluster_role.iter().map(|r| write_of(r, false)));
    unit.extend(c.editors_binding.iter().map(|b| write_of(b, false)));
    unit.extend(c.predefined_roles.iter().map(|r| write_of(r, false)));
    unit.push(write_of(&c.default_workspace, false));
    unit
}

/// A workspace's unit: the user's create (`created`), then every child
/// the operator makes for it, its readers and its owner's Role last (a
/// RoleBinding needs its Role first).
fn workspace_unit(
    ws: &workspace_operator::api::Workspace,
    org: &workspace_operator::api::Organization,
    policy: &workspace_operator::resources::tenancy::TenantPolicy,
    created: bool,
) -> Result<Vec<Write>> {
    let c = ws_build::build(ws, org, &Default::default()).map_err(|e| format!("floor: {e}"))?;
    let mut unit = vec![];
    if created {
        let mut plain = ws.clone();
        plain.metadata.uid = None;
        unit.push(write_of(&plain, true));
    }
    // Every child the operator makes in the namespace, as the registry
    // knows its kind (`WorkspaceChildren::objects`).
    unit.extend(
        c.objects()
            .into_iter()
            .map(|(kind, value)| write_of_kind(kind, value)),
    );
    let readers = ws_build::readers_of(ws, org, policy);
    unit.push(write_of(&readers.role, false));
    unit.extend(readers.binding.iter().map(|b| write_of(b, false)));
    if let Some((role, binding)) = &readers.owner_manages {
        unit.push(write_of(role, false));
        unit.push(write_of(binding, false));
    }
    Ok(unit)
}

/// A member's unit: the user's create, then its bindings and reader.
fn member_unit(
    m: &workspace_operator::api::WorkspaceMember,
    roles: &[WorkspaceRole],
) -> Vec<Write> {
    let mut plain = m.clone();
    plain.metadata.uid = None;
    let access = member_build::build(m, roles, false, true);
    let mut unit = vec![write_of(&plain, true)];
    unit.extend(access.bindings.iter().map(|b| write_of(b, false)));
    unit.extend(access.reader_role.iter().map(|r| write_of(r, false)));
    unit.extend(access.reader_binding.iter().map(|b| write_of(b, false)));
    unit
}

/// `m` as converged: Active, granted its roles.
fn granted(
    mut m: workspace_operator::api::WorkspaceMember,
) -> workspace_operator::api::WorkspaceMember {
    m.status = Some(workspace_operator::api::member::WorkspaceMemberStatus {
        phase: Some(workspace_operator::api::member::MemberPhase::Active),
        granted_roles: Some(m.spec.roles.clone()),
        ..Default::default()
    });
    m
}

/// The last writes of an organization: its final visitor bindings, once,
/// and one status for it and for each of its workspaces, roles and members.
fn finishing_units(
    org: &workspace_operator::api::Organization,
    workspaces: &[workspace_operator::api::Workspace],
    roles: &[WorkspaceRole],
    members: &[workspace_operator::api::WorkspaceMember],
    policy: &workspace_operator::resources::tenancy::TenantPolicy,
) -> Vec<Vec<Write>> {
    let ws_refs: Vec<_> = workspaces.iter().collect();
    let member_refs: Vec<_> = members.iter().collect();
    let visitors = org_build::visitors(org, &ws_refs, &member_refs, policy, jiff::Timestamp::now());
    let mut units: Vec<Vec<Write>> = visitors.iter().map(|v| vec![write_of(v, false)]).collect();
    units.push(vec![status_of(org)]);
    units.extend(workspaces.iter().map(|w| vec![status_of(w)]));
    units.extend(roles.iter().map(|r| vec![status_of(r)]));
    units.extend(members.iter().map(|m| vec![status_of(m)]));
    units
}

pub async fn run(args: &Args, cluster: &crate::cluster::Cluster) -> Result<Floor> {
    let client = cluster.operator_client.clone();
    let phases = build_phases(args, &client).await?;
    let units: usize = phases.iter().map(Vec::len).sum();
    let all: Vec<&Write> = phases.iter().flatten().flatten().collect();
    let writes = all.len();
    let objects = all.iter().filter(|w| w.how == How::Status).count();
    let children = all
        .iter()
        .filter(|w| w.how != How::Status && w.ar.group != "workspaces.dev")
        .count();
    let mut writes_by_kind = BTreeMap::new();
    for w in &all {
        let kind = match w.how {
            How::Status => format!("{} status", w.ar.kind),
            How::Create | How::Apply => w.ar.kind.clone(),
        };
        *writes_by_kind.entry(kind).or_insert(0) += 1;
    }
    progress(format!(
        "floor: {writes} writes for {objects} objects in {units} units, operator stopped"
    ));
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let sampler = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut samples = vec![(0.0, 0)];
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let n = done.load(Ordering::Relaxed);
                samples.push((start.elapsed().as_secs_f64(), n));
                if n >= units {
                    return samples;
                }
            }
        })
    };
    for phase in &phases {
        let results: Vec<Result<()>> = futures::stream::iter(phase)
            .map(|unit| {
                let (client, done) = (client.clone(), done.clone());
                async move {
                    for w in unit {
                        write(&client, w).await?;
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
            })
            .buffer_unordered(crate::IN_FLIGHT)
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<()>>>()?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let mut samples = sampler.await?;
    samples.push((seconds, units));
    progress(format!("floor: {writes} writes in {seconds:.1} s"));
    Ok(Floor {
        seconds,
        writes,
        children,
        objects,
        samples,
        writes_by_kind,
    })
}

/// The platform settings the benchmark's operator runs with (the test
/// harness turns both delegations and owners' settings on).
fn operator_policy() -> workspace_operator::resources::tenancy::TenantPolicy {
    workspace_operator::resources::tenancy::TenantPolicy {
        delegated_membership: true,
        organization_admins_manage_admins: true,
        owners_edit_settings: true,
        ..Default::default()
    }
}
