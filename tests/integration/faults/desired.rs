//! The desired state of a set of organizations, rebuilt from the objects the
//! users applied with the operator's own pure builders, and compared object
//! by object with what is live: every desired child exists and holds what it
//! should; no child the operator marks as its own exists beyond those; every
//! member's access, as the API server's authorizer answers for that member.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{
    ConfigMap, LimitRange, Namespace, ResourceQuota, Secret, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde_json::Value;
use workspace_operator::api::{Organization, Workspace, WorkspaceMember, WorkspaceRole};
use workspace_operator::ownership;
use workspace_operator::ownership::names::{organization_namespace, workspace_namespace};
use workspace_operator::resources::{
    credentials, member as member_build, organization as org_build, owner_reference,
    role as role_build, workspace as ws_build,
};
use workspace_operator::runtime::compare::is_subset;

/// (kind, namespace or "", name)
pub type Key = (String, String, String);

#[derive(Debug, Default)]
pub struct Comparison {
    /// Desired objects looked up and compared field by field.
    pub desired: usize,
    /// Live objects marked as the operator's, checked against the desired set.
    pub live: usize,
    pub missing: Vec<String>,
    pub differing: Vec<String>,
    pub extra: Vec<String>,
}

impl Comparison {
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.differing.is_empty() && self.extra.is_empty()
    }

    pub fn summary(&self) -> String {
        let few = |v: &[String]| v.iter().take(5).cloned().collect::<Vec<_>>().join("; ");
        format!(
            "{} desired / {} live compared; missing {} [{}]; differing {} [{}]; extra {} [{}]",
            self.desired,
            self.live,
            self.missing.len(),
            few(&self.missing),
            self.differing.len(),
            few(&self.differing),
            self.extra.len(),
            few(&self.extra)
        )
    }
}

fn key_of<K: Resource<DynamicType = ()>>(obj: &K) -> Key {
    (
        K::kind(&()).to_string(),
        obj.meta().namespace.clone().unwrap_or_default(),
        obj.meta().name.clone().unwrap_or_default(),
    )
}

fn put<K: Resource<DynamicType = ()> + Serialize>(desired: &mut BTreeMap<Key, Value>, obj: &K) {
    let mut value = serde_json::to_value(obj).expect("objects serialize");
    // Items of a list carry no apiVersion and kind; the key holds the kind.
    if let Some(map) = value.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
    }
    desired.insert(key_of(obj), value);
}

/// The first path where `live` does not hold what `desired` says.
fn first_difference(desired: &Value, live: &Value, path: &str) -> Option<String> {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().find_map(|(k, dv)| {
            let here = format!("{path}.{k}");
            match l.get(k) {
                _ if dv.is_null() => None,
                None => Some(format!("{here} missing")),
                Some(lv) => first_difference(dv, lv, &here),
            }
        }),
        _ if is_subset(desired, live) => None,
        _ => Some(format!("{path}: want {desired}, have {live}")),
    }
}

/// What the users applied, read back from the API server.
pub struct World {
    pub organizations: Vec<Organization>,
    pub workspaces: Vec<Workspace>,
    pub roles: Vec<WorkspaceRole>,
    pub members: Vec<WorkspaceMember>,
}

impl World {
    /// The Workspace or WorkspaceRole at `key`, as read.
    fn object(&self, key: &Key) -> Option<Value> {
        fn find<K: Resource<DynamicType = ()> + Serialize>(
            items: &[K],
            key: &Key,
        ) -> Option<Value> {
            items
                .iter()
                .find(|o| key_of(*o) == *key)
                .map(|o| serde_json::to_value(o).expect("objects serialize"))
        }
        find(&self.workspaces, key).or_else(|| find(&self.roles, key))
    }
}

pub async fn read_world(client: &Client, orgs: &[String]) -> Result<World, kube::Error> {
    let mut world = World {
        organizations: vec![],
        workspaces: vec![],
        roles: vec![],
        members: vec![],
    };
    let all_orgs = Api::<Organization>::all(client.clone())
        .list(&ListParams::default())
        .await?;
    world.organizations = all_orgs
        .items
        .into_iter()
        .filter(|o| orgs.contains(&o.name_any()))
        .collect();
    for org in orgs {
        let ns = organization_namespace(org);
        let lp = ListParams::default();
        world.workspaces.extend(
            Api::<Workspace>::namespaced(client.clone(), &ns)
                .list(&lp)
                .await?
                .items,
        );
        world.roles.extend(
            Api::<WorkspaceRole>::namespaced(client.clone(), &ns)
                .list(&lp)
                .await?
                .items,
        );
        world.members.extend(
            Api::<WorkspaceMember>::namespaced(client.clone(), &ns)
                .list(&lp)
                .await?
                .items,
        );
    }
    Ok(world)
}

