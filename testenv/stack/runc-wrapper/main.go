// Command runc-wrapper stands in front of the real runc on machines whose capability bounding set
// lacks CAP_SYS_RESOURCE (these test machines): it removes that capability and oomScoreAdj from the
// OCI spec a container is created or exec'd with, then runs the real runc with the same arguments.
// Test stack only (testenv/), never part of the product.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

const dropped = "CAP_SYS_RESOURCE"

// realRunc is next to this binary, named runc.real, unless RUNC_WRAPPER_REAL says otherwise.
func realRunc() string {
	if p := os.Getenv("RUNC_WRAPPER_REAL"); p != "" {
		return p
	}
	self, err := os.Executable()
	if err != nil {
		return "/usr/sbin/runc"
	}
	return filepath.Join(filepath.Dir(self), "runc.real")
}

// specFile is the OCI document runc will read: the bundle's config.json on create/run, the
// --process file on exec.
func specFile(args []string) (path string, isProcess bool) {
	command, bundle := "", "."
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch {
		case command == "" && (a == "create" || a == "run" || a == "exec"):
			command = a
		case a == "--bundle" || a == "-b":
			bundle = next()
		case len(a) > 9 && a[:9] == "--bundle=":
			bundle = a[9:]
		case a == "--process" || a == "-p":
			path = next()
		case len(a) > 10 && a[:10] == "--process=":
			path = a[10:]
		}
	}
	switch command {
	case "create", "run":
		return filepath.Join(bundle, "config.json"), false
	case "exec":
		return path, true
	}
	return "", false
}

func withoutCap(list []any) []any {
	out := list[:0]
	for _, c := range list {
		if c != dropped {
			out = append(out, c)
		}
	}
	return out
}

func fixProcess(process map[string]any) {
	delete(process, "oomScoreAdj")
	if caps, ok := process["capabilities"].(map[string]any); ok {
		for k, v := range caps {
			if list, ok := v.([]any); ok {
				caps[k] = withoutCap(list)
			}
		}
	}
}

func rewrite(path string, isProcess bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return err
	}
	if isProcess {
		fixProcess(doc)
	} else if process, ok := doc["process"].(map[string]any); ok {
		fixProcess(process)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o600)
}

func main() {
	if path, isProcess := specFile(os.Args[1:]); path != "" {
		if err := rewrite(path, isProcess); err != nil {
			fmt.Fprintf(os.Stderr, "runc-wrapper: %s: %v\n", path, err)
			os.Exit(1)
		}
	}
	real := realRunc()
	if err := syscall.Exec(real, append([]string{real}, os.Args[1:]...), os.Environ()); err != nil {
		fmt.Fprintf(os.Stderr, "runc-wrapper: exec %s: %v\n", real, err)
		os.Exit(1)
	}
}
