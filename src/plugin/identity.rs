//! Who the caller is (SelfSubjectReview) and what the authorizer lets it
//! do in a namespace (SelfSubjectRulesReview): neither needs a permission.

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::authorization::v1::{
    ResourceRule, SelfSubjectRulesReview, SelfSubjectRulesReviewSpec,
};
use kube::Client;
use kube::api::{Api, PostParams};

use super::error::{Error, Request, Result};
use crate::api::{Subject, SubjectKind};

/// The authenticated caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    pub username: String,
    pub groups: Vec<String>,
}

impl Caller {
    /// Whether `subject` names the caller (itself or one of its groups).
    pub fn is(&self, subject: &Subject) -> bool {
        match subject.kind {
            SubjectKind::User => subject.name == self.username,
            SubjectKind::Group => self.groups.contains(&subject.name),
            SubjectKind::ServiceAccount => subject.namespace.as_deref().is_some_and(|ns| {
                self.username == format!("system:serviceaccount:{ns}:{}", subject.name)
            }),
        }
    }
}

/// Asks the API server who the credentials are.
pub async fn who(client: &Client) -> Result<Caller> {
    let review = SelfSubjectReview::default();
    let answer = Api::<SelfSubjectReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .map_err(|e| {
            Error::from_api(
                Request::new("create", "selfsubjectreviews", "authentication.k8s.io"),
                e,
            )
        })?;
    let info = answer.status.and_then(|s| s.user_info).unwrap_or_default();
    Ok(Caller {
        username: info.username.unwrap_or_default(),
        groups: info.groups.unwrap_or_default(),
    })
}

/// What the caller may do in `namespace`, cluster-wide grants included.
pub async fn rules(client: &Client, namespace: &str) -> Result<Vec<ResourceRule>> {
    let review = SelfSubjectRulesReview {
        spec: SelfSubjectRulesReviewSpec {
            namespace: Some(namespace.to_string()),
        },
        ..Default::default()
    };
    let answer = Api::<SelfSubjectRulesReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .map_err(|e| {
            Error::from_api(
                Request::new("create", "selfsubjectrulesreviews", "authorization.k8s.io"),
                e,
            )
        })?;
    Ok(answer.status.map(|s| s.resource_rules).unwrap_or_default())
}

/// What the rules say about one resource of `workspaces.dev`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grant {
    /// Objects the caller may `get` by name.
    pub named: Vec<String>,
    /// The caller may `list` them all.
    pub may_list: bool,
}

/// The caller's grant on `resource` of `group` in `rules`.
pub fn grant(rules: &[ResourceRule], group: &str, resource: &str) -> Grant {
    let has = |list: &Option<Vec<String>>, want: &str| {
        list.as_ref()
            .is_some_and(|l| l.iter().any(|x| x == want || x == "*"))
    };
    let mut out = Grant::default();
    for rule in rules {
        let applies = has(&rule.api_groups, group) && has(&rule.resources, resource);
        if !applies {
            continue;
        }
        let verbs = Some(rule.verbs.clone());
        match rule.resource_names.as_deref() {
            Some(names) if !names.is_empty() => {
                if has(&verbs, "get") {
                    out.named.extend(names.iter().cloned());
                }
            }
            _ => out.may_list |= has(&verbs, "list"),
        }
    }
    out.named.sort();
    out.named.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], resources: &[&str], names: Option<&[&str]>) -> ResourceRule {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        ResourceRule {
            verbs: v(verbs),
            api_groups: Some(v(&["workspaces.dev"])),
            resources: Some(v(resources)),
            resource_names: names.map(v),
        }
    }

    #[test]
    fn named_objects_and_listing_are_read_from_the_rules() {
        let rules = vec![
            rule(
                &["get", "watch"],
                &["workspaces", "workspaces/status"],
                Some(&["lab"]),
            ),
            rule(&["get", "watch"], &["workspaces"], Some(&["open", "lab"])),
            rule(&["watch"], &["workspaces"], Some(&["watched-only"])),
            rule(&["get"], &["workspacemembers"], Some(&["lab.user.bob"])),
        ];
        let ws = grant(&rules, "workspaces.dev", "workspaces");
        assert_eq!(ws.named, vec!["lab", "open"]);
        assert!(!ws.may_list);
        let members = grant(&rules, "workspaces.dev", "workspacemembers");
        assert_eq!(members.named, vec!["lab.user.bob"]);
        let admin = vec![rule(&["*"], &["*"], None)];
        assert!(grant(&admin, "workspaces.dev", "workspaces").may_list);
    }

    #[test]
    fn the_caller_is_matched_as_user_group_or_service_account() {
        let caller = Caller {
            username: "system:serviceaccount:ci:deployer".into(),
            groups: vec!["devs".into()],
        };
        let s = |kind, name: &str, ns: Option<&str>| Subject {
            kind,
            name: name.into(),
            namespace: ns.map(String::from),
        };
        assert!(caller.is(&s(SubjectKind::ServiceAccount, "deployer", Some("ci"))));
        assert!(caller.is(&s(SubjectKind::Group, "devs", None)));
        assert!(!caller.is(&s(SubjectKind::User, "deployer", None)));
        assert!(!caller.is(&s(SubjectKind::Group, "ops", None)));
    }
}
