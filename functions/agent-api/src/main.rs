use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    baton_aws::telemetry::init();
    let sdk = baton_aws::aws_sdk_config().await;
    let deps = agent_api::Deps::from_env(&sdk)?;
    run(service_fn(|req| agent_api::handler(&deps, req))).await
}
