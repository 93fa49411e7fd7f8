//! Connecting and disconnecting a tenant's channels: the token is sealed first (KMS),
//! then the whole change is one transaction (`TenantStore::change_channels`). A new
//! token on WhatsApp or Instagram also brings back the replies that waited while the
//! channel was disconnected: the channel sender parked them, and they are put back on
//! the outbound queue (sending stays once-only: each keeps its claim).

use crate::parking::{self, ReplayError};
use baton_domain::connections::{self, ChannelChange, Connection, SecretChange};
use baton_domain::outbound::OutboundMessage;
use baton_domain::ports::{ParkedRecord, Queue, SecretBox, Store};
use baton_domain::secrets::{Secret, SecretScope};
use baton_domain::tenant::Tenant;
use baton_domain::{Channel, Clock, StoreError};

pub struct ConnectionPorts<'a> {
    pub store: &'a dyn Store,
    pub secrets: &'a dyn SecretBox,
    pub clock: &'a dyn Clock,
    /// The outbound queue, where parked replies of a reconnected channel go back to.
    pub outbound: Option<&'a dyn Queue>,
}

#[derive(Debug)]
pub struct Changed {
    /// The tenant as it is now.
    pub tenant: Tenant,
    /// Parked replies put back on the queue (`None`: the replay failed and can be tried
    /// again by connecting once more, or by the operator's replay).
    pub replayed: Option<usize>,
}

/// Connects or reconfigures one channel; `token` replaces the stored access token.
pub async fn connect(
    ports: &ConnectionPorts<'_>,
    tenant: &Tenant,
    connection: Connection,
    token: Option<Secret>,
) -> Result<Changed, StoreError> {
    let channel = connection.channel();
    let sealed = match token {
        Some(t) => Some(
            ports
                .secrets
                .seal(SecretScope::channel(&tenant.id, channel), &t, ports.clock.now())
                .await?,
        ),
        None => None,
    };
    apply(ports, tenant, connections::connect(tenant, connection, sealed)).await
}

/// Disconnects one channel: endpoints released, settings and token removed.
pub async fn disconnect(ports: &ConnectionPorts<'_>, tenant: &Tenant, channel: Channel) -> Result<Changed, StoreError> {
    apply(ports, tenant, connections::disconnect(tenant, channel)).await
}

async fn apply(ports: &ConnectionPorts<'_>, tenant: &Tenant, change: ChannelChange) -> Result<Changed, StoreError> {
    ports.store.change_channels(&change).await?;
    let after = change.applied_to(tenant);
    tracing::info!(
        tenant = %tenant.id,
        bound = change.bind.len(),
        released = change.unbind.len(),
        token = change.secret.as_ref().map(|(c, s)| format!("{c}: {}", if matches!(s, SecretChange::Set(_)) { "stored" } else { "removed" })),
        "channel connections changed"
    );
    let replayed = match (&change.secret, ports.outbound) {
        (Some((channel, SecretChange::Set(_))), Some(queue)) => {
            match replay_waiting(ports.store, queue, tenant, *channel).await {
                Ok(n) => Some(n),
                Err(e) => {
                    tracing::warn!(tenant = %tenant.id, error = %e, "parked replies could not be replayed");
                    None
                }
            }
        }
        _ => Some(0),
    };
    Ok(Changed {
        tenant: after,
        replayed,
    })
}

/// Puts the tenant's replies on `channel` that the channel sender parked back on the
/// outbound queue.
async fn replay_waiting(
    store: &dyn Store,
    queue: &dyn Queue,
    tenant: &Tenant,
    channel: Channel,
) -> Result<usize, ReplayError> {
    let wanted = |r: &ParkedRecord| {
        serde_json::from_str::<OutboundMessage>(&r.body).is_ok_and(|m| m.tenant_id == tenant.id && m.channel == channel)
    };
    parking::replay_where(store, queue, crate::channel_out::CONSUMER, &wanted).await
}
