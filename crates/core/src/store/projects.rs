//! Projects, the demands and resources each bundles (`project_demands`,
//! `project_resources`), and their progress reports.
//!
//! Every change of a project's status is a compare-and-set on the status it was decided
//! from: a write that finds another status changes nothing and says so.

use sqlx::{any::AnyRow, AnyConnection, AnyPool, Row};
use uuid::Uuid;

use super::{
    lock_row,
    page::{Page, PageRequest},
    rows::{get_opt_uuid, get_uuid, links, push_in},
    Sql, Tx,
};
use crate::{
    domain::{
        access::ListScope,
        project::{ListProjects, Project, ProjectUpdate},
        ProjectStatus,
    },
    Error, Result,
};

fn from_row(row: &AnyRow, demand_ids: Vec<Uuid>, resource_ids: Vec<Uuid>) -> Result<Project> {
    Ok(Project {
        id: get_uuid(row, "id")?,
        street_id: get_uuid(row, "street_id")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        goal: row.try_get("goal")?,
        budget_fen: row.try_get("budget_fen")?,
        status: ProjectStatus::from_db(&row.try_get::<String, _>("status")?)?,
        claimed_by_unit_id: get_opt_uuid(row, "claimed_by_unit_id")?,
        progress_note: row.try_get("progress_note")?,
        evaluation: row.try_get("evaluation")?,
        evaluation_score: row.try_get("evaluation_score")?,
        completed_at: row.try_get("completed_at")?,
        demand_ids,
        resource_ids,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Builds projects from rows, reading their links with one query per link table.
async fn from_rows(conn: &mut AnyConnection, rows: &[AnyRow]) -> Result<Vec<Project>> {
    let ids = rows
        .iter()
        .map(|r| get_uuid(r, "id"))
        .collect::<Result<Vec<_>>>()?;
    let mut demands = links(conn, "project_demands", "project_id", "demand_id", &ids).await?;
    let mut resources = links(conn, "project_resources", "project_id", "resource_id", &ids).await?;
    rows.iter()
        .zip(&ids)
        .map(|(row, id)| {
            from_row(
                row,
                demands.remove(id).unwrap_or_default(),
                resources.remove(id).unwrap_or_default(),
            )
        })
        .collect()
}

/// A project with its links, or `NotFound`.
pub async fn read(conn: &mut AnyConnection, id: Uuid) -> Result<Project> {
    let row = sqlx::query("SELECT * FROM projects WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound("project"))?;
    let mut projects = from_rows(conn, std::slice::from_ref(&row)).await?;
    Ok(projects.remove(0))
}

/// [`read`] on a connection of the pool.
pub async fn get(db: &AnyPool, id: Uuid) -> Result<Project> {
    read(&mut *db.acquire().await?, id).await
}

/// A project, locked until the transaction ends, or `NotFound`.
pub async fn lock(tx: &mut Tx<'_>, id: Uuid) -> Result<Project> {
    lock_row(tx, "projects", id).await?;
    read(tx, id).await
}

/// Who sees which projects (see `Principal::project_scope`): the published and later
/// projects of `members`' streets, every project of the streets in `staff`, and whatever
/// `claimant` claimed.
pub struct Visible {
    pub members: ListScope,
    pub staff: Option<ListScope>,
    pub claimant: Option<Uuid>,
}

pub async fn list(
    db: &AnyPool,
    visible: Visible,
    q: &ListProjects,
    page: &PageRequest,
) -> Result<Page<Project>> {
    let mut sql = Sql::new("SELECT * FROM projects WHERE 1 = 1");
    if let ListScope::Streets(member_streets) = visible.members {
        sql.push(" AND ((status <> 'draft'");
        push_in(&mut sql, "street_id", &member_streets);
        sql.push(")");
        if let Some(ListScope::Streets(staff_streets)) = visible.staff {
            sql.push(" OR (1 = 1");
            push_in(&mut sql, "street_id", &staff_streets);
            sql.push(")");
        }
        if let Some(unit) = visible.claimant {
            sql.push(" OR claimed_by_unit_id = ").bind(unit.to_string());
        }
        sql.push(")");
    }
    if let Some(street) = q.street_id {
        sql.push(" AND street_id = ").bind(street.to_string());
    }
    if let Some(status) = q.status {
        sql.push(" AND status = ").bind(status.as_str().to_string());
    }
    if let Some(unit) = q.claimed_by_unit_id {
        sql.push(" AND claimed_by_unit_id = ")
            .bind(unit.to_string());
    }
    page.apply(&mut sql, "id");
    let mut conn = db.acquire().await?;
    let rows = sql.fetch_all(&mut *conn).await?;
    let items = from_rows(&mut conn, &rows).await?;
    Ok(page.finish(items, |p| p.id))
}

/// Checks that the demands belong to the street and the resources serve it, naming the
/// first that does not.
pub async fn require_links(
    tx: &mut Tx<'_>,
    street: Uuid,
    demands: &[Uuid],
    resources: &[Uuid],
) -> Result<()> {
    for (i, d) in demands.iter().enumerate() {
        let row = sqlx::query("SELECT 1 FROM demands WHERE id = $1 AND street_id = $2")
            .bind(d.to_string())
            .bind(street.to_string())
            .fetch_optional(&mut **tx)
            .await?;
        if row.is_none() {
            return Err(Error::field(
                format!("demand_ids[{i}]"),
                "unknown_reference",
                "no demand of this street has this id",
            ));
        }
    }
    for (i, r) in resources.iter().enumerate() {
        let row =
            sqlx::query("SELECT 1 FROM resource_streets WHERE resource_id = $1 AND street_id = $2")
                .bind(r.to_string())
                .bind(street.to_string())
                .fetch_optional(&mut **tx)
                .await?;
        if row.is_none() {
            return Err(Error::field(
                format!("resource_ids[{i}]"),
                "unknown_reference",
                "no resource serving this street has this id",
            ));
        }
    }
    Ok(())
}

/// Replaces the demands and/or resources a project bundles (`None` leaves them).
async fn write_links(
    tx: &mut Tx<'_>,
    id: Uuid,
    demands: Option<&[Uuid]>,
    resources: Option<&[Uuid]>,
) -> Result<()> {
    for (table, column, ids) in [
        ("project_demands", "demand_id", demands),
        ("project_resources", "resource_id", resources),
    ] {
        let Some(ids) = ids else { continue };
        sqlx::query(&format!("DELETE FROM {table} WHERE project_id = $1"))
            .bind(id.to_string())
            .execute(&mut **tx)
            .await?;
        for x in ids {
            sqlx::query(&format!(
                "INSERT INTO {table} (project_id, {column}) VALUES ($1, $2)"
            ))
            .bind(id.to_string())
            .bind(x.to_string())
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// Writes a new project with its links.
pub async fn insert(tx: &mut Tx<'_>, p: &Project) -> Result<()> {
    sqlx::query(
        "INSERT INTO projects (id, street_id, title, description, goal, budget_fen, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(p.id.to_string())
    .bind(p.street_id.to_string())
    .bind(p.title.clone())
    .bind(p.description.clone())
    .bind(p.goal.clone())
    .bind(p.budget_fen)
    .bind(p.status.as_str())
    .bind(p.created_at.clone())
    .bind(p.updated_at.clone())
    .execute(&mut **tx)
    .await?;
    write_links(tx, p.id, Some(&p.demand_ids), Some(&p.resource_ids)).await
}

/// Writes an edited project if its status is still `was` (a claim made meanwhile is not
/// overwritten: `concurrent_change`), replacing the links the edit names.
pub async fn update(
    tx: &mut Tx<'_>,
    p: &Project,
    was: ProjectStatus,
    demands: Option<&[Uuid]>,
    resources: Option<&[Uuid]>,
) -> Result<()> {
    let updated = sqlx::query(
        "UPDATE projects SET title = $1, description = $2, goal = $3, budget_fen = $4, progress_note = $5, \
         status = $6, updated_at = $7 WHERE id = $8 AND status = $9",
    )
    .bind(p.title.clone())
    .bind(p.description.clone())
    .bind(p.goal.clone())
    .bind(p.budget_fen)
    .bind(p.progress_note.clone())
    .bind(p.status.as_str())
    .bind(p.updated_at.clone())
    .bind(p.id.to_string())
    .bind(was.as_str())
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(concurrent_change());
    }
    write_links(tx, p.id, demands, resources).await
}

fn concurrent_change() -> Error {
    Error::conflict(
        "concurrent_change",
        "the project changed meanwhile; read it again",
    )
}

/// Deletes a project if it is still a draft, with its links; false if it is not.
pub async fn delete_draft(tx: &mut Tx<'_>, id: Uuid) -> Result<bool> {
    write_links(tx, id, Some(&[]), Some(&[])).await?;
    let deleted = sqlx::query("DELETE FROM projects WHERE id = $1 AND status = 'draft'")
        .bind(id.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

/// Claims a published project for `unit`: false if it is not published (or another unit
/// claimed it first).
pub async fn claim(tx: &mut Tx<'_>, id: Uuid, unit: Uuid, at: &str) -> Result<bool> {
    let claimed = sqlx::query(
        "UPDATE projects SET status = 'claimed', claimed_by_unit_id = $1, updated_at = $2 \
         WHERE id = $3 AND status = 'published'",
    )
    .bind(unit.to_string())
    .bind(at.to_string())
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(claimed.rows_affected() > 0)
}

/// Records a progress report and moves the project from `was` to `status`, if it is still
/// `was` (else `concurrent_change`).
pub async fn report(
    tx: &mut Tx<'_>,
    project: Uuid,
    was: ProjectStatus,
    status: ProjectStatus,
    update: &ProjectUpdate,
) -> Result<()> {
    let moved = sqlx::query(
        "UPDATE projects SET progress_note = $1, status = $2, updated_at = $3 WHERE id = $4 AND status = $5",
    )
    .bind(update.note.clone())
    .bind(status.as_str())
    .bind(update.at.clone())
    .bind(project.to_string())
    .bind(was.as_str())
    .execute(&mut **tx)
    .await?;
    if moved.rows_affected() == 0 {
        return Err(concurrent_change());
    }
    sqlx::query(
        "INSERT INTO project_updates (id, project_id, by_token, note, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(update.id.to_string())
    .bind(project.to_string())
    .bind(update.by.clone())
    .bind(update.note.clone())
    .bind(update.at.clone())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A page of a project's progress reports, oldest first.
pub async fn list_updates(
    db: &AnyPool,
    project: Uuid,
    page: &PageRequest,
) -> Result<Page<ProjectUpdate>> {
    let mut sql = Sql::new("SELECT * FROM project_updates WHERE project_id = ");
    sql.bind(project.to_string());
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(db).await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(ProjectUpdate {
                id: get_uuid(r, "id")?,
                note: r.try_get("note")?,
                by: r.try_get("by_token")?,
                at: r.try_get("at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(page.finish(items, |u| u.id))
}

/// Completes a project in progress with the street's evaluation: false if it is not in
/// progress.
pub async fn complete(
    tx: &mut Tx<'_>,
    id: Uuid,
    evaluation: &str,
    score: i64,
    at: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE projects SET status = 'done', evaluation = $1, evaluation_score = $2, completed_at = $3, updated_at = $3 \
         WHERE id = $4 AND status = 'in_progress'",
    )
    .bind(evaluation.to_string())
    .bind(score)
    .bind(at.to_string())
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}
