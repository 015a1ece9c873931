//! `conveyor build`: runs each component's `[component.<id>.build] command` in its `workdir`, as
//! `spin build` does, after making sure the `wasm32-wasip2` target is installed.

use crate::manifest::App;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-wasip2";

/// Builds every component that has a build command. Identical commands in the same directory run once.
pub fn build(app: &App) -> Result<()> {
    let mut done: Vec<(String, PathBuf)> = Vec::new();
    for (id, component) in &app.manifest.component {
        let Some(build) = &component.build else { continue };
        let workdir = build.workdir.as_deref().map_or_else(|| app.dir().to_path_buf(), |w| app.dir().join(w));
        if done.iter().any(|(command, dir)| *command == build.command && *dir == workdir) {
            continue;
        }
        if build.command.contains(WASM_TARGET) && !done.iter().any(|(c, _)| c.contains(WASM_TARGET)) {
            ensure_wasm_target()?;
        }
        eprintln!("conveyor: building component `{id}`: {}", build.command);
        run_shell(&build.command, &workdir)
            .with_context(|| format!("{}: key `component.{id}.build.command`", app.path.display()))?;
        done.push((build.command.clone(), workdir));
    }
    Ok(())
}

fn run_shell(command: &str, workdir: &Path) -> Result<()> {
    let status = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(workdir)
        .status()
        .with_context(|| format!("cannot run `{command}` in {}", workdir.display()))?;
    if !status.success() {
        bail!("`{command}` failed with {status}");
    }
    Ok(())
}

/// Installs the wasm target through rustup when it is missing (fresh machines have only the host target,
/// and `RUSTUP_AUTO_INSTALL=0` keeps rust-toolchain.toml from installing it).
pub fn ensure_wasm_target() -> Result<()> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    match installed {
        Ok(output) if output.status.success() => {
            if String::from_utf8_lossy(&output.stdout).lines().any(|line| line.trim() == WASM_TARGET) {
                return Ok(());
            }
            eprintln!("conveyor: installing the {WASM_TARGET} target with rustup");
            let status = Command::new("rustup").args(["target", "add", WASM_TARGET]).status()?;
            if !status.success() {
                bail!("`rustup target add {WASM_TARGET}` failed with {status}");
            }
            Ok(())
        }
        // Without rustup the toolchain must already have the target; cargo will say so if not.
        _ => Ok(()),
    }
}
