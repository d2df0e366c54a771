//! The registry of co-building units (共建单位). A unit may co-build with several streets.
//!
//! Every write runs in one transaction; an edit locks the unit and decides from the unit as
//! locked, so two edits never undo each other and the caller's rights are checked against
//! the streets the unit has when it changes.

use super::Core;
use crate::domain::access::{Action, Principal, RoleKind, Target};
use crate::domain::rules;
use crate::domain::unit::{CreateUnit, ListUnits, Unit, UpdateUnit};
use crate::domain::{Check, UnitKind};
use crate::store::page::{Page, PageRequest};
use crate::store::rows::require_all;
use crate::store::units;
use crate::Result;
use uuid::Uuid;

struct UnitFields {
    name: String,
    kind: UnitKind,
    contact_name: String,
    contact_phone: String,
    address: Option<String>,
    description: Option<String>,
    street_ids: Vec<Uuid>,
}

fn check_unit(c: &mut Check, f: UnitFields) -> UnitFields {
    if f.street_ids.is_empty() {
        c.push(
            "street_ids",
            "required",
            "a unit co-builds with at least one street",
        );
    }
    c.ids("street_ids", &f.street_ids, rules::STREET_IDS);
    UnitFields {
        name: c.text("name", &f.name, rules::NAME),
        kind: f.kind,
        contact_name: c.text("contact_name", &f.contact_name, rules::PERSON_NAME),
        contact_phone: c.phone("contact_phone", &f.contact_phone),
        address: c.opt_text("address", f.address.as_deref(), rules::ADDRESS),
        description: c.opt_text("description", f.description.as_deref(), rules::DESCRIPTION),
        street_ids: f.street_ids,
    }
}

/// Lists units. Street staff see the units co-building with their street; a unit sees itself.
pub async fn list_units(core: &Core, caller: &Principal, q: ListUnits) -> Result<Page<Unit>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    units::list(core.db.read(), caller.unit_scope()?, &q, &page).await
}

/// Registers a co-building unit. The district registers any; a street admin registers units
/// for its own street.
pub async fn create_unit(core: &Core, caller: &Principal, body: CreateUnit) -> Result<Unit> {
    caller.require(
        &[RoleKind::DistrictAdmin, RoleKind::StreetAdmin],
        "register units",
    )?;
    let mut c = Check::new();
    let f = check_unit(
        &mut c,
        UnitFields {
            name: body.name,
            kind: body.kind,
            contact_name: body.contact_name,
            contact_phone: body.contact_phone,
            address: body.address,
            description: body.description,
            street_ids: body.street_ids,
        },
    );
    c.finish()?;
    caller.authorize(
        Action::Create,
        Target::Unit {
            id: Uuid::nil(),
            streets: &f.street_ids,
        },
    )?;
    let now = core.now_ts();
    let unit = Unit {
        id: Uuid::now_v7(),
        name: f.name,
        kind: f.kind,
        contact_name: f.contact_name,
        contact_phone: f.contact_phone,
        address: f.address,
        description: f.description,
        street_ids: f.street_ids,
        archived_at: None,
        created_at: now.clone(),
        updated_at: now,
    };
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                require_all(tx, "streets", "street_ids", &unit.street_ids).await?;
                units::insert(tx, &unit).await?;
                Ok(unit)
            })
        })
        .await
}

pub async fn get_unit(core: &Core, caller: &Principal, id: Uuid) -> Result<Unit> {
    let unit = units::get(core.db.read(), id).await?;
    caller.authorize(
        Action::Read,
        Target::Unit {
            id,
            streets: &unit.street_ids,
        },
    )?;
    Ok(unit)
}

pub async fn update_unit(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: UpdateUnit,
) -> Result<Unit> {
    let caller = caller.clone();
    let now = core.now_ts();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                let current = units::lock(tx, id).await?;
                caller.authorize(
                    Action::Update,
                    Target::Unit {
                        id,
                        streets: &current.street_ids,
                    },
                )?;
                let mut c = Check::new();
                let f = check_unit(
                    &mut c,
                    UnitFields {
                        name: body.name.unwrap_or(current.name),
                        kind: body.kind.unwrap_or(current.kind),
                        contact_name: body.contact_name.unwrap_or(current.contact_name),
                        contact_phone: body.contact_phone.unwrap_or(current.contact_phone),
                        address: body.address.unwrap_or(current.address),
                        description: body.description.unwrap_or(current.description),
                        street_ids: body
                            .street_ids
                            .clone()
                            .unwrap_or(current.street_ids.clone()),
                    },
                );
                c.finish()?;
                if body.street_ids.is_some() {
                    caller.authorize_unit_streets(&current.street_ids, &f.street_ids)?;
                    require_all(tx, "streets", "street_ids", &f.street_ids).await?;
                }
                let unit = Unit {
                    id,
                    name: f.name,
                    kind: f.kind,
                    contact_name: f.contact_name,
                    contact_phone: f.contact_phone,
                    address: f.address,
                    description: f.description,
                    street_ids: f.street_ids,
                    archived_at: current.archived_at,
                    created_at: current.created_at,
                    updated_at: now,
                };
                units::update(tx, &unit).await?;
                Ok(unit)
            })
        })
        .await
}

/// Archives a unit: it disappears from listings, its tokens stop working, its history stays.
pub async fn archive_unit(core: &Core, caller: &Principal, id: Uuid) -> Result<()> {
    let caller = caller.clone();
    let now = core.now_ts();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                let current = units::lock(tx, id).await?;
                caller.authorize(
                    Action::Delete,
                    Target::Unit {
                        id,
                        streets: &current.street_ids,
                    },
                )?;
                units::archive(tx, id, &now).await
            })
        })
        .await
}
