use super::{from_item, keys, to_item, DynamoStore};
use async_trait::async_trait;
use baton_domain::ports::EmailRefStore;
use baton_domain::{ConversationId, StoreError, TenantId};
use serde::{Deserialize, Serialize};

const EMAIL_REF: &str = "email_ref";
const SES_MESSAGE: &str = "ses_message";

#[derive(Serialize, Deserialize)]
struct EmailRef {
    message_id: String,
    conversation_id: ConversationId,
}

#[async_trait]
impl EmailRefStore for DynamoStore {
    async fn record_email_ref(
        &self,
        tenant: &TenantId,
        message_id: &str,
        conversation: ConversationId,
    ) -> Result<(), StoreError> {
        let item = to_item(
            EMAIL_REF,
            keys::email_ref(tenant, message_id),
            &EmailRef {
                message_id: message_id.to_owned(),
                conversation_id: conversation,
            },
        )?;
        // First writer wins: a Message-ID belongs to the thread it first appeared in.
        match self.put_new(EMAIL_REF, item).await {
            Ok(()) | Err(StoreError::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn record_ses_message(
        &self,
        ses_message_id: &str,
        sent: &baton_domain::ports::SentEmail,
    ) -> Result<(), StoreError> {
        let item = to_item(SES_MESSAGE, keys::ses_message(ses_message_id), sent)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| super::backend("record SES message", e))?;
        Ok(())
    }

    async fn find_ses_message(
        &self,
        ses_message_id: &str,
    ) -> Result<Option<baton_domain::ports::SentEmail>, StoreError> {
        self.get_optional_as(SES_MESSAGE, keys::ses_message(ses_message_id))
            .await
    }

    async fn find_email_ref(
        &self,
        tenant: &TenantId,
        message_ids: &[String],
    ) -> Result<Option<ConversationId>, StoreError> {
        for id in message_ids {
            if let Some(item) = self.get(EMAIL_REF, keys::email_ref(tenant, id)).await? {
                let r: EmailRef = from_item(EMAIL_REF, item)?;
                return Ok(Some(r.conversation_id));
            }
        }
        Ok(None)
    }
}
