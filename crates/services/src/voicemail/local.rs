//! How message-waiting reads our voicemail: `services::mwi::LocalVoicemail` over the
//! mailbox rows (ready messages only, so the counts equal the files).

use store::{MwiCounts, MwiMessage, StoreError};

use super::{Message, VmError, Voicemail};
use crate::mwi::{LocalMailbox, LocalVoicemail};
use crate::provider::BoxFuture;

fn store_err(e: VmError) -> StoreError {
    match e {
        VmError::Store(s) => s,
        other => StoreError::Invalid {
            what: "voicemail",
            why: other.to_string(),
        },
    }
}

fn mwi_message(m: &Message) -> MwiMessage {
    MwiMessage {
        id: m.id.0.to_string(),
        at: Some(m.received_at),
        ani: Some(m.caller.clone()),
        dnis: Some(m.called.clone()),
        subject: (!m.subject.is_empty()).then(|| m.subject.clone()),
        urgent: false,
        new: !m.heard,
    }
}

impl Voicemail {
    async fn local_mailbox(&self, aor: &str) -> Result<LocalMailbox, StoreError> {
        let list = self.list(aor, None).await.map_err(store_err)?;
        let new = list.iter().filter(|m| !m.heard).count();
        let counts = MwiCounts {
            new: u32::try_from(new).unwrap_or(u32::MAX),
            old: u32::try_from(list.len() - new).unwrap_or(u32::MAX),
            urgent_new: 0,
            urgent_old: 0,
        };
        Ok(LocalMailbox {
            counts,
            messages: list.iter().map(mwi_message).collect(),
        })
    }
}

impl LocalVoicemail for Voicemail {
    fn mailbox<'a>(&'a self, aor: &'a str) -> BoxFuture<'a, Result<LocalMailbox, StoreError>> {
        Box::pin(self.local_mailbox(aor))
    }

    fn mailboxes(&self) -> BoxFuture<'_, Result<Vec<(String, LocalMailbox)>, StoreError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for (aor, _, _) in self.all_counts().await.map_err(store_err)? {
                let mb = self.local_mailbox(&aor).await?;
                out.push((aor, mb));
            }
            Ok(out)
        })
    }
}
