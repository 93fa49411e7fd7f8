//! Configuration from the environment, with errors that name what is missing.

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {name} is not set ({purpose})")]
    Missing { name: &'static str, purpose: &'static str },
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// A required, non-empty environment variable.
pub fn env_var(name: &'static str, purpose: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ConfigError::Missing { name, purpose }),
    }
}

/// An optional environment variable; empty counts as unset.
pub fn optional_env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The one SDK configuration a process builds. Region, credentials and the endpoint come
/// from the standard chain, so `AWS_ENDPOINT_URL` points every client at a local endpoint.
/// In a Lambda sandbox the credentials and the region are in the environment, always:
/// the function reads them from there and skips building the rest of the chain (profile
/// files, SSO, web identity, container and instance metadata), which it never uses and
/// which costs init time. Every client shares one HTTPS client ([`crate::http`]), so the
/// certificate bundle is parsed once per process, for the first call.
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    let loader =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(crate::http::shared_https_client());
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some()
        && std::env::var_os("AWS_ACCESS_KEY_ID").is_some()
        && std::env::var_os("AWS_REGION").is_some();
    let loader = if in_lambda {
        loader
            .credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new())
            .region(aws_config::environment::EnvironmentVariableRegionProvider::new())
    } else {
        loader
    };
    loader.load().await
}