/// Every object the operator should have made for `world`, by key. Reads the
/// built-in ClusterRoles that roles include and the shared Secrets.
pub async fn desired_state(client: &Client, world: &World) -> Result<BTreeMap<Key, Value>, String> {
    let mut desired = BTreeMap::new();
    let cluster_roles = Api::<ClusterRole>::all(client.clone());
    for org in &world.organizations {
        let org_name = org.name_any();
        let org_ns = organization_namespace(&org_name);
        let c = org_build::build(org, &operator_policy());
        put(&mut desired, &c.namespace);
        put(&mut desired, &c.admin_role);
        put(&mut desired, &c.reader_cluster_role);
        c.admin_binding.iter().for_each(|b| put(&mut desired, b));
        c.reader_binding.iter().for_each(|b| put(&mut desired, b));
        c.editors_cluster_role
            .iter()
            .for_each(|r| put(&mut desired, r));
        c.editors_binding.iter().for_each(|b| put(&mut desired, b));
        c.predefined_roles.iter().for_each(|r| put(&mut desired, r));
        put(&mut desired, &c.default_workspace);

        let in_org = |ns: Option<String>| ns.as_deref() == Some(org_ns.as_str());
        let workspaces: Vec<&Workspace> = world
            .workspaces
            .iter()
            .filter(|w| in_org(w.namespace()) && w.meta().deletion_timestamp.is_none())
            .collect();
        let roles: Vec<WorkspaceRole> = world
            .roles
            .iter()
            .filter(|r| in_org(r.namespace()))
            .cloned()
            .collect();
        for ws in &workspaces {
            let c = ws_build::build(ws, org, &Default::default())
                .map_err(|e| format!("{}: {e}", ws.name_any()))?;
            put(&mut desired, &c.namespace);
            c.role_bindings.iter().for_each(|b| put(&mut desired, b));
            let s = &c.settings;
            s.quota().iter().for_each(|q| put(&mut desired, *q));
            s.stop_work.iter().for_each(|q| put(&mut desired, q));
            s.limit_range().iter().for_each(|l| put(&mut desired, *l));
            s.network_policy.iter().for_each(|n| put(&mut desired, n));
            s.network_exceptions()
                .iter()
                .for_each(|n| put(&mut desired, *n));
            s.placement().iter().for_each(|p| put(&mut desired, *p));
            s.info.iter().for_each(|i| put(&mut desired, i));
            // Who may find it: its reader, and the Organization's for its
            // owner and open member groups.
            let readers = ws_build::readers_of(ws, org, &operator_policy());
            put(&mut desired, &readers.role);
            readers.binding.iter().for_each(|b| put(&mut desired, b));
            if let Some((role, binding)) = &readers.owner_manages {
                put(&mut desired, role);
                put(&mut desired, binding);
            }
        }
        for role in &roles {
            let mut included: Vec<PolicyRule> = vec![];
            for name in role.spec.cluster_roles.iter().flatten() {
                let cr = cluster_roles.get(name).await.map_err(|e| e.to_string())?;
                included.extend(cr.rules.unwrap_or_default());
            }
            let uid = role.uid().unwrap_or_default();
            let mut cr =
                role_build::cluster_role(&org_name, &role.name_any(), &uid, &role.spec, &included);
            cr.metadata.owner_references = owner_reference(org).map(|o| vec![o]);
            put(&mut desired, &cr);
        }
        // Who reads the Organization: one binding, from its workspaces and
        // its members' status.
        let org_members: Vec<&WorkspaceMember> = world
            .members
            .iter()
            .filter(|m| in_org(m.namespace()))
            .collect();
        let visitors = org_build::visitors(
            org,
            &workspaces,
            &org_members,
            &operator_policy(),
            jiff::Timestamp::now(),
        );
        visitors.iter().for_each(|b| put(&mut desired, b));
        for member in world.members.iter().filter(|m| in_org(m.namespace())) {
            if member.meta().deletion_timestamp.is_some() {
                continue;
            }
            let Some(ws) = workspaces
                .iter()
                .find(|w| w.name_any() == member.spec.workspace)
            else {
                continue;
            };
            let access =
                member_build::build(member, &roles, ws.spec.archived.unwrap_or(false), true);
            access.bindings.iter().for_each(|b| put(&mut desired, b));
            access.reader_role.iter().for_each(|r| put(&mut desired, r));
            access
                .reader_binding
                .iter()
                .for_each(|b| put(&mut desired, b));
        }
        // Credential copies: the organization's to every workspace, each
        // workspace's to the workspaces it names (those that exist).
        let owned: Vec<Workspace> = workspaces.iter().map(|w| (*w).clone()).collect();
        let org_uid = org.uid().unwrap_or_default();
        for share in credentials::organization_shares(org, &owned) {
            let source = Api::<Secret>::namespaced(client.clone(), &org_ns)
                .get_opt(&share.secret)
                .await
                .map_err(|e| e.to_string())?;
            for target in source.iter().flat_map(|_| &share.targets) {
                let copy =
                    credentials::copy(source.as_ref().unwrap(), &org_name, target, &org_uid, None);
                put(&mut desired, &copy);
            }
        }
        for ws in &workspaces {
            let ws_ns = workspace_namespace(&org_name, &ws.name_any());
            for share in credentials::workspace_shares(ws) {
                let Some(source) = Api::<Secret>::namespaced(client.clone(), &ws_ns)
                    .get_opt(&share.secret)
                    .await
                    .map_err(|e| e.to_string())?
                else {
                    continue;
                };
                for target in share
                    .targets
                    .iter()
                    .filter(|t| workspaces.iter().any(|w| &w.name_any() == *t))
                {
                    let copy = credentials::copy(
                        &source,
                        &org_name,
                        target,
                        &ws.uid().unwrap_or_default(),
                        Some(&ws.name_any()),
                    );
                    put(&mut desired, &copy);
                }
            }
        }
    }
    Ok(desired)
}

