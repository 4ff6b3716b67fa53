//! The time functions of emscripten's JavaScript glue, reproduced in Rust on a UTC host.
//!
//! AO modules call `_localtime_js`, `_gmtime_js`, `_mktime_js` and `strftime` as imports, and the
//! reference loader answers them with JavaScript's `Date` on the CU's clock zone (UTC in
//! practice). The answers end up in process memory, so they must match byte for byte: JS's date
//! arithmetic (month overflow, years 0-99 meaning 19xx, `|0` truncation), and `strftime`'s
//! sequential pattern rewriting, quirks included.

const MS_PER_DAY: f64 = 86_400_000.0;

/// Days from 1970-01-01 to the first day of (`year`, `month`), month 0-based; any month value is
/// carried into the year as JS `MakeDay` does.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = year + month.div_euclid(12);
    let m = month.rem_euclid(12) + 1;
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month 0-based, day) of a day number.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m - 1, d)
}

/// A JS `Date` value on a UTC host: milliseconds since the epoch, or NaN.
#[derive(Debug, Clone, Copy)]
pub struct JsDate(pub f64);

/// The broken-down fields JS getters return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields {
    /// getSeconds.
    pub sec: i32,
    /// getMinutes.
    pub min: i32,
    /// getHours.
    pub hour: i32,
    /// getDate.
    pub mday: i32,
    /// getMonth (0-based).
    pub mon: i32,
    /// getFullYear.
    pub year: i64,
    /// getDay (0 = Sunday).
    pub wday: i32,
    /// Days since 1 January of the year.
    pub yday: i32,
}

impl JsDate {
    /// `new Date(ms)`.
    pub fn from_ms(ms: f64) -> JsDate {
        JsDate(time_clip(ms))
    }

    /// `new Date(year, month, day, hours, minutes, seconds)` (local = UTC here).
    pub fn new(year: f64, month: f64, day: f64, hours: f64, minutes: f64, seconds: f64) -> JsDate {
        let all = [year, month, day, hours, minutes, seconds];
        if all.iter().any(|v| !v.is_finite()) {
            return JsDate(f64::NAN);
        }
        let mut y = year.trunc();
        // JS: a two-digit year means 19xx.
        if (0.0..=99.0).contains(&y) {
            y += 1900.0;
        }
        let days = days_from_civil(y as i64, month.trunc() as i64, 1) as f64 + day.trunc() - 1.0;
        let time =
            hours.trunc() * 3_600_000.0 + minutes.trunc() * 60_000.0 + seconds.trunc() * 1000.0;
        JsDate::from_ms(days * MS_PER_DAY + time)
    }

    /// Whether the date is NaN ("Invalid Date").
    pub fn is_nan(self) -> bool {
        self.0.is_nan()
    }

    /// The getters; `None` for an invalid date (JS then gives NaN, stored as 0 in memory).
    pub fn fields(self) -> Option<Fields> {
        if self.is_nan() {
            return None;
        }
        let ms = self.0 as i64;
        let day = ms.div_euclid(86_400_000);
        let in_day = ms.rem_euclid(86_400_000);
        let (year, mon, mday) = civil_from_days(day);
        let yday = day - days_from_civil(year, 0, 1);
        Some(Fields {
            sec: ((in_day / 1000) % 60) as i32,
            min: ((in_day / 60_000) % 60) as i32,
            hour: (in_day / 3_600_000) as i32,
            mday: mday as i32,
            mon: mon as i32,
            year,
            wday: (day + 4).rem_euclid(7) as i32,
            yday: yday as i32,
        })
    }

    /// `date.getTime() / 1000 | 0`: seconds, wrapped to i32 as JS's `|0` does.
    pub fn unix_seconds_i32(self) -> i32 {
        to_int32(self.0 / 1000.0)
    }
}

fn time_clip(ms: f64) -> f64 {
    if !ms.is_finite() || ms.abs() > 8.64e15 {
        f64::NAN
    } else {
        ms.trunc() + 0.0
    }
}

