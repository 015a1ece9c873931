//! Project-W's wire (SPEC §9, component `projectw`, `docs/projectw.md`): its answers and errors, its request
//! bodies with FastAPI's validation, job settings and multipart uploads. What the routes do is the
//! `projectw` services' over Conveyor's queue.

pub mod accounts;
pub mod bodies;
pub mod events;
pub mod multipart;
pub mod settings;
pub mod upload;
pub mod wire;
