//! The demo tenant that `make dev` and the local tools start with.

use baton_aws::DynamoStore;
use baton_domain::directory::{Agent, Role, RoutingStrategy, Team};
use baton_domain::kb::Article;
use baton_domain::ports::{DirectoryStore, KnowledgeStore, TenantStore};
use baton_domain::tenant::{AiSettings, ChannelBinding, Tenant, TenantChannels, WidgetSettings};
use baton_domain::{AgentId, ArticleId, Channel, Clock, StoreError, SystemClock, TeamId, TenantId};

pub const DEMO_TENANT: &str = "demo";
pub const DEMO_WHATSAPP_PHONE_NUMBER_ID: &str = "100000000000001";
pub const DEMO_INSTAGRAM_ACCOUNT_ID: &str = "17841400000000001";
pub const DEMO_EMAIL_SLUG: &str = "demo";
pub const DEMO_WIDGET_KEY: &str = "wk_demo";
pub const DEMO_WIDGET_ORIGIN: &str = "http://127.0.0.1:3000";
/// The demo shop's Admin API token (the local Shopify stand-in accepts only it).
pub const DEMO_SHOP_TOKEN: &str = "shpat_demo_local_0123456789abcdef";
/// The demo shop's connector signing secret.
pub const DEMO_SHOP_SECRET: &str = "demo-connector-signing-secret-0123";

/// Connects the demo tenant to the local shop stand-in (Shopify), the token sealed with the
/// stack's channel-secrets key as the agent API would.
pub async fn connect_demo_shop(
    sdk: &aws_config::SdkConfig,
    store: &DynamoStore,
    key_arn: Option<String>,
    shop: &crate::shop_standin::ShopStandin,
) -> Result<(), StoreError> {
    let secrets = baton_aws::kms::KmsSecretBox::new(aws_sdk_kms::Client::new(sdk), key_arn);
    let shops = baton_app::shop::Shops::new(
        std::sync::Arc::new(store.clone()),
        std::sync::Arc::new(secrets),
        std::sync::Arc::new(baton_aws::shop::HttpCommerce::default()),
    );
    let connection = baton_domain::commerce::ShopConnection::Shopify {
        domain: shop.shopify_domain(),
        api_version: baton_aws::shop::shopify_api_version_from_env(),
    };
    let id = TenantId::new(DEMO_TENANT).expect("valid id");
    let token = baton_domain::secrets::Secret::new(DEMO_SHOP_TOKEN);
    shops.connect(&id, connection, &token, SystemClock.now()).await?;
    Ok(())
}

fn ignore_existing(r: Result<(), StoreError>) -> Result<(), StoreError> {
    match r {
        Err(StoreError::AlreadyExists { .. }) => Ok(()),
        other => other,
    }
}

