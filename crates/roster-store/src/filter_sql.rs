//! The WHERE and ORDER BY clauses of user lists, written once for every SQL backend. Backends
//! differ in two things only, which they hand over as a [`Dialect`]: how a placeholder is spelled,
//! and how a substring filter reaches its index (pg_trgm serves `LIKE` directly; SQLite's FTS5
//! trigram index is a separate table).

use roster_domain::query::{Cursor, IncludeExclude, OrderField, TimeRange, UserFilter, UserQuery};

/// A parameter of a built query.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlParam {
    Text(String),
    Int(i64),
    Bool(bool),
}

/// What a substring filter searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    /// `query`: ids, identifiers and names together.
    Any,
    Name,
    Username,
    EmailAddress,
    PhoneNumber,
}

/// The parts of SQL that differ between backends.
pub struct Dialect {
    pub placeholder: fn(usize) -> String,
    /// The clause for "`field` contains `needle`" (needle already lower-cased).
    pub contains: fn(&mut SqlFilter, TextField, &str) -> String,
}

/// Builds SQL text and its parameters for a backend's [`Dialect`].
pub struct SqlFilter {
    pub sql: String,
    pub params: Vec<SqlParam>,
    dialect: &'static Dialect,
    /// Substring fields the backend found to match many rows, for dialects that plan by it.
    pub dense: Vec<TextField>,
}

/// `LIKE` pattern matching `needle` anywhere, with `\` escaping the wildcards.
pub fn contains_pattern(needle: &str) -> String {
    let mut escaped = String::with_capacity(needle.len() + 2);
    escaped.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    escaped
}

impl SqlFilter {
    pub fn new(dialect: &'static Dialect) -> Self {
        Self {
            sql: String::new(),
            params: Vec::new(),
            dialect,
            dense: Vec::new(),
        }
    }

    /// Adds a parameter and returns its placeholder.
    pub fn bind(&mut self, param: SqlParam) -> String {
        self.params.push(param);
        (self.dialect.placeholder)(self.params.len())
    }

    fn list(&mut self, values: &[String], lower: bool) -> String {
        let marks: Vec<String> = values
            .iter()
            .map(|v| {
                self.bind(SqlParam::Text(if lower {
                    v.to_lowercase()
                } else {
                    v.clone()
                }))
            })
            .collect();
        marks.join(", ")
    }

    fn identifier_in(&mut self, kind: &str, values: &[String]) -> String {
        let kind = self.bind(SqlParam::Text(kind.to_owned()));
        let list = self.list(values, true);
        format!("id IN (SELECT user_id FROM identifiers WHERE kind = {kind} AND value IN ({list}))")
    }

    /// `LIKE` on an identifier kind, through the identifiers table.
    pub fn identifier_like(&mut self, kind: &str, needle: &str) -> String {
        let kind = self.bind(SqlParam::Text(kind.to_owned()));
        let pattern = self.bind(SqlParam::Text(contains_pattern(needle)));
        format!("id IN (SELECT user_id FROM identifiers WHERE kind = {kind} AND value LIKE {pattern} ESCAPE '\\')")
    }

    /// `LIKE` on a column of PostgreSQL's `user_search`, where the trigram indexes are.
    pub fn search_like(&mut self, column: &str, needle: &str) -> String {
        let pattern = self.bind(SqlParam::Text(contains_pattern(needle)));
        format!("id IN (SELECT user_id FROM user_search WHERE {column} LIKE {pattern} ESCAPE '\\')")
    }

    /// `LIKE` on a column of `users`.
    pub fn like(&mut self, column: &str, needle: &str) -> String {
        let pattern = self.bind(SqlParam::Text(contains_pattern(needle)));
        format!("{column} LIKE {pattern} ESCAPE '\\'")
    }

    /// The substring filters of a filter, with their needles.
    pub fn substrings(f: &UserFilter) -> [(TextField, &Option<String>); 5] {
        [
            (TextField::Any, &f.query),
            (TextField::EmailAddress, &f.email_address_query),
            (TextField::PhoneNumber, &f.phone_number_query),
            (TextField::Username, &f.username_query),
            (TextField::Name, &f.name_query),
        ]
    }

    fn contains(&mut self, field: TextField, needle: &str) -> String {
        (self.dialect.contains)(self, field, &needle.to_lowercase())
    }

    fn include_exclude(&mut self, column: &str, ie: &IncludeExclude, out: &mut Vec<String>) {
        if !ie.include.is_empty() {
            let list = self.list(&ie.include, false);
            out.push(format!("{column} IN ({list})"));
        }
        if !ie.exclude.is_empty() {
            let list = self.list(&ie.exclude, false);
            out.push(format!("({column} IS NULL OR {column} NOT IN ({list}))"));
        }
    }

