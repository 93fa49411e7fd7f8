//! The smallest Lambda: answers every event with `{"hello": "world"}`. Its init under the
//! emulator is the baseline the functions' cold starts are compared with.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|_: LambdaEvent<serde_json::Value>| async {
        Ok::<_, Error>(serde_json::json!({ "hello": "world" }))
    }))
    .await
}
