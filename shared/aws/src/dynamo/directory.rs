use super::{
    attr, backend, from_item, is_conditional_failure, keys, n, s, to_item, DynamoStore, Item, QuerySpec, SortCondition,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use baton_domain::directory::{Agent, Presence, Team};
use baton_domain::ports::{DirectoryStore, Page, PageRequest};
use baton_domain::routing::Rotation;
use baton_domain::{AgentId, StoreError, TeamId, TenantId};

const AGENT: &str = "agent";
const TEAM: &str = "team";

impl DynamoStore {
    async fn adjust_capacity(
        &self,
        tenant: &TenantId,
        id: &AgentId,
        delta: i32,
        condition: &str,
    ) -> Result<(), StoreError> {
        let key = keys::agent(tenant, id);
        let mut req = self.client.update_item();
        if condition.contains(":zero_floor") {
            req = req.expression_attribute_values(":zero_floor", n(0));
        }
        let res = req
            .table_name(&self.table)
            .key(keys::PK, s(key.pk))
            .key(keys::SK, s(key.sk))
            .update_expression("ADD open_count :d")
            .condition_expression(condition)
            .expression_attribute_values(":d", n(delta))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(self.refused(AGENT, keys::agent(tenant, id)).await),
            Err(e) => Err(backend("adjust agent capacity", e)),
        }
    }
}

#[async_trait]
impl DirectoryStore for DynamoStore {
    async fn create_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        self.put_new(AGENT, to_item(AGENT, keys::agent(&agent.tenant_id, &agent.id), agent)?)
            .await
    }

    async fn get_agent(&self, tenant: &TenantId, id: &AgentId) -> Result<Agent, StoreError> {
        self.get_as(AGENT, keys::agent(tenant, id)).await
    }

    async fn list_agents(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<Agent>, StoreError> {
        let q = QuerySpec {
            operation: "list agents",
            index: None,
            partition: keys::tenant_partition(tenant),
            sort: SortCondition::BeginsWith(keys::AGENT_PREFIX.into()),
        };
        self.query_as(AGENT, q, page).await
    }

    async fn create_team(&self, team: &Team) -> Result<(), StoreError> {
        self.put_new(TEAM, to_item(TEAM, keys::team(&team.tenant_id, &team.id), team)?)
            .await
    }

    async fn get_team(&self, tenant: &TenantId, id: &TeamId) -> Result<Team, StoreError> {
        self.get_as(TEAM, keys::team(tenant, id)).await
    }

    async fn list_teams(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<Team>, StoreError> {
        let q = QuerySpec {
            operation: "list teams",
            index: None,
            partition: keys::tenant_partition(tenant),
            sort: SortCondition::BeginsWith(keys::TEAM_PREFIX.into()),
        };
        self.query_as(TEAM, q, page).await
    }

    async fn update_agent(&self, agent: &Agent) -> Result<(), StoreError> {
        let values = vec![
            ("name", attr(&agent.name)?),
            ("email", attr(&agent.email)?),
            ("role", attr(&agent.role)?),
            ("skills", attr(&agent.skills)?),
            ("max_open", attr(&agent.max_open)?),
            ("presence", attr(&agent.presence)?),
            ("active", attr(&agent.active)?),
            ("notifications", attr(&agent.notifications)?),
        ];
        self.set_on_existing(AGENT, keys::agent(&agent.tenant_id, &agent.id), values)
            .await
    }

    async fn set_presence(&self, tenant: &TenantId, id: &AgentId, presence: Presence) -> Result<(), StoreError> {
        self.set_on_existing(AGENT, keys::agent(tenant, id), vec![("presence", attr(&presence)?)])
            .await
    }

    async fn update_team(&self, team: &Team) -> Result<(), StoreError> {
        let expected = team.version;
        let next = Team {
            version: expected + 1,
            ..team.clone()
        };
        let item = to_item(TEAM, keys::team(&team.tenant_id, &team.id), &next)?;
        // A team stored before teams had versions has none: version 0 is its own.
        let condition = if expected == 0 {
            "attribute_exists(PK) AND (attribute_not_exists(version) OR version = :expected)"
        } else {
            "attribute_exists(PK) AND version = :expected"
        };
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .expression_attribute_values(":expected", n(expected))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => {
                Err(self.refused(TEAM, keys::team(&team.tenant_id, &team.id)).await)
            }
            Err(e) => Err(backend("update team", e)),
        }
    }

    async fn get_agents(&self, tenant: &TenantId, ids: &[AgentId]) -> Result<Vec<Agent>, StoreError> {
        let mut agents = Vec::with_capacity(ids.len());
        let mut unique: Vec<&AgentId> = ids.iter().collect();
        unique.sort();
        unique.dedup();
        // BatchGetItem takes at most 100 keys; what it leaves unprocessed (throttling)
        // is asked again, a few times, before the read counts as throttled.
        for chunk in unique.chunks(100) {
            let mut keys: Vec<Item> = chunk
                .iter()
                .map(|id| {
                    let k = keys::agent(tenant, id);
                    Item::from([(keys::PK.to_owned(), s(k.pk)), (keys::SK.to_owned(), s(k.sk))])
                })
                .collect();
            for attempt in 0..5u32 {
                if keys.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut keys)))
                    .consistent_read(true)
                    .build()
                    .map_err(super::backend_build)?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| backend("get agents", e))?;
                for item in out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    agents.push(from_item(AGENT, item)?);
                }
                keys = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
            if !keys.is_empty() {
                return Err(StoreError::Backend {
                    operation: "get agents",
                    kind: baton_domain::error::BackendErrorKind::Throttled,
                    source: "BatchGetItem left keys unprocessed after 5 attempts".into(),
                });
            }
        }
        Ok(agents)
    }

    async fn get_rotation(&self, tenant: &TenantId, team: &TeamId) -> Result<Rotation, StoreError> {
        match self.get("rotation", keys::rotation(tenant, team)).await? {
            Some(item) => {
                let last = item
                    .get("last")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|v| AgentId::new(v).ok());
                let seq = super::number_attr(&item, "seq").unwrap_or(0);
                Ok(Rotation { last, seq })
            }
            None => Ok(Rotation::default()),
        }
    }

    async fn reserve_capacity(&self, tenant: &TenantId, id: &AgentId) -> Result<(), StoreError> {
        self.adjust_capacity(tenant, id, 1, "attribute_exists(PK) AND open_count < max_open")
            .await
    }

    async fn release_capacity(&self, tenant: &TenantId, id: &AgentId) -> Result<(), StoreError> {
        self.adjust_capacity(tenant, id, -1, "attribute_exists(PK) AND open_count > :zero_floor")
            .await
    }
}