    fn time_range(&mut self, column: &str, range: TimeRange, out: &mut Vec<String>) {
        if let Some(before) = range.before {
            let mark = self.bind(SqlParam::Int(before));
            out.push(format!("{column} < {mark}"));
        }
        if let Some(after) = range.after {
            let mark = self.bind(SqlParam::Int(after));
            out.push(format!("{column} > {mark}"));
        }
    }

    /// Appends ` WHERE …` for the filter (nothing when it filters nothing).
    pub fn push_where(&mut self, f: &UserFilter) {
        let clauses = self.where_clauses(f);
        self.push_clauses(clauses);
    }

    fn push_clauses(&mut self, clauses: Vec<String>) {
        if !clauses.is_empty() {
            self.sql.push_str(" WHERE ");
            self.sql.push_str(&clauses.join(" AND "));
        }
    }

    fn where_clauses(&mut self, f: &UserFilter) -> Vec<String> {
        let mut clauses = Vec::new();
        if f.matches_nothing {
            clauses.push("1 = 0".to_owned());
        }
        if !f.email_addresses.is_empty() {
            clauses.push(self.identifier_in("email_address", &f.email_addresses));
        }
        if !f.phone_numbers.is_empty() {
            clauses.push(self.identifier_in("phone_number", &f.phone_numbers));
        }
        if !f.usernames.is_empty() {
            let list = self.list(&f.usernames, true);
            clauses.push(format!("username IN ({list})"));
        }
        self.include_exclude("external_id", &f.external_ids, &mut clauses);
        self.include_exclude("id", &f.user_ids, &mut clauses);
        for (field, needle) in Self::substrings(f) {
            if let Some(needle) = needle {
                let clause = self.contains(field, needle);
                // `query` searches each name on its own, so a full name ("Ada Lovelace") spans
                // two of its texts; a needle with a space also tries `first last`.
                if field == TextField::Any && needle.contains(' ') {
                    let full_name = self.contains(TextField::Name, needle);
                    clauses.push(format!("({clause} OR {full_name})"));
                } else {
                    clauses.push(clause);
                }
            }
        }
        if let Some(banned) = f.banned {
            let mark = self.bind(SqlParam::Bool(banned));
            clauses.push(format!("banned = {mark}"));
        }
        self.time_range("created_at", f.created_at, &mut clauses);
        self.time_range("last_active_at", f.last_active_at, &mut clauses);
        self.time_range("last_sign_in_at", f.last_sign_in_at, &mut clauses);
        clauses
    }

    /// The rows after `cursor` in the `created_at` order `descending` says (the cursor is only
    /// allowed with that order, see `UserQuery::check_cursor`), as a row-value comparison that
    /// the (created_at, id) index serves.
    fn after(&mut self, cursor: &Cursor, descending: bool) -> String {
        let at = self.bind(SqlParam::Int(cursor.created_at));
        let id = self.bind(SqlParam::Text(cursor.id.clone()));
        let op = if descending { "<" } else { ">" };
        format!("(created_at, id) {op} ({at}, {id})")
    }

    /// Builds the whole page query: `SELECT doc …` for one page of `q`.
    ///
    /// The page is found first on (sort key, id) alone, so that rows skipped by `offset` are
    /// read from the index and never fetched; only the page's documents are. Ties break on id, so
    /// pages never overlap.
    pub fn push_page_query(&mut self, q: &UserQuery) {
        self.push_page_query_with(q, PageScan::Planner);
    }

