//! Every key in the table, built in one place. `docs/data-model.md` lists the access
//! pattern each one serves. Parts that come from users (external ids) only ever appear
//! last, so a `#` inside them cannot make two different keys equal.

use baton_domain::outbound::SurveyRef;
use baton_domain::ticket::{Status, Ticket};
use baton_domain::{
    AgentId, ArticleId, Channel, ConversationId, CustomerId, TeamId, TenantId, TicketNumber, Timestamp,
};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const ENTITY_TYPE: &str = "entity_type";

#[derive(Clone)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

fn key(pk: String, sk: impl Into<String>) -> Key {
    Key { pk, sk: sk.into() }
}

/// The longest outside id kept as it is in a key; longer ones (an e-mail Message-ID may
/// be up to 998 characters) are replaced by `~` and their SHA-256, so every key stays far
/// below DynamoDB's limits and the same id always gives the same key.
pub const MAX_ID_IN_KEY: usize = 200;

fn bounded(id: &str) -> std::borrow::Cow<'_, str> {
    if id.len() <= MAX_ID_IN_KEY {
        id.into()
    } else {
        format!("~{}", baton_domain::idempotency::payload_hash(id.as_bytes())).into()
    }
}

pub fn tenant_partition(t: &TenantId) -> String {
    format!("TENANT#{t}")
}

/// An analytics event's marker: counted once. Each in its own partition, so a busy
/// tenant's markers spread over the table.
pub fn analytics_event(t: &TenantId, id: &str) -> Key {
    key(format!("{}#EVENT#{}", tenant_partition(t), bounded(id)), "COUNTED")
}

/// A slice's daily aggregates (`slice`: `all`, `channel:email`, `team:x`, `agent:y`), one
/// item per tenant-local day.
pub fn analytics_partition(t: &TenantId, slice: &str) -> String {
    format!("{}#AGG#{}", tenant_partition(t), bounded(slice))
}

pub fn analytics_day(t: &TenantId, slice: &str, day: &str) -> Key {
    key(analytics_partition(t, slice), format!("DAY#{day}"))
}

/// A family of the tenant's clusters (`gaps`, `topics`): the index of their centroids and
/// one item per cluster.
fn clusters_partition(t: &TenantId, family: &str) -> String {
    format!("{}#CLUSTERS#{family}", tenant_partition(t))
}

pub fn cluster_index(t: &TenantId, family: &str) -> Key {
    key(clusters_partition(t, family), "INDEX")
}

pub fn cluster(t: &TenantId, family: &str, id: &str) -> Key {
    key(clusters_partition(t, family), format!("CLUSTER#{}", bounded(id)))
}

pub fn tenant(t: &TenantId) -> Key {
    key(tenant_partition(t), "CONFIG")
}

/// A channel's sealed access token, beside the tenant's configuration (not in it: the
/// configuration is read on most requests, the token only by senders).
pub fn channel_secret(t: &TenantId, channel: Channel) -> Key {
    key(tenant_partition(t), format!("SECRET#{channel}"))
}

/// The shop's sealed credential, beside the tenant's configuration.
pub fn shop_secret(t: &TenantId) -> Key {
    key(tenant_partition(t), "SECRET#shop")
}

/// An agent's notifications and digest state: one partition per agent.
pub fn notify_partition(t: &TenantId, agent: &AgentId) -> String {
    format!("TENANT#{t}#AGENT#{agent}#NOTIFY")
}

pub const PENDING_NOTIFICATION_PREFIX: &str = "PENDING#";

pub fn pending_notification(t: &TenantId, agent: &AgentId, id: &str) -> Key {
    key(
        notify_partition(t, agent),
        format!("{PENDING_NOTIFICATION_PREFIX}{}", bounded(id)),
    )
}

/// Remembers a notification once stored, so a redelivery after its digest is known.
pub fn seen_notification(t: &TenantId, agent: &AgentId, id: &str) -> Key {
    key(notify_partition(t, agent), format!("SEEN#{}", bounded(id)))
}

