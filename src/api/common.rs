//! Types shared by the four kinds: subjects, quantities, conditions.

use std::borrow::Cow;
use std::fmt;

use kube::KubeSchema;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// What kind of identity a subject is, as Kubernetes RBAC names them.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum SubjectKind {
    /// A person or robot authenticated by name.
    User,
    /// Every user that the authenticator places in this group.
    Group,
    /// A Kubernetes ServiceAccount; `namespace` is required.
    ServiceAccount,
}

impl fmt::Display for SubjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubjectKind::User => "User",
            SubjectKind::Group => "Group",
            SubjectKind::ServiceAccount => "ServiceAccount",
        })
    }
}

/// An identity that can be given access: a User, a Group, or a ServiceAccount.
#[derive(
    Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, KubeSchema,
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.kind == 'ServiceAccount' ? has(self.__namespace__) : !has(self.__namespace__)").message("namespace is required for kind ServiceAccount and not allowed for kinds User and Group").field_path(".namespace"))]
#[x_kube(validation = Rule::new("self.kind != 'ServiceAccount' || (self.name.size() <= 253 && self.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'))").message("a ServiceAccount name must be a valid object name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (RBAC refuses any other)").field_path(".name"))]
pub struct Subject {
    /// One of User, Group or ServiceAccount.
    pub kind: SubjectKind,
    /// The user name, group name or ServiceAccount name exactly as the API
    /// server authenticates it (for example `alice@acme.example`).
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("!self.matches('[[:cntrl:]]')").message("name: control characters are not part of any user or group name (they would act on the terminals that show it)"))]
    pub name: String,
    /// The ServiceAccount's namespace. Required for kind ServiceAccount, not
    /// allowed otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("must be a valid namespace name (lowercase letters, digits and '-')"))]
    pub namespace: Option<String>,
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// A resource amount such as `20`, `500m` or `4Gi`.
///
/// Accepted as a YAML number or string, like Kubernetes' own quantities, and
/// validated at admission by pattern, so a typo is rejected with the field's
/// path instead of failing later when the quota is built.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QuantityValue(pub String);

impl QuantityValue {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for QuantityValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for QuantityValue {
    fn from(s: &str) -> Self {
        QuantityValue(s.to_string())
    }
}

impl Serialize for QuantityValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for QuantityValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Float(f64),
            Str(String),
        }
        Ok(QuantityValue(match Raw::deserialize(deserializer)? {
            Raw::Int(i) => i.to_string(),
            Raw::Float(f) => f.to_string(),
            Raw::Str(s) => s,
        }))
    }
}

impl JsonSchema for QuantityValue {
    fn schema_name() -> Cow<'static, str> {
        "QuantityValue".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // The same shape controller-gen emits for resource.Quantity, minus the
        // sign: OpenAPI pattern and minimum cost nothing at admission, where a
        // CEL quantity() check per map entry exceeds the CRD's cost budget.
        json_schema!({
            "x-kubernetes-int-or-string": true,
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "minimum": 0,
            "pattern": QUANTITY_PATTERN
        })
    }
}

/// A non-negative Kubernetes quantity (`20`, `0.5`, `500m`, `4Gi`, `1e3`).
pub const QUANTITY_PATTERN: &str = r"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";

/// Condition types and reasons used on every kind.
pub mod conditions {
    /// The object is fully reconciled and everything it promises is in place.
    pub const READY: &str = "Ready";
    /// kstatus' abnormal-true condition: the operator is still working on it.
    pub const RECONCILING: &str = "Reconciling";
    /// kstatus' abnormal-true condition: progress is impossible until the spec
    /// or the world changes.
    pub const STALLED: &str = "Stalled";
    /// A workspace or organization cannot be deleted yet; the message says why.
    pub const DELETION_BLOCKED: &str = "DeletionBlocked";
}

/// The JSON schema for `status.conditions`: Kubernetes' Condition list as a
/// list-map keyed by `type`, so each condition is merged on its own.
pub fn conditions_schema(generator: &mut SchemaGenerator) -> Schema {
    let item = generator.subschema_for::<Condition>();
    json_schema!({
        "type": "array",
        "description": "The latest observations of the object's state. Ready is always present; Reconciling and Stalled follow kstatus.",
        "items": item,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"]
    })
}

/// The value of a Kubernetes quantity as a float (enough to compare them).
pub fn parse_quantity(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e if e.starts_with(['e', 'E']) => 10f64.powi(e[1..].parse().ok()?),
        _ => return None,
    };
    Some(number * factor)
}
