//! The fault suite: while organizations, workspaces and members converge, the
//! operator is killed with SIGKILL at random moments and started again; then,
//! during a second wave of changes, kube-apiserver is killed and restarted;
//! then, during a third wave (with children tampered with by hand), etcd is.
//! After each, the final state is compared object by object with the desired
//! state rebuilt from what the users applied (`desired.rs`), every member's
//! access is asked of the API server's authorizer, and every object of the
//! users' own is checked to be the same object as before.
//!
//! Runs on a control plane of its own (it restarts etcd and the API server).
//! Scale: small in `make test`; `make faults` runs it larger. Set
//! `WSOP_FAULT_SCALE=orgs=4,workspaces=75,members=10,kills=30` to choose, and
//! `WSOP_FAULT_SEED` to replay the random moments of a run (printed).

mod desired;
mod workload;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use workspace_operator::api::{Workspace, WorkspaceMember};
use workspace_operator::ownership;
use workspace_operator::ownership::names::workspace_namespace;

use crate::support::{
    ControlPlane, Scope, apply_value, eventually, ready_condition, restart_component,
    start_operator_on,
};
use desired::AccessCheck;

/// How much the suite creates and how often it kills the operator.
#[derive(Clone, Debug)]
pub struct Scale {
    pub orgs: usize,
    /// Workspaces per organization, besides its default workspace.
    pub workspaces: usize,
    /// Members per workspace.
    pub members: usize,
    /// SIGKILLs of the operator during the first wave.
    pub kills: usize,
}

impl Scale {
    fn from_env() -> Scale {
        let mut scale = Scale {
            orgs: 2,
            workspaces: 6,
            members: 4,
            kills: 8,
        };
        let spec = std::env::var("WSOP_FAULT_SCALE").unwrap_or_default();
        for part in spec.split(',').filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .unwrap_or_else(|| panic!("WSOP_FAULT_SCALE: {part:?} is not key=value"));
            let value: usize = value
                .parse()
                .unwrap_or_else(|_| panic!("WSOP_FAULT_SCALE: {part:?} is not a number"));
            match key {
                "orgs" => scale.orgs = value,
                "workspaces" => scale.workspaces = value,
                "members" => scale.members = value,
                "kills" => scale.kills = value,
                _ => panic!("WSOP_FAULT_SCALE: unknown key {key:?}"),
            }
        }
        assert!(
            scale.workspaces >= 4 && scale.members >= 2,
            "WSOP_FAULT_SCALE needs at least 4 workspaces and 2 members"
        );
        scale
    }

    /// How long convergence may take after a fault.
    fn limit(&self) -> Duration {
        let objects = self.orgs * self.workspaces * (self.members + 1);
        Duration::from_secs(180 + objects as u64 / 5)
    }
}

/// xorshift64*: the random moments of a run, replayable from its seed.
struct Rng(u64);

