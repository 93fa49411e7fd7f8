//! What a message carried, served as short-lived links into the bucket: the full text and
//! raw mail of an e-mail, and every stored attachment. The bytes never pass through the
//! API; attachments are stored as `application/octet-stream` with `Content-Disposition:
//! attachment`, so a browser downloads them and never renders them.

use crate::error::{ApiError, ErrorBody};
use crate::tickets::load;
use crate::views::{downloadable, fetchable, DownloadLink, OriginalBody};
use crate::{ok, Ctx};
use baton_domain::caps;
use baton_domain::conversation::{Attachment, Original};
use baton_domain::error::BackendErrorKind;
use baton_domain::ports::{BlobError, BlobStore, MediaError};
use baton_domain::ticket::{TimelineEntry, TimelineKind};
use baton_domain::Channel;
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
    ApiError::unavailable("file storage", 1)
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
                   WhatsApp and Instagram media are fetched from the channel (the Graph API) on \
                   their first download and kept. `404` for an attachment without bytes (a \
                   location, one past the caps: it is in the raw message, see `original`; or \
                   media the channel no longer has, `media_gone`).",
    params(("number" = u64, Path), ("id" = String, Path), ("index" = u32, Path)),
    responses(
        (status = 200, body = DownloadLink),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn attachment(ctx: &Ctx<'_>) -> Res {
    let entry = message_entry(ctx).await?;
    let TimelineKind::Message {
        attachments, channel, ..
    } = &entry.entry
    else {
        return Err(ApiError::not_found("entry"));
    };
    let channel = *channel;
    let index = ctx
        .param("index")
        .parse::<usize>()
        .map_err(|_| ApiError::not_found("attachment"))?;
    let a = attachments
        .get(index)
        .ok_or_else(|| ApiError::not_found("attachment"))?;
    let store = files(ctx)?;
    let (key, size) = match (&a.stored_key, downloadable(a)) {
        (Some(key), true) => (key.clone(), a.size),
        _ if fetchable(channel, a) => {
            let (key, size) = fetch_once(ctx, store, &entry, channel, index, a).await?;
            (key, Some(size))
        }
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
    let url = store.presign_get(&key, LINK_TTL_SECS).await.map_err(blob_error)?;
    ok(&DownloadLink {
        url,
        file_name: a.file_name.clone(),
        content_type: a.mime_type.clone(),
        size,
        expires_in: LINK_TTL_SECS,
    })
}

/// Fetches channel media through the Graph API into S3 and records where it is, so every
/// later download is served from S3 (the channel keeps media only for a while). Two
/// downloads at once both fetch and write the same key with the same bytes.
async fn fetch_once(
    ctx: &Ctx<'_>,
    store: &dyn BlobStore,
    entry: &TimelineEntry,
    channel: Channel,
    index: usize,
    a: &Attachment,
) -> Result<(String, u64), ApiError> {
    let Some(media) = ctx.deps.media.as_deref() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_stored",
            "this deployment does not fetch channel media",
        ));
    };
    let fetched = match media
        .fetch(&ctx.caller.tenant, channel, &a.reference, caps::MAX_ATTACHMENT_BYTES)
        .await
    {
        Ok(m) => m,
        Err(MediaError::Gone) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "media_gone",
                "the channel no longer has this media (WhatsApp keeps it for 30 days)",
            ))
        }
        Err(e @ (MediaError::TooLarge(_) | MediaError::Refused(_))) => {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "not_stored", e.to_string()))
        }
        Err(MediaError::Backend {
            kind: BackendErrorKind::Throttled | BackendErrorKind::Unavailable | BackendErrorKind::Contended,
            message,
        }) => {
            tracing::warn!(error = %message, "channel media unavailable");
            return Err(ApiError::unavailable("the channel", 5));
        }
        Err(e) => {
            tracing::error!(error = %e, "the channel refused a media download");
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "channel_refused",
                "the channel refused the download (check the channel's access token)",
            ));
        }
    };
    let key = format!(
        "attachments/{}/media/{}/{}/{index}",
        ctx.caller.tenant, entry.ticket, entry.id
    );
    let size = fetched.bytes.len() as u64;
    store
        .put_download(&key, fetched.bytes, a.file_name.as_deref())
        .await
        .map_err(blob_error)?;
    ctx.deps
        .store
        .set_attachment_stored(&ctx.caller.tenant, entry.ticket, entry.id, index, &key, size)
        .await?;
    tracing::info!(index, size, "channel media stored");
    Ok((key, size))
}
