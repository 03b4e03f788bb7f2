//! The query language's parser (the language is described in `mod.rs`): a lexer over the
//! query's characters and a recursive-descent parser. Pure, and it never panics: queries come
//! from the network. Error positions count characters, not bytes.

use super::{Cmp, Expr, Facet, Field, Measure, Term, Text, When, MAX_QUERY_LEN, MAX_TERMS};
use crate::model::ExecutionStatus;
use serde::{Deserialize, Serialize};

/// Deepest nesting of parentheses and `NOT`s accepted (the parser recurses once per level).
const MAX_DEPTH: usize = 32;
/// Longest `since:`/`until:` span back, in ms (~30,000 years): `now - ago` cannot overflow.
const MAX_AGO_MS: f64 = 1e15;

/// Why a query does not parse, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("at character {position}: expected {expected}, found {found}")]
pub struct ParseError {
    /// 0-based character (not byte) offset into the query.
    pub position: usize,
    pub expected: String,
    /// What is there instead: "end of query", "`)`", "`foo:`" …
    pub found: String,
}

const END: &str = "end of query";
const A_TERM: &str = "a term";
const FIELDS: &str = "a field: agent, status, model, provider, tool, session, user, env, error, cost, duration, \
                      tokens, since, until or attr.<key>";
const NUMBER: &str = "a non-negative number";
const DURATION: &str = "a duration such as 30s, 250ms or 2h";
const TIME: &str = "a time: 15m, 2h, 7d, 2026-12-01 or 2026-12-01T10:00:00Z";
const STATUS: &str = "a status: pending, running, completed, failed or cancelled";

fn error(position: usize, expected: impl Into<String>, found: impl Into<String>) -> ParseError {
    ParseError {
        position,
        expected: expected.into(),
        found: found.into(),
    }
}

/// `text` in backticks, cut short if long (the query may be 2 KiB of anything).
fn quoted(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("`{}…`", &text[..cut]),
        None => format!("`{text}`"),
    }
}

/// Parses a search query. The empty (or blank) query is `Expr::all()`.
pub fn parse(query: &str) -> Result<Expr, ParseError> {
    if query.len() > MAX_QUERY_LEN {
        let mut cut = MAX_QUERY_LEN;
        while !query.is_char_boundary(cut) {
            cut -= 1;
        }
        let expected = format!("a query of at most {MAX_QUERY_LEN} bytes");
        return Err(error(
            query[..cut].chars().count(),
            expected,
            format!("{} bytes", query.len()),
        ));
    }
    let chars: Vec<char> = query.chars().collect();
    let tokens = lex(&chars)?;
    if tokens.is_empty() {
        return Ok(Expr::all());
    }
    let mut parser = Parser {
        chars,
        tokens,
        next: 0,
        terms: 0,
        depth: 0,
    };
    let expr = parser.or_expr()?;
    match parser.tokens.get(parser.next) {
        Some(t) => Err(error(t.pos, "a matching `(` before this `)`", t.tok.found())),
        None => Ok(expr),
    }
}

enum Tok {
    Open,
    Close,
    /// A `-` directly before a term or `(`.
    Minus,
    /// Free text in quotes.
    Quoted(String),
    /// A bare word, and the quoted value right after it when it ends with `:`, `=`, `<` or `>`
    /// (`agent:"my agent"`), with the position of its opening quote.
    Word(Vec<char>, Option<(String, usize)>),
}

struct Token {
    pos: usize,
    tok: Tok,
}

impl Tok {
    fn found(&self) -> String {
        match self {
            Tok::Open => "`(`".into(),
            Tok::Close => "`)`".into(),
            Tok::Minus => "`-`".into(),
            Tok::Quoted(s) => quoted(&format!("\"{s}\"")),
            Tok::Word(w, _) => quoted(&w.iter().collect::<String>()),
        }
    }

    /// `and`, `or` or `not`, when the token is that bare word in any case.
    fn keyword(&self) -> Option<&'static str> {
        let Tok::Word(w, None) = self else { return None };
        let w: String = w.iter().collect::<String>().to_ascii_lowercase();
        ["and", "or", "not"].into_iter().find(|k| w == *k)
    }
}

/// Reads a measure's number (`0.05`, `30s`, `10k`).
type ReadNumber = fn(&str) -> Option<f64>;

/// One part alone, or the parts joined.
fn collapse(mut parts: Vec<Expr>, join: fn(Vec<Expr>) -> Expr) -> Expr {
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        join(parts)
    }
}

fn is_op(c: char) -> bool {
    matches!(c, ':' | '=' | '<' | '>')
}

