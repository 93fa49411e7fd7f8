//! Creates the template's table, queues and buckets on a local AWS endpoint and resolves
//! `!Ref` / `!GetAtt` / `!Sub` the way CloudFormation would.
//!
//! Physical names are `{stack}-{LogicalId}` (plus `.fifo` for FIFO queues; buckets
//! lower-cased), so `infra/local/env.json` can name them for stack `baton-local`.

use crate::template::{Expr, QueueDef, Template};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde::Deserialize;
use serde_yaml::Value;
use std::collections::BTreeMap;

pub const ACCOUNT_ID: &str = "123456789012";
pub const REGION: &str = "us-east-1";

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("resource {resource}: {reason}")]
    Template { resource: String, reason: String },
    #[error("creating {resource} failed: {source}")]
    Aws {
        resource: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot resolve {0}")]
    Unresolved(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Physical {
    Table { name: String },
    Queue { name: String, url: String, arn: String },
    Bucket { name: String },
    Key { id: String, arn: String },
}

/// What was created, by logical id, and the parameter values in force.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    pub stack: String,
    pub physical: BTreeMap<String, Physical>,
    pub parameters: BTreeMap<String, String>,
}

impl Resources {
    pub fn table_name(&self) -> Option<&str> {
        self.physical.values().find_map(|p| match p {
            Physical::Table { name } => Some(name.as_str()),
            _ => None,
        })
    }

    pub fn queue(&self, logical_id: &str) -> Option<(&str, &str)> {
        match self.physical.get(logical_id)? {
            Physical::Queue { url, arn, .. } => Some((url, arn)),
            _ => None,
        }
    }

    pub fn resolve(&self, expr: &Expr) -> Result<String, ProvisionError> {
        match expr {
            Expr::Literal(s) => Ok(s.clone()),
            Expr::Ref(r) => self.resolve_ref(r),
            Expr::GetAtt(r, a) => self.resolve_getatt(r, a),
            Expr::Sub(s) => self.resolve_sub(s),
        }
    }

    fn resolve_ref(&self, r: &str) -> Result<String, ProvisionError> {
        match r {
            "AWS::Region" => return Ok(REGION.into()),
            "AWS::AccountId" => return Ok(ACCOUNT_ID.into()),
            "AWS::StackName" => return Ok(self.stack.clone()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".into()),
            "AWS::Partition" => return Ok("aws".into()),
            _ => {}
        }
        if let Some(v) = self.parameters.get(r) {
            return Ok(v.clone());
        }
        match self.physical.get(r) {
            Some(Physical::Table { name }) | Some(Physical::Bucket { name }) => Ok(name.clone()),
            Some(Physical::Queue { url, .. }) => Ok(url.clone()),
            Some(Physical::Key { id, .. }) => Ok(id.clone()),
            None => Err(ProvisionError::Unresolved(format!("!Ref {r}"))),
        }
    }

    fn resolve_getatt(&self, r: &str, attr: &str) -> Result<String, ProvisionError> {
        let missing = || ProvisionError::Unresolved(format!("!GetAtt {r}.{attr}"));
        match (self.physical.get(r).ok_or_else(missing)?, attr) {
            (Physical::Table { name }, "Arn") => Ok(format!("arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}")),
            (Physical::Queue { arn, .. }, "Arn") => Ok(arn.clone()),
            (Physical::Queue { name, .. }, "QueueName") => Ok(name.clone()),
            (Physical::Queue { url, .. }, "QueueUrl") => Ok(url.clone()),
            (Physical::Bucket { name }, "Arn") => Ok(format!("arn:aws:s3:::{name}")),
            (Physical::Key { arn, .. }, "Arn") => Ok(arn.clone()),
            _ => Err(missing()),
        }
    }

    fn resolve_sub(&self, s: &str) -> Result<String, ProvisionError> {
        let mut out = String::new();
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| ProvisionError::Unresolved(s.to_owned()))?;
            let name = &after[..end];
            let value = match name.split_once('.') {
                Some((r, a)) => self.resolve_getatt(r, a)?,
                None => self.resolve_ref(name)?,
            };
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

pub fn queue_name(stack: &str, q: &QueueDef) -> String {
    if q.fifo {
        format!("{stack}-{}.fifo", q.logical_id)
    } else {
        format!("{stack}-{}", q.logical_id)
    }
}

pub fn table_name(stack: &str, logical_id: &str) -> String {
    format!("{stack}-{logical_id}")
}

pub fn bucket_name(stack: &str, logical_id: &str) -> String {
    format!("{stack}-{logical_id}").to_ascii_lowercase()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TableProps {
    attribute_definitions: Vec<AttrDef>,
    key_schema: Vec<KeyDef>,
    #[serde(default)]
    global_secondary_indexes: Vec<GsiDef>,
    time_to_live_specification: Option<TtlDef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttrDef {
    attribute_name: String,
    attribute_type: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyDef {
    attribute_name: String,
    key_type: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GsiDef {
    index_name: String,
    key_schema: Vec<KeyDef>,
    projection: ProjectionDef,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProjectionDef {
    projection_type: String,
    #[serde(default)]
    non_key_attributes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TtlDef {
    attribute_name: String,
    enabled: bool,
}

fn aws_err<E: std::error::Error + Send + Sync + 'static>(resource: &str) -> impl FnOnce(E) -> ProvisionError + '_ {
    move |e| ProvisionError::Aws {
        resource: resource.to_owned(),
        source: Box::new(e),
    }
}

fn key_schema(defs: &[KeyDef], resource: &str) -> Result<Vec<KeySchemaElement>, ProvisionError> {
    defs.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(aws_err(resource))
        })
        .collect()
}

async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    logical_id: &str,
    props: &Value,
) -> Result<(), ProvisionError> {
    let p: TableProps = serde_yaml::from_value(props.clone()).map_err(|e| ProvisionError::Template {
        resource: logical_id.into(),
        reason: e.to_string(),
    })?;
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for a in &p.attribute_definitions {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .map_err(aws_err(logical_id))?,
        );
    }
    req = req.set_key_schema(Some(key_schema(&p.key_schema, logical_id)?));
    for g in &p.global_secondary_indexes {
        let mut projection =
            Projection::builder().projection_type(ProjectionType::from(g.projection.projection_type.as_str()));
        for a in &g.projection.non_key_attributes {
            projection = projection.non_key_attributes(a);
        }
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&g.index_name)
                .set_key_schema(Some(key_schema(&g.key_schema, logical_id)?))
                .projection(projection.build())
                .build()
                .map_err(aws_err(logical_id))?,
        );
    }
    match req.send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => return Ok(()),
        Err(e) => return Err(aws_err(logical_id)(e)),
    }
    if let Some(ttl) = p.time_to_live_specification {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(ttl.attribute_name)
                    .enabled(ttl.enabled)
                    .build()
                    .map_err(aws_err(logical_id))?,
            )
            .send()
            .await
            .map_err(aws_err(logical_id))?;
    }
    Ok(())
}

async fn create_queue(
    client: &aws_sdk_sqs::Client,
    stack: &str,
    q: &QueueDef,
    created: &BTreeMap<String, Physical>,
) -> Result<Physical, ProvisionError> {
    let name = queue_name(stack, q);
    let mut req = client.create_queue().queue_name(&name);
    if q.fifo {
        req = req.attributes(QueueAttributeName::FifoQueue, "true");
        if q.content_based_dedup {
            req = req.attributes(QueueAttributeName::ContentBasedDeduplication, "true");
        }
    }
    if let Some(v) = q.visibility_timeout {
        req = req.attributes(QueueAttributeName::VisibilityTimeout, v.to_string());
    }
    if let Some(v) = q.retention {
        req = req.attributes(QueueAttributeName::MessageRetentionPeriod, v.to_string());
    }
    if let Some((dlq, max)) = &q.redrive {
        let Some(Physical::Queue { arn, .. }) = created.get(dlq) else {
            return Err(ProvisionError::Template {
                resource: q.logical_id.clone(),
                reason: format!("dead-letter queue {dlq} not found"),
            });
        };
        let policy = serde_json::json!({ "deadLetterTargetArn": arn, "maxReceiveCount": max }).to_string();
        req = req.attributes(QueueAttributeName::RedrivePolicy, policy);
    }
    let out = req.send().await.map_err(aws_err(&q.logical_id))?;
    let url = out.queue_url.unwrap_or_default();
    let attrs = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(aws_err(&q.logical_id))?;
    let arn = attrs
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap_or_else(|| format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"));
    Ok(Physical::Queue { name, url, arn })
}

/// Creates everything the template declares (idempotently: existing resources are kept).
/// SES sends only from verified identities: the local endpoint verifies the domains of
/// the local settings' sender addresses (`mail_out::FROM_ENV_VARS`), as an operator
/// verifies theirs in AWS.
/// A KMS key per template key, found again by its alias `alias/{stack}-{LogicalId}` so a
/// second `make dev` keeps the key (and the channel tokens sealed under it).
async fn create_key(kms: &aws_sdk_kms::Client, stack: &str, logical_id: &str) -> Result<Physical, ProvisionError> {
    let alias = format!("alias/{stack}-{logical_id}");
    if let Ok(found) = kms.describe_key().key_id(&alias).send().await {
        if let Some(m) = found.key_metadata() {
            return Ok(Physical::Key {
                id: m.key_id().to_owned(),
                arn: m.arn().unwrap_or_default().to_owned(),
            });
        }
    }
    let created = kms
        .create_key()
        .description(format!("{stack} {logical_id}"))
        .send()
        .await
        .map_err(aws_err(logical_id))?;
    let m = created.key_metadata().ok_or_else(|| ProvisionError::Template {
        resource: logical_id.to_owned(),
        reason: "KMS returned no key".into(),
    })?;
    kms.create_alias()
        .alias_name(&alias)
        .target_key_id(m.key_id())
        .send()
        .await
        .map_err(aws_err(logical_id))?;
    Ok(Physical::Key {
        id: m.key_id().to_owned(),
        arn: m.arn().unwrap_or_default().to_owned(),
    })
}

pub async fn verify_sender_domains(
    sdk: &aws_config::SdkConfig,
    env_file: &crate::envfile::EnvFile,
) -> Result<(), ProvisionError> {
    let ses = aws_sdk_ses::Client::new(sdk);
    for var in baton_domain::mail_out::FROM_ENV_VARS {
        let Some(domain) = env_file
            .get("Parameters", var)
            .and_then(|a| a.rsplit_once('@'))
            .map(|(_, d)| d.to_owned())
        else {
            continue;
        };
        ses.verify_domain_identity()
            .domain(&domain)
            .send()
            .await
            .map_err(aws_err("sender domain"))?;
    }
    Ok(())
}

pub async fn provision(
    sdk: &aws_config::SdkConfig,
    template: &Template,
    stack: &str,
    parameter_overrides: &BTreeMap<String, String>,
) -> Result<Resources, ProvisionError> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build());
    let mut res = Resources {
        stack: stack.to_owned(),
        ..Default::default()
    };
    for (k, v) in &template.parameters {
        res.parameters.insert(
            k.clone(),
            parameter_overrides
                .get(k)
                .cloned()
                .or_else(|| v.clone())
                .unwrap_or_default(),
        );
    }
    for t in &template.tables {
        let name = table_name(stack, &t.logical_id);
        create_table(&ddb, &name, &t.logical_id, &t.properties).await?;
        res.physical.insert(t.logical_id.clone(), Physical::Table { name });
    }
    // Dead-letter queues first: the queues that redrive into them need their ARNs.
    let (plain, redriven): (Vec<&QueueDef>, Vec<&QueueDef>) = template.queues.iter().partition(|q| q.redrive.is_none());
    for q in plain.into_iter().chain(redriven) {
        let p = create_queue(&sqs, stack, q, &res.physical).await?;
        res.physical.insert(q.logical_id.clone(), p);
    }
    for b in &template.buckets {
        let name = bucket_name(stack, &b.logical_id);
        match s3.create_bucket().bucket(&name).send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()) => {}
            Err(e) => return Err(aws_err(&b.logical_id)(e)),
        }
        res.physical.insert(b.logical_id.clone(), Physical::Bucket { name });
    }
    if !template.keys.is_empty() {
        let kms = aws_sdk_kms::Client::new(sdk);
        for k in &template.keys {
            let key = create_key(&kms, stack, &k.logical_id).await?;
            res.physical.insert(k.logical_id.clone(), key);
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources() -> Resources {
        let mut r = Resources {
            stack: "s".into(),
            ..Default::default()
        };
        r.physical.insert("T".into(), Physical::Table { name: "s-T".into() });
        r.physical.insert(
            "Q".into(),
            Physical::Queue {
                name: "s-Q".into(),
                url: "http://h/1/s-Q".into(),
                arn: "arn:aws:sqs:us-east-1:1:s-Q".into(),
            },
        );
        r.parameters.insert("P".into(), "v".into());
        r
    }

    #[test]
    fn resolves_refs_getatts_and_subs_like_cloudformation() {
        let r = resources();
        assert_eq!(r.resolve(&Expr::Ref("T".into())).unwrap(), "s-T");
        assert_eq!(r.resolve(&Expr::Ref("Q".into())).unwrap(), "http://h/1/s-Q");
        assert_eq!(r.resolve(&Expr::Ref("P".into())).unwrap(), "v");
        assert_eq!(r.resolve(&Expr::GetAtt("Q".into(), "QueueName".into())).unwrap(), "s-Q");
        assert_eq!(
            r.resolve(&Expr::Sub("${AWS::Region}/${T}/${Q.Arn}".into())).unwrap(),
            "us-east-1/s-T/arn:aws:sqs:us-east-1:1:s-Q"
        );
        assert!(r.resolve(&Expr::Ref("Nope".into())).is_err());
    }
}
