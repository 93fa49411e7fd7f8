//! Every access pattern of the single-table store, against a real local endpoint.

use baton_domain::conversation::{Author, Conversation, DeliveryStatus, Direction, Message, Owner};
use baton_domain::customer::{Customer, Identity, IdentityRef};
use baton_domain::directory::{Agent, Presence, Role};
use baton_domain::idempotency::{payload_hash, ClaimOutcome, ClaimToken, IdempotencyPolicy};
use baton_domain::kb::Article;
use baton_domain::outbox::Effect;
use baton_domain::ports::*;
use baton_domain::tenant::{AiSettings, ChannelBinding, Tenant, TenantChannels};
use baton_domain::ticket::{Action, Priority, Source, Status, Ticket, TimelineEntry, TimelineKind};
use baton_domain::*;
use baton_tests::env;
use std::collections::HashSet;
use std::sync::Arc;

fn t0() -> Timestamp {
    Timestamp::from_unix_millis(1_795_000_000_000).unwrap()
}

fn tid(s: &str) -> TenantId {
    TenantId::new(s).unwrap()
}

fn tenant(id: &str) -> Tenant {
    Tenant {
        id: tid(id),
        name: format!("Tenant {id}"),
        channels: TenantChannels::default(),
        ai: AiSettings::default(),
        created_at: t0(),
        kb_revision: 0,
        kb_vectors_revision: 0,
        quotas: Default::default(),
        whatsapp_health: None,
        instagram_health: None,
        channels_revision: 0,
        routing: Default::default(),
        sla: Default::default(),
        shop: None,
        time_zone: "UTC".into(),
        reports: Default::default(),
    }
}

fn ticket(tenant: &str, n: u64, priority: Priority) -> Ticket {
    let source = Source {
        channel: Channel::Whatsapp,
        conversation_id: ConversationId::generate(),
    };
    let mut t = Ticket::open(
        tid(tenant),
        TicketNumber(n),
        format!("ticket {n}"),
        priority,
        CustomerId::generate(),
        source,
        t0(),
    );
    t.tags = vec!["order".into()];
    t.handoff_reason = Some("customer asked for a human".into());
    t
}

fn event(tenant: &str, n: u64, name: &str) -> TimelineEntry {
    TimelineEntry {
        tenant_id: tid(tenant),
        ticket: TicketNumber(n),
        id: ulid::Ulid::new(),
        at: t0(),
        actor: Author::System,
        entry: TimelineKind::Event {
            name: name.into(),
            detail: serde_json::json!({}),
        },
    }
}

