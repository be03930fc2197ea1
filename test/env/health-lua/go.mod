// The Lua VM Argo CD runs health scripts in (see main.go), built by test/env/health-lua.ts.
module tend.dev/health-lua

go 1.26.0

require github.com/yuin/gopher-lua v1.1.1
