//! The S3 adapter of the `BlobStore` port: raw inbound mail and extracted attachments.

use crate::sdk_error::classify;
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use baton_domain::ports::{BlobError, BlobStore};

#[derive(Clone, Debug)]
pub struct S3Bucket {
    client: Client,
    bucket: String,
}

impl S3Bucket {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Bucket {
            client,
            bucket: bucket.into(),
        }
    }

    /// Path-style addressing, so a local endpoint works without per-bucket host names.
    pub fn client_for(sdk: &aws_config::SdkConfig) -> Client {
        Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build())
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

fn backend<E, R>(e: aws_sdk_s3::error::SdkError<E, R>) -> BlobError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    BlobError::Backend {
        kind: classify(&e),
        source: Box::new(e),
    }
}

#[async_trait]
impl BlobStore for S3Bucket {
    async fn get(&self, key: &str, max_bytes: usize) -> Result<Option<Vec<u8>>, BlobError> {
        let out = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        if out.content_length.is_some_and(|l| l as usize > max_bytes) {
            return Err(BlobError::TooLarge(max_bytes));
        }
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| BlobError::Backend {
                kind: baton_domain::error::BackendErrorKind::Unavailable,
                source: Box::new(e),
            })?
            .into_bytes();
        if bytes.len() > max_bytes {
            return Err(BlobError::TooLarge(max_bytes));
        }
        Ok(Some(bytes.to_vec()))
    }

    async fn put(&self, key: &str, content: Vec<u8>, content_type: &str) -> Result<(), BlobError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(content))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), BlobError> {
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(format!("{}/{from}", self.bucket))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}
