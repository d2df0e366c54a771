//! A street's plugin versions, which one is active (`street_plugins`), the history of
//! switches (`plugin_activations`) and the faults recorded against a version.
//!
//! A version's number is taken under the street's row lock, so simultaneous uploads get
//! 1, 2, 3 in order; a switch of the active version writes its history entry in the same
//! transaction; a fault that reaches the limit quarantines the version in the transaction
//! that records it.

use sqlx::{any::AnyRow, Any, AnyPool, Executor, Row};
use uuid::Uuid;

use super::{
    lock_row,
    notifications::{self, NewNotification, To},
    page::{Page, PageRequest},
    rows::{get_enum, get_opt_uuid, get_uuid},
    Sql, Tx,
};
use crate::{
    domain::{
        notification::NotificationType,
        plugin::{FaultRecord, PluginStatus, PluginVersion},
        FaultKind,
    },
    plugin::host::PluginKind,
    Error, Result,
};

/// The version a street uses now, if any (quarantined or not).
pub async fn active_id<'e>(
    db: impl Executor<'e, Database = Any>,
    street: Uuid,
) -> Result<Option<Uuid>> {
    let row = sqlx::query("SELECT active_version_id FROM street_plugins WHERE street_id = $1")
        .bind(street.to_string())
        .fetch_optional(db)
        .await?;
    match row {
        Some(r) => get_opt_uuid(&r, "active_version_id"),
        None => Ok(None),
    }
}

/// The columns of a version that listings read (not its source).
const LISTED: &str =
    "id, street_id, number, kind, content_hash, source_bytes, contract_version, hooks, \
     config, note, status, consecutive_faults, total_faults, created_at, quarantined_at";

fn from_row(row: &AnyRow, active: Option<Uuid>) -> Result<PluginVersion> {
    let id = get_uuid(row, "id")?;
    let config: String = row.try_get("config")?;
    Ok(PluginVersion {
        id,
        street_id: get_uuid(row, "street_id")?,
        number: row.try_get("number")?,
        kind: PluginKind::from_db(&row.try_get::<String, _>("kind")?)?,
        content_hash: row.try_get("content_hash")?,
        source_bytes: row.try_get("source_bytes")?,
        contract_version: row.try_get("contract_version")?,
        hooks: row
            .try_get::<String, _>("hooks")?
            .split(',')
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .collect(),
        config: serde_json::from_str(&config)
            .map_err(|e| Error::Internal(anyhow::anyhow!("bad stored plugin config: {e}")))?,
        note: row.try_get("note")?,
        status: PluginStatus::from_db(&row.try_get::<String, _>("status")?)?,
        active: active == Some(id),
        consecutive_faults: row.try_get("consecutive_faults")?,
        total_faults: row.try_get("total_faults")?,
        created_at: row.try_get("created_at")?,
        quarantined_at: row.try_get("quarantined_at")?,
        source: None,
    })
}

/// A stored version of a street and its stored source (rhai text, or WebAssembly in
/// base64), or `NotFound`.
pub struct Stored {
    pub version: PluginVersion,
    pub source: String,
    /// The configuration document as stored, the text the plugin is handed.
    pub config: String,
}

/// A version of `street` with its source, or `NotFound`.
pub async fn get(db: &AnyPool, street: Uuid, id: Uuid) -> Result<Stored> {
    let mut conn = db.acquire().await?;
    let row = sqlx::query("SELECT * FROM plugin_versions WHERE id = $1 AND street_id = $2")
        .bind(id.to_string())
        .bind(street.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound("plugin version"))?;
    let active = active_id(&mut *conn, street).await?;
    Ok(Stored {
        version: from_row(&row, active)?,
        source: row.try_get("source")?,
        config: row.try_get("config")?,
    })
}

/// A page of a street's versions, oldest first, without their sources.
pub async fn list(db: &AnyPool, street: Uuid, page: &PageRequest) -> Result<Page<PluginVersion>> {
    let mut conn = db.acquire().await?;
    let active = active_id(&mut *conn, street).await?;
    let mut sql = Sql::new(format!(
        "SELECT {LISTED} FROM plugin_versions WHERE street_id = "
    ));
    sql.bind(street.to_string());
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(&mut *conn).await?;
    let items = rows
        .iter()
        .map(|r| from_row(r, active))
        .collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |v| v.id))
}

