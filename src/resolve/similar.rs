//! Names ranked by how close they are to what someone typed, for "did you mean"
//! suggestions (`dcos` → `docs` first).

/// Edit distance counting insertions, deletions, substitutions and swaps of two
/// neighbouring characters (optimal string alignment), case-insensitive.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    // rows[i][j]: distance between a[..i] and b[..j]; three rows are enough.
    let mut before: Vec<usize> = Vec::new();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut current = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            current[j] = d;
        }
        before = std::mem::replace(&mut previous, current);
    }
    previous[b.len()]
}

/// Every candidate, closest to `typed` first; equally close ones keep their order.
pub fn by_similarity<'a>(
    typed: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let mut ranked: Vec<(usize, usize, &str)> = candidates
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            // A candidate that starts with or contains what was typed is as close as one typo.
            let d = distance(typed, c);
            let lower = c.to_lowercase();
            let typed = typed.to_lowercase();
            let d = if !typed.is_empty() && lower.contains(&typed) {
                d.min(1)
            } else {
                d
            };
            (d, i, c)
        })
        .collect();
    ranked.sort_by_key(|&(d, i, _)| (d, i));
    ranked.into_iter().map(|(_, _, c)| c.to_owned()).collect()
}

/// The candidates within a few edits of `typed` (at most 2, or a quarter of its length
/// when that is more), closest first: the "did you mean" of a typo.
pub fn within_typos<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let cap = (typed.chars().count() / 4).max(2);
    let mut ranked: Vec<(usize, usize, &str)> = candidates
        .into_iter()
        .enumerate()
        .map(|(i, c)| (distance(typed, c), i, c))
        .filter(|&(d, _, _)| d <= cap)
        .collect();
    ranked.sort_by_key(|&(d, i, _)| (d, i));
    ranked.into_iter().map(|(_, _, c)| c.to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_the_name_meant() {
        let ids = ["gpt-5-mini", "gpt-5", "gpt-5.6-terra-pro", "o3"];
        assert_eq!(within_typos("gpt-5-mimi", ids), ["gpt-5-mini"]);
        assert_eq!(within_typos("gtp-5", ids), ["gpt-5"]);
        assert!(within_typos("claude", ids).is_empty());
    }

    #[test]
    fn distances_count_edits_and_swaps() {
        assert_eq!(distance("docs", "docs"), 0);
        assert_eq!(distance("dcos", "docs"), 1);
        assert_eq!(distance("Coder", "coder"), 0);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn the_closest_name_comes_first() {
        let ids = ["vision", "docs", "coder", "architect", "explorer", "memory"];
        assert_eq!(by_similarity("dcos", ids)[0], "docs");
        assert_eq!(by_similarity("codr", ids)[0], "coder");
        assert_eq!(by_similarity("explore", ids)[0], "explorer");
        assert_eq!(by_similarity("visoin", ids)[0], "vision");
        assert_eq!(by_similarity("dcos", ids).len(), ids.len());
    }
}
