//! The project list (项目清单): larger pieces of work a street publishes for co-building units
//! to claim (项目发包), bundling demands and the resources put against them.
//!
//! Every write runs in one transaction that checks the links it writes and changes the
//! status only from the status it was decided from (see [`store::projects`]).

use super::Core;
use crate::domain::access::{Action, Principal, Target};
use crate::domain::project::{
    CreateProject, ListProjects, ProgressReport, Project, ProjectEvaluation, ProjectUpdate,
    UpdateProject,
};
use crate::domain::{rules, Check, ProjectStatus};
use crate::store::page::{ListPage, Page, PageRequest};
use crate::store::projects::{self, Visible};
use crate::store::streets;
use crate::{Error, Result};
use uuid::Uuid;

fn target(p: &Project) -> Target<'static> {
    Target::Project {
        street: p.street_id,
        status: p.status,
        claimed_by: p.claimed_by_unit_id,
    }
}

pub async fn list_projects(
    core: &Core,
    caller: &Principal,
    q: ListProjects,
) -> Result<Page<Project>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?.ordered(q.order);
    let (members, staff, claimant) = caller.project_scope();
    let visible = Visible {
        members,
        staff,
        claimant,
    };
    projects::list(core.db.read(), visible, &q, &page).await
}

/// Drafts a project (the street's admins).
pub async fn create_project(
    core: &Core,
    caller: &Principal,
    body: CreateProject,
) -> Result<Project> {
    let mut c = Check::new();
    let title = c.text("title", &body.title, rules::TITLE);
    let description = c.text("description", &body.description, rules::PROJECT_DESCRIPTION);
    let goal = c.text("goal", &body.goal, rules::GOAL);
    let budget = c.range_i64("budget_fen", body.budget_fen, rules::BUDGET_FEN);
    c.ids("demand_ids", &body.demand_ids, rules::LINKED_IDS);
    c.ids("resource_ids", &body.resource_ids, rules::LINKED_IDS);
    c.finish()?;
    streets::require(core.db.read(), body.street_id)
        .await
        .map_err(|e| e.unknown_reference("street_id", "no street has this id"))?;
    caller.authorize(
        Action::Create,
        Target::Project {
            street: body.street_id,
            status: ProjectStatus::Draft,
            claimed_by: None,
        },
    )?;
    let now = core.now_ts();
    let project = Project {
        id: Uuid::now_v7(),
        street_id: body.street_id,
        title,
        description,
        goal,
        budget_fen: budget,
        status: ProjectStatus::Draft,
        claimed_by_unit_id: None,
        progress_note: None,
        evaluation: None,
        evaluation_score: None,
        completed_at: None,
        demand_ids: body.demand_ids,
        resource_ids: body.resource_ids,
        created_at: now.clone(),
        updated_at: now,
    };
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                projects::require_links(
                    tx,
                    project.street_id,
                    &project.demand_ids,
                    &project.resource_ids,
                )
                .await?;
                projects::insert(tx, &project).await?;
                Ok(project)
            })
        })
        .await
}

pub async fn get_project(core: &Core, caller: &Principal, id: Uuid) -> Result<Project> {
    let project = projects::get(core.db.read(), id).await?;
    caller.authorize(Action::Read, target(&project))?;
    Ok(project)
}

/// The status an edit moves a project to: publishing and unpublishing a draft, starting a
/// claimed project, finishing one in progress.
fn next_status(cur: ProjectStatus, asked: Option<ProjectStatus>) -> Result<ProjectStatus> {
    use ProjectStatus::*;
    match asked {
        None => Ok(cur),
        Some(next) if next == cur => Ok(next),
        Some(next) => match (cur, next) {
            (Draft, Published)
            | (Published, Draft)
            | (Claimed, InProgress)
            | (InProgress, Done) => Ok(next),
            (from, to) => Err(Error::Conflict {
                code: "invalid_transition",
                message: format!("a project cannot go from {from} to {to}"),
                field: Some("status".into()),
            }),
        },
    }
}