/// A version to store: everything but its number, which [`insert`] takes.
pub struct NewVersion {
    pub id: Uuid,
    pub street: Uuid,
    pub kind: PluginKind,
    pub content_hash: String,
    pub source: String,
    pub source_bytes: i64,
    pub config: String,
    pub contract_version: String,
    pub hooks: Vec<&'static str>,
    pub note: Option<String>,
    pub created_by: Uuid,
    pub created_at: String,
}

/// Stores a new, ready version with the street's next number and answers it. The street's
/// row is locked first, so simultaneous uploads for one street take their numbers one after
/// another.
pub async fn insert(tx: &mut Tx<'_>, v: &NewVersion) -> Result<PluginVersion> {
    lock_row(tx, "streets", v.street).await?;
    let next: i64 = sqlx::query(
        "SELECT COALESCE(MAX(number), 0) + 1 AS next FROM plugin_versions WHERE street_id = $1",
    )
    .bind(v.street.to_string())
    .fetch_one(&mut **tx)
    .await?
    .try_get("next")?;
    sqlx::query(
        "INSERT INTO plugin_versions (id, street_id, number, kind, content_hash, source, source_bytes, config, \
         contract_version, hooks, note, status, consecutive_faults, total_faults, total_calls, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'ready', 0, 0, 0, $12, $13)",
    )
    .bind(v.id.to_string())
    .bind(v.street.to_string())
    .bind(next)
    .bind(v.kind.as_str())
    .bind(v.content_hash.clone())
    .bind(v.source.clone())
    .bind(v.source_bytes)
    .bind(v.config.clone())
    .bind(v.contract_version.clone())
    .bind(v.hooks.join(","))
    .bind(v.note.clone())
    .bind(v.created_by.to_string())
    .bind(v.created_at.clone())
    .execute(&mut **tx)
    .await?;
    let row = sqlx::query(&format!(
        "SELECT {LISTED} FROM plugin_versions WHERE id = $1"
    ))
    .bind(v.id.to_string())
    .fetch_one(&mut **tx)
    .await?;
    let active = active_id(&mut **tx, v.street).await?;
    from_row(&row, active)
}

