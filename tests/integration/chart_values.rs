//! Every chart value is documented once, in values.yaml (`# --` comments, as
//! helm-docs reads them), and from there in the chart README's values table
//! and as the `description` of its values.schema.json property. This test
//! fails when either has drifted, when a value has no comment, or when the
//! schema and values.yaml disagree on which values exist; `make chart-docs`
//! (WSOP_WRITE_CHART_DOCS=1) rewrites both. Also: the chart's appVersion,
//! its Artifact Hub image and the crate's version move together.

use std::collections::BTreeMap;

use crate::support::repo_root;

const CHART: &str = "charts/workspace-operator";
const BEGIN: &str = "<!-- values:begin (generated from values.yaml by `make chart-docs`) -->";
const END: &str = "<!-- values:end -->";

/// A value with its `# --` comment.
#[derive(Debug)]
struct Documented {
    path: Vec<String>,
    text: String,
}

/// Reads values.yaml's keys and comments: the documented values, and the
/// leaves with no comment on them or on any key above them.
fn read_values(text: &str) -> (Vec<Documented>, Vec<String>) {
    let mut documented = Vec::new();
    let mut undocumented = Vec::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<String> = None;
    // The indentation of the nearest documented key above, if any.
    let mut covered: Option<usize> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(doc) = trimmed.strip_prefix("# --") {
            pending = Some(doc.trim().to_string());
            continue;
        }
        if let Some(more) = trimmed.strip_prefix('#') {
            if let Some(p) = pending.as_mut() {
                p.push(' ');
                p.push_str(more.trim());
            }
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('-') {
            continue;
        }
        let Some((key, rest)) = trimmed.split_once(':') else {
            continue;
        };
        if !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        if covered.is_some_and(|c| indent <= c) {
            covered = None;
        }
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        stack.push((indent, key.to_string()));
        let path: Vec<String> = stack.iter().map(|(_, k)| k.clone()).collect();
        if covered.is_some() {
            pending = None;
            continue;
        }
        let is_leaf = !rest.trim().is_empty();
        match pending.take() {
            Some(text) => {
                documented.push(Documented { path, text });
                covered = Some(indent);
            }
            None if is_leaf => undocumented.push(path.join(".")),
            None => {}
        }
    }
    (documented, undocumented)
}

fn lookup<'a>(value: &'a serde_json::Value, path: &[String]) -> Option<&'a serde_json::Value> {
    path.iter().try_fold(value, |v, k| v.get(k))
}

/// The schema node of a value, through `properties`.
fn schema_node<'a>(
    schema: &'a mut serde_json::Value,
    path: &[String],
) -> Option<&'a mut serde_json::Value> {
    path.iter()
        .try_fold(schema, |node, key| node.get_mut("properties")?.get_mut(key))
}

/// Every path the schema names (through `properties`).
fn schema_paths(node: &serde_json::Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Some(props) = node.get("properties").and_then(|p| p.as_object()) {
        for (key, child) in props {
            prefix.push(key.clone());
            out.push(prefix.clone());
            schema_paths(child, prefix, out);
            prefix.pop();
        }
    }
}

fn default_cell(value: Option<&serde_json::Value>) -> String {
    let text = match value {
        Some(v) => serde_json::to_string(v).unwrap(),
        None => "(none)".into(),
    };
    format!("`{}`", text.replace('|', "\\|"))
}

fn table(documented: &[Documented], values: &serde_json::Value) -> String {
    let mut out = String::from("| value | default | meaning |\n|---|---|---|\n");
    for d in documented {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            d.path.join("."),
            default_cell(lookup(values, &d.path)),
            d.text.replace('|', "\\|")
        ));
    }
    out
}

