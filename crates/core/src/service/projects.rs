//! The project list (项目清单): larger pieces of work a street publishes for co-building units
//! to claim (项目发包), bundling demands and the resources put against them.

use super::Core;
use crate::domain::project::{
    CreateProject, ListProjects, ProgressReport, Project, ProjectEvaluation, ProjectUpdate,
    UpdateProject,
};
use crate::domain::rules;
use crate::store::page::ListPage;
use crate::store::rows::{get_opt_uuid, get_uuid, links, push_in, require_street};
use crate::{
    domain::access::Principal,
    domain::access::{Action, ListScope, Target},
    domain::{Check, ProjectStatus},
    store::db::Sql,
    store::page::{Page, PageRequest},
};
use crate::{Error, Result};
use sqlx::{any::AnyRow, Row};
use uuid::Uuid;

fn project_from_row(
    row: &AnyRow,
    demand_ids: Vec<Uuid>,
    resource_ids: Vec<Uuid>,
) -> Result<Project> {
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
async fn projects_from_rows(db: &sqlx::AnyPool, rows: &[AnyRow]) -> Result<Vec<Project>> {
    let ids = rows
        .iter()
        .map(|r| get_uuid(r, "id"))
        .collect::<crate::Result<Vec<_>>>()?;
    let mut demands = links(db, "project_demands", "project_id", "demand_id", &ids).await?;
    let mut resources = links(db, "project_resources", "project_id", "resource_id", &ids).await?;
    rows.iter()
        .zip(&ids)
        .map(|(row, id)| {
            project_from_row(
                row,
                demands.remove(id).unwrap_or_default(),
                resources.remove(id).unwrap_or_default(),
            )
        })
        .collect()
}

async fn fetch_project(db: &sqlx::AnyPool, id: Uuid) -> Result<Project> {
    let row = sqlx::query("SELECT * FROM projects WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db)
        .await?
        .ok_or(Error::NotFound("project"))?;
    let mut projects = projects_from_rows(db, std::slice::from_ref(&row)).await?;
    Ok(projects.remove(0))
}

fn target(p: &Project) -> Target<'static> {
    Target::Project {
        street: p.street_id,
        status: p.status,
        claimed_by: p.claimed_by_unit_id,
    }
}

/// Checks that the demands belong to the street and the resources serve it.
async fn check_links(
    db: &sqlx::AnyPool,
    street: Uuid,
    demands: &[Uuid],
    resources: &[Uuid],
) -> Result<()> {
    for (i, d) in demands.iter().enumerate() {
        let row = sqlx::query("SELECT 1 FROM demands WHERE id = $1 AND street_id = $2")
            .bind(d.to_string())
            .bind(street.to_string())
            .fetch_optional(db)
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
                .fetch_optional(db)
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

async fn write_links(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
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

pub async fn list_projects(
    core: &Core,
    caller: &Principal,
    q: ListProjects,
) -> Result<Page<Project>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut sql = Sql::new("SELECT * FROM projects WHERE 1 = 1");
    let (members, staff, claimant) = caller.project_scope();
    if let ListScope::Streets(member_streets) = members {
        // Published and later projects of the caller's streets, drafts of streets it staffs,
        // and whatever it claimed.
        sql.push(" AND ((status <> 'draft'");
        push_in(&mut sql, "street_id", &member_streets);
        sql.push(")");
        if let Some(ListScope::Streets(staff_streets)) = staff {
            sql.push(" OR (1 = 1");
            push_in(&mut sql, "street_id", &staff_streets);
            sql.push(")");
        }
        if let Some(unit) = claimant {
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
    let rows = sql.fetch_all(core.db.read()).await?;
    let items = projects_from_rows(core.db.read(), &rows).await?;
    Ok(page.finish(items, |p| p.id))
}

/// Drafts a project (the street's admins).
pub async fn create_project(
    core: &Core,
    caller: &Principal,
    body: CreateProject,
) -> Result<Project> {
    let db = core.db.write();
    let mut c = Check::new();
    let title = c.text("title", &body.title, rules::TITLE);
    let description = c.text("description", &body.description, rules::PROJECT_DESCRIPTION);
    let goal = c.text("goal", &body.goal, rules::GOAL);
    let budget = c.range_i64("budget_fen", body.budget_fen, rules::BUDGET_FEN);
    let demands = body.demand_ids;
    c.ids("demand_ids", &demands, rules::LINKED_IDS);
    let resources = body.resource_ids;
    c.ids("resource_ids", &resources, rules::LINKED_IDS);
    c.finish()?;
    require_street(db, body.street_id)
        .await
        .map_err(|_| Error::field("street_id", "unknown_reference", "no street has this id"))?;
    caller.authorize(
        Action::Create,
        Target::Project {
            street: body.street_id,
            status: ProjectStatus::Draft,
            claimed_by: None,
        },
    )?;
    check_links(db, body.street_id, &demands, &resources).await?;
    let id = Uuid::now_v7();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO projects (id, street_id, title, description, goal, budget_fen, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'draft', $7, $7)",
    )
    .bind(id.to_string())
    .bind(body.street_id.to_string())
    .bind(title)
    .bind(description)
    .bind(goal)
    .bind(budget)
    .bind(core.now_ts())
    .execute(&mut *tx)
    .await?;
    write_links(&mut tx, id, Some(&demands), Some(&resources)).await?;
    tx.commit().await?;
    fetch_project(db, id).await
}

pub async fn get_project(core: &Core, caller: &Principal, id: Uuid) -> Result<Project> {
    let project = fetch_project(core.db.read(), id).await?;
    caller.authorize(Action::Read, target(&project))?;
    Ok(project)
}

pub async fn update_project(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: UpdateProject,
) -> Result<Project> {
    let db = core.db.write();
    let cur = fetch_project(db, id).await?;
    caller.authorize(Action::Update, target(&cur))?;
    let mut c = Check::new();
    let title = body
        .title
        .map(|v| c.text("title", &v, rules::TITLE))
        .unwrap_or(cur.title);
    let description = body
        .description
        .map(|v| c.text("description", &v, rules::PROJECT_DESCRIPTION))
        .unwrap_or(cur.description);
    let goal = body
        .goal
        .map(|v| c.text("goal", &v, rules::GOAL))
        .unwrap_or(cur.goal);
    let budget = body
        .budget_fen
        .map(|v| c.range_i64("budget_fen", v, rules::BUDGET_FEN))
        .unwrap_or(cur.budget_fen);
    let progress = match body.progress_note {
        Some(v) => c.opt_text("progress_note", v.as_deref(), rules::REPORT),
        None => cur.progress_note,
    };
    let demands = body.demand_ids;
    if let Some(d) = &demands {
        c.ids("demand_ids", d, rules::LINKED_IDS);
    }
    let resources = body.resource_ids;
    if let Some(r) = &resources {
        c.ids("resource_ids", r, rules::LINKED_IDS);
    }
    c.finish()?;
    use ProjectStatus::*;
    let status = match body.status {
        None => cur.status,
        Some(next) if next == cur.status => next,
        Some(next) => match (cur.status, next) {
            (Draft, Published)
            | (Published, Draft)
            | (Claimed, InProgress)
            | (InProgress, Done) => next,
            (from, to) => {
                return Err(Error::Conflict {
                    code: "invalid_transition",
                    message: format!("a project cannot go from {from} to {to}"),
                    field: Some("status".into()),
                })
            }
        },
    };
    check_links(
        db,
        cur.street_id,
        demands.as_deref().unwrap_or(&[]),
        resources.as_deref().unwrap_or(&[]),
    )
    .await?;
    let mut tx = db.begin().await?;
    // Guarded by the status read above, so a concurrent claim is not overwritten.
    let updated = sqlx::query(
        "UPDATE projects SET title = $1, description = $2, goal = $3, budget_fen = $4, progress_note = $5, \
         status = $6, updated_at = $7 WHERE id = $8 AND status = $9",
    )
    .bind(title)
    .bind(description)
    .bind(goal)
    .bind(budget)
    .bind(progress)
    .bind(status.as_str())
    .bind(core.now_ts())
    .bind(id.to_string())
    .bind(cur.status.as_str())
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(Error::conflict(
            "concurrent_change",
            "the project changed meanwhile; read it again",
        ));
    }
    write_links(&mut tx, id, demands.as_deref(), resources.as_deref()).await?;
    tx.commit().await?;
    fetch_project(db, id).await
}

/// Deletes a draft project.
pub async fn delete_project(core: &Core, caller: &Principal, id: Uuid) -> Result<()> {
    let db = core.db.write();
    let cur = fetch_project(db, id).await?;
    caller.authorize(Action::Delete, target(&cur))?;
    if cur.status != ProjectStatus::Draft {
        return Err(Error::conflict(
            "invalid_transition",
            "only a draft project can be deleted",
        ));
    }
    let mut tx = db.begin().await?;
    write_links(&mut tx, id, Some(&[]), Some(&[])).await?;
    sqlx::query("DELETE FROM projects WHERE id = $1 AND status = 'draft'")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Claims a published project for the calling unit (认领). Exactly one unit wins.
pub async fn claim_project(core: &Core, caller: &Principal, id: Uuid) -> Result<Project> {
    let db = core.db.write();
    let cur = fetch_project(db, id).await?;
    caller.authorize(Action::Read, target(&cur))?;
    let unit = caller.claimant_for(cur.street_id)?;
    let claimed = sqlx::query(
        "UPDATE projects SET status = 'claimed', claimed_by_unit_id = $1, updated_at = $2 \
         WHERE id = $3 AND status = 'published'",
    )
    .bind(unit.to_string())
    .bind(core.now_ts())
    .bind(id.to_string())
    .execute(db)
    .await?;
    if claimed.rows_affected() == 0 {
        return Err(Error::conflict(
            "not_claimable",
            "the project is not published or was claimed already",
        ));
    }
    fetch_project(db, id).await
}

/// Reports progress on a claimed project (the claiming unit, or the street's admins); with
/// `start`, the project moves from claimed to in progress.
pub async fn report_progress(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: ProgressReport,
) -> Result<ProjectUpdate> {
    let db = core.db.write();
    let cur = fetch_project(db, id).await?;
    caller.authorize(Action::Read, target(&cur))?;
    caller.authorize_project_progress(cur.street_id, cur.claimed_by_unit_id)?;
    let mut c = Check::new();
    let note = c.text("note", &body.note, rules::REPORT);
    c.finish()?;
    let ok = matches!(
        (cur.status, body.start),
        (ProjectStatus::Claimed, true)
            | (ProjectStatus::Claimed | ProjectStatus::InProgress, false)
    );
    if !ok {
        return Err(Error::conflict(
            "invalid_transition",
            format!("progress is not reported on a {} project", cur.status),
        ));
    }
    let now = core.now_ts();
    let update = Uuid::now_v7();
    let mut tx = db.begin().await?;
    let status = if body.start {
        ProjectStatus::InProgress
    } else {
        cur.status
    };
    let moved = sqlx::query("UPDATE projects SET progress_note = $1, status = $2, updated_at = $3 WHERE id = $4 AND status = $5")
        .bind(note.clone())
        .bind(status.as_str())
        .bind(now.clone())
        .bind(id.to_string())
        .bind(cur.status.as_str())
        .execute(&mut *tx)
        .await?;
    if moved.rows_affected() == 0 {
        return Err(Error::conflict(
            "concurrent_change",
            "the project changed meanwhile; read it again",
        ));
    }
    sqlx::query("INSERT INTO project_updates (id, project_id, by_token, note, at) VALUES ($1, $2, $3, $4, $5)")
        .bind(update.to_string())
        .bind(id.to_string())
        .bind(caller.token_id.to_string())
        .bind(note.clone())
        .bind(now.clone())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(ProjectUpdate {
        id: update,
        note,
        by: caller.token_id.to_string(),
        at: now,
    })
}

/// The progress reported on a project, oldest first.
pub async fn list_updates(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    q: ListPage,
) -> Result<Page<ProjectUpdate>> {
    let cur = fetch_project(core.db.read(), id).await?;
    caller.authorize(Action::Read, target(&cur))?;
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut sql = Sql::new("SELECT * FROM project_updates WHERE project_id = ");
    sql.bind(id.to_string());
    page.apply(&mut sql, "id");
    let rows = sql.fetch_all(core.db.read()).await?;
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

/// Completes a project in progress with the street's evaluation (the street's admins).
pub async fn complete_project(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: ProjectEvaluation,
) -> Result<Project> {
    let db = core.db.write();
    let cur = fetch_project(db, id).await?;
    caller.authorize(Action::Update, target(&cur))?;
    let mut c = Check::new();
    let evaluation = c.text("evaluation", &body.evaluation, rules::REPORT);
    let score = c.range_i64("score", body.score, rules::RATING);
    c.finish()?;
    let now = core.now_ts();
    let done = sqlx::query(
        "UPDATE projects SET status = 'done', evaluation = $1, evaluation_score = $2, completed_at = $3, updated_at = $3 \
         WHERE id = $4 AND status = 'in_progress'",
    )
    .bind(evaluation)
    .bind(score)
    .bind(now)
    .bind(id.to_string())
    .execute(db)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::conflict(
            "invalid_transition",
            format!("a {} project cannot be completed", cur.status),
        ));
    }
    fetch_project(db, id).await
}
