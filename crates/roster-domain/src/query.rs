//! What `GET /users` and `GET /users/count` ask the store for.

use crate::DomainError;

/// Most values an array filter may carry.
pub const MAX_FILTER_VALUES: usize = 100;
pub const DEFAULT_LIMIT: u32 = 10;
pub const MAX_LIMIT: u32 = 500;

/// Ids to include and to exclude, from `+id` / `-id` / `id` filter values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncludeExclude {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl IncludeExclude {
    pub fn from_values(values: &[String]) -> Self {
        let mut out = Self::default();
        for v in values {
            if let Some(rest) = v.strip_prefix('-') {
                out.exclude.push(rest.to_owned());
            } else {
                out.include
                    .push(v.strip_prefix('+').unwrap_or(v).to_owned());
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }
}

/// Time window on one timestamp column, in unix ms; bounds are exclusive like Clerk's.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TimeRange {
    pub before: Option<i64>,
    pub after: Option<i64>,
}

/// Filters shared by list and count. Different filters AND; values of one filter OR.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserFilter {
    pub email_addresses: Vec<String>,
    pub phone_numbers: Vec<String>,
    pub usernames: Vec<String>,
    pub external_ids: IncludeExclude,
    pub user_ids: IncludeExclude,
    pub query: Option<String>,
    pub email_address_query: Option<String>,
    pub phone_number_query: Option<String>,
    pub username_query: Option<String>,
    pub name_query: Option<String>,
    pub banned: Option<bool>,
    pub created_at: TimeRange,
    pub last_active_at: TimeRange,
    pub last_sign_in_at: TimeRange,
    /// Set when a filter asks for something no Roster user has (web3 wallets, organizations).
    pub matches_nothing: bool,
}

impl UserFilter {
    /// Whether a filter value holds a NUL. No stored text can (validation refuses it, and
    /// PostgreSQL cannot store it), so such a filter matches nothing, and stores answer without
    /// sending the value to the database (PostgreSQL refuses NUL in a parameter; SQLite would
    /// cut a LIKE pattern at it).
    pub fn holds_nul(&self) -> bool {
        let nul = |s: &String| s.contains('\0');
        self.email_addresses.iter().any(nul)
            || self.phone_numbers.iter().any(nul)
            || self.usernames.iter().any(nul)
            || self.external_ids.include.iter().any(nul)
            || self.external_ids.exclude.iter().any(nul)
            || self.user_ids.include.iter().any(nul)
            || self.user_ids.exclude.iter().any(nul)
            || [
                &self.query,
                &self.email_address_query,
                &self.phone_number_query,
                &self.username_query,
                &self.name_query,
            ]
            .into_iter()
            .flatten()
            .any(nul)
    }
}

/// Columns a list can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderField {
    CreatedAt,
    UpdatedAt,
    EmailAddress,
    Web3Wallet,
    FirstName,
    LastName,
    PhoneNumber,
    Username,
    LastActiveAt,
    LastSignInAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    pub field: OrderField,
    pub descending: bool,
}

impl Default for Order {
    fn default() -> Self {
        Self {
            field: OrderField::CreatedAt,
            descending: true,
        }
    }
}

impl Order {
    /// Parses `[+|-]field`; `+` is implied.
    pub fn parse(raw: &str) -> Result<Order, DomainError> {
        let (descending, name) = match raw.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, raw.strip_prefix('+').unwrap_or(raw)),
        };
        let field = match name {
            "created_at" => OrderField::CreatedAt,
            "updated_at" => OrderField::UpdatedAt,
            "email_address" => OrderField::EmailAddress,
            "web3wallet" => OrderField::Web3Wallet,
            "first_name" => OrderField::FirstName,
            "last_name" => OrderField::LastName,
            "phone_number" => OrderField::PhoneNumber,
            "username" => OrderField::Username,
            "last_active_at" => OrderField::LastActiveAt,
            "last_sign_in_at" => OrderField::LastSignInAt,
            _ => {
                return Err(DomainError::InvalidFormat {
                    param: "order_by".into(),
                    reason: format!("{raw} is not a valid value for order_by."),
                })
            }
        };
        Ok(Order { field, descending })
    }
}

/// A page of users.
#[derive(Debug, Clone, PartialEq)]
pub struct UserQuery {
    pub filter: UserFilter,
    pub order: Order,
    pub limit: u32,
    pub offset: u64,
    /// Only the users that follow this one in a `created_at` order (`starting_after`).
    pub after: Option<Cursor>,
}

impl Default for UserQuery {
    fn default() -> Self {
        Self {
            filter: UserFilter::default(),
            order: Order::default(),
            limit: DEFAULT_LIMIT,
            offset: 0,
            after: None,
        }
    }
}

/// Where the previous page ended: its last user's `created_at` and id, which lists order by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: i64,
    pub id: String,
}

impl UserQuery {
    /// Checks that `starting_after` can be used with the rest of the query: a cursor is a
    /// position in the `created_at` order (the only one whose key is unique with the id and never
    /// changes, so that pages neither skip nor repeat users), and it replaces `offset`.
    pub fn check_cursor(&self, starting_after: bool) -> Result<(), DomainError> {
        if !starting_after {
            return Ok(());
        }
        if self.order.field != OrderField::CreatedAt {
            return Err(DomainError::InvalidValue {
                param: "order_by".into(),
                reason: "starting_after can only be used when ordering by created_at, \
                         +created_at or -created_at."
                    .into(),
            });
        }
        if self.offset != 0 {
            return Err(DomainError::InvalidValue {
                param: "offset".into(),
                reason: "offset cannot be combined with starting_after; the cursor sets where \
                         the page starts."
                    .into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_needs_the_created_at_order_and_no_offset() {
        let with = |order: &str, offset: u64| UserQuery {
            order: Order::parse(order).unwrap(),
            offset,
            ..Default::default()
        };
        for order in ["created_at", "+created_at", "-created_at"] {
            assert_eq!(with(order, 0).check_cursor(true), Ok(()));
        }
        assert_eq!(UserQuery::default().check_cursor(true), Ok(()));
        for order in [
            "updated_at",
            "-username",
            "email_address",
            "web3wallet",
            "last_sign_in_at",
        ] {
            assert!(
                matches!(with(order, 0).check_cursor(true), Err(DomainError::InvalidValue { param, .. }) if param == "order_by"),
                "{order}"
            );
            assert_eq!(with(order, 0).check_cursor(false), Ok(()));
        }
        assert!(matches!(
            with("-created_at", 1).check_cursor(true),
            Err(DomainError::InvalidValue { param, .. }) if param == "offset"
        ));
        assert_eq!(with("-created_at", 1).check_cursor(false), Ok(()));
    }

    #[test]
    fn order_parsing() {
        assert_eq!(
            Order::parse("-created_at").ok(),
            Some(Order {
                field: OrderField::CreatedAt,
                descending: true
            })
        );
        assert_eq!(
            Order::parse("+username").ok(),
            Some(Order {
                field: OrderField::Username,
                descending: false
            })
        );
        assert_eq!(
            Order::parse("first_name").ok(),
            Some(Order {
                field: OrderField::FirstName,
                descending: false
            })
        );
        assert!(Order::parse("password").is_err());
    }

    #[test]
    fn include_exclude() {
        let values = vec!["+a".to_owned(), "-b".to_owned(), "c".to_owned()];
        let ie = IncludeExclude::from_values(&values);
        assert_eq!(ie.include, vec!["a", "c"]);
        assert_eq!(ie.exclude, vec!["b"]);
    }
}