#[test]
fn every_chart_value_is_documented_in_the_readme_and_the_schema() {
    let dir = repo_root().join(CHART);
    let values_text = std::fs::read_to_string(dir.join("values.yaml")).unwrap();
    let values: serde_json::Value = serde_yaml::from_str(&values_text).unwrap();
    let (documented, undocumented) = read_values(&values_text);
    assert!(
        undocumented.is_empty(),
        "values without a `# --` comment in values.yaml: {undocumented:?}"
    );
    assert!(
        documented.len() > 40,
        "the parser found the values: {documented:?}"
    );

    // The schema: every documented value has a property (and gets its
    // description); every property is a value (or inside a documented one).
    let schema_path = dir.join("values.schema.json");
    let schema_text = std::fs::read_to_string(&schema_path).unwrap();
    let mut schema: serde_json::Value = serde_json::from_str(&schema_text).unwrap();
    let mut missing = Vec::new();
    for d in &documented {
        match schema_node(&mut schema, &d.path) {
            Some(node) => {
                node["description"] = serde_json::Value::String(d.text.clone());
            }
            None => missing.push(d.path.join(".")),
        }
    }
    assert!(
        missing.is_empty(),
        "values.yaml has values values.schema.json does not: {missing:?}"
    );
    let mut paths = Vec::new();
    schema_paths(&schema, &mut Vec::new(), &mut paths);
    let known: Vec<&Vec<String>> = documented.iter().map(|d| &d.path).collect();
    let stray: Vec<String> = paths
        .iter()
        .filter(|p| p.as_slice() != ["global"])
        .filter(|p| {
            // A value, a parent of values, or inside a documented value.
            !known
                .iter()
                .any(|k| k.starts_with(p) || p.starts_with(k.as_slice()))
        })
        .map(|p| p.join("."))
        .collect();
    assert!(
        stray.is_empty(),
        "values.schema.json has properties values.yaml does not: {stray:?}"
    );
    let schema_out = serde_json::to_string_pretty(&schema).unwrap() + "\n";

    let readme_path = dir.join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let (Some(a), Some(b)) = (readme.find(BEGIN), readme.find(END)) else {
        panic!("README.md has no {BEGIN} … {END} block");
    };
    let readme_out = format!(
        "{}{BEGIN}\n{}{}",
        &readme[..a],
        table(&documented, &values),
        &readme[b..]
    );

    if std::env::var_os("WSOP_WRITE_CHART_DOCS").is_some() {
        std::fs::write(&schema_path, &schema_out).unwrap();
        std::fs::write(&readme_path, &readme_out).unwrap();
        return;
    }
    assert!(
        schema_text == schema_out,
        "values.schema.json's descriptions differ from values.yaml's comments: run `make chart-docs`"
    );
    assert!(
        readme == readme_out,
        "the chart README's values table differs from values.yaml: run `make chart-docs`"
    );
}

#[test]
fn chart_app_version_image_and_crate_version_move_together() {
    let root = repo_root();
    let chart: serde_json::Value = serde_yaml::from_str(
        &std::fs::read_to_string(root.join(CHART).join("Chart.yaml")).unwrap(),
    )
    .unwrap();
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let crate_version = cargo
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .map(|v| v.trim_end_matches('"'))
        .unwrap();
    assert_eq!(chart["appVersion"].as_str(), Some(crate_version));
    let images: Vec<BTreeMap<String, String>> = serde_yaml::from_str(
        chart["annotations"]["artifacthub.io/images"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!(
        images
            .iter()
            .all(|i| i["image"].ends_with(&format!(":{crate_version}"))),
        "artifacthub.io/images names the appVersion's image: {images:?}"
    );
}

#[test]
fn the_values_parser_sees_comments_nesting_and_gaps() {
    let (documented, undocumented) = read_values(
        "# -- top\na: 1\nb:\n  # -- inner\n  # continues\n  c: x\n  d: 2\n# -- whole\ne:\n  f: 1\n  g: {h: 1}\n",
    );
    let paths: Vec<String> = documented.iter().map(|d| d.path.join(".")).collect();
    assert_eq!(paths, ["a", "b.c", "e"]);
    assert_eq!(documented[1].text, "inner continues");
    assert_eq!(undocumented, ["b.d"]);
}
