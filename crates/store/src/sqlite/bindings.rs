//! Registrar bindings: soft state, persisted only so that a restart keeps registrations.

use super::{BEGIN_WRITE, Db, narrow};
use crate::{Binding, Result};

type BindingRow = (
    String,
    String,
    i64,
    Option<f64>,
    String,
    i64,
    Option<String>,
    String,
    String,
    Option<String>,
    Option<String>,
);

impl Db {
    pub(crate) async fn save_bindings(&self, aor: &str, bindings: &[Binding]) -> Result<()> {
        self.save_bindings_many(&[(aor.to_owned(), bindings.to_vec())])
            .await
    }

    /// Several AORs in one transaction: one commit (one WAL sync) for a whole batch, and
    /// multi-row statements, since every statement is a round trip to sqlx's worker thread.
    pub(crate) async fn save_bindings_many(&self, sets: &[(String, Vec<Binding>)]) -> Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        for chunk in sets.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!("DELETE FROM bindings WHERE aor IN ({marks})");
            let mut q = sqlx::query(&sql);
            for (aor, _) in chunk {
                q = q.bind(aor);
            }
            q.execute(&mut *tx).await?;
        }
        let rows: Vec<(&str, &Binding)> = sets
            .iter()
            .flat_map(|(aor, bs)| bs.iter().map(move |b| (aor.as_str(), b)))
            .collect();
        for chunk in rows.chunks(500) {
            let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO bindings (aor, contact, expires_at, q, call_id, cseq, instance,
                                       transport, source, user_agent, classes) VALUES {values}"
            );
            let mut q = sqlx::query(&sql);
            for (aor, b) in chunk {
                q = q
                    .bind(*aor)
                    .bind(&b.contact)
                    .bind(b.expires_at)
                    .bind(b.q.map(f64::from))
                    .bind(&b.call_id)
                    .bind(i64::from(b.cseq))
                    .bind(&b.instance)
                    .bind(&b.transport)
                    .bind(&b.source)
                    .bind(&b.user_agent)
                    .bind(&b.classes);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl Db {
    pub(crate) async fn load_bindings(&self, now_unix: i64) -> Result<Vec<Binding>> {
        // Expired rows are of no use to anyone; dropping them here keeps the table from
        // collecting AORs that never registered again.
        sqlx::query("DELETE FROM bindings WHERE expires_at <= ?")
            .bind(now_unix)
            .execute(&self.pool)
            .await?;
        let rows: Vec<BindingRow> = sqlx::query_as(
            "SELECT aor, contact, expires_at, q, call_id, cseq, instance, transport, source,
                    user_agent, classes
             FROM bindings WHERE expires_at > ? ORDER BY aor, id",
        )
        .bind(now_unix)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(binding).collect()
    }
}

fn binding(row: BindingRow) -> Result<Binding> {
    let (
        aor,
        contact,
        expires_at,
        q,
        call_id,
        cseq,
        instance,
        transport,
        source,
        user_agent,
        classes,
    ) = row;
    Ok(Binding {
        aor,
        contact,
        expires_at,
        // Written from an f32, so narrowing back is exact.
        q: q.map(|q| q as f32),
        call_id,
        cseq: narrow(cseq, "bindings.cseq")?,
        instance,
        transport,
        source,
        user_agent,
        classes,
    })
}
