//! Schedules (SPEC §7): when they fire (a cron pattern or an interval), what they do (submit a task or
//! deliver a payload to an endpoint), validation, and the next occurrence. Pure: no I/O.

use crate::domain::accounts::Checks;
use crate::domain::project::ProjectRef;
use crate::error::ApiError;
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

/// Longest name, in characters.
pub const NAME_MAX: usize = 200;
/// Longest endpoint URL, in bytes.
pub const ENDPOINT_MAX: usize = 2048;
/// Largest payload (serialised) and recipe, in bytes.
pub const PAYLOAD_MAX: usize = 64 << 10;
/// Longest `auth_token`, in bytes.
pub const AUTH_TOKEN_MAX: usize = 1024;
/// Longest interval: ten years.
const INTERVAL_MAX: i64 = 10 * 366 * 86_400;

/// A schedule as the client states it (`POST /schedules`, and the merge of a stored schedule with a
/// `PATCH`): exactly one of `cron_definition` / `interval_definition`, and exactly one action (`project` with
/// `recipe`, or `endpoint` with `payload`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron_definition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_definition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<ProjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
}

/// When a schedule fires.
#[derive(Debug, Clone)]
pub enum Definition {
    /// A 5-field cron pattern (or `@hourly`, `@daily`, …), in UTC or the named time zone.
    Cron { pattern: Box<Cron>, zone: Option<Tz> },
    /// Every `seconds`, from the schedule's creation (or its last change of definition).
    Interval { seconds: i64 },
}

impl Definition {
    /// The first occurrence after `previous` that lies after `now`: missed occurrences coalesce into one.
    /// `previous` is the occurrence just fired (an interval keeps its phase from it).
    pub fn next(&self, previous: i64, now: i64) -> Result<i64, ApiError> {
        match self {
            Definition::Interval { seconds } => {
                let missed = (now - previous).max(0) / seconds;
                Ok(previous + (missed + 1) * seconds)
            }
            Definition::Cron { pattern, zone } => {
                let after = Utc.timestamp_opt(now.max(previous), 0).single().ok_or_else(|| out_of_range(now))?;
                let next = match zone {
                    Some(zone) => next_cron(pattern, &after.with_timezone(zone)),
                    None => next_cron(pattern, &after),
                };
                next.ok_or_else(|| ApiError::conflict("no_next_occurrence", "the cron pattern never fires again"))
            }
        }
    }

    /// The first occurrence of a schedule created (or redefined) `now`.
    pub fn first(&self, now: i64) -> Result<i64, ApiError> {
        self.next(now, now)
    }
}

fn out_of_range(at: i64) -> ApiError {
    ApiError::internal(format!("time {at} is out of range"))
}

fn next_cron<Z: TimeZone>(pattern: &Cron, after: &DateTime<Z>) -> Option<i64> {
    pattern.find_next_occurrence(after, false).ok().map(|next| next.timestamp())
}

/// Parses a 5-field cron pattern (aliases such as `@daily` included; seconds and years are refused).
pub fn parse_cron(text: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(text)
        .map_err(|error| format!("not a 5-field cron pattern ({error})"))
}

/// Parses `"<n> days|hours|minutes|seconds"` (singular units too) into seconds.
pub fn parse_interval(text: &str) -> Result<i64, String> {
    let invalid = || format!("must be \"<n> days|hours|minutes|seconds\", not `{text}`");
    let mut words = text.split_whitespace();
    let (Some(count), Some(unit), None) = (words.next(), words.next(), words.next()) else { return Err(invalid()) };
    let count: i64 = count.parse().map_err(|_| invalid())?;
    let unit = match unit.to_ascii_lowercase().trim_end_matches('s') {
        "day" => 86_400,
        "hour" => 3_600,
        "minute" => 60,
        "second" => 1,
        _ => return Err(invalid()),
    };
    match count.checked_mul(unit) {
        Some(seconds) if count >= 1 && seconds <= INTERVAL_MAX => Ok(seconds),
        _ => Err(format!("must be at least 1 second and at most ten years, not `{text}`")),
    }
}

