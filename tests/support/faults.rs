//! Fault injection over the real adapters: `Faulty<S>` wraps a real port implementation
//! (the DynamoDB store, an SQS queue against the local endpoint, never a mock) and counts
//! every call the handler makes through any of them. Armed at call *k*, it either
//!
//! - fails that call with a retryable backend error, without its effect (`Fault::Error`),
//!   and the handler goes on to handle the error as it would in AWS; or
//! - lets the call take effect and then never returns (`Fault::Crash`): the test drops the
//!   handler's future there, as Lambda does when a sandbox dies or times out, so nothing
//!   the handler would have done next ever happens.
//!
//! Every decorated port shares one `Faults`, so *k* counts the handler's calls in order
//! across the store and the queues.

use async_trait::async_trait;
use baton_domain::commerce::Commerce;
use baton_domain::conversation::{Conversation, DeliveryStatus, Message};
use baton_domain::customer::{Customer, Identity};
use baton_domain::directory::{Agent, Presence, Team};
use baton_domain::error::BackendErrorKind;
use baton_domain::idempotency::{ClaimOutcome, ClaimToken, IdempotencyPolicy};
use baton_domain::kb::Article;
use baton_domain::outbox::Effect;
use baton_domain::ports::*;
use baton_domain::tenant::{AiSettings, ChannelBinding, Tenant};
use baton_domain::ticket::{Status, Ticket, TimelineEntry};
use baton_domain::ticket_query::{StreamBatch, TicketStream};
use baton_domain::{
    AgentId, ArticleId, Channel, ConversationId, CustomerId, StoreError, TeamId, TenantId, TicketNumber, Timestamp,
};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails without its effect.
    Error,
    /// The call takes effect, then the invocation dies.
    Crash,
}

/// The shared call counter and the armed fault.
#[derive(Default)]
pub struct Faults {
    calls: AtomicU64,
    armed: Mutex<Option<(u64, Fault)>>,
    fired: AtomicBool,
    crashed: tokio::sync::Notify,
    log: Mutex<Vec<&'static str>>,
    /// Another writer's work, run just before call *k* goes out (a race lost at *k*).
    interleaved: Mutex<Option<(u64, Interleaved)>>,
}

type Interleaved = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

impl Faults {
    pub fn new() -> Arc<Self> {
        Arc::new(Faults::default())
    }

    /// Arms a fault at the `k`-th call from now (1-based) and resets the count.
    pub fn arm(&self, k: u64, fault: Fault) {
        self.reset();
        *self.armed.lock().unwrap() = Some((k, fault));
    }

    /// Runs `other` (a colleague's request, on the plain adapters) just before the `k`-th
    /// call from now goes out, and resets the count: the handler read before it and
    /// writes after it, as when two requests race in AWS.
    pub fn interleave(&self, k: u64, other: impl Future<Output = ()> + Send + 'static) {
        self.disarm();
        *self.interleaved.lock().unwrap() = Some((k, Box::pin(other)));
    }

    /// Counts calls without failing any.
    pub fn disarm(&self) {
        self.reset();
        *self.armed.lock().unwrap() = None;
    }

    fn reset(&self) {
        self.calls.store(0, Ordering::SeqCst);
        self.fired.store(false, Ordering::SeqCst);
        self.log.lock().unwrap().clear();
    }

    /// Whether the armed fault was reached.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// The calls made since the last `arm`/`disarm`, by port method name.
    pub fn log(&self) -> Vec<&'static str> {
        self.log.lock().unwrap().clone()
    }

    /// Runs `handler` until it returns or the armed crash kills it (`None`).
    pub async fn run<T>(&self, handler: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            out = handler => Some(out),
            _ = self.crashed.notified() => None,
        }
    }

    async fn call<T, E: Injected>(&self, name: &'static str, f: impl Future<Output = Result<T, E>>) -> Result<T, E> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        self.log.lock().unwrap().push(name);
        let other = {
            let mut slot = self.interleaved.lock().unwrap();
            match slot.take() {
                Some((k, other)) if k == n => Some(other),
                kept => {
                    *slot = kept;
                    None
                }
            }
        };
        if let Some(other) = other {
            other.await;
        }
        let armed = *self.armed.lock().unwrap();
        match armed {
            Some((k, Fault::Error)) if k == n => {
                self.fired.store(true, Ordering::SeqCst);
                Err(E::injected(name))
            }
            Some((k, Fault::Crash)) if k == n => {
                let out = f.await;
                self.fired.store(true, Ordering::SeqCst);
                drop(out);
                self.crashed.notify_one();
                std::future::pending().await
            }
            _ => f.await,
        }
    }
}