fn lex(chars: &[char]) -> Result<Vec<Token>, ParseError> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let pos = i;
        let tok = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' | ')' => {
                i += 1;
                if c == '(' {
                    Tok::Open
                } else {
                    Tok::Close
                }
            }
            '"' => {
                let (s, next) = lex_quoted(chars, i)?;
                i = next;
                Tok::Quoted(s)
            }
            '-' if chars.get(i + 1).is_some_and(|&n| !n.is_whitespace() && n != ')') => {
                i += 1;
                Tok::Minus
            }
            _ => {
                while chars
                    .get(i)
                    .is_some_and(|&c| !c.is_whitespace() && c != ')' && c != '"')
                {
                    i += 1;
                }
                let word = chars[pos..i].to_vec();
                let mut value = None;
                if chars.get(i) == Some(&'"') && word.last().is_some_and(|&c| is_op(c)) {
                    let (s, next) = lex_quoted(chars, i)?;
                    value = Some((s, i));
                    i = next;
                }
                Tok::Word(word, value)
            }
        };
        tokens.push(Token { pos, tok });
    }
    Ok(tokens)
}

/// The string in quotes opening at `open`, and the index after its closing quote.
fn lex_quoted(chars: &[char], open: usize) -> Result<(String, usize), ParseError> {
    let mut s = String::new();
    let mut i = open + 1;
    loop {
        match chars.get(i) {
            None => return Err(error(open, "closing `\"`", END)),
            Some('"') => return Ok((s, i + 1)),
            Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\')) => {
                s.extend(chars.get(i + 1));
                i += 2;
            }
            Some(&c) => {
                s.push(c);
                i += 1;
            }
        }
    }
}

/// A bare word being read as a term.
struct Word<'a> {
    chars: &'a [char],
    /// Where it starts in the query.
    pos: usize,
    /// The quoted value right after it, and where its opening quote is.
    value: &'a Option<(String, usize)>,
}

struct Parser {
    chars: Vec<char>,
    tokens: Vec<Token>,
    next: usize,
    terms: usize,
    depth: usize,
}

