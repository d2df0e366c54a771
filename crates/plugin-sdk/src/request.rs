//! What a plugin sees: the demand, the candidates and the context, as cheap views over the
//! request the host sent.

use serde::de::DeserializeOwned;

/// The size of one packed candidate record, in bytes.
pub const CANDIDATE_SIZE: usize = 72;

/// The contract version this SDK implements.
pub const CONTRACT_VERSION: &str = "1.2.0";

/// How urgent a demand is.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema), schema(as = plugin::Urgency))]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// Can wait.
    Low,
    /// The usual.
    #[default]
    Normal,
    /// Soon.
    High,
    /// Now.
    Critical,
}

/// What a candidate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema), schema(as = plugin::CandidateKind))]
#[serde(rename_all = "snake_case")]
pub enum CandidateKind {
    /// A volunteer who would carry the order out.
    Volunteer,
    /// A resource on offer (of a unit or a volunteer).
    Resource,
}

/// The demand being matched. Text fields are string indexes; read them with
/// [`Request::str`].
#[derive(Debug, Clone, Copy)]
pub struct Demand<'a> {
    /// Category code, e.g. `elderly_care`.
    pub category: u32,
    /// The category's label, e.g. `养老助老`.
    pub category_label: u32,
    /// Tags the demand was filed with.
    pub tags: &'a [u32],
    /// How urgent it is.
    pub urgency: Urgency,
    /// The grid where it is needed.
    pub grid: u32,
    /// The community of that grid.
    pub community: u32,
    /// Start of the requested window, seconds since the Unix epoch.
    pub window_start: Option<i64>,
    /// End of the requested window, seconds since the Unix epoch.
    pub window_end: Option<i64>,
    /// When it was filed, seconds since the Unix epoch.
    pub filed_at: i64,
}

/// The request's interned text: a list of strings (contract 1.0.0), or one block of UTF-8
/// with the end of each string (since 1.2.0).
#[derive(Debug, Clone, Copy)]
enum Strings<'a> {
    List(&'a [String]),
    Packed { text: &'a str, ends: &'a [u32] },
}

impl<'a> Strings<'a> {
    #[inline]
    fn len(&self) -> usize {
        match self {
            Strings::List(list) => list.len(),
            Strings::Packed { ends, .. } => ends.len(),
        }
    }

    #[inline]
    fn get(&self, index: u32) -> &'a str {
        match *self {
            Strings::List(list) => &list[index as usize],
            Strings::Packed { text, ends } => {
                let i = index as usize;
                let start = if i == 0 { 0 } else { ends[i - 1] as usize };
                &text[start..ends[i] as usize]
            }
        }
    }
}

/// A request to rank candidates for a demand.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    strings: Strings<'a>,
    street: u32,
    demand: Demand<'a>,
    candidates: &'a [u8],
    labels: &'a [u32],
    config: &'a str,
    now: i64,
    max_results: u32,
}

/// Why a request could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedRequest(pub String);

impl std::fmt::Display for MalformedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed request: {}", self.0)
    }
}

