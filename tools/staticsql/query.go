package staticsql

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/types/typeutil"
)

// notSQL lists callees whose parameter is named query but holds no SQL.
var notSQL = map[string]bool{
	"net/url.ParseQuery": true,
}

// queryChecker implements rules 1 and 2 for one package.
type queryChecker struct {
	pass *analysis.Pass

	// params holds every parameter of every function declared or literal
	// in the package; tainted holds variables that are assigned to or have
	// their address taken anywhere in it.
	params  map[*types.Var]bool
	tainted map[*types.Var]bool
}

func checkQueries(pass *analysis.Pass) {
	c := &queryChecker{
		pass:    pass,
		params:  make(map[*types.Var]bool),
		tainted: make(map[*types.Var]bool),
	}
	for _, f := range pass.Files {
		c.collectVars(f)
	}
	for _, f := range pass.Files {
		ex := fileExceptions(pass.Fset, f)
		ast.Inspect(f, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				c.checkCall(call, ex)
			}
			return true
		})
		ex.report(pass)
	}
}

// collectVars fills c.params and c.tainted from f.
func (c *queryChecker) collectVars(f *ast.File) {
	info := c.pass.TypesInfo
	addParams := func(ft *ast.FuncType) {
		for _, field := range ft.Params.List {
			for _, name := range field.Names {
				if v, ok := info.Defs[name].(*types.Var); ok {
					c.params[v] = true
				}
			}
		}
	}
	taint := func(e ast.Expr) {
		if id, ok := ast.Unparen(e).(*ast.Ident); ok {
			// Uses, not Defs: a := that redeclares a variable reuses it.
			if v, ok := info.Uses[id].(*types.Var); ok {
				c.tainted[v] = true
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncDecl:
			addParams(n.Type)
		case *ast.FuncLit:
			addParams(n.Type)
		case *ast.AssignStmt:
			for _, lhs := range n.Lhs {
				taint(lhs)
			}
		case *ast.RangeStmt:
			if n.Tok == token.ASSIGN {
				taint(n.Key)
				if n.Value != nil {
					taint(n.Value)
				}
			}
		case *ast.UnaryExpr:
			if n.Op == token.AND {
				taint(n.X)
			}
		}
		return true
	})
}

// checkCall reports each query argument of call that is not a compile-time
// constant or a pass-through query parameter, unless an exception covers it.
func (c *queryChecker) checkCall(call *ast.CallExpr, ex exceptions) {
	info := c.pass.TypesInfo
	fun, ok := info.Types[call.Fun]
	if !ok || fun.IsType() || fun.IsBuiltin() {
		return // conversion or builtin
	}
	sig, ok := fun.Type.Underlying().(*types.Signature)
	if !ok {
		return
	}
	callee := typeutil.Callee(info, call)
	if fn, ok := callee.(*types.Func); ok && notSQL[fn.FullName()] {
		return
	}

	// A single call argument may supply several parameters: f(g()).
	spread := len(call.Args) == 1 && isTuple(info.TypeOf(call.Args[0]))

	var bad []analysis.Diagnostic
	params := sig.Params()
	for i := range params.Len() {
		p := params.At(i)
		if !isQueryName(p.Name()) {
			continue
		}
		variadic := sig.Variadic() && i == params.Len()-1
		t := p.Type()
		if variadic {
			t = t.(*types.Slice).Elem()
		}
		if !isString(t) {
			continue
		}
		var args []ast.Expr
		switch {
		case spread:
			bad = append(bad, c.finding(p, callee, call, call.Args[0], "one of several results of a call"))
		case variadic && i < len(call.Args):
			args = call.Args[i:] // with call.Ellipsis, the single slice argument
		case !variadic && i < len(call.Args):
			args = call.Args[i : i+1]
		}
		for _, arg := range args {
			if why := c.whyDynamic(arg); why != "" {
				bad = append(bad, c.finding(p, callee, call, arg, why))
			}
		}
	}
	if len(bad) == 0 {
		return
	}
	if ex.excuse(c.pass.Fset.Position(call.Pos()).Line) {
		return
	}
	for _, d := range bad {
		c.pass.Report(d)
	}
}

