//! Projects (SPEC §3): visibility, the create/patch inputs and their validation, and the shapes the API
//! renders for projects, grants, worker access and assignees. Pure: no I/O.

use crate::domain::accounts::{Checks, Ref};
use crate::domain::within_i32;
use crate::error::ApiError;
use serde::{Deserialize, Deserializer, Serialize};

/// Longest project name.
pub const NAME_MAX: usize = 100;
/// Longest description / motd, in characters.
pub const LONG_TEXT_MAX: usize = 10_000;
/// Longest version / clone_url / git_repo, in characters.
pub const SHORT_TEXT_MAX: usize = 1_000;
/// Highest assign/submit rate, per second.
pub const MAX_RATE: f64 = 1_000_000.0;

/// Who may see a project (SPEC §2): `public` (anyone reads, any worker claims), `private` (read needs READ,
/// claim needs an accepted ASSIGN grant), `hidden` (404 — never 403 — without READ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    #[default]
    Public,
    Private,
    Hidden,
}

impl Visibility {
    /// The stored/rendered name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
            Self::Hidden => "hidden",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Public, Self::Private, Self::Hidden].into_iter().find(|v| v.as_str() == name)
    }
}

/// A project named in a JSON body: its id or its name (`"3"` is id 3: names are never all digits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum ProjectRef {
    Id(i64),
    Name(String),
}

impl ProjectRef {
    /// As a path-style reference.
    pub fn to_ref(&self) -> Ref {
        match self {
            Self::Id(id) => Ref::Id(*id),
            Self::Name(name) => Ref::parse(name),
        }
    }
}

/// `POST /projects`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ProjectInput {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub motd: Option<String>,
    #[serde(default)]
    pub visibility: Option<Visibility>,
    #[serde(default)]
    pub priority: Option<i64>,
    #[serde(default)]
    pub paused: Option<bool>,
    #[serde(default)]
    pub chain: Option<i64>,
    #[serde(default)]
    pub assign_rate: Option<f64>,
    #[serde(default)]
    pub submit_rate: Option<f64>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub clone_url: Option<String>,
    #[serde(default)]
    pub git_repo: Option<String>,
}

/// `PATCH /projects/{p}`: absent fields stay; `"chain": null` removes the chain.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ProjectPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub motd: Option<String>,
    #[serde(default)]
    pub visibility: Option<Visibility>,
    #[serde(default)]
    pub priority: Option<i64>,
    #[serde(default)]
    pub paused: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub chain: Option<Option<i64>>,
    #[serde(default)]
    pub assign_rate: Option<f64>,
    #[serde(default)]
    pub submit_rate: Option<f64>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub clone_url: Option<String>,
    #[serde(default)]
    pub git_repo: Option<String>,
}

/// Distinguishes a present `null` (`Some(None)`) from an absent field (`None`, via `#[serde(default)]`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Every settable field of a project, validated (what the store writes).
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectFields {
    pub name: String,
    pub description: String,
    pub motd: String,
    pub visibility: Visibility,
    pub priority: i64,
    pub paused: bool,
    pub chain: Option<i64>,
    pub assign_rate: f64,
    pub submit_rate: f64,
    pub version: String,
    pub clone_url: String,
    pub git_repo: String,
}

impl ProjectInput {
    /// The fields of a new project with defaults filled in (not yet validated).
    pub fn fields(&self) -> ProjectFields {
        ProjectFields {
            name: self.name.clone(),
            description: self.description.clone().unwrap_or_default(),
            motd: self.motd.clone().unwrap_or_default(),
            visibility: self.visibility.unwrap_or_default(),
            priority: self.priority.unwrap_or(0),
            paused: self.paused.unwrap_or(false),
            chain: self.chain,
            assign_rate: self.assign_rate.unwrap_or(0.0),
            submit_rate: self.submit_rate.unwrap_or(0.0),
            version: self.version.clone().unwrap_or_default(),
            clone_url: self.clone_url.clone().unwrap_or_default(),
            git_repo: self.git_repo.clone().unwrap_or_default(),
        }
    }
}

