//! The one HTTPS client every SDK client of a process shares.
//!
//! The SDK's default client is built per service client, and each build parses the whole
//! certificate bundle twice: once when the service client is constructed (to "load the
//! certificates at init") and again for its first request. A function with four clients
//! parsed the 144-certificate bundle eight times, most of it during init. Here every
//! service client shares one client, which builds a connector (TLS roots included) the
//! first time a request needs one with those timeouts, and reuses it after: the bundle is
//! parsed once per process, when the first call is made. The connector itself is the
//! SDK's own (rustls with aws-lc, the proxy settings from the environment), so timeouts,
//! retries and error classification are unchanged.

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_http_client::ConnectorBuilder;
use aws_smithy_runtime_api::client::http::{http_client_fn, SharedHttpClient, SharedHttpConnector};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// A connector's timeouts: connect, read.
type Timeouts = (Option<Duration>, Option<Duration>);

/// The shared client: one connector per distinct pair of timeouts.
pub fn shared_https_client() -> SharedHttpClient {
    let connectors: Mutex<HashMap<Timeouts, SharedHttpConnector>> = Mutex::new(HashMap::new());
    http_client_fn(move |settings, components| {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = connectors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        connectors
            .entry(key)
            .or_insert_with(|| {
                let mut builder = ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::AwsLc));
                builder.set_connector_settings(Some(settings.clone()));
                builder.set_sleep_impl(components.sleep_impl());
                builder.set_proxy_config(Some(ProxyConfig::from_env()));
                SharedHttpConnector::new(builder.build())
            })
            .clone()
    })
}