impl<'a> Request<'a> {
    /// Wraps the parts of a request, checking that every index in it is in range, so the
    /// accessors never fail.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        strings: &'a [String],
        street: u32,
        demand: Demand<'a>,
        candidate_count: u32,
        candidates: &'a [u8],
        labels: &'a [u32],
        config: &'a str,
        now: i64,
        max_results: u32,
    ) -> Result<Self, MalformedRequest> {
        Request::new_unchecked(
            strings,
            street,
            demand,
            candidates,
            labels,
            config,
            now,
            max_results,
        )
        .checked(candidate_count)
    }

    /// Like [`Request::new`], with the strings in one block of UTF-8 `text`: string `i` ends
    /// at `ends[i]` and starts where string `i - 1` ends (contract 1.2.0).
    #[allow(clippy::too_many_arguments)]
    pub fn new_packed(
        text: &'a [u8],
        ends: &'a [u32],
        street: u32,
        demand: Demand<'a>,
        candidate_count: u32,
        candidates: &'a [u8],
        labels: &'a [u32],
        config: &'a str,
        now: i64,
        max_results: u32,
    ) -> Result<Self, MalformedRequest> {
        let bad = |what: &str| Err(MalformedRequest(what.to_string()));
        let Ok(text) = std::str::from_utf8(text) else {
            return bad("text is not UTF-8");
        };
        if ends.last().map(|e| *e as usize) != Some(text.len())
            || ends.windows(2).any(|w| w[0] > w[1])
            || ends.iter().any(|e| !text.is_char_boundary(*e as usize))
        {
            return bad("text-ends must rise to the end of text, each at a character boundary");
        }
        Request {
            strings: Strings::Packed { text, ends },
            street,
            demand,
            candidates,
            labels,
            config,
            now,
            max_results,
        }
        .checked(candidate_count)
    }

    /// Checks that every index is in range, so the accessors never fail.
    fn checked(self, candidate_count: u32) -> Result<Self, MalformedRequest> {
        let bad = |what: &str| Err(MalformedRequest(what.to_string()));
        let (strings, street, demand, candidates, labels) = (
            self.strings,
            self.street,
            self.demand,
            self.candidates,
            self.labels,
        );
        if strings.len() == 0 || !strings.get(0).is_empty() {
            return bad("string 0 must be the empty string");
        }
        if candidates.len() != candidate_count as usize * CANDIDATE_SIZE {
            return bad("candidates is not candidate-count records of 72 bytes");
        }
        let n = strings.len() as u32;
        let text = [
            street,
            demand.category,
            demand.category_label,
            demand.grid,
            demand.community,
        ];
        if text
            .iter()
            .chain(demand.tags)
            .chain(labels)
            .any(|i| *i >= n)
        {
            return bad("a string index is out of range");
        }
        let req = self;
        for c in req.candidates() {
            let strs = [
                c.home_grid(),
                c.community(),
                c.team(),
                c.category(),
                c.owner_kind(),
            ];
            if strs.iter().any(|i| *i >= n) {
                return bad("a candidate's string index is out of range");
            }
            for (start, len) in [(c.u32_at(24), c.u32_at(28)), (c.u32_at(32), c.u32_at(36))] {
                if (start as u64 + len as u64) > labels.len() as u64 {
                    return bad("a candidate's label range is out of range");
                }
            }
        }
        Ok(req)
    }

    /// Wraps parts known to be well formed, skipping the checks of [`Request::new`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new_unchecked(
        strings: &'a [String],
        street: u32,
        demand: Demand<'a>,
        candidates: &'a [u8],
        labels: &'a [u32],
        config: &'a str,
        now: i64,
        max_results: u32,
    ) -> Self {
        Request {
            strings: Strings::List(strings),
            street,
            demand,
            candidates,
            labels,
            config,
            now,
            max_results,
        }
    }

    /// The text at a string index.
    pub fn str(&self, index: u32) -> &'a str {
        self.strings.get(index)
    }

    /// How many strings the request interns; indexes run from 0 to this, exclusive.
    pub fn string_count(&self) -> usize {
        self.strings.len()
    }

    /// The index of a text in this request, if the request mentions it. Compare indexes
    /// instead of strings in a loop over candidates.
    pub fn find(&self, text: &str) -> Option<u32> {
        (0..self.strings.len() as u32).find(|i| self.strings.get(*i) == text)
    }

    /// The street's code.
    pub fn street(&self) -> &'a str {
        self.str(self.street)
    }

    /// The demand.
    pub fn demand(&self) -> &Demand<'a> {
        &self.demand
    }

    /// How many candidates there are.
    pub fn len(&self) -> usize {
        self.candidates.len() / CANDIDATE_SIZE
    }

    /// Whether there are no candidates.
    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty()
    }

    /// One candidate by position.
    pub fn candidate(&self, index: u32) -> Candidate<'a> {
        let start = index as usize * CANDIDATE_SIZE;
        Candidate {
            index,
            raw: self.candidates[start..start + CANDIDATE_SIZE]
                .try_into()
                .expect("a record is CANDIDATE_SIZE bytes"),
            labels: self.labels,
        }
    }

    /// Every candidate, in the host's order.
    pub fn candidates(&self) -> impl Iterator<Item = Candidate<'a>> + 'a {
        let labels = self.labels;
        self.candidates
            .chunks_exact(CANDIDATE_SIZE)
            .enumerate()
            .map(move |(i, raw)| Candidate {
                index: i as u32,
                raw: raw.try_into().expect("chunks are CANDIDATE_SIZE bytes"),
                labels,
            })
    }

    /// The configuration document of the plugin version, as JSON text.
    pub fn config_json(&self) -> &'a str {
        self.config
    }

    /// The configuration document, parsed into `T`. An empty document parses as `{}`.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, String> {
        parse_config(self.config)
    }

    /// The current time, seconds since the Unix epoch (UTC). Plugins have no clock of their
    /// own.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// The most results the host will use.
    pub fn max_results(&self) -> usize {
        self.max_results as usize
    }
}

/// A view of one packed candidate.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    index: u32,
    raw: &'a [u8; CANDIDATE_SIZE],
    labels: &'a [u32],
}

