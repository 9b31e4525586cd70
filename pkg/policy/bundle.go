// Package policy evaluates Switchyard's routing and authorization policy:
// Rego modules and data documents, compiled and tested together, prepared
// once and swapped atomically on reload, so a request never sees half a
// policy and a policy that fails to compile or to pass its own tests never
// replaces a working one.
package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Bundle is a set of policy files: Rego modules (tests included) and data
// documents (JSON or YAML objects merged into OPA's data).
type Bundle struct {
	Files map[string][]byte // relative path -> content
}

// MaxBundleBytes bounds a bundle (an upload or a directory).
const MaxBundleBytes = 8 << 20

// LoadDir reads every *.rego, *.json, *.yaml and *.yml file under dir.
func LoadDir(dir string) (*Bundle, error) {
	b := &Bundle{Files: map[string][]byte{}}
	total := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !isPolicyFile(path) {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		total += len(data)
		if total > MaxBundleBytes {
			return fmt.Errorf("policy files under %s exceed %d bytes", dir, MaxBundleBytes)
		}
		rel, _ := filepath.Rel(dir, path)
		b.Files[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading policies: %w", err)
	}
	if len(b.Files) == 0 {
		return nil, fmt.Errorf("no policy files (*.rego, *.json, *.yaml) under %s", dir)
	}
	return b, nil
}

func isPolicyFile(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".rego", ".json", ".yaml", ".yml":
		return true
	}
	return false
}

// Names lists the files in order.
func (b *Bundle) Names() []string {
	names := make([]string, 0, len(b.Files))
	for n := range b.Files {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Version is a hash of the bundle's content.
func (b *Bundle) Version() string {
	h := sha256.New()
	for _, n := range b.Names() {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b.Files[n]))
		h.Write(b.Files[n])
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// data merges the bundle's data documents into one object.
func (b *Bundle) data() (map[string]any, error) {
	out := map[string]any{}
	for _, n := range b.Names() {
		ext := strings.ToLower(filepath.Ext(n))
		if ext == ".rego" {
			continue
		}
		var doc any
		var err error
		if ext == ".json" {
			err = json.Unmarshal(b.Files[n], &doc)
		} else {
			err = yaml.Unmarshal(b.Files[n], &doc)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		obj, ok := normalise(doc).(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: a data document must be an object", n)
		}
		if err := merge(out, obj, n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// normalise turns YAML's map[string]any trees (and JSON's) into plain
// map[string]any / []any values OPA accepts.
func normalise(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalise(e)
		}
		return x
	case map[any]any:
		m := map[string]any{}
		for k, e := range x {
			m[fmt.Sprint(k)] = normalise(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = normalise(e)
		}
		return x
	}
	return v
}

func merge(dst, src map[string]any, file string) error {
	for k, v := range src {
		old, ok := dst[k]
		if !ok {
			dst[k] = v
			continue
		}
		om, ok1 := old.(map[string]any)
		nm, ok2 := v.(map[string]any)
		if !ok1 || !ok2 {
			return fmt.Errorf("%s: key %q is also defined by another data file", file, k)
		}
		if err := merge(om, nm, file); err != nil {
			return err
		}
	}
	return nil
}
