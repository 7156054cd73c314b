//! The control plane itself behaves like a real cluster: users authenticate
//! as themselves, RBAC decides, namespaces finish deleting and the garbage
//! collector follows owner references.

use std::time::Duration;

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};

use crate::support::{Scope, cluster, eventually};

#[tokio::test]
async fn each_test_user_authenticates_with_its_own_credentials() {
    let cluster = cluster();
    assert!(cluster.users.len() >= 6, "at least six test users");
    for (name, groups) in &cluster.users {
        let client = cluster.user(name).await;
        let review = Api::<SelfSubjectReview>::all(client)
            .create(
                &PostParams::default(),
                &SelfSubjectReview {
                    metadata: Default::default(),
                    status: None,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("self review as {name}: {e}"));
        let info = review.status.and_then(|s| s.user_info).expect("user info");
        assert_eq!(info.username.as_deref(), Some(name.as_str()));
        let server_groups = info.groups.unwrap_or_default();
        for g in groups {
            assert!(
                server_groups.contains(g),
                "{name} should be in {g}: {server_groups:?}"
            );
        }
    }
}

#[tokio::test]
async fn user_is_forbidden_until_a_rolebinding_allows_it() {
    let cluster = cluster();
    let admin = cluster.admin().await;
    let scope = Scope::new("rbac");
    let ns = scope.namespace(&admin, "").await;

    let as_mallory: Api<ConfigMap> = Api::namespaced(cluster.user("mallory").await, &ns);
    let err = as_mallory
        .list(&ListParams::default())
        .await
        .expect_err("forbidden before");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403),
        "expected 403 Forbidden, got {err}"
    );

    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some("mallory-view".into()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: "view".into(),
        },
        subjects: Some(vec![Subject {
            kind: "User".into(),
            name: "mallory".into(),
            api_group: Some("rbac.authorization.k8s.io".into()),
            ..Default::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();

    eventually(
        "mallory allowed to list configmaps",
        Duration::from_secs(10),
        || {
            let api = as_mallory.clone();
            async move {
                api.list(&ListParams::default())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        },
    )
    .await;
    // Viewing is not writing: the binding grants exactly what it names.
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("x".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let err = as_mallory
        .create(&PostParams::default(), &cm)
        .await
        .expect_err("view cannot create");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 403),
        "got {err}"
    );
}

#[tokio::test]
async fn deleted_namespace_is_gone_within_a_minute() {
    let cluster = cluster();
    let admin = cluster.admin().await;
    let scope = Scope::new("nsdel");
    let ns = scope.namespace(&admin, "").await;
    // Content makes the namespace controller do real work before finalizing.
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("content".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();

    let namespaces: Api<Namespace> = Api::all(admin.clone());
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
    eventually("namespace to disappear", Duration::from_secs(60), || {
        let namespaces = namespaces.clone();
        let ns = ns.clone();
        async move {
            match namespaces.get_opt(&ns).await {
                Ok(None) => Ok(()),
                Ok(Some(n)) => Err(format!("still there: {:?}", n.status.and_then(|s| s.phase))),
                Err(e) => Err(e.to_string()),
            }
        }
    })
    .await;
}

#[tokio::test]
async fn owner_deletion_cascades_to_dependents() {
    let cluster = cluster();
    let admin = cluster.admin().await;
    let scope = Scope::new("gc");
    let ns = scope.namespace(&admin, "").await;
    let api: Api<ConfigMap> = Api::namespaced(admin.clone(), &ns);

    let owner = api
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some("owner".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let dependent = ConfigMap {
        metadata: ObjectMeta {
            name: Some("dependent".into()),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: "owner".into(),
                uid: owner.metadata.uid.clone().unwrap(),
                ..Default::default()
            }]),
            ..Default::default()
        },
        ..Default::default()
    };
    api.create(&PostParams::default(), &dependent)
        .await
        .unwrap();

    api.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    // The garbage collector may still be discovering resource types when the
    // control plane is fresh; 90 s covers its first sync.
    eventually(
        "dependent to be garbage-collected",
        Duration::from_secs(90),
        || {
            let api = api.clone();
            async move {
                match api.get_opt("dependent").await {
                    Ok(None) => Ok(()),
                    Ok(Some(_)) => Err("dependent still exists".into()),
                    Err(e) => Err(e.to_string()),
                }
            }
        },
    )
    .await;
}
