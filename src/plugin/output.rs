//! `-o table|json|yaml`: a table like kubectl's by default.

use serde::Serialize;

use super::error::{Error, Result};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
    Yaml,
}

/// Something printed as a table row.
pub trait Row {
    const HEADERS: &'static [&'static str];
    fn cells(&self) -> Vec<String>;
}

/// `cell` with control characters escaped: names come from other people's
/// objects, and a terminal would act on an escape sequence in them.
pub fn printable(cell: &str) -> String {
    cell.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// kubectl's layout: upper-case headers, columns padded and three spaces
/// apart, `<none>` for an empty cell.
pub fn table<R: Row>(rows: &[R]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.cells()
                .into_iter()
                .map(|c| {
                    if c.is_empty() {
                        "<none>".into()
                    } else {
                        printable(&c)
                    }
                })
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = R::HEADERS.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |row: Vec<&str>| {
        let mut out = String::new();
        for (i, (c, w)) in row.iter().zip(&widths).enumerate() {
            if i + 1 == row.len() {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}   "));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(R::HEADERS.to_vec());
    for row in &cells {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `rows` in `format`; an empty table says `nothing` on stderr instead,
/// as kubectl's "No resources found".
pub fn print<R: Row + Serialize>(format: Format, rows: &[R], nothing: &str) -> Result<()> {
    let text = match format {
        Format::Table if rows.is_empty() => {
            eprintln!("{nothing}");
            return Ok(());
        }
        Format::Table => table(rows),
        Format::Json => render_json(rows)?,
        Format::Yaml => serde_yaml::to_string(rows).map_err(|e| Error::Output(e.to_string()))?,
    };
    print!("{text}");
    Ok(())
}

pub fn render_json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string_pretty(value)
        .map(|s| s + "\n")
        .map_err(|e| Error::Output(e.to_string()))
}

/// One value in `format` (a table shows `line`).
pub fn print_one<T: Serialize>(format: Format, value: &T, line: &str) -> Result<()> {
    match format {
        Format::Table => println!("{line}"),
        Format::Json => print!("{}", render_json(value)?),
        Format::Yaml => print!(
            "{}",
            serde_yaml::to_string(value).map_err(|e| Error::Output(e.to_string()))?
        ),
    }
    Ok(())
}

/// A report in `format`. As a table: its `summary` line, its `tables`
/// (one left out when it has no rows, a blank line before each after the
/// first), and its `notes` on stderr.
pub fn print_report<T: Serialize>(
    format: Format,
    report: &T,
    summary: &str,
    tables: &[Option<String>],
    notes: &[String],
) -> Result<()> {
    if format != Format::Table {
        return print_one(format, report, "");
    }
    println!("{}", printable(summary));
    for (i, table) in tables.iter().enumerate() {
        if let Some(table) = table {
            if i > 0 {
                println!();
            }
            print!("{table}");
        }
    }
    for note in notes {
        eprintln!("{}", printable(note));
    }
    Ok(())
}

/// `table(rows)`, or None when there are no rows (for `print_report`).
pub fn table_of<R: Row>(rows: &[R]) -> Option<String> {
    (!rows.is_empty()).then(|| table(rows))
}

#[cfg(test)]
mod tests {

    #[test]
    fn control_characters_in_cells_are_escaped() {
        assert_eq!(super::printable("bob\r\x1b[2Kx"), "bob\\r\\u{1b}[2Kx");
        assert_eq!(super::printable("ümlaut ok"), "ümlaut ok");
    }

    use super::*;

    #[derive(Serialize)]
    struct R(&'static str, &'static str);
    impl Row for R {
        const HEADERS: &'static [&'static str] = &["ORG", "WORKSPACE"];
        fn cells(&self) -> Vec<String> {
            vec![self.0.into(), self.1.into()]
        }
    }

    #[test]
    fn columns_line_up_like_kubectl() {
        let t = table(&[R("acme", "payments"), R("globex-long", "")]);
        assert_eq!(
            t,
            "ORG           WORKSPACE\nacme          payments\nglobex-long   <none>\n"
        );
    }
}
