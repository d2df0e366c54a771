//! What each input field accepts, declared once. [`crate::domain::Check`] enforces these
//! rules and the API description publishes them (pattern, length, range, format, item
//! count), so a client generated from the description refuses exactly what the service does.
//!
//! Lengths count characters (Unicode scalar values), as JSON Schema's `maxLength` does, of the
//! text as sent; the service stores free text trimmed.

/// Free text: not blank, no control characters but newline and tab, at most `max` characters.
/// Optional free text (`Check::opt_text`) also takes a blank value, meaning none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text {
    pub max: usize,
}

/// A short identifier: lowercase ASCII letters, digits, `_` and `-`, at most `max` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    pub max: usize,
}

/// A whole number from `min` to `max`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: i64,
    pub max: i64,
}

/// A list of at most `max` items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Items {
    pub max: usize,
}

pub const PERSON_NAME: Text = Text { max: 32 };
/// A unit's or a token's name.
pub const NAME: Text = Text { max: 100 };
/// A street's, district's, community's or grid's name.
pub const PLACE_NAME: Text = Text { max: 64 };
pub const CATEGORY_LABEL: Text = Text { max: 32 };
pub const ADDRESS: Text = Text { max: 200 };
pub const TITLE: Text = Text { max: 100 };
pub const DESCRIPTION: Text = Text { max: 2000 };
pub const PROJECT_DESCRIPTION: Text = Text { max: 5000 };
pub const GOAL: Text = Text { max: 1000 };
/// A project's progress note, progress report or evaluation.
pub const REPORT: Text = Text { max: 2000 };
/// What a volunteer notes on completing an order.
pub const ORDER_NOTE: Text = Text { max: 1000 };
/// Why an order is declined or cancelled.
pub const REASON: Text = Text { max: 200 };
/// A resident's comment with a rating, or what a plugin version changed.
pub const COMMENT: Text = Text { max: 500 };
pub const TEAM: Text = Text { max: 64 };
/// A webhook endpoint's URL.
pub const WEBHOOK_URL: Text = Text { max: 2048 };
/// One tag or skill.
pub const LABEL: Text = Text { max: 32 };
/// Tags or skills on one item.
pub const LABELS: Items = Items { max: 20 };

/// Street, grid and category codes.
pub const CODE: Code = Code { max: 32 };

/// A phone number: 7 to 15 digits, an optional leading `+`, single spaces or `-` between
/// digits, at most `PHONE_MAX_CHARS` characters in all (see [`is_phone`]).
pub const PHONE_DIGITS: (usize, usize) = (7, 15);
pub const PHONE_MAX_CHARS: usize = 20;

pub const CAPACITY: Range = Range {
    min: 1,
    max: 1_000_000,
};
/// The hour of the day a daily digest is made, local time.
pub const DIGEST_HOUR: Range = Range { min: 0, max: 23 };
pub const HOUSEHOLDS: Range = Range {
    min: 0,
    max: 100_000,
};
pub const MAX_OPEN_ORDERS: Range = Range { min: 0, max: 100 };
/// A project's budget in fen (分).
pub const BUDGET_FEN: Range = Range {
    min: 0,
    max: 100_000_000_000,
};
/// A resident's rating or a project's score.
pub const RATING: Range = Range { min: 1, max: 5 };
pub const SERVICE_MINUTES: Range = Range { min: 1, max: 1440 };
pub const OFFER_COUNT: Range = Range { min: 1, max: 10 };
/// Minutes to accept an offer: up to a week.
pub const ACCEPT_MINUTES: Range = Range {
    min: 1,
    max: 10_080,
};
/// Minutes to complete an accepted order: up to 30 days.
pub const COMPLETE_MINUTES: Range = Range {
    min: 1,
    max: 43_200,
};

