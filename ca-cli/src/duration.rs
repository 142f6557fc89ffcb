//! Durations on the command line: `90d`, `2w`, `12h`, `20y`, or a bare number of days.

/// Parses a duration into whole days (hours round up to a day).
pub(crate) fn parse_days(s: &str) -> Result<u32, String> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&s[..i], &s[i..]),
        None => (s, "d"),
    };
    let n: u32 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (try 90d, 2w, 20y)"))?;
    let days = match unit {
        "d" => Some(n),
        "w" => n.checked_mul(7),
        "y" => n.checked_mul(365).and_then(|d| d.checked_add(n / 4)),
        "h" => Some(n.div_ceil(24)),
        _ => return Err(format!("'{s}': unknown unit '{unit}' (use h, d, w or y)")),
    };
    days.ok_or_else(|| format!("'{s}' is too long"))
}

/// Parses a duration into seconds.
pub(crate) fn parse_seconds(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Some(h) = s.strip_suffix('h') {
        let n: i64 = h.parse().map_err(|_| format!("'{s}' is not a duration"))?;
        return Ok(n * 3600);
    }
    Ok(i64::from(parse_days(s)?) * 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_days("90"), Ok(90));
        assert_eq!(parse_days("90d"), Ok(90));
        assert_eq!(parse_days("2w"), Ok(14));
        assert_eq!(parse_days("20y"), Ok(7305));
        assert_eq!(parse_days("25h"), Ok(2));
        assert!(parse_days("x").is_err());
        assert!(parse_days("5m").is_err());
        assert_eq!(parse_seconds("12h"), Ok(43_200));
    }
}
