//! Ports: the small traits the domain and handlers depend on. Adapters in `baton-aws`
//! implement them with the AWS SDK; handlers receive them and never build clients.

use crate::conversation::{Conversation, DeliveryOutcome, DeliveryStatus, Message};
use crate::customer::{Customer, Identity};
use crate::directory::{Agent, Presence, Team};
use crate::idempotency::{ClaimOutcome, ClaimToken, IdempotencyPolicy};
use crate::kb::Article;
use crate::outbox::Effect;
use crate::tenant::{AiSettings, ChannelBinding, Tenant};
use crate::ticket::{Status, Ticket, TimelineEntry};
use crate::ticket_query::{StreamBatch, TicketStream};
use crate::{
    AgentId, ArticleId, Channel, ConversationId, CustomerId, StoreError, TeamId, TenantId, TicketNumber, Timestamp,
};
use async_trait::async_trait;

/// A page request: at most `limit` items after the opaque `cursor` of a previous page.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl PageRequest {
    pub const MAX_LIMIT: u32 = 100;
    pub const DEFAULT_LIMIT: u32 = 25;

    pub fn first(limit: u32) -> Self {
        PageRequest {
            limit: Some(limit),
            cursor: None,
        }
    }

    pub fn effective_limit(&self) -> u32 {
        self.limit.unwrap_or(Self::DEFAULT_LIMIT).clamp(1, Self::MAX_LIMIT)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as `PageRequest::cursor` for the next page; `None` at the end.
    pub next_cursor: Option<String>,
}

/// Every item of a paged listing: `list` is asked for page after page until the last.
pub async fn all_pages<T, F, Fut>(mut list: F) -> Result<Vec<T>, StoreError>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, StoreError>>,
{
    let mut items = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let p = list(page.clone()).await?;
        items.extend(p.items);
        match p.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return Ok(items),
        }
    }
}

#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates the tenant and claims its channel endpoints in one transaction: either all
    /// are claimed or none (an endpoint held by another tenant is `AlreadyExists`).
    async fn create_tenant(&self, tenant: &Tenant, bindings: &[ChannelBinding]) -> Result<(), StoreError>;
    async fn get_tenant(&self, id: &TenantId) -> Result<Tenant, StoreError>;
    async fn update_ai_settings(&self, id: &TenantId, ai: &AiSettings) -> Result<(), StoreError>;
    /// Replaces the tenant's routing rules and default team.
    async fn set_routing(&self, id: &TenantId, routing: &crate::routing::RoutingSettings) -> Result<(), StoreError>;
    /// Replaces the tenant's SLA policies and calendars.
    async fn set_sla(&self, id: &TenantId, sla: &crate::sla::SlaSettings) -> Result<(), StoreError>;
    /// Replaces the time zone reports count days in and how they count.
    async fn set_report_settings(
        &self,
        id: &TenantId,
        time_zone: &str,
        reports: &crate::tenant::ReportSettings,
    ) -> Result<(), StoreError>;
    /// The operator's per-tenant limits.
    async fn set_quotas(&self, id: &TenantId, quotas: &crate::tenant::Quotas) -> Result<(), StoreError>;
    async fn resolve_channel(&self, channel: Channel, external_id: &str) -> Result<Option<ChannelBinding>, StoreError>;
    /// Replaces how the tenant sends on WhatsApp and Instagram (template outside the
    /// window, Human Agent permission); the channels' endpoints are left as they are.
    async fn set_sending_settings(
        &self,
        id: &TenantId,
        whatsapp: &crate::tenant::WhatsAppSettings,
        instagram: &crate::tenant::InstagramSettings,
    ) -> Result<(), StoreError>;
    /// Records how a channel's connection is doing (disconnected by a token Meta refused,
    /// connected again by a send that worked).
    async fn set_channel_health(
        &self,
        id: &TenantId,
        channel: Channel,
        health: &crate::tenant::ChannelHealth,
    ) -> Result<(), StoreError>;
    /// Applies a change of the tenant's channel connections in one transaction: the
    /// `channels` (guarded by `channels_revision`: a concurrent change is `Conflict`), the
    /// endpoints claimed (one held by another tenant is `AlreadyExists`) and released, and
    /// the channel's sealed token.
    async fn change_channels(&self, change: &crate::connections::ChannelChange) -> Result<(), StoreError>;
    /// The channel's sealed access token, if the tenant stored one.
    async fn get_channel_secret(
        &self,
        id: &TenantId,
        channel: Channel,
    ) -> Result<Option<crate::secrets::SealedSecret>, StoreError>;
    /// Connects the tenant's shop (`Some`, with its sealed credential) or disconnects it
    /// (`None`: settings and credential removed), in one transaction.
    async fn change_shop(
        &self,
        id: &TenantId,
        shop: Option<(&crate::commerce::ShopSettings, &crate::secrets::SealedSecret)>,
    ) -> Result<(), StoreError>;
    /// The shop's sealed credential, if a shop is connected.
    async fn get_shop_secret(&self, id: &TenantId) -> Result<Option<crate::secrets::SealedSecret>, StoreError>;
}

