//! What `use -` goes back to: the namespace a context had before the last
//! `use`, kept outside the kubeconfig (which must not change otherwise) in
//! `$XDG_STATE_HOME/kubectl-workspace/previous.json` or
//! `~/.kube/kubectl-workspace-previous.json`, keyed by kubeconfig file and
//! context.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::kubeconfig::write_replacing;

/// One context's previous namespace (None: it had none).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Previous {
    namespace: Option<String>,
}

/// The state file.
pub struct State {
    path: PathBuf,
}

fn key(kubeconfig: &Path, context: &str) -> String {
    let file = std::fs::canonicalize(kubeconfig).unwrap_or_else(|_| kubeconfig.to_path_buf());
    format!("{}#{context}", file.display())
}

impl State {
    /// The state file of this user.
    pub fn of_user() -> Result<State> {
        let path = match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir).join("kubectl-workspace/previous.json"),
            None => std::env::home_dir()
                .ok_or_else(|| Error::Usage("no home directory for the state of `use -`".into()))?
                .join(".kube/kubectl-workspace-previous.json"),
        };
        Ok(State { path })
    }

    #[cfg(test)]
    pub fn at(path: PathBuf) -> State {
        State { path }
    }

    fn read(&self) -> BTreeMap<String, Previous> {
        std::fs::read(&self.path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// The namespace `context` of `kubeconfig` had before the last `use`
    /// (outer None: nothing remembered).
    pub fn previous(&self, kubeconfig: &Path, context: &str) -> Option<Option<String>> {
        self.read()
            .remove(&key(kubeconfig, context))
            .map(|p| p.namespace)
    }

    /// Remembers `namespace` as what `context` had before.
    pub fn remember(
        &self,
        kubeconfig: &Path,
        context: &str,
        namespace: Option<&str>,
    ) -> Result<()> {
        let io = |what, source| Error::Io {
            what,
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| io("cannot create the directory of", e))?;
        // Serialise read-modify-write between concurrent invocations.
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path.with_extension("lock"))
            .map_err(|e| io("cannot lock", e))?;
        lock.lock().map_err(|e| io("cannot lock", e))?;
        let mut all = self.read();
        all.insert(
            key(kubeconfig, context),
            Previous {
                namespace: namespace.map(String::from),
            },
        );
        let text = serde_json::to_vec_pretty(&all).map_err(|e| Error::Output(e.to_string()))?;
        if !self.path.exists() {
            std::fs::write(&self.path, b"{}").map_err(|e| io("cannot create", e))?;
        }
        write_replacing(&self.path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_per_file_and_context() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::at(dir.path().join("s/previous.json"));
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        assert_eq!(state.previous(&a, "ctx"), None);
        state.remember(&a, "ctx", Some("acme--x")).unwrap();
        state.remember(&b, "ctx", None).unwrap();
        assert_eq!(state.previous(&a, "ctx"), Some(Some("acme--x".into())));
        assert_eq!(state.previous(&b, "ctx"), Some(None));
        assert_eq!(state.previous(&a, "other"), None);
    }
}
