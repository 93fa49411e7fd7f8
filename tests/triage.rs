//! Triage: inbound messages from a real channel (the widget API) through the triage
//! handler, against the local endpoint: answers, handoffs with the whole story, silence
//! while humans own the conversation, one effect per delivery.

use aws_lambda_events::event::sqs::SqsEvent;
use baton_domain::conversation::{Author, Owner};
use baton_domain::intake::InboundMessage;
use baton_domain::outbound::{OutboundMessage, RoutingRequest};
use baton_domain::ports::{ConversationStore, PageRequest, TicketStore};
use baton_domain::ticket::{Status, TimelineKind};
use baton_domain::{SystemClock, TenantId};
use baton_tests::{drain_inbound, drain_queue, local_secret, queue, seeded_env, TestEnv};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;

struct Harness {
    env: TestEnv,
    widget: webhook_widget::Deps,
    triage: triage::Deps,
}

async fn harness() -> Harness {
    let env = seeded_env().await;
    let widget = webhook_widget::Deps {
        store: std::sync::Arc::new(env.store.clone()),
        inbound_queue: std::sync::Arc::new(queue(&env, "InboundQueue")),
        queues: baton_app::Queues {
            analytics: Some(std::sync::Arc::new(queue(&env, "AnalyticsQueue"))),
            ..Default::default()
        },
        token_secret: local_secret("WIDGET_TOKEN_SECRET"),
        clock: Box::new(SystemClock),
    };
    let triage = baton_tests::triage_deps(&env, std::sync::Arc::new(env.store.clone()));
    Harness { env, widget, triage }
}

async fn widget_call(
    h: &Harness,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: serde_json::Value,
) -> serde_json::Value {
    let mut headers = json!({ "content-type": "application/json" });
    if let Some(t) = token {
        headers["authorization"] = format!("Bearer {t}").into();
    }
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let params: serde_json::Map<String, serde_json::Value> = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.into()))
        .collect();
    let event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query, "headers": headers,
        "queryStringParameters": params,
        "requestContext": { "accountId": "1", "apiId": "l", "domainName": "l", "domainPrefix": "l",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "198.51.100.9", "userAgent": "t" },
            "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "21/Nov/2026:09:30:00 +0000", "timeEpoch": 0 },
        "body": body.to_string(), "isBase64Encoded": false
    });
    let resp = webhook_widget::handler(&h.widget, lambda_http::request::from_str(&event.to_string()).unwrap())
        .await
        .unwrap();
    serde_json::from_slice(resp.body().as_ref()).unwrap()
}

/// A visitor's conversation: returns a function that posts a message and runs triage on it.
async fn start(h: &Harness) -> (String, String) {
    let r = widget_call(
        h,
        "POST",
        "/widget/v1/conversations",
        None,
        json!({ "widget_key": "wk_demo", "name": "Vera" }),
    )
    .await;
    (
        r["conversation_id"].as_str().unwrap().to_owned(),
        r["visitor_token"].as_str().unwrap().to_owned(),
    )
}

