//! The local AWS endpoint: moto server from `.venv/`, started on demand.

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
    pub fn start(port: Option<u16>) -> Result<Self, EndpointError> {
        let root = repo_root();
        let venv = ensure_venv(&root)?;
        let port = match port {
            Some(p) => p,
            None => free_port()?,
        };
        let child = Command::new(venv.join("bin/python"))
            .arg(root.join("infra/local/moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let endpoint = LocalEndpoint {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
        };
        endpoint.wait_ready(port, Duration::from_secs(30))?;
        Ok(endpoint)
    }

    fn wait_ready(&self, port: u16, limit: Duration) -> Result<(), EndpointError> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(());
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
