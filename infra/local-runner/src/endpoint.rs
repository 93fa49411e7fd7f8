//! The local AWS endpoint: moto server from `.venv/`, started on demand.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("the local tool environment is missing and could not be installed: {0}")]
    Venv(String),
    #[error("could not start moto server: {0}")]
    Spawn(#[from] std::io::Error),
    #[error("moto server did not answer on {0} within {1:?}")]
    NotReady(String, Duration),
    #[error("moto server exited before it answered ({status}): {stderr}")]
    Exited { status: String, stderr: String },
}

/// The repository root: `BATON_ROOT`, or where this crate was built from.
pub fn repo_root() -> PathBuf {
    if let Ok(root) = std::env::var("BATON_ROOT") {
        return PathBuf::from(root);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

/// Installs `.venv/` (moto, aws-sam-cli, cfn-lint at pinned versions) if it is missing.
pub fn ensure_venv(root: &Path) -> Result<PathBuf, EndpointError> {
    let venv = root.join(".venv");
    if venv.join("bin/moto_server").exists() {
        return Ok(venv);
    }
    let status = Command::new(root.join("infra/local/venv"))
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| EndpointError::Venv(e.to_string()))?;
    if !status.success() || !venv.join("bin/moto_server").exists() {
        return Err(EndpointError::Venv(format!("infra/local/venv exited with {status}")));
    }
    Ok(venv)
}

/// How long a starting server may take to answer: importing moto takes about a second
/// on an idle machine and far longer while the test suite compiles on every core.
const READY_LIMIT: Duration = Duration::from_secs(180);
const START_ATTEMPTS: usize = 3;
const KEPT_LINES: usize = 20;

/// Reads a server's stderr to its end, keeping the last lines.
fn keep_last_lines(stderr: std::process::ChildStderr) -> std::thread::JoinHandle<VecDeque<String>> {
    std::thread::spawn(move || {
        let mut last = VecDeque::with_capacity(KEPT_LINES);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if last.len() == KEPT_LINES {
                last.pop_front();
            }
            last.push_back(line);
        }
        last
    })
}

pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running endpoint; stops the server it started when dropped.
pub struct LocalEndpoint {
    child: Option<Child>,
    pub url: String,
}

impl LocalEndpoint {
    /// Uses an endpoint someone else runs.
    pub fn existing(url: impl Into<String>) -> Self {
        LocalEndpoint {
            child: None,
            url: url.into(),
        }
    }

    /// Starts moto server on `port` (a free one if `None`) and waits until it answers.
    /// A server that exits before answering (its port taken between the probe and the
    /// bind) is started again on another free port; a busy machine gets time to import.
    pub fn start(port: Option<u16>) -> Result<Self, EndpointError> {
        let root = repo_root();
        let venv = ensure_venv(&root)?;
        let attempts = if port.is_some() { 1 } else { START_ATTEMPTS };
        let mut last = None;
        for _ in 0..attempts {
            let port = match port {
                Some(p) => p,
                None => free_port()?,
            };
            match Self::start_on(&root, &venv, port) {
                Ok(endpoint) => return Ok(endpoint),
                Err(e @ EndpointError::Exited { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    fn start_on(root: &Path, venv: &Path, port: u16) -> Result<Self, EndpointError> {
        let mut child = Command::new(venv.join("bin/python"))
            .arg(root.join("infra/local/moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        // moto's last lines are kept (and the pipe drained) so a failed start can say why.
        let last_lines = child.stderr.take().map(keep_last_lines);
        let mut endpoint = LocalEndpoint {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
        };
        let ready = endpoint.wait_ready(port, READY_LIMIT);
        if ready.is_err() {
            if let Some(status) = endpoint.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                // The process is gone, so its stderr is closed and the reader finishes.
                let stderr = last_lines
                    .and_then(|h| h.join().ok())
                    .map(|lines| Vec::from(lines).join("\n"))
                    .unwrap_or_default();
                return Err(EndpointError::Exited {
                    status: status.to_string(),
                    stderr,
                });
            }
        }
        ready.map(|()| endpoint)
    }

    fn wait_ready(&mut self, port: u16, limit: Duration) -> Result<(), EndpointError> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(());
            }
            let exited = self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(EndpointError::NotReady(self.url.clone(), limit))
    }

    /// SDK configuration for this endpoint with throwaway credentials.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config_for(&self.url).await
    }
}

pub async fn sdk_config_for(url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new(crate::provision::REGION))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "baton-local",
        ))
        .load()
        .await
}

impl Drop for LocalEndpoint {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
