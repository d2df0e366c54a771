//! The candidate pool: each street's volunteers and resources as matching sees them, kept in
//! memory between dispatches.
//!
//! A pool has two tiers. The *registry* tier (profiles: skills, team, home grid, availability,
//! served grids, names) changes when the registry does; the *load* tier (orders open and done,
//! minutes served, last order, rating, capacity left) changes with every order transition.
//! Each street carries a counter per tier in the database, moved in the same transaction as
//! any change to that tier (`store::counters`). A
//! dispatch reads the two counters (one indexed read) and rebuilds only the tier whose counter
//! moved, so the copy it ranks is never older than the last committed change, and several
//! hosts on one database stay correct without talking to each other.
//!
//! The counters are read before the data, so a copy may hold changes newer than its stamp,
//! never older: at worst the next dispatch reloads a tier it did not need to.

use crate::{Error, Result};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use gongjian_plugin_sdk::{
    builder::{DemandSpec, InternedCandidate, OwnedRequest, RequestBuilder, StringTable},
    CandidateKind,
};
use sqlx::Row;
use uuid::Uuid;

use crate::domain::{clock_minutes, unix_seconds, WeeklySlot, DEFAULT_CATEGORIES, LOCAL_OFFSET};
use crate::store::rows::{get_json, get_opt_uuid, get_uuid};
use crate::{
    domain::settings::{choose_settings, Settings},
    store::settings::stored_settings,
};

/// A weekly slot in minutes since local midnight.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    /// 0 is Monday.
    pub day: u8,
    pub start: u32,
    pub end: u32,
}

impl Slot {
    /// Slots as stored (already validated).
    pub fn parse(slots: &[WeeklySlot]) -> Vec<Slot> {
        slots
            .iter()
            .map(|s| Slot {
                day: s.day as u8,
                start: clock_minutes(&s.start).unwrap_or(0),
                end: clock_minutes(&s.end).unwrap_or(0),
            })
            .collect()
    }
}

/// Whether weekly slots cover a window. No slots means no declared limits (fits); no window
/// means any time (fits). A window is covered when one slot on its local weekday spans its
/// start and, if it ends the same day, its end.
pub fn weekly_fits(slots: &[Slot], start: Option<i64>, end: Option<i64>) -> bool {
    let (Some(start), true) = (start, !slots.is_empty()) else {
        return true;
    };
    let local = |s: i64| {
        time::OffsetDateTime::from_unix_timestamp(s)
            .ok()
            .map(|t| t.to_offset(LOCAL_OFFSET))
    };
    let Some(s) = local(start) else { return true };
    let day = s.weekday().number_days_from_monday();
    let start_min = u32::from(s.hour()) * 60 + u32::from(s.minute());
    let end_min = end
        .and_then(local)
        .filter(|e| e.date() == s.date())
        .map(|e| u32::from(e.hour()) * 60 + u32::from(e.minute()))
        .unwrap_or(start_min);
    slots
        .iter()
        .any(|slot| slot.day == day && slot.start <= start_min && slot.end >= end_min)
}

/// A volunteer as matching sees it; no personal data but the name shown to staff.
#[derive(Debug)]
pub struct VolunteerProfile {
    pub id: Uuid,
    pub name: String,
    pub skills: Vec<String>,
    pub team: Option<String>,
    pub party_member: bool,
    pub slots: Vec<Slot>,
    pub max_open_orders: u32,
    pub grid: String,
    pub community: String,
    /// Its text in the pool's string table.
    ids: Ids,
}

/// A profile's text as indexes into the pool's string table.
#[derive(Debug, Default)]
struct Ids {
    grid: u32,
    community: u32,
    team: u32,
    category: u32,
    owner_kind: u32,
    labels: Vec<u32>,
    served_grids: Vec<u32>,
}

