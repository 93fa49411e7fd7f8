//! `baton-local`: the developer's entry point.
//!
//! - `baton-local dev [--port 3000] [--schedule-every SECONDS]`: everything, in one
//!   command (what `make dev` runs).
//! - `baton-local invoke FUNCTION EVENT_FILE`: one function binary under the Lambda
//!   Runtime Interface Emulator; prints the response JSON on stdout.
//! - `baton-local token [--tenant T] [--email E] [--role admin|agent] [--hours N]`: prints
//!   a bearer token the local agent API accepts; creates the tenant and the agent on the
//!   local endpoint when they do not exist.
//! - `baton-local openapi`: prints the agent API's OpenAPI document.
//! - `baton-local provision`: create the template's resources and the demo tenant on the
//!   endpoint in `AWS_ENDPOINT_URL` (or 127.0.0.1:4566), then exit.
//! - `baton-local parked list|replay [--consumer triage] [--table T] [--queue-url URL]
//!   [--message-id ID]`: an operator's view of the records a consumer parked, and their
//!   replay onto the queue once the cause is fixed. Uses the SDK's usual configuration
//!   (AWS credentials and region, or `AWS_ENDPOINT_URL`), so it works against AWS too;
//!   the table and queue default to the local stack's (`infra/local/env.json`).

use baton_local::endpoint::{self, LocalEndpoint};
use baton_local::{dev_auth, envfile::EnvFile, provision, rie, seed, template::Template, RunnerOptions};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const STACK: &str = "baton-local";
const DEFAULT_ENDPOINT_PORT: u16 = 4566;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn usage() -> ExitCode {
    eprintln!("usage: baton-local dev [--port PORT] [--schedule-every SECONDS]");
    eprintln!("       baton-local invoke FUNCTION EVENT_FILE");
    eprintln!("       baton-local token [--tenant T] [--email E] [--role admin|agent] [--hours N]");
    eprintln!("       baton-local openapi");
    eprintln!("       baton-local provision");
    eprintln!("       baton-local parked list|replay [--consumer C] [--table T] [--queue-url URL] [--message-id ID]");
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dev") => dev(&args[1..]).await,
        Some("invoke") if args.len() == 3 => invoke(&args[1], &args[2]).await,
        Some("provision") => provision_only().await,
        Some("token") => token(&args[1..]).await,
        Some("openapi") => openapi(),
        Some("parked") if args.len() >= 2 => parked(&args[1], &args[2..]).await,
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("baton-local: {e}");
            ExitCode::FAILURE
        }
    }
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// `AWS_ENDPOINT_URL` if set; otherwise a server already on 4566 (from `make dev`);
/// otherwise a new one (on 4566 when `fixed_port`, else a free port).
fn endpoint(fixed_port: bool) -> Res<LocalEndpoint> {
    if let Ok(url) = std::env::var("AWS_ENDPOINT_URL") {
        if !url.is_empty() {
            return Ok(LocalEndpoint::existing(url));
        }
    }
    if port_open(DEFAULT_ENDPOINT_PORT) {
        return Ok(LocalEndpoint::existing(format!(
            "http://127.0.0.1:{DEFAULT_ENDPOINT_PORT}"
        )));
    }
    Ok(LocalEndpoint::start(fixed_port.then_some(DEFAULT_ENDPOINT_PORT))?)
}

async fn prepare(ep: &LocalEndpoint, template: &Template) -> Res<provision::Resources> {
    let sdk = ep.sdk_config().await;
    let resources = provision::provision(&sdk, template, STACK, &BTreeMap::new()).await?;
    let env_file = EnvFile::load(&endpoint::repo_root().join("infra/local/env.json"))?;
    provision::verify_sender_domains(&sdk, &env_file).await?;
    let table = resources.table_name().ok_or("the template declares no table")?;
    let store = baton_aws::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    seed::seed_demo(&store).await?;
    Ok(resources)
}

/// Provisions an endpoint that keeps running (`AWS_ENDPOINT_URL`, or `make dev`'s on
/// 4566); a temporary one would vanish with its resources when this command exits.
async fn provision_only() -> Res<()> {
    let root = endpoint::repo_root();
    let url = match std::env::var("AWS_ENDPOINT_URL") {
        Ok(u) if !u.is_empty() => u,
        _ if port_open(DEFAULT_ENDPOINT_PORT) => format!("http://127.0.0.1:{DEFAULT_ENDPOINT_PORT}"),
        _ => return Err("no local endpoint is running: set AWS_ENDPOINT_URL or start `make dev`".into()),
    };
    let ep = LocalEndpoint::existing(url);
    let template = Template::load(&root.join("template.yaml"))?;
    prepare(&ep, &template).await?;
    println!("resources and demo tenant ready on {}", ep.url);
    Ok(())
}

