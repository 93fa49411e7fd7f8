use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    baton_aws::telemetry::init();
    let sdk = baton_aws::aws_sdk_config().await;
    let deps = analytics::Deps::from_env(&sdk)?;
    run(service_fn(|ev| analytics::handler(&deps, ev))).await
}