pub fn notify_state(t: &TenantId, agent: &AgentId) -> Key {
    key(notify_partition(t, agent), "STATE")
}

pub fn channel(channel: Channel, external_id: &str) -> Key {
    key(format!("CHANNEL#{channel}#{external_id}"), "CHANNEL")
}

pub fn customer(t: &TenantId, id: CustomerId) -> Key {
    key(format!("TENANT#{t}#CUSTOMER#{id}"), "PROFILE")
}

pub fn identity(t: &TenantId, channel: Channel, external_id: &str) -> Key {
    key(
        format!("TENANT#{t}#IDENTITY#{channel}#{}", bounded(external_id)),
        "IDENTITY",
    )
}

pub fn conversation_partition(t: &TenantId, id: ConversationId) -> String {
    format!("TENANT#{t}#CONV#{id}")
}

pub fn conversation(t: &TenantId, id: ConversationId) -> Key {
    key(conversation_partition(t, id), "META")
}

pub const MESSAGE_PREFIX: &str = "MSG#";

pub fn message(t: &TenantId, conv: ConversationId, id: ulid::Ulid) -> Key {
    key(conversation_partition(t, conv), format!("{MESSAGE_PREFIX}{id}"))
}

/// Uniqueness and lookup item for a channel's message id (dedupe, delivery receipts).
pub fn channel_message(t: &TenantId, channel_message_id: &str) -> Key {
    key(format!("TENANT#{t}#CHMSG#{}", bounded(channel_message_id)), "CHMSG")
}

/// Which outbound message an SES message id is (SES's reports name no tenant).
pub fn ses_message(ses_message_id: &str) -> Key {
    key(format!("SESMSG#{}", bounded(ses_message_id)), "SESMSG")
}

/// Which conversation an e-mail Message-ID belongs to (threading by In-Reply-To/References).
pub fn email_ref(t: &TenantId, message_id: &str) -> Key {
    key(format!("TENANT#{t}#EMAILREF#{}", bounded(message_id)), "EMAILREF")
}

pub fn ticket_partition(t: &TenantId, n: TicketNumber) -> String {
    format!("TENANT#{t}#TICKET#{n}")
}

pub fn ticket(t: &TenantId, n: TicketNumber) -> Key {
    key(ticket_partition(t, n), "META")
}

pub const TIMELINE_PREFIX: &str = "EVT#";

pub fn timeline(t: &TenantId, n: TicketNumber, id: ulid::Ulid) -> Key {
    key(ticket_partition(t, n), format!("{TIMELINE_PREFIX}{id}"))
}

pub const SURVEY_PREFIX: &str = "CSAT#";

/// A ticket's survey for one resolution cycle, beside its timeline; an AI resolution's
/// beside the conversation's messages (`CSAT#` sorts before `META` and `MSG#`).
pub fn survey(t: &TenantId, of: &SurveyRef) -> Key {
    match of {
        SurveyRef::Cycle { ticket, cycle } => key(ticket_partition(t, *ticket), format!("{SURVEY_PREFIX}{cycle:06}")),
        SurveyRef::Answer { conversation, answer } => key(
            conversation_partition(t, *conversation),
            format!("{SURVEY_PREFIX}{answer}"),
        ),
    }
}

pub const AGENT_PREFIX: &str = "AGENT#";
pub const TEAM_PREFIX: &str = "TEAM#";
pub const ARTICLE_PREFIX: &str = "KB#";

pub fn agent(t: &TenantId, a: &AgentId) -> Key {
    key(tenant_partition(t), format!("{AGENT_PREFIX}{a}"))
}

pub fn team(t: &TenantId, x: &TeamId) -> Key {
    key(tenant_partition(t), format!("{TEAM_PREFIX}{x}"))
}

