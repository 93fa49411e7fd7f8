//! Baton's use cases, over the ports of `baton-domain` and nothing else.
//!
//! Each module tells one business step as a story: claim the work, store what arrived,
//! decide, write the state change together with the effects that must follow it (the
//! outbox), then relay those effects to their queues. The function crates are entry
//! points only: they turn a Lambda event into a call here and the result into a response.
//! Because every dependency is a port (`Arc<dyn Store>`, `Arc<dyn Queue>`), a test can put
//! a decorator between a use case and the real adapters and fail any call it makes.

pub mod analytics;
pub mod channel_out;
pub mod connections;
pub mod csat;
pub mod delivery;
pub mod email_out;
pub mod intake;
pub mod kb_index;
pub mod mail_events;
pub mod meta_webhook;
pub mod notify;
pub mod parking;
pub mod relay;
pub mod reply;
pub mod routing;
pub mod shop;
pub mod sla;
pub mod tickets;
pub mod tokens;
pub mod triage;

pub use relay::Queues;
