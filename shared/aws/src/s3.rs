//! The S3 adapter of the `BlobStore` port: raw inbound mail and extracted attachments.

use crate::sdk_error::classify;
use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
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

    async fn put_download(&self, key: &str, content: Vec<u8>, file_name: Option<&str>) -> Result<(), BlobError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/octet-stream")
            .content_disposition(content_disposition(file_name))
            .body(ByteStream::from(content))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn presign_get(&self, key: &str, ttl_secs: u64) -> Result<String, BlobError> {
        let config =
            PresigningConfig::expires_in(std::time::Duration::from_secs(ttl_secs)).map_err(|e| BlobError::Backend {
                kind: baton_domain::error::BackendErrorKind::Rejected,
                source: Box::new(e),
            })?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(backend)?;
        Ok(request.uri().to_owned())
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

/// `attachment`, with the file name as RFC 6266 gives it: an ASCII fallback (quotes,
/// backslashes and control characters replaced) and the exact name percent-encoded.
pub fn content_disposition(file_name: Option<&str>) -> String {
    let Some(name) = file_name.map(str::trim).filter(|n| !n.is_empty()) else {
        return "attachment".into();
    };
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn file_names_cannot_break_out_of_the_header() {
        assert_eq!(content_disposition(None), "attachment");
        assert_eq!(
            content_disposition(Some("factura.pdf")),
            "attachment; filename=\"factura.pdf\"; filename*=UTF-8''factura.pdf"
        );
        let evil = content_disposition(Some("a\"; x=\r\nSet-Cookie: y.html"));
        assert!(!evil.contains('\r') && !evil.contains('\n'));
        assert!(
            evil.starts_with("attachment; filename=\"a_; x=__Set-Cookie: y.html\""),
            "{evil}"
        );
        assert!(content_disposition(Some("Größe.png")).ends_with("filename*=UTF-8''Gr%C3%B6%C3%9Fe.png"));
    }
}
