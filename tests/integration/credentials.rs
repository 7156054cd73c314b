//! Shared credentials: read-only copies that follow their source, come back
//! when removed, go when the share goes, never overwrite a stranger's Secret
//! and never cross organizations.

use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use workspace_operator::api::{Organization, Workspace};

use crate::organizations::{organization, workspace};
use crate::support::*;

const LIMIT: Duration = Duration::from_secs(60);

async fn secret(client: &Client, ns: &str, name: &str, value: &str) {
    let s = Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some([("token".to_string(), ByteString(value.as_bytes().to_vec()))].into()),
        type_: Some("Opaque".into()),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), ns)
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&s),
        )
        .await
        .unwrap();
}

async fn copy_value(api: &Api<Secret>, name: &str) -> Result<String, String> {
    let s = api
        .get_opt(name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no copy")?;
    let v = s
        .data
        .unwrap_or_default()
        .get("token")
        .map(|b| String::from_utf8_lossy(&b.0).to_string());
    v.ok_or_else(|| "no token".to_string())
}

async fn wait_copy(api: &Api<Secret>, name: &str, value: &str) {
    eventually(&format!("copy {name} = {value}"), LIMIT, || async {
        let v = copy_value(api, name).await?;
        if v == value { Ok(()) } else { Err(v) }
    })
    .await;
}

/// Waits for `CredentialsShared=False` on the sharing object, which stays
/// Ready (a missing source must not block GitOps ordering), and returns
/// (reason, message).
async fn shared_problem<K>(api: &Api<K>, name: &str) -> (String, String)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + serde::Serialize,
{
    eventually(
        &format!("CredentialsShared=False on {name}"),
        LIMIT,
        || async {
            let obj = api.get(name).await.map_err(|e| e.to_string())?;
            let v = serde_json::to_value(&obj).unwrap();
            let conditions = v["status"]["conditions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let ready = conditions
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            match conditions
                .iter()
                .find(|c| c["type"] == "CredentialsShared" && c["status"] == "False")
            {
                Some(c) if ready => Ok((
                    c["reason"].as_str().unwrap().to_string(),
                    c["message"].as_str().unwrap().to_string(),
                )),
                _ => Err(format!("{conditions:?}")),
            }
        },
    )
    .await
}

#[tokio::test]
async fn workspace_share_is_a_read_only_copy_that_follows_its_source() {
    let Opening { admin, org, .. } = opening_with_organization("share").await;
    let cluster = cluster();
    workspace(&admin, &org, "dst", "{acceptAnonymous: false}").await;
    workspace(&admin, &org, "src", "{acceptAnonymous: false}").await;
    let (src, dst) = (format!("{org}--src"), format!("{org}--dst"));
    secret(&admin, &src, "api-key", "v1").await;
    workspace(
        &admin,
        &org,
        "src",
        "{acceptAnonymous: false, sharedCredentials: [{secretName: api-key, workspaces: [dst]}]}",
    )
    .await;

    let copies = Api::<Secret>::namespaced(admin.clone(), &dst);
    wait_copy(&copies, "api-key", "v1").await;
    let copy = copies.get("api-key").await.unwrap();
    assert_eq!(copy.labels()["workspaces.dev/source-namespace"], src);
    assert_eq!(copy.labels()["workspaces.dev/source-name"], "api-key");
    assert_eq!(copy.immutable, Some(true));

    // A member of dst reads the copy and cannot change it.
    apply_yaml(&admin, &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: WorkspaceMember, metadata: {{name: dst-bob, namespace: {org}}}, spec: {{workspace: dst, subject: {{kind: User, name: bob}}, roles: [editor]}}}}")).await;
    let bob = cluster.user("bob").await;
    wait_access(&bob, "get", "secrets", &dst, true).await;
    let as_bob = Api::<Secret>::namespaced(bob.clone(), &dst);
    as_bob.get("api-key").await.expect("bob reads the copy");
    let tampered = serde_json::json!({"data": {"token": "aGFja2Vk"}});
    let err = as_bob
        .patch("api-key", &PatchParams::default(), &Patch::Merge(&tampered))
        .await
        .expect_err("read-only");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422 || s.code == 403),
        "{err}"
    );
    // ... nor read the source workspace's Secrets.
    assert!(!can(&bob, "get", "secrets", Some(&src)).await);

    // An editor cannot delete it either (admission policy)...
    let err = as_bob
        .delete("api-key", &DeleteParams::default())
        .await
        .expect_err("copies are read-only for tenants");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403 && s.message.contains("read-only copy")),
        "{err}"
    );
    // ... and one deleted by someone who may (the cluster admin) comes back.
    copies
        .delete("api-key", &DeleteParams::default())
        .await
        .expect("the cluster admin may delete it");
    wait_copy(&copies, "api-key", "v1").await;

    // The source changes: the copy follows within seconds.
    let started = std::time::Instant::now();
    secret(&admin, &src, "api-key", "v2").await;
    wait_copy(&copies, "api-key", "v2").await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "copy refreshed after {:?}",
        started.elapsed()
    );

    // The source goes: the copy goes, and the sharer says why.
    Api::<Secret>::namespaced(admin.clone(), &src)
        .delete("api-key", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&copies, "api-key", LIMIT).await;
    let (reason, message) =
        shared_problem(&Api::<Workspace>::namespaced(admin.clone(), &org), "src").await;
    assert_eq!(reason, "SourceSecretNotFound");
    assert!(message.contains("api-key"), "{message}");

    // Back again; then the share is removed: the copy goes.
    secret(&admin, &src, "api-key", "v3").await;
    wait_copy(&copies, "api-key", "v3").await;
    workspace(&admin, &org, "src", "{acceptAnonymous: false}").await;
    wait_gone(&copies, "api-key", LIMIT).await;

    // And when the sharing workspace is deleted, its copies go with it.
    workspace(
        &admin,
        &org,
        "src",
        "{acceptAnonymous: false, sharedCredentials: [{secretName: api-key, workspaces: [dst]}]}",
    )
    .await;
    wait_copy(&copies, "api-key", "v3").await;
    let workspaces = Api::<Workspace>::namespaced(admin.clone(), &org);
    workspaces
        .delete("src", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&copies, "api-key", LIMIT).await;
}