/// What a schedule does when it fires.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Submits a task into a project (resolved by the service), under the owner's rights at firing time.
    Task { project: ProjectRef, recipe: String, priority: i64 },
    /// POSTs `payload` to `endpoint` with `Authorization: Token <auth_token>` when a token is set.
    Webhook { endpoint: String, payload: Json, auth_token: Option<String> },
}

/// A validated schedule: its definition (parsed, and as text), time zone and action.
#[derive(Debug, Clone)]
pub struct ScheduleSpec {
    pub name: String,
    pub enabled: bool,
    pub cron_definition: Option<String>,
    pub interval_definition: Option<String>,
    pub interval_seconds: Option<i64>,
    pub timezone: Option<String>,
    pub definition: Definition,
    pub action: Action,
}

impl ScheduleInput {
    /// Validates every field (422 listing each failure by field).
    pub fn validate(&self) -> Result<ScheduleSpec, ApiError> {
        let mut checks = Checks::new();
        checks.check("name", crate::domain::project::text(&self.name, NAME_MAX, false));
        let definition = self.definition(&mut checks);
        let action = self.action(&mut checks);
        checks.finish()?;
        let (Some(definition), Some(action)) = (definition, action) else {
            return Err(ApiError::internal("schedule validation passed without a definition or an action"));
        };
        let interval_seconds = match &definition {
            Definition::Interval { seconds } => Some(*seconds),
            Definition::Cron { .. } => None,
        };
        Ok(ScheduleSpec {
            name: self.name.clone(),
            enabled: self.enabled.unwrap_or(true),
            cron_definition: self.cron_definition.clone(),
            interval_definition: self.interval_definition.clone(),
            interval_seconds,
            timezone: self.timezone.clone(),
            definition,
            action,
        })
    }

    fn definition(&self, checks: &mut Checks) -> Option<Definition> {
        let zone = match &self.timezone {
            None => Ok(None),
            Some(_) if self.cron_definition.is_none() => Err("applies to `cron_definition` only".to_string()),
            Some(name) => name.parse::<Tz>().map(Some).map_err(|_| format!("`{name}` is not an IANA time zone")),
        };
        let zone = match zone {
            Ok(zone) => zone,
            Err(message) => {
                checks.check("timezone", Err(message));
                None
            }
        };
        match (&self.cron_definition, &self.interval_definition) {
            (Some(cron), None) => match parse_cron(cron) {
                Ok(pattern) => Some(Definition::Cron { pattern: Box::new(pattern), zone }),
                Err(message) => {
                    checks.check("cron_definition", Err(message));
                    None
                }
            },
            (None, Some(interval)) => match parse_interval(interval) {
                Ok(seconds) => Some(Definition::Interval { seconds }),
                Err(message) => {
                    checks.check("interval_definition", Err(message));
                    None
                }
            },
            _ => {
                let message = "give exactly one of `cron_definition` and `interval_definition`";
                checks.check("cron_definition", Err(message.into()));
                None
            }
        }
    }

    fn action(&self, checks: &mut Checks) -> Option<Action> {
        let refuse_present = |checks: &mut Checks, fields: &[(&str, bool)], kind: &str| {
            for (field, present) in fields {
                if *present {
                    checks.check(field, Err(format!("does not apply to a schedule that {kind}")));
                }
            }
        };
        match (&self.project, &self.endpoint) {
            (Some(project), None) => {
                let webhook = [("payload", self.payload.is_some()), ("auth_token", self.auth_token.is_some())];
                refuse_present(checks, &webhook, "submits a task");
                let recipe = self.recipe.clone().unwrap_or_default();
                checks.check("recipe", bytes_at_most(&recipe, PAYLOAD_MAX));
                let priority = self.priority.unwrap_or(0);
                checks.check("priority", crate::domain::within_i32(priority));
                Some(Action::Task { project: project.clone(), recipe, priority })
            }
            (None, Some(endpoint)) => {
                let task = [("recipe", self.recipe.is_some()), ("priority", self.priority.is_some())];
                refuse_present(checks, &task, "delivers to an endpoint");
                checks.check("endpoint", http_url(endpoint));
                let payload = self.payload.clone().unwrap_or(Json::Object(Map::new()));
                checks.check("payload", bytes_at_most(&payload.to_string(), PAYLOAD_MAX));
                if let Some(token) = &self.auth_token {
                    checks.check("auth_token", bytes_at_most(token, AUTH_TOKEN_MAX));
                }
                Some(Action::Webhook { endpoint: endpoint.clone(), payload, auth_token: self.auth_token.clone() })
            }
            _ => {
                checks.check("project", Err("give exactly one action: `project` (a task) or `endpoint`".into()));
                None
            }
        }
    }
}

