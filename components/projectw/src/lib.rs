//! Component `projectw` (SPEC §9): Project-W's API under `/api`, so that Project-W's runner and scripted
//! clients work against Conveyor unchanged. This file is the route table; the handlers, one module per
//! route family, authenticate (a runner's bearer token, or a user's Conveyor credential), parse Project-W's
//! requests and answer in its shapes (`compat::projectw`), over the same task and worker services as the
//! native components. Differences: `docs/projectw.md`.
#![allow(unsafe_code, reason = "`#[http_component]` expands to the wasm export glue")]

mod account_routes;
mod admin_routes;
mod caller;
mod event_routes;
mod general_routes;
mod job_routes;
mod runner_routes;
mod user_routes;

use conveyor_core::compat::projectw::wire::Refusal;
use conveyor_core::http::BULK_BODY_LIMIT;
use conveyor_core::router::streamed;
use conveyor_core::{ApiError, Response, Router, route};

/// A handler's answer: a refusal is an answer too, in Project-W's shape.
fn answer(result: Result<Response, Refusal>) -> Result<Response, ApiError> {
    Ok(result.unwrap_or_else(|refusal| refusal.response()))
}

/// This component's route table (read natively by the API documents' coverage test).
pub fn router() -> Router {
    Router::new(vec![
        route("GET", "/api/about", |ctx| answer(general_routes::about(ctx))),
        route("GET", "/api/auth_settings", |ctx| answer(general_routes::auth_settings(ctx))),
        route("POST", "/api/admins/create_runner", |ctx| answer(admin_routes::create_runner(ctx))),
        route("DELETE", "/api/admins/invalidate_runner", |ctx| answer(admin_routes::invalidate_runner(ctx))),
        route("POST", "/api/admins/invalidate_runner", |ctx| answer(admin_routes::invalidate_runner(ctx))),
        route("POST", "/api/admins/add_site_banner", |ctx| answer(admin_routes::add_site_banner(ctx))),
        route("DELETE", "/api/admins/delete_site_banner", |ctx| answer(admin_routes::delete_site_banner(ctx))),
        route("POST", "/api/admins/delete_site_banner", |ctx| answer(admin_routes::delete_site_banner(ctx))),
        route("POST", "/api/admins/send_email_to_all_users", |ctx| answer(admin_routes::send_email_to_all_users(ctx))),
        route("POST", "/api/admins/run-retention", |ctx| answer(admin_routes::run_retention(ctx))),
        route("POST", "/api/admins/send-mail", |ctx| answer(admin_routes::send_mail(ctx))),
        route("POST", "/api/runners/register", |ctx| answer(runner_routes::register(ctx))),
        route("POST", "/api/runners/heartbeat", |ctx| answer(runner_routes::heartbeat(ctx))),
        route("GET", "/api/runners/retrieve_job_info", |ctx| answer(runner_routes::job_info(ctx))),
        streamed("POST", "/api/runners/retrieve_job_audio", runner_routes::job_audio),
        route("POST", "/api/runners/submit_job_result", |ctx| answer(runner_routes::submit_result(ctx)))
            .body_limit(BULK_BODY_LIMIT),
        route("POST", "/api/runners/unregister", |ctx| answer(runner_routes::unregister(ctx))),
        streamed("POST", "/api/jobs/submit_job", job_routes::submit_job),
        route("GET", "/api/jobs/info", |ctx| answer(job_routes::info(ctx))),
        route("GET", "/api/jobs/get", |ctx| answer(job_routes::get(ctx))),
        route("GET", "/api/jobs/count", |ctx| answer(job_routes::count(ctx))),
        route("POST", "/api/jobs/abort", |ctx| answer(job_routes::abort(ctx))),
        route("DELETE", "/api/jobs/delete", |ctx| answer(job_routes::delete(ctx))),
        route("POST", "/api/jobs/delete", |ctx| answer(job_routes::delete(ctx))),
        // Marks the job downloaded: a change, though a GET.
        route("GET", "/api/jobs/download_transcript", |ctx| answer(job_routes::download_transcript(ctx)))
            .changes_state(),
        streamed("GET", "/api/jobs/events", event_routes::events),
        route("GET", "/api/jobs/default_settings", |ctx| answer(job_routes::default_settings(ctx))),
        route("POST", "/api/jobs/submit_settings", |ctx| answer(job_routes::submit_settings(ctx))),
        route("POST", "/api/local-account/login", |ctx| answer(account_routes::login(ctx))),
        route("POST", "/api/local-account/signup", |ctx| answer(account_routes::signup(ctx))),
        route("POST", "/api/local-account/activate", |ctx| answer(account_routes::activate(ctx))),
        // Sends an email: a change, though a GET.
        route("GET", "/api/local-account/resend_activation_email", |ctx| {
            answer(account_routes::resend_activation_email(ctx))
        })
        .changes_state(),
        route("GET", "/api/local-account/request_password_reset", |ctx| {
            answer(account_routes::request_password_reset(ctx))
        }),
        route("POST", "/api/local-account/reset_password", |ctx| answer(account_routes::reset_password(ctx))),
        route("POST", "/api/local-account/change_user_email", |ctx| answer(account_routes::change_user_email(ctx))),
        route("POST", "/api/local-account/change_user_password", |ctx| {
            answer(account_routes::change_user_password(ctx))
        }),
        route("POST", "/api/users/get_new_api_token", |ctx| answer(user_routes::get_new_api_token(ctx))),
        route("DELETE", "/api/users/invalidate_token", |ctx| answer(user_routes::invalidate_token(ctx))),
        route("DELETE", "/api/users/invalidate_all_tokens", |ctx| answer(user_routes::invalidate_all_tokens(ctx))),
        route("DELETE", "/api/users/logout", |ctx| answer(user_routes::logout(ctx))),
        route("GET", "/api/users/get_all_token_info", |ctx| answer(user_routes::get_all_token_info(ctx))),
        route("GET", "/api/users/info", |ctx| answer(user_routes::info(ctx))),
        route("POST", "/api/users/accept_tos", |ctx| answer(user_routes::accept_tos(ctx))),
        route("DELETE", "/api/users/delete", |ctx| answer(user_routes::delete(ctx))),
        // `/api/oidc/...` and `/api/ldap/...` have no routes: Project-W mounts those routers only when a
        // provider is configured, so without one every path there is its 404 `{"detail": "Not Found"}`.
    ])
}

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
fn handle(request: spin_sdk::http::IncomingRequest, out: spin_sdk::http::ResponseOutparam) {
    conveyor_core::entry::serve_streaming(&router(), request, out, conveyor_core::compat::projectw::wire::error)
}