impl<'a> Candidate<'a> {
    #[inline]
    fn u32_at(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.raw[at..at + 4].try_into().unwrap())
    }

    #[inline]
    fn flag(&self, bit: u8) -> bool {
        self.raw[1] & (1 << bit) != 0
    }

    #[inline]
    fn label_range(&self, at: usize) -> &'a [u32] {
        let start = self.u32_at(at) as usize;
        let len = self.u32_at(at + 4) as usize;
        &self.labels[start..start + len]
    }

    /// The candidate's position in the request: what a result refers to.
    #[inline]
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Volunteer or resource.
    #[inline]
    pub fn kind(&self) -> CandidateKind {
        if self.raw[0] == 1 {
            CandidateKind::Resource
        } else {
            CandidateKind::Volunteer
        }
    }

    /// A party member (volunteers).
    #[inline]
    pub fn party_member(&self) -> bool {
        self.flag(0)
    }

    /// Whether the candidate's availability fits the demand's window.
    #[inline]
    pub fn availability_fits(&self) -> bool {
        self.flag(1)
    }

    /// Whether `average_rating` means anything.
    #[inline]
    pub fn has_ratings(&self) -> bool {
        self.flag(2)
    }

    /// Whether a co-building unit owns it (resources).
    #[inline]
    pub fn owned_by_unit(&self) -> bool {
        self.flag(3)
    }

    /// Home grid (string index).
    #[inline]
    pub fn home_grid(&self) -> u32 {
        self.u32_at(4)
    }

    /// Community of the home grid (string index).
    #[inline]
    pub fn community(&self) -> u32 {
        self.u32_at(8)
    }

    /// Team (string index, 0 for none).
    #[inline]
    pub fn team(&self) -> u32 {
        self.u32_at(12)
    }

    /// Category of a resource (string index, 0 for volunteers).
    #[inline]
    pub fn category(&self) -> u32 {
        self.u32_at(16)
    }

    /// Kind of the owning unit, e.g. `hospital` (string index, 0 for none).
    #[inline]
    pub fn owner_kind(&self) -> u32 {
        self.u32_at(20)
    }

    /// Skills of a volunteer or tags of a resource (string indexes).
    #[inline]
    pub fn labels(&self) -> &'a [u32] {
        self.label_range(24)
    }

    /// Grids a resource serves (string indexes); empty means every grid of its streets.
    #[inline]
    pub fn served_grids(&self) -> &'a [u32] {
        self.label_range(32)
    }

    /// Orders open now.
    #[inline]
    pub fn open_orders(&self) -> u32 {
        self.u32_at(40)
    }

    /// Most orders it may hold open.
    #[inline]
    pub fn max_open_orders(&self) -> u32 {
        self.u32_at(44)
    }

    /// Orders completed.
    #[inline]
    pub fn completed_orders(&self) -> u32 {
        self.u32_at(48)
    }

    /// Capacity left (resources).
    #[inline]
    pub fn capacity_left(&self) -> u32 {
        self.u32_at(52)
    }

    /// Average rating, 1 to 5; 0 without ratings.
    #[inline]
    pub fn average_rating(&self) -> f32 {
        f32::from_le_bytes(self.raw[56..60].try_into().unwrap())
    }

    /// Service minutes recorded.
    #[inline]
    pub fn service_minutes(&self) -> u32 {
        self.u32_at(60)
    }

    /// When it last took an order, seconds since the Unix epoch; 0 if never.
    #[inline]
    pub fn last_order_at(&self) -> i64 {
        i64::from_le_bytes(self.raw[64..72].try_into().unwrap())
    }

    /// Whether it serves `grid`: its home grid (volunteers) or one of the grids it serves,
    /// or any grid when it names none (resources).
    #[inline(always)]
    pub fn serves_grid(&self, grid: u32) -> bool {
        match self.kind() {
            CandidateKind::Volunteer => self.home_grid() == grid,
            CandidateKind::Resource => {
                let grids = self.served_grids();
                grids.is_empty() || grids.contains(&grid)
            }
        }
    }

    /// Whether it can take another order now: below its open-order limit and, for a
    /// resource, with capacity left.
    #[inline]
    pub fn has_room(&self) -> bool {
        match self.kind() {
            CandidateKind::Volunteer => self.open_orders() < self.max_open_orders(),
            CandidateKind::Resource => self.capacity_left() > 0,
        }
    }
}

/// One ranked candidate, as a plugin returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    /// The candidate's position in the request.
    pub candidate: u32,
    /// Higher is better; must be finite.
    pub score: f64,
    /// Why, in a few words (at most 200 bytes).
    pub reason: String,
}

impl Ranked {
    /// A ranked candidate.
    pub fn new(candidate: &Candidate<'_>, score: f64, reason: impl Into<String>) -> Self {
        Ranked {
            candidate: candidate.index(),
            score,
            reason: reason.into(),
        }
    }
}

/// Sorts results best first, ties by position, and keeps at most `max` of them.
pub fn best_first(mut ranked: Vec<Ranked>, max: usize) -> Vec<Ranked> {
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.candidate.cmp(&b.candidate))
    });
    ranked.truncate(max);
    ranked
}

/// Parses a configuration document; an empty one parses as `{}`.
pub(crate) fn parse_config<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    serde_json::from_str(text).map_err(|e| format!("bad configuration: {e}"))
}