/// Mints a local token. The tenant and agent are created on the endpoint that is running
/// (`AWS_ENDPOINT_URL`, or `make dev`'s); with none running, the token is still printed.
async fn token(args: &[String]) -> Res<()> {
    let mut tenant = seed::DEMO_TENANT.to_owned();
    let mut email = "admin@demo.example".to_owned();
    let mut role = "admin".to_owned();
    let mut hours = 12i64;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--tenant" => tenant = value()?,
            "--email" => email = value()?,
            "--role" => role = value()?,
            "--hours" => hours = value()?.parse()?,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    dev_auth::parse_role(&role)?;
    let root = endpoint::repo_root();
    let env_file = EnvFile::load(&root.join("infra/local/env.json"))?;
    let secret = env_file
        .get("Parameters", "LOCAL_JWT_SECRET")
        .ok_or("infra/local/env.json has no LOCAL_JWT_SECRET")?
        .to_owned();
    let url = match std::env::var("AWS_ENDPOINT_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if port_open(DEFAULT_ENDPOINT_PORT) => Some(format!("http://127.0.0.1:{DEFAULT_ENDPOINT_PORT}")),
        _ => None,
    };
    let store = match url {
        Some(url) => {
            let table = match std::env::var("TABLE_NAME") {
                Ok(t) if !t.is_empty() => t,
                _ => env_file
                    .get("Parameters", "TABLE_NAME")
                    .ok_or("infra/local/env.json has no TABLE_NAME")?
                    .to_owned(),
            };
            let sdk = LocalEndpoint::existing(url).sdk_config().await;
            Some(baton_aws::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table))
        }
        None => None,
    };
    let (token, agent) = dev_auth::mint(store.as_ref(), &secret, &tenant, &email, &role, hours).await?;
    if store.is_none() {
        eprintln!("baton-local: no local endpoint running; tenant {tenant} and agent {agent} were not created");
    }
    println!("{token}");
    Ok(())
}

/// The agent API's OpenAPI document, as `GET /v1/openapi.json` serves it (the inbox's
/// typed client is generated from it by `infra/local/web`).
fn openapi() -> Res<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", agent_api::openapi::document())?;
    Ok(())
}

async fn dev(args: &[String]) -> Res<()> {
    baton_aws::telemetry::init();
    let mut port = 3000u16;
    let mut schedule_every = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--port" => port = it.next().ok_or("--port needs a value")?.parse()?,
            "--schedule-every" => {
                schedule_every = Some(Duration::from_secs(
                    it.next().ok_or("--schedule-every needs seconds")?.parse()?,
                ))
            }
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    let root = endpoint::repo_root();
    let ep = endpoint(true)?;
    let template = Template::load(&root.join("template.yaml"))?;
    prepare(&ep, &template).await?;
    let sdk = ep.sdk_config().await;
    let mut opts = RunnerOptions::for_repo(&root, STACK);
    opts.http_addr = Some(SocketAddr::from(([127, 0, 0, 1], port)));
    opts.schedule_every = schedule_every;
    opts.standin_ports = (baton_local::DEV_GRAPH_PORT, baton_local::DEV_SHOP_PORT);
    let baton = baton_local::start(&sdk, &ep.url, opts).await?;
    let http = baton.http_addr.expect("http requested");
    println!();
    println!("Baton is running.");
    println!("  HTTP API        http://{http}   (every HttpApi route in template.yaml)");
    println!("  demo shop page  http://{http}/   (with the widget; web/dist, built by infra/local/web)");
    println!("  agents' inbox   http://{http}/inbox/   (dev sign-in as any agent of the demo tenant)");
    println!("  local mail drop http://{http}/_baton/mail?to=<recipient>   (POST a raw message: the SES receipt rule)");
    println!(
        "  AWS endpoint    {}   (moto; table {})",
        ep.url,
        baton.resources.table_name().unwrap_or("?")
    );
    println!(
        "  functions       {}",
        baton.functions.keys().cloned().collect::<Vec<_>>().join(", ")
    );
    println!("  demo tenant     {}: WhatsApp phone_number_id {}, Instagram {}, email support+{}@inbound.baton.local, widget key {}",
        seed::DEMO_TENANT, seed::DEMO_WHATSAPP_PHONE_NUMBER_ID, seed::DEMO_INSTAGRAM_ACCOUNT_ID, seed::DEMO_EMAIL_SLUG, seed::DEMO_WIDGET_KEY);
    if let Some(graph) = &baton.graph {
        println!(
            "  Graph API       {}   (stand-in; what it was sent: {}/_baton/requests)",
            graph.url, graph.url
        );
    }
    if let Some(shop) = &baton.shop {
        println!(
            "  demo shop       http://{}   (Shopify stand-in, orders #1001 #1002 #4411 for +16505551234; what it was asked: /_baton/requests)",
            shop.shopify_domain()
        );
    }
    println!("Ctrl-C stops everything.");
    tokio::signal::ctrl_c().await?;
    drop(baton);
    drop(ep);
    Ok(())
}

