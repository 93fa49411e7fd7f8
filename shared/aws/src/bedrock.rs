//! The Bedrock answerer: one Converse call with the tenant's persona, the conversation and
//! the retrieved passages, forced to answer through a tool whose input schema is the
//! structured answer (text, confidence, cited article ids, whether a human is needed).
//! Any failure (timeout, throttling, an answer in the wrong shape) is an `AnswerError`,
//! which the decision turns into a handoff: an AI failure never leaves a customer unanswered.

use async_trait::async_trait;
use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, ContentBlock, ConversationRole, ConverseOutput, InferenceConfiguration, Message, SpecificToolChoice,
    SystemContentBlock, Tool, ToolChoice, ToolConfiguration, ToolInputSchema, ToolSpecification,
};
use aws_sdk_bedrockruntime::Client;
use aws_smithy_types::{Document, Number};
use baton_domain::triage::{AnswerError, AnswerRequest, Answerer, OrderLookup, ProposedAnswer};
use baton_domain::ArticleId;
use std::time::Duration;

const TOOL: &str = "answer_customer";
/// Offered when retrieval found close candidates: ask the customer which one applies.
const CLARIFY_TOOL: &str = "ask_which_article";
const SUMMARY_TOOL: &str = "summarize_case";
/// Offered when the tenant has a shop: look one of the customer's orders up. Baton runs the
/// lookup under its disclosure rule and words the answer itself, so the model never sees
/// an order (it cannot leak or misstate one).
const LOOKUP_TOOL: &str = "lookup_order";

pub struct BedrockAnswerer {
    client: Client,
    model_id: String,
    timeout: Duration,
}

impl BedrockAnswerer {
    pub fn new(client: Client, model_id: impl Into<String>, timeout: Duration) -> Self {
        BedrockAnswerer {
            client,
            model_id: model_id.into(),
            timeout,
        }
    }

    /// `BEDROCK_MODEL_ID` set: a Bedrock answerer (timeout `BEDROCK_TIMEOUT_MS`, default
    /// 8000); unset: `None`, and the caller uses the deterministic answerer.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Option<Self> {
        let model = crate::config::optional_env_var("BEDROCK_MODEL_ID")?;
        let ms = crate::config::optional_env_var("BEDROCK_TIMEOUT_MS")
            .and_then(|v| v.parse().ok())
            .unwrap_or(8000);
        Some(BedrockAnswerer::new(Client::new(sdk), model, Duration::from_millis(ms)))
    }
}

/// The answerer the decision uses in this process: Bedrock with `BEDROCK_MODEL_ID`, the
/// deterministic one without (the local default). Triage and the answer preview both take
/// it from here, so they answer alike.
pub fn answerer_from_env(sdk: &aws_config::SdkConfig) -> Box<dyn baton_domain::triage::Answerer> {
    match BedrockAnswerer::from_env(sdk) {
        Some(b) => Box::new(b),
        None => Box::new(baton_domain::triage::DeterministicAnswerer),
    }
}

/// serde_json → Smithy document (tool schemas).
pub fn to_document(v: &serde_json::Value) -> Document {
    match v {
        serde_json::Value::Null => Document::Null,
        serde_json::Value::Bool(b) => Document::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Document::Number(Number::PosInt(u)),
            (_, Some(i), _) => Document::Number(Number::NegInt(i)),
            (_, _, f) => Document::Number(Number::Float(f.unwrap_or_default())),
        },
        serde_json::Value::String(s) => Document::String(s.clone()),
        serde_json::Value::Array(a) => Document::Array(a.iter().map(to_document).collect()),
        serde_json::Value::Object(o) => Document::Object(o.iter().map(|(k, v)| (k.clone(), to_document(v))).collect()),
    }
}

