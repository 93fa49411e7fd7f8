//! The agents' ticket queue: filters, sort orders, and how a listing is served from the
//! table's indexes without a Scan.
//!
//! Every listing reads one or more *streams*: index partitions of one tenant's tickets,
//! each already in the order the listing wants. Several streams (one per status) are
//! merged by their sort keys, which share one format, so the cursor is simply the last
//! sort key handed out: the next page reads every stream after it. Filters the index does
//! not cover are applied to what the streams return, within a read budget; a page may come
//! back short, with a cursor, when the budget runs out.

use crate::ports::{Page, TicketStore};
use crate::ticket::{Priority, SlaStatus, Status, Ticket};
use crate::{AgentId, Channel, CustomerId, StoreError, TeamId, TenantId, Timestamp};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// An index partition of one tenant's tickets, read in its sort-key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketStream {
    /// `ByStatus`: one status, most urgent first, then by next SLA deadline.
    Status(Status),
    /// `ByAssignee`: an agent's active tickets, most urgent first, then by deadline.
    AssigneeActive(AgentId),
    /// `Backlog`: a team's unassigned active tickets, most urgent first, oldest first.
    Backlog(TeamId),
    /// `ByActivity`: every ticket, most recent activity first.
    Activity,
    /// `ByDue`: the tenant's active tickets, nearest SLA deadline first.
    Due,
    /// `ByCustomer`: one customer's tickets, most recent activity first.
    Customer(CustomerId),
}

impl TicketStream {
    /// Streams read newest first (descending sort keys).
    pub fn descending(&self) -> bool {
        matches!(self, TicketStream::Activity | TicketStream::Customer(_))
    }
}

/// One read of a stream: tickets with their sort keys, in stream order.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamBatch {
    pub items: Vec<(String, Ticket)>,
    /// Whether the stream may have more after the last item.
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AssigneeFilter {
    #[default]
    Anyone,
    Unassigned,
    Agent(AgentId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TicketSort {
    /// Most urgent first, then the nearest SLA deadline.
    #[default]
    Priority,
    /// Most recent activity first.
    LastActivity,
    /// The nearest SLA deadline first (tickets without one last), then most urgent;
    /// active tickets only.
    NextBreach,
}

/// What an agent asked the queue for. Empty `statuses` means the active ones.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TicketFilter {
    pub statuses: Vec<Status>,
    pub priority: Option<Priority>,
    pub assignee: AssigneeFilter,
    pub team: Option<TeamId>,
    pub sla: Option<SlaStatus>,
    pub channel: Option<Channel>,
    pub tag: Option<String>,
    pub customer: Option<CustomerId>,
}

const ACTIVE: [Status; 3] = [Status::Open, Status::WaitingOnCustomer, Status::WaitingOnTeam];

impl TicketFilter {
    pub fn effective_statuses(&self) -> Vec<Status> {
        if self.statuses.is_empty() {
            ACTIVE.to_vec()
        } else {
            self.statuses.clone()
        }
    }

    pub fn matches(&self, t: &Ticket, now: Timestamp) -> bool {
        self.effective_statuses().contains(&t.status)
            && self.priority.is_none_or(|p| t.priority == p)
            && match &self.assignee {
                AssigneeFilter::Anyone => true,
                AssigneeFilter::Unassigned => t.assignee.is_none(),
                AssigneeFilter::Agent(a) => t.assignee.as_ref() == Some(a),
            }
            && self.team.as_ref().is_none_or(|team| t.team.as_ref() == Some(team))
            && self.sla.is_none_or(|s| t.sla.status(t.status, now) == s)
            && self.channel.is_none_or(|c| t.source.channel == c)
            && self.tag.as_ref().is_none_or(|tag| t.tags.iter().any(|x| x == tag))
            && self.customer.is_none_or(|c| t.customer_id == c)
    }
}

/// The streams that serve a listing: the narrowest index the filters allow.
pub fn plan(filter: &TicketFilter, sort: TicketSort) -> Vec<TicketStream> {
    // A customer has few tickets: theirs, newest activity first, whatever the sort.
    if let Some(c) = filter.customer {
        return vec![TicketStream::Customer(c)];
    }
    match sort {
        TicketSort::LastActivity => return vec![TicketStream::Activity],
        TicketSort::NextBreach => return vec![TicketStream::Due],
        TicketSort::Priority => {}
    }
    let statuses = filter.effective_statuses();
    let only_active = statuses.iter().all(|s| s.is_active());
    match (&filter.assignee, &filter.team) {
        (AssigneeFilter::Agent(a), _) if only_active => vec![TicketStream::AssigneeActive(a.clone())],
        (AssigneeFilter::Unassigned, Some(team)) if only_active => vec![TicketStream::Backlog(team.clone())],
        _ => statuses.into_iter().map(TicketStream::Status).collect(),
    }
}

/// Where the next page starts; opaque to clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cursor {
    sort: TicketSort,
    after: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("cursor is not one this listing handed out")]
    BadCursor,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Tickets read (matching or not) before a page is returned short.
