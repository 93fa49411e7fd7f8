//! The analytics consumer's work: one change's events (one queue message), archived to
//! the event store as newline JSON and counted once each into the tenant's daily
//! aggregates (`docs/analytics.md`).
//!
//! Crash-safe without coordination: the archive object is named by the change (a retry
//! overwrites it with the same bytes), and each event's count is one transaction with
//! its marker (a retry finds the marker and counts nothing).

use baton_domain::analytics::{increments, local_day, slices, Event};
use baton_domain::clusters::{self, Member, Placed, Placement, Question};
use baton_domain::error::RecordError;
use baton_domain::ports::{AnalyticsStore, BlobStore, TenantStore};
use baton_domain::StoreError;

pub struct Recorder<'a> {
    pub tenants: &'a dyn TenantStore,
    pub aggregates: &'a dyn AnalyticsStore,
    pub archive: &'a dyn BlobStore,
}

/// What one message did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub counted: usize,
    /// Events counted before (a redelivery).
    pub already: usize,
}

/// The archive's object for a change's events: `events/tenant=<t>/day=<d>/<change>.json`
/// (Hive-style partitions for Athena's projection).
pub fn archive_key(event: &Event, day: &str) -> String {
    let change = event.id.split('.').next().unwrap_or(&event.id);
    format!("events/tenant={}/day={day}/{change}.json", event.tenant_id)
}

pub async fn record(r: &Recorder<'_>, events: &[Event]) -> Result<Recorded, RecordError> {
    let Some(first) = events.first() else {
        return Ok(Recorded::default());
    };
    if events.iter().any(|e| e.tenant_id != first.tenant_id) {
        return Err(RecordError::Bad("one change's events name several tenants".into()));
    }
    let tenant = match r.tenants.get_tenant(&first.tenant_id).await {
        Err(StoreError::NotFound { .. }) => {
            return Err(RecordError::Bad(format!("unknown tenant {}", first.tenant_id)))
        }
        other => other?,
    };
    let day = local_day(first.at, &tenant.time_zone);
    let mut body = Vec::new();
    for e in events {
        body.extend(serde_json::to_vec(e).map_err(|e| RecordError::Bad(e.to_string()))?);
        body.push(b'\n');
    }
    r.archive
        .put(&archive_key(first, &day), body, "application/x-ndjson")
        .await
        .map_err(|e| RecordError::Transient(format!("archive: {e}")))?;
    let mut done = Recorded::default();
    // One change's events share its time, so its day (the archive's); a claw-back counts
    // on its answer's day.
    for e in events {
        let counts_on = match e.counts_at() {
            at if at == e.at => day.clone(),
            at => local_day(at, &tenant.time_zone),
        };
        let counted = match clusters::member(&e.fact) {
            Some(member) => count_clustered(r.aggregates, e, &member, &counts_on).await?,
            None => {
                r.aggregates
                    .count_event(e, &counts_on, &slices(e), &increments(e))
                    .await?
            }
        };
        if counted {
            done.counted += 1;
        } else {
            done.already += 1;
        }
    }
    Ok(done)
}

/// Counts a question or a ticket's topic and places it in its cluster
/// (`baton_domain::clusters`), placing it again when another consumer placed one in
/// between (the index's version moved). One whose vector cannot be read is counted, not
/// placed.
async fn count_clustered(
    store: &dyn AnalyticsStore,
    e: &Event,
    member: &Member<'_>,
    day: &str,
) -> Result<bool, StoreError> {
    const ATTEMPTS: usize = 3;
    let family = member.family;
    let (slices, increments) = (slices(e), increments(e));
    let plain = || store.count_event(e, day, &slices, &increments);
    let Some(vector) = clusters::decode(member.vector) else {
        tracing::warn!(event = %e.id, "an event's vector is unreadable; counted, not clustered");
        return plain().await;
    };
    let q = Question {
        model: member.model,
        vector: &vector,
        text: member.text,
        gap: member.gap,
        asked: member.asked,
        ticket: e.ticket,
        at: e.at,
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let index = store.cluster_index(&e.tenant_id, family).await?;
        let mut next = index.clone();
        let (cluster, cluster_read, counters) = match clusters::place(&index, &q) {
            Placement::Nowhere => return plain().await,
            Placement::Start => {
                let (cluster, counters) = clusters::start(&mut next, &e.tenant_id, family, &q);
                (cluster, 0, counters)
            }
            Placement::Join(i, _) => {
                let mut cluster = store.get_cluster(&e.tenant_id, family, &index.centroids[i].id).await?;
                let read = cluster.version;
                let counters = clusters::join(&mut next, i, &mut cluster, &q);
                (cluster, read, counters)
            }
        };
        let placed = Placed {
            counters,
            index_read: index.version,
            index: next,
            cluster,
            cluster_read,
        };
        match store.count_placed(e, day, &slices, &increments, &placed).await {
            Err(StoreError::Conflict { .. }) if attempt < ATTEMPTS => {
                tracing::info!(attempt, "another question was placed meanwhile; placing again");
            }
            other => return other,
        }
    }
}
