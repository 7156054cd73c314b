use super::*;

fn meta(name: &str, namespace: Option<&str>, labels: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: namespace.map(String::from),
        labels: Some(labels),
        ..Default::default()
    }
}

fn ws(org: &str, name: &str) -> Owner {
    Owner::Workspace {
        organization: org.into(),
        name: name.into(),
    }
}

#[test]
fn ownership_needs_both_marks_and_the_same_uid() {
    let labels = marks(&ws("acme", "pay"), "uid-1", Component::WorkspaceNamespace);
    assert!(is_owned_by(Some(&labels), "uid-1"));
    assert!(
        !is_owned_by(Some(&labels), "uid-2"),
        "a recreated owner is not the owner"
    );
    let mut forged = labels.clone();
    forged.remove(MANAGED_BY);
    assert!(!is_owned_by(Some(&forged), "uid-1"));
    assert!(!is_owned_by(None, "uid-1"));
}

#[test]
fn every_child_leads_back_to_its_owner() {
    let org = Owner::Organization {
        name: "acme".into(),
    };
    let role = Owner::Role {
        organization: "acme".into(),
        name: "viewer".into(),
    };
    let member = Owner::Member {
        organization: "acme".into(),
        name: "alice.pay".into(),
    };
    let cases: Vec<(ObjectMeta, Option<Owner>)> = vec![
        (
            meta(
                "acme",
                None,
                marks(&org, "u", Component::OrganizationNamespace),
            ),
            Some(org.clone()),
        ),
        (
            meta(
                names::ORGANIZATION_ADMINS_BINDING,
                Some("acme"),
                marks(&org, "u", Component::OrganizationAccess),
            ),
            Some(org.clone()),
        ),
        (
            meta(
                "acme--pay",
                None,
                marks(&ws("acme", "pay"), "u", Component::WorkspaceNamespace),
            ),
            Some(ws("acme", "pay")),
        ),
        (
            meta(
                names::QUOTA,
                Some("acme--pay"),
                marks(&ws("acme", "pay"), "u", Component::Quota),
            ),
            Some(ws("acme", "pay")),
        ),
        (
            meta(
                &names::role("acme", "viewer"),
                None,
                marks(&role, "u", Component::Role),
            ),
            Some(role.clone()),
        ),
        (
            meta(
                &names::member_binding("alice.pay", "viewer"),
                Some("acme--pay"),
                member_marks(
                    "acme",
                    "alice.pay",
                    Some("pay"),
                    "u",
                    Component::MemberAccess,
                ),
            ),
            Some(member.clone()),
        ),
        (
            meta(
                &names::member_reader("alice.pay"),
                Some("acme"),
                member_marks("acme", "alice.pay", None, "u", Component::MemberReader),
            ),
            Some(member.clone()),
        ),
        (
            meta(
                &names::workspace_reader("pay"),
                Some("acme"),
                marks(&ws("acme", "pay"), "u", Component::WorkspaceReader),
            ),
            Some(ws("acme", "pay")),
        ),
        (
            meta(
                &names::organization_visitors("acme", "pay"),
                None,
                marks(&ws("acme", "pay"), "u", Component::OrganizationVisitors),
            ),
            Some(ws("acme", "pay")),
        ),
        (
            meta(
                &names::workspace_reader("pay"),
                Some("globex"),
                marks(&ws("acme", "pay"), "u", Component::WorkspaceReader),
            ),
            None,
        ),
        (
            meta(
                &names::organization_visitors("acme", "web"),
                None,
                marks(&ws("acme", "pay"), "u", Component::OrganizationVisitors),
            ),
            None,
        ),
        (
            meta(
                &names::member_visitor("acme", "alice.pay"),
                None,
                member_marks("acme", "alice.pay", None, "u", Component::MemberVisitor),
            ),
            Some(member.clone()),
        ),
        (
            meta(
                &names::visitor_shard("acme", 3),
                None,
                marks(&org, "u", Component::VisitorShard),
            ),
            Some(org.clone()),
        ),
        // A shard named for another organization is nobody's.
        (
            meta(
                &names::visitor_shard("globex", 0),
                None,
                marks(&org, "u", Component::VisitorShard),
            ),
            None,
        ),
        // A copy belongs to whoever shared it, not to where it lies.
        (
            meta(
                "api-key",
                Some("acme--web"),
                copy_marks("acme", "web", "u", Some("pay"), ("acme--pay", "api-key")),
            ),
            Some(ws("acme", "pay")),
        ),
        (
            meta(
                "api-key",
                Some("acme--web"),
                copy_marks("acme", "web", "u", None, ("acme", "api-key")),
            ),
            Some(org.clone()),
        ),
        // Marks that do not fit together point at nobody.
        (
            meta(
                "api-key",
                Some("globex--web"),
                copy_marks("acme", "web", "u", None, ("acme", "k")),
            ),
            None,
        ),
        (
            meta(
                names::QUOTA,
                Some("globex--pay"),
                marks(&ws("acme", "pay"), "u", Component::Quota),
            ),
            None,
        ),
        (
            meta(
                "tenant-ns",
                None,
                marks(&ws("acme", "pay"), "u", Component::WorkspaceNamespace),
            ),
            None,
        ),
        (
            meta(
                &names::role("globex", "viewer"),
                None,
                marks(&role, "u", Component::Role),
            ),
            None,
        ),
        (
            meta(
                "x",
                Some("acme--pay"),
                BTreeMap::from([(COMPONENT.to_string(), "quota".to_string())]),
            ),
            None,
        ),
    ];
    for (meta, expected) in cases {
        assert_eq!(owner_of(&meta), expected, "{meta:?}");
    }
}

#[test]
fn components_round_trip() {
    for c in Component::ALL {
        assert_eq!(Component::parse(c.as_str()), Some(c));
    }
    let values: std::collections::BTreeSet<_> = Component::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        values.len(),
        Component::ALL.len(),
        "component values are distinct"
    );
}

#[test]
fn a_release_takes_every_mark_off() {
    let released = release_labels();
    let all = member_marks("acme", "m", Some("pay"), "u", Component::CredentialCopy);
    let all: BTreeMap<_, _> = all
        .into_iter()
        .chain(copy_marks("acme", "w", "u", Some("p"), ("a", "b")))
        .collect();
    for key in all.keys() {
        assert!(released.contains(&key.as_str()), "{key} is released");
    }
}
