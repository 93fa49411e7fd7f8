//! Structured JSON logs.
//!
//! Handlers open a span carrying `request_id`, `tenant`, `conversation` and `ticket`
//! (whichever are known); every event inside it is logged with those fields. Message
//! bodies and secrets are never logged at info level.

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the JSON subscriber once; later calls are no-ops (tests call it freely).
/// Level from `RUST_LOG` (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .without_time()
        .with_ansi(false)
        .try_init();
}