/// Streets a unit or resource serves.
pub const STREET_IDS: Items = Items { max: 50 };
/// Grids a resource serves.
pub const GRID_IDS: Items = Items { max: 500 };
/// Demands or resources linked to a project.
pub const LINKED_IDS: Items = Items { max: 500 };
/// Candidates sent inline to a plugin's dry run.
pub const DRY_RUN_CANDIDATES: Items = Items { max: 10_000 };
/// A count a plugin reads as an unsigned 32-bit number.
pub const PLUGIN_COUNT: Range = Range {
    min: 0,
    max: u32::MAX as i64,
};
/// A page's size (`limit`).
pub const PAGE_LIMIT: Range = Range { min: 1, max: 200 };
/// A page cursor: the last id of a page, its 16 bytes in unpadded base64url, 22 characters,
/// the last of which carries two bits. Every string of this form is a position in id order,
/// so any cursor a client could send that matches the pattern is one the service can serve.
pub const CURSOR_PATTERN: &str = "^[A-Za-z0-9_-]{21}[AQgw]$";
/// Notification types a webhook endpoint hears of (each named once is all there are).
pub const EVENT_TYPES: Items = Items { max: 32 };
/// Weekly availability slots of a volunteer.
pub const WEEKLY_SLOTS: Items = Items { max: 42 };

/// Characters no text may hold: the control characters but tab and newline.
const CONTROL: &str = r"\x00-\x08\x0B-\x1F\x7F-\x9F";
/// Characters that are blank: the Unicode white space a text is trimmed of.
const BLANK: &str = r"\t\n\x0B\x0C\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// What one field accepts, as the API description states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Text(Text),
    /// Free text that may also be blank, meaning none.
    OptionalText(Text),
    /// A tag or skill: text without quotes or backslashes.
    Label(Text),
    Code(Code),
    Phone,
    Int(Range),
    /// An RFC 3339 instant.
    Timestamp,
    /// A local time of day, `HH:MM`, `00:00` to `24:00`.
    ClockTime,
    /// A list of distinct ids.
    Ids(Items),
    /// A list with at least one distinct id.
    SomeIds(Items),
    /// A list of tags or skills (duplicates are dropped).
    Labels(Items),
    Items(Items),
    /// A page cursor, as the service issues it.
    Cursor,
}

/// The JSON Schema keywords that state a rule, to merge into a property's schema.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Keywords {
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub pattern: Option<String>,
    pub format: Option<&'static str>,
    pub minimum: Option<i64>,
    pub maximum: Option<i64>,
    pub min_items: Option<usize>,
    pub max_items: Option<usize>,
    pub unique_items: bool,
}

impl Rule {
    pub fn keywords(self) -> Keywords {
        let text = |min: usize, max: usize, pattern: String| Keywords {
            min_length: (min > 0).then_some(min),
            max_length: Some(max),
            pattern: Some(pattern),
            ..Keywords::default()
        };
        let items = |min: Option<usize>, max: usize, unique: bool| Keywords {
            min_items: min,
            max_items: Some(max),
            unique_items: unique,
            ..Keywords::default()
        };
        match self {
            Rule::Text(t) => text(
                1,
                t.max,
                format!("^[^{CONTROL}]*[^{CONTROL}{BLANK}][^{CONTROL}]*$"),
            ),
            Rule::OptionalText(t) => text(0, t.max, format!("^[^{CONTROL}]*$")),
            Rule::Label(t) => text(
                1,
                t.max,
                format!("^[^{CONTROL}\"\\\\]*[^{CONTROL}{BLANK}\"\\\\][^{CONTROL}\"\\\\]*$"),
            ),
            Rule::Code(c) => text(1, c.max, "^[a-z0-9_-]+$".into()),
            Rule::Phone => text(
                0,
                PHONE_MAX_CHARS,
                format!(
                    "^\\+?[0-9](?:[ -]?[0-9]){{{},{}}}$",
                    PHONE_DIGITS.0 - 1,
                    PHONE_DIGITS.1 - 1
                ),
            ),
            Rule::Int(r) => Keywords {
                minimum: Some(r.min),
                maximum: Some(r.max),
                ..Keywords::default()
            },
            Rule::Timestamp => Keywords {
                format: Some("date-time"),
                ..Keywords::default()
            },
            Rule::ClockTime => Keywords {
                pattern: Some("^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$".into()),
                ..Keywords::default()
            },
            Rule::Ids(i) => items(None, i.max, true),
            Rule::SomeIds(i) => items(Some(1), i.max, true),
            Rule::Labels(i) | Rule::Items(i) => items(None, i.max, false),
            Rule::Cursor => Keywords {
                pattern: Some(CURSOR_PATTERN.into()),
                ..Keywords::default()
            },
        }
    }

