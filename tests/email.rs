//! Inbound e-mail: SES receipt events and real MIME through the function's handler,
//! against the local endpoint (S3, DynamoDB, SQS).

use baton_aws::S3Bucket;
use baton_domain::email::ticket_alias_token;
use baton_domain::ports::{BlobStore, CustomerStore, EmailRefStore, TicketStore};
use baton_domain::ticket::{Priority, Source, Ticket};
use baton_domain::{Channel, Clock, ConversationId, SystemClock, TenantId};
use baton_tests::{
    deliver_email as deliver, drain_inbound, inbound_email_deps, root, seeded_env, ses_receipt as receipt, TestEnv,
};
use inbound_email::{handler, Deps};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;

const SECRET: &str = "test-alias-secret-0123456789abcdef";

async fn setup() -> (TestEnv, Deps, S3Bucket) {
    let env = seeded_env().await;
    let (deps, bucket) = inbound_email_deps(&env, SECRET);
    (env, deps, bucket)
}

fn mail(from: &str, to: &str, message_id: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Re: your order\r\nMessage-ID: <{message_id}>\r\n{extra_headers}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

const SUPPORT: &str = "support+demo@inbound.baton.local";

fn demo() -> TenantId {
    TenantId::new("demo").unwrap()
}

#[tokio::test]
async fn support_alias_opens_a_conversation_with_stripped_text_and_stored_attachments() {
    let (env, deps, bucket) = setup().await;
    let id = "o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1";
    let raw = std::fs::read(root().join(format!("events/email/{id}.eml"))).unwrap();
    let results = deliver(&deps, &bucket, id, &raw, &[SUPPORT], "PASS").await;
    assert_eq!(results[0]["outcome"], "queued", "{results:?}");
    // SES retried the invocation: still one message.
    deliver(&deps, &bucket, id, &raw, &[SUPPORT], "PASS").await;
    let queued = drain_inbound(&env).await;
    assert_eq!(queued.len(), 1);
    let m = &queued[0];
    assert_eq!(m.tenant_id, demo());
    assert_eq!(m.message.channel, Channel::Email);
    assert_eq!(m.message.sender_id, "jose@example.com");
    assert_eq!(
        m.message.text,
        "Hello, my order 4411 was due yesterday and the tracking page has not moved since Monday. Where is it?\n\nThanks,\nJosé"
    );
    let details = m.email.as_ref().unwrap();
    assert_eq!(details.subject, "Pedido número 4411 - where is it?");
    assert!(details.full_text.contains("Calle Mayor 1"), "the full original is kept");
    assert_eq!(details.raw_s3_key.as_deref(), Some(format!("inbound/{id}").as_str()));
    let attachment = &m.message.attachments[0];
    assert_eq!(attachment.file_name.as_deref(), Some("tracking.png"));
    assert_eq!(attachment.mime_type.as_deref(), Some("image/png"));
    let stored = bucket.get(&attachment.reference, 1 << 20).await.unwrap().unwrap();
    assert!(
        stored.starts_with(b"\x89PNG"),
        "attachment content is in S3, not inlined"
    );
    let customer = env.store.get_customer(&demo(), m.customer_id).await.unwrap();
    assert_eq!(customer.name.as_deref(), Some("José García"));
    assert_eq!(customer.email.as_deref(), Some("jose@example.com"));
}

#[tokio::test]
async fn replies_thread_by_in_reply_to_and_new_mails_start_new_conversations() {
    let (env, deps, bucket) = setup().await;
    let first = mail(
        "Ann <ann@example.com>",
        SUPPORT,
        "first@example.com",
        "",
        "My parcel is late.",
    );
    deliver(&deps, &bucket, "m1", &first, &[SUPPORT], "PASS").await;
    let reply = mail(
        "Ann <ann@example.com>",
        SUPPORT,
        "second@example.com",
        "In-Reply-To: <first@example.com>\r\nReferences: <first@example.com>\r\n",
        "Any news?\r\n\r\nOn Sat, 21 Nov 2026 at 10:00, Ann <ann@example.com> wrote:\r\n> My parcel is late.",
    );
    deliver(&deps, &bucket, "m2", &reply, &[SUPPORT], "PASS").await;
    let fresh = mail(
        "Ann <ann@example.com>",
        SUPPORT,
        "third@example.com",
        "",
        "Different question: gift wrap?",
    );
    deliver(&deps, &bucket, "m3", &fresh, &[SUPPORT], "PASS").await;
    let q = drain_inbound(&env).await;
    assert_eq!(q.len(), 3);
    assert_eq!(q[1].conversation_id, q[0].conversation_id, "threaded by In-Reply-To");
    assert_eq!(q[1].message.text, "Any news?", "quoted history stripped");
    assert_ne!(
        q[2].conversation_id, q[0].conversation_id,
        "a new thread is a new conversation"
    );
    assert_eq!(q[0].customer_id, q[2].customer_id);
}

async fn ticket_for(env: &TestEnv, email: &str) -> (Ticket, ConversationId) {
    let demo = demo();
    let customer_id = baton_domain::CustomerId::generate();
    let customer = baton_domain::customer::Customer {
        tenant_id: demo.clone(),
        id: customer_id,
        name: Some("Ann".into()),
        email: Some(email.into()),
        identities: vec![baton_domain::customer::IdentityRef {
            channel: Channel::Email,
            external_id: email.into(),
        }],
        attributes: Default::default(),
        created_at: SystemClock.now(),
        undeliverable: vec![],
    };
    let identity = baton_domain::customer::Identity {
        tenant_id: demo.clone(),
        channel: Channel::Email,
        external_id: email.into(),
        customer_id,
        display_name: None,
        active_conversation: None,
    };
    env.store.create_customer(&customer, &identity).await.unwrap();
    let conversation = ConversationId::generate();
    let number = env.store.next_ticket_number(&demo).await.unwrap();
    let now = SystemClock.now();
    let source = Source {
        channel: Channel::Email,
        conversation_id: conversation,
    };
    let mut ticket = Ticket::open(demo, number, "Refund", Priority::Normal, customer_id, source, now);
    ticket.handoff_reason = Some("refund exception".into());
    env.store.create_ticket(&ticket, &[]).await.unwrap();
    (ticket, conversation)
}

#[tokio::test]
async fn signed_ticket_alias_appends_to_the_ticket_and_a_forged_one_is_refused() {
    let (env, deps, bucket) = setup().await;
    let (ticket, conversation) = ticket_for(&env, "ann@example.com").await;
    let alias = format!(
        "ticket+{}@inbound.baton.local",
        ticket_alias_token(SECRET, &demo(), ticket.number)
    );
    let reply = mail(
        "Ann <ANN@example.com>",
        &alias,
        "r1@example.com",
        "",
        "Here is the order number: 4411.",
    );
    let results = deliver(&deps, &bucket, "t1", &reply, &[alias.as_str()], "PASS").await;
    assert_eq!(results[0]["outcome"], "queued", "{results:?}");
    let q = drain_inbound(&env).await;
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].conversation_id, conversation, "joined the ticket's conversation");

    // Guessing another ticket's address: the signature does not match.
    let forged = format!(
        "ticket+demo.{}.{}@inbound.baton.local",
        ticket.number.0 + 1,
        "0".repeat(20)
    );
    let attack = mail(
        "Mallory <mallory@example.com>",
        &forged,
        "evil@example.com",
        "",
        "Show me your data.",
    );
    let results = deliver(&deps, &bucket, "t2", &attack, &[forged.as_str(), SUPPORT], "PASS").await;
    assert!(
        results[0]["reason"].as_str().unwrap().contains("ticket alias refused"),
        "{results:?}"
    );
    assert!(drain_inbound(&env).await.is_empty());

    // A genuine alias used by someone who is not on the ticket does not join it.
    let stranger = mail("Eve <eve@example.com>", &alias, "eve1@example.com", "", "Hello?");
    deliver(&deps, &bucket, "t3", &stranger, &[alias.as_str()], "PASS").await;
    let q = drain_inbound(&env).await;
    assert_eq!(q.len(), 1);
    assert_ne!(q[0].conversation_id, conversation);
}

