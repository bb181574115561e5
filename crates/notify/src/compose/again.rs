//! A written notice rendered again, as it was first rendered (same kind, incidents, playbook,
//! time and alert link): for an email fallback that was written unrendered and is now due,
//! and for the next contact when nobody acknowledged.
use super::notice::failed_platforms;
use super::{Composer, EmailTexts, NoticeContext, NoticeDraft, Reach, Rendered};
use meoktong_domain::message::NoticeKind;
use meoktong_storage::entity::{dependencies, incidents, notices, outbox as outbox_entity};
use meoktong_storage::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use meoktong_storage::{StorageError, contacts, outbox};
use std::collections::HashMap;

impl Composer {
    /// The notice's texts as they were rendered when it was written, with the alert link the
    /// first contact got. `None` when the merchant or the incidents no longer exist, or the
    /// stored kind is unknown.
    pub async fn render_again(
        &self,
        notice: &notices::Model,
        sent: &[outbox_entity::Model],
    ) -> Result<Option<Rendered>, StorageError> {
        let kind = match NoticeKind::parse(&notice.kind) {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(notice.id = notice.id, error = %e, "cannot render the notice again");
                return Ok(None);
            }
        };
        let Some(merchant) = contacts::merchant(self.db(), notice.merchant_id).await? else {
            return Ok(None);
        };
        let incs = self.incidents_of(notice).await?;
        if incs.is_empty() {
            return Ok(None);
        }
        let token = match self.link_token(notice, sent) {
            Some(t) => t,
            None => {
                // Never expected (every message carries the link): a fresh link for the
                // next contact is better than a dead one.
                let t = outbox::new_link_token(notice.created_at);
                outbox::set_link_token(self.db(), self.crypto(), notice.id, &t).await?;
                tracing::warn!(
                    notice.id = notice.id,
                    "alert link not found in the sent messages; a new one is made"
                );
                t
            }
        };
        let mut draft = NoticeDraft::new(notice.merchant_id, kind, incs, "");
        if kind == NoticeKind::PartialRecovery {
            // Not recorded with the notice: what this merchant was told is down and was still
            // down when the notice was written.
            draft.still_down =
                outbox::told_down_open_at(self.db(), notice.merchant_id, notice.created_at).await?;
        }
        let named: Vec<incidents::Model> = draft
            .incidents
            .iter()
            .chain(&draft.still_down)
            .cloned()
            .collect();
        let deps = self.dependencies_of(&named).await?;
        let ctx = NoticeContext::new(
            self.config(),
            &merchant,
            &draft,
            &deps,
            &token,
            notice.created_at,
        );
        let playbooks = contacts::playbooks(self.db(), merchant.id).await?;
        Ok(Some(ctx.render_within(&playbooks, self.config().sms_limit)))
    }

    /// The subject, text and HTML of an email fallback written unrendered, as the notice's
    /// other messages were rendered, with the same alert link. `None` when the notice, its
    /// merchant or its incidents are gone.
    pub async fn render_email(
        &self,
        row: &outbox_entity::Model,
    ) -> Result<Option<EmailTexts>, StorageError> {
        let Some(notice) = outbox::notice(self.db(), row.notice_id).await? else {
            return Ok(None);
        };
        let sent = outbox::messages_of_notice(self.db(), notice.id).await?;
        Ok(self.render_again(&notice, &sent).await?.map(|r| r.email()))
    }

    /// The next contact after the notice's current one with a usable channel, and its
    /// messages with the notice's texts and link. `None` when the notice cannot be rendered
    /// again (its merchant or incidents are gone).
    pub async fn next_contact(
        &self,
        notice: &notices::Model,
        now: i64,
    ) -> Result<Option<Reach>, StorageError> {
        let sent = outbox::messages_of_notice(self.db(), notice.id).await?;
        let Some(rendered) = self.render_again(notice, &sent).await? else {
            return Ok(None);
        };
        let people = contacts::of_merchant(self.db(), self.crypto(), notice.merchant_id).await?;
        let incs = self.incidents_of(notice).await?;
        let failed = failed_platforms(&incs, &self.dependencies_of(&incs).await?);
        // Escalation is not part of a fan-out's queue: its place is taken as the first.
        let mut queued = 0;
        Ok(Some(self.first_usable(
            notice.merchant_id,
            &people,
            &failed,
            &rendered,
            &notice.dedupe_key,
            notice.contact_position + 1,
            &mut queued,
            now,
        )))
    }

    async fn incidents_of(
        &self,
        notice: &notices::Model,
    ) -> Result<Vec<incidents::Model>, StorageError> {
        let ids: Vec<i64> = serde_json::from_str(&notice.incident_ids).unwrap_or_default();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(incidents::Entity::find()
            .filter(incidents::Column::Id.is_in(ids))
            .all(&self.db().conn)
            .await?)
    }

    async fn dependencies_of(
        &self,
        incs: &[incidents::Model],
    ) -> Result<HashMap<i64, dependencies::Model>, StorageError> {
        let ids: Vec<i64> = incs.iter().map(|i| i.dependency_id).collect();
        Ok(dependencies::Entity::find()
            .filter(dependencies::Column::Id.is_in(ids))
            .all(&self.db().conn)
            .await?
            .into_iter()
            .map(|d| (d.id, d))
            .collect())
    }

    /// The alert link's token, read back from a message already rendered for the notice
    /// (only its keyed hash is stored) and checked against that hash.
    fn link_token(&self, notice: &notices::Model, sent: &[outbox_entity::Model]) -> Option<String> {
        outbox::link_token_in(
            self.crypto(),
            &self.config().public_url,
            &notice.token_hash,
            sent,
        )
    }
}