impl ProjectPatch {
    /// `current` with this patch applied (not yet validated).
    pub fn apply(&self, current: &ProjectFields) -> ProjectFields {
        let text = |new: &Option<String>, old: &String| new.clone().unwrap_or_else(|| old.clone());
        ProjectFields {
            name: text(&self.name, &current.name),
            description: text(&self.description, &current.description),
            motd: text(&self.motd, &current.motd),
            visibility: self.visibility.unwrap_or(current.visibility),
            priority: self.priority.unwrap_or(current.priority),
            paused: self.paused.unwrap_or(current.paused),
            chain: self.chain.unwrap_or(current.chain),
            assign_rate: self.assign_rate.unwrap_or(current.assign_rate),
            submit_rate: self.submit_rate.unwrap_or(current.submit_rate),
            version: text(&self.version, &current.version),
            clone_url: text(&self.clone_url, &current.clone_url),
            git_repo: text(&self.git_repo, &current.git_repo),
        }
    }
}

impl ProjectFields {
    /// Checks every field (the chain's existence and acyclicity need the database: see the store).
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut checks = Checks::new();
        checks
            .check("name", name(&self.name))
            .check("description", text(&self.description, LONG_TEXT_MAX, true))
            .check("motd", text(&self.motd, LONG_TEXT_MAX, true))
            .check("priority", within_i32(self.priority))
            .check("assign_rate", rate(self.assign_rate))
            .check("submit_rate", rate(self.submit_rate))
            .check("version", text(&self.version, SHORT_TEXT_MAX, false))
            .check("clone_url", text(&self.clone_url, SHORT_TEXT_MAX, false))
            .check("git_repo", text(&self.git_repo, SHORT_TEXT_MAX, false));
        checks.finish()
    }
}

/// A project name: 1–100 characters, no control characters or `/`, no leading/trailing whitespace, not all
/// digits (projects are addressed by id or name).
pub fn name(value: &str) -> Result<(), String> {
    if value.is_empty() || value.chars().count() > NAME_MAX {
        return Err(format!("must be 1 to {NAME_MAX} characters long"));
    }
    if value.chars().any(|c| c.is_control() || c == '/') {
        return Err("must not contain control characters or `/`".into());
    }
    if value.trim() != value {
        return Err("must not start or end with whitespace".into());
    }
    if value.bytes().all(|c| c.is_ascii_digit()) {
        return Err("must not be all digits".into());
    }
    Ok(())
}

/// Free text up to `max` characters; control characters only as line breaks/tabs when `multiline`.
pub(crate) fn text(value: &str, max: usize, multiline: bool) -> Result<(), String> {
    if value.chars().count() > max {
        return Err(format!("must be at most {max} characters long"));
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if value.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// A rate: per second, 0 (unlimited) to [`MAX_RATE`].
fn rate(value: f64) -> Result<(), String> {
    if !value.is_finite() || !(0.0..=MAX_RATE).contains(&value) {
        return Err(format!("must be a number of tasks per second between 0 (unlimited) and {MAX_RATE}"));
    }
    Ok(())
}

/// A project as the API shows it (SPEC §3 fields in SPEC order, then the computed counters).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub motd: String,
    pub visibility: Visibility,
    pub priority: i64,
    pub paused: bool,
    pub chain: Option<i64>,
    pub assign_rate: f64,
    pub submit_rate: f64,
    pub version: String,
    pub clone_url: String,
    pub git_repo: String,
    pub created_at: i64,
    pub new: i64,
    pub assigned: i64,
    pub failed: i64,
    pub closed: i64,
}

impl Project {
    /// The settable fields (for applying a patch).
    pub fn fields(&self) -> ProjectFields {
        ProjectFields {
            name: self.name.clone(),
            description: self.description.clone(),
            motd: self.motd.clone(),
            visibility: self.visibility,
            priority: self.priority,
            paused: self.paused,
            chain: self.chain,
            assign_rate: self.assign_rate,
            submit_rate: self.submit_rate,
            version: self.version.clone(),
            clone_url: self.clone_url.clone(),
            git_repo: self.git_repo.clone(),
        }
    }
}

/// A user's grant on a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct UserGrant {
    pub user: i64,
    pub username: String,
    /// Role bitmask (READ=1 EDIT=2 MANAGE_ACCESS=4 SECRET=8 MAINTENANCE=16).
    pub role: i64,
    /// The RhodeCode preset the bitmask equals (`read`, `write`, `admin`), if any.
    pub preset: Option<&'static str>,
}

/// A group's grant on a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct GroupGrant {
    pub group: i64,
    pub name: String,
    pub role: i64,
    pub preset: Option<&'static str>,
}