fn bytes_at_most(text: &str, max: usize) -> Result<(), String> {
    if text.len() > max { Err(format!("must be at most {max} bytes")) } else { Ok(()) }
}

/// An absolute `http://` or `https://` URL with a host, as it is sent: no credentials, no fragment, no
/// whitespace or control characters.
fn http_url(url: &str) -> Result<(), String> {
    bytes_at_most(url, ENDPOINT_MAX)?;
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let authority = rest.map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
    match authority {
        _ if url.chars().any(|c| c.is_whitespace() || c.is_control()) => Err("must not contain spaces".into()),
        _ if url.contains('#') => Err("must not have a #fragment (it is not sent)".into()),
        Some(authority) if authority.contains('@') => Err("must not carry credentials; use `auth_token`".into()),
        Some(authority) if !authority.is_empty() => Ok(()),
        _ => Err("must be an absolute http:// or https:// URL".into()),
    }
}

/// Whether an endpoint names a host on this machine or a private network by itself: `localhost`,
/// `*.localhost`, Spin's `*.spin.internal`, or an IP literal that is loopback, private (RFC 1918, CGNAT,
/// unique-local), link-local (cloud metadata services live there) or unspecified. A public name that
/// resolves to such an address is not caught here: `allowed_outbound_hosts` is the real boundary.
pub fn names_private_host(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    }
    .trim_end_matches('.')
    .to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") || host.ends_with(".spin.internal") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => private_v4(v4),
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => private_v4(v4),
            None => {
                let first = v6.segments()[0];
                v6.is_loopback() || v6.is_unspecified() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
            }
        },
        Err(_) => false,
    }
}

fn private_v4(ip: std::net::Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
}

/// A schedule as the API shows it. `auth_token` is write-only: it is delivered, never shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Schedule {
    pub id: String,
    pub name: String,
    pub owner: Option<i64>,
    pub enabled: bool,
    pub cron_definition: Option<String>,
    pub interval_definition: Option<String>,
    pub timezone: Option<String>,
    pub project: Option<i64>,
    pub recipe: Option<String>,
    pub priority: Option<i64>,
    pub endpoint: Option<String>,
    pub payload: Option<Json>,
    #[serde(skip)]
    pub auth_token: Option<String>,
    pub next_run_at: i64,
    pub last_run_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Schedule {
    /// The schedule in its input form, with the stored project id (the base a `PATCH` is merged onto).
    pub fn to_input(&self) -> ScheduleInput {
        ScheduleInput {
            name: self.name.clone(),
            enabled: Some(self.enabled),
            cron_definition: self.cron_definition.clone(),
            interval_definition: self.interval_definition.clone(),
            timezone: self.timezone.clone(),
            project: self.project.map(ProjectRef::Id),
            recipe: self.recipe.clone(),
            priority: self.priority,
            endpoint: self.endpoint.clone(),
            payload: self.payload.clone(),
            auth_token: self.auth_token.clone(),
        }
    }

    /// Whether its definition (or time zone) differs from `spec`'s: then `next_run_at` is recomputed.
    pub fn redefined_by(&self, spec: &ScheduleSpec) -> bool {
        self.cron_definition != spec.cron_definition
            || self.interval_definition != spec.interval_definition
            || self.timezone != spec.timezone
    }
}