pub async fn update_project(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: UpdateProject,
) -> Result<Project> {
    let caller = caller.clone();
    let now = core.now_ts();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                let cur = projects::lock(tx, id).await?;
                caller.authorize(Action::Update, target(&cur))?;
                let (demands, resources) = (body.demand_ids.clone(), body.resource_ids.clone());
                let was = cur.status;
                let edited = edited(cur, body, now)?;
                projects::require_links(
                    tx,
                    edited.street_id,
                    demands.as_deref().unwrap_or(&[]),
                    resources.as_deref().unwrap_or(&[]),
                )
                .await?;
                projects::update(tx, &edited, was, demands.as_deref(), resources.as_deref())
                    .await?;
                projects::read(tx, id).await
            })
        })
        .await
}

/// The project as `body` edits it, every named field checked.
fn edited(cur: Project, body: UpdateProject, now: String) -> Result<Project> {
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
    if let Some(d) = &body.demand_ids {
        c.ids("demand_ids", d, rules::LINKED_IDS);
    }
    if let Some(r) = &body.resource_ids {
        c.ids("resource_ids", r, rules::LINKED_IDS);
    }
    c.finish()?;
    let status = next_status(cur.status, body.status)?;
    Ok(Project {
        title,
        description,
        goal,
        budget_fen: budget,
        progress_note: progress,
        status,
        updated_at: now,
        ..cur
    })
}

/// Deletes a draft project.
pub async fn delete_project(core: &Core, caller: &Principal, id: Uuid) -> Result<()> {
    let cur = projects::get(core.db.read(), id).await?;
    caller.authorize(Action::Delete, target(&cur))?;
    let deleted = if cur.status == ProjectStatus::Draft {
        core.db
            .transact(move |tx| Box::pin(async move { projects::delete_draft(tx, id).await }))
            .await?
    } else {
        false
    };
    if !deleted {
        return Err(Error::conflict(
            "invalid_transition",
            "only a draft project can be deleted",
        ));
    }
    Ok(())
}

/// Claims a published project for the calling unit (认领). Exactly one unit wins.
pub async fn claim_project(core: &Core, caller: &Principal, id: Uuid) -> Result<Project> {
    let cur = projects::get(core.db.read(), id).await?;
    caller.authorize(Action::Read, target(&cur))?;
    let unit = caller.claimant_for(cur.street_id)?;
    let now = core.now_ts();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                if !projects::claim(tx, id, unit, &now).await? {
                    return Err(Error::conflict(
                        "not_claimable",
                        "the project is not published or was claimed already",
                    ));
                }
                projects::read(tx, id).await
            })
        })
        .await
}

/// Reports progress on a claimed project (the claiming unit, or the street's admins); with
/// `start`, the project moves from claimed to in progress.
pub async fn report_progress(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: ProgressReport,
) -> Result<ProjectUpdate> {
    let cur = projects::get(core.db.read(), id).await?;
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
    let status = if body.start {
        ProjectStatus::InProgress
    } else {
        cur.status
    };
    let update = ProjectUpdate {
        id: Uuid::now_v7(),
        note,
        by: caller.token_id.to_string(),
        at: core.now_ts(),
    };
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                projects::report(tx, id, cur.status, status, &update).await?;
                Ok(update)
            })
        })
        .await
}

/// The progress reported on a project, oldest first.
pub async fn list_updates(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    q: ListPage,
) -> Result<Page<ProjectUpdate>> {
    let cur = projects::get(core.db.read(), id).await?;
    caller.authorize(Action::Read, target(&cur))?;
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    projects::list_updates(core.db.read(), id, &page).await
}

/// Completes a project in progress with the street's evaluation (the street's admins).
pub async fn complete_project(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: ProjectEvaluation,
) -> Result<Project> {
    let cur = projects::get(core.db.read(), id).await?;
    caller.authorize(Action::Update, target(&cur))?;
    let mut c = Check::new();
    let evaluation = c.text("evaluation", &body.evaluation, rules::REPORT);
    let score = c.range_i64("score", body.score, rules::RATING);
    c.finish()?;
    let now = core.now_ts();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                if !projects::complete(tx, id, &evaluation, score, &now).await? {
                    return Err(Error::conflict(
                        "invalid_transition",
                        format!("a {} project cannot be completed", cur.status),
                    ));
                }
                projects::read(tx, id).await
            })
        })
        .await
}