/// A resource serving the street.
#[derive(Debug)]
pub struct ResourceProfile {
    pub id: Uuid,
    pub title: String,
    pub category: String,
    pub tags: Vec<String>,
    /// Codes of the grids it serves; empty: all.
    pub served_grids: Vec<String>,
    pub available_from: Option<i64>,
    pub available_until: Option<i64>,
    pub owned_by_unit: bool,
    pub owner_kind: Option<String>,
    /// The owning volunteer's home grid, for a volunteer's resource.
    pub grid: String,
    pub community: String,
    ids: Ids,
}

/// A candidate's record in a street.
#[derive(Debug, Clone, Copy, Default)]
pub struct Load {
    pub open_orders: u32,
    pub completed_orders: u32,
    pub service_minutes: u32,
    pub last_order_at: i64,
    pub average_rating: Option<f32>,
}

#[derive(Debug)]
struct Registry {
    version: i64,
    /// Grid id → (code, community name).
    grids: HashMap<Uuid, (String, String)>,
    /// The street's own categories: code → label.
    labels: HashMap<String, String>,
    /// Dispatch settings by category ('' for the street's default).
    settings: HashMap<String, Settings>,
    volunteers: Vec<VolunteerProfile>,
    resources: Vec<ResourceProfile>,
    /// Every text of the profiles, interned once for all the requests built from them.
    table: Arc<StringTable>,
}

#[derive(Debug)]
struct Loads {
    version: i64,
    records: HashMap<Uuid, Load>,
    /// Capacity left of each active resource serving the street.
    capacity: HashMap<Uuid, u32>,
}

/// One street's pool at a pair of counter values.
#[derive(Debug)]
pub struct StreetPool {
    pub street: Uuid,
    pub code: String,
    registry: Arc<Registry>,
    loads: Arc<Loads>,
}

/// Which candidate a position in a request stands for.
#[derive(Debug, Clone, Copy)]
pub enum Member {
    Volunteer(usize),
    Resource(usize),
}

impl StreetPool {
    /// The kind, id and name of a member.
    pub fn describe(&self, m: Member) -> (crate::domain::CandidateKind, Uuid, &str) {
        match m {
            Member::Volunteer(i) => {
                let v = &self.registry.volunteers[i];
                (crate::domain::CandidateKind::Volunteer, v.id, &v.name)
            }
            Member::Resource(i) => {
                let r = &self.registry.resources[i];
                (crate::domain::CandidateKind::Resource, r.id, &r.title)
            }
        }
    }

    /// A grid's code and community name ("" when the grid is not the street's).
    pub fn place(&self, grid: Uuid) -> (String, String) {
        self.registry.grids.get(&grid).cloned().unwrap_or_default()
    }

    /// A category's label: the built-in taxonomy's, or the street's own.
    pub fn category_label(&self, code: &str) -> String {
        match DEFAULT_CATEGORIES.iter().find(|(c, _)| *c == code) {
            Some((_, label)) => label.to_string(),
            None => self.registry.labels.get(code).cloned().unwrap_or_default(),
        }
    }

    /// How the street dispatches a category: its own settings, else the street's default, else
    /// the built-in default (as [`super::dispatch::settings_for`] reads them).
    pub fn settings(&self, category: &str) -> Settings {
        choose_settings(&self.registry.settings, category)
    }

    /// Whether `code` is one of the street's categories.
    pub fn has_category(&self, code: &str) -> bool {
        DEFAULT_CATEGORIES.iter().any(|(c, _)| *c == code)
            || self.registry.labels.contains_key(code)
    }

    /// The street's categories: the built-in taxonomy, then its own.
    pub fn categories(&self) -> Vec<gongjian_plugin_sdk::Category> {
        let mut own: Vec<_> = self.registry.labels.iter().collect();
        own.sort();
        DEFAULT_CATEGORIES
            .iter()
            .map(|(c, l)| (c.to_string(), l.to_string()))
            .chain(own.into_iter().map(|(c, l)| (c.clone(), l.clone())))
            .map(|(code, label)| gongjian_plugin_sdk::Category { code, label })
            .collect()
    }

    fn load(&self, id: Uuid) -> Load {
        self.loads.records.get(&id).copied().unwrap_or_default()
    }

