//! Domain types and rules, free of I/O: validation of account input and project roles.

pub mod accounts;
pub mod project;
pub mod roles;
pub mod schedule;
pub mod task;
pub mod worker;

/// A priority (of a project or a task): a 32-bit signed integer.
pub fn within_i32(value: i64) -> Result<(), String> {
    if i32::try_from(value).is_err() {
        return Err(format!("must be between {} and {}", i32::MIN, i32::MAX));
    }
    Ok(())
}
