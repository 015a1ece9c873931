//! The subset of Spin's application manifest (v2) that Conveyor's host supports. Anything else in the file
//! is a start-up error naming the key, never silently ignored; the one exception is Spin's own: tool tables
//! (`application.tool.<name>`, `component.<id>.tool.<name>`) other than `conveyor`, which are for other
//! tools.

use crate::router::{RoutePattern, Router};
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A parsed and validated `spin.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub spin_manifest_version: u32,
    pub application: Application,
    #[serde(default)]
    pub variables: BTreeMap<String, Variable>,
    #[serde(default)]
    pub trigger: Triggers,
    #[serde(default)]
    pub component: BTreeMap<String, Component>,
    /// `[[application.tool.conveyor.tick]]`, read from `application.tool` by [`parse`].
    #[serde(skip)]
    pub ticks: Vec<Tick>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    /// Settings for tools, which Spin ignores: any `tool.<name>` table is accepted, and only
    /// `tool.conveyor` is read (strictly, into [`Manifest::ticks`]).
    #[serde(default)]
    pub tool: BTreeMap<String, toml::Table>,
}

/// `[[application.tool.conveyor.tick]]`: the local host POSTs to `route` every `every_seconds`, as an
/// external cron does where the application runs on Spin.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tick {
    /// A request path, served by some trigger.
    pub route: String,
    /// 1..=86400.
    pub every_seconds: u64,
}

impl Tick {
    /// Longest period a tick may have: a day.
    pub const MAX_SECONDS: u64 = 86_400;

    /// The time between two calls.
    pub fn period(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.every_seconds)
    }
}

/// An application variable: a default, or required; secret ones are never printed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    #[serde(default)]
    pub http: Vec<HttpTrigger>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    pub route: String,
    pub component: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub source: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub build: Option<Build>,
    /// Settings for tools, which Spin ignores: any `tool.<name>` table is accepted, and only
    /// `tool.conveyor` is read (strictly, into [`Component::conveyor`]).
    #[serde(default)]
    pub tool: BTreeMap<String, toml::Table>,
    /// `[component.<id>.tool.conveyor]`, read from `tool` by [`parse`].
    #[serde(skip)]
    pub conveyor: ComponentSettings,
}

/// `[component.<id>.tool.conveyor]`: this host's settings for one component. Each is kept as written: a
/// number, or a `{{ name }}` template of application variables resolved at start (see `grants`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentSettings {
    /// `max_request_body`: the largest request body in bytes. Without it, the host's limit.
    pub max_request_body: Option<String>,
    /// `max_instances`: the most instances of the component alive at once (1 to the host's
    /// `max_instances`). Without it, the component shares the host's instances with the others.
    pub max_instances: Option<String>,
    /// `request_timeout_seconds`: the component's request timeout (1 to [`MAX_TIMEOUT_SECONDS`]). Without
    /// it, the host's (`--request-timeout`).
    pub request_timeout_seconds: Option<String>,
}

/// One `[component.<id>.tool.conveyor]` key: its name and what a valid value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    MaxRequestBody,
    MaxInstances,
    RequestTimeoutSeconds,
}

impl Setting {
    pub const ALL: [Setting; 3] = [Setting::MaxRequestBody, Setting::MaxInstances, Setting::RequestTimeoutSeconds];

    /// The key in spin.toml.
    pub fn key(self) -> &'static str {
        match self {
            Setting::MaxRequestBody => "max_request_body",
            Setting::MaxInstances => "max_instances",
            Setting::RequestTimeoutSeconds => "request_timeout_seconds",
        }
    }

    /// What the number counts (in messages).
    pub(crate) fn unit(self) -> &'static str {
        match self {
            Setting::MaxRequestBody => "bytes",
            Setting::MaxInstances => "instances",
            Setting::RequestTimeoutSeconds => "seconds",
        }
    }

    /// The value `text` (a template already expanded) stands for.
    pub fn parse(self, text: &str) -> Result<u64> {
        let unit = self.unit();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            bail!("`{text}` is not a number of {unit} (decimal digits only)");
        }
        let value: u64 = text.parse().map_err(|_| anyhow::anyhow!("`{text}` is too large"))?;
        let (least, most) = match self {
            Setting::MaxRequestBody => (0, u64::MAX),
            Setting::MaxInstances => (1, u64::from(u32::MAX)),
            Setting::RequestTimeoutSeconds => (1, MAX_TIMEOUT_SECONDS),
        };
        if !(least..=most).contains(&value) {
            bail!("must be {least} to {most} {unit}, found {value}");
        }
        Ok(value)
    }

    fn slot(self, settings: &mut ComponentSettings) -> &mut Option<String> {
        match self {
            Setting::MaxRequestBody => &mut settings.max_request_body,
            Setting::MaxInstances => &mut settings.max_instances,
            Setting::RequestTimeoutSeconds => &mut settings.request_timeout_seconds,
        }
    }
}

/// The longest request timeout a component may set: a day.
pub const MAX_TIMEOUT_SECONDS: u64 = 86_400;

/// How `conveyor build` (and `spin build`) produces a component's `.wasm`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    pub command: String,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub watch: Vec<String>,
}

/// A manifest together with where it lives (relative paths resolve against its directory).
#[derive(Debug, Clone)]
pub struct App {
    pub manifest: Manifest,
    /// The manifest's path as given (for messages).
    pub path: PathBuf,
    /// The manifest's directory, absolute, so that it is never the empty path of a bare `spin.toml`.
    dir: PathBuf,
}

impl App {
    /// Reads and validates a manifest file.
    pub fn load(path: &Path) -> Result<App> {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let manifest = parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let absolute = std::path::absolute(path).with_context(|| format!("{}: cannot resolve", path.display()))?;
        let dir = absolute.parent().map(Path::to_path_buf).unwrap_or(absolute);
        Ok(App { manifest, path: path.to_path_buf(), dir })
    }

    /// The directory relative paths in the manifest (`source`, `build.workdir`) are resolved against.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A component's `.wasm` path.
    pub fn source(&self, component: &Component) -> PathBuf {
        self.dir.join(&component.source)
    }
}

/// Parses manifest text and checks what TOML alone cannot: versions, names, references and templates.
pub fn parse(text: &str) -> Result<Manifest> {
    let manifest: Manifest = toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", one_line(&e.to_string())))?;
    if manifest.spin_manifest_version != 2 {
        bail!("key `spin_manifest_version`: only version 2 is supported, found {}", manifest.spin_manifest_version);
    }
    for (name, variable) in &manifest.variables {
        check_variable_name(name).with_context(|| format!("key `variables.{name}`"))?;
        if variable.required && variable.default.is_some() {
            bail!("key `variables.{name}`: a variable is either required or has a default, not both");
        }
        if !variable.required && variable.default.is_none() {
            bail!("key `variables.{name}`: give a `default` or set `required = true`");
        }
    }
    for (index, trigger) in manifest.trigger.http.iter().enumerate() {
        if !manifest.component.contains_key(&trigger.component) {
            bail!("key `trigger.http[{index}].component`: no component `{}` is defined", trigger.component);
        }
        RoutePattern::parse(&trigger.route).with_context(|| format!("key `trigger.http[{index}].route`"))?;
    }
    let mut manifest = manifest;
    if let Some(table) = manifest.application.tool.get(CONVEYOR_TOOL) {
        manifest.ticks = conveyor_ticks(table, &manifest.trigger.http)?;
    }
    for (id, component) in &manifest.component {
        for (name, template) in &component.variables {
            check_variable_name(name).with_context(|| format!("key `component.{id}.variables.{name}`"))?;
            for reference in
                template_references(template).with_context(|| format!("key `component.{id}.variables.{name}`"))?
            {
                if !manifest.variables.contains_key(reference) {
                    bail!("key `component.{id}.variables.{name}`: unknown variable `{reference}` in template");
                }
            }
        }
        for host in &component.allowed_outbound_hosts {
            let key = || format!("key `component.{id}.allowed_outbound_hosts`");
            // A template is checked once resolved, at start-up (`grants`).
            let references = template_references(host).with_context(key)?;
            for reference in &references {
                if !manifest.variables.contains_key(*reference) {
                    bail!("{}: unknown variable `{reference}` in template `{host}`", key());
                }
            }
            if references.is_empty() {
                crate::outbound::AllowedHost::parse(host).with_context(key)?;
            }
        }
    }
    let variables = manifest.variables.clone();
    for (id, component) in &mut manifest.component {
        if let Some(table) = component.tool.get(CONVEYOR_TOOL) {
            component.conveyor = component_settings(id, table, &variables)?;
        }
    }
    Ok(manifest)
}

/// Reads `[component.<id>.tool.conveyor]`: the [`Setting`]s, each a number (an integer, or a string of one)
/// or a string with `{{ name }}` references to declared variables, checked once resolved.
fn component_settings(
    id: &str,
    table: &toml::Table,
    variables: &BTreeMap<String, Variable>,
) -> Result<ComponentSettings> {
    let mut settings = ComponentSettings::default();
    for (key, value) in table {
        let path = format!("component.{id}.tool.{CONVEYOR_TOOL}.{key}");
        let Some(setting) = Setting::ALL.into_iter().find(|s| s.key() == key) else {
            let keys = Setting::ALL.map(|s| format!("`{}`", s.key())).join(", ");
            bail!("key `{path}`: not supported by this host (only {keys})");
        };
        let text = match value {
            toml::Value::String(text) => text.clone(),
            toml::Value::Integer(number) => number.to_string(),
            other => {
                bail!("key `{path}`: must be a number of {} or a string, found {}", setting.unit(), other.type_str())
            }
        };
        let references = template_references(&text).with_context(|| format!("key `{path}`"))?;
        for reference in &references {
            if !variables.contains_key(*reference) {
                bail!("key `{path}`: unknown variable `{reference}` in template");
            }
        }
        if references.is_empty() {
            setting.parse(&text).with_context(|| format!("key `{path}`"))?;
        }
        *setting.slot(&mut settings) = Some(text);
    }
    Ok(settings)
}

/// The `application.tool` table this host reads; Spin ignores them all.
const CONVEYOR_TOOL: &str = "conveyor";

/// Reads `[application.tool.conveyor]`: only `tick`, an array of tables, each of whose route a trigger serves.
fn conveyor_ticks(table: &toml::Table, triggers: &[HttpTrigger]) -> Result<Vec<Tick>> {
    let patterns = triggers.iter().map(|t| Ok((RoutePattern::parse(&t.route)?, ()))).collect::<Result<_>>()?;
    let router = Router::new(patterns).context("key `trigger.http`")?;
    let mut ticks = Vec::new();
    for (key, value) in table {
        let path = format!("application.tool.{CONVEYOR_TOOL}.{key}");
        if key != "tick" {
            bail!("key `{path}`: not supported by this host (only `tick`)");
        }
        let Some(array) = value.as_array() else {
            bail!("key `{path}`: must be an array of tables, written `[[{path}]]`");
        };
        for (index, value) in array.iter().enumerate() {
            let key = format!("{path}[{index}]");
            let tick: Tick =
                value.clone().try_into().map_err(|e| anyhow::anyhow!("key `{key}`: {}", one_line(&e.to_string())))?;
            check_route(&tick.route, &router).with_context(|| format!("key `{key}.route`"))?;
            if !(1..=Tick::MAX_SECONDS).contains(&tick.every_seconds) {
                bail!("key `{key}.every_seconds`: must be 1 to {}, found {}", Tick::MAX_SECONDS, tick.every_seconds);
            }
            ticks.push(tick);
        }
    }
    Ok(ticks)
}

/// A tick's route is a plain path (no query) that some trigger serves.
fn check_route(route: &str, router: &Router<()>) -> Result<()> {
    let is_path = route.starts_with('/')
        && http::uri::PathAndQuery::try_from(route).is_ok_and(|p| p.query().is_none() && p.path() == route);
    if !is_path {
        bail!("`{route}` must be a path starting with `/`, without a query");
    }
    if router.route(route).is_none() {
        bail!("no component serves `{route}` (see `trigger.http`)");
    }
    Ok(())
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Spin's variable names: lower-case letters, digits and underscores, starting with a letter.
pub fn check_variable_name(name: &str) -> Result<()> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        bail!("invalid variable name `{name}`: use lower-case letters, digits and `_`");
    }
    Ok(())
}

/// The variable names a `{{ name }}` template refers to.
pub fn template_references(template: &str) -> Result<Vec<&str>> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").with_context(|| format!("unclosed `{{{{` in template `{template}`"))?;
        let name = after[..end].trim();
        check_variable_name(name)?;
        names.push(name);
        rest = &after[end + 2..];
    }
    Ok(names)
}

/// Expands `{{ name }}` references with `lookup`.
pub fn expand_template(template: &str, lookup: impl Fn(&str) -> String) -> Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").with_context(|| format!("unclosed `{{{{` in template `{template}`"))?;
        out.push_str(&lookup(after[..end].trim()));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
spin_manifest_version = 2
[application]
name = "demo"
[variables]
admin_token = { default = "", secret = true }
region = { required = true }
[[trigger.http]]
route = "/api/..."
component = "api"
[component.api]
source = "target/api.wasm"
sqlite_databases = ["default"]
allowed_outbound_hosts = ["https://example.com"]
variables = { token = "{{ admin_token }}", where = "eu-{{region}}" }
[component.api.build]
command = "cargo build"
"#;

    #[test]
    fn a_valid_manifest_parses() {
        let manifest = parse(GOOD).unwrap();
        assert_eq!(manifest.application.name, "demo");
        assert_eq!(manifest.trigger.http[0].component, "api");
        assert_eq!(manifest.component["api"].sqlite_databases, ["default"]);
        assert!(manifest.variables["admin_token"].secret);
        assert_eq!(manifest.component["api"].build.as_ref().unwrap().command, "cargo build");
    }

    #[test]
    fn each_bad_manifest_names_the_key() {
        let cases = [
            (GOOD.replace("spin_manifest_version = 2", "spin_manifest_version = 1"), "spin_manifest_version"),
            (GOOD.replace("component = \"api\"", "component = \"nope\""), "trigger.http[0].component"),
            (GOOD.replace("{{ admin_token }}", "{{ missing }}"), "component.api.variables.token"),
            (GOOD.replace("{{ admin_token }}", "{{ admin_token"), "component.api.variables.token"),
            (GOOD.replace("route = \"/api/...\"", "route = \"api\""), "trigger.http[0].route"),
            (GOOD.replace("sqlite_databases", "redis_databases"), "redis_databases"),
            (GOOD.replace("[application]", "[application]\nexecutor = 1"), "executor"),
            (GOOD.replace("region = { required = true }", "region = { }"), "variables.region"),
            (GOOD.replace("https://example.com", "ftp//x"), "allowed_outbound_hosts"),
            (GOOD.replace("https://example.com", "https://{{ missing }}"), "allowed_outbound_hosts`: unknown variable"),
            (GOOD.replace("https://example.com", "https://{{ region"), "allowed_outbound_hosts`: unclosed"),
            ("not toml = = 1".to_string(), "line 1"),
        ];
        for (text, key) in cases {
            let error = format!("{:#}", parse(&text).unwrap_err());
            assert!(error.contains(key), "expected `{key}` in: {error}");
            assert!(!error.contains('\n'), "one line: {error}");
        }
    }

    const TICK: &str = "[[application.tool.conveyor.tick]]\nroute = \"/api/v1/run\"\nevery_seconds = 1\n";

    /// `GOOD` with `tables` inserted after `[application]`'s keys.
    fn with_tool(tables: &str) -> String {
        GOOD.replace("[variables]", &format!("{tables}[variables]"))
    }

    #[test]
    fn ticks_are_read_from_the_conveyor_tool_table() {
        assert!(parse(GOOD).unwrap().ticks.is_empty());
        let second = "[[application.tool.conveyor.tick]]\nroute = \"/api/v2\"\nevery_seconds = 86400\n";
        let manifest = parse(&with_tool(&format!("{TICK}{second}"))).unwrap();
        assert_eq!(
            manifest.ticks,
            [
                Tick { route: "/api/v1/run".into(), every_seconds: 1 },
                Tick { route: "/api/v2".into(), every_seconds: 86_400 },
            ]
        );
        assert_eq!(manifest.ticks[0].period(), std::time::Duration::from_secs(1));
    }

    #[test]
    fn other_tools_tables_are_ignored_as_spin_ignores_them() {
        let others = "[application.tool.spin-test]\nsource = \"x\"\n[application.tool.other.deep]\nanything = [1, 2]\n";
        let manifest = parse(&with_tool(&format!("{others}{TICK}"))).unwrap();
        assert_eq!(manifest.ticks.len(), 1);
        assert_eq!(manifest.application.tool.len(), 3);
        assert!(parse(&with_tool("[application.tool.conveyor]\n")).unwrap().ticks.is_empty());
    }

    #[test]
    fn each_bad_tick_names_the_key() {
        let tick = |body: &str| with_tool(&format!("[[application.tool.conveyor.tick]]\n{body}\n"));
        let cases = [
            (with_tool("[application.tool.conveyor]\ncron = \"* * * * *\"\n"), "application.tool.conveyor.cron"),
            (with_tool("[application.tool.conveyor.tick]\nroute = \"/api\"\n"), "application.tool.conveyor.tick"),
            (tick("route = \"/api\"\nevery_seconds = 1\nmethod = \"GET\""), "method"),
            (tick("route = \"/api\""), "every_seconds"),
            (tick("every_seconds = 1"), "route"),
            (tick("route = \"/api\"\nevery_seconds = 0"), "application.tool.conveyor.tick[0].every_seconds"),
            (tick("route = \"/api\"\nevery_seconds = 86401"), "application.tool.conveyor.tick[0].every_seconds"),
            (tick("route = \"/api\"\nevery_seconds = -1"), "application.tool.conveyor.tick[0]"),
            (tick("route = \"/api\"\nevery_seconds = \"1\""), "application.tool.conveyor.tick[0]"),
            (tick("route = \"api\"\nevery_seconds = 1"), "application.tool.conveyor.tick[0].route"),
            (tick("route = \"/api?x=1\"\nevery_seconds = 1"), "application.tool.conveyor.tick[0].route"),
            (tick("route = \"/a b\"\nevery_seconds = 1"), "application.tool.conveyor.tick[0].route"),
            (with_tool("[application.tool]\nconveyor = 1\n"), "conveyor"),
        ];
        for (text, key) in cases {
            let error = format!("{:#}", parse(&text).unwrap_err());
            assert!(error.contains(key), "expected `{key}` in: {error}");
            assert!(!error.contains('\n'), "one line: {error}");
        }
    }

    #[test]
    fn a_tick_on_a_route_no_component_serves_is_an_error() {
        let narrow = with_tool(TICK).replace("route = \"/api/...\"", "route = \"/other/...\"");
        let error = format!("{:#}", parse(&narrow).unwrap_err());
        assert!(
            error.contains("key `application.tool.conveyor.tick[0].route`: no component serves `/api/v1/run`"),
            "{error}"
        );
        let exact = with_tool(TICK).replace("route = \"/api/...\"", "route = \"/api/v1/run\"");
        assert_eq!(parse(&exact).unwrap().ticks.len(), 1);
    }

    #[test]
    fn templates_expand_and_list_references() {
        assert_eq!(template_references("a{{ x }}b{{y_2}}").unwrap(), ["x", "y_2"]);
        assert_eq!(expand_template("a{{ x }}b", |n| n.to_uppercase()).unwrap(), "aXb");
        assert!(template_references("{{ Bad }}").is_err());
    }

    /// `GOOD` with `[component.api.tool.conveyor]` holding `settings`, and an upload-limit variable.
    fn with_component_tool(settings: &str) -> String {
        GOOD.replace("[variables]", "[variables]\nmax_upload_bytes = { default = \"1073741824\" }")
            + &format!("[component.api.tool.conveyor]\n{settings}\n")
    }

    #[test]
    fn a_components_body_limit_is_read_from_its_conveyor_tool_table() {
        assert_eq!(parse(GOOD).unwrap().component["api"].conveyor, ComponentSettings::default());
        let cases = [
            ("max_request_body = \"{{ max_upload_bytes }}\"", "{{ max_upload_bytes }}"),
            ("max_request_body = \"1048576\"", "1048576"),
            ("max_request_body = 1048576", "1048576"),
            ("max_request_body = 0", "0"),
        ];
        for (settings, expected) in cases {
            let manifest = parse(&with_component_tool(settings)).unwrap();
            assert_eq!(manifest.component["api"].conveyor.max_request_body.as_deref(), Some(expected), "{settings}");
        }
        let others = GOOD.to_string() + "[component.api.tool.spin-test]\nsource = \"x\"\n";
        assert_eq!(parse(&others).unwrap().component["api"].conveyor, ComponentSettings::default());
        assert_eq!(parse(&with_component_tool("")).unwrap().component["api"].conveyor, ComponentSettings::default());
    }

    #[test]
    fn a_components_instances_and_timeout_are_read_from_its_conveyor_tool_table() {
        let settings = "max_instances = \"{{ max_upload_bytes }}\"\nrequest_timeout_seconds = 3600";
        let manifest = parse(&with_component_tool(settings)).unwrap();
        let conveyor = &manifest.component["api"].conveyor;
        assert_eq!(conveyor.max_instances.as_deref(), Some("{{ max_upload_bytes }}"));
        assert_eq!(conveyor.request_timeout_seconds.as_deref(), Some("3600"));
        assert_eq!(conveyor.max_request_body, None);
        let cases = [
            ("max_instances = 1", Some("1"), None),
            ("max_instances = \"64\"", Some("64"), None),
            ("request_timeout_seconds = 1", None, Some("1")),
            ("request_timeout_seconds = \"86400\"", None, Some("86400")),
            ("request_timeout_seconds = \"{{ region }}\"", None, Some("{{ region }}")),
        ];
        for (settings, instances, timeout) in cases {
            let manifest = parse(&with_component_tool(settings)).unwrap();
            let conveyor = &manifest.component["api"].conveyor;
            assert_eq!(conveyor.max_instances.as_deref(), instances, "{settings}");
            assert_eq!(conveyor.request_timeout_seconds.as_deref(), timeout, "{settings}");
        }
    }

    #[test]
    fn each_bad_instance_count_or_timeout_names_the_key() {
        let cases = [
            ("max_instances = 0", "max_instances`: must be 1 to 4294967295 instances, found 0"),
            ("max_instances = \"many\"", "max_instances`: `many` is not a number of instances"),
            ("max_instances = -2", "max_instances`: `-2` is not a number of instances"),
            ("max_instances = 4294967296", "max_instances`: must be 1 to 4294967295 instances"),
            ("max_instances = true", "max_instances`: must be a number of instances or a string, found boolean"),
            ("max_instances = \"{{ nope }}\"", "max_instances`: unknown variable `nope`"),
            ("request_timeout_seconds = 0", "request_timeout_seconds`: must be 1 to 86400 seconds, found 0"),
            ("request_timeout_seconds = 86401", "request_timeout_seconds`: must be 1 to 86400 seconds"),
            ("request_timeout_seconds = \"30s\"", "request_timeout_seconds`: `30s` is not a number of seconds"),
            ("request_timeout_seconds = 2.5", "request_timeout_seconds`: must be a number of seconds or a string"),
            ("request_timeout_seconds = \"{{ x\"", "request_timeout_seconds`: unclosed"),
            ("timeout = 5", "timeout`: not supported by this host (only `max_request_body`, `max_instances`"),
        ];
        for (settings, expected) in cases {
            let error = format!("{:#}", parse(&with_component_tool(settings)).unwrap_err());
            assert!(error.contains(&format!("key `component.api.tool.conveyor.{expected}")), "{settings}: {error}");
            assert!(!error.contains('\n'), "one line: {error}");
        }
    }

    #[test]
    fn each_bad_body_limit_names_the_key() {
        let key = "component.api.tool.conveyor.max_request_body";
        let cases = [
            ("max_request_body = \"{{ nope }}\"", "unknown variable `nope`"),
            ("max_request_body = \"{{ max_upload_bytes \"", "unclosed"),
            ("max_request_body = \"1 GiB\"", "`1 GiB` is not a number of bytes"),
            ("max_request_body = \"\"", "is not a number of bytes"),
            ("max_request_body = -1", "`-1` is not a number of bytes"),
            ("max_request_body = 1.5", "must be a number of bytes or a string, found float"),
            ("max_request_body = \"99999999999999999999999\"", "too large"),
            ("max_body = 1", "component.api.tool.conveyor.max_body`: not supported by this host"),
        ];
        for (settings, expected) in cases {
            let error = format!("{:#}", parse(&with_component_tool(settings)).unwrap_err());
            assert!(error.contains(key) || error.contains("component.api.tool.conveyor."), "{settings}: {error}");
            assert!(error.contains(expected), "{settings}: expected `{expected}` in: {error}");
            assert!(!error.contains('\n'), "one line: {error}");
        }
    }
}