/// A team's round-robin rotation (its own item, so a team edit never resets it).
pub fn rotation(t: &TenantId, x: &TeamId) -> Key {
    key(tenant_partition(t), format!("ROTATION#{x}"))
}

pub fn article(t: &TenantId, id: &ArticleId) -> Key {
    key(tenant_partition(t), format!("{ARTICLE_PREFIX}{id}"))
}

/// An article's passage vectors, beside it (`KBVEC#` does not begin with `KB#`, so listing
/// articles never reads them).
pub const ARTICLE_VECTORS_PREFIX: &str = "KBVEC#";

pub fn article_vectors(t: &TenantId, id: &ArticleId) -> Key {
    key(tenant_partition(t), format!("{ARTICLE_VECTORS_PREFIX}{id}"))
}

pub fn counter(t: &TenantId, name: &str) -> Key {
    key(tenant_partition(t), format!("COUNTER#{name}"))
}

/// An outbox effect (its id is derived from a business key; see `baton_domain::outbox`).
pub fn effect(id: &str) -> Key {
    key(format!("OUTBOX#{id}"), "EFFECT")
}

/// The pending-effects index: only effects not yet relayed carry these attributes.
pub const OUTBOX_PENDING: Index = Index {
    name: "OutboxPending",
    pk: "OutboxPendingPK",
    sk: "OutboxPendingSK",
};

pub fn outbox_pending_partition(shard: u8) -> String {
    format!("OUTBOX#{shard}")
}

pub fn outbox_pending_sort_key(created_at: Timestamp, id: &str) -> String {
    format!("{created_at}#{id}")
}

/// A consumer's parked records, oldest first.
pub fn parked_partition(consumer: &str) -> String {
    format!("PARKED#{consumer}")
}

pub fn parked(consumer: &str, parked_at: Timestamp, message_id: &str) -> Key {
    key(parked_partition(consumer), format!("{parked_at}#{message_id}"))
}

pub fn idempotency(scope: &str, k: &str) -> Key {
    key(format!("IDEMPOTENCY#{scope}#{}", bounded(k)), "IDEMPOTENCY")
}

// ------------------------------------------------------------------ ticket indexes

pub struct Index {
    pub name: &'static str,
    pub pk: &'static str,
    pub sk: &'static str,
}

pub const BY_STATUS: Index = Index {
    name: "ByStatus",
    pk: "ByStatusPK",
    sk: "ByStatusSK",
};
pub const BY_ASSIGNEE: Index = Index {
    name: "ByAssignee",
    pk: "ByAssigneePK",
    sk: "ByAssigneeSK",
};
pub const BACKLOG: Index = Index {
    name: "Backlog",
    pk: "BacklogPK",
    sk: "BacklogSK",
};
pub const SLA_DUE: Index = Index {
    name: "SlaDue",
    pk: "SlaDuePK",
    sk: "SlaDueSK",
};

/// Sparse: a tenant's active tickets by their next SLA deadline (the queue's
/// "next breach" sort).
pub const BY_DUE: Index = Index {
    name: "ByDue",
    pk: "ByDuePK",
    sk: "ByDueSK",
};

pub const BY_ACTIVITY: Index = Index {
    name: "ByActivity",
    pk: "ByActivityPK",
    sk: "ByActivitySK",
};

/// A customer's tickets, by last activity (the same sort key as `ByActivity`).
pub const BY_CUSTOMER: Index = Index {
    name: "ByCustomer",
    pk: "ByCustomerPK",
    sk: "ByCustomerSK",
};

/// Shards of the SLA-due index: spreads the write load of one hot "due soon" partition.
pub const SLA_SHARDS: u8 = baton_domain::sla::SLA_SHARDS;

/// Sorts after every timestamp: tickets with no deadline come last.
const NO_DUE: &str = "~";

fn number_part(n: TicketNumber) -> String {
    format!("{:012}", n.0)
}

