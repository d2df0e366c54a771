//! Rules over the whole list, column by column.
//!
//! A script that defines `score_all(candidates, demand, config)` sees every candidate at once:
//! `candidates.open_orders` is a column holding each candidate's open orders, and arithmetic,
//! comparisons and logic on columns run natively over the whole list. A rule is a few dozen
//! script operations whatever the number of candidates, so it runs close to native speed;
//! written per candidate, the same rule pays the interpreter for every candidate.
//!
//! Columns hold numbers (`Numbers`, all as floats), flags (`Flags`), texts (`Texts`, e.g. the
//! team) or lists of texts (`TextSets`, e.g. the skills). They mix with plain numbers, flags
//! and strings: `c.open_orders < 2`, `fit * 4.0`, `c.team == "红马甲"`. Data a call allocates
//! in columns is bounded ([`super::super::Limits::rhai_column_bytes`]).

use std::{cell::Cell, sync::Arc};

use gongjian_plugin_sdk::{Candidate, CandidateKind};
use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, Position, FLOAT, INT};

use super::{RCandidate, Shared};
use crate::Fault;

type Fallible<T> = Result<T, Box<EvalAltResult>>;

thread_local! {
    /// Bytes of column data the running call may still allocate.
    static BUDGET: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Sets what the next call on this thread may allocate in columns.
pub(super) fn set_budget(bytes: usize) {
    BUDGET.with(|b| b.set(bytes));
}

fn charge(bytes: usize) -> Fallible<()> {
    BUDGET.with(|b| match b.get().checked_sub(bytes) {
        Some(left) => {
            b.set(left);
            Ok(())
        }
        None => Err(EvalAltResult::ErrorDataTooLarge("column data".into(), Position::NONE).into()),
    })
}

fn error<T>(message: impl Into<String>) -> Fallible<T> {
    Err(EvalAltResult::ErrorRuntime(message.into().into(), Position::NONE).into())
}

/// The name a script knows a value's type by.
fn type_name(value: &Dynamic) -> &'static str {
    if value.is::<Numbers>() {
        "Numbers"
    } else if value.is::<Flags>() {
        "Flags"
    } else if value.is::<Texts>() {
        "Texts"
    } else if value.is::<TextSets>() {
        "TextSets"
    } else if value.is::<Candidates>() {
        "Candidates"
    } else {
        value.type_name()
    }
}

/// Every candidate of a request, as columns.
#[derive(Clone)]
pub(super) struct Candidates {
    pub(super) shared: Arc<Shared>,
}

/// A number for every candidate.
#[derive(Clone)]
pub(super) struct Numbers(Arc<[f64]>);

/// A yes or no for every candidate.
#[derive(Clone)]
pub(super) struct Flags(Arc<[bool]>);

/// A text for every candidate, as indexes into a table of texts.
#[derive(Clone)]
pub(super) struct Texts {
    table: Table,
    ids: Arc<[u32]>,
}

/// Where the texts of a column are: the request's string table, or the two kinds.
#[derive(Clone)]
enum Table {
    Request(Arc<Shared>),
    Kinds,
}

const KINDS: [&str; 3] = ["", "volunteer", "resource"];

impl Table {
    fn len(&self) -> usize {
        match self {
            Table::Request(shared) => shared.strings.len(),
            Table::Kinds => KINDS.len(),
        }
    }

    fn text(&self, id: u32) -> &str {
        match self {
            Table::Request(shared) => shared.strings[id as usize].as_str(),
            Table::Kinds => KINDS[id as usize],
        }
    }

    fn find(&self, text: &str) -> Option<u32> {
        match self {
            Table::Request(shared) => shared.find(text),
            Table::Kinds => KINDS.iter().position(|k| *k == text).map(|i| i as u32),
        }
    }

    /// Which texts of the table are among `texts`, by index.
    fn marking(&self, texts: impl IntoIterator<Item = Dynamic>) -> Fallible<Vec<bool>> {
        let mut wanted = vec![false; self.len()];
        for t in texts {
            let Some(t) = t.read_lock::<ImmutableString>().map(|t| t.clone()) else {
                return error(format!("expected strings, found {}", type_name(&t)));
            };
            if let Some(i) = self.find(&t) {
                wanted[i as usize] = true;
            }
        }
        Ok(wanted)
    }
}

