//! Poison records under the local runner's real polling and redelivery: a record that can
//! never succeed (a malformed body, a message for a tenant that does not exist) is parked
//! with its reason and acknowledged, so the next message of its FIFO group is answered at
//! once instead of waiting out the queue's visibility timeout five times over. And the
//! demo shop the runner connects (as under `make dev`), asked by the real triage binary.

use baton_domain::conversation::Author;
use baton_domain::ports::{ConversationStore, PageRequest, ParkingStore};
use baton_domain::TenantId;
use baton_local::RunnerOptions;
use baton_tests::{build_binaries, env_with, eventually, intake_onto, queue, root, whatsapp_text, TestEnv};
use std::time::Duration;

/// Triage alone, with the queues it reads and writes (see the fixture).
const TEMPLATE: &str = "tests/fixtures/triage-template.yaml";

/// Puts `body` on the inbound queue in `group`, deduplicated by `dedup`.
async fn put_inbound(env: &TestEnv, group: &str, dedup: &str, body: String) {
    let (inbound_url, _) = env.resources.queue("InboundQueue").unwrap();
    aws_sdk_sqs::Client::new(&env.sdk)
        .send_message()
        .queue_url(inbound_url)
        .message_body(body)
        .message_group_id(group)
        .message_deduplication_id(baton_aws::sqs::dedup_id(dedup))
        .send()
        .await
        .unwrap();
}

/// The local runner over the fixture: the triage binary polling its queue.
async fn runner(env: &TestEnv) -> baton_local::Baton {
    let mut opts = RunnerOptions::for_repo(&root(), &env.resources.stack);
    opts.template = root().join(TEMPLATE);
    opts.env_file = None;
    baton_local::start(&env.sdk, &env.endpoint.url, opts)
        .await
        .expect("runner starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_unknown_tenant_records_are_parked_and_do_not_hold_up_their_group() {
    // Built the way `infra/local/invoke` builds functions, so the artifacts are shared.
    build_binaries();
    let env = env_with(TEMPLATE).await;
    baton_local::seed::seed_demo(&env.store).await.unwrap();

    // A real inbound message, built by intake on the staging queue.
    let message = whatsapp_text("31660000001", "wamid.parking.1", "How long does delivery take?");
    let good = intake_onto(&env, "StagingQueue", message).await;
    let mut ghost = good.clone();
    ghost.tenant_id = TenantId::new("ghost").unwrap();
    ghost.message.channel_message_id = "wamid.parking.ghost".into();

    // The two bad records go first in the good message's group.
    let group = good.conversation_id.to_string();
    for (dedup, body) in [
        ("bad-1".to_string(), "{\"tenant_id\": 42".to_string()),
        (ghost.dedup_key(), serde_json::to_string(&ghost).unwrap()),
        (good.dedup_key(), serde_json::to_string(&good).unwrap()),
    ] {
        put_inbound(&env, &group, &dedup, body).await;
    }

    let baton = runner(&env).await;

    // Answered well inside one visibility timeout (120 s): nothing held the group up.
    let started = std::time::Instant::now();
    let answered = eventually(45, || async {
        let thread = env
            .store
            .list_messages(&good.tenant_id, good.conversation_id, &PageRequest::first(10))
            .await
            .ok()?
            .items;
        (thread.iter().map(|m| m.author.clone()).collect::<Vec<_>>() == vec![Author::Customer, Author::Ai])
            .then_some(())
    })
    .await;
    assert!(answered.is_some(), "the good message was answered behind the bad ones");
    eprintln!("answered after {:?}", started.elapsed());

    let parked = eventually(10, || async {
        let p = env
            .store
            .list_parked(triage::CONSUMER, &PageRequest::first(10))
            .await
            .ok()?
            .items;
        (p.len() == 2).then_some(p)
    })
    .await
    .expect("both bad records are parked");
    assert!(parked[0].reason.contains("not an inbound message"), "{:?}", parked[0]);
    assert_eq!(parked[0].body, "{\"tenant_id\": 42");
    assert!(parked[1].reason.contains("unknown tenant ghost"), "{:?}", parked[1]);
    assert!(parked.iter().all(|p| p.group_id.as_deref() == Some(group.as_str())));
    // Nothing was stored for the unknown tenant.
    assert!(env
        .store
        .list_messages(&ghost.tenant_id, ghost.conversation_id, &PageRequest::first(10))
        .await
        .unwrap()
        .items
        .is_empty());

    // The queue is empty (in flight included) and nothing went to the dead-letter queue.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sqs = aws_sdk_sqs::Client::new(&env.sdk);
    for q in ["InboundQueue", "InboundDeadLetterQueue"] {
        let (url, _) = env.resources.queue(q).unwrap();
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default();
        for a in [
            aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
            aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        ] {
            assert_eq!(attrs.get(&a).map(String::as_str), Some("0"), "{q} {a:?}");
        }
    }

    // An operator replays the malformed one (`baton-local parked replay`): it goes back
    // on the queue in its group, leaves the parked list, and, still malformed, is parked
    // again under its new delivery.
    let inbound = queue(&env, "InboundQueue");
    let replayed = baton_app::parking::replay(&env.store, &inbound, triage::CONSUMER, Some(&parked[0].message_id))
        .await
        .unwrap();
    assert_eq!(replayed, 1);
    let again = eventually(20, || async {
        let p = baton_app::parking::list(&env.store, triage::CONSUMER).await.ok()?;
        (p.len() == 2 && p.iter().all(|r| r.message_id != parked[0].message_id)).then_some(p)
    })
    .await
    .expect("the replayed record was parked again");
    assert!(again.iter().any(|r| r.body == "{\"tenant_id\": 42"));
    drop(baton);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_s_demo_shop_answers_the_demo_customer_s_order_question() {
    build_binaries();
    let env = env_with(TEMPLATE).await;
    baton_local::seed::seed_demo(&env.store).await.unwrap();
    // The sample WhatsApp customer asks (built on the staging queue, whose receive hides
    // it, then put on the inbound queue); the real triage binary asks the shop.
    let phone = baton_local::shop_standin::DEV_CUSTOMER_PHONE.trim_start_matches('+');
    let message = whatsapp_text(phone, "wamid.devshop.1", "Where is my order #1001?");
    let inbound = intake_onto(&env, "StagingQueue", message).await;
    let body = serde_json::to_string(&inbound).unwrap();
    put_inbound(&env, &inbound.conversation_id.to_string(), &inbound.dedup_key(), body).await;
    let baton = runner(&env).await;
    assert!(baton.shop.is_some(), "the demo tenant's shop is connected");

    let answer = eventually(45, || async {
        let thread = env
            .store
            .list_messages(&inbound.tenant_id, inbound.conversation_id, &PageRequest::first(10))
            .await
            .ok()?;
        thread
            .items
            .into_iter()
            .find(|m| m.author == Author::Ai)
            .map(|m| m.text)
    })
    .await;
    let thread = env
        .store
        .list_messages(&inbound.tenant_id, inbound.conversation_id, &PageRequest::first(10))
        .await
        .unwrap();
    let answer = answer.unwrap_or_else(|| panic!("answered: {:?}", thread.items));
    assert!(answer.contains("#1001") && answer.contains("JD0142"), "{answer}");
    drop(baton);
}
