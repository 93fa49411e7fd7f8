//! Baton, locally: the local AWS endpoint, the template's resources, and every function
//! of `template.yaml` running its real binary behind a local Lambda Runtime API, fed by
//! the HTTP API, SQS pollers and schedules the template declares. A function added to
//! the template runs here without changes to this crate.

pub mod dev_auth;
pub mod endpoint;
pub mod envfile;
pub mod gateway;
pub mod graph_standin;
pub mod lambda_host;
pub mod poller;
pub mod provision;
pub mod rie;
pub mod scheduler;
pub mod seed;
pub mod shop_standin;
pub mod template;

use envfile::EnvFile;
use lambda_host::{FunctionHost, HostSpec};
use provision::Resources;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use template::{FunctionDef, Template};
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Template(#[from] template::TemplateError),
    #[error(transparent)]
    Provision(#[from] provision::ProvisionError),
    #[error("{0}")]
    EnvFile(String),
    #[error(
        "binary for {function} not found at {path}; build it with `cargo build --workspace --bins` (package {package})"
    )]
    MissingBinary {
        function: String,
        path: String,
        package: String,
    },
    #[error("cannot read the package name of {0}")]
    Package(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

pub struct RunnerOptions {
    pub root: PathBuf,
    pub template: PathBuf,
    pub stack: String,
    pub env_file: Option<PathBuf>,
    /// Where to serve the HTTP API; `None` serves no HTTP.
    pub http_addr: Option<SocketAddr>,
    /// Fire every schedule at this interval instead of its own rate (faster local loops).
    pub schedule_every: Option<Duration>,
    /// Where the function binaries are (`target/debug`).
    pub binary_dir: PathBuf,
    /// The ports of the Graph API and shop stand-ins (`make dev`'s fixed ones, so the
    /// README's commands reach them); `0` picks free ones, as a port in use does.
    pub standin_ports: (u16, u16),
    /// Static web assets served for the `GET`s no route takes (`web/dist`: the demo page,
    /// the widget); `None` serves none.
    pub assets: Option<PathBuf>,
}

/// `make dev`'s Graph API stand-in port.
pub const DEV_GRAPH_PORT: u16 = 4580;
/// `make dev`'s shop stand-in port.
pub const DEV_SHOP_PORT: u16 = 4581;

impl RunnerOptions {
    /// Defaults for the repository at `root`: its template, env.json and debug binaries.
    pub fn for_repo(root: &Path, stack: &str) -> Self {
        RunnerOptions {
            root: root.to_owned(),
            template: root.join("template.yaml"),
            stack: stack.to_owned(),
            env_file: Some(root.join("infra/local/env.json")),
            http_addr: None,
            schedule_every: None,
            binary_dir: binary_dir(root),
            standin_ports: (0, 0),
            assets: Some(root.join("web/dist")),
        }
    }
}

pub fn binary_dir(root: &Path) -> PathBuf {
    std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"))
        .join("debug")
}

/// The package name of the crate at `code_uri` (its binary's name).
pub fn package_name(root: &Path, code_uri: &str) -> Result<String, RunnerError> {
    let manifest = root.join(code_uri).join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).map_err(|_| RunnerError::Package(manifest.display().to_string()))?;
    let mut in_package = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if in_package {
            if let Some(rest) = line.strip_prefix("name") {
                if let Some(v) = rest.trim_start().strip_prefix('=') {
                    return Ok(v.trim().trim_matches('"').to_owned());
                }
            }
        }
    }
    Err(RunnerError::Package(manifest.display().to_string()))
}

