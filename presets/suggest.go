package presets

import (
	"fmt"
	"slices"
	"strings"
)

// closest returns up to n candidates nearest to s by edit distance (case
// folded), nearest first, leaving out any that are too far to be a typo of
// s. A candidate containing s, or contained in it, counts as near.
func closest(s string, candidates []string, n int) []string {
	type scored struct {
		c string
		d int
	}
	s = strings.ToLower(s)
	var list []scored
	for _, c := range candidates {
		lc := strings.ToLower(c)
		d := levenshtein(s, lc)
		// A candidate containing s, or contained in it, is near, unless it
		// is so short that it is inside many words ("id" in "vidoe").
		if len(s) >= 3 && len(lc) >= 3 && (strings.Contains(lc, s) || strings.Contains(s, lc)) {
			d = min(d, 1)
		}
		if d <= max(2, len(s)/3) {
			list = append(list, scored{c, d})
		}
	}
	slices.SortStableFunc(list, func(a, b scored) int { return a.d - b.d })
	out := make([]string, 0, n)
	for _, e := range list {
		if len(out) == n {
			break
		}
		if !slices.Contains(out, e.c) {
			out = append(out, e.c)
		}
	}
	return out
}

// suggest returns " (did you mean x?)" for the nearest candidate, or "".
func suggest(s string, candidates []string) string {
	if c := closest(s, candidates, 1); len(c) > 0 {
		return fmt.Sprintf(" (did you mean %q?)", c[0])
	}
	return ""
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