/// Merges a `PATCH` body onto `base` (RFC 7396: a member replaces, `null` removes) and parses the result.
/// Unknown members are refused (422 `unknown_field`), read-only ones included.
pub fn merge_patch(base: &ScheduleInput, patch: &Map<String, Json>) -> Result<ScheduleInput, ApiError> {
    let mut merged = match serde_json::to_value(base).map_err(ApiError::internal)? {
        Json::Object(object) => object,
        _ => Map::new(),
    };
    for (key, value) in patch {
        if value.is_null() {
            merged.remove(key);
        } else {
            merged.insert(key.clone(), value.clone());
        }
    }
    crate::http::parse_json(Json::Object(merged).to_string().as_bytes())
}

/// An occurrence that could not be delivered (or whose task was refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Failure {
    pub id: i64,
    pub schedule: String,
    pub occurrence_at: i64,
    pub attempts: i64,
    /// The last HTTP status (of the endpoint, or of the refused submit); null when nothing answered.
    pub status: Option<i64>,
    pub error: String,
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(value: Json) -> ScheduleInput {
        serde_json::from_value(value).unwrap()
    }

    fn fields(error: ApiError) -> Vec<String> {
        match error {
            ApiError::Validation { errors, .. } => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    // 2026-12-02T10:00:00Z, a Wednesday.
    const T: i64 = 1_796_205_600;

    #[test]
    fn intervals_parse_and_keep_their_phase_while_coalescing_missed_runs() {
        assert_eq!(parse_interval("1 minutes"), Ok(60));
        assert_eq!(parse_interval("2 Hours"), Ok(7200));
        assert_eq!(parse_interval("1 day"), Ok(86_400));
        assert_eq!(parse_interval("30 seconds"), Ok(30));
        for bad in ["", "5", "minutes", "0 minutes", "-1 days", "1.5 hours", "1 fortnight", "1 minutes extra"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
        assert!(parse_interval("4000 days").is_err(), "over ten years");
        let every_minute = Definition::Interval { seconds: 60 };
        assert_eq!(every_minute.first(T), Ok(T + 60));
        assert_eq!(every_minute.next(T + 60, T + 60), Ok(T + 120));
        assert_eq!(every_minute.next(T + 60, T + 60 + 3600 + 5), Ok(T + 60 + 3660), "one firing for the missed hour");
    }

    #[test]
    fn cron_patterns_follow_utc_or_the_named_zone() {
        let daily_nine =
            |zone: Option<Tz>| Definition::Cron { pattern: Box::new(parse_cron("0 9 * * *").unwrap()), zone };
        assert_eq!(daily_nine(None).first(T), Ok(T + 23 * 3600), "09:00 UTC tomorrow");
        let berlin = daily_nine(Some("Europe/Berlin".parse().unwrap()));
        assert_eq!(berlin.first(T), Ok(T + 22 * 3600), "09:00 in Berlin is 08:00 UTC (CET)");
        let hourly = Definition::Cron { pattern: Box::new(parse_cron("@hourly").unwrap()), zone: None };
        assert_eq!(hourly.first(T), Ok(T + 3600));
        assert_eq!(hourly.next(T + 3600, T + 5 * 3600 + 1), Ok(T + 6 * 3600), "missed hours coalesce");
        for bad in ["", "* * * *", "0 0 9 * * *", "61 * * * *", "* * * * * 2030", "nonsense"] {
            assert!(parse_cron(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn inputs_need_one_definition_and_one_action_and_name_every_bad_field() {
        let task = input(json!({"cron_definition": "*/5 * * * *", "project": "render", "recipe": "go"}));
        assert!(matches!(task.validate().unwrap().action, Action::Task { priority: 0, .. }));
        let hook = input(json!({"interval_definition": "1 minutes", "endpoint": "https://example.org/hook"}));
        let spec = hook.validate().unwrap();
        assert_eq!(spec.interval_seconds, Some(60));
        assert!(matches!(spec.action, Action::Webhook { ref payload, .. } if payload == &json!({})));

        let cases = [
            (json!({"endpoint": "http://x"}), vec!["cron_definition"]),
            (
                json!({"cron_definition": "* * * * *", "interval_definition": "1 minutes", "endpoint": "http://x"}),
                vec!["cron_definition"],
            ),
            (json!({"cron_definition": "bad", "endpoint": "http://x"}), vec!["cron_definition"]),
            (json!({"interval_definition": "often", "endpoint": "http://x"}), vec!["interval_definition"]),
            (
                json!({"interval_definition": "1 minutes", "timezone": "Europe/Berlin", "endpoint": "http://x"}),
                vec!["timezone"],
            ),
            (
                json!({"cron_definition": "* * * * *", "timezone": "Mars/Olympus", "endpoint": "http://x"}),
                vec!["timezone"],
            ),
            (json!({"cron_definition": "* * * * *"}), vec!["project"]),
            (json!({"cron_definition": "* * * * *", "project": 1, "endpoint": "http://x"}), vec!["project"]),
            (json!({"cron_definition": "* * * * *", "endpoint": "ftp://x"}), vec!["endpoint"]),
            (json!({"cron_definition": "* * * * *", "endpoint": "http://"}), vec!["endpoint"]),
            (json!({"cron_definition": "* * * * *", "endpoint": "http://x/#f"}), vec!["endpoint"]),
            (json!({"cron_definition": "* * * * *", "endpoint": "http://u:p@x/"}), vec!["endpoint"]),
            (json!({"cron_definition": "* * * * *", "endpoint": "http://x/a b"}), vec!["endpoint"]),
            (json!({"cron_definition": "* * * * *", "endpoint": "http://x", "recipe": "r"}), vec!["recipe"]),
            (json!({"cron_definition": "* * * * *", "project": 1, "payload": {}}), vec!["payload"]),
            (json!({"cron_definition": "* * * * *", "project": 1, "priority": 1_i64 << 40}), vec!["priority"]),
            (json!({"cron_definition": "* * * * *", "project": 1, "name": "n".repeat(201)}), vec!["name"]),
            (json!({"interval_definition": "x", "endpoint": "ftp://x"}), vec!["interval_definition", "endpoint"]),
        ];
        for (body, expected) in cases {
            assert_eq!(fields(input(body.clone()).validate().unwrap_err()), expected, "{body}");
        }
        let unknown = serde_json::from_value::<ScheduleInput>(json!({"next_run_at": 5}));
        assert!(unknown.is_err(), "read-only fields are not input");
    }

    #[test]
    fn private_hosts_are_told_by_name_and_by_address() {
        for private in [
            "http://localhost/x",
            "http://LOCALHOST.:8080",
            "http://api.localhost/",
            "http://chain.spin.internal/",
            "http://127.0.0.1:3000/api",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::1]:80/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://user:pw@127.0.0.1/",
        ] {
            assert!(names_private_host(private), "{private}");
        }
        for public in ["https://example.org/hook", "http://8.8.8.8/", "http://[2001:db8::1]/", "http://172.32.0.1/"] {
            assert!(!names_private_host(public), "{public}");
        }
    }

    #[test]
    fn patches_merge_onto_the_stored_schedule() {
        let base =
            input(json!({"name": "a", "cron_definition": "0 9 * * *", "endpoint": "http://x", "auth_token": "t"}));
        let patch = |value: Json| value.as_object().unwrap().clone();
        let moved = merge_patch(&base, &patch(json!({"interval_definition": "5 minutes", "cron_definition": null})));
        let moved = moved.unwrap();
        assert_eq!((moved.interval_definition.as_deref(), moved.cron_definition), (Some("5 minutes"), None));
        assert_eq!((moved.name.as_str(), moved.auth_token.as_deref()), ("a", Some("t")), "the rest stays");
        let both = merge_patch(&base, &patch(json!({"interval_definition": "5 minutes"}))).unwrap();
        assert_eq!(fields(both.validate().unwrap_err()), ["cron_definition"]);
        let read_only = merge_patch(&base, &patch(json!({"id": "x"}))).unwrap_err();
        assert_eq!(read_only, ApiError::UnknownField("id".into()));
    }
}