/// Smithy document → serde_json (tool input from the model).
pub fn from_document(d: &Document) -> serde_json::Value {
    match d {
        Document::Null => serde_json::Value::Null,
        Document::Bool(b) => (*b).into(),
        Document::Number(Number::PosInt(u)) => (*u).into(),
        Document::Number(Number::NegInt(i)) => (*i).into(),
        Document::Number(Number::Float(f)) => serde_json::Number::from_f64(*f).map(Into::into).unwrap_or_default(),
        Document::String(s) => s.clone().into(),
        Document::Array(a) => a.iter().map(from_document).collect::<Vec<_>>().into(),
        Document::Object(o) => o
            .iter()
            .map(|(k, v)| (k.clone(), from_document(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}

fn schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "answer": { "type": "string", "description": "The reply to the customer, from the passages only." },
            "confidence": { "type": "number", "minimum": 0, "maximum": 1, "description": "How sure you are the passages answer the question." },
            "cited_article_ids": { "type": "array", "items": { "type": "string" }, "description": "Ids of the passages the answer uses." },
            "needs_human": { "type": "boolean", "description": "True if a person must handle this (account changes, exceptions, complaints, anything the passages do not cover)." },
            "reason": { "type": "string", "description": "Why a human is needed, when needs_human is true." }
        },
        "required": ["answer", "confidence", "cited_article_ids", "needs_human"]
    })
}

fn clarify_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "question": { "type": "string", "description": "One short sentence asking which of the articles the customer means (the numbered titles are added after it)." },
            "article_ids": { "type": "array", "items": { "type": "string" }, "description": "Ids of the passages that could apply." }
        },
        "required": ["question", "article_ids"]
    })
}

fn lookup_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "number": { "type": "string", "description": "The order number the customer gave (digits, e.g. 1001), if they gave one." }
        }
    })
}

fn system_prompt(r: &AnswerRequest<'_>) -> String {
    let mut s = format!(
        "{}\n\nAnswer the customer's last message using only the knowledge-base passages below. \
         Reply through the {TOOL} tool. Cite the ids of the passages you used. If the passages do not \
         answer the question, or the customer needs an action only a person can take, set needs_human \
         to true and explain why. Never invent policies, prices or order details.\n",
        r.persona
    );
    if r.may_look_up_order {
        s.push_str(&format!(
            "\nIf the customer asks where one of their orders is, whether it shipped or arrived, or for its \
             tracking, do not answer it yourself: call the {LOOKUP_TOOL} tool, with the order number if \
             they gave one. Baton checks who the customer is and answers from the shop.\n"
        ));
    }
    if r.may_clarify {
        s.push_str(&format!(
            "\nThese passages are close matches for different questions. Unless the conversation makes \
             clear which one the customer means, do not guess: ask through the {CLARIFY_TOOL} tool.\n"
        ));
    }
    if r.passages.is_empty() {
        s.push_str("\nNo passage matches this question.\n");
        return s;
    }
    s.push_str("\nPassages:\n");
    for (hit, article) in &r.passages {
        s.push_str(&format!(
            "\n[id: {}] {}\n{}\n",
            hit.article_id,
            article.title,
            baton_domain::caps::cap_text(article.body.trim(), baton_domain::triage::ARTICLE_BYTES_IN_PROMPT).0
        ));
    }
    s
}

fn build_err(e: impl std::fmt::Display) -> AnswerError {
    AnswerError(format!("request: {e}"))
}

fn spec(name: &str, description: &str, schema: serde_json::Value) -> Result<Tool, AnswerError> {
    ToolSpecification::builder()
        .name(name)
        .description(description)
        .input_schema(ToolInputSchema::Json(to_document(&schema)))
        .build()
        .map(Tool::ToolSpec)
        .map_err(build_err)
}

/// Conversation turns must alternate and start with the user; merge what does not.
fn turns(r: &AnswerRequest<'_>) -> Vec<(ConversationRole, String)> {
    let mut out: Vec<(ConversationRole, String)> = Vec::new();
    let all = r
        .history
        .iter()
        .map(|(c, t)| (*c, t.as_str()))
        .chain(std::iter::once((true, r.question)));
    for (from_customer, text) in all {
        let role = if from_customer {
            ConversationRole::User
        } else {
            ConversationRole::Assistant
        };
        match out.last_mut() {
            Some((last, t)) if *last == role => {
                t.push('\n');
                t.push_str(text);
            }
            None if role == ConversationRole::Assistant => {}
            _ => out.push((role, text.to_owned())),
        }
    }
    out
}