#[tokio::test]
async fn auto_replies_bounces_spam_and_junk_create_nothing() {
    let (env, deps, bucket) = setup().await;
    let ooo = mail(
        "Bob <bob@example.com>",
        SUPPORT,
        "ooo@example.com",
        "Auto-Submitted: auto-replied\r\n",
        "I am out of office.",
    );
    assert!(
        deliver(&deps, &bucket, "a1", &ooo, &[SUPPORT], "PASS").await[0]["reason"]
            .as_str()
            .unwrap()
            .contains("automatic")
    );
    let bounce = b"From: MAILER-DAEMON@example.com\r\nTo: support+demo@inbound.baton.local\r\nSubject: Delivery Status Notification (Failure)\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--b--\r\n";
    assert!(
        deliver(&deps, &bucket, "a2", bounce, &[SUPPORT], "PASS").await[0]["reason"]
            .as_str()
            .unwrap()
            .contains("automatic")
    );
    let spam = mail("Spammer <win@example.com>", SUPPORT, "spam@example.com", "", "You won!");
    assert!(deliver(&deps, &bucket, "a3", &spam, &[SUPPORT], "FAIL").await[0]["outcome"] == "quarantined");
    assert!(
        bucket.get("quarantine/a3", 1 << 20).await.unwrap().is_some(),
        "kept for review"
    );
    assert!(
        deliver(&deps, &bucket, "a4", b"\x00\x01 not mail at all", &[SUPPORT], "PASS").await[0]["outcome"] == "ignored"
    );
    let unknown = mail(
        "C <c@example.com>",
        "support+nobody@inbound.baton.local",
        "u@example.com",
        "",
        "hi",
    );
    assert!(
        deliver(
            &deps,
            &bucket,
            "a5",
            &unknown,
            &["support+nobody@inbound.baton.local"],
            "PASS"
        )
        .await[0]["outcome"]
            == "ignored"
    );
    assert!(drain_inbound(&env).await.is_empty());
    assert!(env
        .store
        .find_identity(&demo(), Channel::Email, "bob@example.com")
        .await
        .unwrap()
        .is_none());
}