/// Creates the demo tenant, its channel endpoints, a default team and a small knowledge
/// base. Running it again changes nothing.
pub async fn seed_demo(store: &DynamoStore) -> Result<(), StoreError> {
    let now = SystemClock.now();
    let id = TenantId::new(DEMO_TENANT).expect("valid id");
    let tenant = Tenant {
        id: id.clone(),
        name: "Demo Shop".into(),
        channels: TenantChannels {
            whatsapp_phone_number_ids: vec![DEMO_WHATSAPP_PHONE_NUMBER_ID.into()],
            instagram_account_ids: vec![DEMO_INSTAGRAM_ACCOUNT_ID.into()],
            email_slug: Some(DEMO_EMAIL_SLUG.into()),
            widget: Some(WidgetSettings {
                key: DEMO_WIDGET_KEY.into(),
                allowed_origins: vec![DEMO_WIDGET_ORIGIN.into()],
            }),
            ..Default::default()
        },
        ai: AiSettings::default(),
        created_at: now,
        kb_revision: 0,
        kb_vectors_revision: 0,
        quotas: Default::default(),
        whatsapp_health: None,
        instagram_health: None,
        channels_revision: 0,
        routing: baton_domain::routing::demo_settings(),
        sla: baton_domain::sla::SlaSettings::demo(),
        shop: None,
        time_zone: "UTC".into(),
        reports: Default::default(),
    };
    let binding = |channel, external_id: &str| ChannelBinding {
        channel,
        external_id: external_id.into(),
        tenant_id: id.clone(),
    };
    let bindings = [
        binding(Channel::Whatsapp, DEMO_WHATSAPP_PHONE_NUMBER_ID),
        binding(Channel::Instagram, DEMO_INSTAGRAM_ACCOUNT_ID),
        binding(Channel::Email, DEMO_EMAIL_SLUG),
        binding(Channel::Widget, DEMO_WIDGET_KEY),
    ];
    match store.create_tenant(&tenant, &bindings).await {
        // Already seeded: leave whatever the developer changed since.
        Err(StoreError::AlreadyExists { .. }) => return Ok(()),
        other => other?,
    }
    // Support takes what no rule claims; the rules send technical questions, billing
    // and product questions to their specialists.
    let teams = [
        ("support", "Support"),
        ("engineering-support", "Engineering support"),
        ("finance", "Finance"),
        ("product-specialists", "Product specialists"),
    ];
    for (team, name) in teams {
        ignore_existing(
            store
                .create_team(&Team {
                    tenant_id: id.clone(),
                    id: TeamId::new(team).expect("valid id"),
                    name: name.into(),
                    members: vec![],
                    strategy: RoutingStrategy::Balanced,
                    created_at: now,
                    lead: None,
                    return_unanswered_after_minutes: None,
                    version: 0,
                })
                .await,
        )?;
    }
    let articles = [
        ("order-status", "Where is my order?", "You can follow your order from the link in your confirmation e-mail. Orders ship within 2 business days; tracking appears once the parcel leaves our warehouse.", vec!["where is my order", "track my package", "order status"]),
        ("returns", "Returning an item", "You can return unused items within 30 days of delivery. Start a return from your account page; we e-mail a prepaid label. Refunds reach your card 5 to 7 days after we receive the item.", vec!["how do I return something", "can I send this back", "return policy"]),
        ("delivery-times", "Delivery times and costs", "Standard delivery takes 3 to 5 business days and is free over 50 EUR; express delivery takes 1 to 2 business days for 9.90 EUR.", vec!["how long does delivery take", "shipping cost", "express shipping"]),
    ];
    for (slug, title, body, questions) in articles {
        let article = Article {
            tenant_id: id.clone(),
            id: ArticleId::new(slug).expect("valid id"),
            title: title.into(),
            body: body.into(),
            tags: vec![],
            sample_questions: questions.into_iter().map(str::to_owned).collect(),
            url: Some(format!("https://help.demo.example/{slug}")),
            updated_at: now,
        };
        // The outbox relay hands the indexer its request.
        store
            .put_article(&article, &baton_domain::outbox::Effect::index_article(&article, now))
            .await?;
    }
    Ok(())
}

/// What `infra/local/token` needs in the table: the tenant (created empty, with default
/// settings, if it does not exist) and the agent the token names. Existing ones are kept.
pub async fn ensure_tenant_and_agent(
    store: &DynamoStore,
    tenant: &TenantId,
    agent: &AgentId,
    email: &str,
    role: Role,
) -> Result<(), StoreError> {
    let now = SystemClock.now();
    if tenant.as_str() == DEMO_TENANT {
        seed_demo(store).await?;
    } else {
        ignore_existing(
            store
                .create_tenant(
                    &Tenant {
                        id: tenant.clone(),
                        name: tenant.to_string(),
                        channels: TenantChannels::default(),
                        ai: AiSettings::default(),
                        created_at: now,
                        kb_revision: 0,
                        kb_vectors_revision: 0,
                        quotas: Default::default(),
                        whatsapp_health: None,
                        instagram_health: None,
                        channels_revision: 0,
                        routing: Default::default(),
                        sla: Default::default(),
                        shop: None,
                        time_zone: "UTC".into(),
                        reports: Default::default(),
                    },
                    &[],
                )
                .await,
        )?;
    }
    match store
        .create_agent(&Agent::new(tenant.clone(), agent.clone(), email, role, now))
        .await
    {
        // The directory decides the role: a token asked for with another role makes the
        // existing local agent that role (and active again).
        Err(StoreError::AlreadyExists { .. }) => {
            let mut existing = store.get_agent(tenant, agent).await?;
            if existing.role != role || !existing.active {
                existing.role = role;
                existing.active = true;
                store.update_agent(&existing).await?;
            }
            Ok(())
        }
        other => other,
    }
}
