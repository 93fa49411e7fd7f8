//! What a message carried, served as short-lived links into the bucket: the full text and
//! raw mail of an e-mail, and every stored attachment. The bytes never pass through the
//! API; attachments are stored as `application/octet-stream` with `Content-Disposition:
//! attachment`, so a browser downloads them and never renders them.

use crate::error::{ApiError, ErrorBody};
use crate::tickets::load;
use crate::views::{downloadable, DownloadLink, OriginalBody};
use crate::{ok, Ctx};
use baton_domain::conversation::Original;
use baton_domain::ports::{BlobError, BlobStore};
use baton_domain::ticket::{TimelineEntry, TimelineKind};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};

/// How long a download link works.
pub const LINK_TTL_SECS: u64 = 300;
/// Full texts up to this size come inline in the response.
const INLINE_TEXT_BYTES: usize = 1024 * 1024;

type Res = Result<Response<Body>, ApiError>;

fn files<'a>(ctx: &'a Ctx<'_>) -> Result<&'a dyn BlobStore, ApiError> {
    ctx.deps.files.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "files_unavailable",
            "this deployment has no file bucket configured (RAW_MAIL_BUCKET)",
        )
    })
}

fn blob_error(e: BlobError) -> ApiError {
    tracing::error!(error = %e, "file storage failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "files_unavailable",
        "file storage failed; retry",
    )
}

/// The ticket's message entry named by the path (`404` for anything else).
async fn message_entry(ctx: &Ctx<'_>) -> Result<TimelineEntry, ApiError> {
    let ticket = load(ctx).await?;
    let id = ctx
        .param("id")
        .parse::<ulid::Ulid>()
        .map_err(|_| ApiError::not_found("entry"))?;
    let entry = match ctx
        .deps
        .store
        .get_timeline_entry(&ctx.caller.tenant, ticket.number, id)
        .await
    {
        Ok(e) => e,
        Err(baton_domain::StoreError::NotFound { .. }) => return Err(ApiError::not_found("entry")),
        Err(e) => return Err(e.into()),
    };
    match entry.entry {
        TimelineKind::Message { .. } => Ok(entry),
        _ => Err(ApiError::not_found("entry")),
    }
}

#[utoipa::path(
    get, operation_id = "entries_original", path = "/v1/tickets/{number}/entries/{id}/original", tag = "tickets",
    summary = "The whole of a message: its full text and its raw original",
    description = "For a thread entry with `original`: the full text (quoted history and signature \
                   included, never capped) inline when at most 1 MiB, and short-lived links to it and \
                   to the raw message as received.",
    params(("number" = u64, Path), ("id" = String, Path, description = "The thread entry id")),
    responses(
        (status = 200, body = OriginalBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn original(ctx: &Ctx<'_>) -> Res {
    let entry = message_entry(ctx).await?;
    let TimelineKind::Message {
        original:
            Some(Original {
                text_key,
                text_bytes,
                raw_key,
                truncated,
            }),
        text,
        ..
    } = entry.entry
    else {
        return Err(ApiError::not_found("original (the message text is all of it)"));
    };
    let store = files(ctx)?;
    let full = match &text_key {
        Some(key) if (text_bytes as usize) <= INLINE_TEXT_BYTES => match store.get(key, INLINE_TEXT_BYTES).await {
            Ok(Some(bytes)) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            Ok(None) => None,
            Err(BlobError::TooLarge(_)) => None,
            Err(e) => return Err(blob_error(e)),
        },
        Some(_) => None,
        None => Some(text),
    };
    let link = |key: Option<String>| async move {
        match key {
            Some(k) => store.presign_get(&k, LINK_TTL_SECS).await.map(Some).map_err(blob_error),
            None => Ok(None),
        }
    };
    ok(&OriginalBody {
        text: full,
        text_bytes,
        truncated,
        text_url: link(text_key).await?,
        raw_url: link(raw_key).await?,
        expires_in: LINK_TTL_SECS,
    })
}

#[utoipa::path(
    get, operation_id = "entries_attachment", path = "/v1/tickets/{number}/entries/{id}/attachments/{index}", tag = "tickets",
    summary = "A short-lived download link for one attachment of a message",
    description = "`index` is the attachment's position in the entry's `attachments`. The link serves \
                   the bytes as `application/octet-stream` with `Content-Disposition: attachment`. \
                   `404` for an attachment without stored bytes (a location, or one past the caps: \
                   it is in the raw message, see `original`).",
    params(("number" = u64, Path), ("id" = String, Path), ("index" = u32, Path)),
    responses(
        (status = 200, body = DownloadLink),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn attachment(ctx: &Ctx<'_>) -> Res {
    let entry = message_entry(ctx).await?;
    let TimelineKind::Message { attachments, .. } = entry.entry else {
        return Err(ApiError::not_found("entry"));
    };
    let a = ctx
        .param("index")
        .parse::<usize>()
        .ok()
        .and_then(|i| attachments.get(i))
        .ok_or_else(|| ApiError::not_found("attachment"))?;
    let key = match (&a.stored_key, downloadable(a)) {
        (Some(key), true) => key,
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_stored",
                a.omitted
                    .clone()
                    .unwrap_or_else(|| "this attachment has no stored bytes".into()),
            ))
        }
    };
    let url = files(ctx)?.presign_get(key, LINK_TTL_SECS).await.map_err(blob_error)?;
    ok(&DownloadLink {
        url,
        file_name: a.file_name.clone(),
        content_type: a.mime_type.clone(),
        size: a.size,
        expires_in: LINK_TTL_SECS,
    })
}
