package change

import "unicode/utf8"

func decodeRune(s string) (rune, int) { return utf8.DecodeRuneInString(s) }

// AppendJSONString appends s as a JSON string literal (RFC 8259 escapes; invalid UTF-8
// becomes U+FFFD).
func AppendJSONString(dst []byte, s string) []byte { return appendJSONString(dst, s) }