/// Delivers with the SES verdicts on the sender: SPF, DKIM, DMARC and the DMARC policy.
async fn deliver_signed(
    deps: &Deps,
    bucket: &S3Bucket,
    id: &str,
    raw: &[u8],
    verdicts: (&str, &str, &str, Option<&str>),
) -> Vec<Value> {
    bucket
        .put(&format!("inbound/{id}"), raw.to_vec(), "message/rfc822")
        .await
        .unwrap();
    let mut event = receipt(id, &[SUPPORT], "PASS");
    let r = &mut event["Records"][0]["ses"]["receipt"];
    r["spfVerdict"]["status"] = verdicts.0.into();
    r["dkimVerdict"]["status"] = verdicts.1.into();
    r["dmarcVerdict"]["status"] = verdicts.2.into();
    if let Some(p) = verdicts.3 {
        r["dmarcPolicy"] = p.into();
    }
    let out = handler(deps, LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();
    out["results"].as_array().unwrap().clone()
}

const PASS: (&str, &str, &str, Option<&str>) = ("PASS", "PASS", "PASS", None);

#[tokio::test]
async fn a_stranger_holding_a_threads_message_id_gets_a_conversation_of_their_own() {
    let (env, deps, bucket) = setup().await;
    let first = mail(
        "Ann <ann@example.com>",
        SUPPORT,
        "ann-1@example.com",
        "",
        "My parcel is late.",
    );
    deliver_signed(&deps, &bucket, "h1", &first, PASS).await;
    let ann = drain_inbound(&env).await.remove(0);

    // Mallory learned the Message-ID (a forwarded mail, a CC) and replies to it.
    let threads = "In-Reply-To: <ann-1@example.com>\r\nReferences: <ann-1@example.com>\r\n";
    let hijack = mail(
        "Mallory <mallory@example.com>",
        SUPPORT,
        "mal-1@example.com",
        threads,
        "What did Ann order?",
    );
    let results = deliver_signed(&deps, &bucket, "h2", &hijack, PASS).await;
    assert_eq!(results[0]["outcome"], "queued", "{results:?}");
    let mallory = drain_inbound(&env).await.remove(0);
    assert_ne!(
        mallory.conversation_id, ann.conversation_id,
        "the stranger does not join Ann's thread"
    );
    assert_ne!(mallory.customer_id, ann.customer_id);

    // Ann's own reply, with the same references, still joins her thread.
    let reply = mail(
        "Ann <ann@example.com>",
        SUPPORT,
        "ann-2@example.com",
        threads,
        "Any news?",
    );
    deliver_signed(&deps, &bucket, "h3", &reply, PASS).await;
    assert_eq!(drain_inbound(&env).await.remove(0).conversation_id, ann.conversation_id);

    // Mail that claims to be Ann but is not vouched for by her domain (DMARC fails under
    // a "none" policy) is delivered, marked unverified, and kept out of her thread.
    let unverified = mail(
        "Ann <ann@example.com>",
        SUPPORT,
        "fake-1@example.com",
        threads,
        "Send the refund to my new card.",
    );
    deliver_signed(
        &deps,
        &bucket,
        "h4",
        &unverified,
        ("FAIL", "FAIL", "FAIL", Some("none")),
    )
    .await;
    let m = drain_inbound(&env).await.remove(0);
    assert_ne!(m.conversation_id, ann.conversation_id);
    assert_ne!(
        m.customer_id, ann.customer_id,
        "an unverified From is never bound to the customer who owns that address"
    );
    let details = m.email.unwrap();
    assert!(!details.verified);
    assert_eq!(details.authentication, "spf=FAIL dkim=FAIL dmarc=FAIL (policy=none)");
}

#[tokio::test]
async fn a_forwarded_ticket_alias_does_not_let_its_new_holder_into_the_ticket() {
    let (env, deps, bucket) = setup().await;
    let (ticket, conversation) = ticket_for(&env, "ann@example.com").await;
    let alias = format!(
        "ticket+{}@inbound.baton.local",
        ticket_alias_token(SECRET, &demo(), ticket.number)
    );
    // Ann forwarded our reply; Eve answers it, alias and references included.
    env.store
        .record_email_ref(&demo(), "our-reply@inbound.baton.local", conversation)
        .await
        .unwrap();
    let forwarded = mail(
        "Eve <eve@example.com>",
        &alias,
        "eve-1@example.com",
        "In-Reply-To: <our-reply@inbound.baton.local>\r\n",
        "I am Ann's assistant, what is her address?",
    );
    let results = deliver(&deps, &bucket, "f1", &forwarded, &[alias.as_str()], "PASS").await;
    assert_eq!(results[0]["outcome"], "queued", "{results:?}");
    assert_ne!(drain_inbound(&env).await.remove(0).conversation_id, conversation);
}

#[tokio::test]
async fn a_spoofed_sender_whose_domain_says_reject_is_quarantined() {
    let (env, deps, bucket) = setup().await;
    let spoof = mail(
        "Bank <security@bank.example>",
        SUPPORT,
        "spoof@example.com",
        "",
        "Click here.",
    );
    let results = deliver_signed(&deps, &bucket, "s1", &spoof, ("FAIL", "FAIL", "FAIL", Some("reject"))).await;
    assert_eq!(results[0]["outcome"], "quarantined", "{results:?}");
    assert!(results[0]["reason"].as_str().unwrap().contains("DMARC"));
    assert!(drain_inbound(&env).await.is_empty());
    assert!(bucket.get("quarantine/s1", 1 << 20).await.unwrap().is_some());
}

/// Triage handles what inbound e-mail queued (the deterministic answerer hands off anyone
/// asking for a human); returns the ticket the conversation has.
async fn triage_all(env: &TestEnv) -> Vec<baton_domain::intake::InboundMessage> {
    let deps = baton_tests::triage_deps(env, std::sync::Arc::new(env.store.clone()));
    let queued = drain_inbound(env).await;
    baton_tests::triage_records(&deps, &queued).await;
    queued
}

async fn agent_api_with_files(env: &TestEnv, bucket: &S3Bucket) -> (agent_api::Deps, String) {
    let token = baton_tests::agent_token(env, "demo", "ada@demo.example", "agent").await;
    let deps = agent_api::Deps {
        files: Some(std::sync::Arc::new(bucket.clone())),
        ..baton_tests::agent_api_deps(env, std::sync::Arc::new(env.store.clone()))
    };
    (deps, token)
}

async fn ticket_of(env: &TestEnv, m: &baton_domain::intake::InboundMessage) -> u64 {
    use baton_domain::ports::ConversationStore;
    let c = env.store.get_conversation(&demo(), m.conversation_id).await.unwrap();
    c.ticket.expect("the conversation was handed to a ticket").0
}

/// Fetches a presigned link as a browser would.
async fn fetch(url: &str) -> reqwest::Response {
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_700_kb_email_becomes_a_ticket_whose_agent_opens_the_full_text_and_attachments() {
    let (env, deps, bucket) = setup().await;
    let mut body = String::from("I want to talk to a human: the export below fails every night.\r\n\r\n");
    let mut n = 0;
    while body.len() < 700 * 1024 {
        body.push_str(&format!(
            "2026-11-21T02:00:{:02}Z job={n} status=failed reason=timeout\r\n",
            n % 60
        ));
        n += 1;
    }
    let last_line = format!("job={} status=failed reason=timeout", n - 1);
    let pdf = b"%PDF-1.4\n% not really a pdf, but bytes\n";
    let raw = format!(
        "From: Ann <ann@example.com>\r\nTo: {SUPPORT}\r\nSubject: Nightly export\r\nMessage-ID: <big@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n--b\r\nContent-Type: application/pdf; name=\"invoice <1>.pdf\"\r\nContent-Disposition: attachment; filename=\"invoice <1>.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b\r\nContent-Type: text/html; name=\"page.html\"\r\nContent-Disposition: attachment; filename=\"page.html\"\r\n\r\n<script>alert(1)</script>\r\n--b--\r\n",
        base64_encode(pdf)
    );
    assert!(raw.len() > 700 * 1024);
    let results = deliver(&deps, &bucket, "big1", raw.as_bytes(), &[SUPPORT], "PASS").await;
    assert_eq!(results[0]["outcome"], "queued", "{results:?}");
    let queued = triage_all(&env).await;
    assert_eq!(queued.len(), 1);
    assert!(
        serde_json::to_vec(&queued[0]).unwrap().len() < 128 * 1024,
        "the queued message stays far below SQS's 256 KiB"
    );
    let number = ticket_of(&env, &queued[0]).await;

    let (api, token) = agent_api_with_files(&env, &bucket).await;
    let (status, _, detail) =
        baton_tests::agent_call(&api, &token, "GET", &format!("/v1/tickets/{number}"), None).await;
    assert_eq!(status, 200, "{detail}");
    let first = &detail["thread"][0];
    assert_eq!(first["kind"], "message");
    let text = first["text"].as_str().unwrap();
    assert!(text.len() <= baton_domain::caps::TEXT_CAP && text.starts_with("I want to talk to a human"));
    assert_eq!(first["original"]["truncated"], true);
    assert_eq!(first["sender"]["id"], "ann@example.com");
    assert_eq!(first["sender"]["verified"], true);
    assert_eq!(first["sender"]["authentication"], "spf=PASS dkim=PASS dmarc=PASS");

    // One click away: the whole text, inline and as a link, and the raw message.
    let link = first["original"]["link"].as_str().unwrap();
    let (status, _, original) = baton_tests::agent_call(&api, &token, "GET", link, None).await;
    assert_eq!(status, 200, "{original}");
    let full = original["text"].as_str().unwrap();
    assert!(
        full.len() > 700 * 1024 - 1024 && full.ends_with(&last_line),
        "the full text, to its last line"
    );
    let via_link = fetch(original["text_url"].as_str().unwrap())
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(via_link, full);
    let raw_back = fetch(original["raw_url"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(raw_back.as_ref(), raw.as_bytes());

    // Attachments: listed with name, type and size, downloadable, never rendered.
    let attachments = first["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 2, "{attachments:?}");
    assert_eq!(attachments[0]["file_name"], "invoice <1>.pdf");
    assert_eq!(attachments[0]["content_type"], "application/pdf");
    assert_eq!(attachments[0]["size"], pdf.len());
    let (status, _, link) =
        baton_tests::agent_call(&api, &token, "GET", attachments[0]["download"].as_str().unwrap(), None).await;
    assert_eq!(status, 200, "{link}");
    let r = fetch(link["url"].as_str().unwrap()).await;
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    let disposition = r.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"invoice <1>.pdf\""),
        "{disposition}"
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), pdf);
    let (_, _, html) =
        baton_tests::agent_call(&api, &token, "GET", attachments[1]["download"].as_str().unwrap(), None).await;
    let r = fetch(html["url"].as_str().unwrap()).await;
    assert_eq!(
        r.headers()["content-type"],
        "application/octet-stream",
        "HTML is a download, never a page"
    );

    // Wrong entry, wrong index, another tenant's view of the path: 404.
    let base = attachments[0]["download"]
        .as_str()
        .unwrap()
        .rsplit_once('/')
        .unwrap()
        .0
        .to_owned();
    for path in [
        format!("{base}/9"),
        format!("/v1/tickets/{number}/entries/01JBADBADBADBADBADBADBADBA/original"),
    ] {
        let (status, _, _) = baton_tests::agent_call(&api, &token, "GET", &path, None).await;
        assert_eq!(status, 404, "{path}");
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_below_and_between_quotes_keep_the_customers_words_and_the_quotes_stay_one_click_away() {
    let (env, deps, bucket) = setup().await;
    let first = mail(
        "Ann <ann@example.com>",
        SUPPORT,
        "q1@example.com",
        "",
        "I want to talk to a human about a broken lamp.",
    );
    deliver(&deps, &bucket, "q1", &first, &[SUPPORT], "PASS").await;
    let opened = triage_all(&env).await;
    let number = ticket_of(&env, &opened[0]).await;
    let reply_body = "Hi,\r\n\r\nOn Fri, Nov 20, 2026 at 10:02 AM Demo Shop <support@demo.example> wrote:\r\n> What is your order number?\r\n\r\n4411\r\n\r\n> Which part is broken?\r\n\r\nThe glass shade, it arrived cracked.\r\n\r\nSent from my phone because my laptop broke.\r\n";
    let reply = mail(
        "Ann <ann@example.com>",
        SUPPORT,
        "q2@example.com",
        "In-Reply-To: <q1@example.com>\r\nReferences: <q1@example.com>\r\n",
        reply_body,
    );
    deliver(&deps, &bucket, "q2", &reply, &[SUPPORT], "PASS").await;
    triage_all(&env).await;
    let (api, token) = agent_api_with_files(&env, &bucket).await;
    let (_, _, detail) = baton_tests::agent_call(&api, &token, "GET", &format!("/v1/tickets/{number}"), None).await;
    let messages: Vec<&Value> = detail["thread"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "message" && e["actor"] == "customer")
        .collect();
    assert_eq!(messages.len(), 2, "{detail}");
    assert_eq!(
        messages[1]["text"],
        "Hi,\n\n4411\n\nThe glass shade, it arrived cracked.\n\nSent from my phone because my laptop broke."
    );
    let (_, _, original) = baton_tests::agent_call(
        &api,
        &token,
        "GET",
        messages[1]["original"]["link"].as_str().unwrap(),
        None,
    )
    .await;
    assert!(original["text"].as_str().unwrap().contains("> Which part is broken?"));
    assert_eq!(original["truncated"], false);
}
