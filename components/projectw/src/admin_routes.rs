//! `/api/admins/*` (Conveyor administrators): runners, site banners and e-mail to every user; and the two
//! ticks of the surface, `run-retention` and `send-mail`.

use crate::caller;
use conveyor_core::accounts::{Hook, Notifier, Settings};
use conveyor_core::clock;
use conveyor_core::compat::projectw::wire::{self, Refusal};
use conveyor_core::projectw::banners::{self, BannerInput};
use conveyor_core::projectw::notify::{self, Announcement};
use conveyor_core::projectw::{retention, runners};
use conveyor_core::{Ctx, Response};
use serde_json::Value as Json;

/// `POST /api/admins/create_runner` → `{"id", "token"}`; the token is shown once.
pub fn create_runner(ctx: &Ctx) -> Result<Response, Refusal> {
    caller::admin(ctx)?;
    Ok(wire::ok(&runners::create(ctx.db()?, clock::now())?))
}

/// `DELETE /api/admins/invalidate_runner?runner_id=`: the token dies, a job it held returns to the queue.
pub fn invalidate_runner(ctx: &Ctx) -> Result<Response, Refusal> {
    caller::admin(ctx)?;
    let id = wire::query_int(&ctx.request.query_pairs(), "runner_id")?;
    runners::invalidate(ctx.db()?, id, clock::now())?;
    Ok(wire::ok(&format!("If a runner with id {id} existed it was successfully invalidated and deleted")))
}

/// `POST /api/admins/add_site_banner` `{"html", "urgency"}` → the banner's id.
pub fn add_site_banner(ctx: &Ctx) -> Result<Response, Refusal> {
    caller::admin(ctx)?;
    let input: BannerInput = wire::body(&ctx.request.body)?;
    Ok(wire::ok(&banners::add(ctx.db()?, &input, clock::now())?))
}

/// `DELETE /api/admins/delete_site_banner?banner_id=` → `null` (an unknown id too, as in Project-W).
pub fn delete_site_banner(ctx: &Ctx) -> Result<Response, Refusal> {
    caller::admin(ctx)?;
    let id = wire::query_int(&ctx.request.query_pairs(), "banner_id")?;
    banners::delete(ctx.db()?, id)?;
    Ok(wire::ok(&Json::Null))
}

/// `POST /api/admins/send_email_to_all_users` `{"subject", "body"}` → `null`: queued for every active user
/// with a verified address, and handed to the notification hook by the tick [`send_mail`].
pub fn send_email_to_all_users(ctx: &Ctx) -> Result<Response, Refusal> {
    caller::admin(ctx)?;
    let announcement: Announcement = wire::body(&ctx.request.body)?;
    notify::announce(ctx.db()?, &announcement, clock::now())?;
    Ok(wire::ok(&Json::Null))
}

/// What a tick did, for administrators (the counts span every user); 204 for anyone else. The ticks need no
/// credentials (the host calls them without any): each only does what is due, however often it is called.
fn report(ctx: &Ctx, counts: Response) -> Response {
    if caller::admin(ctx).is_ok() { counts } else { Response::no_content() }
}

/// `POST /api/admins/run-retention` (a tick): deletes finished jobs older than `job_retention_days`, prunes
/// old events and sweeps abandoned uploads.
pub fn run_retention(ctx: &Ctx) -> Result<Response, Refusal> {
    let days = retention::days(ctx.variable("job_retention_days").as_deref());
    let retained = retention::run(ctx.db()?, days, clock::now())?;
    Ok(report(ctx, wire::ok(&retained)))
}

/// `POST /api/admins/send-mail` (a tick): hands queued mail (finished jobs' notices, announcements) to the
/// notification hook; without `notify_url` it waits (a day at most).
pub fn send_mail(ctx: &Ctx) -> Result<Response, Refusal> {
    let settings = Settings::from_ctx(ctx);
    let hook = Hook::new(ctx, &settings);
    let hook: Option<&dyn Notifier> = settings.notify_url.as_ref().map(|_| &hook as &dyn Notifier);
    let sent = notify::send_due(ctx.db()?, hook, clock::now())?;
    Ok(report(ctx, wire::ok(&sent)))
}
