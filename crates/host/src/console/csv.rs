//! The console's CSV downloads: UTF-8 with a byte-order mark, so that spreadsheet programs
//! read the Chinese right; fields quoted when they must be (RFC 4180), and never read as a
//! formula by a spreadsheet.

use axum::{
    http::header,
    response::{IntoResponse, Response},
};

/// A CSV document, built a row at a time.
pub struct Csv(String);

impl Csv {
    /// A document whose first row names its columns.
    pub fn new(columns: &[&str]) -> Csv {
        let mut csv = Csv(String::from("\u{feff}"));
        csv.row(columns);
        csv
    }

    pub fn row<S: AsRef<str>>(&mut self, fields: &[S]) {
        let row: Vec<String> = fields.iter().map(|f| field(f.as_ref())).collect();
        self.0.push_str(&row.join(","));
        self.0.push_str("\r\n");
    }

    /// The document as a download named `filename`, never cached (it holds people's data).
    pub fn download(self, filename: &str) -> Response {
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{filename}\""),
                ),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            self.0,
        )
            .into_response()
    }
}

/// One field of a row: a text a spreadsheet would run as a formula starts with `'`.
fn field(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        let mut csv = Csv::new(&["a", "b"]);
        csv.row(&["=1+1", "x,\"y\"\nz"]);
        csv.row(&["-3", "plain"]);
        assert_eq!(
            csv.0,
            "\u{feff}a,b\r\n'=1+1,\"x,\"\"y\"\"\nz\"\r\n'-3,plain\r\n"
        );
    }
}