#[async_trait]
pub trait CustomerStore: Send + Sync {
    /// Creates a customer and its first identity together; a concurrent creator of the
    /// same identity gets `AlreadyExists` and should read the winner's identity instead.
    async fn create_customer(&self, customer: &Customer, identity: &Identity) -> Result<(), StoreError>;
    async fn get_customer(&self, tenant: &TenantId, id: CustomerId) -> Result<Customer, StoreError>;
    async fn find_identity(
        &self,
        tenant: &TenantId,
        channel: Channel,
        external_id: &str,
    ) -> Result<Option<Identity>, StoreError>;
    async fn set_active_conversation(
        &self,
        tenant: &TenantId,
        channel: Channel,
        external_id: &str,
        conversation: Option<ConversationId>,
    ) -> Result<(), StoreError>;
    /// Marks one of the customer's addresses undeliverable (replacing an earlier mark of
    /// the same address).
    async fn mark_undeliverable(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        mark: &crate::customer::Undeliverable,
    ) -> Result<(), StoreError>;
    /// Makes `proposed` the identity's active conversation if its active conversation is
    /// still `replacing` (`None`: it has none yet); returns the active conversation either
    /// way (first writer wins).
    async fn claim_active_conversation(
        &self,
        tenant: &TenantId,
        channel: Channel,
        external_id: &str,
        replacing: Option<ConversationId>,
        proposed: ConversationId,
    ) -> Result<ConversationId, StoreError>;
}

