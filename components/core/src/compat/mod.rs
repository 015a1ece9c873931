//! Wire-compatible surfaces (SPEC §9): the seed systems' field names, envelopes and status codes, mapped
//! onto the same core services. Only the mapping lives here; every rule is in the service modules.

pub mod projectw;
pub mod rhodecode;
pub mod seed;
pub mod tracker;
