//! Building requests: the host packs its candidates with this, and plugin authors use it to
//! make requests in tests and with `gongjian plugin run`.

use std::{collections::HashMap, sync::Arc};

use serde::{Deserialize, Serialize};

use crate::request::{CandidateKind, Demand, Request, Urgency, CANDIDATE_SIZE};

/// A demand described in plain text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema), schema(as = plugin::DemandSpec))]
#[serde(deny_unknown_fields, default)]
pub struct DemandSpec {
    /// Category code.
    pub category: String,
    /// The category's label.
    pub category_label: String,
    /// Tags.
    pub tags: Vec<String>,
    /// `low`, `normal`, `high` or `critical`.
    pub urgency: Urgency,
    /// Grid (any stable text: the host uses grid ids).
    pub grid: String,
    /// Community of the grid.
    pub community: String,
    /// Start of the requested window, seconds since the Unix epoch.
    pub window_start: Option<i64>,
    /// End of the requested window, seconds since the Unix epoch.
    pub window_end: Option<i64>,
    /// When it was filed, seconds since the Unix epoch.
    pub filed_at: i64,
}

/// A candidate described in plain text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema), schema(as = plugin::CandidateSpec))]
#[serde(deny_unknown_fields, default)]
pub struct CandidateSpec {
    /// `volunteer` or `resource`.
    pub kind: CandidateKind,
    /// A party member.
    pub party_member: bool,
    /// Availability fits the demand's window.
    pub availability_fits: bool,
    /// Owned by a co-building unit.
    pub owned_by_unit: bool,
    /// Home grid.
    pub home_grid: String,
    /// Community of the home grid.
    pub community: String,
    /// Team.
    pub team: Option<String>,
    /// Category (resources).
    pub category: Option<String>,
    /// Kind of the owning unit.
    pub owner_kind: Option<String>,
    /// Skills or tags.
    pub labels: Vec<String>,
    /// Grids served (resources); empty: all.
    pub served_grids: Vec<String>,
    /// Orders open now.
    pub open_orders: u32,
    /// Most orders it may hold open.
    pub max_open_orders: u32,
    /// Orders completed.
    pub completed_orders: u32,
    /// Capacity left.
    pub capacity_left: u32,
    /// Average rating, when rated.
    pub average_rating: Option<f32>,
    /// Service minutes recorded.
    pub service_minutes: u32,
    /// Last order taken, seconds since the Unix epoch; 0 if never.
    pub last_order_at: i64,
}

impl Default for CandidateSpec {
    fn default() -> Self {
        CandidateSpec {
            kind: CandidateKind::Volunteer,
            party_member: false,
            availability_fits: true,
            owned_by_unit: false,
            home_grid: String::new(),
            community: String::new(),
            team: None,
            category: None,
            owner_kind: None,
            labels: vec![],
            served_grids: vec![],
            open_orders: 0,
            max_open_orders: 3,
            completed_orders: 0,
            capacity_left: 0,
            average_rating: None,
            service_minutes: 0,
            last_order_at: 0,
        }
    }
}

fn flags(party_member: bool, fits: bool, rating: Option<f32>, by_unit: bool) -> u8 {
    u8::from(party_member)
        | u8::from(fits) << 1
        | u8::from(rating.is_some()) << 2
        | u8::from(by_unit) << 3
}

/// A request with its data owned; [`OwnedRequest::view`] reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedRequest {
    /// Interned text; index 0 is "".
    pub strings: Vec<String>,
    /// The street's code (string index).
    pub street: u32,
    /// Demand category (string index).
    pub category: u32,
    /// Demand category label (string index).
    pub category_label: u32,
    /// Demand tags (string indexes).
    pub tags: Vec<u32>,
    /// Demand urgency.
    pub urgency: Urgency,
    /// Demand grid (string index).
    pub grid: u32,
    /// Demand community (string index).
    pub community: u32,
    /// Requested window start.
    pub window_start: Option<i64>,
    /// Requested window end.
    pub window_end: Option<i64>,
    /// When the demand was filed.
    pub filed_at: i64,
    /// How many candidates.
    pub candidate_count: u32,
    /// Packed candidates.
    pub candidates: Vec<u8>,
    /// Label lists.
    pub labels: Vec<u32>,
    /// Configuration document.
    pub config: String,
    /// The current time.
    pub now: i64,
    /// The most results the host uses.
    pub max_results: u32,
}

