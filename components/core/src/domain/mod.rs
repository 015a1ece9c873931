//! Domain types and rules, free of I/O: validation of account input and project roles.

pub mod accounts;
pub mod project;
pub mod roles;
pub mod task;
pub mod worker;
