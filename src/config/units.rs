//! Typed units at the config boundary: durations (`250ms`, `5s`, `0.25s`, `1m`, `1h`)
//! and byte sizes (`60KiB`, `8k`, `1MiB`, plain numbers). Parsed once, while
//! deserializing, so a bad value is reported with its YAML path and line.

use std::{fmt, time::Duration};

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A duration written as a number with a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigDuration(pub Duration);

impl ConfigDuration {
    pub fn parse(text: &str) -> Result<Duration, String> {
        let t = text.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("`{t}` has no unit (use ms, s, m or h, e.g. 250ms)"))?;
        let (num, unit) = t.split_at(split);
        let value: f64 = num
            .parse()
            .map_err(|_| format!("`{t}` is not a number followed by a unit"))?;
        let secs = match unit.trim() {
            "ms" => value / 1000.0,
            "s" => value,
            "m" => value * 60.0,
            "h" => value * 3600.0,
            other => {
                return Err(format!(
                    "unknown unit `{other}` in `{t}` (use ms, s, m or h)"
                ))
            }
        };
        if !secs.is_finite() || secs > 366.0 * 24.0 * 3600.0 {
            return Err(format!("`{t}` is out of range"));
        }
        Ok(Duration::from_secs_f64(secs))
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = ConfigDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 250ms, 5s, 1m")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                ConfigDuration::parse(v)
                    .map(ConfigDuration)
                    .map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

/// A duration in a form `ConfigDuration::parse` reads back to the same value:
/// whole seconds as `5s`, whole milliseconds as `250ms`, anything finer as
/// decimal seconds (`0.000250s`).
pub fn format_duration(d: Duration) -> String {
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        format!("{}s", d.as_secs())
    } else if nanos % NANOS_PER_MILLI == 0 {
        format!("{}ms", d.as_millis())
    } else {
        let fraction = format!("{nanos:09}");
        format!("{}.{}s", d.as_secs(), fraction.trim_end_matches('0'))
    }
}

const NANOS_PER_MILLI: u32 = 1_000_000;

/// A size in bytes: a plain number or a number with K/KiB/M/MiB/G/GiB (powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn parse(text: &str) -> Result<u64, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("`{t}` is not a size (e.g. 8192, 60KiB, 1MiB)"))?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            other => return Err(format!("unknown size unit `{other}` in `{t}`")),
        };
        n.checked_mul(mult)
            .ok_or_else(|| format!("`{t}` is out of range"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as 8192, 60KiB or 1MiB")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                ByteSize::parse(v).map(ByteSize).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            ConfigDuration::parse("250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(
            ConfigDuration::parse("0.25s").unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(ConfigDuration::parse("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(
            ConfigDuration::parse("2m").unwrap(),
            Duration::from_secs(120)
        );
        assert_eq!(
            ConfigDuration::parse("1h").unwrap(),
            Duration::from_secs(3600)
        );
        assert!(ConfigDuration::parse("5").is_err());
        assert!(ConfigDuration::parse("5 parsecs").is_err());
        assert!(ConfigDuration::parse("ms").is_err());
        assert!(ConfigDuration::parse("1e300h").is_err());
    }

    #[test]
    fn durations_print_as_they_read() {
        for (d, text) in [
            (Duration::from_secs(5), "5s"),
            (Duration::ZERO, "0s"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_millis(2500), "2500ms"),
            (Duration::from_micros(250), "0.00025s"),
            (Duration::new(3, 1), "3.000000001s"),
        ] {
            assert_eq!(format_duration(d), text);
            assert_eq!(ConfigDuration::parse(text).unwrap(), d, "{text}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(ByteSize::parse("8192").unwrap(), 8192);
        assert_eq!(ByteSize::parse("60KiB").unwrap(), 60 * 1024);
        assert_eq!(ByteSize::parse("1MiB").unwrap(), 1 << 20);
        assert!(ByteSize::parse("12 bananas").is_err());
        assert!(ByteSize::parse("99999999999999999999G").is_err());
    }
}