#[derive(Clone, Copy)]
enum Set {
    Labels,
    ServedGrids,
}

/// A list of texts for every candidate: skills or tags, or the grids it serves.
#[derive(Clone)]
pub(super) struct TextSets {
    shared: Arc<Shared>,
    set: Set,
}

fn numbers(n: usize, f: impl FnMut(usize) -> f64) -> Fallible<Numbers> {
    charge(n * std::mem::size_of::<f64>())?;
    Ok(Numbers((0..n).map(f).collect()))
}

fn flags(n: usize, f: impl FnMut(usize) -> bool) -> Fallible<Flags> {
    charge(n)?;
    Ok(Flags((0..n).map(f).collect()))
}

impl Candidates {
    fn len(&self) -> usize {
        self.shared.req.candidate_count as usize
    }

    fn numbers(&self, f: impl Fn(&Candidate<'_>) -> f64) -> Fallible<Numbers> {
        let view = self.shared.req.view_unchecked();
        numbers(self.len(), |i| f(&view.candidate(i as u32)))
    }

    fn flags(&self, f: impl Fn(&Candidate<'_>) -> bool) -> Fallible<Flags> {
        let view = self.shared.req.view_unchecked();
        flags(self.len(), |i| f(&view.candidate(i as u32)))
    }

    fn texts(&self, f: impl Fn(&Candidate<'_>) -> u32) -> Fallible<Texts> {
        charge(self.len() * std::mem::size_of::<u32>())?;
        let view = self.shared.req.view_unchecked();
        Ok(Texts {
            table: Table::Request(self.shared.clone()),
            ids: view.candidates().map(|c| f(&c)).collect(),
        })
    }

    fn sets(&self, set: Set) -> TextSets {
        TextSets {
            shared: self.shared.clone(),
            set,
        }
    }
}

impl Shared {
    /// The index of `text` in the request's string table, if it is there.
    fn find(&self, text: &str) -> Option<u32> {
        self.strings
            .iter()
            .position(|s| s.as_str() == text)
            .map(|i| i as u32)
    }
}

impl TextSets {
    fn of<'a>(&self, c: &Candidate<'a>) -> &'a [u32] {
        match self.set {
            Set::Labels => c.labels(),
            Set::ServedGrids => c.served_grids(),
        }
    }

    /// Whether each candidate's list holds one of the strings `wanted` marks.
    fn any(&self, wanted: &[bool]) -> Fallible<Flags> {
        let view = self.shared.req.view_unchecked();
        charge(self.shared.req.candidate_count as usize)?;
        Ok(Flags(
            view.candidates()
                .map(|c| self.of(&c).iter().any(|t| wanted[*t as usize]))
                .collect(),
        ))
    }

    /// Which strings are among `texts`; never "", which no list holds.
    fn marking(&self, texts: impl IntoIterator<Item = Dynamic>) -> Fallible<Vec<bool>> {
        let mut wanted = Table::Request(self.shared.clone()).marking(texts)?;
        wanted[0] = false;
        Ok(wanted)
    }
}

/// One side of an arithmetic or comparison: a column or a plain value.
enum Operand {
    Scalar(f64),
    Column(Arc<[f64]>),
}

impl Operand {
    fn of(value: &Dynamic) -> Fallible<Operand> {
        if let Some(n) = value.read_lock::<Numbers>() {
            return Ok(Operand::Column(n.0.clone()));
        }
        if let Some(f) = value.read_lock::<Flags>() {
            charge(f.0.len() * std::mem::size_of::<f64>())?;
            return Ok(Operand::Column(
                f.0.iter().map(|b| f64::from(u8::from(*b))).collect(),
            ));
        }
        if let Some(x) = value.read_lock::<FLOAT>() {
            return Ok(Operand::Scalar(*x));
        }
        if let Some(x) = value.read_lock::<INT>() {
            return Ok(Operand::Scalar(*x as f64));
        }
        if let Some(x) = value.read_lock::<bool>() {
            return Ok(Operand::Scalar(f64::from(u8::from(*x))));
        }
        error(format!(
            "a column of numbers does not combine with {}",
            type_name(value)
        ))
    }

