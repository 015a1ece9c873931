//! What the account services read from the application's configuration ([`Settings`], from Spin variables)
//! and where they send events for the user ([`Notifier`]; [`Hook`] POSTs them to `notify_url`).

use crate::router::Ctx;
use serde_json::Value as Json;

/// The application settings the account services read, taken from Spin variables once per request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Variable `allow_signup` = `true`: anyone may sign up (else sign-up is a 403).
    pub allow_signup: bool,
    /// Variable `notify_url`: where account events are POSTed; none when unset or empty.
    pub notify_url: Option<String>,
}

impl Settings {
    /// Reads the variables (the only place they are read).
    pub fn from_ctx(ctx: &Ctx) -> Settings {
        Settings {
            allow_signup: ctx.variable("allow_signup").as_deref() == Some("true"),
            notify_url: ctx.variable("notify_url"),
        }
    }
}

/// Receives account events (`{"event": "user.activation", ...}`, see `docs/accounts.md`) for delivery to
/// the user. Delivery never fails the request: a notifier logs its own failures.
pub trait Notifier {
    /// Delivers one event (`{"event": <name>, ...}`).
    fn notify(&self, event: &Json);
}

/// The notification hook: POSTs each event to [`Settings::notify_url`] through the platform's outbound
/// HTTP; does nothing without one.
pub struct Hook<'a> {
    ctx: &'a Ctx<'a>,
    url: Option<String>,
}

impl<'a> Hook<'a> {
    /// The hook of `settings`, posting through the request's platform.
    pub fn new(ctx: &'a Ctx<'a>, settings: &Settings) -> Hook<'a> {
        Hook { ctx, url: settings.notify_url.clone() }
    }
}

impl Notifier for Hook<'_> {
    /// Logs failures by event name and status only, never the token: administrators can still read pending
    /// activations, so the request goes on.
    fn notify(&self, event: &Json) {
        let Some(url) = &self.url else { return };
        let name = event["event"].as_str().unwrap_or("?");
        match self.ctx.post_json(url, event) {
            Ok(status) if (200..300).contains(&status) => {}
            Ok(status) => eprintln!("conveyor: the notification hook answered {status} to `{name}`"),
            Err(error) => eprintln!("conveyor: the notification hook failed for `{name}`: {error:?}"),
        }
    }
}
