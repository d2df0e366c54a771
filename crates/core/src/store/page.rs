//! Cursor pagination in id order, oldest first or newest first. Ids are UUIDv7, so id order is
//! creation order and stable under concurrent inserts: a page never repeats or skips a row that
//! existed when the listing started.

use base64::Engine;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    domain::{rules, ListOrder},
    store::Sql,
    Error,
};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = rules::PAGE_LIMIT.max as u32;

pub use rules::CURSOR_PATTERN;

/// One page of a listing.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The page a caller asked for.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// The last row of the page before: the page starts after it, in the list's order.
    pub after: Option<Uuid>,
    pub limit: u32,
    pub newest_first: bool,
}

impl PageRequest {
    pub fn parse(cursor: Option<&str>, limit: Option<u32>) -> Result<Self, Error> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(Error::BadRequest {
                code: "invalid_query",
                message: format!("limit must be between 1 and {MAX_LIMIT}"),
                field: Some("limit".into()),
            });
        }
        let after = cursor
            .map(|c| {
                decode_cursor(c).ok_or_else(|| Error::BadRequest {
                    code: "invalid_cursor",
                    message: "cursor is not one this service issued".into(),
                    field: Some("cursor".into()),
                })
            })
            .transpose()?;
        Ok(PageRequest {
            after,
            limit,
            newest_first: false,
        })
    }

    /// The same page of a list in `order` (oldest first unless told).
    pub fn ordered(self, order: Option<ListOrder>) -> Self {
        PageRequest {
            newest_first: order == Some(ListOrder::Newest),
            ..self
        }
    }

    /// Appends `AND <column> > cursor ORDER BY <column> LIMIT n+1` to a query (newest first:
    /// `<` and `DESC`).
    pub fn apply(&self, sql: &mut Sql, column: &str) {
        let (after, direction) = if self.newest_first {
            (" < ", " DESC")
        } else {
            (" > ", "")
        };
        if let Some(cursor) = self.after {
            sql.push(" AND ")
                .push(column)
                .push(after)
                .bind(cursor.to_string());
        }
        sql.push(" ORDER BY ")
            .push(column)
            .push(direction)
            .push(" LIMIT ");
        sql.bind(i64::from(self.limit) + 1);
    }

    /// Cuts the extra row fetched to learn whether another page follows.
    pub fn finish<T>(&self, mut items: Vec<T>, id: impl Fn(&T) -> Uuid) -> Page<T> {
        let next_cursor = if items.len() > self.limit as usize {
            items.truncate(self.limit as usize);
            items.last().map(|last| encode_cursor(id(last)))
        } else {
            None
        };
        Page { items, next_cursor }
    }
}

fn encode_cursor(id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(cursor: &str) -> Option<Uuid> {
    // The engine refuses a last character with stray low bits, so exactly the strings that
    // match `CURSOR_PATTERN` decode.
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    Uuid::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)), Some(id));
        assert_eq!(decode_cursor("nonsense"), None);
        let pattern = regex::Regex::new(CURSOR_PATTERN).unwrap();
        assert!(pattern.is_match(&encode_cursor(id)));
        // What the pattern takes decodes, and what it refuses does not.
        for cursor in [
            "AAAAAAAAAAAAAAAAAAAAAA",
            "_____________________w",
            "abcdefghijklmnopqrstuQ",
        ] {
            assert!(pattern.is_match(cursor) && decode_cursor(cursor).is_some());
        }
        for cursor in [
            "AAAAAAAAAAAAAAAAAAAAAB",
            "AAAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAAAAAAAAA==",
        ] {
            assert!(!pattern.is_match(cursor) && decode_cursor(cursor).is_none());
        }
        assert!(PageRequest::parse(Some("bm9wZQ"), None).is_err());
        assert!(PageRequest::parse(None, Some(0)).is_err());
        assert!(PageRequest::parse(None, Some(MAX_LIMIT + 1)).is_err());
        assert_eq!(PageRequest::parse(None, None).unwrap().limit, DEFAULT_LIMIT);
    }
}

/// A page of a list that has no filters of its own.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", into_params(parameter_in = Query))]
pub struct ListPage {
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}