pub const READ_BUDGET: usize = 1000;

/// One page of the queue.
pub async fn list(
    store: &dyn TicketStore,
    tenant: &TenantId,
    filter: &TicketFilter,
    sort: TicketSort,
    cursor: Option<&str>,
    limit: u32,
    now: Timestamp,
) -> Result<Page<Ticket>, ListError> {
    let after = match cursor {
        Some(c) => Some(decode_cursor(c, sort)?),
        None => None,
    };
    let streams = plan(filter, sort);
    let descending = streams.iter().any(TicketStream::descending);
    let batch = limit.clamp(10, 100);
    struct Reader {
        stream: TicketStream,
        buffer: VecDeque<(String, Ticket)>,
        last: Option<String>,
        more: bool,
    }
    let mut readers: Vec<Reader> = streams
        .into_iter()
        .map(|stream| Reader {
            stream,
            buffer: VecDeque::new(),
            last: after.clone(),
            more: true,
        })
        .collect();
    let mut items = Vec::new();
    let mut read = 0usize;
    loop {
        for r in readers.iter_mut().filter(|r| r.buffer.is_empty() && r.more) {
            let b = store.read_stream(tenant, &r.stream, r.last.as_deref(), batch).await?;
            r.more = b.more && !b.items.is_empty();
            if let Some((k, _)) = b.items.last() {
                r.last = Some(k.clone());
            }
            r.buffer.extend(b.items);
        }
        // The next ticket in the listing's order among the streams' heads.
        let next = readers
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.buffer.front().map(|(k, _)| (i, k)))
            .reduce(|best, cand| {
                let better = if descending { cand.1 > best.1 } else { cand.1 < best.1 };
                if better {
                    cand
                } else {
                    best
                }
            })
            .map(|(i, _)| i);
        let Some(i) = next else {
            return Ok(Page {
                items,
                next_cursor: None,
            });
        };
        let (key, ticket) = readers[i].buffer.pop_front().expect("head exists");
        read += 1;
        if filter.matches(&ticket, now) {
            items.push(ticket);
        }
        if items.len() >= limit as usize || read >= READ_BUDGET {
            let exhausted = readers.iter().all(|r| r.buffer.is_empty() && !r.more);
            return Ok(Page {
                items,
                next_cursor: (!exhausted).then(|| encode_cursor(sort, key)),
            });
        }
    }
}

