//! The floor: the same children the operator makes, built by its own pure
//! builders, written straight to the API server by one client with the
//! operator's credentials and concurrency, operator stopped. What the
//! operator adds on top (reads, finalizers, status, ordering) is the gap.

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
    /// Objects written.
    pub writes: usize,
    /// Units (one per organization, role, workspace, member) over time.
    pub samples: Vec<(f64, usize)>,
    pub writes_by_kind: BTreeMap<String, usize>,
}

/// One object to write, as the operator would: namespaces by create (never
/// taken over), everything else by forced server-side apply.
struct Write {
    ar: ApiResource,
    obj: DynamicObject,
    create: bool,
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
        create,
    }
}

async fn write(client: &Client, w: &Write) -> Result<()> {
    let api: Api<DynamicObject> = match w.obj.namespace() {
        Some(ns) => Api::namespaced_with(client.clone(), &ns, &w.ar),
        None => Api::all_with(client.clone(), &w.ar),
    };
    let name = w.obj.name_any();
    let what = format!("floor: writing {} {name}", w.ar.kind);
    with_retries(&what, || async {
        if w.create {
            existing_is_fine(api.create(&PostParams::default(), &w.obj).await)
        } else {
            let apply = PatchParams::apply(FIELD_MANAGER).force();
            api.patch(&name, &apply, &Patch::Apply(&w.obj))
                .await
                .map(drop)
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
        create: kind == Kind::Namespace,
    }
}

fn with_uid<K: Resource>(mut obj: K, uid: String) -> K {
    obj.meta_mut().uid = Some(uid);
    obj
}

/// Builds every unit's writes, phase by phase: organizations and roles;
/// then workspaces; then members (each phase needs the namespaces of the one
/// before).
async fn build_phases(args: &Args, client: &Client) -> Result<Vec<Vec<Vec<Write>>>> {
    let cluster_roles = Api::<ClusterRole>::all(client.clone());
    let mut orgs_phase = vec![];
    let mut middle_phase = vec![];
    let mut members_phase = vec![];
    for i in 0..args.orgs {
        let name = workload::org_name("floor-", i);
        let org = with_uid(workload::organization(&name), format!("floor-uid-{name}"));
        let c = org_build::build(&org, &operator_policy());
        let mut unit = vec![
            write_of(&c.namespace, true),
            write_of(&c.admin_role, false),
            write_of(&c.reader_cluster_role, false),
        ];
        unit.extend(c.admin_binding.iter().map(|b| write_of(b, false)));
        unit.extend(c.reader_binding.iter().map(|b| write_of(b, false)));
        unit.extend(c.predefined_roles.iter().map(|r| write_of(r, false)));
        unit.push(write_of(&c.default_workspace, false));
        orgs_phase.push(unit);

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
            orgs_phase.push(vec![write_of(&cr, false)]);
            let mut role = WorkspaceRole::new(role_name, spec);
            role.metadata.namespace = Some(name.clone());
            roles.push(with_uid(role, uid));
        }
        let default_ws = with_uid(
            c.default_workspace.clone(),
            format!("floor-uid-{name}-default"),
        );
        let workspaces = std::iter::once(default_ws).chain((0..args.workspaces).map(|j| {
            with_uid(
                workload::workspace(&name, j),
                format!("floor-uid-{name}-w{j}"),
            )
        }));
        for ws in workspaces {
            let c = ws_build::build(&ws, &org, &Default::default())
                .map_err(|e| format!("floor: {e}"))?;
            // Every child the operator makes in the namespace, as the
            // registry knows its kind (`WorkspaceChildren::objects`).
            let unit = c
                .objects()
                .into_iter()
                .map(|(kind, value)| write_of_kind(kind, value))
                .collect();
            middle_phase.push(unit);
        }
        for j in 0..args.workspaces {
            for k in 0..args.members {
                let m = with_uid(
                    workload::bench_member(&name, j, k),
                    format!("floor-uid-{name}-m{k}-w{j}"),
                );
                let access = member_build::build(&m, &roles, false, true);
                let mut unit: Vec<Write> =
                    access.bindings.iter().map(|b| write_of(b, false)).collect();
                unit.extend(access.reader_role.iter().map(|r| write_of(r, false)));
                unit.extend(access.reader_binding.iter().map(|b| write_of(b, false)));
                members_phase.push(unit);
            }
        }
    }
    Ok(vec![orgs_phase, middle_phase, members_phase])
}

pub async fn run(args: &Args, cluster: &crate::cluster::Cluster) -> Result<Floor> {
    let client = cluster.operator_client.clone();
    let phases = build_phases(args, &client).await?;
    let units: usize = phases.iter().map(Vec::len).sum();
    let writes: usize = phases.iter().flatten().map(Vec::len).sum();
    let mut writes_by_kind = BTreeMap::new();
    for w in phases.iter().flatten().flatten() {
        *writes_by_kind.entry(w.ar.kind.clone()).or_insert(0) += 1;
    }
    progress(format!(
        "floor: {writes} objects in {units} units, operator stopped"
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
            .buffer_unordered(4 * args.concurrency)
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<()>>>()?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let mut samples = sampler.await?;
    samples.push((seconds, units));
    progress(format!("floor: {writes} objects written in {seconds:.1} s"));
    Ok(Floor {
        seconds,
        writes,
        samples,
        writes_by_kind,
    })
}

/// The platform settings the benchmark's operator runs with (the test
/// harness turns both delegations on).
fn operator_policy() -> workspace_operator::resources::tenancy::TenantPolicy {
    workspace_operator::resources::tenancy::TenantPolicy {
        delegated_membership: true,
        organization_admins_manage_admins: true,
        ..Default::default()
    }
}
