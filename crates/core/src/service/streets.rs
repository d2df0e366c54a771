//! Streets (the tenants) and their communities, grids and categories.
//!
//! Every write runs in one transaction ([`Db::transact`](crate::store::Db::transact)); an edit
//! locks the row it merges into, so two edits of different fields never undo each other.

use super::Core;
use crate::domain::access::{Action, Principal, RoleKind, Target};
use crate::domain::rules;
use crate::domain::street::{
    Category, CategoryList, Community, CreateCategory, CreateCommunity, CreateGrid, CreateStreet,
    Grid, ListGrids, ListStreets, Street, UpdateGrid, UpdateStreet,
};
use crate::domain::{is_default_category, Check, DEFAULT_CATEGORIES};
use crate::store::page::{ListPage, Page, PageRequest};
use crate::store::{streets, Tx};
use crate::{Error, Result};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Streets

/// Lists streets. Every caller may read the map of streets.
pub async fn list_streets(
    core: &Core,
    _caller: &Principal,
    q: ListStreets,
) -> Result<Page<Street>> {
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    streets::list(core.db.read(), q.district.as_deref(), &page).await
}

/// Registers a street (district admins only).
pub async fn create_street(core: &Core, caller: &Principal, body: CreateStreet) -> Result<Street> {
    caller.require(&[RoleKind::DistrictAdmin], "register streets")?;
    let mut c = Check::new();
    let name = c.text("name", &body.name, rules::PLACE_NAME);
    let code = c.code("code", &body.code, rules::CODE);
    let district = c.text("district", &body.district, rules::PLACE_NAME);
    c.finish()?;
    let now = core.now_ts();
    let street = Street {
        id: Uuid::now_v7(),
        name,
        code,
        district,
        created_at: now.clone(),
        updated_at: now,
    };
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                streets::insert(tx, &street).await?;
                Ok(street)
            })
        })
        .await
}

pub async fn get_street(core: &Core, caller: &Principal, id: Uuid) -> Result<Street> {
    let street = streets::get(core.db.read(), id).await?;
    caller.authorize(Action::Read, Target::Street(id))?;
    Ok(street)
}

pub async fn update_street(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    body: UpdateStreet,
) -> Result<Street> {
    streets::require(core.db.read(), id).await?;
    caller.authorize(Action::Update, Target::Street(id))?;
    let mut c = Check::new();
    let name = body.name.map(|v| c.text("name", &v, rules::PLACE_NAME));
    let code = body.code.map(|v| c.code("code", &v, rules::CODE));
    let district = body
        .district
        .map(|v| c.text("district", &v, rules::PLACE_NAME));
    c.finish()?;
    let now = core.now_ts();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                let mut street = streets::lock(tx, id).await?;
                street.name = name.unwrap_or(street.name);
                street.code = code.unwrap_or(street.code);
                street.district = district.unwrap_or(street.district);
                street.updated_at = now;
                streets::update(tx, &street).await?;
                Ok(street)
            })
        })
        .await
}

// ---------------------------------------------------------------------------------------------
// Communities

pub async fn list_communities(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    q: ListPage,
) -> Result<Page<Community>> {
    streets::require(core.db.read(), street).await?;
    caller.authorize(Action::Read, Target::StreetArea(street))?;
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    streets::list_communities(core.db.read(), street, &page).await
}

pub async fn create_community(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    body: CreateCommunity,
) -> Result<Community> {
    streets::require(core.db.read(), street).await?;
    caller.authorize(Action::Create, Target::StreetArea(street))?;
    let mut c = Check::new();
    let name = c.text("name", &body.name, rules::PLACE_NAME);
    c.finish()?;
    let now = core.now_ts();
    let community = Community {
        id: Uuid::now_v7(),
        street_id: street,
        name,
        created_at: now.clone(),
        updated_at: now,
    };
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                streets::insert_community(tx, &community).await?;
                Ok(community)
            })
        })
        .await
}

pub async fn update_community(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    id: Uuid,
    body: CreateCommunity,
) -> Result<Community> {
    streets::get_community(core.db.read(), street, id).await?;
    caller.authorize(Action::Update, Target::StreetArea(street))?;
    let mut c = Check::new();
    let name = c.text("name", &body.name, rules::PLACE_NAME);
    c.finish()?;
    let now = core.now_ts();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                streets::rename_community(tx, street, id, &name, &now).await?;
                streets::get_community(&mut **tx, street, id).await
            })
        })
        .await
}

/// Deletes a community that has no grids.
pub async fn delete_community(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    id: Uuid,
) -> Result<()> {
    streets::get_community(core.db.read(), street, id).await?;
    caller.authorize(Action::Delete, Target::StreetArea(street))?;
    core.db
        .transact(move |tx| Box::pin(streets::delete_community(tx, street, id)))
        .await
}

// ---------------------------------------------------------------------------------------------
// Grids

