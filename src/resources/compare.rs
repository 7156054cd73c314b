//! Whether a live object already holds everything the desired object says,
//! so the operator writes only when something differs (an idle cluster sees
//! no writes).

use serde_json::Value;

/// True when every field set in `desired` has the same value in `live`.
/// Fields only `live` has (set by the API server or other managers) are
/// ignored. Arrays must match element by element. Two strings that are equal
/// Kubernetes quantities (`0.5` and `500m`) count as equal, since the API
/// server rewrites quantities to their canonical form.
pub fn is_subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d
            .iter()
            .all(|(k, dv)| dv.is_null() || l.get(k).is_some_and(|lv| is_subset(dv, lv))),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(dv, lv)| is_subset(dv, lv))
        }
        (Value::String(d), Value::String(l)) => d == l || same_quantity(d, l),
        (d, l) => d == l,
    }
}

fn same_quantity(a: &str, b: &str) -> bool {
    match (parse_quantity(a), parse_quantity(b)) {
        (Some(x), Some(y)) => (x - y).abs() <= f64::EPSILON * x.abs().max(y.abs()).max(1.0),
        _ => false,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extra_live_fields_do_not_count() {
        let desired = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}});
        let live = json!({"metadata": {"name": "a", "labels": {"x": "1", "y": "2"}, "uid": "u"}, "data": {"k": "v"}});
        assert!(is_subset(&desired, &live));
    }

    #[test]
    fn a_changed_or_missing_field_counts() {
        let desired = json!({"data": {"k": "v"}});
        assert!(!is_subset(&desired, &json!({"data": {"k": "w"}})));
        assert!(!is_subset(&desired, &json!({"data": {}})));
        assert!(!is_subset(&json!({"s": [1, 2]}), &json!({"s": [1]})));
    }

    #[test]
    fn canonicalized_quantities_are_equal() {
        assert!(is_subset(&json!({"cpu": "0.5"}), &json!({"cpu": "500m"})));
        assert!(is_subset(&json!({"n": "1e3"}), &json!({"n": "1k"})));
        assert!(is_subset(&json!({"m": "1Gi"}), &json!({"m": "1024Mi"})));
        assert!(!is_subset(&json!({"m": "1Gi"}), &json!({"m": "1G"})));
    }

    #[test]
    fn quantities_parse() {
        assert_eq!(parse_quantity("20"), Some(20.0));
        assert_eq!(parse_quantity("100m"), Some(0.1));
        assert_eq!(parse_quantity("4Gi"), Some(4.0 * 1024f64.powi(3)));
        assert_eq!(parse_quantity("lots"), None);
    }
}