    fn at(&self, i: usize) -> f64 {
        match self {
            Operand::Scalar(x) => *x,
            Operand::Column(c) => c[i],
        }
    }

    fn len(&self) -> Option<usize> {
        match self {
            Operand::Scalar(_) => None,
            Operand::Column(c) => Some(c.len()),
        }
    }
}

/// The length shared by the columns among some operands (`None` for a plain value).
fn common_len(lens: impl IntoIterator<Item = Option<usize>>) -> Fallible<usize> {
    let mut len = None;
    for l in lens {
        match (len, l) {
            (Some(a), Some(b)) if a != b => {
                return error(format!("columns of {a} and {b} candidates do not combine"))
            }
            (None, Some(b)) => len = Some(b),
            _ => {}
        }
    }
    len.map_or_else(|| error("expected a column"), Ok)
}

fn zip(a: &Dynamic, b: &Dynamic, f: fn(f64, f64) -> f64) -> Fallible<Numbers> {
    let (a, b) = (Operand::of(a)?, Operand::of(b)?);
    numbers(common_len([a.len(), b.len()])?, |i| f(a.at(i), b.at(i)))
}

fn compare(a: &Dynamic, b: &Dynamic, f: fn(f64, f64) -> bool) -> Fallible<Flags> {
    let (a, b) = (Operand::of(a)?, Operand::of(b)?);
    flags(common_len([a.len(), b.len()])?, |i| f(a.at(i), b.at(i)))
}

fn map(a: &Numbers, f: fn(f64) -> f64) -> Fallible<Numbers> {
    numbers(a.0.len(), |i| f(a.0[i]))
}

/// A flag column or a plain flag.
enum Truth {
    Scalar(bool),
    Column(Arc<[bool]>),
}

impl Truth {
    fn of(value: &Dynamic) -> Fallible<Truth> {
        if let Some(f) = value.read_lock::<Flags>() {
            return Ok(Truth::Column(f.0.clone()));
        }
        if let Some(x) = value.read_lock::<bool>() {
            return Ok(Truth::Scalar(*x));
        }
        error(format!(
            "a column of flags does not combine with {}",
            type_name(value)
        ))
    }

    fn at(&self, i: usize) -> bool {
        match self {
            Truth::Scalar(x) => *x,
            Truth::Column(c) => c[i],
        }
    }

    fn len(&self) -> Option<usize> {
        match self {
            Truth::Scalar(_) => None,
            Truth::Column(c) => Some(c.len()),
        }
    }
}

fn logic(a: &Dynamic, b: &Dynamic, f: fn(bool, bool) -> bool) -> Fallible<Flags> {
    let (a, b) = (Truth::of(a)?, Truth::of(b)?);
    flags(common_len([a.len(), b.len()])?, |i| f(a.at(i), b.at(i)))
}

fn text_eq(a: &Texts, b: &Dynamic) -> Fallible<Flags> {
    if let Some(b) = b.read_lock::<Texts>() {
        let n = common_len([Some(a.ids.len()), Some(b.ids.len())])?;
        return match (&a.table, &b.table) {
            (Table::Request(_), Table::Request(_)) | (Table::Kinds, Table::Kinds) => {
                flags(n, |i| a.ids[i] == b.ids[i])
            }
            _ => flags(n, |i| a.table.text(a.ids[i]) == b.table.text(b.ids[i])),
        };
    }
    let Some(text) = b.read_lock::<ImmutableString>().map(|t| t.clone()) else {
        return error(format!(
            "a column of texts compares with a string, not {}",
            type_name(b)
        ));
    };
    match a.table.find(&text) {
        Some(id) => flags(a.ids.len(), |i| a.ids[i] == id),
        None => flags(a.ids.len(), |_| false),
    }
}

fn negate(f: Fallible<Flags>) -> Fallible<Flags> {
    let f = f?;
    Ok(Flags(f.0.iter().map(|b| !b).collect()))
}

/// Sums `values` over the candidates sharing each key: every candidate gets its group's total.
fn sum_by(values: &Dynamic, keys: &Texts) -> Fallible<Numbers> {
    let values = Operand::of(values)?;
    let n = common_len([values.len(), Some(keys.ids.len())])?;
    charge(keys.table.len() * std::mem::size_of::<f64>())?;
    let mut totals = vec![0.0; keys.table.len()];
    for (i, k) in keys.ids.iter().enumerate() {
        totals[*k as usize] += values.at(i);
    }
    numbers(n, |i| totals[keys.ids[i] as usize])
}

fn pick(when: &Flags, then: &Dynamic, otherwise: &Dynamic) -> Fallible<Numbers> {
    let (a, b) = (Operand::of(then)?, Operand::of(otherwise)?);
    let n = common_len([Some(when.0.len()), a.len(), b.len()])?;
    numbers(n, |i| if when.0[i] { a.at(i) } else { b.at(i) })
}

fn preview<T: std::fmt::Debug>(values: &[T]) -> String {
    const SHOWN: usize = 20;
    let head: Vec<String> = values
        .iter()
        .take(SHOWN)
        .map(|v| format!("{v:?}"))
        .collect();
    let more = values.len().saturating_sub(SHOWN);
    if more > 0 {
        format!("[{}, … {more} more]", head.join(", "))
    } else {
        format!("[{}]", head.join(", "))
    }
}

fn reduce(a: &Numbers, f: fn(f64, f64) -> f64) -> Dynamic {
    a.0.iter()
        .copied()
        .reduce(f)
        .map(Dynamic::from)
        .unwrap_or(Dynamic::UNIT)
}

pub(super) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Candidates>("Candidates");
    engine.register_type_with_name::<Numbers>("Numbers");
    engine.register_type_with_name::<Flags>("Flags");
    engine.register_type_with_name::<Texts>("Texts");
    engine.register_type_with_name::<TextSets>("TextSets");