/// The retryable error a port returns when a fault is injected.
pub trait Injected {
    fn injected(call: &'static str) -> Self;
}

impl Injected for StoreError {
    fn injected(call: &'static str) -> Self {
        StoreError::Backend {
            kind: BackendErrorKind::Unavailable,
            operation: call,
            source: "injected fault".into(),
        }
    }
}

impl Injected for BlobError {
    fn injected(_: &'static str) -> Self {
        BlobError::Backend {
            kind: BackendErrorKind::Unavailable,
            source: "injected fault".into(),
        }
    }
}

impl Injected for SendError {
    fn injected(call: &'static str) -> Self {
        SendError {
            channel: Channel::Whatsapp,
            failure: baton_domain::meta_send::MetaFailure::Unavailable,
            code: None,
            message: format!("injected fault at {call}"),
        }
    }
}

impl Injected for MailError {
    fn injected(call: &'static str) -> Self {
        MailError::Unavailable(format!("injected fault at {call}"))
    }
}

impl Injected for baton_domain::commerce::CommerceError {
    fn injected(call: &'static str) -> Self {
        baton_domain::commerce::CommerceError::Unavailable(format!("injected fault at {call}"))
    }
}

impl Injected for baton_domain::secrets::SecretError {
    fn injected(call: &'static str) -> Self {
        baton_domain::secrets::SecretError::Unavailable(format!("injected fault at {call}"))
    }
}

impl Injected for QueueError {
    fn injected(_: &'static str) -> Self {
        QueueError::Backend {
            kind: BackendErrorKind::Unavailable,
            source: "injected fault".into(),
        }
    }
}

/// A real adapter behind the fault injector.
pub struct Faulty<S> {
    pub inner: S,
    pub faults: Arc<Faults>,
}

impl<S> Faulty<S> {
    pub fn new(inner: S, faults: &Arc<Faults>) -> Self {
        Faulty {
            inner,
            faults: faults.clone(),
        }
    }
}

/// Implements a port for `Faulty<S>` by passing each method through `Faults::call`.
macro_rules! faulty {
    ($port:ident { $(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)* }) => {
        #[async_trait]
        impl<S: $port> $port for Faulty<S> {
            $(async fn $name(&self $(, $arg: $ty)*) -> $ret {
                self.faults.call(stringify!($name), self.inner.$name($($arg),*)).await
            })*
        }
    };
}

faulty!(TenantStore {
    fn create_tenant(&self, tenant: &Tenant, bindings: &[ChannelBinding]) -> Result<(), StoreError>;
    fn get_tenant(&self, id: &TenantId) -> Result<Tenant, StoreError>;
    fn update_ai_settings(&self, id: &TenantId, ai: &AiSettings) -> Result<(), StoreError>;
    fn set_routing(&self, id: &TenantId, routing: &baton_domain::routing::RoutingSettings) -> Result<(), StoreError>;
    fn set_sla(&self, id: &TenantId, sla: &baton_domain::sla::SlaSettings) -> Result<(), StoreError>;
    fn set_report_settings(&self, id: &TenantId, time_zone: &str, reports: &baton_domain::tenant::ReportSettings) -> Result<(), StoreError>;
    fn set_quotas(&self, id: &TenantId, quotas: &baton_domain::tenant::Quotas) -> Result<(), StoreError>;
    fn resolve_channel(&self, channel: Channel, external_id: &str) -> Result<Option<ChannelBinding>, StoreError>;
    fn set_sending_settings(&self, id: &TenantId, whatsapp: &baton_domain::tenant::WhatsAppSettings, instagram: &baton_domain::tenant::InstagramSettings) -> Result<(), StoreError>;
    fn set_channel_health(&self, id: &TenantId, channel: Channel, health: &baton_domain::tenant::ChannelHealth) -> Result<(), StoreError>;
    fn change_channels(&self, change: &baton_domain::connections::ChannelChange) -> Result<(), StoreError>;
    fn get_channel_secret(&self, id: &TenantId, channel: Channel) -> Result<Option<baton_domain::secrets::SealedSecret>, StoreError>;
    fn change_shop(&self, id: &TenantId, shop: Option<(&baton_domain::commerce::ShopSettings, &baton_domain::secrets::SealedSecret)>) -> Result<(), StoreError>;
    fn get_shop_secret(&self, id: &TenantId) -> Result<Option<baton_domain::secrets::SealedSecret>, StoreError>;
});

faulty!(CustomerStore {
    fn create_customer(&self, customer: &Customer, identity: &Identity) -> Result<(), StoreError>;
    fn get_customer(&self, tenant: &TenantId, id: CustomerId) -> Result<Customer, StoreError>;
    fn find_identity(&self, tenant: &TenantId, channel: Channel, external_id: &str) -> Result<Option<Identity>, StoreError>;
    fn set_active_conversation(&self, tenant: &TenantId, channel: Channel, external_id: &str, conversation: Option<ConversationId>) -> Result<(), StoreError>;
    fn mark_undeliverable(&self, tenant: &TenantId, customer: CustomerId, mark: &baton_domain::customer::Undeliverable) -> Result<(), StoreError>;
    fn claim_active_conversation(&self, tenant: &TenantId, channel: Channel, external_id: &str, replacing: Option<ConversationId>, proposed: ConversationId) -> Result<ConversationId, StoreError>;
});

faulty!(ConversationStore {
    fn create_conversation(&self, conversation: &Conversation) -> Result<(), StoreError>;
    fn get_conversation(&self, tenant: &TenantId, id: ConversationId) -> Result<Conversation, StoreError>;
    fn update_conversation(&self, conversation: &Conversation, expected_version: u64) -> Result<(), StoreError>;
    fn append_message(&self, message: &Message) -> Result<(), StoreError>;
    fn list_messages(&self, tenant: &TenantId, id: ConversationId, page: &PageRequest) -> Result<Page<Message>, StoreError>;
    fn list_messages_after(&self, tenant: &TenantId, id: ConversationId, after: Option<ulid::Ulid>, limit: u32) -> Result<Vec<Message>, StoreError>;
    fn latest_messages(&self, tenant: &TenantId, id: ConversationId, after: Option<ulid::Ulid>, limit: u32) -> Result<Vec<Message>, StoreError>;
    fn find_channel_message(&self, tenant: &TenantId, channel_message_id: &str) -> Result<Option<(ConversationId, ulid::Ulid)>, StoreError>;
    fn set_delivery_status(&self, tenant: &TenantId, channel_message_id: &str, status: DeliveryStatus) -> Result<(), StoreError>;
    fn record_delivery(&self, tenant: &TenantId, conversation: ConversationId, message: ulid::Ulid, outcome: &baton_domain::conversation::DeliveryOutcome) -> Result<(), StoreError>;
});

faulty!(TicketStore {
    fn next_ticket_number(&self, tenant: &TenantId) -> Result<TicketNumber, StoreError>;
    fn create_ticket(&self, ticket: &Ticket, timeline: &[TimelineEntry]) -> Result<(), StoreError>;
    fn get_ticket(&self, tenant: &TenantId, number: TicketNumber) -> Result<Ticket, StoreError>;
    fn update_ticket_and_capacity(&self, ticket: &Ticket, expected_version: u64, timeline: &[TimelineEntry], capacity: &[(AgentId, i64)]) -> Result<u64, StoreError>;
    fn read_stream(&self, tenant: &TenantId, stream: &TicketStream, after: Option<&str>, limit: u32) -> Result<StreamBatch, StoreError>;
    fn list_timeline(&self, tenant: &TenantId, number: TicketNumber, page: &PageRequest) -> Result<Page<TimelineEntry>, StoreError>;
    fn get_timeline_entry(&self, tenant: &TenantId, number: TicketNumber, id: ulid::Ulid) -> Result<TimelineEntry, StoreError>;
    fn set_attachment_stored(&self, tenant: &TenantId, number: TicketNumber, id: ulid::Ulid, index: usize, key: &str, size: u64) -> Result<(), StoreError>;
    fn list_by_status(&self, tenant: &TenantId, status: Status, page: &PageRequest) -> Result<Page<Ticket>, StoreError>;
    fn list_by_assignee(&self, tenant: &TenantId, agent: &AgentId, page: &PageRequest) -> Result<Page<Ticket>, StoreError>;
    fn list_team_backlog(&self, tenant: &TenantId, team: &TeamId, page: &PageRequest) -> Result<Page<Ticket>, StoreError>;
    fn list_due(&self, shard: u8, due_by: Timestamp, page: &PageRequest) -> Result<Page<DueTicket>, StoreError>;
    fn get_survey(&self, tenant: &TenantId, of: &baton_domain::outbound::SurveyRef) -> Result<baton_domain::csat::Survey, StoreError>;
    fn list_surveys(&self, tenant: &TenantId, number: TicketNumber, page: &PageRequest) -> Result<Page<baton_domain::csat::Survey>, StoreError>;
});

faulty!(DirectoryStore {
    fn create_agent(&self, agent: &Agent) -> Result<(), StoreError>;
    fn get_agent(&self, tenant: &TenantId, id: &AgentId) -> Result<Agent, StoreError>;
    fn list_agents(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<Agent>, StoreError>;
    fn create_team(&self, team: &Team) -> Result<(), StoreError>;
    fn get_team(&self, tenant: &TenantId, id: &TeamId) -> Result<Team, StoreError>;
    fn list_teams(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<Team>, StoreError>;
    fn update_agent(&self, agent: &Agent) -> Result<(), StoreError>;
    fn set_presence(&self, tenant: &TenantId, id: &AgentId, presence: Presence) -> Result<(), StoreError>;
    fn update_team(&self, team: &Team) -> Result<(), StoreError>;
    fn get_agents(&self, tenant: &TenantId, ids: &[AgentId]) -> Result<Vec<Agent>, StoreError>;
    fn get_rotation(&self, tenant: &TenantId, team: &TeamId) -> Result<baton_domain::routing::Rotation, StoreError>;
    fn reserve_capacity(&self, tenant: &TenantId, id: &AgentId) -> Result<(), StoreError>;
    fn release_capacity(&self, tenant: &TenantId, id: &AgentId) -> Result<(), StoreError>;
});

faulty!(KnowledgeStore {
    fn put_article(&self, article: &Article, index: &Effect) -> Result<(), StoreError>;
    fn get_article(&self, tenant: &TenantId, id: &ArticleId) -> Result<Article, StoreError>;
    fn delete_article(&self, tenant: &TenantId, id: &ArticleId) -> Result<(), StoreError>;
    fn list_articles(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<Article>, StoreError>;
    fn put_vectors(&self, vectors: &baton_domain::kb_vectors::ArticleVectors) -> Result<(), StoreError>;
    fn vectors_stored(&self, tenant: &TenantId) -> Result<(), StoreError>;
    fn get_vectors(&self, tenant: &TenantId, id: &ArticleId) -> Result<Option<baton_domain::kb_vectors::ArticleVectors>, StoreError>;
    fn list_vectors(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<baton_domain::kb_vectors::ArticleVectors>, StoreError>;
});

faulty!(IdempotencyStore {
    fn claim(&self, scope: &str, key: &str, payload_hash: &str, now: Timestamp, policy: IdempotencyPolicy) -> Result<ClaimOutcome, StoreError>;
    fn complete(&self, scope: &str, key: &str, token: &ClaimToken, response: Option<serde_json::Value>, now: Timestamp, policy: IdempotencyPolicy) -> Result<(), StoreError>;
    fn release(&self, scope: &str, key: &str, token: &ClaimToken) -> Result<(), StoreError>;
});

faulty!(EmailRefStore {
    fn record_email_ref(&self, tenant: &TenantId, message_id: &str, conversation: ConversationId) -> Result<(), StoreError>;
    fn find_email_ref(&self, tenant: &TenantId, message_ids: &[String]) -> Result<Option<ConversationId>, StoreError>;
    fn record_ses_message(&self, ses_message_id: &str, sent: &SentEmail) -> Result<(), StoreError>;
    fn find_ses_message(&self, ses_message_id: &str) -> Result<Option<SentEmail>, StoreError>;
});

faulty!(RateLimiter {
    fn hit(&self, key: &str, now: Timestamp, window_secs: i64, limit: u32) -> Result<bool, StoreError>;
});

faulty!(UnitOfWork {
    fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError>;
});

faulty!(OutboxStore {
    fn get_effect(&self, id: &str) -> Result<Option<Effect>, StoreError>;
    fn mark_relayed(&self, id: &str, at: Timestamp) -> Result<(), StoreError>;
    fn list_pending(&self, shard: u8, created_by: Timestamp, limit: u32) -> Result<Vec<Effect>, StoreError>;
});

faulty!(ParkingStore {
    fn park(&self, record: &ParkedRecord) -> Result<(), StoreError>;
    fn list_parked(&self, consumer: &str, page: &PageRequest) -> Result<Page<ParkedRecord>, StoreError>;
    fn remove_parked(&self, consumer: &str, message_id: &str, parked_at: Timestamp) -> Result<(), StoreError>;
});

faulty!(NotifyStore {
    fn put_pending_notification(&self, notification: &baton_domain::notify::AgentNotification, stored_at: Timestamp) -> Result<(), StoreError>;
    fn list_pending_notifications(&self, tenant: &TenantId, agent: &AgentId, limit: u32) -> Result<Vec<baton_domain::notify::PendingNotification>, StoreError>;
    fn delete_pending_notifications(&self, tenant: &TenantId, agent: &AgentId, items: &[baton_domain::notify::PendingNotification]) -> Result<(), StoreError>;
    fn get_notify_state(&self, tenant: &TenantId, agent: &AgentId) -> Result<baton_domain::notify::NotifyState, StoreError>;
    fn set_notify_state(&self, tenant: &TenantId, agent: &AgentId, state: &baton_domain::notify::NotifyState, expected_version: u64) -> Result<(), StoreError>;
});

faulty!(Queue {
    fn send(&self, message: QueueMessage) -> Result<(), QueueError>;
});

faulty!(Mailer {
    fn send_raw(&self, raw: &[u8]) -> Result<String, MailError>;
});

faulty!(MessagingApi {
    fn send(&self, channel: Channel, account: &str, token: &str, body: &serde_json::Value) -> Result<String, SendError>;
});

faulty!(AnalyticsStore {
    fn count_event(&self, event: &baton_domain::analytics::Event, day: &str, slices: &[String], increments: &baton_domain::analytics::Increments) -> Result<bool, StoreError>;
    fn count_placed(&self, event: &baton_domain::analytics::Event, day: &str, slices: &[String], increments: &baton_domain::analytics::Increments, placed: &baton_domain::clusters::Placed) -> Result<bool, StoreError>;
    fn cluster_index(&self, tenant: &TenantId, family: baton_domain::clusters::Family) -> Result<baton_domain::clusters::ClusterIndex, StoreError>;
    fn get_cluster(&self, tenant: &TenantId, family: baton_domain::clusters::Family, id: &str) -> Result<baton_domain::clusters::Cluster, StoreError>;
    fn put_cluster(&self, cluster: &baton_domain::clusters::Cluster, expected: u64) -> Result<(), StoreError>;
    fn daily(&self, tenant: &TenantId, slice: &str, from: &str, to: &str) -> Result<Vec<baton_domain::analytics::DailyAggregate>, StoreError>;
});

faulty!(BlobStore {
    fn get(&self, key: &str, max_bytes: usize) -> Result<Option<Vec<u8>>, BlobError>;
    fn put(&self, key: &str, content: Vec<u8>, content_type: &str) -> Result<(), BlobError>;
    fn put_download(&self, key: &str, content: Vec<u8>, file_name: Option<&str>) -> Result<(), BlobError>;
    fn copy(&self, from: &str, to: &str) -> Result<(), BlobError>;
    fn presign_get(&self, key: &str, ttl_secs: u64) -> Result<String, BlobError>;
});

faulty!(SecretBox {
    fn seal(&self, scope: baton_domain::secrets::SecretScope<'_>, secret: &baton_domain::secrets::Secret, now: Timestamp) -> Result<baton_domain::secrets::SealedSecret, baton_domain::secrets::SecretError>;
    fn open(&self, scope: baton_domain::secrets::SecretScope<'_>, sealed: &baton_domain::secrets::SealedSecret) -> Result<baton_domain::secrets::Secret, baton_domain::secrets::SecretError>;
});

// The shop: a fault is the shop failing (the customer is handed off with the reason), a
// crash is the invocation dying while the shop answers.
faulty!(Commerce {
    fn find_orders(&self, shop: &baton_domain::commerce::ShopAccess, query: &baton_domain::commerce::OrderQuery) -> Result<Vec<baton_domain::commerce::Order>, baton_domain::commerce::CommerceError>;
    fn check(&self, shop: &baton_domain::commerce::ShopAccess) -> Result<baton_domain::commerce::ShopInfo, baton_domain::commerce::CommerceError>;
});

/// Runs `case` with an error, then with a crash, at every call k until k is past the
/// last call a clean run makes (the case returns whether its fault was reached), and
/// checks that the step (`name`) made at least `at_least` calls, so a case whose faults
/// never fire cannot pass. Returns how many calls the step makes.
pub async fn every_call<F, Fut>(name: &str, at_least: u64, mut case: F) -> u64
where
    F: FnMut(u64, Fault) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut k = 1;
    let steps = loop {
        let mut reached = false;
        for fault in [Fault::Error, Fault::Crash] {
            reached |= case(k, fault).await;
        }
        if !reached {
            break k - 1;
        }
        k += 1;
        assert!(k < 100, "{name}: a step makes a bounded number of calls");
    };
    eprintln!("{name}: {steps} calls, each failed and crashed in turn");
    assert!(steps >= at_least, "{name} makes {steps} calls");
    steps
}

/// A stopped clock the test moves, shared by every function under test (a crashed
/// invocation's claim expires when it is moved past the claim's timeout).
#[derive(Clone)]
pub struct SharedClock(pub Arc<baton_domain::FixedClock>);

impl SharedClock {
    pub fn now_system() -> Self {
        SharedClock(Arc::new(baton_domain::FixedClock::new(baton_domain::Clock::now(
            &baton_domain::SystemClock,
        ))))
    }

    pub fn advance(&self, by: time::Duration) {
        self.0.advance(by)
    }
}

impl baton_domain::Clock for SharedClock {
    fn now(&self) -> Timestamp {
        self.0.now()
    }
}

/// Redelivers a batch the way SQS does after its visibility timeout, each time past a
/// dead invocation's claim: until a run reports no failed record, at most three times.
pub async fn redeliver<F, Fut>(faults: &Faults, clock: &SharedClock, run: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<aws_lambda_events::event::sqs::SqsBatchResponse, lambda_runtime::Error>>,
{
    for _ in 0..3 {
        clock.advance(time::Duration::minutes(2));
        if faults
            .run(run())
            .await
            .is_some_and(|r| r.unwrap().batch_item_failures.is_empty())
        {
            return;
        }
    }
}

/// A sender's end state after `fault` at call `k` and the redeliveries: sent exactly once;
/// or, after a crash only, never twice and marked "not confirmed" for the agent.
pub fn assert_sent_at_most_once(
    fault: Fault,
    k: u64,
    delivery: Option<baton_domain::conversation::DeliveryStatus>,
    sends: usize,
    unconfirmed: bool,
) {
    use baton_domain::conversation::DeliveryStatus;
    match (fault, delivery) {
        (_, Some(DeliveryStatus::Sent)) => {
            assert_eq!(sends, 1, "sent once (fault {fault:?} at call {k})");
            assert!(
                !unconfirmed,
                "sent, yet marked unconfirmed (fault {fault:?} at call {k})"
            );
        }
        (Fault::Crash, Some(DeliveryStatus::Failed)) => {
            assert!(sends <= 1, "never twice (crash at call {k})");
            assert!(unconfirmed, "the agent is told (crash at call {k})");
        }
        (f, d) => panic!("fault {f:?} at call {k} left the reply {d:?} after {sends} sends"),
    }
}
