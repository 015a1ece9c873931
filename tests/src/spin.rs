//! The application served by a real `spin` binary instead of our host: `spin up --from <manifest> --listen
//! 127.0.0.1:<port> --state-dir <dir>`, with variables as `SPIN_VARIABLE_*`. The suites use it when
//! `CONVEYOR_TEST_SPIN` names the binary, and the bench with `--spin-bin` (docs/spin.md).

use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable that runs the suites on a real Spin binary (its path).
pub const SPIN_BINARY: &str = "CONVEYOR_TEST_SPIN";

/// The `spin` binary the suites run on, when [`SPIN_BINARY`] is set.
pub fn spin_binary() -> Option<std::path::PathBuf> {
    std::env::var_os(SPIN_BINARY).filter(|path| !path.is_empty()).map(Into::into)
}

/// A `spin up` process serving one application; killed when dropped.
pub struct SpinUp {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The built-in administrator's token, generated here: Spin does not make one.
    pub admin_token: String,
}

impl SpinUp {
    /// Starts `spin up` for `manifest` on `state_dir` (its `default` database is `sqlite_db.db` there) and
    /// waits until it serves. `variables` win over the generated administrator token.
    pub async fn start(
        spin: &Path,
        manifest: &Path,
        state_dir: &Path,
        variables: &HashMap<String, String>,
    ) -> Result<SpinUp> {
        let port = free_port()?;
        let admin_token = variables.get("admin_token").cloned().unwrap_or_else(random_token);
        let mut command = Command::new(spin);
        command
            .arg("up")
            .arg("--from")
            .arg(manifest)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--state-dir"])
            .arg(state_dir)
            .arg("--log-dir")
            .arg(state_dir.join("logs"))
            .env("SPIN_VARIABLE_ADMIN_TOKEN", &admin_token)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(state_dir.join("spin.out"))?)
            .stderr(std::fs::File::create(state_dir.join("spin.err"))?);
        for (name, value) in variables {
            command.env(format!("SPIN_VARIABLE_{}", name.to_uppercase()), value);
        }
        // `spin up` runs the app in a child process (`spin trigger http`) that outlives a killed parent: the
        // two get a process group of their own, to be stopped together.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().with_context(|| format!("starting {}", spin.display()))?;
        let mut up = SpinUp { child, url: format!("http://127.0.0.1:{port}"), admin_token };
        up.wait_until_serving(port, state_dir).await?;
        Ok(up)
    }

    /// Polls the port until a TCP connection is accepted (Spin listens once every component is loaded).
    async fn wait_until_serving(&mut self, port: u16, state_dir: &Path) -> Result<()> {
        let began = Instant::now();
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                let stderr = std::fs::read_to_string(state_dir.join("spin.err")).unwrap_or_default();
                bail!("spin up exited with {status} before serving: {stderr}");
            }
            if began.elapsed() > Duration::from_secs(120) {
                bail!("spin up did not listen on port {port} within 120 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops `spin up` and its trigger process (SIGKILL to their process group: Spin keeps nothing in memory
    /// that the database does not hold).
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

impl Drop for SpinUp {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback port nobody listens on now (bound once and released, so `spin up` can take it).
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// 128 random bits in hex, from the standard library's randomly seeded hasher.
fn random_token() -> String {
    let half = || std::collections::hash_map::RandomState::new().build_hasher().finish();
    format!("{:016x}{:016x}", half(), half())
}