/// `GET /projects/{p}/grants`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Grants {
    pub users: Vec<UserGrant>,
    pub groups: Vec<GroupGrant>,
}

/// Whether a worker access request is waiting or was accepted (rejected requests are deleted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum AccessStatus {
    Pending,
    Accepted,
}

/// A worker's access to a project: what it asked for and whether a manager accepted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct WorkerAccess {
    pub project: i64,
    pub worker: i64,
    pub alias: String,
    pub assign: bool,
    pub submit: bool,
    pub status: AccessStatus,
    pub requested_at: i64,
    pub decided_at: Option<i64>,
}

impl WorkerAccess {
    /// Accepted with ASSIGN.
    pub fn may_assign(&self) -> bool {
        self.status == AccessStatus::Accepted && self.assign
    }

    /// Accepted with SUBMIT.
    pub fn may_submit(&self) -> bool {
        self.status == AccessStatus::Accepted && self.submit
    }

    /// Any accepted grant (reads the project secret; a pending request never does).
    pub fn accepted(&self) -> bool {
        self.status == AccessStatus::Accepted
    }
}

/// `POST /projects/{p}/access-requests`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AccessRequest {
    #[serde(default)]
    pub assign: bool,
    #[serde(default)]
    pub submit: bool,
}

impl AccessRequest {
    /// At least one of assign/submit.
    pub fn validate(&self) -> Result<(), ApiError> {
        if !self.assign && !self.submit {
            return Err(ApiError::invalid_field("assign", "ask for assign, submit or both"));
        }
        Ok(())
    }
}

/// `GET /projects/{p}/assignees`: open (assigned) tasks per worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Assignee {
    pub worker: i64,
    pub alias: String,
    pub tasks: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["My project", "render-2", "a", "ümlaut", "42b"] {
            assert_eq!(name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "42", " x", "x ", "a/b", "tab\there", &"x".repeat(101)] {
            assert!(name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fields_validate_with_named_errors() {
        let good = ProjectInput { name: "p".into(), ..ProjectInput::default() }.fields();
        assert!(good.validate().is_ok());
        assert_eq!(good.visibility, Visibility::Public);
        let bad = ProjectFields { priority: 1 << 33, assign_rate: -1.0, submit_rate: f64::NAN, ..good.clone() };
        match bad.validate() {
            Err(ApiError::Validation { errors, .. }) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(fields, ["priority", "assign_rate", "submit_rate"]);
            }
            other => panic!("{other:?}"),
        }
        let multiline = ProjectFields { motd: "line\nline".into(), ..good.clone() };
        assert!(multiline.validate().is_ok());
        let control = ProjectFields { version: "1\n0".into(), ..good };
        assert!(control.validate().is_err());
    }

    #[test]
    fn patches_distinguish_null_from_absent() {
        let base = ProjectInput { name: "p".into(), chain: Some(7), ..ProjectInput::default() }.fields();
        let absent: ProjectPatch = serde_json::from_str(r#"{"motd": "hi"}"#).unwrap();
        assert_eq!(absent.apply(&base).chain, Some(7));
        assert_eq!(absent.apply(&base).motd, "hi");
        let null: ProjectPatch = serde_json::from_str(r#"{"chain": null}"#).unwrap();
        assert_eq!(null.apply(&base).chain, None);
        let set: ProjectPatch = serde_json::from_str(r#"{"chain": 9}"#).unwrap();
        assert_eq!(set.apply(&base).chain, Some(9));
        assert!(serde_json::from_str::<ProjectPatch>(r#"{"visibility": "secret"}"#).is_err());
        assert!(serde_json::from_str::<ProjectPatch>(r#"{"owner": 1}"#).is_err());
    }

    #[test]
    fn references_and_visibility() {
        let id: ProjectRef = serde_json::from_str("3").unwrap();
        assert_eq!(id.to_ref(), Ref::Id(3));
        let digits: ProjectRef = serde_json::from_str("\"3\"").unwrap();
        assert_eq!(digits.to_ref(), Ref::Id(3));
        let name: ProjectRef = serde_json::from_str("\"render\"").unwrap();
        assert_eq!(name.to_ref(), Ref::Name("render".into()));
        for v in [Visibility::Public, Visibility::Private, Visibility::Hidden] {
            assert_eq!(Visibility::parse(v.as_str()), Some(v));
        }
        assert!(AccessRequest::default().validate().is_err());
        assert!(AccessRequest { assign: true, submit: false }.validate().is_ok());
    }
}