    /// The request for a demand: the volunteers under their open-order limit and the
    /// resources with capacity left, with whether each fits the demand's window.
    pub fn request(
        &self,
        demand: &DemandSpec,
        config: &str,
        now: i64,
        max_results: u32,
    ) -> (OwnedRequest, Vec<Member>) {
        let reg = &self.registry;
        let mut b = RequestBuilder::with_table(
            reg.table.clone(),
            &self.code,
            demand,
            config,
            now,
            max_results,
        );
        b.reserve(reg.volunteers.len() + reg.resources.len());
        let mut members = Vec::with_capacity(reg.volunteers.len() + reg.resources.len());
        let (start, end) = (demand.window_start, demand.window_end);
        for (i, v) in reg.volunteers.iter().enumerate() {
            let load = self.load(v.id);
            if load.open_orders >= v.max_open_orders {
                continue;
            }
            b.push_interned(&InternedCandidate {
                kind: CandidateKind::Volunteer,
                party_member: v.party_member,
                availability_fits: weekly_fits(&v.slots, start, end),
                owned_by_unit: false,
                home_grid: v.ids.grid,
                community: v.ids.community,
                team: v.ids.team,
                category: 0,
                owner_kind: 0,
                labels: &v.ids.labels,
                served_grids: &[],
                open_orders: load.open_orders,
                max_open_orders: v.max_open_orders,
                completed_orders: load.completed_orders,
                capacity_left: 0,
                average_rating: load.average_rating,
                service_minutes: load.service_minutes,
                last_order_at: load.last_order_at,
            });
            members.push(Member::Volunteer(i));
        }
        let need_from = start.unwrap_or(now);
        let need_until = end.or(start).unwrap_or(now);
        for (i, r) in reg.resources.iter().enumerate() {
            let Some(&capacity) = self.loads.capacity.get(&r.id).filter(|c| **c > 0) else {
                continue;
            };
            let load = self.load(r.id);
            let fits = r.available_from.is_none_or(|f| f <= need_from)
                && r.available_until.is_none_or(|u| u >= need_until);
            b.push_interned(&InternedCandidate {
                kind: CandidateKind::Resource,
                party_member: false,
                availability_fits: fits,
                owned_by_unit: r.owned_by_unit,
                home_grid: r.ids.grid,
                community: r.ids.community,
                team: 0,
                category: r.ids.category,
                owner_kind: r.ids.owner_kind,
                labels: &r.ids.labels,
                served_grids: &r.ids.served_grids,
                open_orders: load.open_orders,
                max_open_orders: 0,
                completed_orders: load.completed_orders,
                capacity_left: capacity,
                average_rating: load.average_rating,
                service_minutes: load.service_minutes,
                last_order_at: load.last_order_at,
            });
            members.push(Member::Resource(i));
        }
        (b.finish(), members)
    }
}

/// The pools of the streets this host has dispatched for.
#[derive(Debug, Default)]
pub struct Pools {
    streets: Mutex<HashMap<Uuid, Arc<StreetPool>>>,
}

impl Pools {
    pub fn new() -> Self {
        Self::default()
    }

    /// The street's pool as of the last committed change.
    pub async fn get(&self, db: &sqlx::AnyPool, street: Uuid) -> Result<Arc<StreetPool>> {
        let row =
            sqlx::query("SELECT code, registry_version, load_version FROM streets WHERE id = $1")
                .bind(street.to_string())
                .fetch_optional(db)
                .await?
                .ok_or(Error::NotFound("street"))?;
        let code: String = row.try_get("code")?;
        let registry_version: i64 = row.try_get("registry_version")?;
        let load_version: i64 = row.try_get("load_version")?;
        let cached = self
            .streets
            .lock()
            .expect("pool lock")
            .get(&street)
            .cloned();
        if let Some(p) = &cached {
            if p.registry.version == registry_version
                && p.loads.version == load_version
                && p.code == code
            {
                return Ok(p.clone());
            }
        }
        let registry = match &cached {
            Some(p) if p.registry.version == registry_version => p.registry.clone(),
            _ => Arc::new(load_registry(db, street, registry_version).await?),
        };
        let loads = match &cached {
            Some(p) if p.loads.version == load_version => p.loads.clone(),
            _ => Arc::new(load_loads(db, street, load_version).await?),
        };
        let pool = Arc::new(StreetPool {
            street,
            code,
            registry,
            loads,
        });
        let mut streets = self.streets.lock().expect("pool lock");
        // Keep the newest copy when two dispatches reloaded at once.
        let newer = streets.get(&street).is_none_or(|p| {
            p.registry.version <= pool.registry.version && p.loads.version <= pool.loads.version
        });
        if newer {
            streets.insert(street, pool.clone());
        }
        Ok(pool)
    }
}

