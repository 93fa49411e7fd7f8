//! Baton as its users meet it: Debian's Chromium, driven by Playwright (`web/e2e/`),
//! against the whole local product: every function of `template.yaml` behind the local
//! HTTP API, fed by its queues and schedules, and the demo page with `widget.js` and the
//! inbox from `web/dist`, exactly as `make dev` serves them (with its local sign-in).

use baton_local::RunnerOptions;
use baton_tests::{agent_token, build_binaries, local_secret, root, seeded_env, TestEnv};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// `infra/local/env.json` without the `make dev` stack's resource names (table, queues,
/// buckets), which the runner resolves for this test's own stack instead.
fn env_file_for_test_stack() -> PathBuf {
    let text = std::fs::read_to_string(root().join("infra/local/env.json")).expect("env.json");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("env.json is JSON");
    for section in v.as_object_mut().expect("object").values_mut() {
        if let Some(vars) = section.as_object_mut() {
            vars.retain(|_, val| !val.as_str().is_some_and(|s| s.contains("baton-local")));
        }
    }
    let path = std::env::temp_dir().join(format!("baton-browser-env-{}.json", std::process::id()));
    std::fs::write(&path, v.to_string()).expect("env file written");
    path
}

/// The local product on a free port, schedules every two seconds (the SLA sweep, the
/// outbox relay and the senders' due work come round quickly).
async fn start_baton(env: &TestEnv) -> baton_local::Baton {
    let mut opts = RunnerOptions::for_repo(&root(), &env.resources.stack);
    opts.env_file = Some(env_file_for_test_stack());
    opts.http_addr = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    opts.schedule_every = Some(Duration::from_secs(2));
    baton_local::start(&env.sdk, &env.endpoint.url, opts)
        .await
        .expect("the local product starts")
}

/// The web assets and the browser, as `make test` provides them (no-ops when present).
fn web_and_browser() {
    for script in ["infra/local/web", "infra/local/browser"] {
        let status = Command::new(root().join(script)).status().expect("script runs");
        assert!(status.success(), "{script} failed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_and_the_inbox_in_a_real_browser() {
    build_binaries();
    web_and_browser();
    let env = seeded_env().await;
    let baton = start_baton(&env).await;
    let base = format!("http://{}", baton.http_addr.expect("http"));
    let admin = agent_token(&env, "demo", "admin@demo.example", "admin").await;
    let agent = agent_token(&env, "demo", "ann@demo.example", "agent").await;
    let agent_id = agent_api::auth::agent_id_for_email("ann@demo.example").to_string();
    let artifacts = root().join("target/e2e");
    let out = tokio::process::Command::new("node")
        .args(["--test", "--test-reporter=spec", "e2e/product.test.mjs"])
        .current_dir(root().join("web"))
        .env("BATON_URL", &base)
        .env("BATON_ADMIN_TOKEN", &admin)
        .env("BATON_AGENT_TOKEN", &agent)
        .env("BATON_AGENT_ID", &agent_id)
        .env("BATON_ARTIFACTS", &artifacts)
        .env("BATON_AWS_URL", &env.endpoint.url)
        .env(
            "BATON_GRAPH_URL",
            &baton.graph.as_ref().expect("the Graph API stand-in").url,
        )
        .env("BATON_WHATSAPP_APP_SECRET", local_secret("WHATSAPP_APP_SECRET"))
        .output()
        .await
        .expect("node runs");
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the browser tests failed (output above)");
    assert!(
        artifacts.join("widget.png").is_file(),
        "the widget screenshot was saved"
    );
    drop(baton);
}
