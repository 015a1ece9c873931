//! The application's variables: resolved at start-up from a [`VariablesProvider`] (today's is
//! [`Environment`], as Spin's environment provider: `SPIN_VARIABLE_<NAME>` overrides the default), plus
//! the local host's one convenience: an empty `admin_token` is generated on first start and kept in the
//! data directory. The WIT glue is in `host`.

mod host;

use crate::manifest::Manifest;
use anyhow::{Context, Result, bail};
use base64::Engine as _;
use std::collections::HashMap;
use std::path::Path;

/// The variable the local host generates when nothing sets it.
pub const ADMIN_TOKEN: &str = "admin_token";

/// Where the values of the application's variables come from.
pub trait VariablesProvider {
    /// The value of variable `name` (as spin.toml declares it), if this provider has one.
    fn get(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> VariablesProvider for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// Spin's environment provider: `SPIN_VARIABLE_<NAME>`, after values given in-process (tests).
pub struct Environment {
    pub overrides: HashMap<String, String>,
}

impl VariablesProvider for Environment {
    fn get(&self, name: &str) -> Option<String> {
        self.overrides.get(name).cloned().or_else(|| std::env::var(environment_name(name)).ok())
    }
}

fn environment_name(name: &str) -> String {
    format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase())
}

/// Resolves every declared variable; a required one without a value is an error naming it.
pub fn resolve(
    manifest: &Manifest,
    data_dir: &Path,
    provider: &impl VariablesProvider,
) -> Result<HashMap<String, String>> {
    let mut values = HashMap::new();
    for (name, variable) in &manifest.variables {
        let value = match (provider.get(name), &variable.default) {
            (Some(value), _) => value,
            (None, _) if name == ADMIN_TOKEN => stored_admin_token(data_dir)?,
            (None, Some(default)) => default.clone(),
            (None, None) => bail!("variable `{name}` is required: set {}", environment_name(name)),
        };
        values.insert(name.clone(), value);
    }
    Ok(values)
}

/// Reads `<data-dir>/admin_token`, creating it with 32 random bytes on first start.
fn stored_admin_token(data_dir: &Path) -> Result<String> {
    let path = data_dir.join(ADMIN_TOKEN);
    if let Ok(token) = std::fs::read_to_string(&path)
        && !token.trim().is_empty()
    {
        return Ok(token.trim().to_string());
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("{}: cannot create", data_dir.display()))?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let token = format!("cva_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    write_private(&path, &token).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(token)
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(variables: &str) -> Manifest {
        crate::manifest::parse(&format!(
            "spin_manifest_version = 2\n[application]\nname = \"t\"\n[variables]\n{variables}"
        ))
        .unwrap()
    }

    #[test]
    fn env_overrides_defaults_and_admin_token_is_generated_once() {
        let dir = std::env::temp_dir().join(format!("conveyor-vars-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let m = manifest("admin_token = { default = \"\", secret = true }\nsignup = { default = \"false\" }");
        let none = |_: &str| -> Option<String> { None };
        let first = resolve(&m, &dir, &none).unwrap();
        assert!(first["admin_token"].starts_with("cva_") && first["admin_token"].len() > 40);
        assert_eq!(first["signup"], "false");
        assert_eq!(resolve(&m, &dir, &none).unwrap()["admin_token"], first["admin_token"]);
        let env = |name: &str| (name == "admin_token").then(|| "from-env".to_string());
        assert_eq!(resolve(&m, &dir, &env).unwrap()["admin_token"], "from-env");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_required_variable_without_value_is_named() {
        let error = resolve(
            &manifest("region = { required = true }"),
            Path::new("/nonexistent"),
            &|_: &str| -> Option<String> { None },
        )
        .unwrap_err();
        assert!(error.to_string().contains("SPIN_VARIABLE_REGION"), "{error}");
    }
}
