// Command health-lua runs Argo CD resource health scripts the way Argo CD runs them, for tests.
//
// Argo CD (util/lua/lua.go) evaluates a health.lua in gopher-lua, a Lua 5.1 VM: a fresh state per
// call with the standard libraries skipped, then only package, base and table opened (and a
// reduced os for scripts that ask for it: ours must not, so it is not opened here at all); the
// object is the global `obj`, decoded from its JSON form; one second to finish; the script returns
// a table whose status must be one of Argo CD's health codes, else the result is Unknown.
//
// Input on stdin: {"cases": [{"script": "...", "object": {...}}, ...]}.
// Output on stdout: {"results": [{"status": "...", "message": "..."} or {"error": "..."}, ...]}.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"
)

type input struct {
	Cases []struct {
		Script string         `json:"script"`
		Object map[string]any `json:"object"`
	} `json:"cases"`
}

type result struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Argo CD's health codes (gitops-engine pkg/health); anything else becomes Unknown.
var validStatus = map[string]bool{"Unknown": true, "Progressing": true, "Suspended": true, "Healthy": true, "Degraded": true, "Missing": true}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintf(os.Stderr, "health-lua: reading cases: %v\n", err)
		os.Exit(2)
	}
	results := make([]result, 0, len(in.Cases))
	for _, c := range in.Cases {
		results = append(results, run(c.Script, c.Object))
	}
	if err := json.NewEncoder(os.Stdout).Encode(map[string]any{"results": results}); err != nil {
		fmt.Fprintf(os.Stderr, "health-lua: %v\n", err)
		os.Exit(2)
	}
}

func run(script string, obj map[string]any) result {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return result{Error: fmt.Sprintf("opening %s: %v", lib.name, err)}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", decode(l, obj))
	if err := l.DoString(script); err != nil {
		return result{Error: err.Error()}
	}
	returned, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return result{Error: fmt.Sprintf("expect table output from Lua script, not %s", l.Get(-1).Type().String())}
	}
	status, message := returned.RawGetString("status"), returned.RawGetString("message")
	if status.Type() != lua.LTString || !validStatus[status.String()] {
		return result{Status: "Unknown", Message: "Lua returned an invalid health status"}
	}
	if message.Type() != lua.LTNil && message.Type() != lua.LTString {
		return result{Error: fmt.Sprintf("message is a %s, not a string", message.Type().String())}
	}
	r := result{Status: status.String()}
	if message.Type() == lua.LTString {
		r.Message = message.String()
	}
	return r
}

// decode turns a JSON value into a Lua value as Argo CD's decodeValue does.
func decode(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []any:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(decode(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), decode(l, item))
		}
		return tbl
	}
	return lua.LNil
}
