//! Reads `template.yaml`: the one description of Baton's resources, used both by
//! `sam deploy` and by the local runner, so local and deployed shapes cannot drift.

use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("template is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("resource {resource}: {reason}")]
    Resource { resource: String, reason: String },
}

/// A value that CloudFormation resolves at deploy time.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(String),
    Ref(String),
    GetAtt(String, String),
    Sub(String),
}

impl Expr {
    pub fn parse(v: &Value) -> Option<Expr> {
        match v {
            Value::String(s) => Some(Expr::Literal(s.clone())),
            Value::Number(n) => Some(Expr::Literal(n.to_string())),
            Value::Bool(b) => Some(Expr::Literal(b.to_string())),
            Value::Tagged(t) => {
                let tag = t.tag.to_string();
                match (tag.trim_start_matches('!'), &t.value) {
                    ("Ref", Value::String(s)) => Some(Expr::Ref(s.clone())),
                    ("GetAtt", Value::String(s)) => split_getatt(s),
                    ("GetAtt", Value::Sequence(seq)) => getatt_seq(seq),
                    ("Sub", Value::String(s)) => Some(Expr::Sub(s.clone())),
                    _ => None,
                }
            }
            Value::Mapping(m) if m.len() == 1 => {
                let (k, v) = m.iter().next()?;
                match (k.as_str()?, v) {
                    ("Ref", Value::String(s)) => Some(Expr::Ref(s.clone())),
                    ("Fn::GetAtt", Value::String(s)) => split_getatt(s),
                    ("Fn::GetAtt", Value::Sequence(seq)) => getatt_seq(seq),
                    ("Fn::Sub", Value::String(s)) => Some(Expr::Sub(s.clone())),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The resource this expression points at, if any.
    pub fn target(&self) -> Option<&str> {
        match self {
            Expr::Ref(r) | Expr::GetAtt(r, _) => Some(r),
            _ => None,
        }
    }
}

fn split_getatt(s: &str) -> Option<Expr> {
    let (r, a) = s.split_once('.')?;
    Some(Expr::GetAtt(r.to_owned(), a.to_owned()))
}

fn getatt_seq(seq: &[Value]) -> Option<Expr> {
    match seq {
        [Value::String(r), Value::String(a)] => Some(Expr::GetAtt(r.clone(), a.clone())),
        _ => None,
    }
}

#[derive(Debug, Clone)]
pub struct Template {
    pub parameters: BTreeMap<String, Option<String>>,
    pub tables: Vec<Resource>,
    pub queues: Vec<QueueDef>,
    pub buckets: Vec<Resource>,
    /// KMS keys (channel secrets, alarm encryption).
    pub keys: Vec<Resource>,
    pub functions: Vec<FunctionDef>,
    /// SES receipt rules that store a message in a bucket, then invoke a function.
    pub receipt_rules: Vec<ReceiptRuleDef>,
}

/// An `AWS::SES::ReceiptRule` with an `S3Action` followed by a `LambdaAction`: what SES
/// does with mail for the inbound domain, and what the runner's local mail drop repeats.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiptRuleDef {
    pub logical_id: String,
    /// The bucket's logical id.
    pub bucket: String,
    pub prefix: String,
    /// The function's logical id.
    pub function: String,
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub logical_id: String,
    pub properties: Value,
}

#[derive(Debug, Clone)]
pub struct QueueDef {
    pub logical_id: String,
    pub fifo: bool,
    pub content_based_dedup: bool,
    pub visibility_timeout: Option<u32>,
    pub retention: Option<u32>,
    /// `(dead-letter queue logical id, maxReceiveCount)`.
    pub redrive: Option<(String, u32)>,
}

#[derive(Debug, Clone)]
pub struct FunctionDef {
    pub logical_id: String,
    pub code_uri: String,
    pub timeout_secs: u32,
    pub memory_mb: u32,
    pub environment: BTreeMap<String, Expr>,
    pub http_routes: Vec<HttpRoute>,
    pub sqs_sources: Vec<SqsSource>,
    pub schedules: Vec<ScheduleDef>,
    /// The queue failed asynchronous invocations go to (`DeadLetterQueue`).
    pub dead_letter_queue: Option<String>,
    /// The layers it references (`Layers: [!Ref …]`), by logical id.
    pub layers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpRoute {
    pub method: String,
    pub path: String,
}

#[derive(Debug, Clone)]
pub struct SqsSource {
    pub event_name: String,
    pub queue_logical_id: String,
    pub batch_size: u32,
    pub report_batch_item_failures: bool,
}

#[derive(Debug, Clone)]
pub struct ScheduleDef {
    pub event_name: String,
    pub expression: String,
    pub enabled: bool,
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping()?.get(Value::String(key.to_owned()))
}

fn get_str(v: &Value, key: &str) -> Option<String> {
    match get(v, key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn get_u32(v: &Value, key: &str) -> Option<u32> {
    get_str(v, key)?.parse().ok()
}

fn get_bool(v: &Value, key: &str) -> bool {
    get_str(v, key).is_some_and(|s| s == "true")
}

impl Template {
    pub fn load(path: &Path) -> Result<Template, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Template::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let doc: Value = serde_yaml::from_str(text)?;
        let mut t = Template {
            parameters: BTreeMap::new(),
            tables: vec![],
            queues: vec![],
            buckets: vec![],
            keys: vec![],
            functions: vec![],
            receipt_rules: vec![],
        };
        if let Some(Value::Mapping(params)) = get(&doc, "Parameters") {
            for (k, v) in params {
                if let Some(name) = k.as_str() {
                    t.parameters.insert(name.to_owned(), get_str(v, "Default"));
                }
            }
        }
        let globals = get(&doc, "Globals")
            .and_then(|g| get(g, "Function"))
            .cloned()
            .unwrap_or(Value::Null);
        let Some(Value::Mapping(resources)) = get(&doc, "Resources") else {
            return Ok(t);
        };
        for (k, v) in resources {
            let Some(id) = k.as_str() else { continue };
            let props = get(v, "Properties").cloned().unwrap_or(Value::Null);
            let bad = |reason: &str| TemplateError::Resource {
                resource: id.to_owned(),
                reason: reason.to_owned(),
            };
            match get_str(v, "Type").as_deref() {
                Some("AWS::DynamoDB::Table") => t.tables.push(Resource {
                    logical_id: id.to_owned(),
                    properties: props,
                }),
                Some("AWS::S3::Bucket") => t.buckets.push(Resource {
                    logical_id: id.to_owned(),
                    properties: props,
                }),
                Some("AWS::KMS::Key") => t.keys.push(Resource {
                    logical_id: id.to_owned(),
                    properties: props,
                }),
                Some("AWS::SQS::Queue") => {
                    let redrive = match get(&props, "RedrivePolicy") {
                        Some(rp) => {
                            let target = get(rp, "deadLetterTargetArn")
                                .and_then(Expr::parse)
                                .and_then(|e| e.target().map(str::to_owned))
                                .ok_or_else(|| bad("RedrivePolicy.deadLetterTargetArn must reference a queue"))?;
                            let max = get_u32(rp, "maxReceiveCount")
                                .ok_or_else(|| bad("RedrivePolicy needs maxReceiveCount"))?;
                            Some((target, max))
                        }
                        None => None,
                    };
                    t.queues.push(QueueDef {
                        logical_id: id.to_owned(),
                        fifo: get_bool(&props, "FifoQueue"),
                        content_based_dedup: get_bool(&props, "ContentBasedDeduplication"),
                        visibility_timeout: get_u32(&props, "VisibilityTimeout"),
                        retention: get_u32(&props, "MessageRetentionPeriod"),
                        redrive,
                    });
                }
                Some("AWS::Serverless::Function") => t.functions.push(parse_function(id, &props, &globals)?),
                Some("AWS::SES::ReceiptRule") => t.receipt_rules.extend(parse_receipt_rule(id, &props)),
                _ => {}
            }
        }
        Ok(t)
    }

    pub fn function(&self, name: &str) -> Option<&FunctionDef> {
        self.functions
            .iter()
            .find(|f| f.logical_id == name || f.package_dir_name() == name)
    }
}

impl FunctionDef {
    /// The last path component of `CodeUri`: the crate directory under `functions/`.
    pub fn package_dir_name(&self) -> &str {
        self.code_uri
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(&self.code_uri)
    }
}

fn parse_receipt_rule(id: &str, props: &Value) -> Option<ReceiptRuleDef> {
    let Some(Value::Sequence(actions)) = get(props, "Rule").and_then(|r| get(r, "Actions")) else {
        return None;
    };
    let target = |v: Option<&Value>| v.and_then(Expr::parse).and_then(|e| e.target().map(str::to_owned));
    let s3 = actions.iter().find_map(|a| get(a, "S3Action"))?;
    let lambda = actions.iter().find_map(|a| get(a, "LambdaAction"))?;
    Some(ReceiptRuleDef {
        logical_id: id.to_owned(),
        bucket: target(get(s3, "BucketName"))?,
        prefix: get_str(s3, "ObjectKeyPrefix").unwrap_or_default(),
        function: target(get(lambda, "FunctionArn"))?,
    })
}

fn parse_function(id: &str, props: &Value, globals: &Value) -> Result<FunctionDef, TemplateError> {
    let bad = |reason: String| TemplateError::Resource {
        resource: id.to_owned(),
        reason,
    };
    let code_uri = get_str(props, "CodeUri").ok_or_else(|| bad("CodeUri must be a local path".into()))?;
    let mut environment = BTreeMap::new();
    for source in [globals, props] {
        if let Some(Value::Mapping(vars)) = get(source, "Environment").and_then(|e| get(e, "Variables")) {
            for (k, v) in vars {
                let name = k
                    .as_str()
                    .ok_or_else(|| bad("environment variable names must be strings".into()))?;
                let expr = Expr::parse(v).ok_or_else(|| bad(format!("unsupported value for {name}")))?;
                environment.insert(name.to_owned(), expr);
            }
        }
    }
    let mut f = FunctionDef {
        logical_id: id.to_owned(),
        code_uri,
        timeout_secs: get_u32(props, "Timeout")
            .or_else(|| get_u32(globals, "Timeout"))
            .unwrap_or(3),
        memory_mb: get_u32(props, "MemorySize")
            .or_else(|| get_u32(globals, "MemorySize"))
            .unwrap_or(128),
        environment,
        http_routes: vec![],
        sqs_sources: vec![],
        schedules: vec![],
        dead_letter_queue: get(props, "DeadLetterQueue")
            .and_then(|d| get(d, "TargetArn"))
            .and_then(Expr::parse)
            .and_then(|e| e.target().map(str::to_owned)),
        layers: match get(props, "Layers") {
            Some(Value::Sequence(layers)) => layers
                .iter()
                .filter_map(|l| Expr::parse(l).and_then(|e| e.target().map(str::to_owned)))
                .collect(),
            _ => vec![],
        },
    };
    if let Some(Value::Mapping(events)) = get(props, "Events") {
        for (k, ev) in events {
            let name = k.as_str().unwrap_or_default().to_owned();
            let p = get(ev, "Properties").cloned().unwrap_or(Value::Null);
            match get_str(ev, "Type").as_deref() {
                Some("HttpApi") => {
                    let path = get_str(&p, "Path").ok_or_else(|| bad(format!("event {name}: HttpApi needs Path")))?;
                    let method = get_str(&p, "Method")
                        .unwrap_or_else(|| "ANY".into())
                        .to_ascii_uppercase();
                    f.http_routes.push(HttpRoute { method, path });
                }
                Some("SQS") => {
                    let queue = get(&p, "Queue")
                        .and_then(Expr::parse)
                        .and_then(|e| e.target().map(str::to_owned))
                        .ok_or_else(|| bad(format!("event {name}: SQS Queue must reference a queue")))?;
                    let report = match get(&p, "FunctionResponseTypes") {
                        Some(Value::Sequence(s)) => s.iter().any(|v| v.as_str() == Some("ReportBatchItemFailures")),
                        _ => false,
                    };
                    f.sqs_sources.push(SqsSource {
                        event_name: name,
                        queue_logical_id: queue,
                        batch_size: get_u32(&p, "BatchSize").unwrap_or(10),
                        report_batch_item_failures: report,
                    });
                }
                Some("Schedule" | "ScheduleV2") => {
                    let expression = get_str(&p, "Schedule")
                        .or_else(|| get_str(&p, "ScheduleExpression"))
                        .ok_or_else(|| bad(format!("event {name}: Schedule needs an expression")))?;
                    let enabled = get_str(&p, "Enabled").map(|e| e != "false").unwrap_or(true)
                        && get_str(&p, "State").map(|s| s != "DISABLED").unwrap_or(true);
                    f.schedules.push(ScheduleDef {
                        event_name: name,
                        expression,
                        enabled,
                    });
                }
                _ => {}
            }
        }
    }
    Ok(f)
}

/// Parses `rate(N unit)` into seconds. Cron expressions are not run locally.
pub fn rate_seconds(expr: &str) -> Option<u64> {
    let inner = expr.strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.trim().split_once(' ')?;
    let n: u64 = n.parse().ok()?;
    let mult = match unit.trim() {
        "second" | "seconds" => 1,
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        _ => return None,
    };
    Some(n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = r#"
Parameters:
  Secret: { Type: String, Default: "" }
  Level: { Type: String, Default: info }
Globals:
  Function:
    Timeout: 7
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
Resources:
  Table: { Type: AWS::DynamoDB::Table, Properties: { BillingMode: PAY_PER_REQUEST } }
  Q:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      VisibilityTimeout: 2
      RedrivePolicy: { deadLetterTargetArn: !GetAtt D.Arn, maxReceiveCount: 3 }
  D: { Type: AWS::SQS::Queue, Properties: { FifoQueue: true } }
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/thing
      Environment: { Variables: { QUEUE: !Ref Q, ARN: { "Fn::GetAtt": [Q, Arn] }, S: !Sub "${Q}-x" } }
      Events:
        Get: { Type: HttpApi, Properties: { Path: "/things/{id}", Method: get } }
        Consume: { Type: SQS, Properties: { Queue: !GetAtt Q.Arn, BatchSize: 5, FunctionResponseTypes: [ReportBatchItemFailures] } }
        Tick: { Type: Schedule, Properties: { Schedule: rate(5 minutes) } }
"#;

    #[test]
    fn reads_resources_functions_and_their_events() {
        let t = Template::parse(T).unwrap();
        assert_eq!(t.tables.len(), 1);
        let q = t.queues.iter().find(|q| q.logical_id == "Q").unwrap();
        assert!(q.fifo);
        assert_eq!(q.redrive, Some(("D".to_owned(), 3)));
        let f = t.function("thing").unwrap();
        assert_eq!(f.logical_id, "Fn");
        assert_eq!(f.timeout_secs, 7);
        assert_eq!(f.environment["TABLE_NAME"], Expr::Ref("Table".into()));
        assert_eq!(f.environment["ARN"], Expr::GetAtt("Q".into(), "Arn".into()));
        assert_eq!(f.environment["S"], Expr::Sub("${Q}-x".into()));
        assert_eq!(
            f.http_routes,
            vec![HttpRoute {
                method: "GET".into(),
                path: "/things/{id}".into()
            }]
        );
        assert_eq!(f.sqs_sources[0].queue_logical_id, "Q");
        assert!(f.sqs_sources[0].report_batch_item_failures);
        assert_eq!(f.sqs_sources[0].batch_size, 5);
        assert_eq!(rate_seconds(&f.schedules[0].expression), Some(300));
        assert_eq!(t.parameters["Level"].as_deref(), Some("info"));
    }

    #[test]
    fn the_real_template_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
        let t = Template::load(&path).unwrap();
        assert!(!t.functions.is_empty());
        assert!(t.queues.iter().filter(|q| q.redrive.is_none()).count() >= 1);
        // SES stores inbound mail, then hands it to the function: the local mail drop
        // does the same.
        assert_eq!(
            t.receipt_rules,
            vec![ReceiptRuleDef {
                logical_id: "ReceiptRule".into(),
                bucket: "RawMailBucket".into(),
                prefix: "inbound/".into(),
                function: "InboundEmailFunction".into(),
            }]
        );
    }
}
