package sqlclass

import (
	"strings"
	"testing"
)

func TestLexer(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want string // tokens as kind:text, space separated
	}{
		{"words and keywords", "SELECT a_1 FROM Tbl", "w:SELECT w:a_1 w:FROM w:Tbl"},
		{"comments", "a -- x\n/* y\n */b/**/c--", "w:a w:b w:c"},
		{"strings", `'it''s' 'x`, `s:'it''s' s:'x`},
		{"quoted identifiers", "\"a\"\"b\" `c` \"open", "q:\"a\"\"b\" q:`c` q:\"open"},
		{"numbers", "1 1.5 .5 1e-5 0x1F 1_000 2.", "n:1 n:1.5 n:.5 n:1e-5 n:0x1F n:1_000 n:2 p:."},
		{"punctuation and operators", "a.b(c,d);e<=f||?", "w:a p:. w:b p:( w:c p:, w:d p:) p:; w:e o:< o:= w:f o:| o:| o:?"},
		{"unicode", "Café 日本 'é'", "w:Café w:日本 s:'é'"},
		{"minus is not a comment", "a - -b", "w:a o:- o:- w:b"},
	}
	kinds := map[tokKind]string{tkWord: "w", tkQuoted: "q", tkString: "s", tkNumber: "n", tkPunct: "p", tkOp: "o"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := lexer{src: tc.src, budget: MaxTokens}
			var got []string
			for tok := l.next(); tok.kind() != tkEOF; tok = l.next() {
				got = append(got, kinds[tok.kind()]+":"+tc.src[tok.pos:tok.end])
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("got  %s\nwant %s", g, tc.want)
			}
		})
	}
}

func TestLexerPeek(t *testing.T) {
	l := lexer{src: "a b c d e", budget: MaxTokens}
	if got := l.src[l.peek(3).pos:l.peek(3).end]; got != "d" {
		t.Fatalf("peek(3) = %q", got)
	}
	var got []string
	for tok := l.next(); tok.kind() != tkEOF; tok = l.next() {
		got = append(got, l.src[tok.pos:tok.end])
	}
	if strings.Join(got, "") != "abcde" {
		t.Errorf("got %q", got)
	}
}

func TestKeywords(t *testing.T) {
	for _, e := range keywordList {
		t.Run(e.word, func(t *testing.T) {
			for _, w := range []string{e.word, strings.ToUpper(e.word)} {
				l := lexer{src: w, budget: 1}
				if tok := l.next(); tok.kw() != e.kw {
					t.Errorf("%q: got keyword %d, want %d", w, tok.kw(), e.kw)
				}
			}
		})
	}
	for _, w := range []string{"orders", "selects", "selec", "x", "current_timestamps", "fröm"} {
		l := lexer{src: w, budget: 1}
		if tok := l.next(); tok.kw() != kwNone {
			t.Errorf("%q: got keyword %d, want none", w, tok.kw())
		}
	}
}
