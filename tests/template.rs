//! The template is the one source of truth: what the local endpoint gets matches it, and
//! the local settings name what the template creates.

use baton_local::envfile::EnvFile;
use baton_local::provision::{queue_name, table_name, Physical};
use baton_local::template::Template;
use baton_tests::{env, root};
use std::collections::BTreeSet;

fn template() -> Template {
    Template::load(&root().join("template.yaml")).unwrap()
}

#[tokio::test]
async fn provisioned_table_and_queues_match_the_template() {
    let env = env().await;
    let t = template();
    let ddb = aws_sdk_dynamodb::Client::new(&env.sdk);
    let table = ddb
        .describe_table()
        .table_name(env.store.table())
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let gsis: BTreeSet<String> = table
        .global_secondary_indexes()
        .iter()
        .filter_map(|g| g.index_name.clone())
        .collect();
    let declared: BTreeSet<String> = t.tables[0]
        .properties
        .get("GlobalSecondaryIndexes")
        .and_then(|v| v.as_sequence())
        .unwrap()
        .iter()
        .filter_map(|g| g.get("IndexName").and_then(|n| n.as_str()).map(str::to_owned))
        .collect();
    assert_eq!(gsis, declared);
    assert_eq!(
        gsis,
        [
            "Backlog",
            "ByActivity",
            "ByAssignee",
            "ByCustomer",
            "ByDue",
            "ByStatus",
            "OutboxPending",
            "SlaDue"
        ]
        .into_iter()
        .map(String::from)
        .collect()
    );
    let ttl = ddb
        .describe_time_to_live()
        .table_name(env.store.table())
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description.and_then(|d| d.attribute_name),
        Some("expires_at".into())
    );

    let sqs = aws_sdk_sqs::Client::new(&env.sdk);
    for q in &t.queues {
        let Some(Physical::Queue { url, name, .. }) = env.resources.physical.get(&q.logical_id) else {
            panic!("{} was not created", q.logical_id)
        };
        assert_eq!(name.ends_with(".fifo"), q.fifo, "{}", q.logical_id);
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default();
        let redrive = attrs.get(&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy);
        match &q.redrive {
            Some((dlq, max)) => {
                let policy: serde_json::Value = serde_json::from_str(redrive.expect("redrive policy set")).unwrap();
                let (_, dlq_arn) = env.resources.queue(dlq).unwrap();
                assert_eq!(policy["deadLetterTargetArn"], dlq_arn);
                assert_eq!(policy["maxReceiveCount"].to_string().trim_matches('"'), max.to_string());
                assert!(*max > 1, "{}: a single failure must not dead-letter", q.logical_id);
            }
            None => assert!(redrive.is_none()),
        }
    }
}

#[test]
fn every_work_queue_has_a_dead_letter_queue() {
    let t = template();
    let mut dlqs: BTreeSet<&str> = t
        .queues
        .iter()
        .filter_map(|q| q.redrive.as_ref().map(|(d, _)| d.as_str()))
        .collect();
    // A function's own DeadLetterQueue (failed asynchronous invocations) counts too.
    dlqs.extend(t.functions.iter().filter_map(|f| f.dead_letter_queue.as_deref()));
    for q in &t.queues {
        assert!(
            q.redrive.is_some() || dlqs.contains(q.logical_id.as_str()),
            "{} has no DLQ",
            q.logical_id
        );
    }
}

#[test]
fn local_settings_name_what_the_template_creates_for_the_local_stack() {
    let t = template();
    let env_file = EnvFile::load(&root().join("infra/local/env.json")).unwrap();
    assert_eq!(
        env_file.get("Parameters", "TABLE_NAME"),
        Some(table_name("baton-local", &t.tables[0].logical_id).as_str())
    );
    for (var, logical_id) in [
        ("INBOUND_QUEUE_URL", "InboundQueue"),
        ("ROUTING_QUEUE_URL", "RoutingQueue"),
        ("OUTBOUND_QUEUE_URL", "OutboundQueue"),
        ("EMAIL_QUEUE_URL", "EmailQueue"),
    ] {
        let q = t.queues.iter().find(|q| q.logical_id == logical_id).unwrap();
        let url = env_file.get("Parameters", var).unwrap();
        assert!(
            url.ends_with(&format!("/{}", queue_name("baton-local", q))),
            "{var} = {url}"
        );
    }
    for secret in [
        "WHATSAPP_APP_SECRET",
        "WHATSAPP_VERIFY_TOKEN",
        "INSTAGRAM_APP_SECRET",
        "INSTAGRAM_VERIFY_TOKEN",
        "EMAIL_ALIAS_SECRET",
        "LOCAL_JWT_SECRET",
    ] {
        assert!(
            env_file.get("Parameters", secret).is_some_and(|v| !v.is_empty()),
            "{secret} missing from env.json"
        );
    }
}

#[test]
fn every_function_is_a_crate_with_a_library_and_a_thin_main() {
    for f in &template().functions {
        let dir = root().join(&f.code_uri);
        assert!(dir.join("src/lib.rs").exists(), "{}: handler library", f.logical_id);
        let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap();
        assert!(
            main.lines().count() <= 15,
            "{}: main.rs stays a few lines",
            f.logical_id
        );
    }
}

/// The model ships with the deployment: `sam build` makes the layer from the pinned package,
/// byte for byte the files the tests and the evaluation rank with, and triage and the agent
/// API get it at the directory their EMBEDDING_MODEL_DIR names by default.
#[test]
fn sam_build_makes_the_embedding_model_layer_from_the_measured_model_files() {
    let t = template();
    assert_eq!(
        t.parameters.get("EmbeddingModelDir").cloned().flatten().as_deref(),
        Some("/opt/embedding-model")
    );
    for name in ["TriageFunction", "AgentApiFunction"] {
        let f = t.function(name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(f.layers, ["EmbeddingModelLayer"], "{name}");
        assert!(
            matches!(f.environment.get("EMBEDDING_MODEL_DIR"), Some(e) if e.target() == Some("EmbeddingModelDir")),
            "{name}"
        );
    }
    let out = std::env::temp_dir().join(format!("baton-layer-build-{}", std::process::id()));
    let built = std::process::Command::new(root().join(".venv/bin/sam"))
        .args(["build", "EmbeddingModelLayer", "--template"])
        .arg(root().join("template.yaml"))
        .arg("--build-dir")
        .arg(&out)
        .env("SAM_CLI_TELEMETRY", "0")
        .current_dir(root())
        .output()
        .expect("sam runs");
    assert!(
        built.status.success(),
        "sam build EmbeddingModelLayer: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let measured = baton_local::local_model_dir().expect("the model is installed");
    for file in ["config.json", "vocab.txt", "model.safetensors"] {
        let layer_file = std::fs::read(out.join("EmbeddingModelLayer/embedding-model").join(file)).unwrap();
        assert!(
            layer_file == std::fs::read(measured.join(file)).unwrap(),
            "{file} is the measured one"
        );
    }
    std::fs::remove_dir_all(&out).ok();
}