/// The environment a function runs with locally: its template variables resolved against
/// the local resources, env.json's overrides, and the local endpoint's settings.
pub fn function_env(
    f: &FunctionDef,
    resources: &Resources,
    env_file: &EnvFile,
    endpoint_url: &str,
) -> Result<BTreeMap<String, String>, RunnerError> {
    let mut env = BTreeMap::new();
    for (name, expr) in &f.environment {
        let value = match resources.resolve(expr) {
            Ok(v) => v,
            // What only AWS knows (an HTTP API's generated host name): the local settings
            // name it instead, and `apply` below sets it.
            Err(_) if env_file.sets(&f.logical_id, name) => String::new(),
            Err(e) => return Err(e.into()),
        };
        env.insert(name.clone(), value);
    }
    env_file.apply(&f.logical_id, &mut env);
    // Locally the embedding model comes from the venv (the same pinned files the template's
    // layer holds), whose path only this machine knows: in place of the layer's /opt path.
    if env
        .get("EMBEDDING_MODEL_DIR")
        .is_some_and(|d| d.is_empty() || !std::path::Path::new(d).is_dir())
    {
        if let Some(dir) = local_model_dir() {
            env.insert("EMBEDDING_MODEL_DIR".into(), dir.display().to_string());
        }
    }
    env.insert("AWS_ENDPOINT_URL".into(), endpoint_url.to_owned());
    env.insert("AWS_REGION".into(), provision::REGION.into());
    env.insert("AWS_DEFAULT_REGION".into(), provision::REGION.into());
    env.insert("AWS_ACCESS_KEY_ID".into(), "test".into());
    env.insert("AWS_SECRET_ACCESS_KEY".into(), "test".into());
    env.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
    Ok(env)
}

/// all-MiniLM-L6-v2 as `infra/local/venv` installs it, if it does.
pub fn local_model_dir() -> Option<PathBuf> {
    baton_embed::find_model_dir(&endpoint::repo_root().join(".venv"))
}

/// The shop stand-in, connected to the demo tenant if the stack has one (a stack without
/// it runs without a shop).
async fn demo_shop(sdk: &aws_config::SdkConfig, resources: &Resources, port: u16) -> Option<shop_standin::ShopStandin> {
    use baton_domain::ports::TenantStore;
    let table = resources.table_name()?;
    let store = baton_aws::DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table);
    let demo = baton_domain::TenantId::new(seed::DEMO_TENANT).expect("valid id");
    store.get_tenant(&demo).await.ok()?;
    let start = |port| {
        shop_standin::ShopStandin::start(
            port,
            "Demo Shop",
            seed::DEMO_SHOP_TOKEN,
            seed::DEMO_SHOP_SECRET,
            shop_standin::dev_orders(),
        )
    };
    let started = match start(port).await {
        Err(_) if port != 0 => start(0).await,
        other => other,
    };
    let shop = match started {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "the local shop stand-in did not start; running without a shop");
            return None;
        }
    };
    let key = match resources.physical.get("ChannelSecretsKey") {
        Some(provision::Physical::Key { arn, .. }) => Some(arn.clone()),
        _ => None,
    };
    match seed::connect_demo_shop(sdk, &store, key, &shop).await {
        Ok(()) => {
            tracing::info!(domain = %shop.shopify_domain(), "local shop stand-in connected to the demo tenant; what it was asked: http://{}/_baton/requests", shop.shopify_domain());
            Some(shop)
        }
        Err(e) => {
            tracing::warn!(error = %e, "the demo shop could not be connected; running without a shop");
            None
        }
    }
}