#[async_trait]
impl Answerer for BedrockAnswerer {
    async fn answer(&self, r: &AnswerRequest<'_>) -> Result<ProposedAnswer, AnswerError> {
        let tool = spec(
            TOOL,
            "Give the answer to the customer, with confidence and citations, or ask for a human.",
            schema(),
        )?;
        let mut config = ToolConfiguration::builder().tools(tool);
        if r.may_clarify {
            config = config.tools(spec(
                CLARIFY_TOOL,
                "Ask the customer which of the close candidates their question is about.",
                clarify_schema(),
            )?);
        }
        if r.may_look_up_order {
            config = config.tools(spec(
                LOOKUP_TOOL,
                "Look up one of the customer's orders in the shop (Baton answers the customer from it).",
                lookup_schema(),
            )?);
        }
        // One tool: forced; several: the model picks one of them (never plain text).
        config = if r.may_clarify || r.may_look_up_order {
            config.tool_choice(ToolChoice::Any(AnyToolChoice::builder().build()))
        } else {
            config.tool_choice(ToolChoice::Tool(
                SpecificToolChoice::builder().name(TOOL).build().map_err(build_err)?,
            ))
        };
        let config = config.build().map_err(build_err)?;
        let mut req = self
            .client
            .converse()
            .model_id(&self.model_id)
            .system(SystemContentBlock::Text(system_prompt(r)))
            .tool_config(config)
            .inference_config(
                InferenceConfiguration::builder()
                    .max_tokens(800)
                    .temperature(0.0)
                    .build(),
            );
        for (role, text) in turns(r) {
            req = req.messages(
                Message::builder()
                    .role(role)
                    .content(ContentBlock::Text(text))
                    .build()
                    .map_err(build_err)?,
            );
        }
        let out = match tokio::time::timeout(self.timeout, req.send()).await {
            Err(_) => return Err(AnswerError(format!("timed out after {:?}", self.timeout))),
            Ok(Err(e)) => {
                let code = aws_sdk_bedrockruntime::error::ProvideErrorMetadata::code(&e)
                    .unwrap_or("unknown")
                    .to_owned();
                tracing::warn!(model = %self.model_id, code = %code, "model call failed");
                return Err(AnswerError(format!("model call failed: {code}")));
            }
            Ok(Ok(o)) => o,
        };
        let Some(ConverseOutput::Message(message)) = out.output else {
            return Err(AnswerError("no message in the model output".into()));
        };
        let (tool, input) = message
            .content
            .iter()
            .find_map(|c| match c {
                ContentBlock::ToolUse(t)
                    if t.name == TOOL
                        || (r.may_clarify && t.name == CLARIFY_TOOL)
                        || (r.may_look_up_order && t.name == LOOKUP_TOOL) =>
                {
                    Some((t.name.as_str(), from_document(&t.input)))
                }
                _ => None,
            })
            .ok_or_else(|| AnswerError("the model did not answer through the tool".into()))?;
        match tool {
            CLARIFY_TOOL => parse_clarify_input(&input),
            LOOKUP_TOOL => Ok(parse_lookup_input(&input)),
            _ => parse_tool_input(&input),
        }
    }

    fn looks_up_orders(&self) -> bool {
        true
    }

    async fn summarize(&self, conversation: &[(bool, String)], handoff_reason: &str) -> Option<String> {
        match self.summary_call(conversation, handoff_reason).await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "model summary failed; using the extractive summary");
                None
            }
        }
    }
}

