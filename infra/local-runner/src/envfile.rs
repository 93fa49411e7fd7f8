//! `infra/local/env.json`, in `sam local invoke --env-vars` format: a `Parameters` object
//! applied to every function and one object per function logical id. As in SAM, a value
//! overrides only variables the template declares for that function.

use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Default, Clone)]
pub struct EnvFile {
    sections: BTreeMap<String, BTreeMap<String, String>>,
}

impl EnvFile {
    pub fn load(path: &Path) -> Result<EnvFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let raw: BTreeMap<String, BTreeMap<String, serde_json::Value>> =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let sections = raw
            .into_iter()
            .map(|(section, vars)| {
                let vars = vars
                    .into_iter()
                    .map(|(k, v)| (k, v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())))
                    .collect();
                (section, vars)
            })
            .collect();
        Ok(EnvFile { sections })
    }

    /// Applies the overrides for `function` to its declared variables.
    pub fn apply(&self, function: &str, env: &mut BTreeMap<String, String>) {
        for section in ["Parameters", function] {
            if let Some(vars) = self.sections.get(section) {
                for (k, v) in vars {
                    if let Some(slot) = env.get_mut(k) {
                        *slot = v.clone();
                    }
                }
            }
        }
    }

    /// Whether `apply` sets `name` for `function` (from its own section or `Parameters`).
    pub fn sets(&self, function: &str, name: &str) -> bool {
        ["Parameters", function]
            .iter()
            .any(|section| self.sections.get(*section).is_some_and(|vars| vars.contains_key(name)))
    }

    pub fn get(&self, section: &str, name: &str) -> Option<&str> {
        self.sections.get(section)?.get(name).map(String::as_str)
    }
}
