package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// termText is how text output prints a string that came from the chain or
// a node (memos, purposes, names, ids, reasons, error messages): unchanged
// when it is valid UTF-8 made only of printable characters (letters,
// marks, numbers, punctuation, symbols and the ASCII space, per
// strconv.IsPrint), Go-quoted otherwise. Quoted, a terminal escape shows as
// \x1b, a right-to-left override as \u202e, a line break as \n and a bad
// byte as \xff, instead of acting on the terminal or forging lines of
// output; the quotes mark that the value held such characters. JSON output
// needs no such step: encoding/json escapes control characters itself.
func termText(s string) string {
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// termLines is termText for text whose line breaks are its own (a
// multi-line error): each line is made safe on its own.
func termLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = termText(l)
	}
	return strings.Join(lines, "\n")
}

// termJSON is termText's counterpart for JSON output. encoding/json
// escapes the C0 controls but writes DEL, the C1 controls (U+009B opens a
// terminal escape as ESC [ does), bidirectional overrides and other
// invisible characters as they are; this rewrites each such rune, which
// can only stand inside a JSON string, as its \u escape: the same JSON
// value, safe to show on a terminal.
func termJSON(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		safe := r == '\n' || r == '\t' || r == '\r' || strconv.IsPrint(r) && (r != utf8.RuneError || size > 1)
		if safe {
			if out != nil {
				out = append(out, b[i:i+size]...)
			}
			i += size
			continue
		}
		if out == nil {
			out = append(make([]byte, 0, len(b)+16), b[:i]...)
		}
		if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		} else {
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += size
	}
	if out == nil {
		return b
	}
	return out
}
