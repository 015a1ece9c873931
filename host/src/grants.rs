//! What one component was granted in spin.toml: databases, stores, outbound hosts, its variables (with
//! their templates expanded) and environment.

use crate::manifest::{self, Manifest};
use crate::outbound::{AllowedHosts, OutboundPolicy};
use anyhow::Result;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What one component was granted: databases, stores, outbound hosts, resolved variables, environment.
#[derive(Debug)]
pub struct ComponentGrants {
    pub id: String,
    pub sqlite_databases: Vec<String>,
    pub key_value_stores: Vec<String>,
    pub outbound: Arc<dyn OutboundPolicy>,
    pub variables: HashMap<String, String>,
    pub environment: BTreeMap<String, String>,
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
        let mut variables = HashMap::new();
        for (name, template) in &component.variables {
            let expanded = manifest::expand_template(template, |reference| {
                values
                    .get(reference)
                    .cloned()
                    .or_else(|| manifest.variables.get(reference).and_then(|v| v.default.clone()))
                    .unwrap_or_default()
            })?;
            variables.insert(name.clone(), expanded);
        }
        Ok(ComponentGrants {
            id: id.to_string(),
            sqlite_databases: component.sqlite_databases.clone(),
            key_value_stores: component.key_value_stores.clone(),
            outbound: Arc::new(AllowedHosts::parse(&component.allowed_outbound_hosts)?),
            variables,
            environment: component.environment.clone(),
        })
    }
}
