//! The dry-run diff of a command file: a unified-style diff of two short texts.

/// A unified-style diff of two short texts: one hunk, every line shown.
pub(super) fn unified_diff(from: &str, to: &str, old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // Longest common subsequence table; files here are a few lines long.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = format!(
        "--- {from}\n+++ {to}\n@@ -{},{} +{},{} @@\n",
        usize::from(!a.is_empty()),
        a.len(),
        usize::from(!b.is_empty()),
        b.len()
    );
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!(" {}\n", a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+{}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("-{}\n", a[i]));
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_is_a_unified_diff_of_lines() {
        assert_eq!(
            unified_diff("a", "b", "x\ny\nz\n", "x\nY\nz\nw\n"),
            "--- a\n+++ b\n@@ -1,3 +1,4 @@\n x\n+Y\n-y\n z\n+w\n"
        );
        assert_eq!(
            unified_diff("a", "b", "", "q\n"),
            "--- a\n+++ b\n@@ -0,0 +1,1 @@\n+q\n"
        );
    }
}
