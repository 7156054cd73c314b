//! `--expires`: a duration from now (`30m`, `12h`, `7d`, `2w`), a date
//! (`2027-01-31`, midnight UTC) or an RFC 3339 instant.

use jiff::{SignedDuration, Timestamp};

use super::error::{Error, Result};

/// The instant `text` names, relative to `now` for durations.
pub fn parse(text: &str, now: Timestamp) -> Result<Timestamp> {
    let text = text.trim();
    let bad = || {
        Error::Usage(format!(
            "--expires {text:?}: use a duration (30m, 12h, 7d, 2w), a date (2027-01-31) or an RFC 3339 time (2027-01-31T12:00:00Z)"
        ))
    };
    let at = if let Some(duration) = duration(text) {
        now.checked_add(duration).map_err(|_| bad())?
    } else if let Ok(date) = text.parse::<jiff::civil::Date>()
        && text.len() == 10
    {
        date.to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|_| bad())?
            .timestamp()
    } else {
        text.parse::<Timestamp>().map_err(|_| bad())?
    };
    if at <= now {
        return Err(Error::Usage(format!(
            "--expires {text:?} is in the past ({at})"
        )));
    }
    Ok(at)
}

fn duration(text: &str) -> Option<SignedDuration> {
    let unit = text.chars().last()?;
    let number: i64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    if number <= 0 {
        return None;
    }
    Some(SignedDuration::from_secs(number.checked_mul(seconds)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-11-26T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn durations_dates_and_instants() {
        let at = |s: &str| parse(s, now()).unwrap().to_string();
        assert_eq!(at("7d"), "2026-12-03T10:00:00Z");
        assert_eq!(at("12h"), "2026-11-26T22:00:00Z");
        assert_eq!(at("30m"), "2026-11-26T10:30:00Z");
        assert_eq!(at("2w"), "2026-12-10T10:00:00Z");
        assert_eq!(at("2027-01-31"), "2027-01-31T00:00:00Z");
        assert_eq!(at("2027-01-31T12:00:00+02:00"), "2027-01-31T10:00:00Z");
    }

    #[test]
    fn nonsense_and_the_past_are_refused() {
        for bad in [
            "",
            "7",
            "d",
            "-3d",
            "0d",
            "7y",
            "tomorrow",
            "2026-01-01",
            "31/01/2027",
        ] {
            assert!(parse(bad, now()).is_err(), "{bad:?} accepted");
        }
    }
}
