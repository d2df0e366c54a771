//! The resource list (资源清单): what units and volunteers offer, where and when, and how much
//! of it is left.
//!
//! Every write runs in one transaction that also checks the placement (streets, grids and
//! category) it writes; an edit locks the resource and decides from it as locked.

use super::Core;
use crate::domain::access::{Action, Owner, Principal, Role, Target};
use crate::domain::resource::{
    CreateResource, ListResources, Resource, StatusChange, UpdateResource,
};
use crate::domain::{rules, Check, ResourceStatus};
use crate::store::page::{Page, PageRequest};
use crate::store::rows::require_all;
use crate::store::streets::{category_exists, grid_street};
use crate::store::{resources, units, volunteers, Tx};
use crate::{Error, Result};
use uuid::Uuid;

impl From<StatusChange> for ResourceStatus {
    fn from(s: StatusChange) -> Self {
        match s {
            StatusChange::Active => ResourceStatus::Active,
            StatusChange::Paused => ResourceStatus::Paused,
        }
    }
}

/// Validates streets, grids and category against each other and the database, in the
/// transaction that writes them.
async fn check_placement(
    tx: &mut Tx<'_>,
    category: &str,
    streets: &[Uuid],
    grids: &[Uuid],
) -> Result<()> {
    let mut c = Check::new();
    if streets.is_empty() {
        c.push(
            "street_ids",
            "required",
            "a resource serves at least one street",
        );
    }
    c.finish()?;
    require_all(tx, "streets", "street_ids", streets).await?;
    for (i, grid) in grids.iter().enumerate() {
        match grid_street(&mut **tx, *grid).await? {
            Some(s) if streets.contains(&s) => {}
            Some(_) => {
                return Err(Error::field(
                    format!("served_grid_ids[{i}]"),
                    "other_street",
                    "the grid is not in one of the streets served",
                ))
            }
            None => {
                return Err(Error::field(
                    format!("served_grid_ids[{i}]"),
                    "unknown_reference",
                    "no grid has this id",
                ))
            }
        }
    }
    for street in streets {
        if !category_exists(&mut **tx, *street, category).await? {
            return Err(Error::field(
                "category",
                "unknown_category",
                format!("{category:?} is not a category of every street served"),
            ));
        }
    }
    Ok(())
}

pub async fn list_resources(
    core: &Core,
    caller: &Principal,
    q: ListResources,
) -> Result<Page<Resource>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?.ordered(q.order);
    resources::list(
        core.db.read(),
        caller.member_scope(),
        caller.own_resources(),
        &q,
        &page,
    )
    .await
}

/// Registers a resource on offer.
pub async fn create_resource(
    core: &Core,
    caller: &Principal,
    body: CreateResource,
) -> Result<Resource> {
    // The owner: named in the body, or the caller itself.
    let (unit, volunteer) = match (body.owner_unit_id, body.owner_volunteer_id, &caller.role) {
        (Some(_), Some(_), _) => {
            return Err(Error::field(
                "owner_volunteer_id",
                "conflicting",
                "name one owner: a unit or a volunteer",
            ))
        }
        (None, None, Role::Unit { unit, .. }) => (Some(*unit), None),
        (None, None, Role::Volunteer { volunteer, .. }) => (None, Some(*volunteer)),
        (None, None, _) => {
            return Err(Error::field(
                "owner_unit_id",
                "required",
                "name the owner: owner_unit_id or owner_volunteer_id",
            ))
        }
        (u, v, _) => (u, v),
    };
    let owner = match (unit, volunteer) {
        (Some(u), _) => {
            let unit = units::get(core.db.read(), u)
                .await
                .map_err(|e| e.unknown_reference("owner_unit_id", "no unit has this id"))?;
            if unit.archived_at.is_some() {
                return Err(Error::Conflict {
                    code: "archived",
                    message: "the unit is archived".into(),
                    field: Some("owner_unit_id".into()),
                });
            }
            Owner::Unit(u)
        }
        (None, Some(v)) => {
            let vol = volunteers::get(core.db.read(), v).await.map_err(|e| {
                e.unknown_reference("owner_volunteer_id", "no volunteer has this id")
            })?;
            if vol.archived_at.is_some() {
                return Err(Error::Conflict {
                    code: "archived",
                    message: "the volunteer is archived".into(),
                    field: Some("owner_volunteer_id".into()),
                });
            }
            Owner::Volunteer {
                id: v,
                street: vol.street_id,
            }
        }
        (None, None) => unreachable!(),
    };
    let mut c = Check::new();
    let title = c.text("title", &body.title, rules::TITLE);
    let category = c.code("category", &body.category, rules::CODE);
    let tags = c.labels("tags", &body.tags);
    let description = c.opt_text(
        "description",
        body.description.as_deref(),
        rules::DESCRIPTION,
    );
    let capacity = c.range_i64("capacity", body.capacity, rules::CAPACITY);
    let mut streets = body.street_ids;
    if let (true, Owner::Volunteer { street, .. }) = (streets.is_empty(), owner) {
        streets.push(street);
    }
    c.ids("street_ids", &streets, rules::STREET_IDS);
    let grids = body.served_grid_ids;
    c.ids("served_grid_ids", &grids, rules::GRID_IDS);
    let from = c.ts("available_from", body.available_from.as_deref());
    let until = c.ts("available_until", body.available_until.as_deref());
    c.window("available_until", &from, &until);
    c.finish()?;
    caller.authorize(
        Action::Create,
        Target::Resource {
            owner,
            streets: &streets,
        },
    )?;
    let now = core.now_ts();
    let resource = Resource {
        id: Uuid::now_v7(),
        owner_unit_id: unit,
        owner_volunteer_id: volunteer.filter(|_| unit.is_none()),
        title,
        category,
        tags,
        description,
        capacity,
        capacity_left: capacity,
        street_ids: streets,
        served_grid_ids: grids,
        available_from: from,
        available_until: until,
        status: ResourceStatus::Active,
        created_at: now.clone(),
        updated_at: now,
    };
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                check_placement(
                    tx,
                    &resource.category,
                    &resource.street_ids,
                    &resource.served_grid_ids,
                )
                .await?;
                resources::insert(tx, &resource).await?;
                Ok(resource)
            })
        })
        .await
}