/// JS `ToInt32`.
pub fn to_int32(v: f64) -> i32 {
    if !v.is_finite() {
        return 0;
    }
    let t = v.trunc().rem_euclid(4_294_967_296.0);
    (t as u64 as u32) as i32
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const MONTH_DAYS_REGULAR: [i64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const MONTH_DAYS_LEAP: [i64; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/// The `struct tm` fields strftime reads (all `i32` in wasm memory) and the zone name.
#[derive(Debug, Clone, Default)]
pub struct Tm {
    /// tm_sec.
    pub sec: i32,
    /// tm_min.
    pub min: i32,
    /// tm_hour.
    pub hour: i32,
    /// tm_mday.
    pub mday: i32,
    /// tm_mon.
    pub mon: i32,
    /// tm_year (years since 1900).
    pub year: i32,
    /// tm_wday.
    pub wday: i32,
    /// tm_yday.
    pub yday: i32,
    /// tm_isdst.
    pub isdst: i32,
    /// tm_gmtoff.
    pub gmtoff: i32,
    /// tm_zone as a string ("" when null).
    pub zone: String,
}

fn lead(value: String, digits: usize, fill: char) -> String {
    let mut s = value;
    while s.chars().count() < digits {
        s.insert(0, fill);
    }
    s
}

fn nulls(value: i64, digits: usize) -> String {
    lead(value.to_string(), digits, '0')
}

/// JS `Array.prototype` index that may be out of range: `undefined`, which string concatenation
/// renders as "undefined" and `substring` would throw on. Out-of-range names are rare enough
/// (a corrupt `struct tm`) that rendering them as "undefined" is the faithful choice.
fn name(table: &[&str], i: i32, short: bool) -> String {
    match usize::try_from(i).ok().and_then(|i| table.get(i)) {
        Some(n) if short => n[..3].to_string(),
        Some(n) => (*n).to_string(),
        None => "undefined".to_string(),
    }
}

fn first_week_start(jan4: JsDate) -> JsDate {
    let f = jan4.fields().map_or((0, 1970), |f| (f.wday, f.year));
    let y = f.1 as f64;
    match f.0 {
        0 => JsDate::new(y - 1.0, 11.0, 29.0, 0.0, 0.0, 0.0),
        1 => jan4,
        2 => JsDate::new(y, 0.0, 3.0, 0.0, 0.0, 0.0),
        3 => JsDate::new(y, 0.0, 2.0, 0.0, 0.0, 0.0),
        4 => JsDate::new(y, 0.0, 1.0, 0.0, 0.0, 0.0),
        5 => JsDate::new(y - 1.0, 11.0, 31.0, 0.0, 0.0, 0.0),
        _ => JsDate::new(y - 1.0, 11.0, 30.0, 0.0, 0.0, 0.0),
    }
}

fn day_number(d: JsDate) -> f64 {
    (d.0 / MS_PER_DAY).floor()
}

fn week_based_year(tm: &Tm) -> i64 {
    let start = JsDate::new(f64::from(tm.year) + 1900.0, 0.0, 1.0, 0.0, 0.0, 0.0);
    let this = JsDate::from_ms(start.0 + f64::from(tm.yday) * MS_PER_DAY);
    let year = this.fields().map_or(0, |f| f.year) as f64;
    let this_start = first_week_start(JsDate::new(year, 0.0, 4.0, 0.0, 0.0, 0.0));
    let next_start = first_week_start(JsDate::new(year + 1.0, 0.0, 4.0, 0.0, 0.0, 0.0));
    let today = day_number(this);
    if day_number(this_start) <= today {
        if day_number(next_start) <= today {
            year as i64 + 1
        } else {
            year as i64
        }
    } else {
        year as i64 - 1
    }
}

/// JS `%`: the sign follows the dividend.
fn js_mod(a: i64, b: i64) -> i64 {
    a % b
}

/// emscripten's JavaScript `strftime`: the pattern is rewritten rule by rule, in the glue's order,
/// each rule replacing every occurrence (so a replacement containing `%` may be rewritten again by
/// a later rule, exactly as in the glue). Returns the bytes without the NUL.
pub fn strftime(pattern: &str, tm: &Tm) -> Vec<u8> {
    const RULES_1: [(&str, &str); 28] = [
        ("%c", "%a %b %d %H:%M:%S %Y"),
        ("%D", "%m/%d/%y"),
        ("%F", "%Y-%m-%d"),
        ("%h", "%b"),
        ("%r", "%I:%M:%S %p"),
        ("%R", "%H:%M"),
        ("%T", "%H:%M:%S"),
        ("%x", "%m/%d/%y"),
        ("%X", "%H:%M:%S"),
        ("%Ec", "%c"),
        ("%EC", "%C"),
        ("%Ex", "%m/%d/%y"),
        ("%EX", "%H:%M:%S"),
        ("%Ey", "%y"),
        ("%EY", "%Y"),
        ("%Od", "%d"),
        ("%Oe", "%e"),
        ("%OH", "%H"),
        ("%OI", "%I"),
        ("%Om", "%m"),
        ("%OM", "%M"),
        ("%OS", "%S"),
        ("%Ou", "%u"),
        ("%OU", "%U"),
        ("%OV", "%V"),
        ("%Ow", "%w"),
        ("%OW", "%W"),
        ("%Oy", "%y"),
    ];
    let mut p = pattern.to_string();
    for (from, to) in RULES_1 {
        p = p.replace(from, to);
    }
    p = p.replace("%%", "\0\0");
    let year = i64::from(tm.year) + 1900;
    let rules: [(&str, &dyn Fn() -> String); 27] = [
        ("%a", &|| name(&WEEKDAYS, tm.wday, true)),
        ("%A", &|| name(&WEEKDAYS, tm.wday, false)),
        ("%b", &|| name(&MONTHS, tm.mon, true)),
        ("%B", &|| name(&MONTHS, tm.mon, false)),
        ("%C", &|| nulls(i64::from(to_int32(year as f64 / 100.0)), 2)),
        ("%d", &|| nulls(i64::from(tm.mday), 2)),
        ("%e", &|| lead(tm.mday.to_string(), 2, ' ')),
        ("%g", &|| {
            week_based_year(tm).to_string().chars().skip(2).collect()
        }),
        ("%G", &|| week_based_year(tm).to_string()),
        ("%H", &|| nulls(i64::from(tm.hour), 2)),
        ("%I", &|| {
            let h = match tm.hour {
                0 => 12,
                h if h > 12 => h - 12,
                h => h,
            };
            nulls(i64::from(h), 2)
        }),
        ("%j", &|| {
            let days = if is_leap(year) {
                MONTH_DAYS_LEAP
            } else {
                MONTH_DAYS_REGULAR
            };
            let upto = usize::try_from(tm.mon).unwrap_or(0).min(12);
            nulls(i64::from(tm.mday) + days[..upto].iter().sum::<i64>(), 3)
        }),
        ("%m", &|| nulls(i64::from(tm.mon) + 1, 2)),
        ("%M", &|| nulls(i64::from(tm.min), 2)),
        ("%n", &|| "\n".to_string()),
        ("%p", &|| {
            if (0..12).contains(&tm.hour) {
                "AM"
            } else {
                "PM"
            }
            .to_string()
        }),
        ("%S", &|| nulls(i64::from(tm.sec), 2)),
        ("%t", &|| "\t".to_string()),
        ("%u", &|| if tm.wday == 0 { 7 } else { tm.wday }.to_string()),
        ("%U", &|| {
            let days = i64::from(tm.yday) + 7 - i64::from(tm.wday);
            nulls(days.div_euclid(7), 2)
        }),
        ("%V", &|| {
            let (yday, wday) = (i64::from(tm.yday), i64::from(tm.wday));
            let mut val = (yday + 7 - js_mod(wday + 6, 7)).div_euclid(7);
            if js_mod(wday + 371 - yday - 2, 7) <= 2 {
                val += 1;
            }
            if val == 0 {
                val = 52;
                let dec31 = js_mod(wday + 7 - yday - 1, 7);
                if dec31 == 4 || (dec31 == 5 && is_leap(js_mod(i64::from(tm.year), 400) - 1)) {
                    val += 1;
                }
            } else if val == 53 {
                let jan1 = js_mod(wday + 371 - yday, 7);
                if jan1 != 4 && (jan1 != 3 || !is_leap(i64::from(tm.year))) {
                    val = 1;
                }
            }
            nulls(val, 2)
        }),
        ("%w", &|| tm.wday.to_string()),
        ("%W", &|| {
            let days = i64::from(tm.yday) + 7 - js_mod(i64::from(tm.wday) + 6, 7);
            nulls(days.div_euclid(7), 2)
        }),
        ("%y", &|| year.to_string().chars().skip(2).collect()),
        ("%Y", &|| year.to_string()),
        ("%z", &|| {
            let off = f64::from(tm.gmtoff);
            let ahead = off >= 0.0;
            let minutes = off.abs() / 60.0;
            let hhmm = (minutes / 60.0) * 100.0 + (minutes % 60.0);
            let text = format!("0000{}", js_number(hhmm));
            let tail: String = text
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("{}{tail}", if ahead { '+' } else { '-' })
        }),
        ("%Z", &|| tm.zone.clone()),
    ];
    for (rule, value) in rules {
        if p.contains(rule) {
            p = p.replace(rule, &value());
        }
    }
    p.replace("\0\0", "%").into_bytes()
}

/// A number as JS's `String(n)` writes it, for the values `%z` produces.
fn js_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e21 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_javascript() {
        // new Date(0)
        let f = JsDate::from_ms(0.0).fields().expect("valid");
        assert_eq!((f.year, f.mon, f.mday, f.wday, f.yday), (1970, 0, 1, 4, 0));
        // new Date(1700000000000): 2023-11-14T22:13:20Z, a Tuesday, day 317
        let f = JsDate::from_ms(1_700_000_000_000.0)
            .fields()
            .expect("valid");
        assert_eq!(
            (f.year, f.mon, f.mday, f.hour, f.min, f.sec, f.wday, f.yday),
            (2023, 10, 14, 22, 13, 20, 2, 317)
        );
        // Month overflow carries, two-digit years mean 19xx.
        assert_eq!(
            JsDate::new(2023.0, 12.0, 1.0, 0.0, 0.0, 0.0)
                .fields()
                .expect("v")
                .year,
            2024
        );
        assert_eq!(
            JsDate::new(99.0, 0.0, 1.0, 0.0, 0.0, 0.0)
                .fields()
                .expect("v")
                .year,
            1999
        );
        assert_eq!(
            JsDate::new(2000.0, 1.0, 30.0, 0.0, 0.0, 0.0)
                .fields()
                .expect("v")
                .mon,
            2
        );
        assert_eq!(to_int32(4_294_967_296.0 + 5.0), 5);
        assert_eq!(to_int32(-1.5), -1);
    }

    #[test]
    fn strftime_matches_the_glue() {
        let tm = Tm {
            sec: 20,
            min: 13,
            hour: 22,
            mday: 4,
            mon: 10,
            year: 123,
            wday: 6,
            yday: 307,
            zone: "UTC".into(),
            ..Tm::default()
        };
        let s = |p: &str| String::from_utf8(strftime(p, &tm)).expect("utf8");
        assert_eq!(s("%Y-%m-%d %H:%M:%S"), "2023-11-04 22:13:20");
        assert_eq!(s("%c"), "Sat Nov 04 22:13:20 2023");
        assert_eq!(
            s("%e|%I %p|%j|%u|%y|%%|%Z|%z"),
            " 4|10 PM|308|6|23|%|UTC|+0000"
        );
    }
}
