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

use crate::Result;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use gongjian_plugin_sdk::{
    builder::{DemandSpec, InternedCandidate, OwnedRequest, RequestBuilder, StringTable},
    CandidateKind,
};
use uuid::Uuid;

use crate::domain::{clock_minutes, unix_seconds, WeeklySlot, DEFAULT_CATEGORIES, LOCAL_OFFSET};
use crate::store::{candidates, streets::own_categories};
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
            .and_then(|t| t.checked_to_offset(LOCAL_OFFSET))
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
        let counters = candidates::counters(db, street).await?;
        self.at(db, street, counters).await
    }

    /// The street's pool as of `counters`, just read.
    pub async fn at(
        &self,
        db: &sqlx::AnyPool,
        street: Uuid,
        counters: candidates::Counters,
    ) -> Result<Arc<StreetPool>> {
        let candidates::Counters {
            code,
            registry_version,
            load_version,
        } = counters;
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
    let grids = candidates::grid_places(db, street).await?;
    let place = |grid: Option<Uuid>| {
        grid.and_then(|g| grids.get(&g).cloned())
            .unwrap_or_default()
    };
    let mut volunteers: Vec<VolunteerProfile> = candidates::volunteers(db, street)
        .await?
        .into_iter()
        .map(|v| {
            let (grid, community) = place(Some(v.home_grid));
            VolunteerProfile {
                id: v.id,
                name: v.name,
                skills: v.skills,
                team: v.team,
                party_member: v.party_member,
                slots: Slot::parse(&v.availability),
                max_open_orders: u32::try_from(v.max_open_orders).unwrap_or(0),
                grid,
                community,
                ids: Ids::default(),
            }
        })
        .collect();
    let mut resources: Vec<ResourceProfile> = candidates::resources(db, street)
        .await?
        .into_iter()
        .map(|r| {
            let (grid, community) = place(r.volunteer_grid);
            ResourceProfile {
                id: r.id,
                title: r.title,
                category: r.category,
                tags: r.tags,
                served_grids: r
                    .served_grids
                    .iter()
                    .filter_map(|g| grids.get(g).map(|(code, _)| code.clone()))
                    .collect(),
                available_from: r.available_from.as_deref().and_then(unix_seconds),
                available_until: r.available_until.as_deref().and_then(unix_seconds),
                owned_by_unit: r.owned_by_unit,
                owner_kind: r.unit_kind,
                grid,
                community,
                ids: Ids::default(),
            }
        })
        .collect();
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
    let labels = own_categories(db, street).await?.into_iter().collect();
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

/// A count as the pool keeps it: never negative, saturating.
fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

async fn load_loads(db: &sqlx::AnyPool, street: Uuid, version: i64) -> Result<Loads> {
    let records = candidates::loads(db, street)
        .await?
        .into_iter()
        .map(|r| {
            (
                r.candidate,
                Load {
                    open_orders: count(r.open_orders),
                    completed_orders: count(r.completed_orders),
                    service_minutes: count(r.service_minutes),
                    last_order_at: r
                        .last_order_at
                        .as_deref()
                        .and_then(unix_seconds)
                        .unwrap_or(0),
                    average_rating: r.average_rating.map(|x| x as f32),
                },
            )
        })
        .collect();
    let capacity = candidates::capacity_left(db, street)
        .await?
        .into_iter()
        .map(|(id, left)| (id, count(left)))
        .collect();
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
        // A window whose local time would be past the last year time names: no weekday to
        // test, so it fits, as an unknown does.
        let last = parse_instant("9999-12-31T23:00:00Z")
            .unwrap()
            .unix_timestamp();
        assert!(weekly_fits(&sat_morning, Some(last), Some(last + 1800)));
    }
}