fn sqs_event(messages: &[InboundMessage]) -> SqsEvent {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            json!({ "messageId": format!("m{i}-{}", m.dedup_key()), "receiptHandle": "rh", "body": serde_json::to_string(m).unwrap(),
                "attributes": { "ApproximateReceiveCount": "1", "MessageGroupId": m.conversation_id.to_string() },
                "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:inbound.fifo", "awsRegion": "us-east-1" })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

async fn say(h: &Harness, conv: &str, token: &str, id: &str, text: &str) -> Vec<InboundMessage> {
    let r = widget_call(
        h,
        "POST",
        &format!("/widget/v1/conversations/{conv}/messages"),
        Some(token),
        json!({ "client_message_id": id, "text": text }),
    )
    .await;
    assert_eq!(r["status"], "accepted", "{r}");
    let inbound = drain_inbound(&h.env).await;
    triage_run(h, &inbound).await;
    inbound
}

async fn triage_run(h: &Harness, inbound: &[InboundMessage]) {
    let resp = triage::handler(&h.triage, LambdaEvent::new(sqs_event(inbound), Context::default()))
        .await
        .unwrap();
    assert!(resp.batch_item_failures.is_empty(), "no record failed");
}

async fn open_tickets(h: &Harness) -> Vec<baton_domain::ticket::Ticket> {
    h.env
        .store
        .list_by_status(&demo(), Status::Open, &PageRequest::first(10))
        .await
        .unwrap()
        .items
}

/// The conversation's messages, oldest first.
async fn thread(h: &Harness, conv: &str) -> Vec<baton_domain::conversation::Message> {
    h.env
        .store
        .list_messages(&demo(), conv.parse().unwrap(), &PageRequest::first(10))
        .await
        .unwrap()
        .items
}

fn demo() -> TenantId {
    TenantId::new("demo").unwrap()
}

#[tokio::test]
async fn a_routine_question_is_answered_from_the_kb_without_a_ticket() {
    let h = harness().await;
    let (conv, token) = start(&h).await;
    let inbound = say(&h, &conv, &token, "q1", "How long does delivery take?").await;
    let out: Vec<OutboundMessage> = drain_queue(&h.env, "OutboundQueue").await;
    assert_eq!(out.len(), 1);
    assert!(out[0].text.contains("3 to 5 business days"), "{}", out[0].text);
    assert_eq!(out[0].to, inbound[0].message.sender_id);
    let open = open_tickets(&h).await;
    assert!(open.is_empty(), "no ticket for a routine question");
    let thread = thread(&h, &conv).await;
    let authors: Vec<Author> = thread.iter().map(|m| m.author.clone()).collect();
    assert_eq!(
        authors,
        vec![Author::Customer, Author::Ai],
        "the widget sees one thread"
    );
    // The widget's poll shows both.
    let polled = widget_call(
        &h,
        "GET",
        &format!("/widget/v1/conversations/{conv}/messages"),
        Some(&token),
        json!(null),
    )
    .await;
    assert_eq!(polled["messages"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn asking_for_a_human_opens_a_ticket_with_the_whole_story_and_the_ai_goes_quiet() {
    let h = harness().await;
    let (conv, token) = start(&h).await;
    say(&h, &conv, &token, "q1", "How long does delivery take?").await;
    let _: Vec<OutboundMessage> = drain_queue(&h.env, "OutboundQueue").await;
    say(&h, &conv, &token, "q2", "I want to speak to a human").await;

    let routed: Vec<RoutingRequest> = drain_queue(&h.env, "RoutingQueue").await;
    assert_eq!(routed.len(), 1);
    let ticket = h.env.store.get_ticket(&demo(), routed[0].ticket).await.unwrap();
    assert_eq!(ticket.status, Status::Open);
    assert_eq!(ticket.handoff_reason.as_deref(), Some("the customer asked for a human"));
    assert!(ticket.tags.contains(&"handoff:asked_for_human".to_string()));
    let summary = ticket.ai_summary.clone().unwrap();
    assert!(
        summary.contains("How long does delivery take?") && summary.contains("asked for a human"),
        "{summary}"
    );
    assert_eq!(ticket.subject, "How long does delivery take?");
    let timeline = h
        .env
        .store
        .list_timeline(&demo(), ticket.number, &PageRequest::first(50))
        .await
        .unwrap()
        .items;
    let texts: Vec<String> = timeline
        .iter()
        .filter_map(|e| match &e.entry {
            TimelineKind::Message { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(texts.len(), 3, "question, AI answer, request for a human: {texts:?}");
    assert!(
        texts[1].contains("3 to 5 business days"),
        "the AI's reply is on the ticket"
    );
    let handoff = timeline
        .iter()
        .find(|e| matches!(&e.entry, TimelineKind::Event { name, .. } if name == "handed_off"))
        .unwrap();
    if let TimelineKind::Event { detail, .. } = &handoff.entry {
        assert_eq!(detail["reason"]["code"], "asked_for_human");
    }

    // The customer is told once.
    let told: Vec<OutboundMessage> = drain_queue(&h.env, "OutboundQueue").await;
    assert_eq!(told.len(), 1);
    assert!(told[0].text.contains(&format!("#{}", ticket.number)));
    let conversation = h
        .env
        .store
        .get_conversation(&demo(), conv.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        (conversation.owner, conversation.ticket),
        (Owner::Human, Some(ticket.number))
    );

    // Now humans own it: a routine question gets no bot reply and joins the ticket.
    say(&h, &conv, &token, "q3", "How long does delivery take?").await;
    let silent: Vec<OutboundMessage> = drain_queue(&h.env, "OutboundQueue").await;
    assert!(silent.is_empty(), "the AI stays silent on a human-owned conversation");
    let timeline = h
        .env
        .store
        .list_timeline(&demo(), ticket.number, &PageRequest::first(50))
        .await
        .unwrap()
        .items;
    assert_eq!(
        timeline
            .iter()
            .filter(|e| matches!(e.entry, TimelineKind::Message { .. }))
            .count(),
        4
    );
    assert!(
        drain_queue::<RoutingRequest>(&h.env, "RoutingQueue").await.is_empty(),
        "no second ticket"
    );
}

#[tokio::test]
async fn a_redelivered_message_has_one_effect() {
    let h = harness().await;
    let (conv, token) = start(&h).await;
    let inbound = say(&h, &conv, &token, "q1", "agent please").await;
    // SQS redelivers the same record (and a duplicate appears in the same batch).
    triage_run(&h, &[inbound[0].clone(), inbound[0].clone()]).await;
    assert_eq!(drain_queue::<RoutingRequest>(&h.env, "RoutingQueue").await.len(), 1);
    assert_eq!(drain_queue::<OutboundMessage>(&h.env, "OutboundQueue").await.len(), 1);
    let open = open_tickets(&h).await;
    assert_eq!(open.len(), 1);
}

#[tokio::test]
async fn an_uncovered_question_hands_off_with_the_articles_consulted() {
    let h = harness().await;
    let (conv, token) = start(&h).await;
    say(
        &h,
        &conv,
        &token,
        "q1",
        "Can you recommend a good lawyer for my divorce?",
    )
    .await;
    let routed: Vec<RoutingRequest> = drain_queue(&h.env, "RoutingQueue").await;
    assert_eq!(routed.len(), 1);
    let ticket = h.env.store.get_ticket(&demo(), routed[0].ticket).await.unwrap();
    assert!(ticket.handoff_reason.is_some());
}

#[tokio::test]
async fn a_tenant_past_its_ai_quota_is_handed_off_not_silenced() {
    use baton_domain::ports::TenantStore;
    let h = harness().await;
    let quotas = baton_domain::tenant::Quotas {
        ai_messages_per_minute: 2,
        ..Default::default()
    };
    h.env.store.set_quotas(&demo(), &quotas).await.unwrap();
    for (i, visitor) in ["v1", "v2"].iter().enumerate() {
        let (conv, token) = start(&h).await;
        say(
            &h,
            &conv,
            &token,
            &format!("{visitor}-{i}"),
            "How long does delivery take?",
        )
        .await;
    }
    let answered: Vec<OutboundMessage> = drain_queue(&h.env, "OutboundQueue").await;
    assert_eq!(answered.len(), 2);
    assert!(answered.iter().all(|o| o.text.contains("3 to 5 business days")));
    assert!(open_tickets(&h).await.is_empty());
    // The third AI-handled message this minute: the customer still hears back, from a
    // ticket a person will answer. (The test's clock is the wall clock: should the
    // minute turn between the messages, the day's quota of 2 catches it instead.)
    h.env
        .store
        .set_quotas(
            &demo(),
            &baton_domain::tenant::Quotas {
                ai_messages_per_minute: 2,
                ai_messages_per_day: 2,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (conv, token) = start(&h).await;
    say(&h, &conv, &token, "v3-2", "How long does delivery take?").await;
    let tickets = open_tickets(&h).await;
    assert_eq!(tickets.len(), 1);
    assert!(
        tickets[0].tags.iter().any(|t| t == "handoff:ai_quota"),
        "{:?}",
        tickets[0].tags
    );
    let notice: Vec<OutboundMessage> = drain_queue(&h.env, "OutboundQueue").await;
    assert_eq!(notice.len(), 1, "the customer is told a person will answer");
    assert!(!notice[0].text.contains("3 to 5 business days"));
}

#[tokio::test]
async fn a_ticket_holds_the_whole_conversation_however_long() {
    use baton_domain::conversation::{Direction, Message};
    use baton_domain::Clock;
    let h = harness().await;
    let (conv, token) = start(&h).await;
    let conversation: baton_domain::ConversationId = conv.parse().unwrap();
    for i in 0..45 {
        let m = Message {
            tenant_id: demo(),
            conversation_id: conversation,
            id: ulid::Ulid::new(),
            direction: if i % 2 == 0 {
                Direction::Inbound
            } else {
                Direction::Outbound
            },
            author: if i % 2 == 0 { Author::Customer } else { Author::Ai },
            text: format!("earlier message {i}"),
            attachments: vec![],
            channel_message_id: None,
            delivery: None,
            delivery_error: None,
            created_at: SystemClock.now(),
            sent_at: None,
            sender: None,
            original: None,
            choices: vec![],
            survey: None,
        };
        h.env.store.append_message(&m).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    say(&h, &conv, &token, "long-1", "I want to talk to a human").await;
    let ticket = open_tickets(&h).await.remove(0);
    let texts = baton_tests::message_texts(&baton_tests::timeline(&h.env, ticket.number).await);
    assert_eq!(
        texts.first().map(String::as_str),
        Some("earlier message 0"),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t == "earlier message 44"));
    assert!(texts.iter().any(|t| t == "I want to talk to a human"));
    assert!(
        texts.len() >= 46,
        "every message since the context start: {}",
        texts.len()
    );
}

#[tokio::test]
async fn close_sibling_articles_get_a_clarifying_question_and_the_customers_pick_is_answered() {
    let h = harness().await;
    baton_tests::put_sibling_card_articles(&h.env.store).await;
    let (conv, token) = start(&h).await;
    say(&h, &conv, &token, "q1", "what is wrong with my card").await;
    let asked: Vec<OutboundMessage> = drain_queue(&h.env, "OutboundQueue").await;
    assert_eq!(asked.len(), 1);
    assert!(
        asked[0].text.contains("1. Card") && asked[0].text.contains("2. Card"),
        "{}",
        asked[0].text
    );
    let thread = thread(&h, &conv).await;
    let question = thread
        .iter()
        .find(|m| m.author == Author::Ai)
        .expect("the question is stored");
    assert_eq!(
        question.choices.len(),
        2,
        "the offered articles are kept with the question"
    );
    let second = question.choices[1].clone();

    say(&h, &conv, &token, "q2", "2").await;
    let answered: Vec<OutboundMessage> = drain_queue(&h.env, "OutboundQueue").await;
    let want = if second.as_str() == "card-blocked" {
        "three wrong PINs"
    } else {
        "a limit or a wrong PIN"
    };
    assert_eq!(answered.len(), 1);
    assert!(answered[0].text.contains(want), "{}", answered[0].text);
    assert!(open_tickets(&h).await.is_empty(), "no ticket: the pick was answered");

    // The next unclear turn hands off instead of asking again.
    say(&h, &conv, &token, "q3", "what is wrong with my card").await;
    let asked_again: Vec<OutboundMessage> = drain_queue(&h.env, "OutboundQueue").await;
    assert_eq!(asked_again.len(), 1);
    say(&h, &conv, &token, "q4", "no idea").await;
    let routed: Vec<RoutingRequest> = drain_queue(&h.env, "RoutingQueue").await;
    assert_eq!(routed.len(), 1, "a reply that settles nothing hands off");
    let ticket = h.env.store.get_ticket(&demo(), routed[0].ticket).await.unwrap();
    assert_eq!(
        ticket.handoff_reason,
        Some(baton_domain::triage::HandoffReason::StillUnclear.describe())
    );
}

/// The channel sender as the widget's replies meet it (no Graph API is ever called).
fn widget_sender(h: &Harness) -> channel_sender::Deps {
    use std::sync::Arc;
    channel_sender::Deps {
        store: Arc::new(h.env.store.clone()),
        api: Arc::new(baton_aws::graph::GraphSender::new("http://127.0.0.1:9/v21.0")),
        tokens: Arc::new(baton_aws::graph::EnvTokens {
            whatsapp: None,
            instagram: None,
        }),
        clock: Arc::new(SystemClock),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_shows_the_survey_inline_once_released_and_takes_the_visitor_s_rating() {
    use std::sync::Arc;
    let h = harness().await;
    let (conv, token) = start(&h).await;
    say(&h, &conv, &token, "c1", "I want to talk to a human").await;
    let number = open_tickets(&h).await[0].number;
    let api = baton_tests::agent_api_deps(&h.env, Arc::new(h.env.store.clone()));
    let agent = baton_tests::agent_token(&h.env, "demo", "ada@demo.example", "agent").await;
    let version = || async { h.env.store.get_ticket(&demo(), number).await.unwrap().version };
    let path = format!("/v1/tickets/{}", number.0);
    let reply = json!({ "version": version().await, "text": "Sorted: the refund is on its way." });
    let (status, _, body) =
        baton_tests::agent_call(&api, &agent, "POST", &format!("{path}/replies"), Some(reply)).await;
    assert_eq!(status, 201, "{body}");
    let resolve = json!({ "version": version().await, "status": "resolved" });
    let (status, _, body) = baton_tests::agent_call(&api, &agent, "PATCH", &path, Some(resolve)).await;
    assert_eq!(status, 200, "{body}");

    // Not shown before its sender releases it, and the cursor stops before it.
    let poll = |after: String| {
        let (h, conv, token) = (&h, conv.clone(), token.clone());
        async move {
            widget_call(
                h,
                "GET",
                &format!("/widget/v1/conversations/{conv}/messages?after={after}"),
                Some(&token),
                json!(null),
            )
            .await
        }
    };
    let first = poll(String::new()).await;
    let texts: Vec<&str> = first["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.last(), Some(&"Sorted: the refund is on its way."), "{first}");
    assert!(first["messages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m.get("survey").is_none()));
    let sender = widget_sender(&h);
    let batch = baton_tests::take_batch(&h.env, "OutboundQueue").await;
    let out = channel_sender::handler(&sender, LambdaEvent::new(batch, Context::default()))
        .await
        .unwrap();
    assert!(out.batch_item_failures.is_empty());
    let next = poll(first["cursor"].as_str().unwrap().to_owned()).await;
    let messages = next["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{next}");
    assert_eq!(messages[0]["text"], "How would you rate the help you received?");
    assert_eq!(
        messages[0]["survey"],
        json!({ "ticket": number.0, "cycle": 1, "ratings": [1, 2, 3, 4, 5] })
    );

    // The visitor rates it; another cycle (or conversation) is not theirs to answer.
    let answer = |cycle: u32, rating: u8| {
        let (h, conv, token) = (&h, conv.clone(), token.clone());
        async move {
            widget_call(
                h,
                "POST",
                &format!("/widget/v1/conversations/{conv}/survey"),
                Some(&token),
                json!({ "ticket": number.0, "cycle": cycle, "rating": rating }),
            )
            .await
        }
    };
    assert_eq!(answer(1, 5).await["status"], "recorded");
    assert_eq!(answer(2, 5).await["error"]["code"], "not_found");
    assert_eq!(answer(1, 7).await["error"]["code"], "invalid");
    let survey = baton_tests::cycle_survey(&h.env, number.0, 1).await;
    assert_eq!(survey.response.unwrap().rating, 5);
    assert_eq!(survey.offer, baton_domain::csat::Offer::Sent { how: "inline".into() });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_shows_an_ai_resolutions_survey_once_due_and_takes_the_visitor_s_rating() {
    let h = harness().await;
    let (conv, token) = start(&h).await;
    say(&h, &conv, &token, "a1", "How long does delivery take?").await;
    let survey_path = format!("/widget/v1/conversations/{conv}/survey");
    let poll = |after: String| {
        let path = format!("/widget/v1/conversations/{conv}/messages?after={after}");
        let (h, token) = (&h, token.clone());
        async move { widget_call(h, "GET", &path, Some(&token), json!(null)).await }
    };
    let first = poll(String::new()).await;
    let messages = first["messages"].as_array().unwrap();
    assert_eq!(messages.last().unwrap()["from"], "assistant", "{first}");
    let answer = messages.last().unwrap()["id"].as_str().unwrap().to_owned();
    // A thanks confirms it; the widget's cursor moves past the thanks.
    say(&h, &conv, &token, "a2", "Thanks, that helped!").await;
    let thanked = poll(first["cursor"].as_str().unwrap().to_owned()).await;
    assert_eq!(thanked["messages"][0]["from"], "visitor", "{thanked}");
    let cursor = thanked["cursor"].as_str().unwrap().to_owned();

    // An hour on, the AI's answer stood: its survey is released inline.
    let sender = widget_sender(&h);
    baton_tests::take_batch(&h.env, "OutboundQueue").await;
    let at = baton_domain::Clock::now(&SystemClock).plus(time::Duration::minutes(61));
    baton_app::relay::sweep(&h.env.store, &h.triage.queues, at, 50)
        .await
        .unwrap();
    let batch = baton_tests::take_batch(&h.env, "OutboundQueue").await;
    assert_eq!(batch.records.len(), 1, "the survey");
    let out = channel_sender::handler(&sender, LambdaEvent::new(batch, Context::default()))
        .await
        .unwrap();
    assert!(out.batch_item_failures.is_empty());
    let now = poll(cursor).await;
    assert_eq!(now["messages"].as_array().unwrap().len(), 1, "{now}");
    let last = now["messages"][0].clone();
    assert_eq!(
        last["survey"],
        json!({ "answer": answer, "ratings": [1, 2, 3, 4, 5] }),
        "{now}"
    );

    // The visitor rates the answer; a body naming no survey is refused.
    let rate = |body: serde_json::Value| widget_call(&h, "POST", &survey_path, Some(&token), body);
    assert_eq!(
        rate(json!({ "answer": answer, "rating": 4 })).await["status"],
        "recorded"
    );
    assert_eq!(rate(json!({ "rating": 4 })).await["error"]["code"], "invalid");
    let of = baton_domain::outbound::SurveyRef::Answer {
        conversation: conv.parse().unwrap(),
        answer: answer.parse().unwrap(),
    };
    let survey = h.env.store.get_survey(&demo(), &of).await.unwrap();
    assert_eq!(survey.response.unwrap().rating, 4);
    assert_eq!(survey.resolved_by, baton_domain::csat::ResolvedBy::Ai);
    assert_eq!(survey.offer, baton_domain::csat::Offer::Sent { how: "inline".into() });
}
