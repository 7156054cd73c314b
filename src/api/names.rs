//! Naming rules enforced at admission (CEL). The names derived from them
//! are built in `ownership::names`.
//!
//! A workspace's namespace is `<organization>--<workspace>`. Neither name may
//! contain `--`, start or end with `-`, so the double dash splits every
//! namespace name in exactly one way: two organizations can never produce the
//! same namespace, and an organization namespace (no `--`) never equals a
//! workspace namespace. Lengths: 30 + 2 + 31 = 63, the namespace name limit.

/// Longest organization name: leaves room for `--` and a workspace name.
pub const MAX_ORGANIZATION_NAME: usize = 30;
/// Longest workspace name.
pub const MAX_WORKSPACE_NAME: usize = 31;
/// What separates organization and workspace in a namespace name.
pub const NAMESPACE_SEPARATOR: &str = "--";

pub const ORGANIZATION_NAME_RULE: &str = "self.metadata.name.size() <= 30 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && !self.metadata.name.contains('--')";
pub const ORGANIZATION_NAME_MESSAGE: &str = "metadata.name: an organization name must be at most 30 lowercase letters, digits and single '-' (no '--', no leading or trailing '-'), so that '<organization>--<workspace>' namespace names fit 63 characters";

pub const NOT_RESERVED_RULE: &str = "!(self.metadata.name in ['default', 'kube-system', 'kube-public', 'kube-node-lease']) && !self.metadata.name.startsWith('kube-')";
pub const NOT_RESERVED_MESSAGE: &str = "metadata.name: the organization name is reserved by Kubernetes (default, kube-*): choose another name";

pub const WORKSPACE_OBJECT_NAME_RULE: &str = "self.metadata.name.size() <= 31 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && !self.metadata.name.contains('--')";
pub const WORKSPACE_NAME_RULE: &str =
    "self.size() <= 31 && self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && !self.contains('--')";
pub const WORKSPACE_OBJECT_NAME_MESSAGE: &str = "metadata.name: a workspace name must be at most 31 lowercase letters, digits and single '-' (no '--', no leading or trailing '-'), so that '<organization>--<workspace>' namespace names fit 63 characters";
pub const WORKSPACE_NAME_MESSAGE: &str = "workspace name must be at most 31 lowercase letters, digits and single '-' (no '--', no leading or trailing '-'), so that '<organization>--<workspace>' namespace names fit 63 characters";

/// A member's name is carried in a label of every object made for it (label
/// values are at most 63 characters) and in the names of its bindings.
pub const MEMBER_OBJECT_NAME_RULE: &str = "self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')";
pub const MEMBER_OBJECT_NAME_MESSAGE: &str = "metadata.name: a member name must be at most 63 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit: it is carried in a label of the access made for it";

pub const OBJECT_DNS_LABEL_RULE: &str = "self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')";
pub const DNS_LABEL_RULE: &str = "self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')";
pub const DNS_LABEL_MESSAGE: &str = "must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit";

pub const DNS_SUBDOMAIN_RULE: &str =
    "self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')";
pub const DNS_SUBDOMAIN_MESSAGE: &str = "must be a valid object name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit";

pub const MAP_KEYS_ARE_DNS_LABELS_RULE: &str =
    "self.all(k, k.size() <= 63 && k.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))";

pub const MAP_KEYS_ARE_RESOURCE_NAMES_RULE: &str =
    "self.all(k, k.size() <= 253 && k.matches('^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$'))";
pub const RESOURCE_NAME_MESSAGE: &str = "keys must be resource names such as pods, requests.cpu, limits.memory or count/deployments.apps";
