//! What one component was granted in spin.toml: databases, stores, outbound hosts, its variables (with
//! their templates expanded), environment, and its `tool.conveyor` settings (request body limit, instance
//! cap, request timeout; expanded the same way).

use crate::manifest::{self, Manifest};
use crate::outbound::{AllowedHosts, OutboundPolicy};
use anyhow::{Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// What one component was granted: databases, stores, outbound hosts, resolved variables, environment.
#[derive(Debug)]
pub struct ComponentGrants {
    pub id: String,
    pub sqlite_databases: Vec<String>,
    pub key_value_stores: Vec<String>,
    pub outbound: Arc<dyn OutboundPolicy>,
    pub variables: HashMap<String, String>,
    pub environment: BTreeMap<String, String>,
    /// Largest request body in bytes, if the component sets one (else the host's limit applies).
    pub max_request_body: Option<u64>,
    /// The most instances of the component alive at once, if it sets it (else it shares the host's).
    pub max_instances: Option<u32>,
    /// The component's request timeout, if it sets one (else the host's applies).
    pub request_timeout: Option<Duration>,
}

impl ComponentGrants {
    /// The grants of component `id`, its variable templates expanded with the application's `values`
    /// (a declared default where a value is missing).
    pub fn new(
        id: &str,
        component: &manifest::Component,
        values: &HashMap<String, String>,
        manifest: &Manifest,
    ) -> Result<ComponentGrants> {
        let expand = |template: &str| {
            manifest::expand_template(template, |reference| {
                values
                    .get(reference)
                    .cloned()
                    .or_else(|| manifest.variables.get(reference).and_then(|v| v.default.clone()))
                    .unwrap_or_default()
            })
        };
        let mut variables = HashMap::new();
        for (name, template) in &component.variables {
            variables.insert(name.clone(), expand(template)?);
        }
        let setting = |setting: manifest::Setting, template: &Option<String>| -> Result<Option<u64>> {
            let Some(template) = template else { return Ok(None) };
            let value = number(setting, template, expand(template)?, manifest)
                .with_context(|| format!("key `component.{id}.tool.conveyor.{}`", setting.key()))?;
            Ok(Some(value))
        };
        let settings = &component.conveyor;
        let max_request_body = setting(manifest::Setting::MaxRequestBody, &settings.max_request_body)?;
        let max_instances = setting(manifest::Setting::MaxInstances, &settings.max_instances)?
            .map(|n| u32::try_from(n).expect("`Setting::parse` bounds the instance count"));
        let request_timeout = setting(manifest::Setting::RequestTimeoutSeconds, &settings.request_timeout_seconds)?
            .map(Duration::from_secs);
        Ok(ComponentGrants {
            id: id.to_string(),
            sqlite_databases: component.sqlite_databases.clone(),
            key_value_stores: component.key_value_stores.clone(),
            outbound: Arc::new(
                AllowedHosts::resolve(&component.allowed_outbound_hosts, expand, |entry| !is_secret(entry, manifest))
                    .with_context(|| format!("key `component.{id}.allowed_outbound_hosts`"))?,
            ),
            variables,
            environment: component.environment.clone(),
            max_request_body,
            max_instances,
            request_timeout,
        })
    }
}

/// The number `template` expanded to; an error says what it expanded to, unless a secret went into it.
fn number(setting: manifest::Setting, template: &str, expanded: String, manifest: &Manifest) -> Result<u64> {
    setting.parse(&expanded).map_err(|error| {
        let references = manifest::template_references(template).unwrap_or_default();
        if references.is_empty() {
            error
        } else if is_secret(template, manifest) {
            anyhow::anyhow!("`{template}` is not a valid number of {} (its value is secret)", setting.unit())
        } else {
            anyhow::anyhow!("{error}, from `{template}`")
        }
    })
}

/// Whether `template` takes a secret variable's value.
fn is_secret(template: &str, manifest: &Manifest) -> bool {
    let references = manifest::template_references(template).unwrap_or_default();
    references.iter().any(|r| manifest.variables.get(*r).is_some_and(|v| v.secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
max_upload_bytes = { default = "1073741824" }
token = { default = "x", secret = true }
stream_instances = { default = "64" }
upload_timeout_seconds = { default = "3600" }
[component.uploads]
source = "u.wasm"
[component.uploads.tool.conveyor]
max_request_body = "{{ max_upload_bytes }}"
[component.plain]
source = "p.wasm"
[component.streams]
source = "s.wasm"
[component.streams.tool.conveyor]
max_instances = "{{ stream_instances }}"
request_timeout_seconds = "{{ upload_timeout_seconds }}"
"#;

    fn limit(manifest: &str, values: &[(&str, &str)]) -> Result<Option<u64>> {
        let manifest = manifest::parse(manifest).unwrap();
        let values = values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let id = "uploads";
        ComponentGrants::new(id, &manifest.component[id], &values, &manifest).map(|g| g.max_request_body)
    }

    #[test]
    fn a_body_limit_template_resolves_through_the_variables() {
        assert_eq!(limit(MANIFEST, &[]).unwrap(), Some(1 << 30), "the declared default");
        assert_eq!(limit(MANIFEST, &[("max_upload_bytes", "2048")]).unwrap(), Some(2048), "the provider's value");
        let manifest = manifest::parse(MANIFEST).unwrap();
        let plain = ComponentGrants::new("plain", &manifest.component["plain"], &HashMap::new(), &manifest).unwrap();
        assert_eq!(plain.max_request_body, None, "no setting: the host's limit");
    }

    #[test]
    fn a_body_limit_that_resolves_to_no_number_is_an_error_naming_the_key_and_value() {
        let error = format!("{:#}", limit(MANIFEST, &[("max_upload_bytes", "1GiB")]).unwrap_err());
        assert_eq!(
            error,
            "key `component.uploads.tool.conveyor.max_request_body`: `1GiB` is not a number of bytes (decimal \
             digits only), from `{{ max_upload_bytes }}`"
        );
        let secret = MANIFEST.replace("{{ max_upload_bytes }}", "{{ token }}");
        let error = format!("{:#}", limit(&secret, &[("token", "hunter2")]).unwrap_err());
        assert!(error.contains("its value is secret") && !error.contains("hunter2"), "{error}");
    }

    fn streams(values: &[(&str, &str)]) -> Result<ComponentGrants> {
        let manifest = manifest::parse(MANIFEST).unwrap();
        let values = values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ComponentGrants::new("streams", &manifest.component["streams"], &values, &manifest)
    }

    #[test]
    fn an_allowed_host_template_resolves_through_the_variables_and_keeps_secrets() {
        let text = MANIFEST.replace(
            "[component.plain]\nsource = \"p.wasm\"",
            "[component.plain]\nsource = \"p.wasm\"\nallowed_outbound_hosts = [\"https://{{ token }}\"]",
        );
        let manifest = manifest::parse(&text).unwrap();
        let grants = |token: &str| {
            let values = HashMap::from([("token".to_string(), token.to_string())]);
            ComponentGrants::new("plain", &manifest.component["plain"], &values, &manifest)
        };
        let allowed = grants("hooks.example.com").unwrap().outbound;
        assert!(allowed.allows("https", "hooks.example.com", 443));
        assert!(!allowed.allows("https", "example.com", 443));
        let error = format!("{:#}", grants("hunter2/path").unwrap_err());
        assert!(error.starts_with("key `component.plain.allowed_outbound_hosts`: "), "{error}");
        assert!(error.contains("it is secret") && !error.contains("hunter2"), "{error}");
    }

    #[test]
    fn an_instance_cap_and_a_timeout_resolve_through_the_variables() {
        let grants = streams(&[]).unwrap();
        assert_eq!((grants.max_instances, grants.request_timeout), (Some(64), Some(Duration::from_secs(3600))));
        let grants = streams(&[("stream_instances", "2"), ("upload_timeout_seconds", "5")]).unwrap();
        assert_eq!((grants.max_instances, grants.request_timeout), (Some(2), Some(Duration::from_secs(5))));
        let manifest = manifest::parse(MANIFEST).unwrap();
        let plain = ComponentGrants::new("plain", &manifest.component["plain"], &HashMap::new(), &manifest).unwrap();
        assert_eq!((plain.max_instances, plain.request_timeout), (None, None), "no settings: the host's");
    }

    #[test]
    fn an_instance_cap_or_timeout_out_of_range_is_an_error_naming_the_key_and_value() {
        let cases = [
            (("stream_instances", "0"), "max_instances`: must be 1 to 4294967295 instances, found 0, from"),
            (("stream_instances", "lots"), "max_instances`: `lots` is not a number of instances"),
            (("upload_timeout_seconds", "1h"), "request_timeout_seconds`: `1h` is not a number of seconds"),
            (("upload_timeout_seconds", "0"), "request_timeout_seconds`: must be 1 to 86400 seconds, found 0"),
        ];
        for (value, expected) in cases {
            let error = format!("{:#}", streams(&[value]).unwrap_err());
            assert!(error.starts_with("key `component.streams.tool.conveyor."), "{error}");
            assert!(error.contains(expected), "expected `{expected}` in: {error}");
        }
    }
}