impl OwnedRequest {
    /// A view of the request, checked. Requests built by [`RequestBuilder`] are always well
    /// formed; this panics on one assembled by hand that is not.
    pub fn view(&self) -> Request<'_> {
        Request::new(
            &self.strings,
            self.street,
            self.demand(),
            self.candidate_count,
            &self.candidates,
            &self.labels,
            &self.config,
            self.now,
            self.max_results,
        )
        .expect("a built request is well formed")
    }

    /// A view of the request without the checks, which cost a pass over every candidate.
    /// Only for requests made by [`RequestBuilder`]; accessors may panic on others.
    pub fn view_unchecked(&self) -> Request<'_> {
        Request::new_unchecked(
            &self.strings,
            self.street,
            self.demand(),
            &self.candidates,
            &self.labels,
            &self.config,
            self.now,
            self.max_results,
        )
    }

    /// The strings as one block of UTF-8 and the end of each, as contract 1.2.0 sends them
    /// (see [`Request::new_packed`]).
    pub fn packed_text(&self) -> (Vec<u8>, Vec<u32>) {
        let mut text = Vec::with_capacity(self.strings.iter().map(String::len).sum());
        let ends = self
            .strings
            .iter()
            .map(|s| {
                text.extend_from_slice(s.as_bytes());
                text.len() as u32
            })
            .collect();
        (text, ends)
    }

    fn demand(&self) -> Demand<'_> {
        Demand {
            category: self.category,
            category_label: self.category_label,
            tags: &self.tags,
            urgency: self.urgency,
            grid: self.grid,
            community: self.community,
            window_start: self.window_start,
            window_end: self.window_end,
            filed_at: self.filed_at,
        }
    }
}

/// Strings interned once and shared by many requests: a host that sends the same candidates
/// again and again interns their text ahead of time and packs each request with
/// [`RequestBuilder::with_table`] and [`RequestBuilder::push_interned`].
#[derive(Debug, Clone)]
pub struct StringTable {
    strings: Vec<String>,
    index: HashMap<String, u32>,
}

impl Default for StringTable {
    fn default() -> Self {
        StringTable {
            strings: vec![String::new()],
            index: HashMap::from([(String::new(), 0)]),
        }
    }
}

impl StringTable {
    /// A table holding only "" (index 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// The index of `text`, adding it if new.
    pub fn add(&mut self, text: &str) -> u32 {
        if let Some(i) = self.index.get(text) {
            return *i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(text.to_string());
        self.index.insert(text.to_string(), i);
        i
    }

    /// The index of an optional text (0 for none).
    pub fn add_opt(&mut self, text: Option<&str>) -> u32 {
        text.map(|t| self.add(t)).unwrap_or(0)
    }

    /// How many strings it holds, "" included.
    pub fn len(&self) -> usize {
        self.strings.len()
    }

    /// Whether it holds only "".
    pub fn is_empty(&self) -> bool {
        self.strings.len() == 1
    }
}

/// A candidate whose text is already in the builder's [`StringTable`]: every string field is
/// an index into it.
#[derive(Debug, Clone, Copy)]
pub struct InternedCandidate<'a> {
    /// `volunteer` or `resource`.
    pub kind: CandidateKind,
    /// A party member.
    pub party_member: bool,
    /// Availability fits the demand's window.
    pub availability_fits: bool,
    /// Owned by a co-building unit.
    pub owned_by_unit: bool,
    /// Home grid.
    pub home_grid: u32,
    /// Community of the home grid.
    pub community: u32,
    /// Team (0: none).
    pub team: u32,
    /// Category (0: none).
    pub category: u32,
    /// Kind of the owning unit (0: none).
    pub owner_kind: u32,
    /// Skills or tags.
    pub labels: &'a [u32],
    /// Grids served; empty: all.
    pub served_grids: &'a [u32],
    /// Orders open now.
    pub open_orders: u32,
    /// Most orders it may hold open.
    pub max_open_orders: u32,
    /// Orders completed.
    pub completed_orders: u32,
    /// Capacity left.
    pub capacity_left: u32,
    /// Average rating, when rated.
    pub average_rating: Option<f32>,
    /// Service minutes recorded.
    pub service_minutes: u32,
    /// Last order taken, seconds since the Unix epoch; 0 if never.
    pub last_order_at: i64,
}

