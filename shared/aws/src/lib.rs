//! Baton's AWS adapters: the DynamoDB single-table store and the SQS queue that implement
//! the ports of `baton-domain`, plus configuration, telemetry and the SQS batch helper
//! shared by every function.

pub mod batch;
#[cfg(feature = "bedrock")]
pub mod bedrock;
pub mod config;
pub mod dynamo;
#[cfg(feature = "graph")]
pub mod graph;
pub mod http;
#[cfg(feature = "kms")]
pub mod kms;
#[cfg(any(feature = "graph", feature = "shop"))]
pub mod lazy_http;
pub mod meta_webhook;
pub mod metrics;
pub mod s3;
pub mod sdk_error;
#[cfg(feature = "ses")]
pub mod ses;
#[cfg(feature = "shop")]
pub mod shop;
pub mod sqs;
pub mod telemetry;

pub use config::{aws_sdk_config, env_var, ConfigError};
pub use dynamo::DynamoStore;
pub use s3::S3Bucket;
pub use sqs::SqsQueue;