async fn load_registry(db: &sqlx::AnyPool, street: Uuid, version: i64) -> Result<Registry> {
    let grids: HashMap<Uuid, (String, String)> = sqlx::query(
        "SELECT g.id, g.code, c.name FROM grids g JOIN communities c ON c.id = g.community_id WHERE g.street_id = $1",
    )
    .bind(street.to_string())
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| Ok((get_uuid(r, "id")?, (r.try_get("code")?, r.try_get("name")?))))
    .collect::<Result<_>>()?;
    let place = |grid: Option<Uuid>| {
        grid.and_then(|g| grids.get(&g).cloned())
            .unwrap_or_default()
    };
    let volunteers = sqlx::query(
        "SELECT id, name, skills, team, party_member, availability, max_open_orders, home_grid_id \
         FROM volunteers WHERE street_id = $1 AND active = 1 AND archived_at IS NULL AND max_open_orders > 0 \
         ORDER BY id",
    )
    .bind(street.to_string())
    .fetch_all(db)
    .await?
    .iter()
    .map(|v| {
        let (grid, community) = place(Some(get_uuid(v, "home_grid_id")?));
        Ok(VolunteerProfile {
            id: get_uuid(v, "id")?,
            name: v.try_get("name")?,
            skills: get_json(v, "skills")?,
            team: v.try_get("team")?,
            party_member: v.try_get::<i64, _>("party_member")? != 0,
            slots: Slot::parse(&get_json::<Vec<WeeklySlot>>(v, "availability")?),
            max_open_orders: u32::try_from(v.try_get::<i64, _>("max_open_orders")?).unwrap_or(0),
            grid,
            community,
            ids: Ids::default(),
        })
    })
    .collect::<Result<Vec<_>>>()?;
    let resources = sqlx::query(
        "SELECT r.id, r.title, r.category, r.tags, r.served_grid_ids, r.available_from, r.available_until, \
         r.owner_unit_id, u.kind AS unit_kind, v.home_grid_id AS volunteer_grid \
         FROM resources r JOIN resource_streets rs ON rs.resource_id = r.id AND rs.street_id = $1 \
         LEFT JOIN units u ON u.id = r.owner_unit_id LEFT JOIN volunteers v ON v.id = r.owner_volunteer_id \
         WHERE r.status = 'active' AND u.archived_at IS NULL ORDER BY r.id",
    )
    .bind(street.to_string())
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        let (grid, community) = place(get_opt_uuid(r, "volunteer_grid")?);
        let served: Vec<Uuid> = get_json(r, "served_grid_ids")?;
        Ok(ResourceProfile {
            id: get_uuid(r, "id")?,
            title: r.try_get("title")?,
            category: r.try_get("category")?,
            tags: get_json(r, "tags")?,
            served_grids: served
                .iter()
                .filter_map(|g| grids.get(g).map(|(code, _)| code.clone()))
                .collect(),
            available_from: r
                .try_get::<Option<String>, _>("available_from")?
                .as_deref()
                .and_then(unix_seconds),
            available_until: r
                .try_get::<Option<String>, _>("available_until")?
                .as_deref()
                .and_then(unix_seconds),
            owned_by_unit: get_opt_uuid(r, "owner_unit_id")?.is_some(),
            owner_kind: r.try_get("unit_kind")?,
            grid,
            community,
            ids: Ids::default(),
        })
    })
    .collect::<Result<Vec<_>>>()?;
    let mut volunteers = volunteers;
    let mut resources = resources;
    let mut table = StringTable::new();
    let list = |t: &mut StringTable, items: &[String]| items.iter().map(|i| t.add(i)).collect();
    for v in &mut volunteers {
        v.ids = Ids {
            grid: table.add(&v.grid),
            community: table.add(&v.community),
            team: table.add_opt(v.team.as_deref()),
            labels: list(&mut table, &v.skills),
            ..Ids::default()
        };
    }
    for r in &mut resources {
        r.ids = Ids {
            grid: table.add(&r.grid),
            community: table.add(&r.community),
            team: 0,
            category: table.add(&r.category),
            owner_kind: table.add_opt(r.owner_kind.as_deref()),
            labels: list(&mut table, &r.tags),
            served_grids: list(&mut table, &r.served_grids),
        };
    }
    let labels = sqlx::query("SELECT code, label FROM categories WHERE street_id = $1")
        .bind(street.to_string())
        .fetch_all(db)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("code")?, r.try_get("label")?)))
        .collect::<Result<_>>()?;
    let settings = stored_settings(db, street, None).await?;
    Ok(Registry {
        version,
        grids,
        labels,
        settings,
        table: Arc::new(table),
        volunteers,
        resources,
    })
}

