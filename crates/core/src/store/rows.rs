//! Decoding rows and building the SQL shared by every table group: ids, JSON columns and
//! flags as both engines store them, `IN` lists, and link tables read for a page at once.

use serde::{de::DeserializeOwned, Serialize};
use sqlx::{any::AnyRow, Row};
use uuid::Uuid;

use crate::{store::Sql, Error};

pub fn get_uuid(row: &AnyRow, col: &str) -> Result<Uuid, Error> {
    let text: String = row.try_get(col)?;
    Uuid::parse_str(&text).map_err(|e| Error::Internal(anyhow::anyhow!("bad uuid in {col}: {e}")))
}

/// Ids read as text, parsed; `what` names them in the error.
pub fn parse_uuids<'a>(
    texts: impl IntoIterator<Item = &'a str>,
    what: &str,
) -> Result<Vec<Uuid>, Error> {
    texts
        .into_iter()
        .map(Uuid::parse_str)
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Internal(anyhow::anyhow!("bad {what} id: {e}")))
}

pub fn get_opt_uuid(row: &AnyRow, col: &str) -> Result<Option<Uuid>, Error> {
    let text: Option<String> = row.try_get(col)?;
    text.map(|t| Uuid::parse_str(&t))
        .transpose()
        .map_err(|e| Error::Internal(anyhow::anyhow!("bad uuid in {col}: {e}")))
}

pub fn get_json<T: DeserializeOwned>(row: &AnyRow, col: &str) -> Result<T, Error> {
    let text: String = row.try_get(col)?;
    serde_json::from_str(&text)
        .map_err(|e| Error::Internal(anyhow::anyhow!("bad JSON in {col}: {e}")))
}

pub fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serialises")
}

pub fn get_bool(row: &AnyRow, col: &str) -> Result<bool, Error> {
    Ok(row.try_get::<i64, _>(col)? != 0)
}

/// Appends `AND column IN (...)` for a list of ids; an empty list matches nothing.
pub fn push_in(sql: &mut Sql, column: &str, ids: &[Uuid]) {
    if ids.is_empty() {
        sql.push(" AND 1 = 0");
        return;
    }
    sql.push(" AND ").push(column).push(" IN (");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(id.to_string());
    }
    sql.push(")");
}

/// Whether a JSON-array text column contains a label (labels cannot contain quotes).
pub fn push_json_contains(sql: &mut Sql, column: &str, label: &str) {
    sql.push(" AND ").push(column).push(" LIKE ").bind(format!(
        "%{}%",
        serde_json::to_string(label).expect("string")
    ));
}

/// Checks that every id in `ids` names a row of `table`, naming the first that does not.
pub async fn require_all(
    conn: &mut sqlx::AnyConnection,
    table: &str,
    field: &str,
    ids: &[Uuid],
) -> Result<(), Error> {
    for (i, id) in ids.iter().enumerate() {
        let text = format!("SELECT 1 FROM {table} WHERE id = $1");
        let found = sqlx::query(&text)
            .bind(id.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        if found.is_none() {
            return Err(Error::field(
                format!("{field}[{i}]"),
                "unknown_reference",
                format!("no {table} has id {id}"),
            ));
        }
    }
    Ok(())
}

/// Reads a link table for many owners at once: `owner → [linked ids]`, each list sorted.
/// One query per page instead of one per row.
pub async fn links(
    conn: &mut sqlx::AnyConnection,
    table: &str,
    owner_col: &str,
    linked_col: &str,
    owners: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Vec<Uuid>>, Error> {
    let mut out: std::collections::HashMap<Uuid, Vec<Uuid>> =
        owners.iter().map(|o| (*o, Vec::new())).collect();
    if owners.is_empty() {
        return Ok(out);
    }
    let mut sql = Sql::new(format!(
        "SELECT {owner_col}, {linked_col} FROM {table} WHERE 1 = 1"
    ));
    push_in(&mut sql, owner_col, owners);
    sql.push(&format!(" ORDER BY {owner_col}, {linked_col}"));
    for row in sql.fetch_all(conn).await? {
        out.entry(get_uuid(&row, owner_col)?)
            .or_default()
            .push(get_uuid(&row, linked_col)?);
    }
    Ok(out)
}

/// Builds one item per row, handing each the ids linked to it in `table` (read for the whole
/// page in one query).
pub async fn with_links<T, E>(
    conn: &mut sqlx::AnyConnection,
    rows: &[AnyRow],
    (table, owner_col, linked_col): (&str, &str, &str),
    build: impl Fn(&AnyRow, Vec<Uuid>) -> Result<T, E>,
) -> Result<Vec<T>, E>
where
    E: From<Error>,
{
    let ids = rows
        .iter()
        .map(|r| get_uuid(r, "id"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut linked = links(conn, table, owner_col, linked_col, &ids).await?;
    rows.iter()
        .zip(&ids)
        .map(|(row, id)| build(row, linked.remove(id).unwrap_or_default()))
        .collect()
}

/// A closed value stored as its text (`str_enum!`), read with the enum's `from_db`.
pub fn get_enum<T>(
    row: &AnyRow,
    col: &str,
    from_db: impl Fn(&str) -> anyhow::Result<T>,
) -> Result<T, Error> {
    let text: String = row.try_get(col)?;
    Ok(from_db(&text)?)
}

/// [`get_enum`] for a column that may be null.
pub fn get_opt_enum<T>(
    row: &AnyRow,
    col: &str,
    from_db: impl Fn(&str) -> anyhow::Result<T>,
) -> Result<Option<T>, Error> {
    let text: Option<String> = row.try_get(col)?;
    Ok(text.as_deref().map(from_db).transpose()?)
}
