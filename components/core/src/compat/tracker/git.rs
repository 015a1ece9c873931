//! The git receive hook's push event (Gogs, Gitea, GitHub) and its signature.

use crate::secrets;
use serde::Deserialize;

/// The parts of a Gogs/Gitea/GitHub push event the hook reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(default)]
pub struct GitPush {
    #[serde(rename = "ref")]
    pub reference: String,
    pub after: String,
    pub repository: GitRepository,
}

/// The pushed repository.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(default)]
pub struct GitRepository {
    pub full_name: String,
    pub default_branch: String,
}

impl GitPush {
    /// Whether the push went to the repository's default branch (`master` when the event names none, as
    /// task_tracker assumed).
    pub fn to_default_branch(&self) -> bool {
        let branch = if self.repository.default_branch.is_empty() { "master" } else { &self.repository.default_branch };
        self.reference == format!("refs/heads/{branch}") || self.reference == branch
    }
}

/// Whether `signature` (a header value: `sha256=<hex>` or bare hex, as GitHub's `X-Hub-Signature-256` and
/// Gogs' `X-Gogs-Signature` send it) is the HMAC-SHA256 of `body` under `secret`. Constant time.
pub fn signature_valid(secret: &str, body: &[u8], signature: &str) -> bool {
    let presented = signature.trim();
    let presented = presented.strip_prefix("sha256=").unwrap_or(presented).to_ascii_lowercase();
    let expected = secrets::hex(&secrets::hmac_sha256(secret.as_bytes(), body));
    !secret.is_empty() && secrets::constant_time_eq(presented.as_bytes(), expected.as_bytes())
}