    // The candidates, column by column: the same names as a single candidate's properties.
    engine.register_get("count", |c: &mut Candidates| c.len() as INT);
    engine.register_indexer_get(|c: &mut Candidates, i: INT| -> Fallible<RCandidate> {
        match u32::try_from(i) {
            Ok(i) if (i as usize) < c.len() => Ok(RCandidate::new(&c.shared, i)),
            _ => error(format!("no candidate {i}; there are {}", c.len())),
        }
    });
    engine.register_get("index", |c: &mut Candidates| {
        c.numbers(|x| f64::from(x.index()))
    });
    macro_rules! numeric {
        ($($name:ident),*) => {$(
            engine.register_get(stringify!($name), |c: &mut Candidates| {
                c.numbers(|x| f64::from(x.$name()))
            });
        )*};
    }
    numeric!(
        open_orders,
        max_open_orders,
        completed_orders,
        capacity_left,
        average_rating,
        service_minutes
    );
    engine.register_get("last_order_at", |c: &mut Candidates| {
        c.numbers(|x| x.last_order_at() as f64)
    });
    macro_rules! flag {
        ($($name:ident),*) => {$(
            engine.register_get(stringify!($name), |c: &mut Candidates| c.flags(|x| x.$name()));
        )*};
    }
    flag!(party_member, availability_fits, has_ratings, owned_by_unit);
    engine.register_fn("has_room", |c: &mut Candidates| c.flags(|x| x.has_room()));
    engine.register_get("kind", |c: &mut Candidates| -> Fallible<Texts> {
        charge(c.len() * std::mem::size_of::<u32>())?;
        let view = c.shared.req.view_unchecked();
        Ok(Texts {
            table: Table::Kinds,
            ids: view
                .candidates()
                .map(|x| match x.kind() {
                    CandidateKind::Volunteer => 1,
                    CandidateKind::Resource => 2,
                })
                .collect(),
        })
    });
    macro_rules! text {
        ($($name:ident),*) => {$(
            engine.register_get(stringify!($name), |c: &mut Candidates| c.texts(|x| x.$name()));
        )*};
    }
    text!(home_grid, community, team, category, owner_kind);
    engine.register_get("skills", |c: &mut Candidates| c.sets(Set::Labels));
    engine.register_get("tags", |c: &mut Candidates| c.sets(Set::Labels));
    engine.register_get("served_grids", |c: &mut Candidates| {
        c.sets(Set::ServedGrids)
    });
    engine.register_fn(
        "has_skill",
        |c: &mut Candidates, skill: ImmutableString| -> Fallible<Flags> {
            let sets = c.sets(Set::Labels);
            let wanted = sets.marking([Dynamic::from(skill)])?;
            sets.any(&wanted)
        },
    );
    engine.register_fn(
        "serves_grid",
        |c: &mut Candidates, grid: ImmutableString| -> Fallible<Flags> {
            match c.shared.find(&grid) {
                Some(g) => c.flags(|x| x.serves_grid(g)),
                None => {
                    c.flags(|x| x.kind() == CandidateKind::Resource && x.served_grids().is_empty())
                }
            }
        },
    );