/// The live objects of kind `ar` the operator marks as its own, for `orgs`.
async fn live_children(
    client: &Client,
    ar: &ApiResource,
    orgs: &BTreeSet<String>,
) -> Result<Vec<(Key, Value)>, String> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
    let list = api
        .list(&ListParams::default().labels(&ownership::managed_selector()))
        .await
        .map_err(|e| format!("list {}: {e}", ar.kind))?;
    Ok(list
        .items
        .into_iter()
        .filter(|o| {
            o.labels()
                .get(ownership::ORGANIZATION)
                .is_some_and(|org| orgs.contains(org))
        })
        .map(|o| {
            let key = (
                ar.kind.clone(),
                o.namespace().unwrap_or_default(),
                o.name_any(),
            );
            (key, serde_json::to_value(&o).expect("objects serialize"))
        })
        .collect())
}

/// Compares everything the operator should have made for `world` (the
/// objects of `orgs`) with what is live.
pub async fn compare(
    client: &Client,
    orgs: &[String],
    world: &World,
) -> Result<Comparison, String> {
    let desired = desired_state(client, world).await?;
    let org_set: BTreeSet<String> = orgs.iter().cloned().collect();
    let mut live: BTreeMap<Key, Value> = BTreeMap::new();
    let kinds = [
        ApiResource::erase::<Namespace>(&()),
        ApiResource::erase::<Role>(&()),
        ApiResource::erase::<RoleBinding>(&()),
        ApiResource::erase::<ClusterRole>(&()),
        ApiResource::erase::<ClusterRoleBinding>(&()),
        ApiResource::erase::<ResourceQuota>(&()),
        ApiResource::erase::<LimitRange>(&()),
        ApiResource::erase::<NetworkPolicy>(&()),
        ApiResource::erase::<ConfigMap>(&()),
        ApiResource::erase::<Secret>(&()),
        ApiResource::erase::<ServiceAccount>(&()),
    ];
    let lists =
        futures::future::try_join_all(kinds.iter().map(|ar| live_children(client, ar, &org_set)))
            .await?;
    live.extend(lists.into_iter().flatten());
    let mut result = Comparison {
        desired: desired.len(),
        live: live.len(),
        ..Default::default()
    };
    for (key, want) in &desired {
        let have = live.get(key).cloned().or_else(|| world.object(key));
        match have {
            None => result.missing.push(format!("{key:?}")),
            Some(have) if !is_subset(want, &have) => result.differing.push(format!(
                "{key:?} {}",
                first_difference(want, &have, "").unwrap_or_default()
            )),
            Some(_) => {}
        }
    }
    for key in live.keys() {
        // A namespace being deleted is still listed until its contents are gone.
        if !desired.contains_key(key) {
            result.extra.push(format!("{key:?}"));
        }
    }
    Ok(result)
}

/// One access check: may `user` `verb` `resource` in `namespace`?
#[derive(Clone, Debug)]
pub struct AccessCheck {
    pub user: String,
    pub verb: &'static str,
    pub resource: &'static str,
    pub namespace: String,
    pub expected: bool,
}

/// Asks the API server's authorizer (SubjectAccessReview, as the admin) for
/// each check; returns the ones whose answer differs from the expectation.
pub async fn check_access(client: &Client, checks: &[AccessCheck]) -> Vec<String> {
    let api = Api::<SubjectAccessReview>::all(client.clone());
    futures::stream::iter(checks)
        .map(|c| {
            let api = api.clone();
            async move {
                let review = SubjectAccessReview {
                    spec: SubjectAccessReviewSpec {
                        user: Some(c.user.clone()),
                        resource_attributes: Some(ResourceAttributes {
                            namespace: Some(c.namespace.clone()),
                            verb: Some(c.verb.into()),
                            resource: Some(c.resource.into()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                let allowed = match api.create(&PostParams::default(), &review).await {
                    Ok(r) => r.status.is_some_and(|s| s.allowed),
                    Err(e) => return Some(format!("{c:?}: review failed: {e}")),
                };
                (allowed != c.expected).then(|| format!("{c:?}: allowed={allowed}"))
            }
        })
        .buffer_unordered(32)
        .filter_map(|x| async move { x })
        .collect()
        .await
}

/// The platform settings the tests' operator runs with
/// (support/operator.rs turns both delegations and owners' settings on).
fn operator_policy() -> workspace_operator::resources::tenancy::TenantPolicy {
    workspace_operator::resources::tenancy::TenantPolicy {
        delegated_membership: true,
        organization_admins_manage_admins: true,
        owners_edit_settings: true,
        ..Default::default()
    }
}
