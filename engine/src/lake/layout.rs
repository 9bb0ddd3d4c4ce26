//! Hive partition paths: escaping and unescaping exactly as Hive's `FileUtils.escapePathName` and
//! Spark's `ExternalCatalogUtils` do, so Spark, Athena, Hive, DuckDB and pyarrow read the same values.
//!
//! - Escaped: control characters `0x00`–`0x1F`, `0x7F` and `" # % ' * / : = ? \ { [ ] ^`, each as `%`
//!   plus two upper-case hex digits. Everything else, non-ASCII included, stays as is.
//! - NULL and the empty string are written as [`HIVE_DEFAULT_PARTITION`].
//! - Unescaping decodes every `%XX` as a byte and the result as UTF-8, which also accepts paths
//!   written by DuckDB and Arrow (which encode non-ASCII bytes too).

/// The folder value Hive, Spark and Athena use for a NULL (or empty) partition value.
pub const HIVE_DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\u{0}'
            ..='\u{1f}'
                | '\u{7f}'
                | '"'
                | '#'
                | '%'
                | '\''
                | '*'
                | '/'
                | ':'
                | '='
                | '?'
                | '\\'
                | '{'
                | '['
                | ']'
                | '^'
    )
}

/// Escapes a partition column name or value for use in a folder name.
pub fn escape_path_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if needs_escape(c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Reverses [`escape_path_name`] (and any other `%XX` encoding of UTF-8 bytes).
pub fn unescape_path_name(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// One `key=value` folder name; `None` and `""` become the default partition.
pub fn partition_segment(column: &str, value: Option<&str>) -> String {
    let value = match value {
        None | Some("") => HIVE_DEFAULT_PARTITION.to_string(),
        Some(v) => escape_path_name(v),
    };
    format!("{}={value}", escape_path_name(column))
}

/// Reverses [`partition_segment`]: a `key=value` folder name as (column, value), the default
/// partition as `None`; `None` for a folder name that is not `key=value`.
pub fn parse_partition_segment(segment: &str) -> Option<(String, Option<String>)> {
    let (k, v) = segment.split_once('=')?;
    let value = unescape_path_name(v);
    Some((
        unescape_path_name(k),
        (value != HIVE_DEFAULT_PARTITION).then_some(value),
    ))
}

/// The partition values a file's folders name, outermost first: its `key=value` folders, and with
/// `unnamed` every other folder too, as `partition_<depth>` (Glue's name for a folder without a key).
pub fn folder_partitions<S: AsRef<str>>(folders: &[S], unnamed: bool) -> Vec<(String, Option<String>)> {
    folders
        .iter()
        .enumerate()
        .filter_map(|(depth, folder)| {
            let folder = folder.as_ref();
            match parse_partition_segment(folder) {
                Some(pair) => Some(pair),
                None if unnamed => Some((format!("partition_{depth}"), Some(unescape_path_name(folder)))),
                None => None,
            }
        })
        .collect()
}

/// The relative folder for a row's partition values, `a=1/b=x%2Fy`.
pub fn partition_path<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> String {
    pairs
        .into_iter()
        .map(|(k, v)| partition_segment(k, v))
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("plain", "plain")]
    #[case("a/b", "a%2Fb")]
    #[case("c=d", "c%3Dd")]
    #[case("e%f", "e%25f")]
    #[case("g h", "g h")]
    #[case("10:30", "10%3A30")]
    #[case("Zürich", "Zürich")]
    #[case("x%2Fy", "x%252Fy")]
    #[case("..", "..")]
    #[case("a\nb", "a%0Ab")]
    #[case("q'\"#*?\\{[]^", "q%27%22%23%2A%3F%5C%7B%5B%5D%5E")]
    #[case("<>|~}`", "<>|~}`")]
    fn escapes_like_hive(#[case] raw: &str, #[case] escaped: &str) {
        assert_eq!(escape_path_name(raw), escaped);
        assert_eq!(unescape_path_name(escaped), raw);
    }

    #[rstest]
    #[case("Z%C3%BCrich%20Nord", "Zürich Nord")]
    #[case("100%", "100%")]
    #[case("%zz", "%zz")]
    #[case("%+1", "%+1")]
    #[case("a%2", "a%2")]
    #[case("%ü", "%ü")]
    fn unescapes_other_writers(#[case] path: &str, #[case] value: &str) {
        assert_eq!(unescape_path_name(path), value);
    }

    #[rstest]
    #[case("k=a%3Ab", Some(("k", Some("a:b"))))]
    #[case("my%20col=x", Some(("my col", Some("x"))))]
    #[case("k=__HIVE_DEFAULT_PARTITION__", Some(("k", None)))]
    #[case("k=", Some(("k", Some(""))))]
    #[case("no-equals", None)]
    fn folder_names_parse_back(#[case] segment: &str, #[case] parsed: Option<(&str, Option<&str>)>) {
        let want = parsed.map(|(k, v)| (k.to_string(), v.map(str::to_string)));
        assert_eq!(parse_partition_segment(segment), want);
    }

    #[rstest]
    #[case(&["dt=2026-01-01", "misc", "k=__HIVE_DEFAULT_PARTITION__"], false, &[("dt", Some("2026-01-01")), ("k", None)])]
    #[case(&["dt=2026-01-01", "a%20b", "k=v"], true, &[("dt", Some("2026-01-01")), ("partition_1", Some("a b")), ("k", Some("v"))])]
    #[case(&[], true, &[])]
    fn folders_name_partitions(
        #[case] folders: &[&str],
        #[case] unnamed: bool,
        #[case] want: &[(&str, Option<&str>)],
    ) {
        let want: Vec<_> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect();
        assert_eq!(folder_partitions(folders, unnamed), want);
    }

    #[test]
    fn null_and_empty_are_default_partition() {
        assert_eq!(partition_segment("p", None), "p=__HIVE_DEFAULT_PARTITION__");
        assert_eq!(partition_segment("p", Some("")), "p=__HIVE_DEFAULT_PARTITION__");
        assert_eq!(
            partition_path([("a", Some("1")), ("b", Some("x/y"))]),
            "a=1/b=x%2Fy"
        );
    }
}
