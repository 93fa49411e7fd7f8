//! The HTTPS client of the adapters that call outside services over plain HTTP (Meta's
//! Graph API, the tenants' shops).

use std::time::Duration;

/// A reqwest client built the first time it is used: building one reads and parses the
/// system's certificate bundle, which the first Graph call needs and init does not. A
/// client that cannot be built fails each call as unavailable instead of the process.
pub struct LazyHttp {
    redirect: fn() -> reqwest::redirect::Policy,
    timeout: Duration,
    client: std::sync::OnceLock<Result<reqwest::Client, String>>,
}

impl LazyHttp {
    pub fn new(redirect: fn() -> reqwest::redirect::Policy, timeout: Duration) -> Self {
        LazyHttp {
            redirect,
            timeout,
            client: std::sync::OnceLock::new(),
        }
    }

    pub fn get(&self) -> Result<&reqwest::Client, String> {
        self.client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .timeout(self.timeout)
                    .redirect((self.redirect)())
                    .build()
                    .map_err(|e| format!("the HTTP client cannot be built: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}
