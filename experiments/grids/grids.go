// Package grids holds the embedded experiment grids (one YAML file per
// grid, see config.Grid for the format) and loads a grid by name or path.
package grids

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/oodlab/dos/experiments/config"
)

// files are the embedded grids, <name>.yaml.
//
//go:embed *.yaml
var files embed.FS

// Names lists the embedded grids, sorted.
func Names() []string {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Read returns the YAML of a grid given by embedded name or by file path,
// and the name to use for it in messages (grids/<name>.yaml for an embedded
// grid).
func Read(nameOrPath string) (file string, data []byte, err error) {
	if data, err := files.ReadFile(nameOrPath + ".yaml"); err == nil {
		return "grids/" + nameOrPath + ".yaml", data, nil
	}
	data, err = os.ReadFile(nameOrPath)
	if err == nil {
		return nameOrPath, data, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, fmt.Errorf("grid %q: neither an embedded grid (%s) nor a file", nameOrPath, strings.Join(Names(), ", "))
	}
	return "", nil, fmt.Errorf("grid %q: %w", nameOrPath, err)
}

// Load reads and parses a grid by embedded name or file path.
func Load(nameOrPath string) (*config.Grid, error) {
	file, data, err := Read(nameOrPath)
	if err != nil {
		return nil, err
	}
	return config.ParseGrid(file, data)
}