impl Parser {
    fn keyword(&self) -> Option<&'static str> {
        self.tokens.get(self.next).and_then(|t| t.tok.keyword())
    }

    /// What is at character `i`: for the end of an empty value.
    fn found_at(&self, i: usize) -> String {
        match self.chars.get(i) {
            None => END.into(),
            Some(c) if c.is_whitespace() => "a space".into(),
            Some(c) => quoted(&c.to_string()),
        }
    }

    fn or_expr(&mut self) -> Result<Expr, ParseError> {
        let mut parts = Vec::new();
        loop {
            match self.and_expr()? {
                Expr::Or(v) => parts.extend(v),
                e => parts.push(e),
            }
            if self.keyword() != Some("or") {
                break;
            }
            self.next += 1;
        }
        Ok(collapse(parts, Expr::Or))
    }

    fn and_expr(&mut self) -> Result<Expr, ParseError> {
        let mut parts = Vec::new();
        loop {
            match self.unary()? {
                Expr::And(v) => parts.extend(v),
                e => parts.push(e),
            }
            match self.tokens.get(self.next) {
                None => break,
                Some(t) if matches!(t.tok, Tok::Close) => break,
                Some(_) => {}
            }
            match self.keyword() {
                Some("or") => break,
                Some("and") => self.next += 1,
                _ => {}
            }
        }
        Ok(collapse(parts, Expr::And))
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let Some(token) = self.tokens.get(self.next) else {
            return Err(error(self.chars.len(), A_TERM, END));
        };
        let (pos, keyword) = (token.pos, token.tok.keyword());
        let not = matches!(token.tok, Tok::Minus) || keyword == Some("not");
        let term = match &token.tok {
            _ if not => return Ok(Expr::Not(Box::new(self.nested(Parser::unary)?))),
            Tok::Open => {
                let inner = self.nested(Parser::or_expr)?;
                return match self.tokens.get(self.next) {
                    Some(t) if matches!(t.tok, Tok::Close) => {
                        self.next += 1;
                        Ok(inner)
                    }
                    Some(t) => Err(error(t.pos, "`)`", t.tok.found())),
                    None => Err(error(self.chars.len(), "`)`", END)),
                };
            }
            _ if keyword.is_some() || matches!(token.tok, Tok::Close) => {
                return Err(error(pos, A_TERM, token.tok.found()))
            }
            _ if self.terms >= MAX_TERMS => {
                return Err(error(pos, format!("at most {MAX_TERMS} terms"), token.tok.found()))
            }
            Tok::Quoted(s) if s.is_empty() => return Err(error(pos, "text inside the quotes", "`\"\"`")),
            Tok::Quoted(s) => Term::Text(s.clone()),
            Tok::Word(chars, value) => self.word_term(&Word { chars, pos, value })?,
            Tok::Close | Tok::Minus => return Err(error(pos, A_TERM, token.tok.found())),
        };
        self.terms += 1;
        self.next += 1;
        Ok(Expr::Term(term))
    }

    /// Consumes the `(`, `NOT` or `-` at hand and parses what it applies to, one level deeper.
    fn nested(&mut self, f: fn(&mut Parser) -> Result<Expr, ParseError>) -> Result<Expr, ParseError> {
        if let Some(t) = self.tokens.get(self.next).filter(|_| self.depth >= MAX_DEPTH) {
            let expected = format!("at most {MAX_DEPTH} levels of parentheses and NOT");
            return Err(error(t.pos, expected, t.tok.found()));
        }
        self.next += 1;
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    /// A bare word (starting at `pos`): free text or `field:value`.
    fn word_term(&self, w: &Word) -> Result<Term, ParseError> {
        let (word, pos) = (w.chars, w.pos);
        let Some(op) = word.iter().position(|&c| is_op(c)) else {
            return Ok(Term::Text(word.iter().collect()));
        };
        let name: String = word[..op].iter().collect();
        let lower = name.to_ascii_lowercase();
        let colon_only = |what: &str| -> Result<usize, ParseError> {
            if word[op] == ':' {
                return Ok(op + 1);
            }
            let expected = format!("`:` after `{what}` (only cost, duration and tokens compare with < and >)");
            Err(error(pos + op, expected, quoted(&word[op].to_string())))
        };
        if let Some(key) = lower.strip_prefix("attr.").map(|_| &name[5..]) {
            let valid = |c: &char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
            if let Some((i, c)) = key.chars().enumerate().find(|(_, c)| !valid(c)) {
                let expected = "an attribute key of letters, digits, `.`, `_` and `-`";
                return Err(error(pos + 5 + i, expected, quoted(&c.to_string())));
            }
            if key.is_empty() {
                return Err(error(
                    pos + 5,
                    "an attribute key after `attr.`",
                    quoted(&word[op].to_string()),
                ));
            }
            let start = if word[op] == '=' { op + 1 } else { colon_only(&name)? };
            let value = self.text_value(w, start)?;
            return Ok(Term::Attr {
                key: key.to_string(),
                value,
            });
        }
        let measure: Option<(Measure, &str, ReadNumber)> = match lower.as_str() {
            "cost" => Some((Measure::Cost, NUMBER, cost)),
            "duration" => Some((Measure::Duration, DURATION, duration)),
            "tokens" => Some((Measure::Tokens, NUMBER, tokens)),
            _ => None,
        };
        if let Some((measure, expected, number)) = measure {
            let (cmp, start) = comparison(word, op);
            let (raw, at, _) = self.raw_value(w, start, expected)?;
            let n = number(&raw).ok_or_else(|| error(at, expected, quoted(&raw)))?;
            return Ok(Term::Number(measure, cmp, n));
        }
        match lower.as_str() {
            "status" => {
                let start = colon_only(&name)?;
                let (raw, at, _) = self.raw_value(w, start, STATUS)?;
                return status(&raw)
                    .map(Term::Status)
                    .ok_or_else(|| error(at, STATUS, quoted(&raw)));
            }
            "since" | "until" => {
                let start = colon_only(&name)?;
                let (raw, at, _) = self.raw_value(w, start, TIME)?;
                let when = when(&raw).ok_or_else(|| error(at, TIME, quoted(&raw)))?;
                return Ok(if lower == "since" {
                    Term::Since(when)
                } else {
                    Term::Until(when)
                });
            }
            _ => {}
        }
        let make: fn(Text) -> Term = match lower.as_str() {
            "agent" => |t| Term::Is(Field::Agent, t),
            "session" => |t| Term::Is(Field::Session, t),
            "user" => |t| Term::Is(Field::User, t),
            "env" | "environment" => |t| Term::Is(Field::Env, t),
            "model" => |t| Term::Has(Facet::Model, t),
            "provider" => |t| Term::Has(Facet::Provider, t),
            "tool" => |t| Term::Has(Facet::Tool, t),
            "error" => Term::Error,
            _ => return Err(error(pos, FIELDS, quoted(&format!("{name}{}", word[op])))),
        };
        let start = colon_only(&name)?;
        Ok(make(self.text_value(w, start)?))
    }

    /// The value of a term starting at `word[start]` (or in quotes after the word): its text,
    /// its position and whether it was quoted.
    fn raw_value(&self, w: &Word, start: usize, empty: &str) -> Result<(String, usize, bool), ParseError> {
        let (word, pos) = (w.chars, w.pos);
        match w.value {
            Some((_, open)) if start < word.len() => Err(error(*open, "a space before `\"`", "`\"`")),
            Some((s, open)) => Ok((s.clone(), *open, true)),
            None if start >= word.len() => Err(error(pos + word.len(), empty, self.found_at(pos + word.len()))),
            None => Ok((word[start..].iter().collect(), pos + start, false)),
        }
    }

    /// A text value: exact, quoted, or a prefix when it ends with an unquoted `*` (`*` alone:
    /// any value, `tool:*` is any tool).
    fn text_value(&self, w: &Word, start: usize) -> Result<Text, ParseError> {
        let label: String = w.chars[..start.min(w.chars.len())].iter().collect();
        let (raw, _, was_quoted) = self.raw_value(w, start, &format!("a value for {}", quoted(&label)))?;
        match raw.strip_suffix('*') {
            Some(prefix) if !was_quoted => Ok(Text {
                value: prefix.to_string(),
                prefix: true,
            }),
            _ => Ok(Text::exact(raw)),
        }
    }
}