#[async_trait]
pub trait ConversationStore: Send + Sync {
    async fn create_conversation(&self, conversation: &Conversation) -> Result<(), StoreError>;
    async fn get_conversation(&self, tenant: &TenantId, id: ConversationId) -> Result<Conversation, StoreError>;
    /// Replaces the conversation if its stored version is `expected_version`; stores
    /// `expected_version + 1`.
    async fn update_conversation(&self, conversation: &Conversation, expected_version: u64) -> Result<(), StoreError>;
    /// Stores a message once: a second message with the same channel message id in the
    /// same conversation is `AlreadyExists`.
    async fn append_message(&self, message: &Message) -> Result<(), StoreError>;
    /// Messages in order, oldest first.
    async fn list_messages(
        &self,
        tenant: &TenantId,
        id: ConversationId,
        page: &PageRequest,
    ) -> Result<Page<Message>, StoreError>;
    /// Messages after the message `after` (all when `None`), oldest first: the widget's
    /// polling view.
    async fn list_messages_after(
        &self,
        tenant: &TenantId,
        id: ConversationId,
        after: Option<ulid::Ulid>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError>;
    /// The newest `limit` messages after `after` (all when `None`), returned oldest first:
    /// the context a model sees, however long the conversation has grown.
    async fn latest_messages(
        &self,
        tenant: &TenantId,
        id: ConversationId,
        after: Option<ulid::Ulid>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError>;
    /// The stored message with this channel message id (the uniqueness item written by
    /// `append_message`): its conversation and id, so a retry that finds its message
    /// already stored carries on with the same id.
    async fn find_channel_message(
        &self,
        tenant: &TenantId,
        channel_message_id: &str,
    ) -> Result<Option<(ConversationId, ulid::Ulid)>, StoreError>;
    /// Records what a sender did with outbound message `message`: the id the channel gave
    /// it (kept with a lookup item, so the channel's delivery reports find it), its status
    /// and, when it failed, why in words an agent can act on. Like delivery reports, it
    /// never moves a message backwards (a late `sent` after `delivered` changes nothing),
    /// except to `failed`. `NotFound` when there is no such message.
    async fn record_delivery(
        &self,
        tenant: &TenantId,
        conversation: ConversationId,
        message: ulid::Ulid,
        outcome: &DeliveryOutcome,
    ) -> Result<(), StoreError>;
    /// Records a channel's delivery report on an outbound message found by its channel id.
    async fn set_delivery_status(
        &self,
        tenant: &TenantId,
        channel_message_id: &str,
        status: DeliveryStatus,
    ) -> Result<(), StoreError>;
}

/// A ticket that needs the SLA sweep's attention.
#[derive(Debug, Clone, PartialEq)]
pub struct DueTicket {
    pub tenant_id: TenantId,
    pub number: TicketNumber,
    pub due_at: Timestamp,
}

#[async_trait]
pub trait TicketStore: Send + Sync {
    /// The tenant's next ticket number, from an atomic counter: never handed out twice.
    async fn next_ticket_number(&self, tenant: &TenantId) -> Result<TicketNumber, StoreError>;
    /// Creates the ticket (and its first timeline entries) if the number is free.
    async fn create_ticket(&self, ticket: &Ticket, timeline: &[TimelineEntry]) -> Result<(), StoreError>;
    async fn get_ticket(&self, tenant: &TenantId, number: TicketNumber) -> Result<Ticket, StoreError>;
    /// Writes `ticket` with version `expected_version + 1` and the timeline entries, in one
    /// transaction, if the stored version is still `expected_version`; otherwise
    /// `Conflict` with the current version.
    async fn update_ticket(
        &self,
        ticket: &Ticket,
        expected_version: u64,
        timeline: &[TimelineEntry],
    ) -> Result<u64, StoreError> {
        self.update_ticket_and_capacity(ticket, expected_version, timeline, &[])
            .await
    }
    /// `update_ticket` that also moves agents' open-assignment counts in the same
    /// transaction (see `ticket::capacity_deltas`); an agent that does not exist fails the
    /// whole write with `NotFound { entity: "agent" }`.
    async fn update_ticket_and_capacity(
        &self,
        ticket: &Ticket,
        expected_version: u64,
        timeline: &[TimelineEntry],
        capacity: &[(AgentId, i64)],
    ) -> Result<u64, StoreError>;
    /// Up to `limit` tickets of one index stream after the sort key `after` (in the
    /// stream's direction), with their sort keys: the agents' queue (`ticket_query`).
    async fn read_stream(
        &self,
        tenant: &TenantId,
        stream: &TicketStream,
        after: Option<&str>,
        limit: u32,
    ) -> Result<StreamBatch, StoreError>;
    async fn list_timeline(
        &self,
        tenant: &TenantId,
        number: TicketNumber,
        page: &PageRequest,
    ) -> Result<Page<TimelineEntry>, StoreError>;
    /// Records where Baton keeps the bytes of attachment `index` of a message entry, once
    /// it has fetched them from the channel (`NotFound` when there is no such entry).
    async fn set_attachment_stored(
        &self,
        tenant: &TenantId,
        number: TicketNumber,
        id: ulid::Ulid,
        index: usize,
        key: &str,
        size: u64,
    ) -> Result<(), StoreError>;
    /// One entry of a ticket's timeline (`NotFound` when there is none).
    async fn get_timeline_entry(
        &self,
        tenant: &TenantId,
        number: TicketNumber,
        id: ulid::Ulid,
    ) -> Result<TimelineEntry, StoreError>;
    /// A tenant's tickets in one status, most urgent first, then by due time.
    async fn list_by_status(
        &self,
        tenant: &TenantId,
        status: Status,
        page: &PageRequest,
    ) -> Result<Page<Ticket>, StoreError>;
    /// An agent's active tickets, most urgent first.
    async fn list_by_assignee(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
        page: &PageRequest,
    ) -> Result<Page<Ticket>, StoreError>;
    /// A team's unassigned active tickets, most urgent first, oldest first within a priority.
    async fn list_team_backlog(
        &self,
        tenant: &TenantId,
        team: &TeamId,
        page: &PageRequest,
    ) -> Result<Page<Ticket>, StoreError>;
    /// Tickets whose next SLA deadline is at or before `due_by`, across tenants, for one
    /// shard of the sparse SLA index.
    async fn list_due(&self, shard: u8, due_by: Timestamp, page: &PageRequest) -> Result<Page<DueTicket>, StoreError>;
    /// A ticket cycle's or an AI answer's survey (`NotFound { "survey" }`).
    async fn get_survey(
        &self,
        tenant: &TenantId,
        of: &crate::outbound::SurveyRef,
    ) -> Result<crate::csat::Survey, StoreError>;
    /// A ticket's surveys, oldest cycle first.
    async fn list_surveys(
        &self,
        tenant: &TenantId,
        number: TicketNumber,
        page: &PageRequest,
    ) -> Result<Page<crate::csat::Survey>, StoreError>;
}

#[async_trait]
pub trait DirectoryStore: Send + Sync {
    async fn create_agent(&self, agent: &Agent) -> Result<(), StoreError>;
    async fn get_agent(&self, tenant: &TenantId, id: &AgentId) -> Result<Agent, StoreError>;
    async fn list_agents(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<Agent>, StoreError>;
    async fn create_team(&self, team: &Team) -> Result<(), StoreError>;
    async fn get_team(&self, tenant: &TenantId, id: &TeamId) -> Result<Team, StoreError>;
    async fn list_teams(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<Team>, StoreError>;
    /// Replaces an agent's profile (name, email, role, skills, max open, presence,
    /// active);
    /// the open-assignment count is left to its atomic counters.
    async fn update_agent(&self, agent: &Agent) -> Result<(), StoreError>;
    async fn set_presence(&self, tenant: &TenantId, id: &AgentId, presence: Presence) -> Result<(), StoreError>;
    /// Replaces a team if its stored version is still `team.version` (the one read),
    /// storing `team.version + 1`; else `Conflict` (or `NotFound`).
    async fn update_team(&self, team: &Team) -> Result<(), StoreError>;
    /// The agents of `ids` that exist, in no particular order.
    async fn get_agents(&self, tenant: &TenantId, ids: &[AgentId]) -> Result<Vec<Agent>, StoreError>;
    /// Where the team's round robin stands (the default when it never moved).
    async fn get_rotation(&self, tenant: &TenantId, team: &TeamId) -> Result<crate::routing::Rotation, StoreError>;
    /// Takes one unit of the agent's capacity if `open_count < max_open` (conditional ADD).
    async fn reserve_capacity(&self, tenant: &TenantId, id: &AgentId) -> Result<(), StoreError>;
    async fn release_capacity(&self, tenant: &TenantId, id: &AgentId) -> Result<(), StoreError>;
}

#[async_trait]
pub trait KnowledgeStore: Send + Sync {
    /// Creates or replaces an article, records `index` (the effect that embeds it,
    /// `Effect::index_article`) and bumps the tenant's KB revision, all at once.
    async fn put_article(&self, article: &Article, index: &crate::outbox::Effect) -> Result<(), StoreError>;
    async fn get_article(&self, tenant: &TenantId, id: &ArticleId) -> Result<Article, StoreError>;
    /// Deletes an article and its vectors and bumps the tenant's KB revision.
    async fn delete_article(&self, tenant: &TenantId, id: &ArticleId) -> Result<(), StoreError>;
    async fn list_articles(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<Article>, StoreError>;
    /// Stores an article's passage vectors if the article is still the version they were
    /// computed from (`NotFound { "kb_article" }`: deleted while being embedded;
    /// `Conflict { "kb_article" }`: changed since). Touches no tenant item, so concurrent
    /// indexers never contend; `vectors_stored` then tells warm caches.
    async fn put_vectors(&self, vectors: &crate::kb_vectors::ArticleVectors) -> Result<(), StoreError>;
    /// Moves the tenant's `kb_vectors_revision` (an atomic counter, no transaction).
    async fn vectors_stored(&self, tenant: &TenantId) -> Result<(), StoreError>;
    async fn get_vectors(
        &self,
        tenant: &TenantId,
        id: &ArticleId,
    ) -> Result<Option<crate::kb_vectors::ArticleVectors>, StoreError>;
    async fn list_vectors(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<crate::kb_vectors::ArticleVectors>, StoreError>;
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `(scope, key)`; a claim that succeeds carries a fresh owner token, which
    /// `complete` and `release` must present.
    async fn claim(
        &self,
        scope: &str,
        key: &str,
        payload_hash: &str,
        now: Timestamp,
        policy: IdempotencyPolicy,
    ) -> Result<ClaimOutcome, StoreError>;
    /// Marks our claim completed. A claim that is no longer ours (it expired and another
    /// worker took it) is `Conflict`: the other worker's claim is left alone.
    async fn complete(
        &self,
        scope: &str,
        key: &str,
        token: &ClaimToken,
        response: Option<serde_json::Value>,
        now: Timestamp,
        policy: IdempotencyPolicy,
    ) -> Result<(), StoreError>;
    /// Gives our claim up after a failure so a retry can take it; a claim that is no
    /// longer ours, or already completed, is left as it is.
    async fn release(&self, scope: &str, key: &str, token: &ClaimToken) -> Result<(), StoreError>;
}

/// Several writes that succeed or fail together (one DynamoDB transaction: at most 100
/// writes, each on a different item).
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Creates a ticket; its number must be free (`AlreadyExists { "ticket" }`).
    CreateTicket(Ticket),
    /// Replaces a ticket at `expected_version` with version + 1 (`Conflict { "ticket" }`
    /// with the current version).
    UpdateTicket { ticket: Ticket, expected_version: u64 },
    /// Adds a timeline entry under its id (`AlreadyExists { "timeline_entry" }`).
    AddTimeline(TimelineEntry),
    /// Adds a message without a channel message id under its id
    /// (`AlreadyExists { "message" }`).
    AppendMessage(Message),
    /// Replaces a conversation at `expected_version` (`Conflict { "conversation" }`).
    UpdateConversation {
        conversation: Conversation,
        expected_version: u64,
    },
    /// Hands an existing conversation to humans for `ticket`, whatever its version (and
    /// moves the version on, so concurrent versioned writers notice);
    /// `NotFound { "conversation" }` when there is none.
    ClaimForHumans {
        tenant: TenantId,
        conversation: ConversationId,
        ticket: TicketNumber,
    },
    /// Gives a conversation back to the AI, which reads it only from `context_start` on
    /// (moves the version on), if it still names `ticket` (`Conflict { "conversation" }`
    /// otherwise: it moved on to another ticket meanwhile).
    ReturnToAi {
        tenant: TenantId,
        conversation: ConversationId,
        ticket: TicketNumber,
        context_start: ulid::Ulid,
    },
    /// Moves an agent's open-assignment count (`NotFound { "agent" }`), checked as
    /// `check` says for a positive move (`Conflict { "agent_capacity" }` when it fails);
    /// `assigned_at` also records when the agent was given the ticket.
    MoveCapacity {
        tenant: TenantId,
        agent: AgentId,
        delta: i64,
        check: CapacityCheck,
        assigned_at: Option<Timestamp>,
    },
    /// Moves a team's round robin on to `last`, if nobody moved it since it was read at
    /// `expected_seq` (`Conflict { "team_rotation" }` otherwise).
    AdvanceRotation {
        tenant: TenantId,
        team: TeamId,
        expected_seq: u64,
        last: AgentId,
    },
    /// Records an effect to relay (`AlreadyExists { "effect" }`: it was recorded before).
    RecordEffect(Effect),
    /// Records a ticket cycle's survey (`AlreadyExists { "survey" }`: offered before).
    OfferSurvey(crate::csat::Survey),
    /// Replaces a survey at `expected_version` (`Conflict { "survey" }`).
    UpdateSurvey {
        survey: crate::csat::Survey,
        expected_version: u64,
    },
}

/// What a positive capacity move must find on the agent, in the same transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapacityCheck {
    /// Nothing (an admin's override; a customer's reply giving the assignee their ticket
    /// back).
    None,
    /// Below `max_open`.
    Limit,
    /// Below `max_open`, online and active: the router's and a take-back's assignment.
    Available,
}

#[async_trait]
pub trait UnitOfWork: Send + Sync {
    /// Applies every write or none. When a condition fails, the error is the one the
    /// first failing write names (see `Write`), so a step puts the write that tells
    /// "done before" first. Contention with another transaction is a retryable
    /// `Backend { kind: Contended }`.
    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError>;
}

/// The outbox's own reads and writes (effects are recorded through `UnitOfWork`).
#[async_trait]
pub trait OutboxStore: Send + Sync {
    async fn get_effect(&self, id: &str) -> Result<Option<Effect>, StoreError>;
    /// Takes the effect out of the pending index; it is kept a while for inspection.
    async fn mark_relayed(&self, id: &str, at: Timestamp) -> Result<(), StoreError>;
    /// Up to `limit` pending effects of one shard created at or before `created_by`,
    /// oldest first (a sparse index: relayed effects are not in it).
    async fn list_pending(&self, shard: u8, created_by: Timestamp, limit: u32) -> Result<Vec<Effect>, StoreError>;
}

/// The analytics aggregates: each event counted once into its day's slices.
#[async_trait]
pub trait AnalyticsStore: Send + Sync {
    /// Counts `event` into `day`'s aggregate of each of `slices`, with a marker of its id,
    /// all or none; `false` (nothing written) when the event was counted before.
    async fn count_event(
        &self,
        event: &crate::analytics::Event,
        day: &str,
        slices: &[String],
        increments: &crate::analytics::Increments,
    ) -> Result<bool, StoreError>;
    /// [`AnalyticsStore::count_event`] for a question or ticket placed in a cluster: also
    /// writes the tenant's new index of the cluster's family (if its stored version is still
    /// `placed.index_read`; 0: none yet), the cluster (if its stored version is still
    /// `placed.cluster_read`; 0: new) and the cluster's day counters, all or none. Another
    /// placement in between is `Conflict`: read again and place again.
    async fn count_placed(
        &self,
        event: &crate::analytics::Event,
        day: &str,
        slices: &[String],
        increments: &crate::analytics::Increments,
        placed: &crate::clusters::Placed,
    ) -> Result<bool, StoreError>;
    /// The tenant's index of `family`'s clusters (empty, version 0, before the first).
    async fn cluster_index(
        &self,
        tenant: &TenantId,
        family: crate::clusters::Family,
    ) -> Result<crate::clusters::ClusterIndex, StoreError>;
    async fn get_cluster(
        &self,
        tenant: &TenantId,
        family: crate::clusters::Family,
        id: &str,
    ) -> Result<crate::clusters::Cluster, StoreError>;
    /// Replaces the cluster if its stored version is `expected` (else `Conflict`).
    async fn put_cluster(&self, cluster: &crate::clusters::Cluster, expected: u64) -> Result<(), StoreError>;
    /// One slice's aggregates for the days `from..=to` (`YYYY-MM-DD`), oldest first; days
    /// with no event are absent.
    async fn daily(
        &self,
        tenant: &TenantId,
        slice: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<crate::analytics::DailyAggregate>, StoreError>;
}

/// A queued record that can never succeed, acknowledged and kept for an operator.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ParkedRecord {
    /// The consumer that parked it (`triage`, …).
    pub consumer: String,
    /// The queue's message id.
    pub message_id: String,
    pub body: String,
    pub group_id: Option<String>,
    pub reason: String,
    pub receive_count: u32,
    pub parked_at: Timestamp,
}

/// Agents' pending notifications and the state of their digests.
#[async_trait]
pub trait NotifyStore: Send + Sync {
    /// Keeps a notification for its agent; the same notification again is `AlreadyExists`.
    async fn put_pending_notification(
        &self,
        notification: &crate::notify::AgentNotification,
        stored_at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Up to `limit` of the agent's pending notifications, oldest stored first.
    async fn list_pending_notifications(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
        limit: u32,
    ) -> Result<Vec<crate::notify::PendingNotification>, StoreError>;
    async fn delete_pending_notifications(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
        items: &[crate::notify::PendingNotification],
    ) -> Result<(), StoreError>;
    /// The agent's digest state (the default when there is none yet).
    async fn get_notify_state(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
    ) -> Result<crate::notify::NotifyState, StoreError>;
    /// Writes the state over the version read (`0`: none yet); another writer first is
    /// `Conflict`.
    async fn set_notify_state(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
        state: &crate::notify::NotifyState,
        expected_version: u64,
    ) -> Result<(), StoreError>;
}

#[async_trait]
pub trait ParkingStore: Send + Sync {
    /// Keeps the record (a second park of the same message keeps the first).
    async fn park(&self, record: &ParkedRecord) -> Result<(), StoreError>;
    /// A consumer's parked records, oldest first.
    async fn list_parked(&self, consumer: &str, page: &PageRequest) -> Result<Page<ParkedRecord>, StoreError>;
    /// Forgets a parked record (after a replay).
    async fn remove_parked(&self, consumer: &str, message_id: &str, parked_at: Timestamp) -> Result<(), StoreError>;
}

/// Every store port at once: what one DynamoDB table serves. Handlers hold an
/// `Arc<dyn Store>`, so a test can put a decorator (fault injection, call counting)
/// between them and the real adapter.
pub trait Store:
    TenantStore
    + CustomerStore
    + ConversationStore
    + TicketStore
    + DirectoryStore
    + KnowledgeStore
    + IdempotencyStore
    + EmailRefStore
    + RateLimiter
    + UnitOfWork
    + OutboxStore
    + ParkingStore
    + NotifyStore
{
}

impl<T> Store for T where
    T: TenantStore
        + CustomerStore
        + ConversationStore
        + TicketStore
        + DirectoryStore
        + KnowledgeStore
        + IdempotencyStore
        + EmailRefStore
        + RateLimiter
        + UnitOfWork
        + OutboxStore
        + ParkingStore
        + NotifyStore
{
}

/// E-mail threading: which conversation a Message-ID belongs to, per tenant.
#[async_trait]
pub trait EmailRefStore: Send + Sync {
    async fn record_email_ref(
        &self,
        tenant: &TenantId,
        message_id: &str,
        conversation: ConversationId,
    ) -> Result<(), StoreError>;
    /// The conversation of the first of `message_ids` that is known.
    async fn find_email_ref(
        &self,
        tenant: &TenantId,
        message_ids: &[String],
    ) -> Result<Option<ConversationId>, StoreError>;
    /// Remembers which message an SES message id is, across tenants: SES's bounce and
    /// complaint reports name only that id.
    async fn record_ses_message(&self, ses_message_id: &str, sent: &SentEmail) -> Result<(), StoreError>;
    async fn find_ses_message(&self, ses_message_id: &str) -> Result<Option<SentEmail>, StoreError>;
}

/// The outbound message an SES message id belongs to.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SentEmail {
    pub tenant: TenantId,
    pub conversation: ConversationId,
    pub message: ulid::Ulid,
}

/// Object storage for raw mail and attachments (S3).
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// `Ok(None)` when there is no such object; `TooLarge` past `max_bytes`.
    async fn get(&self, key: &str, max_bytes: usize) -> Result<Option<Vec<u8>>, BlobError>;
    async fn put(&self, key: &str, content: Vec<u8>, content_type: &str) -> Result<(), BlobError>;
    /// Stores bytes that are only ever handed out as a download: `application/octet-stream`
    /// with `Content-Disposition: attachment`, so a browser never renders them.
    async fn put_download(&self, key: &str, content: Vec<u8>, file_name: Option<&str>) -> Result<(), BlobError>;
    async fn copy(&self, from: &str, to: &str) -> Result<(), BlobError>;
    /// A short-lived link that reads `key` (a presigned GET), valid for `ttl_secs`.
    async fn presign_get(&self, key: &str, ttl_secs: u64) -> Result<String, BlobError>;
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("object is larger than {0} bytes")]
    TooLarge(usize),
    #[error("object storage failed ({kind:?})")]
    Backend {
        kind: crate::error::BackendErrorKind,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A channel's media, fetched by the id or link its webhook gave (the Graph API for
/// WhatsApp and Instagram).
#[async_trait]
pub trait MediaSource: Send + Sync {
    /// The bytes and their content type; at most `max_bytes`.
    async fn fetch(
        &self,
        tenant: &TenantId,
        channel: Channel,
        reference: &str,
        max_bytes: usize,
    ) -> Result<Media, MediaError>;
}

#[derive(Debug, Clone, PartialEq)]
pub struct Media {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The channel no longer has it (WhatsApp keeps media for 30 days) or never had it.
    #[error("the channel has no such media (any more)")]
    Gone,
    #[error("the media is larger than {0} bytes")]
    TooLarge(usize),
    /// The reference is not something this source may fetch (a link to another host).
    #[error("not a media reference this source fetches: {0}")]
    Refused(String),
    #[error("the channel's API failed ({kind:?}): {message}")]
    Backend {
        kind: crate::error::BackendErrorKind,
        message: String,
    },
}

/// Fixed-window rate limits.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one hit for `key` in the window of `window_secs` that contains `now`;
    /// `false` when the window already had `limit` hits (the hit is not counted).
    async fn hit(&self, key: &str, now: Timestamp, window_secs: i64, limit: u32) -> Result<bool, StoreError>;
}

/// A message to put on a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueMessage {
    pub body: String,
    /// FIFO queues: the ordering group (a conversation id).
    pub group_id: Option<String>,
    /// FIFO queues: the deduplication id (a channel message id).
    pub dedup_id: Option<String>,
    /// Standard queues: delivered only after this many seconds (at most 900).
    pub delay_seconds: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("message is invalid for this queue: {0}")]
    Invalid(&'static str),
    #[error("queue send failed ({kind:?})")]
    Backend {
        kind: crate::error::BackendErrorKind,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, message: QueueMessage) -> Result<(), QueueError>;
}

/// Outbound mail (SES in AWS). The raw message is a complete RFC 5322 document.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends it; returns the provider's message id (SES's, from which the Message-ID the
    /// recipient sees is made: `mail_out::ses_message_id`).
    async fn send_raw(&self, raw: &[u8]) -> Result<String, MailError>;
}

/// Why a send failed, by what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The provider refused this message for good (an address it will not send to, a
    /// suppressed recipient): never retried; the reason is shown to the agent.
    #[error("mail rejected: {0}")]
    Rejected(String),
    /// Over the sending rate: retried later.
    #[error("mail provider throttled the send: {0}")]
    Throttled(String),
    /// The provider could not be reached or failed: retried later.
    #[error("mail provider unavailable: {0}")]
    Unavailable(String),
    /// Baton's own setup is wrong (sender identity not verified, configuration set
    /// missing, sending paused on the account): retried until an operator fixes it, and
    /// alarmed through the dead-letter queue.
    #[error("mail setup refused the send: {0}")]
    Misconfigured(String),
}

