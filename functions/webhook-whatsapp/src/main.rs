use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    baton_aws::telemetry::init();
    let deps = webhook_whatsapp::Deps::from_env()?;
    run(service_fn(|req| webhook_whatsapp::handler(&deps, req))).await
}