    // Lists of texts.
    engine.register_fn(
        "contains",
        |s: &mut TextSets, text: ImmutableString| -> Fallible<Flags> {
            let wanted = s.marking([Dynamic::from(text)])?;
            s.any(&wanted)
        },
    );
    engine.register_fn(
        "any_of",
        |s: &mut TextSets, texts: Array| -> Fallible<Flags> {
            let wanted = s.marking(texts)?;
            s.any(&wanted)
        },
    );
    engine.register_fn(
        "any_within",
        |s: &mut TextSets, text: ImmutableString| -> Fallible<Flags> {
            // A list entry of two characters or more that occurs in `text`: the skill "维修"
            // is within the category label "维修服务".
            let wanted: Vec<bool> = s
                .shared
                .strings
                .iter()
                .enumerate()
                .map(|(i, t)| i != 0 && t.chars().count() >= 2 && text.contains(t.as_str()))
                .collect();
            s.any(&wanted)
        },
    );
    engine.register_fn("len", |s: &mut TextSets| -> Fallible<Numbers> {
        let view = s.shared.req.view_unchecked();
        numbers(s.shared.req.candidate_count as usize, |i| {
            s.of(&view.candidate(i as u32)).len() as f64
        })
    });

    // Texts.
    engine.register_fn("==", |a: Texts, b: ImmutableString| {
        text_eq(&a, &Dynamic::from(b))
    });
    engine.register_fn("!=", |a: Texts, b: ImmutableString| {
        negate(text_eq(&a, &Dynamic::from(b)))
    });
    engine.register_fn("==", |a: Texts, b: Dynamic| text_eq(&a, &b));
    engine.register_fn("==", |a: ImmutableString, b: Texts| {
        text_eq(&b, &Dynamic::from(a))
    });
    engine.register_fn("!=", |a: Texts, b: Dynamic| negate(text_eq(&a, &b)));
    engine.register_fn("!=", |a: ImmutableString, b: Texts| {
        negate(text_eq(&b, &Dynamic::from(a)))
    });
    engine.register_fn(
        "is_one_of",
        |a: &mut Texts, texts: Array| -> Fallible<Flags> {
            let wanted = a.table.marking(texts)?;
            flags(a.ids.len(), |i| wanted[a.ids[i] as usize])
        },
    );
    engine.register_fn("is_empty", |a: &mut Texts| {
        flags(a.ids.len(), |i| a.ids[i] == 0)
    });
    engine.register_fn("sum_by", |values: Dynamic, keys: Texts| {
        sum_by(&values, &keys)
    });
    engine.register_fn("count_by", |keys: Texts| {
        sum_by(&Dynamic::from(1.0 as FLOAT), &keys)
    });