    /// The rule of a list's items, where the list's own rule implies one.
    pub fn items(self) -> Option<Rule> {
        match self {
            Rule::Labels(_) => Some(Rule::Label(LABEL)),
            _ => None,
        }
    }
}

/// Whether `text` is a phone number: an optional `+`, then 7 to 15 digits with at most one
/// space or `-` between two of them, at most `PHONE_MAX_CHARS` characters.
pub fn is_phone(text: &str) -> bool {
    if text.chars().count() > PHONE_MAX_CHARS {
        return false;
    }
    let body = text.strip_prefix('+').unwrap_or(text);
    let bytes = body.as_bytes();
    let mut digits = 0;
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'0'..=b'9' => digits += 1,
            // A separator sits between two digits.
            b' ' | b'-' if i > 0 && bytes[i - 1].is_ascii_digit() => {
                if !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    return false;
                }
            }
            _ => return false,
        }
    }
    (PHONE_DIGITS.0..=PHONE_DIGITS.1).contains(&digits)
}

/// Whether `c` may appear in text at all.
pub fn is_allowed_char(c: char) -> bool {
    !c.is_control() || c == '\n' || c == '\t'
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The patterns are ECMA-262 regular expressions in the subset the `regex` crate shares.
    fn matches(rule: Rule, text: &str) -> bool {
        let pattern = rule.keywords().pattern.unwrap();
        regex::Regex::new(&pattern).unwrap().is_match(text)
    }

    #[test]
    fn text_patterns_take_what_check_takes() {
        let text = Rule::Text(TITLE);
        for ok in ["a", " 老人 ", "第一行\n第二行", "\ttab"] {
            assert!(matches(text, ok), "{ok:?}");
        }
        for bad in ["", "   ", "\u{3000}", "a\rb", "a\u{0}", "\u{85}x", "\u{7f}"] {
            assert!(!matches(text, bad), "{bad:?}");
        }
        let optional = Rule::OptionalText(COMMENT);
        assert!(matches(optional, "") && matches(optional, "  "));
        assert!(!matches(optional, "a\u{1b}"));
        let label = Rule::Label(LABEL);
        assert!(matches(label, "轮椅") && !matches(label, "a\"b") && !matches(label, "a\\b"));
        let phone = Rule::Phone;
        for ok in [
            "13800138000",
            "+86 138-0013-8000",
            "0543 1234567",
            "0543-3258000",
        ] {
            assert!(matches(phone, ok) && is_phone(ok), "{ok:?}");
        }
        for bad in [
            "",
            "123456",
            "1234567890123456",
            "1380013800a",
            "138\t00138000",
            " 13800138000",
            "13800138000-",
            "138--00138000",
            "++8613800138000",
            "-13800138000",
            "+86 138 0013 8000 999",
        ] {
            // The pattern alone, and the service's reading (which adds the length).
            let by_pattern = matches(phone, bad) && bad.chars().count() <= PHONE_MAX_CHARS;
            assert!(!by_pattern && !is_phone(bad), "{bad:?}");
        }
        let code = Rule::Code(CODE);
        assert!(matches(code, "elderly_care-2") && !matches(code, "Elderly") && !matches(code, ""));
        let clock = Rule::ClockTime;
        for ok in ["00:00", "08:30", "23:59", "24:00"] {
            assert!(matches(clock, ok), "{ok:?}");
        }
        for bad in ["8:30", "24:01", "12:60", "25:00"] {
            assert!(!matches(clock, bad), "{bad:?}");
        }
    }
}