    /// [`Self::push_page_query`], telling the planner how to find the page (see [`PageScan`]).
    pub fn push_page_query_with(&mut self, q: &UserQuery, scan: PageScan) {
        // (column, nullable, integer). Backends order NULLs differently by default, so nullable
        // columns say where NULLs go: last, either way. Non-null columns say nothing, so the
        // (column, id) indexes serve both directions.
        let (column, nullable, integer) = match q.order.field {
            OrderField::CreatedAt | OrderField::Web3Wallet => ("created_at", false, true),
            OrderField::UpdatedAt => ("updated_at", false, true),
            OrderField::EmailAddress => ("primary_email", true, false),
            OrderField::FirstName => ("first_name", true, false),
            OrderField::LastName => ("last_name", true, false),
            OrderField::PhoneNumber => ("primary_phone", true, false),
            OrderField::Username => ("username", true, false),
            OrderField::LastActiveAt => ("last_active_at", true, true),
            OrderField::LastSignInAt => ("last_sign_in_at", true, true),
        };
        let dir = if q.order.descending { "DESC" } else { "ASC" };
        let nulls = if nullable { " NULLS LAST" } else { "" };
        let order = format!("{column} {dir}{nulls}, id {dir}");
        let after = q.after.as_ref().map(|c| self.after(c, q.order.descending));
        let (source, sort) = match scan {
            PageScan::Planner => ("users".to_owned(), order.clone()),
            PageScan::Leading(rows) => (
                format!(
                    "(SELECT * FROM users{} ORDER BY {order} LIMIT {rows}) AS users",
                    after
                        .as_ref()
                        .map(|a| format!(" WHERE {a}"))
                        .unwrap_or_default()
                ),
                order.clone(),
            ),
            // An expression of the column sorts the same, but no index on the column can
            // produce that order.
            PageScan::MatchesFirst => (
                "users".to_owned(),
                format!(
                    "{column}{} {dir}{nulls}, id {dir}",
                    if integer { " + 0" } else { " || ''" }
                ),
            ),
        };
        self.sql.push_str(&format!(
            "SELECT users.doc FROM (SELECT id, {column} AS sort_key FROM {source}"
        ));
        let mut clauses = self.where_clauses(&q.filter);
        clauses.extend(after);
        self.push_clauses(clauses);
        let limit = self.bind(SqlParam::Int(i64::from(q.limit)));
        let offset = self.bind(SqlParam::Int(i64::try_from(q.offset).unwrap_or(i64::MAX)));
        self.sql.push_str(&format!(
            " ORDER BY {sort} LIMIT {limit} OFFSET {offset}) AS page \
             JOIN users ON users.id = page.id \
             ORDER BY page.sort_key {dir}{nulls}, page.id {dir}"
        ));
    }
}

/// How a page query finds its rows, for a planner that may guess a filter's selectivity wrong.
///
/// Walking the sort order's index and testing each row finds a page of a filter that most rows
/// pass at once, and one that few pass only after reading the whole table; finding the matches
/// first (from their own index) and sorting them costs what the matches cost. A planner that
/// takes a rare substring for a common one walks: seconds at a million users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageScan {
    /// The planner chooses.
    Planner,
    /// Only the first `n` rows in the sort order are tested. Exact whenever the page comes back
    /// full: its rows are then the first matches of the whole order.
    Leading(u32),
    /// The planner may not walk the sort order's index: it finds the matches, then sorts them.
    MatchesFirst,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("A_b%"), "%a\\_b\\%%");
    }

    static QUESTION: Dialect = Dialect {
        placeholder: |_| "?".into(),
        contains: |f, _, needle| f.like("search", needle),
    };
    static DOLLAR: Dialect = Dialect {
        placeholder: |n| format!("${n}"),
        contains: |f, _, needle| f.like("search", needle),
    };

    #[test]
    fn empty_filter_has_no_where() {
        let mut f = SqlFilter::new(&QUESTION);
        f.push_where(&UserFilter::default());
        assert_eq!(f.sql, "");
        assert!(f.params.is_empty());
    }

    #[test]
    fn placeholders_are_numbered_in_order() {
        let mut f = SqlFilter::new(&DOLLAR);
        let filter = UserFilter {
            usernames: vec!["Ada".into(), "bob".into()],
            banned: Some(true),
            ..UserFilter::default()
        };
        f.push_where(&filter);
        assert_eq!(f.sql, " WHERE username IN ($1, $2) AND banned = $3");
        assert_eq!(f.params[0], SqlParam::Text("ada".into()));
    }

    #[test]
    fn page_scans_bound_or_forbid_the_index_walk() {
        let q = UserQuery::default();
        let mut leading = SqlFilter::new(&DOLLAR);
        leading.push_page_query_with(&q, PageScan::Leading(1000));
        assert!(leading.sql.contains(
            "FROM (SELECT * FROM users ORDER BY created_at DESC, id DESC LIMIT 1000) AS users"
        ));
        let mut matches = SqlFilter::new(&DOLLAR);
        matches.push_page_query_with(&q, PageScan::MatchesFirst);
        assert!(matches
            .sql
            .contains("ORDER BY created_at + 0 DESC, id DESC LIMIT $1"));
        let mut planner = SqlFilter::new(&DOLLAR);
        planner.push_page_query(&q);
        assert!(planner
            .sql
            .contains("FROM users ORDER BY created_at DESC, id DESC LIMIT $1"));
    }
}
