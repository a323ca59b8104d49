package staticsql

import (
	"go/ast"
	"go/token"
	"strings"

	"golang.org/x/tools/go/analysis"
)

const allowDirective = "//coffer:allow-dynamic-sql"

// An exception is one //coffer:allow-dynamic-sql comment.
type exception struct {
	pos    token.Pos
	reason string
	used   bool // it excused at least one call
}

// exceptions holds a file's exceptions, in source order, indexed by the
// line of the calls they cover: a comment that ends a line covers that line,
// a comment alone on its line covers the next one.
type exceptions struct {
	all    []*exception
	byLine map[int]*exception
}

func fileExceptions(fset *token.FileSet, f *ast.File) exceptions {
	var found []*exception
	for _, group := range f.Comments {
		for _, c := range group.List {
			rest, ok := strings.CutPrefix(c.Text, allowDirective)
			if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '\t') {
				continue // not the directive, perhaps a longer word
			}
			found = append(found, &exception{pos: c.Pos(), reason: strings.TrimSpace(rest)})
		}
	}
	if len(found) == 0 {
		return exceptions{}
	}

	// firstCol[line] is the column of the first syntax node starting on
	// line, to tell a trailing comment from one alone on its line.
	firstCol := make(map[int]int)
	ast.Inspect(f, func(n ast.Node) bool {
		if n == nil {
			return false
		}
		switch n.(type) {
		case *ast.File:
			return true // its Pos is the package clause, not its extent
		case *ast.CommentGroup:
			return false
		}
		p := fset.Position(n.Pos())
		if col, ok := firstCol[p.Line]; !ok || p.Column < col {
			firstCol[p.Line] = p.Column
		}
		return true
	})

	byLine := make(map[int]*exception, len(found))
	for _, e := range found {
		p := fset.Position(e.pos)
		line := p.Line + 1
		if col, ok := firstCol[p.Line]; ok && col < p.Column {
			line = p.Line
		}
		byLine[line] = e
	}
	return exceptions{all: found, byLine: byLine}
}

// excuse reports whether a well-formed exception covers a call starting on
// line, and marks it used. An exception without a reason excuses nothing.
func (ex exceptions) excuse(line int) bool {
	e := ex.byLine[line]
	if e == nil || e.reason == "" {
		return false
	}
	e.used = true
	return true
}

// report reports exceptions without a reason, and exceptions that excused
// no call. Call it after every call in the file has been checked.
func (ex exceptions) report(pass *analysis.Pass) {
	for _, e := range ex.all {
		switch {
		case e.reason == "":
			pass.Reportf(e.pos, "%s needs a reason after it, for reviewers: %s <why this query cannot be a constant>", allowDirective, allowDirective)
		case !e.used:
			pass.Reportf(e.pos, "%s excuses no dynamic SQL call on this line or the next: remove it", allowDirective)
		}
	}
}