/// A running local Baton. Dropping it stops every function process and task.
pub struct Baton {
    pub resources: Resources,
    pub http_addr: Option<SocketAddr>,
    /// The local Graph API stand-in the senders talk to, unless `GRAPH_API_BASE_URL`
    /// names a real one.
    pub graph: Option<graph_standin::GraphStandin>,
    /// The demo tenant's shop (Shopify's Admin API and the connector, [`shop_standin::dev_orders`]),
    /// when the stack has the demo tenant.
    pub shop: Option<shop_standin::ShopStandin>,
    pub functions: BTreeMap<String, FunctionHost>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Baton {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

pub async fn start(sdk: &aws_config::SdkConfig, endpoint_url: &str, opts: RunnerOptions) -> Result<Baton, RunnerError> {
    let template = Template::load(&opts.template)?;
    let env_file = match &opts.env_file {
        Some(p) => EnvFile::load(p).map_err(RunnerError::EnvFile)?,
        None => EnvFile::default(),
    };
    let resources = provision::provision(sdk, &template, &opts.stack, &BTreeMap::new()).await?;
    provision::verify_sender_domains(sdk, &env_file).await?;
    // Meta's Graph API is a paid outside service: locally the senders talk to a stand-in
    // that speaks its wire format, unless the developer points them at a real one.
    let graph = match std::env::var("GRAPH_API_BASE_URL").ok().filter(|v| !v.is_empty()) {
        Some(_) => None,
        None => {
            let standin = match graph_standin::GraphStandin::start(opts.standin_ports.0).await {
                Ok(s) => s,
                Err(_) if opts.standin_ports.0 != 0 => graph_standin::GraphStandin::start(0).await?,
                Err(e) => return Err(e.into()),
            };
            tracing::info!(url = %standin.url, "local Graph API stand-in; what it was sent: {}/_baton/requests", standin.url);
            Some(standin)
        }
    };
    let shop = demo_shop(sdk, &resources, opts.standin_ports.1).await;
    // Bound first, so the functions that link to the API (survey links) know its address.
    let listener = match opts.http_addr {
        Some(addr) => Some(tokio::net::TcpListener::bind(addr).await?),
        None => None,
    };
    let local_api = match &listener {
        Some(l) => Some(format!("http://{}", l.local_addr()?)),
        None => None,
    };
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut functions = BTreeMap::new();
    let mut routes = Vec::new();
    let mut tasks = Vec::new();
    for f in &template.functions {
        let package = package_name(&opts.root, &f.code_uri)?;
        let binary = opts.binary_dir.join(&package);
        if !binary.exists() {
            return Err(RunnerError::MissingBinary {
                function: f.logical_id.clone(),
                path: binary.display().to_string(),
                package,
            });
        }
        let host = FunctionHost::start(HostSpec {
            name: f.logical_id.clone(),
            binary,
            env: {
                let mut env = function_env(f, &resources, &env_file, endpoint_url)?;
                if let (Some(slot), Some(standin)) = (env.get_mut("GRAPH_API_BASE_URL"), &graph) {
                    *slot = standin.url.clone();
                }
                if let (Some(slot), Some(url)) = (env.get_mut("PUBLIC_API_URL"), &local_api) {
                    *slot = url.clone();
                }
                env
            },
            timeout: Duration::from_secs(u64::from(f.timeout_secs)),
            memory_mb: f.memory_mb,
        })
        .await?;
        for r in &f.http_routes {
            routes.push(gateway::Route {
                method: r.method.clone(),
                path: r.path.clone(),
                host: host.clone(),
            });
        }
        for s in &f.sqs_sources {
            let (url, arn) = resources
                .queue(&s.queue_logical_id)
                .ok_or_else(|| provision::ProvisionError::Unresolved(format!("queue {}", s.queue_logical_id)))?;
            let spec = poller::PollerSpec {
                function: host.clone(),
                queue_url: url.to_owned(),
                queue_arn: arn.to_owned(),
                batch_size: s.batch_size,
                report_batch_item_failures: s.report_batch_item_failures,
            };
            tasks.push(tokio::spawn(poller::run(sqs.clone(), spec)));
        }
        for s in f.schedules.iter().filter(|s| s.enabled) {
            let every = match (opts.schedule_every, template::rate_seconds(&s.expression)) {
                (Some(d), _) => d,
                (None, Some(secs)) => Duration::from_secs(secs),
                (None, None) => {
                    tracing::warn!(function = %f.logical_id, expression = %s.expression, "only rate() schedules run locally; skipped");
                    continue;
                }
            };
            let rule = format!("{}-{}-{}", opts.stack, f.logical_id, s.event_name);
            tasks.push(tokio::spawn(scheduler::run(host.clone(), rule, every)));
        }
        functions.insert(f.logical_id.clone(), host);
    }
    let http_addr = match listener {
        Some(listener) => {
            let bound = listener.local_addr()?;
            let dev = match (env_file.get("Parameters", "LOCAL_JWT_SECRET"), resources.table_name()) {
                (Some(secret), Some(table)) => Some(gateway::DevSignIn {
                    store: baton_aws::DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table),
                    secret: secret.to_owned(),
                }),
                _ => None,
            };
            let mail = template.receipt_rules.iter().find_map(|r| {
                let host = functions.get(&r.function)?;
                match resources.physical.get(&r.bucket)? {
                    provision::Physical::Bucket { name } => Some(gateway::MailDrop {
                        s3: baton_aws::S3Bucket::client_for(sdk),
                        bucket: name.clone(),
                        prefix: r.prefix.clone(),
                        host: host.clone(),
                    }),
                    _ => None,
                }
            });
            let local = gateway::Local { dev, mail };
            let app =
                gateway::router(routes, opts.assets.clone(), local).into_make_service_with_connect_info::<SocketAddr>();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!(error = %e, "HTTP server stopped");
                }
            }));
            Some(bound)
        }
        None => None,
    };
    Ok(Baton {
        resources,
        http_addr,
        graph,
        shop,
        functions,
        tasks,
    })
}
