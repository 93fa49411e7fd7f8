//! `infra/local/invoke`: runs one function binary under the Lambda Runtime Interface
//! Emulator that ships inside the aws-sam-cli package, posts one event, returns the
//! response. `sam local invoke` without the container.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum RieError {
    #[error("the Lambda Runtime Interface Emulator was not found under {0} (is aws-sam-cli installed in .venv?)")]
    NotFound(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("the emulator did not start listening")]
    NotReady,
    #[error("invocation failed: {0}")]
    Http(#[from] reqwest::Error),
}

/// Finds `aws-lambda-rie-x86_64` (or arm64) inside `.venv`'s samcli package.
pub fn find_rie(venv: &Path) -> Result<PathBuf, RieError> {
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "x86_64"
    };
    let lib = venv.join("lib");
    for entry in std::fs::read_dir(&lib).into_iter().flatten().flatten() {
        let candidate = entry
            .path()
            .join(format!("site-packages/samcli/local/rapid/aws-lambda-rie-{arch}"));
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    Err(RieError::NotFound(lib.display().to_string()))
}

/// Runs `binary` under the emulator with `env`, invokes it once with `event`, and returns
/// the raw response body. The emulator's and the function's output go to stderr.
pub async fn invoke_once(
    rie: &Path,
    binary: &Path,
    env: &BTreeMap<String, String>,
    function_name: &str,
    timeout_secs: u32,
    event: Vec<u8>,
) -> Result<Vec<u8>, RieError> {
    let port = crate::endpoint::free_port()?;
    let api_port = crate::endpoint::free_port()?;
    let mut child = tokio::process::Command::new(rie)
        .arg("--runtime-interface-emulator-address")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--runtime-api-address")
        .arg(format!("127.0.0.1:{api_port}"))
        .arg(binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
        .env("AWS_LAMBDA_FUNCTION_TIMEOUT", timeout_secs.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let started = Instant::now();
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill().await;
            return Err(RieError::NotReady);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let client = reqwest::Client::new();
    let resp = client
        .post(format!(
            "http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
        ))
        .body(event)
        .timeout(Duration::from_secs(u64::from(timeout_secs) + 10))
        .send()
        .await;
    let result = match resp {
        Ok(r) => r.bytes().await.map(|b| b.to_vec()).map_err(RieError::from),
        Err(e) => Err(e.into()),
    };
    let _ = child.kill().await;
    result
}