pub fn status_partition(t: &TenantId, s: Status) -> String {
    format!("TENANT#{t}#STATUS#{s}")
}

pub fn assignee_partition(t: &TenantId, a: &AgentId) -> String {
    format!("TENANT#{t}#AGENT#{a}")
}

pub fn due_partition(t: &TenantId) -> String {
    format!("TENANT#{t}#DUE")
}

pub fn activity_partition(t: &TenantId) -> String {
    format!("TENANT#{t}#ACTIVITY")
}

pub fn customer_tickets_partition(t: &TenantId, c: CustomerId) -> String {
    format!("TENANT#{t}#CUSTOMER#{c}#TICKETS")
}

pub fn backlog_partition(t: &TenantId, team: &TeamId) -> String {
    format!("TENANT#{t}#TEAM#{team}")
}

pub fn sla_partition(shard: u8) -> String {
    format!("SLADUE#{shard}")
}

/// The active-ticket prefix of the assignee index's sort key.
pub const ASSIGNEE_ACTIVE: &str = "A#";

/// FNV-1a: stable across processes and releases (unlike `DefaultHasher`).
pub fn sla_shard(t: &TenantId, n: TicketNumber) -> u8 {
    let mut h: u32 = 0x811c_9dc5;
    for b in t.as_str().bytes().chain(n.0.to_be_bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    (h % u32::from(SLA_SHARDS)) as u8
}

/// The index attributes a ticket carries, derived from its state; `None` leaves the
/// ticket out of that (sparse) index.
pub fn ticket_index_keys(t: &Ticket) -> Vec<(&'static str, String)> {
    let due = t.sla.next_due(t.status);
    let due_part = due.map(|d| d.to_string()).unwrap_or_else(|| NO_DUE.to_owned());
    let rank = t.priority.rank();
    let num = number_part(t.number);
    let mut keys = vec![
        (BY_STATUS.pk, status_partition(&t.tenant_id, t.status)),
        (BY_STATUS.sk, format!("{rank}#{due_part}#{num}")),
        (BY_ACTIVITY.pk, activity_partition(&t.tenant_id)),
        (BY_ACTIVITY.sk, format!("{}#{num}", t.last_activity_at)),
        (BY_CUSTOMER.pk, customer_tickets_partition(&t.tenant_id, t.customer_id)),
        (BY_CUSTOMER.sk, format!("{}#{num}", t.last_activity_at)),
    ];
    if let Some(agent) = &t.assignee {
        keys.push((BY_ASSIGNEE.pk, assignee_partition(&t.tenant_id, agent)));
        let sk = if t.status.is_active() {
            format!("{ASSIGNEE_ACTIVE}{rank}#{due_part}#{num}")
        } else {
            format!("Z#{}#{num}", t.updated_at)
        };
        keys.push((BY_ASSIGNEE.sk, sk));
    }
    if t.status.is_active() {
        keys.push((BY_DUE.pk, due_partition(&t.tenant_id)));
        keys.push((BY_DUE.sk, format!("{due_part}#{rank}#{num}")));
    }
    if let (Some(team), None, true) = (&t.team, &t.assignee, t.status.is_active()) {
        keys.push((BACKLOG.pk, backlog_partition(&t.tenant_id, team)));
        keys.push((BACKLOG.sk, format!("{rank}#{due_part}#{}#{num}", t.created_at)));
    }
    // The sweep's index: the next warning or deadline it has not marked yet.
    if let Some(due) = t.sla.next_check(t.status) {
        keys.push((SLA_DUE.pk, sla_partition(sla_shard(&t.tenant_id, t.number))));
        keys.push((SLA_DUE.sk, sla_sort_key(due, &t.tenant_id, t.number)));
    }
    keys
}

pub fn sla_sort_key(due: Timestamp, t: &TenantId, n: TicketNumber) -> String {
    format!("{due}#{t}#{}", number_part(n))
}
