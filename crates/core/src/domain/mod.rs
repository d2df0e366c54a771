//! Domain vocabulary shared by the lists: closed enums, validation of free text, time, and
//! the masking of residents' personal data.

use serde::{Deserialize, Deserializer, Serialize};
use time::{format_description::well_known::Rfc3339, OffsetDateTime, UtcOffset};

pub mod access;
pub mod clock;
pub mod demand;
pub mod escalation;
pub mod feedback;
pub mod figures;
pub mod matching;
pub mod notification;
pub mod order;
pub mod plugin;
pub mod project;
pub mod resource;
pub mod rules;
pub mod settings;
pub mod stats;
pub mod street;
pub mod token;
pub mod unit;
pub mod volunteer;
pub mod webhook;
pub mod wecom;

use crate::{error::FieldError, Error};

/// Declares a closed set of values that travels as a snake_case string in JSON and in the
/// database. The wire text is one definition for serde, the database and the OpenAPI schema;
/// it is taken as a `tt`, not a `literal`, because the schema derive does not see a string
/// handed on as a `literal` fragment, and would publish the variants' Rust names instead.
#[macro_export]
macro_rules! str_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:tt),+ $(,)? }) => {
        $crate::with_schema! {
            $(#[$meta])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
            pub enum $name {
                $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
            }
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Reads a value stored by this program; anything else is corruption.
            pub fn from_db(text: &str) -> anyhow::Result<Self> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(anyhow::anyhow!("unknown {} {:?} in the database", stringify!($name), other)),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub use crate::str_enum;

/// Derives the OpenAPI schema of an item when the `schema` feature is on, wherever the item
/// is declared (a `cfg_attr` inside [`str_enum!`] would read the features of the crate that
/// uses the macro).
#[cfg(feature = "schema")]
#[doc(hidden)]
#[macro_export]
macro_rules! with_schema {
    ($($item:tt)*) => { #[derive(::utoipa::ToSchema)] $($item)* };
}

#[cfg(not(feature = "schema"))]
#[doc(hidden)]
#[macro_export]
macro_rules! with_schema {
    ($($item:tt)*) => { $($item)* };
}

str_enum!(
    /// What kind of organisation a co-building unit is.
    UnitKind {
        Agency => "agency",
        School => "school",
        Hospital => "hospital",
        Enterprise => "enterprise",
        SocialOrganisation => "social_organisation",
        PropertyManager => "property_manager",
        Other => "other",
    }
);

str_enum!(
    /// How a demand reached the street.
    Channel {
        Hotline => "hotline",
        GridWorker => "grid_worker",
        Visit => "visit",
        App => "app",
        Api => "api",
        Other => "other",
    }
);

str_enum!(
    /// How urgent a demand is.
    Urgency {
        Low => "low",
        Normal => "normal",
        High => "high",
        Critical => "critical",
    }
);

impl Urgency {
    /// The same urgency as the plugin contract names it.
    pub fn to_plugin(self) -> gongjian_plugin_sdk::Urgency {
        use gongjian_plugin_sdk::Urgency as P;
        match self {
            Urgency::Low => P::Low,
            Urgency::Normal => P::Normal,
            Urgency::High => P::High,
            Urgency::Critical => P::Critical,
        }
    }

    /// An urgency a plugin gave.
    pub fn from_plugin(u: gongjian_plugin_sdk::Urgency) -> Self {
        use gongjian_plugin_sdk::Urgency as P;
        match u {
            P::Low => Urgency::Low,
            P::Normal => Urgency::Normal,
            P::High => Urgency::High,
            P::Critical => Urgency::Critical,
        }
    }
}

str_enum!(
    /// Where a demand stands in the loop.
    DemandStatus {
        Open => "open",
        Dispatched => "dispatched",
        InProgress => "in_progress",
        Completed => "completed",
        Cancelled => "cancelled",
    }
);

str_enum!(
    /// Whether a resource can be matched.
    ResourceStatus {
        Active => "active",
        Paused => "paused",
        Archived => "archived",
    }
);

str_enum!(
    /// A project's progress: draft → published → claimed → in progress → done.
    ProjectStatus {
        Draft => "draft",
        Published => "published",
        Claimed => "claimed",
        InProgress => "in_progress",
        Done => "done",
    }
);

str_enum!(
    /// A day of the week, for volunteers' weekly availability.
    Weekday {
        Mon => "mon",
        Tue => "tue",
        Wed => "wed",
        Thu => "thu",
        Fri => "fri",
        Sat => "sat",
        Sun => "sun",
    }
);

str_enum!(
    /// Where an order stands.
    OrderStatus {
        /// Offered to candidates, none has accepted yet.
        Offered => "offered",
        Accepted => "accepted",
        InProgress => "in_progress",
        Completed => "completed",
        Cancelled => "cancelled",
        /// Every ranked candidate declined.
        Unassigned => "unassigned",
    }
);

str_enum!(
    /// Who can be offered an order: a volunteer, or a resource (owned by a unit or a
    /// volunteer).
    CandidateKind {
        Volunteer => "volunteer",
        Resource => "resource",
    }
);

impl CandidateKind {
    /// The same kind in the plugin contract's terms.
    pub fn to_plugin(self) -> gongjian_plugin_sdk::CandidateKind {
        match self {
            CandidateKind::Volunteer => gongjian_plugin_sdk::CandidateKind::Volunteer,
            CandidateKind::Resource => gongjian_plugin_sdk::CandidateKind::Resource,
        }
    }
}

impl From<gongjian_plugin_sdk::CandidateKind> for CandidateKind {
    fn from(kind: gongjian_plugin_sdk::CandidateKind) -> Self {
        match kind {
            gongjian_plugin_sdk::CandidateKind::Volunteer => CandidateKind::Volunteer,
            gongjian_plugin_sdk::CandidateKind::Resource => CandidateKind::Resource,
        }
    }
}

str_enum!(
    /// Which end of a list comes first.
    ListOrder {
        /// The first created first (the default): a client that walks a whole list from its
        /// start to its end misses nothing created meanwhile.
        Oldest => "oldest",
        /// The last created first: what a person reading the list wants to see.
        Newest => "newest",
    }
);

str_enum!(
    /// Where one candidate's offer of an order stands.
    OfferStatus {
        /// Waiting for the candidate's answer.
        Open => "open",
        Declined => "declined",
        /// The candidate took the order.
        Accepted => "accepted",
        /// Closed by the service: another candidate accepted, the offer expired, or the order
        /// was cancelled or dispatched again.
        Withdrawn => "withdrawn",
    }
);

str_enum!(
    /// The rule that ranked a demand's candidates.
    RuleKind {
        /// The host's own rule, used when a street has no active plugin or its plugin faulted.
        Builtin => "builtin",
        Rhai => "rhai",
        Wasm => "wasm",
    }
);

str_enum!(
    /// How a plugin call failed.
    FaultKind {
        /// The WebAssembly module trapped, or the script raised an error.
        Trap => "trap",
        /// The call ran past its time limit.
        Timeout => "timeout",
        /// The call ran past its memory, operation, stack or output limit.
        Limit => "limit",
        /// The plugin returned an error of its own.
        PluginError => "plugin_error",
        /// The plugin answered with something the contract does not allow.
        InvalidOutput => "invalid_output",
        /// The host failed to run the plugin; not counted against it.
        Host => "host",
    }
);

impl From<crate::plugin::host::PluginKind> for RuleKind {
    fn from(kind: crate::plugin::host::PluginKind) -> Self {
        match kind {
            crate::plugin::host::PluginKind::Rhai => RuleKind::Rhai,
            crate::plugin::host::PluginKind::Wasm => RuleKind::Wasm,
        }
    }
}

impl FaultKind {
    /// The kind of a runtime fault.
    pub fn of(fault: &crate::plugin::Fault) -> Self {
        use crate::plugin::Fault;
        match fault {
            Fault::Trap(_) => FaultKind::Trap,
            Fault::Timeout(_) => FaultKind::Timeout,
            Fault::Limit(_) => FaultKind::Limit,
            Fault::Plugin(_) => FaultKind::PluginError,
            Fault::InvalidOutput(_) => FaultKind::InvalidOutput,
            Fault::Host(_) => FaultKind::Host,
        }
    }
}

pub use crate::plugin::DEFAULT_CATEGORIES;

pub fn is_default_category(code: &str) -> bool {
    DEFAULT_CATEGORIES.iter().any(|(c, _)| *c == code)
}

// ---------------------------------------------------------------------------------------------
// Time

/// The storage and wire form of an instant: RFC 3339 in UTC with microseconds, fixed width
/// so that text order is time order.
pub fn format_ts(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Streets keep local time at UTC+8: weekly availability and the same-day promise (当日必达)
/// are in local time.
pub const LOCAL_OFFSET: UtcOffset = time::macros::offset!(+8);

/// Reads an RFC 3339 instant (a stored timestamp, or one from a client).
pub fn parse_instant(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// A stored instant as seconds since the Unix epoch, as plugins get time.
pub fn unix_seconds(text: &str) -> Option<i64> {
    parse_instant(text).map(|t| t.unix_timestamp())
}

/// The end of the local day of an instant: the deadline of the same-day promise.
pub fn end_of_local_day(t: OffsetDateTime) -> OffsetDateTime {
    t.to_offset(LOCAL_OFFSET).replace_time(time::Time::MIDNIGHT) + time::Duration::days(1)
}

/// Parses an RFC 3339 instant with any offset into the stored form.
pub fn parse_ts(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match OffsetDateTime::parse(raw, &Rfc3339) {
        Ok(t) => Some(format_ts(t)),
        Err(_) => {
            errors.push(FieldError::new(
                field,
                "invalid_timestamp",
                format!("{raw:?} is not an RFC 3339 timestamp such as 2026-05-01T09:00:00+08:00"),
            ));
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Validation

/// Collects field errors while turning wire input into clean domain values, so one response
/// names every field at fault.
#[derive(Default)]
pub struct Check {
    pub errors: Vec<FieldError>,
}

impl Check {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, field: impl Into<String>, code: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, code, message));
    }

    /// Checks free text as sent ([`rules::Text`]) and returns it trimmed.
    pub fn text(&mut self, field: &str, value: &str, rule: rules::Text) -> String {
        let (len, trimmed) = (value.chars().count(), value.trim());
        if !value.chars().all(rules::is_allowed_char) {
            self.push(
                field,
                "invalid_characters",
                format!("{field} contains control characters"),
            );
        } else if trimmed.is_empty() {
            self.push(field, "required", format!("{field} must not be empty"));
        } else if len > rule.max {
            self.push(
                field,
                "too_long",
                format!(
                    "{field} may have at most {} characters, got {len}",
                    rule.max
                ),
            );
        }
        trimmed.to_string()
    }

    /// Like [`Check::text`], but a blank value becomes `None`.
    pub fn opt_text(
        &mut self,
        field: &str,
        value: Option<&str>,
        rule: rules::Text,
    ) -> Option<String> {
        let value = value?;
        if value.trim().is_empty() && value.chars().all(rules::is_allowed_char) {
            return None;
        }
        Some(self.text(field, value, rule))
    }

    /// A phone number as [`rules::is_phone`] reads one.
    pub fn phone(&mut self, field: &str, value: &str) -> String {
        let (min, max) = rules::PHONE_DIGITS;
        if value.is_empty() {
            self.push(field, "required", format!("{field} must not be empty"));
        } else if !rules::is_phone(value) {
            self.push(
                field,
                "invalid_phone",
                format!(
                    "{field} must be a phone number of {min} to {max} digits, an optional leading \
                     '+', and single spaces or '-' between digits"
                ),
            );
        }
        value.to_string()
    }

    /// A short identifier-like code ([`rules::Code`]), exactly as sent.
    pub fn code(&mut self, field: &str, value: &str, rule: rules::Code) -> String {
        if value.is_empty() {
            self.push(field, "required", format!("{field} must not be empty"));
        } else if value.chars().count() > rule.max {
            self.push(
                field,
                "too_long",
                format!("{field} may have at most {} characters", rule.max),
            );
        } else if !value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            self.push(
                field,
                "invalid_code",
                format!("{field} may contain only lowercase letters, digits, '_' and '-'"),
            );
        }
        value.to_string()
    }

    /// A list of short labels (tags, skills): trimmed, de-duplicated, order kept.
    pub fn labels(&mut self, field: &str, values: &[String]) -> Vec<String> {
        let max_items = rules::LABELS.max;
        if values.len() > max_items {
            self.push(
                field,
                "too_many",
                format!("{field} may have at most {max_items} items"),
            );
            return vec![];
        }
        let mut out: Vec<String> = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            let item = format!("{field}[{i}]");
            let v = self.text(&item, v, rules::LABEL);
            if v.contains('"') || v.contains('\\') {
                self.push(
                    item,
                    "invalid_characters",
                    "labels may not contain quotes or backslashes",
                );
            } else if !out.contains(&v) {
                out.push(v);
            }
        }
        out
    }

    /// Checks a list of ids: no id twice, at most `max` of them. Order is kept, so an error
    /// index such as `street_ids[2]` points into the list the client sent.
    /// A list of at most `rule.max` items.
    pub fn items(&mut self, field: &str, len: usize, rule: rules::Items) {
        let max = rule.max;
        if len > max {
            self.push(
                field,
                "too_many",
                format!("{field} may have at most {max} items"),
            );
        }
    }

    pub fn ids(&mut self, field: &str, ids: &[uuid::Uuid], rule: rules::Items) {
        self.items(field, ids.len(), rule);
        for (i, id) in ids.iter().enumerate() {
            if ids[..i].contains(id) {
                self.push(
                    format!("{field}[{i}]"),
                    "duplicate",
                    format!("{id} is listed twice"),
                );
            }
        }
    }

    pub fn range_i64(&mut self, field: &str, value: i64, rule: rules::Range) -> i64 {
        let rules::Range { min, max } = rule;
        if value < min || value > max {
            self.push(
                field,
                "out_of_range",
                format!("{field} must be between {min} and {max}"),
            );
        }
        value
    }

    pub fn ts(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        value.and_then(|v| parse_ts(field, v, &mut self.errors))
    }

    /// Checks that an optional window's start comes before its end.
    pub fn window(&mut self, field_end: &str, start: &Option<String>, end: &Option<String>) {
        if let (Some(s), Some(e)) = (start, end) {
            if e <= s {
                self.push(
                    field_end,
                    "invalid_window",
                    format!("{field_end} must be after the start"),
                );
            }
        }
    }

    pub fn finish(self) -> Result<(), Error> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.errors))
        }
    }
}

