//! `/api/about` and `/api/auth_settings`: what Project-W's clients read before signing in.

use conveyor_core::compat::projectw::wire::{self, Refusal};
use conveyor_core::projectw::{banners, retention};
use conveyor_core::{Ctx, Response};
use serde_json::json;

/// `GET /api/about`: Project-W's description and source (its clients check both), the site banners and the
/// job retention (`job_retention_days`); no imprint or terms.
pub fn about(ctx: &Ctx) -> Result<Response, Refusal> {
    let banners = banners::list(ctx.db()?)?;
    let retention = retention::days(ctx.variable("job_retention_days").as_deref());
    Ok(wire::ok(&json!({
        "description": "A self-hostable platform on which users can create transcripts of their audio files (speech-to-text) using Whisper AI",
        "source_code": "https://github.com/JulianFP/project-W/tree/main/backend",
        "version": "0.6.0",
        "git_hash": "conveyor",
        "imprint": null,
        "terms_of_services": {},
        "job_retention_in_days": retention,
        "site_banners": banners,
    })))
}

/// `GET /api/auth_settings`: local accounts only (Conveyor's), sign-up as the `allow_signup` variable says;
/// no OIDC or LDAP providers, as an instance without them configured answers.
pub fn auth_settings(ctx: &Ctx) -> Result<Response, Refusal> {
    let signup = ctx.variable("allow_signup").is_some_and(|value| value.trim().eq_ignore_ascii_case("true"));
    Ok(wire::ok(&json!({
        "local_account": {
            "mode": if signup { "enabled" } else { "no_signup" },
            "allowed_email_domains": [],
            "allow_creation_of_api_tokens": true,
        },
        "oidc_providers": {},
        "ldap_providers": {},
    })))
}
