//! Who is calling: tenant, agent id and role, from JWT claims.
//!
//! In AWS the HTTP API's JWT authorizer (Cognito by default, any OIDC issuer by parameter)
//! has already checked the token; the function reads the verified claims from the request
//! context and refuses a request that has none. Locally (`LOCAL_JWT_SECRET` set) there is
//! no authorizer, so the function verifies an HS256 token itself: signature, algorithm
//! allowlist (HS256 only), `exp` and `aud`. `infra/local/token` mints such tokens.

use crate::error::ApiError;
use baton_domain::directory::{Agent, Role};
use baton_domain::ports::{PageRequest, Store};
use baton_domain::{AgentId, TenantId};
use baton_domain::{StoreError, Timestamp};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Claim names, the same locally and in Cognito (custom attributes).
pub const TENANT_CLAIM: &str = "custom:tenant";
pub const ROLE_CLAIM: &str = "custom:role";
pub const AGENT_CLAIM: &str = "custom:agent_id";
/// The default audience of local tokens.
pub const LOCAL_AUDIENCE: &str = "baton-agent-api";

#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub tenant: TenantId,
    pub agent: AgentId,
    /// From the directory once `directory_caller` has run; the token's claim before.
    pub role: Role,
    /// The token's e-mail claim, for a first admin's directory entry.
    pub email: Option<String>,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("this route is for admins"))
        }
    }
}

pub enum Authenticator {
    /// Claims come from the API Gateway JWT authorizer.
    Gateway,
    /// HS256 tokens verified here (local development and tests).
    Local {
        key: DecodingKey,
        validation: Box<Validation>,
    },
}

impl Authenticator {
    pub fn local(secret: &str, audience: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        validation.leeway = 30;
        Authenticator::Local {
            key: DecodingKey::from_secret(secret.as_bytes()),
            validation: Box::new(validation),
        }
    }

    pub fn authenticate(&self, req: &Request) -> Result<Caller, ApiError> {
        let claims: HashMap<String, String> = match self {
            Authenticator::Gateway => match req.request_context_ref() {
                Some(RequestContext::ApiGatewayV2(ctx)) => ctx
                    .authorizer
                    .as_ref()
                    .and_then(|a| a.jwt.as_ref())
                    .map(|j| j.claims.clone())
                    .ok_or_else(|| ApiError::unauthorized("no verified token on this request"))?,
                _ => return Err(ApiError::unauthorized("no verified token on this request")),
            },
            Authenticator::Local { key, validation } => {
                let token = bearer(req)?;
                let data = jsonwebtoken::decode::<HashMap<String, serde_json::Value>>(token, key, validation)
                    .map_err(|e| ApiError::unauthorized(format!("token refused: {}", describe(&e))))?;
                data.claims
                    .into_iter()
                    .filter_map(|(k, v)| match v {
                        serde_json::Value::String(s) => Some((k, s)),
                        _ => None,
                    })
                    .collect()
            }
        };
        caller_from_claims(&claims)
    }
}

fn bearer(req: &Request) -> Result<&str, ApiError> {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer <token>"))
}

fn describe(e: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind::*;
    match e.kind() {
        ExpiredSignature => "expired",
        InvalidAudience => "wrong audience",
        InvalidAlgorithm => "algorithm not allowed",
        InvalidSignature => "bad signature",
        MissingRequiredClaim(_) => "a required claim is missing",
        _ => "malformed",
    }
}

/// The caller from verified claims; a token without a tenant or with an unknown role is
/// refused rather than guessed at.
pub fn caller_from_claims(claims: &HashMap<String, String>) -> Result<Caller, ApiError> {
    let tenant = claims
        .get(TENANT_CLAIM)
        .and_then(|t| TenantId::new(t.as_str()).ok())
        .ok_or_else(|| ApiError::forbidden("token carries no valid tenant"))?;
    let agent = claims
        .get(AGENT_CLAIM)
        .or_else(|| claims.get("sub"))
        .and_then(|a| AgentId::new(a.as_str()).ok())
        .ok_or_else(|| ApiError::forbidden("token carries no valid agent id"))?;
    let role = match claims.get(ROLE_CLAIM).map(String::as_str) {
        Some("admin") => Role::Admin,
        Some("agent") => Role::Agent,
        _ => return Err(ApiError::forbidden("token carries no valid role")),
    };
    Ok(Caller {
        tenant,
        agent,
        role,
        email: claims.get("email").cloned(),
    })
}

/// The caller as the tenant's directory knows them: the token only says who they are;
/// whether they may act, and as what, is the directory's say, so deactivating or demoting
/// an agent takes effect on their next request.
///
/// Bootstrap: a tenant whose directory is still empty gets its first admin from the
/// first verified token that claims the admin role (an identity-provider administrator
/// set that claim); from then on admins add everyone else through `/v1/agents`.
pub async fn directory_caller(store: &dyn Store, mut caller: Caller, now: Timestamp) -> Result<Caller, ApiError> {
    match store.get_agent(&caller.tenant, &caller.agent).await {
        Ok(agent) if !agent.active => Err(ApiError::forbidden(
            "this agent is deactivated in the tenant's directory",
        )),
        Ok(agent) => {
            caller.role = agent.role;
            Ok(caller)
        }
        Err(StoreError::NotFound { .. }) => bootstrap_first_admin(store, caller, now).await,
        Err(e) => Err(e.into()),
    }
}

async fn bootstrap_first_admin(store: &dyn Store, caller: Caller, now: Timestamp) -> Result<Caller, ApiError> {
    let not_in_directory =
        || ApiError::forbidden("not an agent of this tenant; an admin adds agents with POST /v1/agents");
    if caller.role != Role::Admin {
        return Err(not_in_directory());
    }
    match store.get_tenant(&caller.tenant).await {
        Ok(_) => {}
        Err(StoreError::NotFound { .. }) => return Err(ApiError::forbidden("no such tenant")),
        Err(e) => return Err(e.into()),
    }
    if !store
        .list_agents(&caller.tenant, &PageRequest::first(1))
        .await?
        .items
        .is_empty()
    {
        return Err(not_in_directory());
    }
    let email = caller.email.clone().unwrap_or_default();
    let first = Agent::new(caller.tenant.clone(), caller.agent.clone(), &email, Role::Admin, now);
    match store.create_agent(&first).await {
        Ok(()) | Err(StoreError::AlreadyExists { .. }) => {
            tracing::warn!(tenant = %caller.tenant, agent = %caller.agent, "first admin of the tenant added to its directory");
            Ok(caller)
        }
        Err(e) => Err(e.into()),
    }
}

/// What a local token says.
#[derive(Debug, Serialize, Deserialize)]
pub struct LocalClaims {
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub email: String,
    #[serde(rename = "custom:tenant")]
    pub tenant: String,
    #[serde(rename = "custom:agent_id")]
    pub agent_id: String,
    #[serde(rename = "custom:role")]
    pub role: String,
}

/// Mints a local HS256 token (what `infra/local/token` prints).
pub fn mint_local(secret: &str, claims: &LocalClaims) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

/// The agent id a local token uses for an e-mail address: `ana@example.com` → `ana-example-com`.
pub fn agent_id_for_email(email: &str) -> AgentId {
    let slug: String = email
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let slug = slug.trim_matches('-');
    let slug = if slug.is_empty() { "agent" } else { slug };
    AgentId::new(&slug[..slug.len().min(64)]).expect("slug characters only")
}
