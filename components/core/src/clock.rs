//! The one source of time. Inside wasm this is the WASI wall clock, which the host controls
//! (tests shift it to expire leases); natively it is the system clock.

/// Now, as integer Unix seconds (UTC).
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