fn encode_cursor(sort: TicketSort, after: String) -> String {
    let json = serde_json::to_vec(&Cursor { sort, after }).expect("cursor serialises");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor(cursor: &str, sort: TicketSort) -> Result<String, ListError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .map_err(|_| ListError::BadCursor)?;
    let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| ListError::BadCursor)?;
    // Sort keys hold no '#'-free tenant data to escape into: every stream is read inside
    // the caller's own partitions, whatever the cursor says. The sort must still match.
    if c.sort != sort || c.after.is_empty() || c.after.len() > 200 {
        return Err(ListError::BadCursor);
    }
    Ok(c.after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::DueTicket;
    use crate::ports::PageRequest;
    use crate::ticket::tests::sample_ticket;
    use crate::ticket::TimelineEntry;
    use crate::TicketNumber;
    use async_trait::async_trait;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// Streams served from sorted maps, counting reads, to test the merge on its own.
    struct Streams {
        by_status: BTreeMap<(String, String), Ticket>,
        reads: Mutex<usize>,
    }

    fn key(t: &Ticket) -> String {
        format!("{}#{:012}", t.priority.rank(), t.number.0)
    }

    #[async_trait]
    impl TicketStore for Streams {
        async fn read_stream(
            &self,
            _tenant: &TenantId,
            stream: &TicketStream,
            after: Option<&str>,
            limit: u32,
        ) -> Result<StreamBatch, StoreError> {
            *self.reads.lock().unwrap() += 1;
            let TicketStream::Status(s) = stream else {
                unreachable!()
            };
            let all: Vec<(String, Ticket)> = self
                .by_status
                .iter()
                .filter(|((st, k), _)| st == s.as_str() && after.is_none_or(|a| k.as_str() > a))
                .map(|((_, k), t)| (k.clone(), t.clone()))
                .collect();
            let more = all.len() > limit as usize;
            Ok(StreamBatch {
                items: all.into_iter().take(limit as usize).collect(),
                more,
            })
        }
        async fn next_ticket_number(&self, _: &TenantId) -> Result<TicketNumber, StoreError> {
            unreachable!()
        }
        async fn create_ticket(&self, _: &Ticket, _: &[TimelineEntry]) -> Result<(), StoreError> {
            unreachable!()
        }
        async fn get_ticket(&self, _: &TenantId, _: TicketNumber) -> Result<Ticket, StoreError> {
            unreachable!()
        }
        async fn get_survey(
            &self,
            _: &TenantId,
            _: &crate::outbound::SurveyRef,
        ) -> Result<crate::csat::Survey, StoreError> {
            unreachable!()
        }
        async fn list_surveys(
            &self,
            _: &TenantId,
            _: TicketNumber,
            _: &PageRequest,
        ) -> Result<crate::ports::Page<crate::csat::Survey>, StoreError> {
            unreachable!()
        }
        async fn update_ticket_and_capacity(
            &self,
            _: &Ticket,
            _: u64,
            _: &[TimelineEntry],
            _: &[(AgentId, i64)],
        ) -> Result<u64, StoreError> {
            unreachable!()
        }
        async fn list_timeline(
            &self,
            _: &TenantId,
            _: TicketNumber,
            _: &PageRequest,
        ) -> Result<Page<TimelineEntry>, StoreError> {
            unreachable!()
        }
        async fn get_timeline_entry(
            &self,
            _: &TenantId,
            _: TicketNumber,
            _: ulid::Ulid,
        ) -> Result<TimelineEntry, StoreError> {
            unreachable!()
        }
        async fn set_attachment_stored(
            &self,
            _: &TenantId,
            _: TicketNumber,
            _: ulid::Ulid,
            _: usize,
            _: &str,
            _: u64,
        ) -> Result<(), StoreError> {
            unreachable!()
        }
        async fn list_by_status(&self, _: &TenantId, _: Status, _: &PageRequest) -> Result<Page<Ticket>, StoreError> {
            unreachable!()
        }
        async fn list_by_assignee(
            &self,
            _: &TenantId,
            _: &AgentId,
            _: &PageRequest,
        ) -> Result<Page<Ticket>, StoreError> {
            unreachable!()
        }
        async fn list_team_backlog(
            &self,
            _: &TenantId,
            _: &TeamId,
            _: &PageRequest,
        ) -> Result<Page<Ticket>, StoreError> {
            unreachable!()
        }
        async fn list_due(&self, _: u8, _: Timestamp, _: &PageRequest) -> Result<Page<DueTicket>, StoreError> {
            unreachable!()
        }
    }

    fn fixture() -> (Streams, Timestamp) {
        let now = Timestamp::from_unix_millis(0).unwrap();
        let mut by_status = BTreeMap::new();
        for n in 1..=30u64 {
            let mut t = sample_ticket(now);
            t.number = TicketNumber(n);
            t.status = [Status::Open, Status::WaitingOnTeam, Status::Resolved][(n % 3) as usize];
            t.priority = Priority::ALL[(n % 4) as usize];
            if n % 5 == 0 {
                t.tags.push("billing".into());
            }
            by_status.insert((t.status.as_str().to_owned(), key(&t)), t);
        }
        (
            Streams {
                by_status,
                reads: Mutex::new(0),
            },
            now,
        )
    }

    async fn all_pages(s: &Streams, filter: &TicketFilter, limit: u32, now: Timestamp) -> Vec<Ticket> {
        let tenant = TenantId::new("demo").unwrap();
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = list(s, &tenant, filter, TicketSort::Priority, cursor.as_deref(), limit, now)
                .await
                .unwrap();
            assert!(page.items.len() <= limit as usize);
            out.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return out,
            }
        }
    }

    #[tokio::test]
    async fn merged_statuses_come_out_in_priority_order_across_pages() {
        let (s, now) = fixture();
        let got = all_pages(&s, &TicketFilter::default(), 4, now).await;
        // Open and waiting on team: 20 of the 30, each exactly once, urgent first.
        assert_eq!(got.len(), 20);
        let keys: Vec<String> = got.iter().map(key).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        sorted.dedup();
        assert_eq!(sorted.len(), 20);
        assert!(got.iter().all(|t| t.status.is_active()));
    }

    #[tokio::test]
    async fn filters_the_index_does_not_cover_still_page_correctly() {
        let (s, now) = fixture();
        let filter = TicketFilter {
            statuses: vec![Status::Open, Status::Resolved, Status::WaitingOnTeam],
            tag: Some("billing".into()),
            ..Default::default()
        };
        let got = all_pages(&s, &filter, 2, now).await;
        assert_eq!(got.len(), 6);
        assert!(got.iter().all(|t| t.tags == ["billing"]));
    }

    #[test]
    fn the_plan_uses_the_narrowest_index() {
        let agent = AgentId::new("ana").unwrap();
        let team = TeamId::new("support").unwrap();
        let mine = TicketFilter {
            assignee: AssigneeFilter::Agent(agent.clone()),
            ..Default::default()
        };
        assert_eq!(
            plan(&mine, TicketSort::Priority),
            vec![TicketStream::AssigneeActive(agent)]
        );
        let backlog = TicketFilter {
            assignee: AssigneeFilter::Unassigned,
            team: Some(team.clone()),
            ..Default::default()
        };
        assert_eq!(plan(&backlog, TicketSort::Priority), vec![TicketStream::Backlog(team)]);
        let closed = TicketFilter {
            statuses: vec![Status::Closed],
            ..Default::default()
        };
        assert_eq!(
            plan(&closed, TicketSort::Priority),
            vec![TicketStream::Status(Status::Closed)]
        );
        assert_eq!(plan(&closed, TicketSort::LastActivity), vec![TicketStream::Activity]);
        // One customer's tickets: their own index, whatever else is asked.
        let customer = crate::CustomerId::generate();
        let theirs = TicketFilter {
            customer: Some(customer),
            statuses: vec![Status::Open, Status::Closed],
            ..Default::default()
        };
        for sort in [TicketSort::Priority, TicketSort::LastActivity, TicketSort::NextBreach] {
            assert_eq!(plan(&theirs, sort), vec![TicketStream::Customer(customer)]);
        }
        assert!(TicketStream::Customer(customer).descending());
    }

    #[tokio::test]
    async fn a_cursor_from_another_sort_or_garbage_is_refused() {
        let (s, now) = fixture();
        let tenant = TenantId::new("demo").unwrap();
        let c = encode_cursor(TicketSort::LastActivity, "x".into());
        for bad in [c.as_str(), "garbage!"] {
            let r = list(
                &s,
                &tenant,
                &TicketFilter::default(),
                TicketSort::Priority,
                Some(bad),
                5,
                now,
            )
            .await;
            assert!(matches!(r, Err(ListError::BadCursor)));
        }
    }
}