/// Packs a request: interns every string once and lays candidates out in the contract's
/// byte layout.
#[derive(Debug)]
pub struct RequestBuilder {
    req: OwnedRequest,
    /// Strings added to this request beyond the shared table.
    index: HashMap<String, u32>,
    table: Option<Arc<StringTable>>,
}

impl RequestBuilder {
    /// Starts a request for `demand` in `street`.
    pub fn new(
        street: &str,
        demand: &DemandSpec,
        config: &str,
        now: i64,
        max_results: u32,
    ) -> Self {
        let mut b = RequestBuilder {
            req: OwnedRequest {
                strings: vec![String::new()],
                street: 0,
                category: 0,
                category_label: 0,
                tags: vec![],
                urgency: demand.urgency,
                grid: 0,
                community: 0,
                window_start: demand.window_start,
                window_end: demand.window_end,
                filed_at: demand.filed_at,
                candidate_count: 0,
                candidates: vec![],
                labels: vec![],
                config: config.to_string(),
                now,
                max_results,
            },
            index: HashMap::from([(String::new(), 0)]),
            table: None,
        };
        b.init(street, demand);
        b
    }

    /// Starts a request whose strings begin with a shared table, so candidates interned in it
    /// are added with [`RequestBuilder::push_interned`] without hashing their text again.
    pub fn with_table(
        table: Arc<StringTable>,
        street: &str,
        demand: &DemandSpec,
        config: &str,
        now: i64,
        max_results: u32,
    ) -> Self {
        let mut b = RequestBuilder::new("", &DemandSpec::default(), config, now, max_results);
        b.req.strings = table.strings.clone();
        b.req.urgency = demand.urgency;
        b.req.window_start = demand.window_start;
        b.req.window_end = demand.window_end;
        b.req.filed_at = demand.filed_at;
        b.index = HashMap::new();
        b.table = Some(table);
        b.init(street, demand);
        b
    }

    fn init(&mut self, street: &str, demand: &DemandSpec) {
        let b = self;
        b.req.street = b.intern(street);
        b.req.category = b.intern(&demand.category);
        b.req.category_label = b.intern(&demand.category_label);
        b.req.tags = demand.tags.iter().map(|t| b.intern(t)).collect();
        b.req.grid = b.intern(&demand.grid);
        b.req.community = b.intern(&demand.community);
    }

    /// Reserves room for `n` more candidates.
    pub fn reserve(&mut self, n: usize) {
        self.req.candidates.reserve(n * CANDIDATE_SIZE);
    }

    /// The index of `text`, adding it if new.
    pub fn intern(&mut self, text: &str) -> u32 {
        if let Some(i) = self.table.as_ref().and_then(|t| t.index.get(text)) {
            return *i;
        }
        if let Some(i) = self.index.get(text) {
            return *i;
        }
        let i = self.req.strings.len() as u32;
        self.req.strings.push(text.to_string());
        self.index.insert(text.to_string(), i);
        i
    }

    fn push_labels<S: AsRef<str>>(&mut self, items: &[S]) -> (u32, u32) {
        let start = self.req.labels.len() as u32;
        for item in items {
            let i = self.intern(item.as_ref());
            self.req.labels.push(i);
        }
        (start, items.len() as u32)
    }

    /// Adds a candidate; its position is the number of candidates added before it.
    pub fn push(&mut self, c: &CandidateSpec) -> u32 {
        let opt = |b: &mut Self, s: &Option<String>| s.as_deref().map(|s| b.intern(s)).unwrap_or(0);
        let home_grid = self.intern(&c.home_grid);
        let community = self.intern(&c.community);
        let team = opt(self, &c.team);
        let category = opt(self, &c.category);
        let owner_kind = opt(self, &c.owner_kind);
        let labels = self.push_labels(&c.labels);
        let grids = self.push_labels(&c.served_grids);
        self.pack(
            c.kind,
            flags(
                c.party_member,
                c.availability_fits,
                c.average_rating,
                c.owned_by_unit,
            ),
            [home_grid, community, team, category, owner_kind],
            labels,
            grids,
            [
                c.open_orders,
                c.max_open_orders,
                c.completed_orders,
                c.capacity_left,
            ],
            c.average_rating,
            c.service_minutes,
            c.last_order_at,
        )
    }