/// Points the street at `version` (`None`: the built-in rule) and records the switch as
/// `action` in its history.
pub async fn switch(
    tx: &mut Tx<'_>,
    street: Uuid,
    version: Option<Uuid>,
    action: &str,
    by: Uuid,
    at: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO street_plugins (street_id, active_version_id, changed_at, changed_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (street_id) DO UPDATE SET active_version_id = $2, changed_at = $3, changed_by = $4",
    )
    .bind(street.to_string())
    .bind(version.map(|v| v.to_string()))
    .bind(at.to_string())
    .bind(by.to_string())
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO plugin_activations (id, street_id, version_id, action, at, by_token) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(street.to_string())
    .bind(version.map(|v| v.to_string()))
    .bind(action.to_string())
    .bind(at.to_string())
    .bind(by.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The versions the street switched to (activated, rolled back to, or `None` for the
/// built-in rule), latest first.
pub async fn switches(db: &AnyPool, street: Uuid) -> Result<Vec<Option<Uuid>>> {
    let rows = sqlx::query(
        "SELECT version_id FROM plugin_activations WHERE street_id = $1 \
         AND action IN ('activate', 'rollback', 'deactivate') ORDER BY id DESC",
    )
    .bind(street.to_string())
    .fetch_all(db)
    .await?;
    rows.iter().map(|r| get_opt_uuid(r, "version_id")).collect()
}

/// A page of the faults recorded against a version, oldest first.
pub async fn list_faults(
    db: &AnyPool,
    version: Uuid,
    page: &PageRequest,
) -> Result<Page<FaultRecord>> {
    let mut sql = Sql::new("SELECT id, kind, message, at FROM plugin_faults WHERE version_id = ");
    sql.bind(version.to_string());
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(db).await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(FaultRecord {
                id: get_uuid(r, "id")?,
                kind: get_enum(r, "kind", FaultKind::from_db)?,
                message: r.try_get("message")?,
                at: r.try_get("at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |f| f.id))
}

/// What matching needs of the street's active version, if it has one that is ready.
#[derive(Debug, Clone)]
pub struct ActiveVersion {
    pub id: Uuid,
    pub number: i64,
    pub kind: PluginKind,
    pub content_hash: String,
    pub config: String,
    /// Its consecutive faults on record when it was read: a clean call writes the end of a
    /// streak only when there was one, so a healthy version's calls write nothing.
    pub faults: i64,
}

pub async fn active_version(db: &AnyPool, street: Uuid) -> Result<Option<ActiveVersion>> {
    let row = sqlx::query(&format!(
        "SELECT {ACTIVE_COLUMNS} FROM street_plugins sp \
         JOIN plugin_versions v ON v.id = sp.active_version_id \
         WHERE sp.street_id = $1 AND v.status = 'ready'"
    ))
    .bind(street.to_string())
    .fetch_optional(db)
    .await?;
    row.as_ref().map(active_of_row).transpose()
}

/// The columns [`active_of_row`] reads, of `plugin_versions v`.
pub(super) const ACTIVE_COLUMNS: &str =
    "v.id AS version_id, v.number AS version_number, v.kind AS version_kind, \
     v.content_hash AS version_hash, v.config AS version_config, \
     v.consecutive_faults AS version_faults";

/// The active version in a row of [`ACTIVE_COLUMNS`].
pub(super) fn active_of_row(row: &AnyRow) -> Result<ActiveVersion> {
    Ok(ActiveVersion {
        id: get_uuid(row, "version_id")?,
        number: row.try_get("version_number")?,
        kind: PluginKind::from_db(&row.try_get::<String, _>("version_kind")?)?,
        content_hash: row.try_get("version_hash")?,
        config: row.try_get("version_config")?,
        faults: row.try_get("version_faults")?,
    })
}

/// A version's stored source (read only to compile it: a WebAssembly module is large).
pub async fn source(db: &AnyPool, version: Uuid) -> Result<String> {
    Ok(
        sqlx::query("SELECT source FROM plugin_versions WHERE id = $1")
            .bind(version.to_string())
            .fetch_optional(db)
            .await?
            .ok_or(Error::NotFound("plugin version"))?
            .try_get("source")?,
    )
}

/// Ends a version's streak of consecutive faults: it ran cleanly.
pub async fn reset_fault_streak(tx: &mut Tx<'_>, version: Uuid) -> Result<()> {
    sqlx::query(
        "UPDATE plugin_versions SET consecutive_faults = 0 WHERE id = $1 AND consecutive_faults > 0",
    )
    .bind(version.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records a fault against a version of `street` at `at`; a ready version that reaches
/// `quarantine_after` consecutive faults is quarantined, with its history entry, in the same
/// transaction. Answers the streak and whether this fault quarantined it.
pub async fn record_fault(
    tx: &mut Tx<'_>,
    street: Uuid,
    version: Uuid,
    kind: &str,
    message: &str,
    quarantine_after: i64,
    at: &str,
) -> Result<(i64, bool)> {
    sqlx::query(
        "INSERT INTO plugin_faults (id, version_id, street_id, kind, message, at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(version.to_string())
    .bind(street.to_string())
    .bind(kind.to_string())
    .bind(message.to_string())
    .bind(at.to_string())
    .execute(&mut **tx)
    .await?;
    let row = sqlx::query(
        "UPDATE plugin_versions SET consecutive_faults = consecutive_faults + 1, total_faults = total_faults + 1 \
         WHERE id = $1 RETURNING consecutive_faults, status",
    )
    .bind(version.to_string())
    .fetch_one(&mut **tx)
    .await?;
    let consecutive: i64 = row.try_get("consecutive_faults")?;
    let status = PluginStatus::from_db(&row.try_get::<String, _>("status")?)?;
    let quarantine = status == PluginStatus::Ready && consecutive >= quarantine_after;
    if quarantine {
        sqlx::query(
            "UPDATE plugin_versions SET status = 'quarantined', quarantined_at = $1 WHERE id = $2",
        )
        .bind(at.to_string())
        .bind(version.to_string())
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO plugin_activations (id, street_id, version_id, action, at, by_token) \
             VALUES ($1, $2, $3, 'quarantine', $4, NULL)",
        )
        .bind(Uuid::now_v7().to_string())
        .bind(street.to_string())
        .bind(version.to_string())
        .bind(at.to_string())
        .execute(&mut **tx)
        .await?;
        let note = format!("{consecutive} faults in a row; the last: {kind}: {message}");
        notifications::record(
            tx,
            at,
            &[NewNotification {
                kind: NotificationType::PluginQuarantined,
                street,
                subject_kind: "plugin",
                subject: version,
                to: To::Street,
                note: Some(&note),
            }],
        )
        .await?;
    }
    Ok((consecutive, quarantine))
}
