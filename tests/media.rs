//! WhatsApp and Instagram media on a ticket: listed on the thread, fetched once through
//! the Graph API (a local server that speaks its wire format, errors included) into S3 on
//! the first download, then served from S3.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use baton_aws::graph::GraphMedia;
use baton_aws::S3Bucket;
use baton_domain::conversation::Attachment;
use baton_domain::ports::ConversationStore;
use baton_domain::{Channel, TenantId};
use baton_tests::{agent_call, agent_token, intake_onto, seeded_env, whatsapp_text};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

const TOKEN: &str = "EAAG-test-system-user-token";
const PHOTO: &[u8] = b"\xff\xd8\xff\xe0 a jpeg, as far as this test cares";

#[derive(Clone, Default)]
struct Graph {
    lookups: Arc<AtomicU32>,
    base: Arc<std::sync::Mutex<String>>,
}

fn graph_error(status: StatusCode, code: i64, message: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        json!({ "error": { "message": message, "type": "GraphMethodException", "code": code, "error_subcode": 33, "fbtrace_id": "AbCdEf" } })
            .to_string(),
    )
        .into_response()
}

fn bearer_ok(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

/// `GET /v21.0/{media-id}`: the media's URL and type, as WhatsApp Cloud API answers.
async fn media_info(State(g): State<Graph>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    g.lookups.fetch_add(1, Ordering::SeqCst);
    if !bearer_ok(&headers) {
        return graph_error(StatusCode::UNAUTHORIZED, 190, "Error validating access token");
    }
    if id != "1037543291543636" {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            &format!("Unsupported get request. Object with ID '{id}' does not exist"),
        );
    }
    let base = g.base.lock().unwrap().clone();
    (
        [("content-type", "application/json")],
        json!({ "messaging_product": "whatsapp", "url": format!("{base}/whatsapp_business/attachments/?mid={id}"),
                "mime_type": "image/jpeg", "sha256": "0f3c", "file_size": PHOTO.len().to_string(), "id": id })
        .to_string(),
    )
        .into_response()
}

async fn whatsapp_bytes(headers: HeaderMap) -> Response {
    if !bearer_ok(&headers) {
        return graph_error(StatusCode::UNAUTHORIZED, 190, "Error validating access token");
    }
    ([("content-type", "image/jpeg")], PHOTO).into_response()
}

async fn instagram_cdn() -> Response {
    ([("content-type", "image/png")], b"\x89PNG instagram".as_slice()).into_response()
}

async fn graph() -> (Graph, String) {
    let g = Graph::default();
    let app = Router::new()
        .route("/v21.0/{id}", get(media_info))
        .route("/whatsapp_business/attachments/", get(whatsapp_bytes))
        .route("/ig_messaging_cdn/", get(instagram_cdn))
        .with_state(g.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *g.base.lock().unwrap() = base.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (g, base)
}

fn image(reference: &str) -> Attachment {
    Attachment {
        kind: "image".into(),
        reference: reference.into(),
        mime_type: Some("image/jpeg".into()),
        caption: Some("the broken lamp".into()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_media_is_listed_fetched_once_into_s3_and_then_served_from_there() {
    let env = seeded_env().await;
    let (g, base) = graph().await;
    let bucket = match env.resources.physical.get("RawMailBucket").unwrap() {
        baton_local::provision::Physical::Bucket { name } => {
            S3Bucket::new(S3Bucket::client_for(&env.sdk), name.clone())
        }
        _ => unreachable!(),
    };
    let api = agent_api::Deps {
        files: Some(Arc::new(bucket)),
        media: Some(Arc::new(GraphMedia::new(
            format!("{base}/v21.0"),
            Arc::new(baton_aws::graph::EnvTokens {
                whatsapp: Some(TOKEN.into()),
                instagram: None,
            }),
        ))),
        ..baton_tests::agent_api_deps(&env, Arc::new(env.store.clone()))
    };
    let triage = baton_tests::triage_deps(&env, Arc::new(env.store.clone()));
    let token = agent_token(&env, "demo", "ada@demo.example", "agent").await;

    // A WhatsApp photo, a photo WhatsApp no longer has, and an Instagram picture.
    let mut wa = whatsapp_text(
        "31612345678",
        "wamid.media.1",
        "I want to talk to a human, the lamp is broken",
    );
    wa.attachments = vec![image("1037543291543636"), image("999")];
    let m = intake_onto(&env, "InboundQueue", wa).await;
    baton_tests::triage_records(&triage, std::slice::from_ref(&m)).await;
    let mut ig = whatsapp_text(
        "17841499999999999",
        "mid.media.2",
        "I want to talk to a human about this",
    );
    ig.channel = Channel::Instagram;
    ig.account_id = "17841400000000001".into();
    ig.attachments = vec![Attachment {
        kind: "image".into(),
        reference: format!("{base}/ig_messaging_cdn/?asset_id=42"),
        ..Default::default()
    }];
    let i = intake_onto(&env, "InboundQueue", ig).await;
    baton_tests::triage_records(&triage, std::slice::from_ref(&i)).await;

    let demo = TenantId::new("demo").unwrap();
    let ticket_of = |conversation| {
        let store = env.store.clone();
        let demo = demo.clone();
        async move {
            store
                .get_conversation(&demo, conversation)
                .await
                .unwrap()
                .ticket
                .unwrap()
                .0
        }
    };
    let (_, _, detail) = agent_call(
        &api,
        &token,
        "GET",
        &format!("/v1/tickets/{}", ticket_of(m.conversation_id).await),
        None,
    )
    .await;
    let first = &detail["thread"][0];
    let attachments = first["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 2, "{detail}");
    assert_eq!(attachments[0]["kind"], "image");
    assert_eq!(attachments[0]["caption"], "the broken lamp");
    assert_eq!(first["sender"]["id"], "31612345678");

    let download = |path: Value| {
        let api = &api;
        let token = token.clone();
        async move { agent_call(api, &token, "GET", path.as_str().unwrap(), None).await }
    };
    let (status, _, link) = download(attachments[0]["download"].clone()).await;
    assert_eq!(status, 200, "{link}");
    assert_eq!(link["size"], PHOTO.len());
    let r = reqwest::get(link["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(r.bytes().await.unwrap().as_ref(), PHOTO);
    // Served from S3 from now on: the Graph API is not asked again.
    let (status, _, _) = download(attachments[0]["download"].clone()).await;
    assert_eq!(status, 200);
    assert_eq!(g.lookups.load(Ordering::SeqCst), 1, "fetched once");

    let (status, _, gone) = download(attachments[1]["download"].clone()).await;
    assert_eq!(
        (status, gone["error"]["code"].as_str()),
        (404, Some("media_gone")),
        "{gone}"
    );

    let (_, _, detail) = agent_call(
        &api,
        &token,
        "GET",
        &format!("/v1/tickets/{}", ticket_of(i.conversation_id).await),
        None,
    )
    .await;
    let (status, _, link) = download(detail["thread"][0]["attachments"][0]["download"].clone()).await;
    assert_eq!(status, 200, "{link}");
    let bytes = reqwest::get(link["url"].as_str().unwrap())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), b"\x89PNG instagram");
}
