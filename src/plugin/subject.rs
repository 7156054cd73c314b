//! Who is invited: `user:alice`, `group:devs`, `serviceaccount:ns:name`
//! (a bare `alice` is a user), and the WorkspaceMember name derived from
//! workspace and subject.

use crate::api::{Subject, SubjectKind};

use super::error::{Error, Result};

/// Parses the command line's subject syntax.
pub fn parse(text: &str) -> Result<Subject> {
    let bad = |why: &str| {
        Error::Usage(format!(
            "subject {text:?}: {why} (use user:NAME, group:NAME or serviceaccount:NAMESPACE:NAME)"
        ))
    };
    let (kind, rest) = match text.split_once(':') {
        Some((k, rest)) => match k.to_ascii_lowercase().as_str() {
            "user" | "u" => (SubjectKind::User, rest),
            "group" | "g" => (SubjectKind::Group, rest),
            "serviceaccount" | "sa" => (SubjectKind::ServiceAccount, rest),
            // User names may contain ':' (system:...): only known kinds split.
            _ => (SubjectKind::User, text),
        },
        None => (SubjectKind::User, text),
    };
    let subject = match kind {
        SubjectKind::ServiceAccount => {
            let (ns, name) = rest
                .split_once(':')
                .ok_or_else(|| bad("a ServiceAccount needs its namespace"))?;
            if ns.is_empty() || name.is_empty() {
                return Err(bad("empty namespace or name"));
            }
            Subject {
                kind,
                name: name.to_string(),
                namespace: Some(ns.to_string()),
            }
        }
        _ => Subject {
            kind,
            name: rest.to_string(),
            namespace: None,
        },
    };
    if subject.name.is_empty() {
        return Err(bad("empty name"));
    }
    Ok(subject)
}

/// The subject as the command line writes it.
pub fn display(subject: &Subject) -> String {
    match (&subject.kind, &subject.namespace) {
        (SubjectKind::ServiceAccount, Some(ns)) => format!("serviceaccount:{ns}:{}", subject.name),
        (SubjectKind::ServiceAccount, None) => format!("serviceaccount:{}", subject.name),
        (SubjectKind::User, _) => format!("user:{}", subject.name),
        (SubjectKind::Group, _) => format!("group:{}", subject.name),
    }
}

/// Longest member name (src/api/names.rs: it is carried in a label).
const MAX_MEMBER_NAME: usize = 63;

fn kind_word(kind: SubjectKind) -> &'static str {
    match kind {
        SubjectKind::User => "user",
        SubjectKind::Group => "group",
        SubjectKind::ServiceAccount => "sa",
    }
}

/// Whether `s` is a DNS subdomain (the member name rule's shape).
fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// Whether `name` satisfies the member name rule (MEMBER_OBJECT_NAME_RULE).
pub fn is_valid_member_name(name: &str) -> bool {
    name.len() <= MAX_MEMBER_NAME && is_dns_subdomain(name)
}

/// The WorkspaceMember name for `subject` in `workspace`:
/// `<workspace>.<kind>.<name>` (`payments.user.bob`,
/// `payments.sa.ci.deployer`) when the subject's name can be written as it
/// is; otherwise `<workspace>.<kind>-<hash>.<readable part>`
/// (`payments.user-k3x9q2m4ta.alice-acme.example`), the hash taken over the
/// whole subject. Workspace names have no '.', so the first two segments
/// say workspace and kind; a plain kind word and a hashed one never match,
/// so a sanitised name never equals one written as it is.
pub fn member_name(workspace: &str, subject: &Subject) -> String {
    let kind = kind_word(subject.kind);
    let written = match &subject.namespace {
        Some(ns) => format!("{ns}.{}", subject.name),
        None => subject.name.clone(),
    };
    let plain = format!("{workspace}.{kind}.{written}");
    let namespace_is_label = subject
        .namespace
        .as_deref()
        .is_none_or(|ns| !ns.contains('.'));
    if namespace_is_label && is_valid_member_name(&plain) {
        return plain;
    }
    let hashed = format!("{workspace}.{kind}-{}", hash(subject));
    let room = MAX_MEMBER_NAME.saturating_sub(hashed.len() + 1);
    let readable = sanitise(&written, room);
    if readable.is_empty() {
        hashed
    } else {
        format!("{hashed}.{readable}")
    }
}

