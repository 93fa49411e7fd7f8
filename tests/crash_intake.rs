//! Crash safety of intake, channel by channel: every call the WhatsApp and Instagram
//! webhooks, the widget API and inbound e-mail make through their ports is failed, then
//! crashed, in turn; the channel then redelivers (Meta retries the delivery, the widget
//! retries its POST, Lambda retries the SES event) and the end state must be the one a
//! clean run leaves: exactly one message on the inbound queue, one customer and one
//! active conversation for the sender, the claim completed, and for e-mail the thread
//! reference pointing at the conversation the message went to.

use baton_app::intake::INTAKE_SCOPE;
use baton_aws::meta_webhook::MetaWebhook;
use baton_aws::S3Bucket;
use baton_domain::channels::{instagram, whatsapp};
use baton_domain::conversation::Owner;
use baton_domain::idempotency::{ClaimOutcome, IdempotencyPolicy};
use baton_domain::intake::InboundMessage;
use baton_domain::ports::{BlobStore, ConversationStore, CustomerStore, EmailRefStore, IdempotencyStore, Queue, Store};
use baton_domain::{Channel, Clock, TenantId};
use baton_tests::faults::{every_call, Fault, Faults, Faulty, SharedClock};
use baton_tests::{drain_inbound, local_secret, queue, root, seeded_env, TestEnv};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use std::sync::Arc;

struct World {
    env: TestEnv,
    faults: Arc<Faults>,
    store: Arc<dyn Store>,
    inbound: Arc<dyn Queue>,
    clock: SharedClock,
}

async fn world() -> World {
    let env = seeded_env().await;
    let faults = Faults::new();
    World {
        store: Arc::new(Faulty::new(env.store.clone(), &faults)),
        inbound: Arc::new(Faulty::new(queue(&env, "InboundQueue"), &faults)),
        clock: SharedClock::now_system(),
        faults,
        env,
    }
}

fn demo() -> TenantId {
    TenantId::new("demo").unwrap()
}

impl World {
    /// Runs one delivery with the fault armed, then redelivers (after the claim timeout)
    /// until it is accepted. Returns whether the fault was reached.
    async fn deliver<F, Fut>(&self, k: u64, fault: Fault, mut attempt: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        self.faults.arm(k, fault);
        let first = self.faults.run(attempt()).await;
        let fired = self.faults.fired();
        self.faults.disarm();
        if first == Some(true) {
            return fired;
        }
        for _ in 0..3 {
            self.clock.advance(time::Duration::minutes(2));
            if attempt().await {
                return fired;
            }
        }
        panic!("the redelivery was never accepted ({fault:?} at call {k})");
    }

    /// Exactly one message on the inbound queue, from `sender`, in a conversation that
    /// exists and is the identity's active one; the claim is completed.
    async fn assert_one_message(&self, channel: Channel, sender: &str, what: &str) -> InboundMessage {
        let mut queued = drain_inbound(&self.env).await;
        assert_eq!(queued.len(), 1, "{what}: exactly one message queued: {queued:?}");
        let m = queued.remove(0);
        assert_eq!((m.message.channel, m.message.sender_id.as_str()), (channel, sender));
        let c = self
            .env
            .store
            .get_conversation(&demo(), m.conversation_id)
            .await
            .expect("the conversation exists");
        assert_eq!((c.owner, c.customer_id), (Owner::Ai, m.customer_id), "{what}");
        let identity = self
            .env
            .store
            .find_identity(&demo(), channel, sender)
            .await
            .unwrap()
            .expect("the identity exists");
        assert_eq!(identity.customer_id, m.customer_id, "{what}: one customer");
        if channel != Channel::Email {
            // E-mail threads by its references, not by an active conversation.
            assert_eq!(identity.active_conversation, Some(m.conversation_id), "{what}");
        }
        let claim = self
            .env
            .store
            .claim(
                INTAKE_SCOPE,
                &m.dedup_key(),
                "-",
                self.clock.now(),
                IdempotencyPolicy::default(),
            )
            .await
            .unwrap();
        assert!(
            matches!(claim, ClaimOutcome::AlreadyCompleted(_) | ClaimOutcome::PayloadMismatch),
            "{what}: {claim:?}"
        );
        m
    }