async fn invoke(function: &str, event_file: &str) -> Res<()> {
    let root = endpoint::repo_root();
    let template = Template::load(&root.join("template.yaml"))?;
    let f = template
        .function(function)
        .ok_or_else(|| format!("no function {function} in template.yaml (use its logical id or crate name)"))?;
    let event = std::fs::read(PathBuf::from(event_file)).map_err(|e| format!("{event_file}: {e}"))?;
    let venv = endpoint::ensure_venv(&root)?;
    let rie = rie::find_rie(&venv)?;
    let ep = endpoint(false)?;
    let resources = prepare(&ep, &template).await?;
    stage_sample_mail(&ep, &resources, event_file, &event).await?;
    let env_file = EnvFile::load(&root.join("infra/local/env.json"))?;
    let env = baton_local::function_env(f, &resources, &env_file, &ep.url)?;
    let package = baton_local::package_name(&root, &f.code_uri)?;
    let binary = baton_local::binary_dir(&root).join(&package);
    if !binary.exists() {
        return Err(format!(
            "{} is not built; run `cargo build --workspace --bins` (package {package})",
            binary.display()
        )
        .into());
    }
    let out = rie::invoke_once(&rie, &binary, &env, &f.logical_id, f.timeout_secs, event).await?;
    println!("{}", String::from_utf8_lossy(&out));
    Ok(())
}

/// An SES receipt event needs its raw message in the bucket, as SES's S3 action would
/// have put it: `events/email/{messageId}.eml` beside the event is uploaded to
/// `inbound/{messageId}` of every bucket in the template.
async fn stage_sample_mail(
    ep: &LocalEndpoint,
    resources: &provision::Resources,
    event_file: &str,
    event: &[u8],
) -> Res<()> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(event) else {
        return Ok(());
    };
    let Some(id) = v["Records"][0]["ses"]["mail"]["messageId"].as_str() else {
        return Ok(());
    };
    let eml = PathBuf::from(event_file)
        .parent()
        .map(|d| d.join("email").join(format!("{id}.eml")));
    let Some(eml) = eml.filter(|p| p.exists()) else {
        return Ok(());
    };
    let sdk = ep.sdk_config().await;
    let s3 = baton_aws::S3Bucket::client_for(&sdk);
    for p in resources.physical.values() {
        if let provision::Physical::Bucket { name } = p {
            s3.put_object()
                .bucket(name)
                .key(format!("inbound/{id}"))
                .body(std::fs::read(&eml)?.into())
                .send()
                .await?;
        }
    }
    Ok(())
}

/// `parked list|replay`: see the module documentation.
async fn parked(action: &str, args: &[String]) -> Res<()> {
    let env_file = EnvFile::load(&endpoint::repo_root().join("infra/local/env.json")).unwrap_or_default();
    let local = |name: &str| env_file.get("Parameters", name).map(str::to_owned);
    let mut consumer = "triage".to_owned();
    let mut table = std::env::var("TABLE_NAME").ok().or_else(|| local("TABLE_NAME"));
    let mut queue_url = local("INBOUND_QUEUE_URL");
    let mut message_id = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--consumer" => consumer = value()?,
            "--table" => table = Some(value()?),
            "--queue-url" => queue_url = Some(value()?),
            "--message-id" => message_id = Some(value()?),
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    let sdk = baton_aws::aws_sdk_config().await;
    let table = table.ok_or("--table is required")?;
    let store = baton_aws::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    match action {
        "list" => {
            for r in baton_app::parking::list(&store, &consumer).await? {
                println!("{}", serde_json::to_string(&r)?);
            }
        }
        "replay" => {
            let url = queue_url.ok_or("--queue-url is required")?;
            let queue = baton_aws::SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), url);
            let n = baton_app::parking::replay(&store, &queue, &consumer, message_id.as_deref()).await?;
            eprintln!("replayed {n} parked record(s) of {consumer}");
        }
        other => return Err(format!("parked {other}: list or replay").into()),
    }
    Ok(())
}
