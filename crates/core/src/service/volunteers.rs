//! The registry of volunteers (志愿者). A volunteer belongs to the street of its home grid.

use super::Core;
use crate::domain::access::{Action, Principal, Target};
use crate::domain::rules;
use crate::domain::volunteer::{CreateVolunteer, ListVolunteers, UpdateVolunteer, Volunteer};
use crate::domain::{Check, WeeklySlot};
use crate::store::page::{Page, PageRequest};
use crate::store::streets::street_of_grid;
use crate::store::volunteers::{self, Edit};
use crate::{Error, Result};
use uuid::Uuid;

pub const DEFAULT_MAX_OPEN_ORDERS: i64 = 3;

struct Fields {
    name: String,
    phone: String,
    skills: Vec<String>,
    team: Option<String>,
    availability: Vec<WeeklySlot>,
    max_open_orders: i64,
}

fn check_fields(c: &mut Check, f: Fields) -> Fields {
    c.weekly("availability", &f.availability);
    Fields {
        name: c.text("name", &f.name, rules::PERSON_NAME),
        phone: c.phone("phone", &f.phone),
        skills: c.labels("skills", &f.skills),
        team: c.opt_text("team", f.team.as_deref(), rules::TEAM),
        max_open_orders: c.range_i64("max_open_orders", f.max_open_orders, rules::MAX_OPEN_ORDERS),
        availability: f.availability,
    }
}

pub async fn list_volunteers(
    core: &Core,
    caller: &Principal,
    q: ListVolunteers,
) -> Result<Page<Volunteer>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    volunteers::list(core.db.read(), caller.volunteer_scope()?, &q, &page).await
}

/// Registers a volunteer in the street of its home grid.
pub async fn create_volunteer(
    core: &Core,
    caller: &Principal,
    body: CreateVolunteer,
) -> Result<Volunteer> {
    let mut c = Check::new();
    let f = check_fields(
        &mut c,
        Fields {
            name: body.name,
            phone: body.phone,
            skills: body.skills,
            team: body.team,
            availability: body.availability,
            max_open_orders: body.max_open_orders.unwrap_or(DEFAULT_MAX_OPEN_ORDERS),
        },
    );
    c.finish()?;
    let street = street_of_grid(core.db.read(), body.home_grid_id, "home_grid_id").await?;
    caller.authorize(
        Action::Create,
        Target::Volunteer {
            id: Uuid::nil(),
            street,
        },
    )?;
    let now = core.now_ts();
    let volunteer = Volunteer {
        id: Uuid::now_v7(),
        street_id: street,
        home_grid_id: body.home_grid_id,
        name: f.name,
        phone: f.phone,
        skills: f.skills,
        team: f.team,
        party_member: body.party_member,
        availability: f.availability,
        max_open_orders: f.max_open_orders,
        active: body.active.unwrap_or(true),
        archived_at: None,
        created_at: now.clone(),
        updated_at: now,
    };
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                volunteers::insert(tx, &volunteer).await?;
                Ok(volunteer)
            })
        })
        .await
}

pub async fn get_volunteer(core: &Core, caller: &Principal, id: Uuid) -> Result<Volunteer> {
    let v = volunteers::get(core.db.read(), id).await?;
    caller.authorize(
        Action::Read,
        Target::Volunteer {
            id,
            street: v.street_id,
        },
    )?;
    Ok(v)
}

pub async fn update_volunteer(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: UpdateVolunteer,
) -> Result<Volunteer> {
    // A volunteer's street never changes (its home grid stays in it), so the rights are
    // decided from the volunteer as read here.
    let cur = volunteers::get(core.db.read(), id).await?;
    caller.authorize(
        Action::Update,
        Target::Volunteer {
            id,
            street: cur.street_id,
        },
    )?;
    if body.max_open_orders.is_some() {
        caller.authorize_order_limit(cur.street_id)?;
    }
    // The fields are checked as they will stand, but only those the request names are
    // written, so two edits of different fields at once both hold (an admin's new limit is
    // not undone by the volunteer's new phone).
    let mut c = Check::new();
    let f = check_fields(
        &mut c,
        Fields {
            name: body.name.clone().unwrap_or(cur.name),
            phone: body.phone.clone().unwrap_or(cur.phone),
            skills: body.skills.clone().unwrap_or(cur.skills),
            team: body.team.clone().unwrap_or(cur.team),
            availability: body.availability.clone().unwrap_or(cur.availability),
            max_open_orders: body.max_open_orders.unwrap_or(cur.max_open_orders),
        },
    );
    c.finish()?;
    if let Some(grid) = body.home_grid_id {
        if street_of_grid(core.db.read(), grid, "home_grid_id").await? != cur.street_id {
            return Err(Error::field(
                "home_grid_id",
                "other_street",
                "the home grid must be in the volunteer's street",
            ));
        }
    }
    let edit = Edit {
        home_grid_id: body.home_grid_id,
        name: body.name.map(|_| f.name),
        phone: body.phone.map(|_| f.phone),
        skills: body.skills.map(|_| f.skills),
        team: body.team.map(|_| f.team),
        party_member: body.party_member,
        availability: body.availability.map(|_| f.availability),
        max_open_orders: body.max_open_orders.map(|_| f.max_open_orders),
        active: body.active,
    };
    let now = core.now_ts();
    core.db
        .transact(move |tx| Box::pin(async move { volunteers::update(tx, id, edit, &now).await }))
        .await
}

/// Archives a volunteer: hidden from listings, no longer matched, its tokens stop working.
pub async fn archive_volunteer(core: &Core, caller: &Principal, id: Uuid) -> Result<()> {
    let cur = volunteers::get(core.db.read(), id).await?;
    caller.authorize(
        Action::Delete,
        Target::Volunteer {
            id,
            street: cur.street_id,
        },
    )?;
    let now = core.now_ts();
    core.db
        .transact(move |tx| {
            Box::pin(async move { volunteers::archive(tx, id, cur.street_id, &now).await })
        })
        .await
}
