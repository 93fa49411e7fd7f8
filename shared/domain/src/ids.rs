//! Identifiers. Each is a newtype so a ticket number is never passed where an agent id
//! is expected, and each validates what may appear inside a DynamoDB key (`#` never).

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {reason}")]
pub struct InvalidId {
    pub kind: &'static str,
    pub value: String,
    pub reason: &'static str,
}

/// Slug-like ids: lowercase ASCII letters, digits, `-` and `_`, 1 to 64 characters.
fn check_slug(kind: &'static str, value: &str) -> Result<(), InvalidId> {
    let bad = |reason| {
        Err(InvalidId {
            kind,
            value: value.to_owned(),
            reason,
        })
    };
    if value.is_empty() || value.len() > 64 {
        return bad("must be 1 to 64 characters");
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return bad("only lowercase letters, digits, '-' and '_' are allowed");
    }
    Ok(())
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
                let value = value.into();
                check_slug($kind, &value)?;
                Ok($name(value))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, InvalidId> {
                $name::new(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                $name::new(s)
            }
        }
    };
}

slug_id!(
    /// A tenant: one support team's account (`demo`).
    TenantId,
    "tenant id"
);
slug_id!(
    /// An agent within a tenant.
    AgentId,
    "agent id"
);
slug_id!(
    /// A team within a tenant.
    TeamId,
    "team id"
);
slug_id!(
    /// A knowledge-base article within a tenant.
    ArticleId,
    "article id"
);

macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub ulid::Ulid);

        impl $name {
            pub fn generate() -> Self {
                $name(ulid::Ulid::new())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                ulid::Ulid::from_string(s).map($name).map_err(|_| InvalidId {
                    kind: stringify!($name),
                    value: s.to_owned(),
                    reason: "not a ULID",
                })
            }
        }
    };
}

ulid_id!(
    /// A customer within a tenant; ULIDs so ids never collide across concurrent creators.
    CustomerId
);
ulid_id!(
    /// A conversation: one thread with one customer on one channel.
    ConversationId
);

/// A ticket's number: sequential per tenant, what agents say out loud ("ticket 42").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketNumber(pub u64);

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_ids_refuse_key_separators_and_uppercase() {
        assert!(TenantId::new("demo").is_ok());
        assert!(TenantId::new("acme-eu_2").is_ok());
        assert!(TenantId::new("a#b").is_err());
        assert!(TenantId::new("Demo").is_err());
        assert!(TenantId::new("").is_err());
        assert!(TenantId::new("x".repeat(65)).is_err());
    }

    #[test]
    fn slug_ids_validate_when_deserialised() {
        assert!(serde_json::from_str::<AgentId>("\"ann\"").is_ok());
        assert!(serde_json::from_str::<AgentId>("\"TENANT#x\"").is_err());
    }

    #[test]
    fn ulid_ids_parse_their_own_text() {
        let id = ConversationId::generate();
        assert_eq!(id.to_string().parse::<ConversationId>().unwrap(), id);
        assert!("nope".parse::<ConversationId>().is_err());
    }
}
