//! One timestamp type with one textual form.
//!
//! Timestamps end up inside sort keys (`EVT#…`, SLA-due keys), so their text must sort
//! the same way as time does: always UTC, always millisecond precision, always the same
//! width (`2026-11-21T09:30:00.000Z`).

use std::fmt;
use time::{macros::format_description, Duration, OffsetDateTime, PrimitiveDateTime, UtcOffset};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

const FORMAT: &[time::format_description::FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

impl Timestamp {
    /// Truncates to milliseconds so that a value survives a round trip through its text.
    pub fn from_datetime(dt: OffsetDateTime) -> Self {
        let dt = dt.to_offset(UtcOffset::UTC);
        let millis = dt.millisecond();
        Timestamp(
            dt.replace_nanosecond(u32::from(millis) * 1_000_000)
                .expect("valid nanosecond"),
        )
    }

    pub fn from_unix_millis(ms: i64) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .ok()
            .map(Timestamp)
    }

    pub fn unix_millis(self) -> i64 {
        (self.0.unix_timestamp_nanos() / 1_000_000) as i64
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.unix_timestamp()
    }

    pub fn datetime(self) -> OffsetDateTime {
        self.0
    }

    pub fn parse(s: &str) -> Result<Self, time::error::Parse> {
        let dt = PrimitiveDateTime::parse(s, FORMAT)?;
        Ok(Timestamp(dt.assume_utc()))
    }

    /// Any RFC 3339 time (`2026-11-28T10:00:00Z`, `2026-11-28T11:00:00+01:00`), as other
    /// systems write it; kept to the millisecond.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let dt = OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339).ok()?;
        Timestamp::from_unix_millis((dt.unix_timestamp_nanos() / 1_000_000) as i64)
    }

    pub fn plus(self, d: Duration) -> Self {
        Timestamp::from_datetime(self.0 + d)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.format(FORMAT).map_err(|_| fmt::Error)?;
        f.write_str(&s)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        // Baton writes its own fixed format; other systems' RFC 3339 times are read too.
        Timestamp::parse(&s)
            .or_else(|e| Timestamp::parse_rfc3339(&s).ok_or(e))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_has_fixed_width_and_round_trips() {
        let t = Timestamp::from_unix_millis(1_763_716_200_007).unwrap();
        let s = t.to_string();
        assert_eq!(s, "2025-11-21T09:10:00.007Z");
        assert_eq!(Timestamp::parse(&s).unwrap(), t);
        let whole = Timestamp::from_unix_millis(1_763_716_200_000).unwrap();
        assert_eq!(whole.to_string().len(), s.len());
    }

    #[test]
    fn text_order_is_time_order() {
        let a = Timestamp::from_unix_millis(999).unwrap();
        let b = Timestamp::from_unix_millis(1_000).unwrap();
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
    }

    #[test]
    fn sub_millisecond_precision_is_dropped() {
        let dt = OffsetDateTime::from_unix_timestamp_nanos(1_500_000_123_456_789).unwrap();
        let t = Timestamp::from_datetime(dt);
        assert_eq!(t.unix_millis(), 1_500_000_123);
        assert_eq!(Timestamp::parse(&t.to_string()).unwrap(), t);
    }
}
