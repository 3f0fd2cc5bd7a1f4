//! `%START_TIME(FORMAT)%`: a strftime subset compiled once into parts, in UTC
//! as Envoy prints it, with Envoy's extensions `%s` (seconds since the epoch)
//! and `%f`, `%1f`…`%9f` (fractional seconds: `%f` is nine digits).
//!
//! Invariant: rendering writes digits and fixed names into the line buffer;
//! it neither allocates nor calls into libc (no `strftime`, no time zone).

/// One piece of a compiled time format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// A byte range of the format text, printed as is.
    Text(usize, usize),
    /// One separator byte (`%F`'s `-`, `%T`'s `:`).
    Byte(u8),
    Year,
    Year2,
    Month,
    Day,
    /// `%e`: day of the month, space-padded.
    DaySpace,
    Hour,
    Minute,
    Second,
    DayOfYear,
    MonthName,
    DayName,
    Epoch,
    /// Fractional seconds with this many digits.
    Fraction(u8),
    /// `%z`: always `+0000`.
    Offset,
    /// `%Z`: always `UTC`.
    Zone,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeFormat {
    text: Vec<u8>,
    parts: Vec<Part>,
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];
const DAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];

impl TimeFormat {
    /// Compile `text`; an unknown conversion is an error naming it.
    pub fn compile(text: &str) -> Result<TimeFormat, String> {
        let b = text.as_bytes();
        let mut parts = Vec::new();
        let (mut i, mut lit) = (0, 0);
        while i < b.len() {
            if b[i] != b'%' {
                i += 1;
                continue;
            }
            if lit < i {
                parts.push(Part::Text(lit, i));
            }
            let spec = *b.get(i + 1).ok_or("a lone `%` at the end")?;
            let mut used = 2;
            match spec {
                b'Y' => parts.push(Part::Year),
                b'y' => parts.push(Part::Year2),
                b'm' => parts.push(Part::Month),
                b'd' => parts.push(Part::Day),
                b'e' => parts.push(Part::DaySpace),
                b'H' => parts.push(Part::Hour),
                b'M' => parts.push(Part::Minute),
                b'S' => parts.push(Part::Second),
                b'j' => parts.push(Part::DayOfYear),
                b'b' | b'h' => parts.push(Part::MonthName),
                b'a' => parts.push(Part::DayName),
                b's' => parts.push(Part::Epoch),
                b'f' => parts.push(Part::Fraction(9)),
                b'z' => parts.push(Part::Offset),
                b'Z' => parts.push(Part::Zone),
                b'F' => parts.extend([Part::Year, DASH, Part::Month, DASH, Part::Day]),
                b'T' => parts.extend([Part::Hour, COLON, Part::Minute, COLON, Part::Second]),
                b'%' => parts.push(Part::Text(i, i + 1)),
                b'1'..=b'9' if b.get(i + 2) == Some(&b'f') => {
                    parts.push(Part::Fraction(spec - b'0'));
                    used = 3;
                }
                other => {
                    return Err(format!(
                        "`%{}` is not a time conversion ringway knows (Y y m d e H M S j b a s f 1f-9f z Z F T %)",
                        other as char
                    ))
                }
            }
            i += used;
            lit = i;
        }
        if lit < b.len() {
            parts.push(Part::Text(lit, b.len()));
        }
        Ok(TimeFormat {
            text: b.to_vec(),
            parts,
        })
    }

    /// Write the time `nanos` (since the epoch, UTC) in this format.
    pub fn render(&self, out: &mut Vec<u8>, nanos: u64) {
        let secs = nanos / 1_000_000_000;
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = super::civil_from_days(days as i64);
        let num = |out: &mut Vec<u8>, v: u64, width: u32| pad(out, v, width, b'0');
        for part in &self.parts {
            match *part {
                Part::Text(a, b) => out.extend_from_slice(&self.text[a..b]),
                Part::Byte(c) => out.push(c),
                Part::Year => num(out, y as u64, 4),
                Part::Year2 => num(out, y as u64 % 100, 2),
                Part::Month => num(out, u64::from(m), 2),
                Part::Day => num(out, u64::from(d), 2),
                Part::DaySpace => pad(out, u64::from(d), 2, b' '),
                Part::Hour => num(out, rem / 3600, 2),
                Part::Minute => num(out, rem / 60 % 60, 2),
                Part::Second => num(out, rem % 60, 2),
                Part::DayOfYear => num(out, day_of_year(y, m, d), 3),
                Part::MonthName => out.extend_from_slice(MONTHS[m as usize - 1]),
                Part::DayName => out.extend_from_slice(DAYS[((days + 4) % 7) as usize]),
                Part::Epoch => crate::codec::encode::write_dec(out, secs),
                Part::Fraction(n) => {
                    let frac = nanos % 1_000_000_000 / 10u64.pow(9 - u32::from(n));
                    num(out, frac, u32::from(n));
                }
                Part::Offset => out.extend_from_slice(b"+0000"),
                Part::Zone => out.extend_from_slice(b"UTC"),
            }
        }
    }
}

const DASH: Part = Part::Byte(b'-');
const COLON: Part = Part::Byte(b':');

/// `v` in at least `width` digits, padded with `fill`.
fn pad(out: &mut Vec<u8>, v: u64, width: u32, fill: u8) {
    let mut digits = 1;
    while digits < 20 && v >= 10u64.pow(digits) {
        digits += 1;
    }
    for _ in digits..width {
        out.push(fill);
    }
    crate::codec::encode::write_dec(out, v);
}

fn day_of_year(y: i64, m: u32, d: u32) -> u64 {
    const BEFORE: [u64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    BEFORE[m as usize - 1] + u64::from(d) + u64::from(leap && m > 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(fmt: &str, nanos: u64) -> String {
        let f = TimeFormat::compile(fmt).unwrap();
        let mut out = Vec::new();
        f.render(&mut out, nanos);
        String::from_utf8(out).unwrap()
    }

    // 2024-02-29T23:59:58.007006005Z, a Thursday, day 60 of a leap year.
    const T: u64 = 1_709_251_198_007_006_005;

    #[test]
    fn renders_the_strftime_subset() {
        assert_eq!(render("%Y-%m-%dT%H:%M:%S", T), "2024-02-29T23:59:58");
        assert_eq!(render("%F %T", T), "2024-02-29 23:59:58");
        assert_eq!(
            render("%a %b %e %y %j %z %Z", T),
            "Thu Feb 29 24 060 +0000 UTC"
        );
        assert_eq!(render("%s", T), "1709251198");
        assert_eq!(
            render("[%d/%b/%Y:%H:%M:%S %z]", 0),
            "[01/Jan/1970:00:00:00 +0000]"
        );
        assert_eq!(render("%e|%j", 0), " 1|001");
        assert_eq!(render("100%% at %H", T), "100% at 23");
    }

    #[test]
    fn renders_envoy_fractional_seconds() {
        assert_eq!(render("%S.%3f", T), "58.007");
        assert_eq!(render("%6f", T), "007006");
        assert_eq!(render("%9f", T), "007006005");
        assert_eq!(render("%f", T), "007006005");
        assert_eq!(render("%1f", T), "0");
        assert_eq!(render("%s.%3f", 1_500_000_000), "1.500");
    }

    #[test]
    fn rejects_unknown_conversions() {
        assert!(TimeFormat::compile("%Q").unwrap_err().contains("`%Q`"));
        assert!(TimeFormat::compile("abc %").is_err());
        assert!(TimeFormat::compile("%0f").is_err());
    }
}
