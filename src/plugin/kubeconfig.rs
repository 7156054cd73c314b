//! Which kubeconfig the plugin uses (`--kubeconfig`, `KUBECONFIG`,
//! `~/.kube/config`, as kubectl does), the client it makes, and the one edit
//! it ever makes to a kubeconfig file: the namespace of one context.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_yaml::Value;

use super::error::{Error, Result};

/// What the command line chose.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

/// The kubeconfig in use: its files, the merged view, the context.
#[derive(Clone, Debug)]
pub struct Target {
    /// In kubectl's order: the first file that defines something wins.
    pub files: Vec<PathBuf>,
    pub merged: Kubeconfig,
    pub context: String,
    /// The context's namespace (None: not set, kubectl uses `default`).
    pub namespace: Option<String>,
}

/// The kubeconfig files, as kubectl finds them.
pub fn files(selection: &Selection) -> Result<Vec<PathBuf>> {
    if let Some(path) = &selection.kubeconfig {
        if !path.exists() {
            return Err(Error::NotLoggedIn(format!(
                "no kubeconfig at {} (--kubeconfig)",
                path.display()
            )));
        }
        return Ok(vec![path.clone()]);
    }
    if let Some(value) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        // kubectl skips files of the list that do not exist.
        let listed: Vec<PathBuf> = std::env::split_paths(&value)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        let present: Vec<PathBuf> = listed.iter().filter(|p| p.exists()).cloned().collect();
        if present.is_empty() {
            return Err(Error::NotLoggedIn(format!(
                "none of the KUBECONFIG files exists ({})",
                listed
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        return Ok(present);
    }
    let default = std::env::home_dir()
        .map(|h| h.join(".kube").join("config"))
        .ok_or_else(|| Error::NotLoggedIn("no home directory to find ~/.kube/config".into()))?;
    if !default.exists() {
        return Err(Error::NotLoggedIn(format!(
            "no kubeconfig at {}: set KUBECONFIG or pass --kubeconfig",
            default.display()
        )));
    }
    Ok(vec![default])
}

fn read(path: &Path) -> Result<Kubeconfig> {
    Kubeconfig::read_from(path).map_err(|e| Error::Kubeconfig {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Loads the kubeconfig and picks the context.
pub fn load(selection: &Selection) -> Result<Target> {
    let files = files(selection)?;
    let mut merged = Kubeconfig::default();
    for path in &files {
        merged = merged.merge(read(path)?).map_err(|e| Error::Kubeconfig {
            path: path.clone(),
            message: e.to_string(),
        })?;
    }
    let context = selection
        .context
        .clone()
        .or_else(|| merged.current_context.clone())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            Error::NotLoggedIn(
                "the kubeconfig has no current context: pass --context or run `kubectl config use-context`"
                    .into(),
            )
        })?;
    let named = merged
        .contexts
        .iter()
        .find(|c| c.name == context)
        .ok_or_else(|| {
            Error::NotLoggedIn(format!("the kubeconfig has no context named {context:?}"))
        })?;
    let namespace = named
        .context
        .as_ref()
        .and_then(|c| c.namespace.clone())
        .filter(|n| !n.is_empty());
    Ok(Target {
        files,
        merged,
        context,
        namespace,
    })
}

impl Target {
    /// A client for the context, as kubectl would connect.
    pub async fn client(&self) -> Result<kube::Client> {
        let options = KubeConfigOptions {
            context: Some(self.context.clone()),
            ..Default::default()
        };
        let path = self.files[0].clone();
        let mut config = kube::Config::from_custom_kubeconfig(self.merged.clone(), &options)
            .await
            .map_err(|e| Error::NotLoggedIn(format!("context {:?}: {e}", self.context)))?;
        config.read_timeout = Some(Duration::from_secs(30));
        kube::Client::try_from(config).map_err(|e| Error::Kubeconfig {
            path,
            message: e.to_string(),
        })
    }

    /// The file that defines the context: the one kubectl would edit.
    pub fn file_defining_context(&self) -> Result<PathBuf> {
        for path in &self.files {
            if read(path)?.contexts.iter().any(|c| c.name == self.context) {
                return Ok(path.clone());
            }
        }
        Err(Error::NotLoggedIn(format!(
            "no kubeconfig file defines context {:?}",
            self.context
        )))
    }
}

/// Sets (Some) or removes (None) the namespace of `context` in the file at
/// `path`, changing nothing else: see `set_namespace`. Keeps the file's
/// mode; writes a temporary file beside it and renames it over, under
/// kubectl's own lock file (`<file>.lock`).
pub fn edit_namespace(path: &Path, context: &str, namespace: Option<&str>) -> Result<()> {
    // Edit the real file behind a symlink, keeping the link.
    let path = std::fs::canonicalize(path).map_err(|source| Error::Io {
        what: "cannot resolve",
        path: path.to_path_buf(),
        source,
    })?;
    let _lock = LockFile::take(&path)?;
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        what: "cannot read",
        path: path.clone(),
        source,
    })?;
    let edited = set_namespace(&text, context, namespace).map_err(|message| Error::Kubeconfig {
        path: path.clone(),
        message,
    })?;
    if edited == text {
        return Ok(());
    }
    write_replacing(&path, edited.as_bytes())
}

/// Writes `contents` to a temporary file in `path`'s directory with
/// `path`'s mode, then renames it over `path`: readers see the old file or
/// the new one, never half of one.
pub fn write_replacing(path: &Path, contents: &[u8]) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |what: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::Io {
            what,
            path: p,
            source,
        }
    };
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o600);
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = dir.join(format!(
        ".{file_name}.kubectl-workspace.{}",
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)
            .map_err(io("cannot create", &temp))?;
        // The umask may have narrowed the mode: set it exactly.
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io("cannot set the mode of", &temp))?;
        file.write_all(contents)
            .map_err(io("cannot write", &temp))?;
        file.sync_all().map_err(io("cannot write", &temp))?;
        std::fs::rename(&temp, path).map_err(io("cannot replace", path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// kubectl's lock on a kubeconfig file: `<file>.lock`, made exclusively,
/// removed when done.
struct LockFile(PathBuf);

impl LockFile {
    fn take(path: &Path) -> Result<LockFile> {
        let mut lock = path.as_os_str().to_owned();
        lock.push(".lock");
        let lock = PathBuf::from(lock);
        for _ in 0..50 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
            {
                Ok(_) => return Ok(LockFile(lock)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(source) => {
                    return Err(Error::Io {
                        what: "cannot lock",
                        path: lock,
                        source,
                    });
                }
            }
        }
        Err(Error::Kubeconfig {
            path: path.to_path_buf(),
            message: format!(
                "locked by {} for more than 5 s (remove it if no kubectl is running)",
                lock.display()
            ),
        })
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `text` with the namespace of context `context` set (Some) or removed
/// (None). Edits the text in place where the file has kubectl's block
/// layout, so comments, order, quoting and every other byte stay; checks
/// that the result means exactly the intended change, and otherwise
/// changes nothing and says how to do it with kubectl.
pub fn set_namespace(text: &str, context: &str, namespace: Option<&str>) -> Result<String, String> {
    let original: Value =
        serde_yaml::from_str(text).map_err(|e| format!("not a YAML kubeconfig: {e}"))?;
    let mut intended = original.clone();
    set_in_value(&mut intended, context, namespace)?;
    if intended == original {
        return Ok(text.to_string());
    }
    if let Some(edited) = edit_text(text, context, namespace)
        && serde_yaml::from_str::<Value>(&edited).ok().as_ref() == Some(&intended)
    {
        return Ok(edited);
    }
    // Rewriting the whole file would also change how other tools read its
    // other strings (serde_yaml writes YAML 1.2; client-go reads 1.1).
    Err(format!(
        "the kubeconfig's layout for context {context:?} is not one this plugin edits in place; nothing was changed. Set it with: kubectl config set-context {context} --namespace={}",
        namespace.unwrap_or("")
    ))
}

fn set_in_value(doc: &mut Value, context: &str, namespace: Option<&str>) -> Result<(), String> {
    let missing = || format!("no context named {context:?}");
    let contexts = doc
        .get_mut("contexts")
        .and_then(Value::as_sequence_mut)
        .ok_or_else(missing)?;
    let entry = contexts
        .iter_mut()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(context))
        .ok_or_else(missing)?;
    let entry = entry.as_mapping_mut().ok_or_else(missing)?;
    let body = entry
        .entry(Value::from("context"))
        .or_insert(Value::Mapping(Default::default()));
    if body.is_null() {
        *body = Value::Mapping(Default::default());
    }
    let body = body
        .as_mapping_mut()
        .ok_or_else(|| format!("context {context:?} is not a mapping"))?;
    match namespace {
        Some(ns) => {
            body.insert(Value::from("namespace"), Value::from(ns));
        }
        None => {
            body.remove("namespace");
        }
    }
    Ok(())
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// The key and the raw value of `key: value` (None for other lines).
fn key_value(content: &str) -> Option<(&str, &str)> {
    let (key, rest) = content.split_once(':')?;
    if key.is_empty()
        || key.contains(' ')
        || !(rest.is_empty() || rest.starts_with([' ', '\r', '\n']))
    {
        return None;
    }
    Some((key, rest.trim()))
}

fn scalar(raw: &str) -> Option<String> {
    serde_yaml::from_str::<String>(raw).ok()
}

/// The namespace as a single-quoted YAML scalar: always a string, also to
/// client-go's YAML 1.1 reader (which takes a bare `no`, `on` or `y` for a
/// boolean and would then refuse the whole file).
fn render(namespace: &str) -> String {
    format!("'{}'", namespace.replace('\'', "''"))
}

/// The edit on kubectl's block layout:
/// ```yaml
/// contexts:
/// - context:
///     cluster: c
///     namespace: ns
///     user: u
///   name: ctx
/// ```
/// None when the file is laid out otherwise (flow style, anchors, ...).
fn edit_text(text: &str, context: &str, namespace: Option<&str>) -> Option<String> {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(String::from).collect();
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let body = |l: &String| l.trim_end_matches(['\n', '\r']).to_string();
    let start = lines
        .iter()
        .position(|l| key_value(&body(l)) == Some(("contexts", "")))?;
    // The list's extent: until the next top-level key.
    let mut end = start + 1;
    while end < lines.len() {
        let l = body(&lines[end]);
        if !is_blank_or_comment(&l) && indent(&l) == 0 && !l.starts_with("- ") && l != "-" {
            break;
        }
        end += 1;
    }
    let first = (start + 1..end).find(|&i| !is_blank_or_comment(&body(&lines[i])))?;
    let item_indent = indent(&body(&lines[first]));
    let key_indent = item_indent + 2;
    let item_starts: Vec<usize> = (start + 1..end)
        .filter(|&i| {
            let l = body(&lines[i]);
            indent(&l) == item_indent && l[item_indent..].starts_with("- ")
        })
        .collect();
    for (n, &item) in item_starts.iter().enumerate() {
        let item_end = item_starts.get(n + 1).copied().unwrap_or(end);
        // The item's keys: the one after "- " and those at key_indent.
        let keys: Vec<(usize, String, String)> = (item..item_end)
            .filter_map(|i| {
                let l = body(&lines[i]);
                let is_key = i == item || (indent(&l) == key_indent && !is_blank_or_comment(&l));
                if !is_key {
                    return None;
                }
                let content = &l[key_indent..];
                key_value(content).map(|(k, v)| (i, k.to_string(), v.to_string()))
            })
            .collect();
        let name = keys.iter().find(|(_, k, _)| k == "name")?;
        if scalar(&name.2).as_deref() != Some(context) {
            continue;
        }
        let (ctx_line, _, inline) = keys.iter().find(|(_, k, _)| k == "context")?;
        if !inline.is_empty() {
            let edited = edit_flow(inline, namespace)?;
            let line = &mut lines[*ctx_line];
            let at = line.rfind(inline.as_str())?;
            line.replace_range(at..at + inline.len(), &edited);
            return Some(lines.concat());
        }
        // The context's own keys: the lines below it, indented further.
        let mut children = vec![];
        let mut last = *ctx_line;
        for (i, line) in lines.iter().enumerate().take(item_end).skip(ctx_line + 1) {
            let l = body(line);
            if is_blank_or_comment(&l) {
                continue;
            }
            if indent(&l) <= key_indent {
                break;
            }
            children.push(i);
            last = i;
        }
        let child_indent = indent(&body(&lines[*children.first()?]));
        let child_keys: Vec<(usize, String)> = children
            .iter()
            .filter(|&&i| indent(&body(&lines[i])) == child_indent)
            .filter_map(|&i| {
                let l = body(&lines[i]);
                key_value(&l[child_indent..]).map(|(k, _)| (i, k.to_string()))
            })
            .collect();
        let existing = child_keys
            .iter()
            .find(|(_, k)| k == "namespace")
            .map(|(i, _)| *i);
        let line_end = |i: usize| -> &str {
            if lines[i].ends_with("\r\n") {
                "\r\n"
            } else if lines[i].ends_with('\n') {
                "\n"
            } else {
                ""
            }
        };
        match (namespace, existing) {
            (Some(ns), Some(i)) => {
                let end = line_end(i).to_string();
                lines[i] = format!("{}namespace: {}{end}", " ".repeat(child_indent), render(ns));
            }
            (None, Some(i)) => {
                lines.remove(i);
            }
            (Some(ns), None) => {
                // kubectl writes keys sorted: keep them so.
                let at = child_keys
                    .iter()
                    .find(|(_, k)| k.as_str() > "namespace")
                    .map(|(i, _)| *i)
                    .unwrap_or(last + 1);
                let line = format!("{}namespace: {}{eol}", " ".repeat(child_indent), render(ns));
                if at == lines.len() && !lines[at - 1].ends_with('\n') {
                    lines[at - 1].push_str(eol);
                }
                lines.insert(at, line);
            }
            (None, None) => {}
        }
        return Some(lines.concat());
    }
    None
}

/// A context written as a flow mapping on one line
/// (`{cluster: c, user: u}`), with the namespace set or removed, the other
/// entries as written. None for anything fancier (verified by the caller).
fn edit_flow(inline: &str, namespace: Option<&str>) -> Option<String> {
    let inner = inline.strip_prefix('{')?.strip_suffix('}')?;
    let mut entries: Vec<(String, String)> = inner
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| key_value(e).map(|(k, v)| (k.to_string(), v.to_string())))
        .collect::<Option<_>>()?;
    entries.retain(|(k, _)| k != "namespace");
    if let Some(ns) = namespace {
        let at = entries
            .iter()
            .position(|(k, _)| k.as_str() > "namespace")
            .unwrap_or(entries.len());
        entries.insert(at, ("namespace".into(), render(ns)));
    }
    let body: Vec<String> = entries.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    Some(format!("{{{}}}", body.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = "\
# my clusters, do not lose this comment
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: QUJD   # the CA
    server: https://127.0.0.1:6443
  name: local
contexts:
- context:
    cluster: local
    user: bob
  name: bob@local
- context:
    cluster: local
    namespace: 'old'
    user: alice
  name: \"alice@local\"
current-context: bob@local
kind: Config
preferences: {}
users:
- name: bob
  user:
    token: s3cret
";

    fn namespace_of(text: &str, context: &str) -> Option<String> {
        let v: Value = serde_yaml::from_str(text).unwrap();
        v["contexts"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|c| c["name"].as_str() == Some(context))
            .and_then(|c| c["context"]["namespace"].as_str().map(String::from))
    }

    /// The lines of `after` that are not in `before`, and the reverse.
    fn diff(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
        let b: Vec<&str> = before.lines().collect();
        let a: Vec<&str> = after.lines().collect();
        (
            a.iter()
                .filter(|l| !b.contains(l))
                .map(|l| l.to_string())
                .collect(),
            b.iter()
                .filter(|l| !a.contains(l))
                .map(|l| l.to_string())
                .collect(),
        )
    }

    #[test]
    fn inserting_a_namespace_adds_one_line_in_kubectl_order() {
        let out = set_namespace(KUBECONFIG, "bob@local", Some("acme--payments")).unwrap();
        assert_eq!(
            namespace_of(&out, "bob@local").as_deref(),
            Some("acme--payments")
        );
        let (added, removed) = diff(KUBECONFIG, &out);
        assert_eq!(added, vec!["    namespace: 'acme--payments'"]);
        assert!(removed.is_empty());
        let at = out.find("namespace: 'acme--payments'").unwrap();
        assert!(
            out[..at].ends_with("    cluster: local\n    "),
            "sorted between cluster and user"
        );
    }

    #[test]
    fn replacing_and_removing_touch_only_that_line() {
        let out = set_namespace(KUBECONFIG, "alice@local", Some("acme--research")).unwrap();
        assert_eq!(
            diff(KUBECONFIG, &out),
            (
                vec!["    namespace: 'acme--research'".to_string()],
                vec!["    namespace: 'old'".to_string()]
            )
        );
        let out = set_namespace(KUBECONFIG, "alice@local", None).unwrap();
        assert_eq!(namespace_of(&out, "alice@local"), None);
        assert_eq!(
            diff(KUBECONFIG, &out),
            (vec![], vec!["    namespace: 'old'".to_string()])
        );
        assert_eq!(out.len(), KUBECONFIG.len() - "    namespace: 'old'\n".len());
    }

    #[test]
    fn a_namespace_is_always_a_string_to_yaml_1_1_readers() {
        // client-go reads a bare `no` as a boolean and refuses the file.
        let out = set_namespace(KUBECONFIG, "bob@local", Some("no")).unwrap();
        assert!(out.contains("    namespace: 'no'\n"), "{out}");
    }

    #[test]
    fn a_namespace_that_reads_as_a_number_is_quoted() {
        let out = set_namespace(KUBECONFIG, "bob@local", Some("123")).unwrap();
        assert_eq!(namespace_of(&out, "bob@local").as_deref(), Some("123"));
    }

    #[test]
    fn other_layouts_keep_their_meaning() {
        // A layout not edited in place: nothing changes, and the error says
        // how to do it with kubectl.
        let flow = "apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts: [{name: c, context: {cluster: x, user: u}}]\nclusters: []\nusers: []\n";
        let err = set_namespace(flow, "c", Some("acme--a")).unwrap_err();
        assert!(
            err.contains("kubectl config set-context c --namespace=acme--a"),
            "{err}"
        );
        // Items indented under the key, name first, no trailing newline.
        let indented =
            "contexts:\n  - name: c\n    context:\n      cluster: x\n      user: u\nkind: Config";
        let out = set_namespace(indented, "c", Some("acme--a")).unwrap();
        assert_eq!(
            out,
            "contexts:\n  - name: c\n    context:\n      cluster: x\n      namespace: 'acme--a'\n      user: u\nkind: Config"
        );
        assert!(set_namespace(KUBECONFIG, "nobody", Some("x")).is_err());
    }

    #[test]
    fn a_context_written_inline_is_edited_in_its_line() {
        // As tests/control-plane/up.sh writes the test users' kubeconfigs.
        let text = "apiVersion: v1\nkind: Config\ncontexts:\n- name: wsop\n  context: {cluster: wsop, user: user}\ncurrent-context: wsop\n";
        let set = set_namespace(text, "wsop", Some("acme--lab")).unwrap();
        assert_eq!(
            set,
            text.replace(
                "{cluster: wsop, user: user}",
                "{cluster: wsop, namespace: 'acme--lab', user: user}"
            )
        );
        assert_eq!(set_namespace(&set, "wsop", None).unwrap(), text);
    }

    #[test]
    fn the_file_keeps_its_mode_and_the_edit_is_all_that_changes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, KUBECONFIG).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        edit_namespace(&path, "bob@local", Some("acme--payments")).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640);
        let after = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            after,
            KUBECONFIG.replace(
                "    cluster: local\n    user: bob",
                "    cluster: local\n    namespace: 'acme--payments'\n    user: bob"
            )
        );
        edit_namespace(&path, "bob@local", None).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), KUBECONFIG);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("config")],
            "no temporary or lock file left"
        );
    }

    #[test]
    fn a_symlinked_kubeconfig_stays_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        let link = dir.path().join("config");
        std::fs::write(&real, KUBECONFIG).unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        edit_namespace(&link, "bob@local", Some("a--b")).unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            namespace_of(&std::fs::read_to_string(&real).unwrap(), "bob@local").as_deref(),
            Some("a--b")
        );
    }
}