    // Arithmetic and comparisons: a column with a column, a number or a flag. Each pairing
    // of types is registered on its own, so a call finds its function at the first lookup;
    // the `Dynamic` ones catch the rest (shared values, say).
    macro_rules! pairs {
        ($register:ident, $op:literal, $f:expr, $($a:ty, $b:ty);*) => {$(
            engine.register_fn($op, |a: $a, b: $b| {
                $register(&Dynamic::from(a), &Dynamic::from(b), $f)
            });
        )*};
    }
    macro_rules! binary {
        ($register:ident, $($op:literal => $f:expr),*) => {$(
            pairs!($register, $op, $f,
                Numbers, Numbers; Numbers, FLOAT; Numbers, INT; FLOAT, Numbers; INT, Numbers;
                Numbers, Flags; Flags, Numbers; Flags, Flags; Flags, FLOAT; Flags, INT;
                FLOAT, Flags; INT, Flags;
                Numbers, Dynamic; Dynamic, Numbers; Flags, Dynamic; Dynamic, Flags);
        )*};
    }
    binary!(zip,
        "+" => |a, b| a + b,
        "-" => |a, b| a - b,
        "*" => |a, b| a * b,
        "/" => |a, b| a / b,
        "%" => |a, b| a % b,
        "min" => f64::min,
        "max" => f64::max
    );
    macro_rules! comparison {
        ($($op:literal => $f:expr),*) => {$(
            pairs!(compare, $op, $f,
                Numbers, Numbers; Numbers, FLOAT; Numbers, INT; FLOAT, Numbers; INT, Numbers;
                Numbers, Dynamic; Dynamic, Numbers);
        )*};
    }
    comparison!(
        "<" => |a, b| a < b,
        "<=" => |a, b| a <= b,
        ">" => |a, b| a > b,
        ">=" => |a, b| a >= b,
        "==" => |a, b| a == b,
        "!=" => |a, b| a != b
    );
    engine.register_fn("-", |a: Numbers| map(&a, |x| -x));
    for (name, f) in [
        ("abs", f64::abs as fn(f64) -> f64),
        ("floor", f64::floor),
        ("ceiling", f64::ceil),
        ("round", f64::round),
        ("sqrt", f64::sqrt),
    ] {
        engine.register_fn(name, move |a: &mut Numbers| map(a, f));
    }
    // Numbers are floats already; kept so rules ported from `score` read the same.
    engine.register_fn("to_float", |a: &mut Numbers| a.clone());
    engine.register_fn("sum", |a: &mut Numbers| a.0.iter().sum::<f64>());
    engine.register_fn("mean", |a: &mut Numbers| {
        if a.0.is_empty() {
            Dynamic::UNIT
        } else {
            Dynamic::from(a.0.iter().sum::<f64>() / a.0.len() as f64)
        }
    });
    engine.register_fn("min", |a: &mut Numbers| reduce(a, f64::min));
    engine.register_fn("max", |a: &mut Numbers| reduce(a, f64::max));
    macro_rules! picks {
        ($($a:ty, $b:ty);*) => {$(
            engine.register_fn("pick", |when: Flags, then: $a, otherwise: $b| {
                pick(&when, &Dynamic::from(then), &Dynamic::from(otherwise))
            });
        )*};
    }
    picks!(Numbers, Numbers; Numbers, FLOAT; FLOAT, Numbers; INT, Numbers; Numbers, INT;
        FLOAT, FLOAT; INT, INT; Dynamic, Dynamic);

    // Logic on flags.
    macro_rules! logical {
        ($($op:literal => $f:expr),*) => {$(
            pairs!(logic, $op, $f,
                Flags, Flags; Flags, bool; bool, Flags; Flags, Dynamic; Dynamic, Flags);
        )*};
    }
    logical!(
        "&" => |a, b| a & b,
        "|" => |a, b| a | b,
        "^" => |a, b| a ^ b
    );
    engine.register_fn("!", |a: Flags| negate(Ok(a)));
    engine.register_fn("not", |a: &mut Flags| negate(Ok(a.clone())));
    engine.register_fn("count", |a: &mut Flags| {
        a.0.iter().filter(|b| **b).count() as INT
    });
    engine.register_fn("any", |a: &mut Flags| a.0.iter().any(|b| *b));
    engine.register_fn("all", |a: &mut Flags| a.0.iter().all(|b| *b));

    // A number as text with a fixed number of decimals: `fixed(4.25, 1)` is "4.2".
    engine.register_fn("fixed", |x: FLOAT, digits: INT| {
        format!("{x:.*}", digits.clamp(0, 12) as usize)
    });
    engine.register_fn("fixed", |x: INT, digits: INT| {
        format!("{:.*}", digits.clamp(0, 12) as usize, x as f64)
    });

    // What `print` and `debug` show: the first values.
    engine.register_fn("to_string", |a: &mut Numbers| preview(&a.0));
    engine.register_fn("to_debug", |a: &mut Numbers| preview(&a.0));
    engine.register_fn("to_string", |a: &mut Flags| preview(&a.0));
    engine.register_fn("to_debug", |a: &mut Flags| preview(&a.0));
    engine.register_fn("to_string", |a: &mut Texts| {
        let texts: Vec<&str> = a.ids.iter().map(|i| a.table.text(*i)).collect();
        preview(&texts)
    });
}