fn check_grid_fields(
    c: &mut Check,
    code: Option<&str>,
    name: Option<&str>,
    households: Option<i64>,
) -> (Option<String>, Option<String>) {
    let code = code.map(|v| c.code("code", v, rules::CODE));
    let name = name.map(|v| c.text("name", v, rules::PLACE_NAME));
    if let Some(h) = households {
        c.range_i64("households", h, rules::HOUSEHOLDS);
    }
    (code, name)
}

/// `community_id` must name a community of the street, read in the transaction that refers
/// to it.
async fn require_community(tx: &mut Tx<'_>, street: Uuid, community: Uuid) -> Result<()> {
    match streets::get_community(&mut **tx, street, community).await {
        Ok(_) => Ok(()),
        Err(Error::NotFound(_)) => Err(Error::field(
            "community_id",
            "unknown_reference",
            "no community with this id in the street",
        )),
        Err(e) => Err(e),
    }
}

pub async fn list_grids(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    q: ListGrids,
) -> Result<Page<Grid>> {
    streets::require(core.db.read(), street).await?;
    caller.authorize(Action::Read, Target::StreetArea(street))?;
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    streets::list_grids(core.db.read(), street, q.community_id, &page).await
}

pub async fn create_grid(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    body: CreateGrid,
) -> Result<Grid> {
    streets::require(core.db.read(), street).await?;
    caller.authorize(Action::Create, Target::StreetArea(street))?;
    let mut c = Check::new();
    let (code, name) =
        check_grid_fields(&mut c, Some(&body.code), Some(&body.name), body.households);
    c.finish()?;
    let now = core.now_ts();
    let grid = Grid {
        id: Uuid::now_v7(),
        street_id: street,
        community_id: body.community_id,
        code: code.unwrap_or_default(),
        name: name.unwrap_or_default(),
        households: body.households,
        created_at: now.clone(),
        updated_at: now,
    };
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                require_community(tx, street, grid.community_id).await?;
                streets::insert_grid(tx, &grid).await?;
                Ok(grid)
            })
        })
        .await
}

pub async fn get_grid(core: &Core, caller: &Principal, street: Uuid, id: Uuid) -> Result<Grid> {
    let grid = streets::get_grid(core.db.read(), street, id).await?;
    caller.authorize(Action::Read, Target::StreetArea(street))?;
    Ok(grid)
}

pub async fn update_grid(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    id: Uuid,
    body: UpdateGrid,
) -> Result<Grid> {
    streets::get_grid(core.db.read(), street, id).await?;
    caller.authorize(Action::Update, Target::StreetArea(street))?;
    let mut c = Check::new();
    let (code, name) = check_grid_fields(
        &mut c,
        body.code.as_deref(),
        body.name.as_deref(),
        body.households.flatten(),
    );
    c.finish()?;
    let now = core.now_ts();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                let mut grid = streets::lock_grid(tx, street, id).await?;
                if let Some(community) = body.community_id {
                    require_community(tx, street, community).await?;
                    grid.community_id = community;
                }
                grid.code = code.unwrap_or(grid.code);
                grid.name = name.unwrap_or(grid.name);
                grid.households = body.households.unwrap_or(grid.households);
                grid.updated_at = now;
                streets::update_grid(tx, &grid).await?;
                Ok(grid)
            })
        })
        .await
}

/// Deletes a grid that no volunteer or demand refers to.
pub async fn delete_grid(core: &Core, caller: &Principal, street: Uuid, id: Uuid) -> Result<()> {
    streets::get_grid(core.db.read(), street, id).await?;
    caller.authorize(Action::Delete, Target::StreetArea(street))?;
    core.db
        .transact(move |tx| Box::pin(streets::delete_grid(tx, street, id)))
        .await
}

// ---------------------------------------------------------------------------------------------
// Categories

pub async fn list_categories(
    core: &Core,
    caller: &Principal,
    street: Uuid,
) -> Result<CategoryList> {
    streets::require(core.db.read(), street).await?;
    caller.authorize(Action::Read, Target::StreetArea(street))?;
    let builtin = DEFAULT_CATEGORIES.iter().map(|(code, label)| Category {
        code: code.to_string(),
        label: label.to_string(),
        builtin: true,
    });
    let own = streets::own_categories(core.db.read(), street)
        .await?
        .into_iter()
        .map(|(code, label)| Category {
            code,
            label,
            builtin: false,
        });
    Ok(CategoryList {
        items: builtin.chain(own).collect(),
    })
}

pub async fn create_category(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    body: CreateCategory,
) -> Result<Category> {
    streets::require(core.db.read(), street).await?;
    caller.authorize(Action::Create, Target::StreetArea(street))?;
    let mut c = Check::new();
    let code = c.code("code", &body.code, rules::CODE);
    let label = c.text("label", &body.label, rules::CATEGORY_LABEL);
    c.finish()?;
    if is_default_category(&code) {
        return Err(Error::Conflict {
            code: "already_exists",
            message: "this is a built-in category".into(),
            field: Some("code".into()),
        });
    }
    let now = core.now_ts();
    core.db
        .transact(move |tx| {
            Box::pin(async move {
                streets::insert_category(tx, street, &code, &label, &now).await?;
                Ok(Category {
                    code,
                    label,
                    builtin: false,
                })
            })
        })
        .await
}