impl BedrockAnswerer {
    async fn summary_call(&self, conversation: &[(bool, String)], reason: &str) -> Result<String, AnswerError> {
        let schema = serde_json::json!({
            "type": "object",
            "properties": { "summary": { "type": "string", "description": "Two or three sentences for the agent taking over." } },
            "required": ["summary"]
        });
        let tool = spec(
            SUMMARY_TOOL,
            "Summarise the case for the support agent who takes over.",
            schema,
        )?;
        let config = ToolConfiguration::builder()
            .tools(tool)
            .tool_choice(ToolChoice::Tool(
                SpecificToolChoice::builder()
                    .name(SUMMARY_TOOL)
                    .build()
                    .map_err(build_err)?,
            ))
            .build()
            .map_err(build_err)?;
        let transcript: String = conversation
            .iter()
            .map(|(c, t)| format!("{}: {t}\n", if *c { "Customer" } else { "Assistant" }))
            .collect();
        let prompt = format!(
            "This support conversation is being handed to a human agent because {reason}. \
             Summarise what the customer needs, what was already answered, and what is still open.\n\n{transcript}"
        );
        let req = self
            .client
            .converse()
            .model_id(&self.model_id)
            .tool_config(config)
            .inference_config(
                InferenceConfiguration::builder()
                    .max_tokens(300)
                    .temperature(0.0)
                    .build(),
            )
            .messages(
                Message::builder()
                    .role(ConversationRole::User)
                    .content(ContentBlock::Text(prompt))
                    .build()
                    .map_err(build_err)?,
            );
        let out = tokio::time::timeout(self.timeout, req.send())
            .await
            .map_err(|_| AnswerError("summary timed out".into()))?
            .map_err(|e| {
                AnswerError(format!(
                    "summary failed: {}",
                    aws_sdk_bedrockruntime::error::ProvideErrorMetadata::code(&e).unwrap_or("unknown")
                ))
            })?;
        let Some(ConverseOutput::Message(message)) = out.output else {
            return Err(AnswerError("no message in the model output".into()));
        };
        message
            .content
            .iter()
            .find_map(|c| match c {
                ContentBlock::ToolUse(t) if t.name == SUMMARY_TOOL => {
                    from_document(&t.input)["summary"].as_str().map(str::to_owned)
                }
                _ => None,
            })
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| AnswerError("the model did not summarise through the tool".into()))
    }
}

/// Checks the structured answer: every field in its type, confidence in 0..1.
pub fn parse_tool_input(v: &serde_json::Value) -> Result<ProposedAnswer, AnswerError> {
    let bad = |what: &str| AnswerError(format!("malformed answer: {what}"));
    let text = v["answer"].as_str().ok_or_else(|| bad("answer"))?.trim().to_owned();
    let confidence = v["confidence"]
        .as_f64()
        .filter(|c| (0.0..=1.0).contains(c))
        .ok_or_else(|| bad("confidence"))?;
    let cited = v["cited_article_ids"]
        .as_array()
        .ok_or_else(|| bad("cited_article_ids"))?
        .iter()
        .filter_map(|c| c.as_str().and_then(|s| ArticleId::new(s).ok()))
        .collect();
    let needs_human = v["needs_human"].as_bool().ok_or_else(|| bad("needs_human"))?;
    let reason = v["reason"].as_str().map(str::to_owned).filter(|s| !s.trim().is_empty());
    Ok(ProposedAnswer {
        text,
        confidence,
        cited,
        needs_human: needs_human.then(|| reason.unwrap_or_else(|| "the assistant asked for a person".into())),
        clarify: None,
        look_up_order: None,
    })
}

/// Checks a clarifying question: a lead-in and the candidate ids it is about.
pub fn parse_clarify_input(v: &serde_json::Value) -> Result<ProposedAnswer, AnswerError> {
    let bad = |what: &str| AnswerError(format!("malformed clarifying question: {what}"));
    let question = v["question"].as_str().ok_or_else(|| bad("question"))?.trim().to_owned();
    let cited = v["article_ids"]
        .as_array()
        .ok_or_else(|| bad("article_ids"))?
        .iter()
        .filter_map(|c| c.as_str().and_then(|s| ArticleId::new(s).ok()))
        .collect();
    Ok(ProposedAnswer {
        text: String::new(),
        confidence: 0.0,
        cited,
        needs_human: None,
        clarify: Some(question),
        look_up_order: None,
    })
}

/// A request to look an order up: its number when the model passed one Baton reads as an
/// order number (anything else counts as no number, and the customer is asked for it).
pub fn parse_lookup_input(v: &serde_json::Value) -> ProposedAnswer {
    ProposedAnswer {
        text: String::new(),
        confidence: 0.0,
        cited: vec![],
        needs_human: None,
        clarify: None,
        look_up_order: Some(OrderLookup {
            number: v["number"]
                .as_str()
                .and_then(baton_domain::commerce::plain_order_number),
        }),
    }
}