    fn meta(&self, channel: Channel) -> MetaWebhook {
        let (prefix, parse): (&str, fn(&[u8]) -> _) = match channel {
            Channel::Whatsapp => ("WHATSAPP", whatsapp::parse),
            _ => ("INSTAGRAM", instagram::parse),
        };
        MetaWebhook {
            channel,
            verify_token: local_secret(&format!("{prefix}_VERIFY_TOKEN")),
            app_secret: local_secret(&format!("{prefix}_APP_SECRET")),
            parse,
            store: self.store.clone(),
            inbound_queue: self.inbound.clone(),
            clock: Box::new(self.clock.clone()),
            inactivity: baton_domain::conversation::DEFAULT_INACTIVITY,
        }
    }
}

fn event_body(name: &str) -> String {
    let event: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("events").join(name)).unwrap()).unwrap();
    event["body"].as_str().unwrap().to_owned()
}

/// Meta's delivery of `event` with the sender and message id made unique, signed.
async fn meta_case(w: &World, channel: Channel, event: &str, sender: &str, k: u64, fault: Fault) -> bool {
    let (old_sender, old_id) = match channel {
        Channel::Whatsapp => (
            "16505551234",
            "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUZCMTY0MDc2MUY5QkE1OEEyNwA=",
        ),
        _ => (
            "1254459154682919",
            "aWdfZAG1faW1fMTc4NDE0MDAwMDAwMDAwMToxMjU0NDU5MTU0NjgyOTE5OjE3OTUyNTMzOTAwMDA",
        ),
    };
    let body = event_body(event)
        .replace(old_sender, sender)
        .replace(old_id, &format!("mid.{sender}"));
    let webhook = w.meta(channel);
    let secret = webhook.app_secret.clone();
    let signature = baton_domain::meta::sign(&secret, body.as_bytes());
    let fired = w
        .deliver(k, fault, || async {
            webhook.deliver(Some(&signature), body.as_bytes()).await.status == 200
        })
        .await;
    let m = w
        .assert_one_message(channel, sender, &format!("{channel} {fault:?} at {k}"))
        .await;
    assert_eq!(m.message.channel_message_id, format!("mid.{sender}"));
    fired
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whatsapp_delivery_survives_a_fault_at_every_call_and_queues_one_message() {
    let w = world().await;
    every_call("whatsapp intake", 6, |k, fault| {
        let w = &w;
        async move {
            meta_case(
                w,
                Channel::Whatsapp,
                "whatsapp-text.json",
                &format!("3170{k:03}{}", fault as u8),
                k,
                fault,
            )
            .await
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instagram_delivery_survives_a_fault_at_every_call_and_queues_one_message() {
    let w = world().await;
    every_call("instagram intake", 6, |k, fault| {
        let w = &w;
        async move {
            meta_case(
                w,
                Channel::Instagram,
                "instagram-text.json",
                &format!("9171{k:03}{}", fault as u8),
                k,
                fault,
            )
            .await
        }
    })
    .await;
}

fn widget_request(method: &str, path: &str, token: Option<&str>, body: Value) -> lambda_http::Request {
    let mut headers = json!({ "content-type": "application/json", "origin": "http://127.0.0.1:3000" });
    if let Some(t) = token {
        headers["authorization"] = format!("Bearer {t}").into();
    }
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "", "headers": headers,
        "requestContext": { "accountId": "1", "apiId": "l", "domainName": "l", "domainPrefix": "l",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "198.51.100.7", "userAgent": "t" },
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "22/Nov/2026:09:30:00 +0000", "timeEpoch": 0 },
        "body": body.to_string(), "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_widget_message_survives_a_fault_at_every_call_and_queues_one_message() {
    let w = world().await;
    let widget = |store: Arc<dyn Store>, inbound: Arc<dyn Queue>| webhook_widget::Deps {
        store,
        inbound_queue: inbound,
        queues: Default::default(),
        token_secret: local_secret("WIDGET_TOKEN_SECRET"),
        clock: Box::new(w.clock.clone()),
    };
    let clean = widget(Arc::new(w.env.store.clone()), Arc::new(queue(&w.env, "InboundQueue")));
    every_call("widget intake", 3, |k, fault| {
        let w = &w;
        let clean = &clean;
        let faulty = widget(w.store.clone(), w.inbound.clone());
        async move {
            // A visitor starts a conversation (no faults), then posts under faults.
            let resp = webhook_widget::handler(
                clean,
                widget_request(
                    "POST",
                    "/widget/v1/conversations",
                    None,
                    json!({ "widget_key": "wk_demo" }),
                ),
            )
            .await
            .unwrap();
            let started: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
            let (conv, token) = (
                started["conversation_id"].as_str().unwrap().to_owned(),
                started["visitor_token"].as_str().unwrap().to_owned(),
            );
            let path = format!("/widget/v1/conversations/{conv}/messages");
            let body = json!({ "client_message_id": format!("c-{k}"), "text": "Do you ship to Norway?" });
            let fired = w
                .deliver(k, fault, || async {
                    let resp =
                        webhook_widget::handler(&faulty, widget_request("POST", &path, Some(&token), body.clone()))
                            .await
                            .unwrap();
                    resp.status() == 202
                })
                .await;
            let queued = drain_inbound(&w.env).await;
            assert_eq!(queued.len(), 1, "widget {fault:?} at {k}: exactly one message queued");
            assert_eq!(queued[0].conversation_id.to_string(), conv);
            assert_eq!(queued[0].message.text, "Do you ship to Norway?");
            fired
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_email_survives_a_fault_at_every_call_and_queues_one_threaded_message() {
    let w = world().await;
    let bucket_name = match w.env.resources.physical.get("RawMailBucket").unwrap() {
        baton_local::provision::Physical::Bucket { name } => name.clone(),
        _ => unreachable!(),
    };
    let bucket = S3Bucket::new(S3Bucket::client_for(&w.env.sdk), bucket_name);
    let raw =
        std::fs::read_to_string(root().join("events/email/o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1.eml")).unwrap();
    let receipt: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("events/ses-receipt.json")).unwrap()).unwrap();
    every_call("inbound e-mail", 6, |k, fault| {
        let w = &w;
        let bucket = &bucket;
        let raw = &raw;
        let receipt = &receipt;
        async move {
            let id = format!("ses{k:03}{}", fault as u8);
            let from = format!("jose{k}.{}@example.com", fault as u8);
            let message_id = format!("<{id}@mail.example.com>");
            let mail = raw
                .replace("<CAF7nKq2x9=ZQ4411@mail.example.com>", &message_id)
                .replace("Jose@Example.com", &from);
            bucket
                .put(&format!("inbound/{id}"), mail.into_bytes(), "message/rfc822")
                .await
                .unwrap();
            let mut event = receipt.clone();
            event["Records"][0]["ses"]["mail"]["messageId"] = id.clone().into();
            let deps = inbound_email::Deps {
                store: w.store.clone(),
                inbound_queue: w.inbound.clone(),
                mail: Box::new(Faulty::new(bucket.clone(), &w.faults)),
                raw_prefix: "inbound/".into(),
                alias_secret: local_secret("EMAIL_ALIAS_SECRET"),
                clock: Box::new(w.clock.clone()),
            };
            let fired = w
                .deliver(k, fault, || async {
                    let out = inbound_email::handler(&deps, LambdaEvent::new(event.clone(), Context::default())).await;
                    out.is_ok_and(|v| v["results"][0]["outcome"] != "failed")
                })
                .await;
            let m = w
                .assert_one_message(Channel::Email, &from.to_lowercase(), &format!("email {fault:?} at {k}"))
                .await;
            let thread = w
                .env
                .store
                .find_email_ref(
                    &demo(),
                    &[
                        message_id.trim_matches(|c| c == '<' || c == '>').to_owned(),
                        message_id.clone(),
                    ],
                )
                .await
                .unwrap();
            assert_eq!(
                thread,
                Some(m.conversation_id),
                "email {fault:?} at {k}: the thread points at its conversation"
            );
            fired
        }
    })
    .await;
}
