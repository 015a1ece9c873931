//! All SQL lives here: one module per table group. Functions take a `&dyn Db`, bind every value, and
//! return typed rows. Secrets (password and token hashes) are read only by the functions that need them
//! and never appear in the types the API renders.

pub mod access;
pub mod codes;
pub mod grants;
pub mod groups;
pub mod logs;
pub mod metrics;
pub mod projects;
pub mod projectw;
pub mod schedules;
pub mod tasks;
pub mod tokens;
pub mod users;
pub mod workers;