impl Rng {
    fn from_env() -> Rng {
        let seed = std::env::var("WSOP_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("fault suite: WSOP_FAULT_SEED={seed}");
        Rng(seed)
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let r = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        Duration::from_millis(from + r % (to - from))
    }
}

/// How long a write may keep failing: namespaces appear only once the
/// operator made them, and the API server may be down for a while.
const RETRY: Duration = Duration::from_secs(180);

async fn apply(client: &Client, value: &Value) -> DynamicObject {
    eventually(&format!("apply {}", value["metadata"]), RETRY, || async {
        apply_value(client, value).await.map_err(|e| e.to_string())
    })
    .await
}

async fn apply_all(client: &Client, values: Vec<Value>) {
    futures::stream::iter(values)
        .for_each_concurrent(16, |v| {
            let client = client.clone();
            async move { drop(apply(&client, &v).await) }
        })
        .await;
}

/// Deletes with retries; gone already is fine.
async fn delete<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    eventually(&format!("delete {name}"), RETRY, || async {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

/// The suite's own model of who is a member where with which roles: the
/// expected access is derived from it, not from the operator's builders.
struct Model {
    run: String,
    scale: Scale,
    /// (org, workspace, user index) -> roles
    members: BTreeMap<(usize, usize, usize), Vec<&'static str>>,
    archived: BTreeSet<(usize, usize)>,
    deleted_workspaces: BTreeSet<(usize, usize)>,
    /// Users' own objects: (kind, namespace, name) -> (apiVersion, UID when
    /// created).
    user_objects: BTreeMap<(String, String, String), (String, String)>,
}

impl Model {
    fn orgs(&self) -> Vec<String> {
        (0..self.scale.orgs)
            .map(|i| workload::org_name(&self.run, i))
            .collect()
    }

    fn workspaces(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.scale.orgs).flat_map(move |i| {
            (0..self.scale.workspaces)
                .map(move |j| (i, j))
                .filter(|w| !self.deleted_workspaces.contains(w))
        })
    }

    /// Every check of what each user may do: its own organization's
    /// workspaces, and the first workspace of every other organization.
    fn access_checks(&self) -> Vec<AccessCheck> {
        let mut checks = vec![];
        let users = self.scale.members + 1;
        for i in 0..self.scale.orgs {
            let org = workload::org_name(&self.run, i);
            let mut people: Vec<(String, Option<usize>)> = (0..users)
                .map(|k| (workload::user_name(&org, k), Some(k)))
                .collect();
            people.push((format!("{org}-admin"), None));
            for (user, k) in people {
                for (wi, j) in self.workspaces() {
                    if wi != i && j != 0 {
                        continue;
                    }
                    let ns = workspace_namespace(
                        &workload::org_name(&self.run, wi),
                        &workload::workspace_name(j),
                    );
                    let same_org = wi == i;
                    let roles = k
                        .and_then(|k| self.members.get(&(wi, j, k)))
                        .filter(|_| same_org);
                    // User 0 owns every workspace of its organization; the
                    // organization's admin is admin in all of them.
                    let admin = same_org && (k == Some(0) || k.is_none());
                    let editor = admin || roles.is_some_and(|r| r.contains(&"editor"));
                    let reader = editor || roles.is_some();
                    let writable = !self.archived.contains(&(wi, j));
                    for (verb, resource, expected) in [
                        ("get", "pods", reader),
                        ("create", "pods", editor && writable),
                        ("get", "secrets", editor && writable),
                    ] {
                        checks.push(AccessCheck {
                            user: user.clone(),
                            verb,
                            resource,
                            namespace: ns.clone(),
                            expected,
                        });
                    }
                }
            }
        }
        checks
    }
}

/// One row of the report.
struct Row {
    fault: String,
    injected: usize,
    converged: Duration,
    desired: usize,
    live: usize,
    access: usize,
    user_objects: usize,
}

/// Every object of the four kinds in the suite's organizations is Ready for
/// its generation, and nothing is being deleted.
fn all_ready(world: &desired::World) -> Result<(), String> {
    fn check<K>(items: &[K], what: &str) -> Result<(), String>
    where
        K: kube::Resource + serde::Serialize,
    {
        for obj in items {
            if obj.meta().deletion_timestamp.is_some() {
                return Err(format!("{what} {} is being deleted", obj.name_any()));
            }
            match ready_condition(obj) {
                Some((s, _, _)) if s == "True" => {}
                other => return Err(format!("{what} {}: {other:?}", obj.name_any())),
            }
        }
        Ok(())
    }
    check(&world.organizations, "Organization")?;
    check(&world.workspaces, "Workspace")?;
    check(&world.roles, "WorkspaceRole")?;
    check(&world.members, "WorkspaceMember")
}

/// Users' objects that are gone or were replaced by another object.
async fn lost_user_objects(client: &Client, model: &Model) -> Vec<String> {
    let mut lost = vec![];
    for ((kind, ns, name), (api_version, uid)) in &model.user_objects {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
        match api.get_opt(name).await.map(|o| o.and_then(|o| o.uid())) {
            Ok(Some(u)) if &u == uid => {}
            other => lost.push(format!("{kind} {ns}/{name}: {other:?}")),
        }
    }
    lost
}

/// Waits until everything is Ready, the live state equals the desired state
/// and every access check gives the expected answer; panics with the last
/// differences after the scale's limit.
async fn converge(
    client: &Client,
    model: &Model,
    fault: &str,
    injected: usize,
    since: Instant,
) -> Row {
    let orgs = model.orgs();
    let checks = model.access_checks();
    let limit = model.scale.limit();
    let mut last = String::new();
    while since.elapsed() < limit {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let world = match desired::read_world(client, &orgs).await {
            Ok(world) => world,
            Err(e) => {
                last = format!("reading the objects failed: {e}");
                continue;
            }
        };
        if let Err(why) = all_ready(&world) {
            last = format!("not Ready: {why}");
            continue;
        }
        let comparison = match desired::compare(client, &orgs, &world).await {
            Ok(c) => c,
            Err(e) => {
                last = format!("compare failed: {e}");
                continue;
            }
        };
        if !comparison.is_clean() {
            last = comparison.summary();
            continue;
        }
        let wrong = desired::check_access(client, &checks).await;
        if !wrong.is_empty() {
            last = format!(
                "{} of {} access checks wrong, e.g. {:?}",
                wrong.len(),
                checks.len(),
                &wrong[..wrong.len().min(5)]
            );
            continue;
        }
        let converged = since.elapsed();
        let lost = lost_user_objects(client, model).await;
        assert!(
            lost.is_empty(),
            "after {fault}: users' objects lost: {lost:?}"
        );
        eprintln!(
            "fault suite: {fault} x{injected}: converged in {converged:.1?}; {}",
            comparison.summary()
        );
        return Row {
            fault: fault.to_string(),
            injected,
            converged,
            desired: comparison.desired,
            live: comparison.live,
            access: checks.len(),
            user_objects: model.user_objects.len(),
        };
    }
    panic!("after {fault} x{injected}: not converged in {limit:?}: {last}");
}

/// Creates the users' Secrets, ConfigMaps and RoleBindings once the
/// namespaces they go into exist, and records their UIDs.
async fn create_user_objects(client: &Client, model: &mut Model) {
    let mut values = vec![];
    for org in model.orgs().iter() {
        values.push(workload::secret(org, "org-token", &format!("{org}-secret")));
        for j in 0..model.scale.workspaces {
            let ns = workspace_namespace(org, &workload::workspace_name(j));
            if j == 0 {
                values.push(workload::secret(&ns, "w0-key", "w0-secret"));
            }
            values.push(workload::user_config_map(&ns));
            values.push(workload::user_role_binding(&ns, &format!("{org}-auditor")));
        }
    }
    let created: Vec<DynamicObject> = futures::stream::iter(values)
        .map(|v| async move { apply(client, &v).await })
        .buffer_unordered(16)
        .collect()
        .await;
    for obj in created {
        let types = obj.types.clone().expect("an applied object has its type");
        let key = (
            types.kind,
            obj.namespace().expect("namespaced"),
            obj.name_any(),
        );
        let uid = obj.uid().expect("an applied object has a UID");
        model.user_objects.insert(key, (types.api_version, uid));
    }
}

/// Hand edits of generated children in workspace 0 of every organization:
/// a member's RoleBinding and the NetworkPolicy deleted, the quota and the
/// info ConfigMap changed, a credential copy deleted.
async fn tamper(client: &Client, model: &Model) -> usize {
    let mut edits = 0;
    let managed = ListParams::default().labels(&ownership::managed_selector());
    for org in model.orgs() {
        let ns = workspace_namespace(&org, &workload::workspace_name(0));
        let bindings = Api::<RoleBinding>::namespaced(client.clone(), &ns);
        let list = bindings.list(&managed).await.expect("list bindings");
        if let Some(b) = list
            .items
            .iter()
            .find(|b| b.name_any().contains(":member:"))
        {
            delete(&bindings, &b.name_any()).await;
            edits += 1;
        }
        let policies = Api::<NetworkPolicy>::namespaced(client.clone(), &ns);
        for p in policies.list(&managed).await.expect("list policies").items {
            delete(&policies, &p.name_any()).await;
            edits += 1;
        }
        let quotas = Api::<ResourceQuota>::namespaced(client.clone(), &ns);
        for q in quotas.list(&managed).await.expect("list quotas").items {
            let patch = json!({"spec": {"hard": {"pods": "999"}}});
            quotas
                .patch(
                    &q.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .expect("edit quota");
            edits += 1;
        }
        let config_maps = Api::<ConfigMap>::namespaced(client.clone(), &ns);
        for c in config_maps
            .list(&managed)
            .await
            .expect("list config maps")
            .items
        {
            let patch = json!({"data": {"REGION": "tampered"}});
            config_maps
                .patch(
                    &c.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .expect("edit config map");
            edits += 1;
        }
        let w1 = workspace_namespace(&org, &workload::workspace_name(1));
        let secrets = Api::<Secret>::namespaced(client.clone(), &w1);
        for s in secrets.list(&managed).await.expect("list copies").items {
            delete(&secrets, &s.name_any()).await;
            edits += 1;
        }
    }
    edits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operator_apiserver_and_etcd_faults_leave_exactly_the_desired_state() {
    let scale = Scale::from_env();
    eprintln!("fault suite: {scale:?}");
    let plane = ControlPlane::start("faults");
    let operator = Arc::new(start_operator_on(&plane.dir));
    let admin = plane.admin().await;
    let mut rng = Rng::from_env();
    let mut model = Model {
        run: Scope::new("flt").id,
        scale: scale.clone(),
        members: BTreeMap::new(),
        archived: BTreeSet::new(),
        deleted_workspaces: BTreeSet::new(),
        user_objects: BTreeMap::new(),
    };
    let orgs = model.orgs();
    let mut rows = vec![];

    // Wave 1: everything created while the operator is SIGKILLed again and again.
    let start = Instant::now();
    let moments: Vec<Duration> = (0..scale.kills).map(|_| rng.millis(300, 4000)).collect();
    let killer = {
        let op = operator.clone();
        tokio::task::spawn_blocking(move || {
            for pause in moments {
                std::thread::sleep(pause);
                op.kill_and_start().expect("the operator starts again");
            }
        })
    };
    let mut values = vec![];
    for org in &orgs {
        values.push(workload::organization(org));
        values.push(workload::deployer_role(org));
    }
    for (i, org) in orgs.iter().enumerate() {
        for j in 0..scale.workspaces {
            values.push(workload::workspace(org, j, &scale));
            for k in 0..scale.members {
                let roles = workload::initial_roles(j, k);
                values.push(workload::member(org, j, k, &roles));
                model.members.insert((i, j, k), roles);
            }
        }
    }
    apply_all(&admin, values).await;
    create_user_objects(&admin, &mut model).await;
    killer.await.expect("the kill loop ends");
    assert!(operator.alive(), "the operator runs after the kill loop");
    rows.push(converge(&admin, &model, "operator SIGKILL", scale.kills, start).await);

    // Wave 2: roles changed, members removed and added, a workspace archived
    // and another given a new plan, while kube-apiserver is killed and
    // restarted (down 3 s).
    let start = Instant::now();
    let mut values = vec![];
    let mut gone = vec![];
    for (i, org) in orgs.iter().enumerate() {
        for j in 0..scale.workspaces {
            for k in 0..scale.members {
                if (j + k) % 4 == 0 {
                    let roles = if model.members[&(i, j, k)] == vec!["viewer"] {
                        vec!["editor"]
                    } else {
                        vec!["viewer"]
                    };
                    values.push(workload::member(org, j, k, &roles));
                    model.members.insert((i, j, k), roles);
                } else if (j + k) % 5 == 1 {
                    gone.push((org.clone(), workload::member_name(j, k)));
                    model.members.remove(&(i, j, k));
                }
            }
            let k = scale.members;
            values.push(workload::member(org, j, k, &["viewer"]));
            model.members.insert((i, j, k), vec!["viewer"]);
        }
        let mut archived = workload::workspace(org, 1, &scale);
        archived["spec"]["archived"] = json!(true);
        values.push(archived);
        model.archived.insert((i, 1));
        let mut bigger = workload::workspace(org, 2, &scale);
        bigger["spec"]["plan"] = json!("large");
        values.push(bigger);
    }
    let pause = rng.millis(500, 2500);
    let dir = plane.dir.clone();
    let restart = tokio::task::spawn_blocking(move || {
        std::thread::sleep(pause);
        restart_component(&dir, "kube-apiserver", Duration::from_secs(3));
    });
    let deletes = async {
        futures::stream::iter(gone)
            .for_each_concurrent(16, |(org, name)| {
                let api = Api::<WorkspaceMember>::namespaced(admin.clone(), &org);
                async move { delete(&api, &name).await }
            })
            .await
    };
    futures::join!(apply_all(&admin, values), deletes);
    restart.await.expect("kube-apiserver restarted");
    // Hand edits at once, while the operator's watches re-list.
    let edits = tamper(&admin, &model).await;
    assert!(
        operator.alive(),
        "the operator survives a kube-apiserver restart"
    );
    let mut row = converge(&admin, &model, "kube-apiserver restart", 1, start).await;
    row.fault = format!("kube-apiserver restart + {edits} hand edits");
    row.injected += edits;
    rows.push(row);

    // Wave 3: the archive lifted, the last workspace removed with its
    // members, more members removed, while etcd is killed and restarted
    // (down 3 s); generated children tampered with by hand as soon as the API
    // server answers again, while the operator's watches are still being
    // re-established (a deletion then has no watch event of its own).
    let start = Instant::now();
    let pause = rng.millis(200, 1500);
    let dir = plane.dir.clone();
    let restart = tokio::task::spawn_blocking(move || {
        std::thread::sleep(pause);
        restart_component(&dir, "etcd", Duration::from_secs(3));
    });
    let last = scale.workspaces - 1;
    let mut values = vec![];
    let mut gone = vec![];
    for (i, org) in orgs.iter().enumerate() {
        values.push(workload::workspace(org, 1, &scale));
        model.archived.remove(&(i, 1));
        for j in 0..scale.workspaces {
            for k in 0..=scale.members {
                if model.members.contains_key(&(i, j, k)) && (j == last || (j + k) % 5 == 2) {
                    gone.push((org.clone(), workload::member_name(j, k)));
                    model.members.remove(&(i, j, k));
                }
            }
        }
        model.deleted_workspaces.insert((i, last));
        let ns = workspace_namespace(org, &workload::workspace_name(last));
        model.user_objects.retain(|(_, n, _), _| *n != ns);
    }
    let deletes = async {
        futures::stream::iter(gone)
            .for_each_concurrent(16, |(org, name)| {
                let api = Api::<WorkspaceMember>::namespaced(admin.clone(), &org);
                async move { delete(&api, &name).await }
            })
            .await;
        for org in &orgs {
            let api = Api::<Workspace>::namespaced(admin.clone(), org);
            delete(&api, &workload::workspace_name(last)).await;
        }
    };
    futures::join!(apply_all(&admin, values), deletes);
    restart.await.expect("etcd restarted");
    let tampered = tamper(&admin, &model).await;
    assert!(operator.alive(), "the operator survives an etcd restart");
    let mut row = converge(&admin, &model, "etcd restart + hand edits", 1, start).await;
    row.fault = format!("etcd restart + {tampered} hand edits");
    row.injected += tampered;
    rows.push(row);

    // Wave 4: nothing else changes. kube-apiserver is restarted and children
    // are edited by hand the moment it answers: a deletion made before the
    // operator's watches are back has no watch event, and no other change
    // wakes the owners; only the re-list can tell.
    let start = Instant::now();
    let dir = plane.dir.clone();
    tokio::task::spawn_blocking(move || {
        restart_component(&dir, "kube-apiserver", Duration::from_secs(1))
    })
    .await
    .expect("kube-apiserver restarted");
    let edits = tamper(&admin, &model).await;
    let mut row = converge(&admin, &model, "quiet kube-apiserver restart", 1, start).await;
    row.fault = format!("quiet kube-apiserver restart + {edits} hand edits");
    row.injected += edits;
    rows.push(row);

    // The removed workspaces' namespaces are gone, not just unmarked.
    let namespaces = Api::<Namespace>::all(admin.clone());
    for org in &orgs {
        let ns = workspace_namespace(org, &workload::workspace_name(last));
        assert!(
            namespaces.get_opt(&ns).await.unwrap().is_none(),
            "namespace {ns} of a deleted workspace still exists"
        );
    }

    eprintln!("\nfault suite ({scale:?}):");
    eprintln!(
        "{:<46} {:>8} {:>10} {:>8} {:>6} {:>7} {:>6}",
        "fault", "injected", "converged", "desired", "live", "access", "users'"
    );
    for r in &rows {
        eprintln!(
            "{:<46} {:>8} {:>9.1}s {:>8} {:>6} {:>7} {:>6}",
            r.fault,
            r.injected,
            r.converged.as_secs_f64(),
            r.desired,
            r.live,
            r.access,
            r.user_objects
        );
    }
    let total: usize = rows.iter().map(|r| r.desired + r.live).sum();
    let access: usize = rows.iter().map(|r| r.access).sum();
    eprintln!(
        "faults injected: {}; objects compared: {total}; access checks: {access}; nothing lost, nothing leaked",
        rows.iter().map(|r| r.injected).sum::<usize>()
    );
    // How often a re-list found children deleted while a watch was down
    // (restored only because the re-list reports them): timing decides.
    let log =
        std::fs::read_to_string(plane.dir.join("logs/workspace-operator.log")).unwrap_or_default();
    eprintln!(
        "re-lists that found deletions made while the watch was down: {}",
        log.matches("deleted while the watch was down").count()
    );
}