pub async fn get_resource(core: &Core, caller: &Principal, id: Uuid) -> Result<Resource> {
    let (resource, owner) = resources::get(core.db.read(), id).await?;
    caller.authorize(
        Action::Read,
        Target::Resource {
            owner,
            streets: &resource.street_ids,
        },
    )?;
    Ok(resource)
}

pub async fn update_resource(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: UpdateResource,
) -> Result<Resource> {
    let caller = caller.clone();
    let now = core.now_ts();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                let (cur, owner) = resources::lock(tx, id).await?;
                caller.authorize(
                    Action::Update,
                    Target::Resource {
                        owner,
                        streets: &cur.street_ids,
                    },
                )?;
                let was = cur.status;
                let streets_changed = body.street_ids.is_some();
                let next = edited(cur, body, now)?;
                if streets_changed {
                    // The new set must be one the caller could have registered.
                    caller.authorize(
                        Action::Create,
                        Target::Resource {
                            owner,
                            streets: &next.street_ids,
                        },
                    )?;
                }
                check_placement(tx, &next.category, &next.street_ids, &next.served_grid_ids)
                    .await?;
                resources::update(tx, &next, was, streets_changed).await
            })
        })
        .await
}

/// The resource as `body` edits it, every named field checked.
fn edited(cur: Resource, body: UpdateResource, now: String) -> Result<Resource> {
    let mut c = Check::new();
    let title = body
        .title
        .map(|t| c.text("title", &t, rules::TITLE))
        .unwrap_or(cur.title);
    let category = body
        .category
        .map(|t| c.code("category", &t, rules::CODE))
        .unwrap_or(cur.category);
    let tags = body.tags.map(|t| c.labels("tags", &t)).unwrap_or(cur.tags);
    let description = match body.description {
        Some(d) => c.opt_text("description", d.as_deref(), rules::DESCRIPTION),
        None => cur.description,
    };
    let capacity = body
        .capacity
        .map(|v| c.range_i64("capacity", v, rules::CAPACITY))
        .unwrap_or(cur.capacity);
    let streets = body.street_ids.unwrap_or(cur.street_ids);
    c.ids("street_ids", &streets, rules::STREET_IDS);
    let grids = body.served_grid_ids.unwrap_or(cur.served_grid_ids);
    c.ids("served_grid_ids", &grids, rules::GRID_IDS);
    let from = match body.available_from {
        Some(v) => c.ts("available_from", v.as_deref()),
        None => cur.available_from,
    };
    let until = match body.available_until {
        Some(v) => c.ts("available_until", v.as_deref()),
        None => cur.available_until,
    };
    c.window("available_until", &from, &until);
    let status = body.status.map_or(cur.status, ResourceStatus::from);
    c.finish()?;
    if cur.status == ResourceStatus::Archived && body.status.is_some() {
        return Err(Error::Conflict {
            code: "invalid_transition",
            message: "an archived resource stays archived".into(),
            field: Some("status".into()),
        });
    }
    Ok(Resource {
        id: cur.id,
        owner_unit_id: cur.owner_unit_id,
        owner_volunteer_id: cur.owner_volunteer_id,
        title,
        category,
        tags,
        description,
        capacity,
        // Moved by the change of capacity when it is written.
        capacity_left: cur.capacity_left,
        street_ids: streets,
        served_grid_ids: grids,
        available_from: from,
        available_until: until,
        status,
        created_at: cur.created_at,
        updated_at: now,
    })
}

/// Archives a resource: it is no longer offered or matched; its history stays.
pub async fn archive_resource(core: &Core, caller: &Principal, id: Uuid) -> Result<()> {
    let caller = caller.clone();
    let now = core.now_ts();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                let (cur, owner) = resources::lock(tx, id).await?;
                caller.authorize(
                    Action::Delete,
                    Target::Resource {
                        owner,
                        streets: &cur.street_ids,
                    },
                )?;
                resources::archive(tx, id, &now).await
            })
        })
        .await
}