/// The comparison of a measure at `word[op]` (`>`, `>=`, `<`, `<=`, `=`, `:`, `:>` …) and
/// where its number starts.
fn comparison(word: &[char], op: usize) -> (Cmp, usize) {
    let at = if word.get(op) == Some(&':') { op + 1 } else { op };
    match (word.get(at), word.get(at + 1)) {
        (Some('>'), Some('=')) => (Cmp::Ge, at + 2),
        (Some('>'), _) => (Cmp::Gt, at + 1),
        (Some('<'), Some('=')) => (Cmp::Le, at + 2),
        (Some('<'), _) => (Cmp::Lt, at + 1),
        (Some('='), _) => (Cmp::Eq, at + 1),
        _ => (Cmp::Eq, at),
    }
}

/// A leading non-negative decimal (`12`, `0.5`) and the rest of `s`.
fn leading_number(s: &str) -> Option<(f64, &str)> {
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, rest) = s.split_at(end);
    if !number.bytes().any(|b| b.is_ascii_digit()) || number.matches('.').count() > 1 {
        return None;
    }
    let n: f64 = number.parse().ok()?;
    n.is_finite().then_some((n, rest))
}

fn finite(n: f64) -> Option<f64> {
    (n.is_finite() && n >= 0.0).then_some(n)
}

fn cost(s: &str) -> Option<f64> {
    match leading_number(s.strip_prefix('$').unwrap_or(s))? {
        (n, "") => finite(n),
        _ => None,
    }
}

fn tokens(s: &str) -> Option<f64> {
    let (n, suffix) = leading_number(s)?;
    let scale = match suffix {
        "" => 1.0,
        "k" | "K" => 1e3,
        "m" | "M" => 1e6,
        _ => return None,
    };
    finite(n * scale)
}

/// Milliseconds in one of a duration's unit.
fn unit_ms(unit: &str) -> Option<f64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "ms" => 1.0,
        "s" => 1e3,
        "m" => 60e3,
        "h" => 3600e3,
        "d" => 86400e3,
        _ => return None,
    })
}

/// In ms; a number without a unit is already in ms.
fn duration(s: &str) -> Option<f64> {
    let (n, unit) = leading_number(s)?;
    finite(n * if unit.is_empty() { 1.0 } else { unit_ms(unit)? })
}

fn status(s: &str) -> Option<ExecutionStatus> {
    Some(match s.to_ascii_lowercase().as_str() {
        "pending" => ExecutionStatus::Pending,
        "running" => ExecutionStatus::Running,
        "completed" | "succeeded" | "success" | "ok" => ExecutionStatus::Completed,
        "failed" | "error" | "errored" => ExecutionStatus::Failed,
        "cancelled" | "canceled" => ExecutionStatus::Cancelled,
        _ => return None,
    })
}

/// `15m` (ago), `2026-12-01`, `2026-12-01T10:00:00Z`, or 13 digits of ms since the epoch.
fn when(s: &str) -> Option<When> {
    if s.len() == 13 && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok().map(When::At);
    }
    if let Some(at) = timestamp(s) {
        return Some(When::At(at));
    }
    let (n, unit) = leading_number(s)?;
    let ms = n * unit_ms(unit)?;
    (ms <= MAX_AGO_MS).then_some(When::Ago(ms.round() as i64))
}

