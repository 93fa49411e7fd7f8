//! Local sign-in: tokens the local agent API accepts (HS256 with env.json's
//! `LOCAL_JWT_SECRET`), for `baton-local token` and the inbox's dev sign-in
//! (`POST /_baton/dev-token` on the local HTTP API). In AWS agents sign in with Cognito
//! or the configured OIDC issuer; nothing here is deployed.

use agent_api::auth::{agent_id_for_email, mint_local, LocalClaims, LOCAL_AUDIENCE};
use baton_aws::DynamoStore;
use baton_domain::directory::Role;
use baton_domain::{AgentId, TenantId};

#[derive(Debug, thiserror::Error)]
pub enum DevAuthError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] baton_domain::StoreError),
}

pub fn parse_role(role: &str) -> Result<Role, DevAuthError> {
    match role {
        "admin" => Ok(Role::Admin),
        "agent" => Ok(Role::Agent),
        _ => Err(DevAuthError::Invalid("role is admin or agent".into())),
    }
}

/// A token for `email` in `tenant`, valid `hours` (1 to 30 days). With a store, the tenant
/// and the agent are created there first when they do not exist (an existing agent takes
/// the asked role, as `infra/local/token` documents).
pub async fn mint(
    store: Option<&DynamoStore>,
    secret: &str,
    tenant: &str,
    email: &str,
    role: &str,
    hours: i64,
) -> Result<(String, AgentId), DevAuthError> {
    let tenant_id = TenantId::new(tenant).map_err(|e| DevAuthError::Invalid(e.to_string()))?;
    let role_value = parse_role(role)?;
    if !email.contains('@') || email.len() > 254 {
        return Err(DevAuthError::Invalid("email is not an e-mail address".into()));
    }
    let agent = agent_id_for_email(email);
    if let Some(store) = store {
        crate::seed::ensure_tenant_and_agent(store, &tenant_id, &agent, email, role_value).await?;
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = LocalClaims {
        sub: agent.to_string(),
        aud: LOCAL_AUDIENCE.to_owned(),
        iat: now,
        exp: now + hours.clamp(1, 24 * 30) * 3600,
        email: email.to_owned(),
        tenant: tenant.to_owned(),
        agent_id: agent.to_string(),
        role: role.to_owned(),
    };
    Ok((mint_local(secret, &claims), agent))
}
