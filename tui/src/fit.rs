//! Fitting text into columns: widths from the content (model ids get theirs first), a
//! middle ellipsis only when a column truly cannot hold its text, and text cut at a word.

/// The display width of `s` (model ids and reasons: one column a character).
pub fn width(s: &str) -> usize {
    s.chars().count()
}

/// `s` in at most `w` columns: whole when it fits, else its start and its end around `…`
/// (the end of a model id tells versions apart, so both ends stay).
pub fn middle(s: &str, w: usize) -> String {
    let n = width(s);
    if n <= w {
        return s.to_owned();
    }
    match w {
        0 => String::new(),
        1 => "…".into(),
        _ => {
            let keep = w - 1;
            let tail = keep / 2;
            let head = keep - tail;
            let chars: Vec<char> = s.chars().collect();
            let mut out: String = chars[..head].iter().collect();
            out.push('…');
            out.extend(&chars[n - tail..]);
            out
        }
    }
}

/// `s` in at most `w` columns, cut after the last whole word that fits, with `…`.
pub fn at_word(s: &str, w: usize) -> String {
    if width(s) <= w {
        return s.to_owned();
    }
    if w == 0 {
        return String::new();
    }
    let chars: Vec<char> = s.chars().collect();
    let room = &chars[..w - 1];
    let cut = room
        .iter()
        .rposition(|c| c.is_whitespace())
        .filter(|&i| i > 0)
        .unwrap_or(w - 1);
    let mut out: String = chars[..cut].iter().collect();
    out.truncate(out.trim_end_matches([' ', ',', ';', ':', '(']).len());
    out.push('…');
    out
}

/// `s` wrapped at words into lines of at most `w` columns (a word longer than a line is
/// split).
pub fn wrap(s: &str, w: usize) -> Vec<String> {
    let w = w.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in s.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = width(&line);
            let sep = usize::from(used > 0);
            if used + sep + word.len() <= w {
                if sep == 1 {
                    line.push(' ');
                }
                line.extend(&word);
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            // Longer than a whole line.
            let rest = word.split_off(w);
            lines.push(word.iter().collect());
            word = rest;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// One column of a table to fit.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// What its widest cell (or header) needs.
    pub natural: usize,
    /// The least it may shrink to with a middle ellipsis; `None`: it never shrinks.
    pub min: Option<usize>,
    /// Dropped when the table does not fit, lowest first; `None`: never dropped.
    pub drop: Option<u8>,
}

/// The width of each column (`None`: not shown) in `avail` columns, `gap` between two
/// shown columns: every column its natural width when they fit; else the droppable ones
/// go, lowest `drop` first, until the rest fit; else the shrinkable ones shrink, widest
/// first, down to their `min`.
pub fn fit(cols: &[Column], avail: usize, gap: usize) -> Vec<Option<usize>> {
    let mut widths: Vec<Option<usize>> = cols.iter().map(|c| Some(c.natural)).collect();
    let total = |w: &[Option<usize>]| -> usize {
        let shown: Vec<usize> = w.iter().flatten().copied().collect();
        shown.iter().sum::<usize>() + gap * shown.len().saturating_sub(1)
    };
    let mut order: Vec<(u8, usize)> = cols
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.drop.map(|d| (d, i)))
        .collect();
    order.sort_unstable();
    for (_, i) in order {
        if total(&widths) <= avail {
            break;
        }
        widths[i] = None;
    }
    while total(&widths) > avail {
        let widest = cols
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let w = widths[i]?;
                (w > c.min?).then_some((w, i))
            })
            .max();
        let Some((w, i)) = widest else { break };
        widths[i] = Some(w - 1);
    }
    widths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn middle_keeps_both_ends() {
        assert_eq!(
            middle("anthropic/claude-sonnet-4-5", 40),
            "anthropic/claude-sonnet-4-5"
        );
        assert_eq!(middle("anthropic/claude-sonnet-4-5", 15), "anthrop…net-4-5");
        assert_eq!(middle("abcdefghij", 5), "ab…ij");
        assert_eq!(width(&middle("abcdefghij", 6)), 6);
        assert_eq!(middle("abc", 1), "…");
        assert_eq!(middle("abc", 0), "");
    }

    #[test]
    fn at_word_cuts_between_words() {
        assert_eq!(at_word("best of 61 usable models", 14), "best of 61…");
        assert_eq!(at_word("short", 14), "short");
        assert_eq!(at_word("abcdefghijklmnop", 6), "abcde…");
        assert_eq!(width(&at_word("one two three four", 9)), 8);
    }

    #[test]
    fn wrap_keeps_words_whole() {
        assert_eq!(wrap("one two three four", 9), ["one two", "three", "four"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), [""]);
    }

    #[test]
    fn fit_drops_then_shrinks() {
        let c = |natural, min, drop| Column { natural, min, drop };
        let cols = [
            c(10, None, None),
            c(30, Some(12), None),
            c(20, None, Some(1)),
        ];
        assert_eq!(fit(&cols, 80, 1), [Some(10), Some(30), Some(20)]);
        // No room for the droppable column: it goes, the id keeps its whole width.
        assert_eq!(fit(&cols, 45, 1), [Some(10), Some(30), None]);
        // Truly too narrow: the id shrinks, never under its minimum.
        assert_eq!(fit(&cols, 30, 1), [Some(10), Some(19), None]);
        assert_eq!(fit(&cols, 5, 1), [Some(10), Some(12), None]);
    }
}