/// `n` ASCII digits of `b` at `at`, as a number.
fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let d = b.get(at..at + n)?;
    d.iter()
        .all(u8::is_ascii_digit)
        .then(|| d.iter().fold(0, |acc, &c| acc * 10 + i64::from(c - b'0')))
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An RFC 3339 timestamp (offset optional, UTC if absent; seconds optional) or a date
/// (midnight UTC), in ms since the epoch.
fn timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let (year, month, day) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let month_days = *days_in_month.get(usize::try_from(month).ok()?.checked_sub(1)?)?;
    if b[4] != b'-' || b[7] != b'-' || day < 1 || day > month_days {
        return None;
    }
    let date = days_from_civil(year, month, day) * 86_400_000;
    if b.len() == 10 {
        return Some(date);
    }
    let (hour, minute) = (digits(b, 11, 2)?, digits(b, 14, 2)?);
    if !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || hour > 23 || minute > 59 {
        return None;
    }
    let (mut i, mut second, mut milli) = (16, 0, 0);
    if b.get(i) == Some(&b':') {
        second = digits(b, 17, 2).filter(|&s| s <= 60)?;
        i = 19;
        if b.get(i) == Some(&b'.') {
            let fraction = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if fraction == 0 {
                return None;
            }
            milli = b[i + 1..i + 1 + fraction.min(3)]
                .iter()
                .chain(b"00")
                .take(3)
                .fold(0, |acc, &c| acc * 10 + i64::from(c - b'0'));
            i += 1 + fraction;
        }
    }
    let offset = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if b.len() == i + 1 => 0,
        Some(&sign @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
            let h = digits(b, i + 1, 2).filter(|&h| h <= 23)?;
            let m = digits(b, i + 4, 2).filter(|&m| m <= 59)?;
            (h * 60 + m) * 60_000 * if sign == b'-' { -1 } else { 1 }
        }
        _ => return None,
    };
    Some(date + ((hour * 60 + minute) * 60 + second) * 1000 + milli - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(q: &str) -> Expr {
        match parse(q) {
            Ok(e) => e,
            Err(e) => panic!("{q:?}: {e}"),
        }
    }

    fn fail(q: &str) -> ParseError {
        match parse(q) {
            Ok(e) => panic!("{q:?} parsed as {e:?}"),
            Err(e) => e,
        }
    }

    /// The error's position, and that its `expected` mentions `needle`.
    fn fails_at(q: &str, position: usize, needle: &str) -> ParseError {
        let e = fail(q);
        assert_eq!(e.position, position, "{q:?}: {e}");
        assert!(e.expected.contains(needle), "{q:?}: {e} does not mention {needle:?}");
        e
    }

    fn term(t: Term) -> Expr {
        Expr::Term(t)
    }

    fn text(s: &str) -> Expr {
        term(Term::Text(s.into()))
    }

    fn prefix(s: &str) -> Text {
        Text {
            value: s.into(),
            prefix: true,
        }
    }

    fn one(q: &str) -> Term {
        match ok(q) {
            Expr::Term(t) => t,
            e => panic!("{q:?} parsed as {e:?}"),
        }
    }

    #[test]
    fn empty_and_blank_queries_match_everything() {
        assert_eq!(ok(""), Expr::all());
        assert_eq!(ok("  \t\n "), Expr::all());
    }

    #[test]
    fn fields() {
        assert_eq!(one("agent:planner"), Term::Is(Field::Agent, Text::exact("planner")));
        assert_eq!(one("AGENT:Planner"), Term::Is(Field::Agent, Text::exact("Planner")));
        assert_eq!(one("session:abc"), Term::Is(Field::Session, Text::exact("abc")));
        assert_eq!(one("user:u-42"), Term::Is(Field::User, Text::exact("u-42")));
        assert_eq!(one("env:prod"), Term::Is(Field::Env, Text::exact("prod")));
        assert_eq!(one("environment:staging"), Term::Is(Field::Env, Text::exact("staging")));
        assert_eq!(one("model:gpt-4o"), Term::Has(Facet::Model, Text::exact("gpt-4o")));
        assert_eq!(
            one("provider:openai"),
            Term::Has(Facet::Provider, Text::exact("openai"))
        );
        assert_eq!(one("tool:search"), Term::Has(Facet::Tool, Text::exact("search")));
        assert_eq!(one("error:Timeout"), Term::Error(Text::exact("Timeout")));
        assert_eq!(one("error:Value(x"), Term::Error(Text::exact("Value(x")));
    }

    #[test]
    fn statuses() {
        use ExecutionStatus::*;
        for (q, s) in [
            ("pending", Pending),
            ("RUNNING", Running),
            ("completed", Completed),
            ("succeeded", Completed),
            ("success", Completed),
            ("ok", Completed),
            ("failed", Failed),
            ("Error", Failed),
            ("errored", Failed),
            ("cancelled", Cancelled),
            ("canceled", Cancelled),
        ] {
            assert_eq!(one(&format!("status:{q}")), Term::Status(s), "{q}");
        }
        assert_eq!(one("status:\"failed\""), Term::Status(Failed));
        let e = fails_at("a status:bogus", 9, "a status: pending");
        assert_eq!(e.found, "`bogus`");
        fails_at("status:fail*", 7, "a status");
    }

    #[test]
    fn prefixes_and_quoted_values() {
        assert_eq!(one("model:gpt-4*"), Term::Has(Facet::Model, prefix("gpt-4")));
        assert_eq!(one("error:Timeout*"), Term::Error(prefix("Timeout")));
        assert_eq!(one("agent:a**"), Term::Is(Field::Agent, prefix("a*")));
        assert_eq!(
            one("agent:\"my agent*\""),
            Term::Is(Field::Agent, Text::exact("my agent*"))
        );
        assert_eq!(
            one(r#"agent:"say \"hi\" \\ \n""#),
            Term::Is(Field::Agent, Text::exact(r#"say "hi" \ \n"#))
        );
        assert_eq!(one("agent:\"\""), Term::Is(Field::Agent, Text::exact("")));
        assert_eq!(one("\"rate limit\""), Term::Text("rate limit".into()));
        assert_eq!(one(r#""a \"b\"""#), Term::Text("a \"b\"".into()));
        assert_eq!(one("\"http://x\""), Term::Text("http://x".into()));
        assert_eq!(one("gpt-4o"), Term::Text("gpt-4o".into()));
        assert_eq!(one("日本"), Term::Text("日本".into()));
    }

    #[test]
    fn attributes() {
        let attr = |k: &str, v: Text| Term::Attr {
            key: k.into(),
            value: v,
        };
        assert_eq!(
            one("attr.gen_ai.request.model=\"gpt-4o\""),
            attr("gen_ai.request.model", Text::exact("gpt-4o"))
        );
        assert_eq!(one("attr.retries:3"), attr("retries", Text::exact("3")));
        assert_eq!(one("ATTR.Http-Code=5*"), attr("Http-Code", prefix("5")));
        assert_eq!(one("attr.url:http://x"), attr("url", Text::exact("http://x")));
        fails_at("attr.:x", 5, "attribute key");
        fails_at("attr.a/b:x", 6, "attribute key");
        fails_at("attr.k>3", 6, "`:` after `attr.k`");
        fails_at("attr.k=", 7, "a value for `attr.k=`");
        fails_at("attr.k=x\"y", 8, "closing");
        fails_at("attr.k=x=\"y\"", 9, "a space before");
    }

    #[test]
    fn measures() {
        use {Cmp::*, Measure::*};
        let n = |m, c, v| Term::Number(m, c, v);
        assert_eq!(one("cost>0.05"), n(Cost, Gt, 0.05));
        assert_eq!(one("cost>=$1"), n(Cost, Ge, 1.0));
        assert_eq!(one("cost<.5"), n(Cost, Lt, 0.5));
        assert_eq!(one("cost:3"), n(Cost, Eq, 3.0));
        assert_eq!(one("cost=3"), n(Cost, Eq, 3.0));
        assert_eq!(one("cost:>0.05"), n(Cost, Gt, 0.05));
        assert_eq!(one("COST:<=2"), n(Cost, Le, 2.0));
        assert_eq!(one("duration>30s"), n(Duration, Gt, 30000.0));
        assert_eq!(one("duration>=250ms"), n(Duration, Ge, 250.0));
        assert_eq!(one("duration<2m"), n(Duration, Lt, 120_000.0));
        assert_eq!(one("duration<1.5H"), n(Duration, Lt, 5_400_000.0));
        assert_eq!(one("duration:1d"), n(Duration, Eq, 86_400_000.0));
        assert_eq!(one("duration>1500"), n(Duration, Gt, 1500.0));
        assert_eq!(one("tokens<10k"), n(Tokens, Lt, 10_000.0));
        assert_eq!(one("tokens<=1.5k"), n(Tokens, Le, 1500.0));
        assert_eq!(one("tokens>2M"), n(Tokens, Gt, 2e6));
        assert_eq!(one("tokens=42"), n(Tokens, Eq, 42.0));
        assert_eq!(one("cost>\"0.5\""), n(Cost, Gt, 0.5));
        fails_at("cost>-1", 5, "non-negative number");
        fails_at("cost>NaN", 5, "non-negative number");
        fails_at("cost>inf", 5, "non-negative number");
        fails_at("cost>1e5", 5, "non-negative number");
        fails_at("cost>1.2.3", 5, "non-negative number");
        fails_at(&format!("cost>{}", "9".repeat(400)), 5, "non-negative number");
        fails_at("tokens>10x", 7, "non-negative number");
        fails_at("cost>", 5, "non-negative number");
        fails_at("duration>30y", 9, "a duration such as 30s");
        fails_at("duration>", 9, "a duration");
        fails_at("duration> 30s", 9, "a duration");
        assert_eq!(fail("cost>=").found, "end of query");
        assert_eq!(fail("(cost>) a").found, "`)`");
    }

    #[test]
    fn comparisons_only_on_measures() {
        let e = fails_at("agent>3", 5, "`:` after `agent` (only cost, duration and tokens");
        assert_eq!(e.found, "`>`");
        fails_at("x status=ok", 8, "`:` after `status`");
        fails_at("since>1h", 5, "`:` after `since`");
    }

    #[test]
    fn unknown_fields() {
        let e = fails_at("ok foo:bar", 3, "a field: agent, status");
        assert!(e.expected.contains("attr.<key>"), "{e}");
        assert_eq!(e.found, "`foo:`");
        assert_eq!(fail("http://x").found, "`http:`");
        assert_eq!(fail("é日:x").position, 0);
        fails_at("a :x", 2, "a field");
        fails_at("attr:x", 0, "a field");
    }

    #[test]
    fn empty_values() {
        let e = fails_at("agent: b", 6, "a value for `agent:`");
        assert_eq!(e.found, "a space");
        assert_eq!(fail("agent:").found, "end of query");
        assert_eq!(fail("(agent:)").found, "`)`");
        fails_at("é tool:", 7, "a value for `tool:`");
        assert_eq!(
            parse("model:*").unwrap(),
            Expr::Term(Term::Has(
                Facet::Model,
                Text {
                    value: String::new(),
                    prefix: true
                }
            ))
        );
        fails_at("status:", 7, "a status");
        fails_at("since:", 6, "a time");
        fails_at("\"\"", 0, "text inside the quotes");
    }

    #[test]
    fn since_and_until() {
        assert_eq!(one("since:15m"), Term::Since(When::Ago(15 * 60_000)));
        assert_eq!(one("since:1h"), Term::Since(When::Ago(3_600_000)));
        assert_eq!(one("since:7d"), Term::Since(When::Ago(7 * 86_400_000)));
        assert_eq!(one("until:30s"), Term::Until(When::Ago(30_000)));
        assert_eq!(one("since:2026-12-01"), Term::Since(When::At(1_796_083_200_000)));
        assert_eq!(
            one("until:2026-12-01T10:00:00Z"),
            Term::Until(When::At(1_796_119_200_000))
        );
        assert_eq!(
            one("since:2026-12-01T12:30:00+02:30"),
            Term::Since(When::At(1_796_119_200_000))
        );
        assert_eq!(
            one("since:2026-12-01T10:00:00.25Z"),
            Term::Since(When::At(1_796_119_200_250))
        );
        assert_eq!(one("since:2026-12-01t10:00"), Term::Since(When::At(1_796_119_200_000)));
        assert_eq!(
            one("since:\"2026-12-01 10:00:00Z\""),
            Term::Since(When::At(1_796_119_200_000))
        );
        assert_eq!(
            one("since:2024-02-29T23:59:59Z"),
            Term::Since(When::At(1_709_251_199_000))
        );
        assert_eq!(one("since:1970-01-01"), Term::Since(When::At(0)));
        assert_eq!(one("since:1796083200000"), Term::Since(When::At(1_796_083_200_000)));
        for bad in [
            "30",
            "2026-13-01",
            "2026-02-29",
            "2026-12-01T24:00:00Z",
            "2026-12-01T10:00:00Q",
            "2026-12-01T10:00:00.Z",
            "2026-12-01T10:00:00+2",
            "1h3",
            "99999999999999d",
            "é",
            "-1h",
        ] {
            fails_at(&format!("since:{bad}"), 6, "a time: 15m");
        }
    }

    #[test]
    fn and_or_not() {
        let (a, b, c) = (text("a"), text("b"), text("c"));
        let not = |e: Expr| Expr::Not(Box::new(e));
        assert_eq!(ok("a b c"), Expr::And(vec![a.clone(), b.clone(), c.clone()]));
        assert_eq!(ok("a AND b and c"), Expr::And(vec![a.clone(), b.clone(), c.clone()]));
        assert_eq!(
            ok("a b OR c"),
            Expr::Or(vec![Expr::And(vec![a.clone(), b.clone()]), c.clone()])
        );
        assert_eq!(
            ok("a or b c"),
            Expr::Or(vec![a.clone(), Expr::And(vec![b.clone(), c.clone()])])
        );
        assert_eq!(
            ok("a (b OR c)"),
            Expr::And(vec![a.clone(), Expr::Or(vec![b.clone(), c.clone()])])
        );
        assert_eq!(ok("(a b) c"), Expr::And(vec![a.clone(), b.clone(), c.clone()]));
        assert_eq!(ok("a OR (b OR c)"), Expr::Or(vec![a.clone(), b.clone(), c.clone()]));
        assert_eq!(ok("((a))"), a);
        assert_eq!(ok("NOT a"), not(a.clone()));
        assert_eq!(ok("a not b"), Expr::And(vec![a.clone(), not(b.clone())]));
        assert_eq!(ok("-a"), not(a.clone()));
        assert_eq!(ok("--a"), not(not(a.clone())));
        assert_eq!(ok("-(a OR b)"), not(Expr::Or(vec![a.clone(), b.clone()])));
        assert_eq!(ok("-\"a\""), not(a.clone()));
        assert_eq!(ok("a -"), Expr::And(vec![a.clone(), text("-")]));
        assert_eq!(ok("\"OR\" \"and\""), Expr::And(vec![text("OR"), text("and")]));
        assert_eq!(ok("ORb"), text("ORb"));
        assert_eq!(
            ok("-status:failed agent:x"),
            Expr::And(vec![
                not(term(Term::Status(ExecutionStatus::Failed))),
                term(Term::Is(Field::Agent, Text::exact("x")))
            ])
        );
        assert_eq!(
            ok("(tool:search OR tool:browse) NOT env:staging \"rate limit\""),
            Expr::And(vec![
                Expr::Or(vec![
                    term(Term::Has(Facet::Tool, Text::exact("search"))),
                    term(Term::Has(Facet::Tool, Text::exact("browse"))),
                ]),
                not(term(Term::Is(Field::Env, Text::exact("staging")))),
                text("rate limit"),
            ])
        );
    }

    #[test]
    fn structural_errors() {
        fails_at("a OR", 4, "a term");
        fails_at("NOT", 3, "a term");
        fails_at("a AND", 5, "a term");
        let e = fails_at("()", 1, "a term");
        assert_eq!(e.found, "`)`");
        fails_at("(a b", 4, "`)`");
        fails_at("a) b", 1, "`(`");
        fails_at("a AND OR b", 6, "a term");
        fails_at("OR a", 0, "a term");
        fails_at("-)", 1, "`(`");
        fails_at("a \"b", 2, "closing `\"`");
        fails_at("日本 \"é", 3, "closing `\"`");
        fails_at(&"(".repeat(1000), MAX_DEPTH, "levels");
        fails_at(&"NOT ".repeat(100), 4 * MAX_DEPTH, "levels");
        assert_eq!(
            fail("a OR").to_string(),
            "at character 4: expected a term, found end of query"
        );
    }

    #[test]
    fn limits() {
        let terms: Vec<String> = (0..=MAX_TERMS).map(|i| format!("t{i}")).collect();
        assert!(parse(&terms[..MAX_TERMS].join(" ")).is_ok());
        let e = fails_at(
            &terms.join(" "),
            terms[..MAX_TERMS].join(" ").len() + 1,
            "at most 64 terms",
        );
        assert_eq!(e.found, format!("`t{MAX_TERMS}`"));
        assert!(parse(&"a".repeat(MAX_QUERY_LEN)).is_ok());
        fails_at(
            &"a".repeat(MAX_QUERY_LEN + 1),
            MAX_QUERY_LEN,
            "a query of at most 2048 bytes",
        );
        // 'é' is two bytes: 1024 fit, the next starts at the limit.
        fails_at(&"é".repeat(1100), 1024, "at most 2048 bytes");
        fails_at(&format!("a{}", "é".repeat(1100)), 1024, "at most 2048 bytes");
    }

    #[test]
    fn garbage_never_panics() {
        let pieces = [
            "a",
            "Z",
            "0",
            "9",
            ".",
            " ",
            "\t",
            "\"",
            "\\",
            "(",
            ")",
            ":",
            "*",
            "-",
            ">",
            "=",
            "<",
            "$",
            "é",
            "日本",
            "k",
            "ms",
            "AND",
            "or",
            "NOT ",
            "agent",
            "status",
            "cost",
            "duration",
            "tokens",
            "since",
            "attr.",
            "2026-12-01",
            "T10:00:00Z",
            "+",
            "\u{0}",
            "🦀",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) % n as u64) as usize
        };
        for _ in 0..30_000 {
            let len = next(24);
            let q: String = (0..len).map(|_| pieces[next(pieces.len())]).collect();
            if let Err(e) = parse(&q) {
                assert!(e.position <= q.chars().count(), "{q:?}: {e}");
                assert!(!e.expected.is_empty() && !e.found.is_empty(), "{q:?}: {e}");
            }
        }
    }
}