// whyDynamic returns "" if arg is acceptable as a query, or what it is.
func (c *queryChecker) whyDynamic(arg ast.Expr) string {
	info := c.pass.TypesInfo
	if tv, ok := info.Types[arg]; ok && tv.Value != nil {
		return ""
	}
	switch e := ast.Unparen(arg).(type) {
	case *ast.Ident:
		v, ok := info.Uses[e].(*types.Var)
		switch {
		case !ok:
			return "not a constant"
		case c.params[v] && isQueryName(v.Name()) && !c.tainted[v]:
			return ""
		case c.params[v] && isQueryName(v.Name()):
			return "a query parameter that is reassigned or has its address taken, so no longer passed through"
		case c.params[v]:
			return "a parameter not named query or sql, so its callers are not checked"
		case v.Pkg() != nil && v.Parent() == v.Pkg().Scope():
			return "a package-level variable"
		default:
			return "a local variable"
		}
	case *ast.CallExpr:
		if tv := info.Types[e.Fun]; tv.IsType() {
			return "a conversion of a non-constant value"
		}
		if fn := typeutil.StaticCallee(info, e); fn != nil && fn.Pkg() != nil && fn.Pkg().Path() == "fmt" {
			return "formatted with fmt." + fn.Name()
		}
		return "the result of a call"
	case *ast.BinaryExpr:
		return "a concatenation with a non-constant operand"
	case *ast.SelectorExpr:
		if sel, ok := info.Selections[e]; ok && sel.Kind() == types.FieldVal {
			return "a struct field"
		}
		return "a package-level variable"
	case *ast.IndexExpr:
		if _, ok := info.TypeOf(e.X).Underlying().(*types.Map); ok {
			return "a map lookup"
		}
		return "an index expression"
	case *ast.StarExpr:
		return "a pointer dereference"
	case *ast.TypeAssertExpr:
		return "a type assertion"
	case *ast.SliceExpr:
		return "a slice expression"
	}
	return "not a constant"
}

// finding describes arg, passed as parameter p of call, which is why.
func (c *queryChecker) finding(p *types.Var, callee types.Object, call *ast.CallExpr, arg ast.Expr, why string) analysis.Diagnostic {
	return analysis.Diagnostic{
		Pos: arg.Pos(),
		End: arg.End(),
		Message: fmt.Sprintf("SQL query is not a compile-time constant: the %s argument to %s is %s: %s "+
			"(choose among constant queries instead; see docs/architecture.md)",
			p.Name(), c.calleeName(callee, call), why, shorten(types.ExprString(arg))),
	}
}

func (c *queryChecker) calleeName(callee types.Object, call *ast.CallExpr) string {
	fn, ok := callee.(*types.Func)
	if !ok {
		return shorten(types.ExprString(call.Fun)) // a func value
	}
	qual := func(p *types.Package) string {
		if p == c.pass.Pkg {
			return ""
		}
		return p.Name()
	}
	recv := fn.Signature().Recv()
	if recv == nil {
		if q := qual(fn.Pkg()); q != "" {
			return q + "." + fn.Name()
		}
		return fn.Name()
	}
	t := types.TypeString(recv.Type(), qual)
	if strings.HasPrefix(t, "*") {
		t = "(" + t + ")"
	}
	return t + "." + fn.Name()
}

func isQueryName(name string) bool {
	return strings.EqualFold(name, "query") || strings.EqualFold(name, "sql")
}

func isString(t types.Type) bool {
	b, ok := t.Underlying().(*types.Basic)
	return ok && b.Info()&types.IsString != 0
}

func isTuple(t types.Type) bool {
	_, ok := t.(*types.Tuple)
	return ok
}

// shorten keeps expressions in messages to one readable line.
func shorten(s string) string {
	const max = 60
	if len(s) <= max {
		return s
	}
	return s[:max-3] + "..."
}