async fn load_loads(db: &sqlx::AnyPool, street: Uuid, version: i64) -> Result<Loads> {
    let count = |r: &sqlx::any::AnyRow, col: &str| -> Result<u32> {
        Ok(u32::try_from(r.try_get::<i64, _>(col)?.max(0)).unwrap_or(u32::MAX))
    };
    let records = sqlx::query(
        "SELECT candidate_id, open_orders, completed_orders, service_minutes, last_order_at, average_rating \
         FROM candidate_loads WHERE street_id = $1",
    )
    .bind(street.to_string())
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| {
        Ok((
            get_uuid(r, "candidate_id")?,
            Load {
                open_orders: count(r, "open_orders")?,
                completed_orders: count(r, "completed_orders")?,
                service_minutes: count(r, "service_minutes")?,
                last_order_at: r
                    .try_get::<Option<String>, _>("last_order_at")?
                    .as_deref()
                    .and_then(unix_seconds)
                    .unwrap_or(0),
                average_rating: r.try_get::<Option<f64>, _>("average_rating")?.map(|x| x as f32),
            },
        ))
    })
    .collect::<Result<_>>()?;
    let capacity = sqlx::query(
        "SELECT r.id, r.capacity_left FROM resources r \
         JOIN resource_streets rs ON rs.resource_id = r.id AND rs.street_id = $1 WHERE r.status = 'active'",
    )
    .bind(street.to_string())
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| Ok((get_uuid(r, "id")?, count(r, "capacity_left")?)))
    .collect::<Result<_>>()?;
    Ok(Loads {
        version,
        records,
        capacity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{parse_instant, Weekday};

    #[test]
    fn weekly_slots_cover_windows_in_local_time() {
        let slot = |day, s: &str, e: &str| WeeklySlot {
            day,
            start: s.into(),
            end: e.into(),
        };
        let sat_morning = Slot::parse(&[slot(Weekday::Sat, "08:00", "12:00")]);
        // 2026-05-02 is a Saturday; 09:00–11:00 at UTC+8 is 01:00–03:00 UTC.
        let start = parse_instant("2026-05-02T01:00:00Z")
            .unwrap()
            .unix_timestamp();
        assert!(weekly_fits(&sat_morning, Some(start), Some(start + 7200)));
        assert!(
            !weekly_fits(&sat_morning, Some(start), Some(start + 4 * 3600)),
            "ends after the slot"
        );
        assert!(
            !weekly_fits(&sat_morning, Some(start + 86_400), None),
            "Sunday"
        );
        assert!(weekly_fits(&[], Some(start), None), "no declared slots");
        assert!(weekly_fits(&sat_morning, None, None), "no window");
    }
}