#[tokio::test]
async fn tenant_and_channel_bindings_are_created_together_and_unique() {
    let env = env().await;
    let s = &env.store;
    let a = tenant("acme");
    let wa = ChannelBinding {
        channel: Channel::Whatsapp,
        external_id: "15550001".into(),
        tenant_id: a.id.clone(),
    };
    s.create_tenant(&a, std::slice::from_ref(&wa)).await.unwrap();
    assert_eq!(s.get_tenant(&a.id).await.unwrap(), a);
    assert_eq!(
        s.resolve_channel(Channel::Whatsapp, "15550001").await.unwrap(),
        Some(wa)
    );
    assert_eq!(s.resolve_channel(Channel::Whatsapp, "nobody").await.unwrap(), None);

    // Another tenant claiming the same number fails whole: the tenant is not created either.
    let b = tenant("bolt");
    let steal = ChannelBinding {
        channel: Channel::Whatsapp,
        external_id: "15550001".into(),
        tenant_id: b.id.clone(),
    };
    let err = s.create_tenant(&b, &[steal]).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::AlreadyExists {
                entity: "channel_binding"
            }
        ),
        "{err:?}"
    );
    assert!(matches!(s.get_tenant(&b.id).await, Err(StoreError::NotFound { .. })));
    assert!(matches!(
        s.create_tenant(&a, &[]).await,
        Err(StoreError::AlreadyExists { entity: "tenant" })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_messages_from_one_identity_create_one_customer() {
    let env = env().await;
    let s = Arc::new(env.store.clone());
    let t = tid("acme");
    let mut tasks = Vec::new();
    for i in 0..6 {
        let s = s.clone();
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let c = Customer {
                tenant_id: t.clone(),
                id: CustomerId::generate(),
                name: Some(format!("writer {i}")),
                email: None,
                identities: vec![IdentityRef {
                    channel: Channel::Whatsapp,
                    external_id: "491701234567".into(),
                }],
                attributes: Default::default(),
                created_at: t0(),
                undeliverable: vec![],
            };
            let ident = Identity {
                tenant_id: t,
                channel: Channel::Whatsapp,
                external_id: "491701234567".into(),
                customer_id: c.id,
                display_name: c.name.clone(),
                active_conversation: None,
            };
            s.create_customer(&c, &ident).await.map(|_| c.id)
        }));
    }
    let results: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(results
        .iter()
        .filter(|r| r.is_err())
        .all(|r| matches!(r, Err(StoreError::AlreadyExists { entity: "identity" }))));
    let ident = s
        .find_identity(&t, Channel::Whatsapp, "491701234567")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&ident.customer_id, winners[0]);
    assert_eq!(
        s.get_customer(&t, ident.customer_id).await.unwrap().id,
        ident.customer_id
    );

    let conv = ConversationId::generate();
    s.set_active_conversation(&t, Channel::Whatsapp, "491701234567", Some(conv))
        .await
        .unwrap();
    let ident = s
        .find_identity(&t, Channel::Whatsapp, "491701234567")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ident.active_conversation, Some(conv));
    assert!(matches!(
        s.set_active_conversation(&t, Channel::Whatsapp, "unknown", Some(conv))
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

fn message(t: &TenantId, conv: ConversationId, text: &str, channel_id: Option<&str>) -> Message {
    Message {
        tenant_id: t.clone(),
        conversation_id: conv,
        id: ulid::Ulid::new(),
        direction: Direction::Inbound,
        author: Author::Customer,
        text: text.into(),
        attachments: vec![],
        channel_message_id: channel_id.map(str::to_owned),
        delivery: None,
        delivery_error: None,
        sender: None,
        original: None,
        choices: vec![],
        survey: None,
        created_at: t0(),
        sent_at: None,
    }
}

#[tokio::test]
async fn conversation_messages_are_ordered_deduplicated_and_paged() {
    let env = env().await;
    let s = &env.store;
    let t = tid("acme");
    let c = Conversation::start(
        t.clone(),
        ConversationId::generate(),
        CustomerId::generate(),
        Channel::Whatsapp,
        t0(),
    );
    s.create_conversation(&c).await.unwrap();
    assert!(matches!(
        s.create_conversation(&c).await,
        Err(StoreError::AlreadyExists { .. })
    ));

    let mut sent = Vec::new();
    for i in 0..5 {
        let m = message(&t, c.id, &format!("message {i}"), Some(&format!("wamid.{i}")));
        s.append_message(&m).await.unwrap();
        sent.push(m);
        // ULIDs made in the same millisecond are still ordered by their random part only.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    // The same channel message id again (a Meta retry) is refused: one stored message.
    let dup = message(&t, c.id, "message 0 again", Some("wamid.0"));
    assert!(matches!(
        s.append_message(&dup).await,
        Err(StoreError::AlreadyExists { entity: "message" })
    ));

    let first = s.list_messages(&t, c.id, &PageRequest::first(2)).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let cursor = first.next_cursor.clone().expect("more pages");
    let mut all = first.items;
    let mut page = PageRequest {
        limit: Some(2),
        cursor: Some(cursor),
    };
    loop {
        let p = s.list_messages(&t, c.id, &page).await.unwrap();
        all.extend(p.items);
        match p.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    let texts: Vec<_> = all.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        vec!["message 0", "message 1", "message 2", "message 3", "message 4"]
    );

    // A cursor from this conversation cannot be used to read another tenant's conversation.
    let other = tid("other");
    let err = s
        .list_messages(
            &other,
            c.id,
            &PageRequest {
                limit: Some(2),
                cursor: first.next_cursor,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid { field: "cursor", .. }), "{err:?}");

    // Optimistic locking on the conversation.
    let mut human = c.clone();
    human.owner = Owner::Human;
    s.update_conversation(&human, 1).await.unwrap();
    let stale = s.update_conversation(&c, 1).await.unwrap_err();
    assert!(
        matches!(
            stale,
            StoreError::Conflict {
                current_version: Some(2),
                ..
            }
        ),
        "{stale:?}"
    );
    let stored = s.get_conversation(&t, c.id).await.unwrap();
    assert_eq!((stored.owner, stored.version), (Owner::Human, 2));
}

#[tokio::test]
async fn delivery_reports_never_move_a_message_backwards() {
    let env = env().await;
    let s = &env.store;
    let t = tid("acme");
    let conv = ConversationId::generate();
    let mut m = message(&t, conv, "your order shipped", Some("wamid.out1"));
    m.direction = Direction::Outbound;
    m.author = Author::Ai;
    m.delivery = Some(DeliveryStatus::Sent);
    s.append_message(&m).await.unwrap();
    s.set_delivery_status(&t, "wamid.out1", DeliveryStatus::Read)
        .await
        .unwrap();
    s.set_delivery_status(&t, "wamid.out1", DeliveryStatus::Delivered)
        .await
        .unwrap();
    let stored = s.list_messages(&t, conv, &PageRequest::first(10)).await.unwrap().items;
    assert_eq!(stored[0].delivery, Some(DeliveryStatus::Read));
    assert!(matches!(
        s.set_delivery_status(&t, "wamid.unknown", DeliveryStatus::Read).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ticket_numbers_stay_unique_under_concurrent_creation() {
    let env = env().await;
    let s = Arc::new(env.store.clone());
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let t = tid("acme");
            let n = s.next_ticket_number(&t).await.unwrap();
            s.create_ticket(&ticket("acme", n.0, Priority::Normal), &[event("acme", n.0, "created")])
                .await
                .unwrap();
            n.0
        }));
    }
    let numbers: Vec<u64> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let unique: HashSet<u64> = numbers.iter().copied().collect();
    assert_eq!(unique.len(), 24);
    assert_eq!(unique, (1..=24).collect());
    // Numbers are per tenant.
    assert_eq!(s.next_ticket_number(&tid("bolt")).await.unwrap(), TicketNumber(1));
    // A number is never created twice.
    assert!(matches!(
        s.create_ticket(&ticket("acme", 3, Priority::Low), &[]).await,
        Err(StoreError::AlreadyExists { entity: "ticket" })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_updates_of_one_ticket_exactly_one_wins() {
    let env = env().await;
    let s = Arc::new(env.store.clone());
    s.create_ticket(&ticket("acme", 7, Priority::Normal), &[event("acme", 7, "created")])
        .await
        .unwrap();
    let read = s.get_ticket(&tid("acme"), TicketNumber(7)).await.unwrap();
    let mut tasks = Vec::new();
    for agent in ["ann", "bob"] {
        let s = s.clone();
        let mut mine = read.clone();
        tasks.push(tokio::spawn(async move {
            mine.assignee = Some(AgentId::new(agent).unwrap());
            let note = TimelineEntry {
                actor: Author::Agent {
                    id: AgentId::new(agent).unwrap(),
                },
                ..event("acme", 7, "assigned")
            };
            (agent, s.update_ticket(&mine, mine.version, &[note]).await)
        }));
    }
    let results: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let winners: Vec<_> = results.iter().filter(|(_, r)| r.is_ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let loser = results.iter().find(|(_, r)| r.is_err()).unwrap();
    assert!(
        matches!(
            loser.1,
            Err(StoreError::Conflict {
                entity: "ticket",
                current_version: Some(2)
            })
        ),
        "{loser:?}"
    );
    let stored = s.get_ticket(&tid("acme"), TicketNumber(7)).await.unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.assignee.as_ref().map(AgentId::as_str), Some(winners[0].0));
    // The loser's timeline entry was not written: the transaction is all or nothing.
    let timeline = s
        .list_timeline(&tid("acme"), TicketNumber(7), &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(timeline.len(), 2);
    // Updating a ticket that does not exist is NotFound, not a conflict.
    assert!(matches!(
        s.update_ticket(&ticket("acme", 99, Priority::Low), 1, &[]).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn queue_indexes_serve_status_assignee_backlog_and_sla_due() {
    let env = env().await;
    let s = &env.store;
    let t = tid("acme");
    let team = TeamId::new("billing").unwrap();
    let ann = AgentId::new("ann").unwrap();
    let hour = time::Duration::hours(1);
    let mk = |n, p, team: Option<&TeamId>, due_in: Option<time::Duration>| {
        let mut k = ticket("acme", n, p);
        k.team = team.cloned();
        if let Some(d) = due_in {
            // A first-response target of `d` in calendar hours, started at t0.
            let settings = baton_domain::sla::SlaSettings {
                policies: vec![baton_domain::sla::SlaPolicy {
                    id: "p".into(),
                    name: "p".into(),
                    conditions: vec![],
                    targets: baton_domain::sla::Targets {
                        first_response_minutes: Some(d.whole_minutes() as u32),
                        ..Default::default()
                    },
                    calendar: None,
                }],
                ..Default::default()
            };
            baton_domain::sla::advance(&settings, &mut k, Default::default(), t0());
        }
        k
    };
    let tickets = [
        mk(1, Priority::Low, Some(&team), Some(hour * 8)),
        mk(2, Priority::Urgent, Some(&team), Some(hour)),
        mk(3, Priority::Normal, Some(&team), Some(hour * 2)),
        mk(4, Priority::Urgent, None, Some(hour * 3)),
    ];
    for k in &tickets {
        s.create_ticket(k, &[]).await.unwrap();
    }
    // Another tenant's open ticket never shows up in acme's listings.
    s.create_ticket(&ticket("bolt", 1, Priority::Urgent), &[])
        .await
        .unwrap();

    let open = s
        .list_by_status(&t, Status::Open, &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    let order: Vec<u64> = open.iter().map(|k| k.number.0).collect();
    assert_eq!(order, vec![2, 4, 3, 1], "urgent first, then the earliest deadline");

    let backlog = s
        .list_team_backlog(&t, &team, &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(backlog.iter().map(|k| k.number.0).collect::<Vec<_>>(), vec![2, 3, 1]);

    // Assigning ticket 3 moves it from the team backlog to ann's queue.
    let mut k3 = s.get_ticket(&t, TicketNumber(3)).await.unwrap();
    k3.assignee = Some(ann.clone());
    s.update_ticket(&k3, k3.version, &[]).await.unwrap();
    let backlog = s
        .list_team_backlog(&t, &team, &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(backlog.iter().map(|k| k.number.0).collect::<Vec<_>>(), vec![2, 1]);
    let mine = s
        .list_by_assignee(&t, &ann, &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(mine.iter().map(|k| k.number.0).collect::<Vec<_>>(), vec![3]);

    // SLA-due index: across shards, exactly the tickets the sweep must look at by the
    // given time (a target's warning, at 75% of its time, comes first).
    let due_by = t0().plus(hour * 2);
    let mut due = Vec::new();
    for shard in 0..baton_aws::dynamo::keys::SLA_SHARDS {
        due.extend(s.list_due(shard, due_by, &PageRequest::first(100)).await.unwrap().items);
    }
    let mut due_numbers: Vec<u64> = due.iter().filter(|d| d.tenant_id == t).map(|d| d.number.0).collect();
    due_numbers.sort();
    assert_eq!(due_numbers, vec![2, 3]);
    assert_eq!(
        due.iter().find(|d| d.number.0 == 2).unwrap().due_at,
        t0().plus(time::Duration::minutes(45))
    );

    // A human reply stops the first-response clock and parks the ticket on the customer:
    // it leaves the due index and the open listing.
    let mut k2 = s.get_ticket(&t, TicketNumber(2)).await.unwrap();
    k2.apply(Action::AgentReplied, t0().plus(time::Duration::minutes(5)))
        .unwrap();
    s.update_ticket(&k2, k2.version, &[]).await.unwrap();
    let mut still_due = Vec::new();
    for shard in 0..baton_aws::dynamo::keys::SLA_SHARDS {
        still_due.extend(s.list_due(shard, due_by, &PageRequest::first(100)).await.unwrap().items);
    }
    assert_eq!(
        still_due
            .iter()
            .filter(|d| d.tenant_id == t)
            .map(|d| d.number.0)
            .collect::<Vec<_>>(),
        vec![3]
    );
    let waiting = s
        .list_by_status(&t, Status::WaitingOnCustomer, &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(waiting.iter().map(|k| k.number.0).collect::<Vec<_>>(), vec![2]);
}

#[tokio::test]
async fn ticket_listing_pages_with_opaque_cursors() {
    let env = env().await;
    let s = &env.store;
    let t = tid("acme");
    for n in 1..=7 {
        s.create_ticket(&ticket("acme", n, Priority::Normal), &[])
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut page = PageRequest::first(3);
    let mut pages = 0;
    loop {
        let p = s.list_by_status(&t, Status::Open, &page).await.unwrap();
        pages += 1;
        seen.extend(p.items.iter().map(|k| k.number.0));
        match p.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, (1..=7).collect::<Vec<_>>());
    assert!(pages >= 3);
    let bad = PageRequest {
        limit: Some(3),
        cursor: Some("not-a-cursor".into()),
    };
    assert!(matches!(
        s.list_by_status(&t, Status::Open, &bad).await,
        Err(StoreError::Invalid { .. })
    ));
}

#[tokio::test]
async fn timeline_keeps_messages_notes_and_events_in_order() {
    let env = env().await;
    let s = &env.store;
    let t = tid("acme");
    let k = ticket("acme", 1, Priority::High);
    s.create_ticket(&k, &[event("acme", 1, "created")]).await.unwrap();
    let entries = [
        TimelineKind::message("where is my parcel?", Channel::Whatsapp),
        TimelineKind::Note {
            text: "checking with the carrier".into(),
        },
        TimelineKind::message("it arrives tomorrow", Channel::Whatsapp),
    ];
    let mut version = k.version;
    for entry in entries {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let e = TimelineEntry {
            entry,
            ..event("acme", 1, "")
        };
        version = s.update_ticket(&k, version, &[e]).await.unwrap();
    }
    let timeline = s
        .list_timeline(&t, TicketNumber(1), &PageRequest::first(50))
        .await
        .unwrap()
        .items;
    let kinds: Vec<&str> = timeline
        .iter()
        .map(|e| match &e.entry {
            TimelineKind::Message { .. } => "message",
            TimelineKind::Note { .. } => "note",
            TimelineKind::Event { .. } => "event",
        })
        .collect();
    assert_eq!(kinds, vec!["event", "message", "note", "message"]);
    assert_eq!(version, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_records_claim_once_complete_and_refuse_other_payloads() {
    let env = env().await;
    let s = Arc::new(env.store.clone());
    let policy = IdempotencyPolicy::default();
    let h = payload_hash(b"{\"text\":\"hi\"}");

    // Concurrent duplicate deliveries: exactly one claims.
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let s = s.clone();
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            s.claim("inbound", "wamid.1", &h, t0(), policy).await.unwrap()
        }));
    }
    let outcomes: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let tokens: Vec<ClaimToken> = outcomes
        .iter()
        .filter_map(|o| match o {
            ClaimOutcome::Claimed(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(tokens.len(), 1, "{outcomes:?}");
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, ClaimOutcome::Claimed(_) | ClaimOutcome::InProgress)));

    // Only the owner completes: another worker's token is refused.
    assert!(matches!(
        s.complete("inbound", "wamid.1", &ClaimToken::fresh(), None, t0(), policy)
            .await,
        Err(StoreError::Conflict { .. })
    ));
    s.complete(
        "inbound",
        "wamid.1",
        &tokens[0],
        Some(serde_json::json!({"ticket": 4})),
        t0(),
        policy,
    )
    .await
    .unwrap();
    assert_eq!(
        s.claim("inbound", "wamid.1", &h, t0(), policy).await.unwrap(),
        ClaimOutcome::AlreadyCompleted(Some(serde_json::json!({"ticket": 4})))
    );
    assert_eq!(
        s.claim("inbound", "wamid.1", &payload_hash(b"other"), t0(), policy)
            .await
            .unwrap(),
        ClaimOutcome::PayloadMismatch
    );
    // One record, whatever the number of puts.
    let key = baton_aws::dynamo::keys::idempotency("inbound", "wamid.1");
    let items = s
        .client()
        .query()
        .table_name(s.table())
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S(key.pk))
        .send()
        .await
        .unwrap();
    assert_eq!(items.count, 1);
    let item = &items.items.unwrap()[0];
    assert!(item.contains_key("expires_at"), "the TTL attribute is set");

    // A released claim (the work failed) can be taken again.
    let ClaimOutcome::Claimed(first) = s.claim("inbound", "wamid.2", &h, t0(), policy).await.unwrap() else {
        panic!("a fresh key is claimed")
    };
    s.release("inbound", "wamid.2", &first).await.unwrap();
    let ClaimOutcome::Claimed(second) = s.claim("inbound", "wamid.2", &h, t0(), policy).await.unwrap() else {
        panic!("a released key is claimed again")
    };

    // An abandoned in-progress claim expires and can be taken again; a live one cannot.
    assert_eq!(
        s.claim("inbound", "wamid.2", &h, t0().plus(time::Duration::seconds(1)), policy)
            .await
            .unwrap(),
        ClaimOutcome::InProgress
    );
    let later = t0().plus(policy.in_progress_timeout + time::Duration::seconds(1));
    let ClaimOutcome::Claimed(third) = s.claim("inbound", "wamid.2", &h, later, policy).await.unwrap() else {
        panic!("an abandoned claim is taken over")
    };
    // The worker whose claim expired comes back late: it can neither release nor
    // complete the new owner's claim.
    s.release("inbound", "wamid.2", &second).await.unwrap();
    assert!(matches!(
        s.complete("inbound", "wamid.2", &second, None, later, policy).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        s.claim("inbound", "wamid.2", &h, later, policy).await.unwrap(),
        ClaimOutcome::InProgress,
        "the new owner's claim is still there"
    );
    s.complete("inbound", "wamid.2", &third, None, later, policy)
        .await
        .unwrap();
    // Completed records expire after their TTL even before DynamoDB deletes them.
    let much_later = t0().plus(policy.record_ttl + time::Duration::days(1));
    assert!(matches!(
        s.claim("inbound", "wamid.1", &h, much_later, policy).await.unwrap(),
        ClaimOutcome::Claimed(_)
    ));
}

#[tokio::test]
async fn agents_teams_capacity_and_knowledge_base() {
    let env = env().await;
    let s = &env.store;
    let t = tid("acme");
    s.create_tenant(&tenant("acme"), &[]).await.unwrap();
    let ann = Agent {
        tenant_id: t.clone(),
        id: AgentId::new("ann").unwrap(),
        name: "Ann".into(),
        email: "ann@acme.test".into(),
        role: Role::Agent,
        skills: vec!["refunds".into()],
        max_open: 2,
        open_count: 0,
        presence: Presence::Online,
        created_at: t0(),
        active: true,
        notifications: Default::default(),
        last_assigned_at: None,
    };
    s.create_agent(&ann).await.unwrap();
    assert!(matches!(
        s.create_agent(&ann).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    s.reserve_capacity(&t, &ann.id).await.unwrap();
    s.reserve_capacity(&t, &ann.id).await.unwrap();
    assert!(
        matches!(s.reserve_capacity(&t, &ann.id).await, Err(StoreError::Conflict { .. })),
        "capacity is a hard limit"
    );
    s.release_capacity(&t, &ann.id).await.unwrap();
    assert_eq!(s.get_agent(&t, &ann.id).await.unwrap().open_count, 1);
    assert!(matches!(
        s.reserve_capacity(&t, &AgentId::new("ghost").unwrap()).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(s.list_agents(&t, &PageRequest::first(10)).await.unwrap().items.len(), 1);
    assert!(s
        .list_agents(&tid("bolt"), &PageRequest::first(10))
        .await
        .unwrap()
        .items
        .is_empty());

    let team = baton_domain::directory::Team {
        tenant_id: t.clone(),
        id: TeamId::new("billing").unwrap(),
        name: "Billing".into(),
        members: vec![ann.id.clone()],
        strategy: baton_domain::directory::RoutingStrategy::Balanced,
        created_at: t0(),
        lead: None,
        return_unanswered_after_minutes: None,
        version: 0,
    };
    s.create_team(&team).await.unwrap();
    assert_eq!(s.get_team(&t, &team.id).await.unwrap(), team);
    assert_eq!(
        s.list_teams(&t, &PageRequest::first(10)).await.unwrap().items,
        vec![team]
    );

    let article = Article {
        tenant_id: t.clone(),
        id: ArticleId::new("returns").unwrap(),
        title: "Returns".into(),
        body: "30 days".into(),
        tags: vec!["returns".into()],
        sample_questions: vec!["can I send it back".into()],
        url: None,
        updated_at: t0(),
    };
    let index = Effect::index_article(&article, t0());
    s.put_article(&article, &index).await.unwrap();
    assert_eq!(s.get_tenant(&t).await.unwrap().kb_revision, 1);
    assert_eq!(s.get_article(&t, &article.id).await.unwrap(), article);
    assert_eq!(
        s.get_effect(&index.id).await.unwrap().map(|e| e.target),
        Some(baton_domain::outbox::EffectTarget::Index),
        "the request that embeds the article is recorded with it"
    );
    assert_eq!(
        s.list_articles(&t, &PageRequest::first(10)).await.unwrap().items.len(),
        1
    );
    // Vectors: stored beside the article, only for the version that was embedded, never
    // listed as articles, and deleted with it.
    let vectors = baton_domain::kb_vectors::ArticleVectors::encode(&article, "m/1", &[vec![0.6, 0.8]], t0());
    s.put_vectors(&vectors).await.unwrap();
    s.vectors_stored(&t).await.unwrap();
    let tenant = s.get_tenant(&t).await.unwrap();
    assert_eq!((tenant.kb_revision, tenant.kb_vectors_revision), (1, 1));
    assert_eq!(s.get_vectors(&t, &article.id).await.unwrap().as_ref(), Some(&vectors));
    assert_eq!(
        s.list_vectors(&t, &PageRequest::first(10)).await.unwrap().items,
        vec![vectors.clone()]
    );
    assert_eq!(
        s.list_articles(&t, &PageRequest::first(10)).await.unwrap().items.len(),
        1
    );
    let edited = Article {
        body: "60 days".into(),
        updated_at: t0().plus(time::Duration::seconds(1)),
        ..article.clone()
    };
    s.put_article(&edited, &Effect::index_article(&edited, edited.updated_at))
        .await
        .unwrap();
    assert!(
        matches!(s.put_vectors(&vectors).await, Err(StoreError::Conflict { .. })),
        "vectors of an older version are refused"
    );
    s.delete_article(&t, &article.id).await.unwrap();
    assert_eq!(
        s.get_tenant(&t).await.unwrap().kb_revision,
        3,
        "every KB change bumps the revision"
    );
    assert_eq!(s.get_vectors(&t, &article.id).await.unwrap(), None);
    assert!(matches!(
        s.put_vectors(&vectors).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.delete_article(&t, &article.id).await,
        Err(StoreError::NotFound { .. })
    ));
    // Articles of a tenant that does not exist are refused, not orphaned.
    let orphan = Article {
        tenant_id: tid("nobody"),
        ..article
    };
    assert!(matches!(
        s.put_article(&orphan, &Effect::index_article(&orphan, t0())).await,
        Err(StoreError::NotFound { entity: "tenant" })
    ));
    assert!(matches!(
        s.vectors_stored(&orphan.tenant_id).await,
        Err(StoreError::NotFound { entity: "tenant" })
    ));
}

#[tokio::test]
async fn fifo_queue_deduplicates_on_the_channel_message_id() {
    use baton_aws::SqsQueue;
    let env = env().await;
    let sqs = aws_sdk_sqs::Client::new(&env.sdk);
    let (url, _) = env.resources.queue("InboundQueue").unwrap();
    let q = SqsQueue::new(sqs.clone(), url);
    assert!(q.is_fifo());
    let msg = |body: &str| QueueMessage {
        body: body.into(),
        group_id: Some("conv-1".into()),
        dedup_id: Some("wamid.X".into()),
        delay_seconds: None,
    };
    q.send(msg("first")).await.unwrap();
    q.send(msg("retry of first")).await.unwrap();
    let missing_group = QueueMessage {
        body: "x".into(),
        group_id: None,
        dedup_id: Some("d".into()),
        delay_seconds: None,
    };
    assert!(matches!(q.send(missing_group).await, Err(QueueError::Invalid(_))));
    let got = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let bodies: Vec<_> = got
        .messages
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.body)
        .collect();
    assert_eq!(bodies, vec!["first".to_string()]);

    // A standard queue takes messages without FIFO ids.
    let (email_url, _) = env.resources.queue("InboundEmailDeadLetterQueue").unwrap();
    let standard = SqsQueue::new(sqs.clone(), email_url);
    standard
        .send(QueueMessage {
            body: "{\"ticket\":1}".into(),
            group_id: None,
            dedup_id: None,
            delay_seconds: None,
        })
        .await
        .unwrap();
    let got = sqs.receive_message().queue_url(email_url).send().await.unwrap();
    assert_eq!(got.messages.unwrap_or_default().len(), 1);
}

#[tokio::test]
async fn latest_messages_are_the_newest_after_the_context_start_in_order() {
    let env = env().await;
    let s = &env.store;
    let t = tid("acme");
    let conv = ConversationId::generate();
    let mut ids = Vec::new();
    for i in 0..130 {
        let mut m = message(&t, conv, &format!("m{i}"), None);
        // Strictly increasing ids without sleeping: ULIDs from one millisecond may not be.
        m.id = ulid::Ulid::from_parts(1_795_000_000_000 + i as u64, 0);
        s.append_message(&m).await.unwrap();
        ids.push(m.id);
    }
    let latest = s.latest_messages(&t, conv, None, 20).await.unwrap();
    let texts: Vec<String> = latest.iter().map(|m| m.text.clone()).collect();
    assert_eq!(
        texts,
        (110..130).map(|i| format!("m{i}")).collect::<Vec<_>>(),
        "the newest 20, oldest first"
    );
    let after = s.latest_messages(&t, conv, Some(ids[125]), 20).await.unwrap();
    assert_eq!(
        after.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        vec!["m126", "m127", "m128", "m129"]
    );
}

#[tokio::test]
async fn a_shop_connection_and_its_sealed_credential_are_stored_and_removed_together() {
    use baton_domain::commerce::{ShopConnection, ShopSettings};
    use baton_domain::ports::SecretBox;
    use baton_domain::secrets::{Secret, SecretError, SecretScope};
    let env = env().await;
    let s = &env.store;
    let a = tenant("shopco");
    s.create_tenant(&a, &[]).await.unwrap();
    let secrets = baton_tests::secret_box(&env);
    let credential = Secret::new("shpat_0123456789abcdef0123456789");
    let sealed = secrets.seal(SecretScope::shop(&a.id), &credential, t0()).await.unwrap();
    let settings = ShopSettings {
        connection: ShopConnection::Shopify {
            domain: "shopco.myshopify.com".into(),
            api_version: "2025-10".into(),
        },
        secret_updated_at: t0(),
    };
    s.change_shop(&a.id, Some((&settings, &sealed))).await.unwrap();
    assert_eq!(s.get_tenant(&a.id).await.unwrap().shop, Some(settings));
    let stored = s.get_shop_secret(&a.id).await.unwrap().expect("stored");
    assert!(!stored.ciphertext.contains("shpat_"), "sealed, never in clear");
    let opened = secrets.open(SecretScope::shop(&a.id), &stored).await.unwrap();
    assert_eq!(opened, credential);
    // Bound to its slot: it does not open as a channel token, nor as another tenant's.
    let as_channel = secrets
        .open(SecretScope::channel(&a.id, Channel::Whatsapp), &stored)
        .await;
    assert!(matches!(as_channel, Err(SecretError::Corrupt(_))), "{as_channel:?}");
    let other = tid("other");
    assert!(secrets.open(SecretScope::shop(&other), &stored).await.is_err());

    s.change_shop(&a.id, None).await.unwrap();
    assert_eq!(s.get_tenant(&a.id).await.unwrap().shop, None);
    assert_eq!(s.get_shop_secret(&a.id).await.unwrap(), None);
    // No tenant, no shop.
    let err = s.change_shop(&tid("nobody"), None).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { entity: "tenant" }), "{err:?}");
}