    /// Adds a candidate whose text is in the table the builder was started with
    /// ([`RequestBuilder::with_table`]).
    ///
    /// # Panics
    /// When the builder has no table, or an index is not in it.
    pub fn push_interned(&mut self, c: &InternedCandidate<'_>) -> u32 {
        let known = self
            .table
            .as_ref()
            .expect("push_interned needs a builder started with_table")
            .strings
            .len() as u32;
        let max = [c.home_grid, c.community, c.team, c.category, c.owner_kind]
            .into_iter()
            .chain(c.labels.iter().copied())
            .chain(c.served_grids.iter().copied())
            .max()
            .unwrap_or(0);
        assert!(max < known, "string index {max} is not in the table");
        let start = self.req.labels.len() as u32;
        self.req.labels.extend_from_slice(c.labels);
        let labels = (start, c.labels.len() as u32);
        let start = self.req.labels.len() as u32;
        self.req.labels.extend_from_slice(c.served_grids);
        let grids = (start, c.served_grids.len() as u32);
        self.pack(
            c.kind,
            flags(
                c.party_member,
                c.availability_fits,
                c.average_rating,
                c.owned_by_unit,
            ),
            [c.home_grid, c.community, c.team, c.category, c.owner_kind],
            labels,
            grids,
            [
                c.open_orders,
                c.max_open_orders,
                c.completed_orders,
                c.capacity_left,
            ],
            c.average_rating,
            c.service_minutes,
            c.last_order_at,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn pack(
        &mut self,
        kind: CandidateKind,
        flags: u8,
        text: [u32; 5],
        labels: (u32, u32),
        grids: (u32, u32),
        counts: [u32; 4],
        rating: Option<f32>,
        minutes: u32,
        last_order_at: i64,
    ) -> u32 {
        // One record at a time, laid out in place: the request is built per dispatch.
        let mut rec = [0u8; CANDIDATE_SIZE];
        rec[0] = match kind {
            CandidateKind::Volunteer => 0,
            CandidateKind::Resource => 1,
        };
        rec[1] = flags;
        let words = text
            .into_iter()
            .chain([labels.0, labels.1, grids.0, grids.1])
            .chain(counts);
        for (i, v) in words.enumerate() {
            rec[4 + 4 * i..8 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
        rec[56..60].copy_from_slice(&rating.unwrap_or(0.0).to_le_bytes());
        rec[60..64].copy_from_slice(&minutes.to_le_bytes());
        rec[64..72].copy_from_slice(&last_order_at.to_le_bytes());
        self.req.candidates.extend_from_slice(&rec);
        let index = self.req.candidate_count;
        self.req.candidate_count += 1;
        index
    }

    /// The finished request.
    pub fn finish(self) -> OwnedRequest {
        self.req
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_table_packs_the_same_request() {
        let demand = DemandSpec {
            category: "repair".into(),
            grid: "g2".into(),
            tags: vec!["新标签".into()],
            ..DemandSpec::default()
        };
        let spec = |i: u32| CandidateSpec {
            home_grid: format!("g{}", i % 3),
            community: "c".into(),
            team: (i % 2 == 0).then(|| "队".into()),
            labels: vec!["维修".into(), format!("技能{i}")],
            open_orders: i,
            ..CandidateSpec::default()
        };
        let mut plain = RequestBuilder::new("shixi", &demand, "{}", 7, 5);
        let mut table = StringTable::new();
        let ids: Vec<_> = (0..4)
            .map(|i| {
                let c = spec(i);
                let labels: Vec<u32> = c.labels.iter().map(|l| table.add(l)).collect();
                (
                    table.add(&c.home_grid),
                    table.add(&c.community),
                    table.add_opt(c.team.as_deref()),
                    labels,
                )
            })
            .collect();
        let mut shared = RequestBuilder::with_table(Arc::new(table), "shixi", &demand, "{}", 7, 5);
        for (i, (grid, community, team, labels)) in ids.iter().enumerate() {
            let c = spec(i as u32);
            plain.push(&c);
            shared.push_interned(&InternedCandidate {
                kind: c.kind,
                party_member: c.party_member,
                availability_fits: c.availability_fits,
                owned_by_unit: c.owned_by_unit,
                home_grid: *grid,
                community: *community,
                team: *team,
                category: 0,
                owner_kind: 0,
                labels,
                served_grids: &[],
                open_orders: c.open_orders,
                max_open_orders: c.max_open_orders,
                completed_orders: c.completed_orders,
                capacity_left: c.capacity_left,
                average_rating: c.average_rating,
                service_minutes: c.service_minutes,
                last_order_at: c.last_order_at,
            });
        }
        let (a, b) = (plain.finish(), shared.finish());
        let (va, vb) = (a.view(), b.view());
        assert_eq!(va.len(), vb.len());
        assert_eq!(va.str(va.demand().grid), vb.str(vb.demand().grid));
        assert_eq!(va.str(va.demand().tags[0]), vb.str(vb.demand().tags[0]));
        for (x, y) in va.candidates().zip(vb.candidates()) {
            assert_eq!(va.str(x.home_grid()), vb.str(y.home_grid()));
            assert_eq!(va.str(x.team()), vb.str(y.team()));
            let names = |v: &Request<'_>, l: &[u32]| {
                l.iter().map(|i| v.str(*i).to_string()).collect::<Vec<_>>()
            };
            assert_eq!(names(&va, x.labels()), names(&vb, y.labels()));
            assert_eq!(x.open_orders(), y.open_orders());
        }
    }

    #[test]
    fn packs_and_reads_back_every_field() {
        let demand = DemandSpec {
            category: "repair".into(),
            category_label: "维修服务".into(),
            tags: vec!["水电".into()],
            urgency: Urgency::High,
            grid: "g1".into(),
            community: "c1".into(),
            window_start: Some(100),
            window_end: Some(200),
            filed_at: 50,
        };
        let mut b = RequestBuilder::new("shixi", &demand, "{\"w\": 1}", 1_000, 5);
        let v = CandidateSpec {
            party_member: true,
            home_grid: "g1".into(),
            community: "c1".into(),
            team: Some("党员先锋队".into()),
            labels: vec!["维修".into(), "水电".into()],
            open_orders: 1,
            max_open_orders: 3,
            completed_orders: 7,
            average_rating: Some(4.5),
            service_minutes: 600,
            last_order_at: 900,
            ..CandidateSpec::default()
        };
        let r = CandidateSpec {
            kind: CandidateKind::Resource,
            availability_fits: false,
            owned_by_unit: true,
            home_grid: "g2".into(),
            community: "c1".into(),
            category: Some("medical".into()),
            owner_kind: Some("hospital".into()),
            labels: vec!["体检".into()],
            served_grids: vec!["g1".into(), "g3".into()],
            capacity_left: 12,
            ..CandidateSpec::default()
        };
        assert_eq!(b.push(&v), 0);
        assert_eq!(b.push(&r), 1);
        let owned = b.finish();
        let req = owned.view();
        assert_eq!(req.len(), 2);
        assert_eq!(req.street(), "shixi");
        assert_eq!(req.str(req.demand().category_label), "维修服务");
        assert_eq!(req.demand().urgency, Urgency::High);
        assert_eq!(req.config_json(), "{\"w\": 1}");
        let c0 = req.candidate(0);
        assert_eq!(c0.kind(), CandidateKind::Volunteer);
        assert!(
            c0.party_member() && c0.availability_fits() && c0.has_ratings() && !c0.owned_by_unit()
        );
        assert_eq!(req.str(c0.team()), "党员先锋队");
        let skills: Vec<&str> = c0.labels().iter().map(|i| req.str(*i)).collect();
        assert_eq!(skills, ["维修", "水电"]);
        assert_eq!(
            c0.labels()[1],
            req.demand().tags[0],
            "one string, one index"
        );
        assert_eq!(
            (
                c0.open_orders(),
                c0.max_open_orders(),
                c0.completed_orders()
            ),
            (1, 3, 7)
        );
        assert_eq!(
            (
                c0.average_rating(),
                c0.service_minutes(),
                c0.last_order_at()
            ),
            (4.5, 600, 900)
        );
        assert!(c0.serves_grid(req.demand().grid) && c0.has_room());
        let c1 = req.candidate(1);
        assert_eq!(c1.kind(), CandidateKind::Resource);
        assert!(!c1.availability_fits() && !c1.has_ratings() && c1.owned_by_unit());
        assert_eq!(req.str(c1.category()), "medical");
        assert_eq!(req.str(c1.owner_kind()), "hospital");
        assert_eq!(c1.capacity_left(), 12);
        assert!(c1.serves_grid(req.demand().grid));
        assert!(!c1.serves_grid(req.find("g2").unwrap()));
        assert_eq!(
            req.candidates().map(|c| c.index()).collect::<Vec<_>>(),
            [0, 1]
        );
    }

    #[test]
    fn malformed_requests_are_refused() {
        let owned = RequestBuilder::new("s", &DemandSpec::default(), "", 0, 1).finish();
        let d = owned.view();
        let demand = *d.demand();
        let strings = owned.strings.clone();
        assert!(Request::new(&strings, 0, demand, 1, &[0; 10], &[], "", 0, 1).is_err());
        assert!(Request::new(&strings, 99, demand, 0, &[], &[], "", 0, 1).is_err());
        let mut rec = vec![0u8; CANDIDATE_SIZE];
        rec[28] = 5; // five labels, but there are none
        assert!(Request::new(&strings, 0, demand, 1, &rec, &[], "", 0, 1).is_err());
        assert!(Request::new(&[], 0, demand, 0, &[], &[], "", 0, 1).is_err());
    }

    #[test]
    fn a_packed_request_reads_as_the_list_it_was_packed_from() {
        let mut b = RequestBuilder::new("shixi", &DemandSpec::default(), "", 0, 5);
        for (grid, team) in [("g1", "党员先锋队"), ("g2", ""), ("g1", "红马甲")] {
            b.push(&CandidateSpec {
                home_grid: grid.into(),
                team: Some(team.into()).filter(|t: &String| !t.is_empty()),
                labels: vec!["维修".into()],
                ..CandidateSpec::default()
            });
        }
        let owned = b.finish();
        let (text, ends) = owned.packed_text();
        let list = owned.view();
        let packed = Request::new_packed(
            &text,
            &ends,
            owned.street,
            *list.demand(),
            owned.candidate_count,
            &owned.candidates,
            &owned.labels,
            &owned.config,
            owned.now,
            owned.max_results,
        )
        .unwrap();
        assert_eq!(packed.string_count(), list.string_count());
        for i in 0..list.string_count() as u32 {
            assert_eq!(packed.str(i), list.str(i));
        }
        assert_eq!(packed.find("红马甲"), list.find("红马甲"));
        assert!(packed.find("红马甲").is_some());
        assert_eq!(packed.street(), "shixi");

        let demand = *list.demand();
        let packed_with = |text: &[u8], ends: &[u32]| {
            Request::new_packed(text, ends, 0, demand, 0, &[], &[], "", 0, 1).map(|_| ())
        };
        assert!(packed_with(b"", &[0]).is_ok());
        assert!(packed_with(b"", &[]).is_err(), "string 0 is missing");
        assert!(packed_with(b"a", &[1]).is_err(), "string 0 is not empty");
        assert!(
            packed_with("维".as_bytes(), &[0, 1]).is_err(),
            "cut inside a character"
        );
        assert!(packed_with(b"ab", &[0, 2, 1]).is_err(), "ends go back");
        assert!(packed_with(b"ab", &[0, 1]).is_err(), "text left over");
        assert!(packed_with(&[0, 0xff], &[0, 2]).is_err(), "not UTF-8");
        // Every index must be in range of the packed strings too.
        assert!(Request::new_packed(b"ab", &[0, 2], 2, demand, 0, &[], &[], "", 0, 1).is_err());
    }
}