impl MailError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, MailError::Rejected(_))
    }
}

/// Meta's send APIs (the Graph API): WhatsApp Cloud API and Instagram Messaging.
#[async_trait]
pub trait MessagingApi: Send + Sync {
    /// Posts one message `body` for `account` (the WhatsApp phone number id; Instagram
    /// sends as the token's own account) and returns the channel's id for it (`wamid`,
    /// Instagram `mid`).
    async fn send(
        &self,
        channel: Channel,
        account: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> Result<String, SendError>;
}

/// Meta's refusal of one send, classified (`meta_send::classify_meta_error`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{channel} send failed ({failure:?}, code {code:?}): {message}")]
pub struct SendError {
    pub channel: Channel,
    pub failure: crate::meta_send::MetaFailure,
    pub code: Option<i64>,
    pub message: String,
}

/// Seals and opens channel secrets (envelope encryption under KMS in AWS), bound to the
/// tenant and channel they belong to.
#[async_trait]
pub trait SecretBox: Send + Sync {
    async fn seal(
        &self,
        scope: crate::secrets::SecretScope<'_>,
        secret: &crate::secrets::Secret,
        now: Timestamp,
    ) -> Result<crate::secrets::SealedSecret, crate::secrets::SecretError>;
    async fn open(
        &self,
        scope: crate::secrets::SecretScope<'_>,
        sealed: &crate::secrets::SealedSecret,
    ) -> Result<crate::secrets::Secret, crate::secrets::SecretError>;
}

/// A channel's access token for a tenant: the one the tenant connected (sealed in the
/// table), else the deployment's own.
#[async_trait]
pub trait ChannelTokens: Send + Sync {
    /// `None` when the channel has no token: nothing can be sent on it.
    async fn token(&self, tenant: &TenantId, channel: Channel) -> Result<Option<String>, StoreError>;
}

/// The language model (Bedrock in AWS): one structured turn.
#[async_trait]
pub trait Model: Send + Sync {
    async fn complete(&self, request: &ModelRequest) -> Result<ModelReply, ModelError>;
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelRequest {
    pub system: String,
    pub messages: Vec<(ModelRole, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelRole {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelReply {
    pub structured: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model call timed out")]
    Timeout,
    #[error("model call failed")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("model reply was not in the required shape: {0}")]
    Malformed(String),
}