/// One weekly slot in which a volunteer can serve, local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WeeklySlot {
    pub day: Weekday,
    /// Start, `HH:MM` (e.g. `08:30`).
    pub start: String,
    /// End, `HH:MM`, after the start (e.g. `11:30`).
    pub end: String,
}

/// Minutes since midnight of a `HH:MM` time of day (`24:00` is 1440).
pub fn clock_minutes(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60)
        .then_some(h * 60 + m)
        .or((h == 24 && m == 0).then_some(1440))
}

impl Check {
    pub fn weekly(&mut self, field: &str, slots: &[WeeklySlot]) {
        if slots.len() > rules::WEEKLY_SLOTS.max {
            self.push(
                field,
                "too_many",
                format!("{field} may have at most {} slots", rules::WEEKLY_SLOTS.max),
            );
            return;
        }
        for (i, slot) in slots.iter().enumerate() {
            match (clock_minutes(&slot.start), clock_minutes(&slot.end)) {
                (Some(s), Some(e)) if s < e => {}
                (None, _) => self.push(
                    format!("{field}[{i}].start"),
                    "invalid_time",
                    "use HH:MM, 00:00 to 24:00",
                ),
                (_, None) => self.push(
                    format!("{field}[{i}].end"),
                    "invalid_time",
                    "use HH:MM, 00:00 to 24:00",
                ),
                _ => self.push(
                    format!("{field}[{i}].end"),
                    "invalid_window",
                    "the end must be after the start",
                ),
            }
        }
    }
}

