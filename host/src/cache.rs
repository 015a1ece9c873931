//! The on-disk cache of compiled components.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Counts of how components were loaded at start-up.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub compiled: AtomicUsize,
    pub loaded_from_cache: AtomicUsize,
}

/// The cache file for a component: keyed by the wasm's hash and the engine's compatibility hash, so a
/// rebuilt component or another wasmtime never loads a stale artifact.
fn cache_path(engine: &Engine, wasm: &[u8], cache_dir: &Path) -> PathBuf {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = Sha256::digest(wasm);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    cache_dir.join(format!("{hex}-{:016x}.cwasm", hasher.finish()))
}

/// Compiles the component at `path`, or loads it from `cache_dir` if this engine compiled it before.
pub fn load_component(engine: &Engine, path: &Path, cache_dir: &Path, stats: &CacheStats) -> Result<Component> {
    let wasm = std::fs::read(path)
        .with_context(|| format!("source `{}` cannot be read (run `conveyor build`)", path.display()))?;
    let cached = cache_path(engine, &wasm, cache_dir);
    if cached.exists() {
        // SAFETY: the file was written by `Component::serialize` of this same engine configuration (the
        // name carries the engine's compatibility hash), in a directory only this host writes.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(engine, &cached) };
        if let Ok(component) = loaded {
            stats.loaded_from_cache.fetch_add(1, Ordering::SeqCst);
            return Ok(component);
        }
    }
    let component = Component::new(engine, &wasm)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("source `{}` is not a valid component", path.display()))?;
    // Unique per writer: several hosts (threads or processes) may compile the same component at once.
    static WRITERS: AtomicUsize = AtomicUsize::new(0);
    let temporary =
        cached.with_extension(format!("tmp-{}-{}", std::process::id(), WRITERS.fetch_add(1, Ordering::SeqCst)));
    std::fs::write(&temporary, component.serialize()?)?;
    std::fs::rename(&temporary, &cached)?;
    stats.compiled.fetch_add(1, Ordering::SeqCst);
    Ok(component)
}