/// Lowercase letters, digits and single '-' of `s`, at most `max` long.
fn sanitise(s: &str, max: usize) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(max);
    out.trim_end_matches('-').to_string()
}

/// Ten base-32 characters of FNV-1a over the subject (stable across
/// releases and platforms, unlike std's hasher).
fn hash(subject: &Subject) -> String {
    let kind = kind_word(subject.kind);
    let ns = subject.namespace.as_deref().unwrap_or("");
    let h = crate::digest::fnv1a_64(
        [kind, ns, subject.name.as_str()]
            .into_iter()
            .flat_map(|part| part.bytes().chain([0u8])),
    );
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    (0..10)
        .map(|i| ALPHABET[((h >> (i * 5)) & 31) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn user(name: &str) -> Subject {
        Subject {
            kind: SubjectKind::User,
            name: name.into(),
            namespace: None,
        }
    }

    #[test]
    fn parses_every_kind() {
        assert_eq!(parse("alice").unwrap(), user("alice"));
        assert_eq!(parse("user:alice").unwrap(), user("alice"));
        assert_eq!(
            parse("system:admin").unwrap(),
            user("system:admin"),
            "an unknown kind word is part of a user name"
        );
        let g = parse("group:devs").unwrap();
        assert_eq!((g.kind, g.name.as_str()), (SubjectKind::Group, "devs"));
        let sa = parse("serviceaccount:ci:deployer").unwrap();
        assert_eq!(sa.kind, SubjectKind::ServiceAccount);
        assert_eq!(
            (sa.namespace.as_deref(), sa.name.as_str()),
            (Some("ci"), "deployer")
        );
        assert!(parse("serviceaccount:deployer").is_err());
        assert!(parse("user:").is_err());
        assert_eq!(display(&sa), "serviceaccount:ci:deployer");
    }

    #[test]
    fn plain_names_are_readable() {
        assert_eq!(member_name("payments", &user("bob")), "payments.user.bob");
        assert_eq!(
            member_name("payments", &parse("group:devs").unwrap()),
            "payments.group.devs"
        );
        assert_eq!(
            member_name("payments", &parse("sa:ci:deployer").unwrap()),
            "payments.sa.ci.deployer"
        );
    }

    #[test]
    fn sanitised_names_keep_a_readable_part_and_differ() {
        let a = member_name("payments", &user("Alice@acme.example"));
        let b = member_name("payments", &user("alice@acme.example"));
        assert!(a.starts_with("payments.user-"), "{a}");
        assert!(a.ends_with(".alice-acme-example"), "{a}");
        assert_ne!(a, b);
        let long = member_name(&"w".repeat(31), &user(&"x".repeat(200)));
        assert!(is_valid_member_name(&long), "{long}");
        let odd = member_name("w", &user("@@@"));
        assert!(is_valid_member_name(&odd), "{odd}");
    }

    fn subject() -> impl Strategy<Value = Subject> {
        let name = prop_oneof![
            "[a-z0-9]([a-z0-9.-]{0,12}[a-z0-9])?",
            "[A-Za-z0-9@:._ -]{1,70}",
            Just("bob".to_string()),
            Just("user.bob".to_string()),
            Just("group".to_string()),
        ];
        (0..3u8, name, "[a-z0-9]{1,8}").prop_map(|(k, name, ns)| match k {
            0 => Subject {
                kind: SubjectKind::User,
                name,
                namespace: None,
            },
            1 => Subject {
                kind: SubjectKind::Group,
                name,
                namespace: None,
            },
            _ => Subject {
                kind: SubjectKind::ServiceAccount,
                name,
                namespace: Some(ns),
            },
        })
    }

    fn workspace() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9]([a-z0-9-]{0,29}[a-z0-9])?".prop_filter("no --", |s| !s.contains("--")),
            Just("user".to_string()),
            Just("payments".to_string()),
        ]
    }

    proptest! {
        /// Every derived name passes admission, and two different
        /// (workspace, subject) pairs never share one.
        #[test]
        fn names_are_valid_and_never_collide(a in (workspace(), subject()), b in (workspace(), subject())) {
            let (na, nb) = (member_name(&a.0, &a.1), member_name(&b.0, &b.1));
            prop_assert!(is_valid_member_name(&na), "{}", na);
            prop_assert!(is_valid_member_name(&nb), "{}", nb);
            if a != b {
                prop_assert_ne!(na, nb);
            }
        }
    }
}