/// What `score_all` returned for a request of `n` candidates.
pub(super) struct Scored {
    pub scores: Vec<f64>,
    pub keep: Vec<bool>,
    /// Values worked out over the whole list for `reason`, by name.
    pub notes: Vec<(String, Note)>,
}

/// One of the notes: a value for every candidate, or one for all.
pub(super) enum Note {
    Numbers(Numbers),
    Flags(Flags),
    Texts(Texts),
    Same(Dynamic),
}

impl Scored {
    /// The notes about candidate `i`, as a map.
    pub fn notes_for(&self, i: usize) -> Map {
        self.notes
            .iter()
            .map(|(name, note)| {
                let value = match note {
                    Note::Numbers(c) => Dynamic::from(c.0[i]),
                    Note::Flags(c) => Dynamic::from(c.0[i]),
                    Note::Texts(c) => Dynamic::from(c.table.text(c.ids[i]).to_string()),
                    Note::Same(v) => v.clone(),
                };
                (name.as_str().into(), value)
            })
            .collect()
    }
}

/// Reads what `score_all` returned for `n` candidates.
pub(super) fn scores(out: Dynamic, n: usize) -> Result<Scored, Fault> {
    let bad = |what: String| Fault::InvalidOutput(format!("score_all: {what}"));
    let column = |value: Dynamic, what: &str| -> Result<Vec<f64>, Fault> {
        let operand = Operand::of(&value).map_err(|_| {
            bad(format!(
                "`{what}` must be a column of numbers or a number, not {}",
                type_name(&value)
            ))
        })?;
        if operand.len().is_some_and(|m| m != n) {
            return Err(bad(format!("`{what}` is a column of another request")));
        }
        Ok((0..n).map(|i| operand.at(i)).collect())
    };
    if !out.is::<Map>() {
        return Ok(Scored {
            scores: column(out, "score")?,
            keep: vec![true; n],
            notes: Vec::new(),
        });
    }
    let mut scored = Scored {
        scores: Vec::new(),
        keep: vec![true; n],
        notes: Vec::new(),
    };
    let mut score = None;
    for (key, value) in out.cast::<Map>() {
        match key.as_str() {
            "score" => score = Some(column(value, "score")?),
            "keep" => {
                let truth = Truth::of(&value).map_err(|_| {
                    bad(format!(
                        "`keep` must be a column of flags or a flag, not {}",
                        type_name(&value)
                    ))
                })?;
                if truth.len().is_some_and(|m| m != n) {
                    return Err(bad("`keep` is a column of another request".into()));
                }
                scored.keep = (0..n).map(|i| truth.at(i)).collect();
            }
            "notes" => {
                let Some(notes) = value.try_cast::<Map>() else {
                    return Err(bad("`notes` must be a map of columns or values".into()));
                };
                for (name, value) in notes {
                    let note = if let Some(c) = value.read_lock::<Numbers>() {
                        (c.0.len() == n).then(|| Note::Numbers(c.clone()))
                    } else if let Some(c) = value.read_lock::<Flags>() {
                        (c.0.len() == n).then(|| Note::Flags(c.clone()))
                    } else if let Some(c) = value.read_lock::<Texts>() {
                        (c.ids.len() == n).then(|| Note::Texts(c.clone()))
                    } else if value.is::<TextSets>() || value.is::<Candidates>() {
                        return Err(bad(format!(
                            "note `{name}`: lists of texts and candidates cannot be notes"
                        )));
                    } else {
                        Some(Note::Same(value.clone()))
                    };
                    let note = note.ok_or_else(|| {
                        bad(format!("note `{name}` is a column of another request"))
                    })?;
                    scored.notes.push((name.to_string(), note));
                }
            }
            other => {
                return Err(bad(format!(
                    "unknown key {other:?}; the map has `score`, `keep` and `notes`"
                )))
            }
        }
    }
    scored.scores = score.ok_or_else(|| bad("the map needs a `score`".into()))?;
    Ok(scored)
}
