//! Support of `fuzz_props.rs`: the components served natively, and requests generated from the API documents.

pub mod platform;
pub mod requests;
pub mod schema;