#[tokio::test]
async fn organization_share_reaches_every_workspace_and_never_overwrites() {
    let Opening { admin, org, .. } = opening_with_organization("orgshare").await;
    workspace(&admin, &org, "a", "{}").await;
    workspace(&admin, &org, "b", "{}").await;
    // Someone's own Secret already has the name in b.
    secret(&admin, &format!("{org}--b"), "registry", "mine").await;
    secret(&admin, &org, "registry", "shared").await;

    let mut spec = serde_json::to_value(
        Api::<Organization>::all(admin.clone())
            .get(&org)
            .await
            .unwrap()
            .spec,
    )
    .unwrap();
    spec["sharedCredentials"] = serde_json::json!([{"secretName": "registry"}]);
    apply_value(&admin, &serde_json::json!({"apiVersion": "workspaces.dev/v1alpha1", "kind": "Organization", "metadata": {"name": org}, "spec": spec}))
        .await
        .unwrap();

    for ws in ["a", "default"] {
        wait_copy(
            &Api::<Secret>::namespaced(admin.clone(), &format!("{org}--{ws}")),
            "registry",
            "shared",
        )
        .await;
    }
    let (reason, message) = shared_problem(&Api::<Organization>::all(admin.clone()), &org).await;
    assert_eq!(reason, "CredentialConflict");
    assert!(message.contains(&format!("{org}--b/registry")), "{message}");
    let theirs = Api::<Secret>::namespaced(admin.clone(), &format!("{org}--b"));
    assert_eq!(
        copy_value(&theirs, "registry").await.unwrap(),
        "mine",
        "never overwritten"
    );
    assert!(
        !theirs
            .get("registry")
            .await
            .unwrap()
            .labels()
            .contains_key("workspaces.dev/owner-uid")
    );

    // A workspace created later gets the copy too.
    workspace(&admin, &org, "late", "{}").await;
    wait_copy(
        &Api::<Secret>::namespaced(admin.clone(), &format!("{org}--late")),
        "registry",
        "shared",
    )
    .await;
}

#[tokio::test]
async fn sharing_never_crosses_organizations() {
    operator().await;
    let admin = cluster().admin().await;
    let ours = Scope::new("shareours");
    let theirs = Scope::new("sharetheirs");
    organization(&admin, &ours).await;
    organization(&admin, &theirs).await;
    workspace(&admin, &theirs.id, "target", "{}").await;
    workspace(&admin, &ours.id, "src", "{}").await;
    secret(&admin, &format!("{}--src", ours.id), "leak", "secret").await;
    apply_yaml(
        &admin,
        &format!("{{apiVersion: workspaces.dev/v1alpha1, kind: Workspace, metadata: {{name: src, namespace: {}}}, spec: {{sharedCredentials: [{{secretName: leak, workspaces: [target]}}]}}}}", ours.id),
    )
    .await;
    let (reason, message) = shared_problem(
        &Api::<Workspace>::namespaced(admin.clone(), &ours.id),
        "src",
    )
    .await;
    assert_eq!(reason, "UnknownWorkspace");
    assert!(
        message.contains("target") && message.contains("never crosses"),
        "{message}"
    );
    let other = Api::<Secret>::namespaced(admin.clone(), &format!("{}--target", theirs.id));
    assert!(other.get_opt("leak").await.unwrap().is_none());
    let _ = PostParams::default();
}
