//! `/api/admins/create_runner` and `/api/admins/invalidate_runner` (Conveyor administrators).

use crate::caller;
use conveyor_core::clock;
use conveyor_core::compat::projectw::wire::{self, Refusal};
use conveyor_core::projectw::runners;
use conveyor_core::{Ctx, Response};

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
