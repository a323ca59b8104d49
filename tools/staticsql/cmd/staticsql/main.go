// Command staticsql runs the staticsql analyzer, Coffer's "Static SQL only"
// check. CI runs it over the whole module and fails on any finding:
//
//	go run ./tools/staticsql/cmd/staticsql ./...
//
// It exits 3 when it reports findings and 1 when packages fail to load or
// type-check.
package main

import (
	"golang.org/x/tools/go/analysis/singlechecker"

	"github.com/coffer-mft/coffer/tools/staticsql"
)

func main() { singlechecker.Main(staticsql.Analyzer) }