/// For PATCH bodies: tells a field that is absent (`None`) from one set to null
/// (`Some(None)`). Use with `#[serde(default, deserialize_with = "double_option")]`.
pub fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

// ---------------------------------------------------------------------------------------------
// Personal data

/// Masks a person's name: the family name stays, the rest becomes `*`.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

/// Masks a phone number: the first three and last four digits stay.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let n = chars.len();
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < 3 || i >= n - 4 { *c } else { '*' })
        .collect()
}

/// Masks an address: the first six characters (district and street) stay.
pub fn mask_address(address: &str) -> String {
    let kept: String = address.chars().take(6).collect();
    if address.chars().count() <= 6 {
        "****".to_string()
    } else {
        format!("{kept}****")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_personal_data() {
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("12345"), "*****");
        assert_eq!(
            mask_address("滨城区市西街道魏鑫家园3号楼2单元"),
            "滨城区市西街****"
        );
    }

    #[test]
    fn timestamps_sort_as_text_and_normalise_offsets() {
        let mut errors = vec![];
        let a = parse_ts("t", "2026-05-01T09:00:00+08:00", &mut errors).unwrap();
        let b = parse_ts("t", "2026-05-01T01:00:00.5Z", &mut errors).unwrap();
        assert_eq!(a, "2026-05-01T01:00:00.000000Z");
        assert!(a < b);
        assert!(parse_ts("t", "yesterday", &mut errors).is_none());
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn weekly_slots_are_checked() {
        let slot = |s: &str, e: &str| WeeklySlot {
            day: Weekday::Mon,
            start: s.into(),
            end: e.into(),
        };
        let mut c = Check::new();
        c.weekly(
            "availability",
            &[slot("08:00", "12:00"), slot("13:00", "24:00")],
        );
        assert!(c.errors.is_empty());
        c.weekly(
            "availability",
            &[
                slot("12:00", "08:00"),
                slot("8:00", "09:00"),
                slot("10:00", "25:00"),
            ],
        );
        let fields: Vec<_> = c.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "availability[0].end",
                "availability[1].start",
                "availability[2].end"
            ]
        );
    }
}
