package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's map of the code is how a newcomer finds their way: it names
// every Go package of the tree and nothing that is gone.
func TestReadmeMapMatchesTheTree(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "## Map of the code")
	if !ok {
		t.Fatal("README.md has no '## Map of the code' section")
	}
	block, _, _ := strings.Cut(rest, "\n## ")

	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "bin") {
			return filepath.SkipDir
		}
		goFiles, _ := filepath.Glob(filepath.Join(path, "*.go"))
		if len(goFiles) == 0 || path == "." || strings.Contains(path, string(filepath.Separator)+"cmd") {
			return nil
		}
		if !strings.Contains(block, name) {
			t.Errorf("the README's map does not name package %s", filepath.ToSlash(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Every path the map names exists.
	for _, m := range regexp.MustCompile(`(?m)^([a-z][a-z./_]*[a-z/])\s`).FindAllStringSubmatch(block, -1) {
		p := strings.TrimSuffix(m[1], "/")
		if _, err := os.Stat(p); err != nil {
			t.Errorf("the README's map names %s, which is not in the tree", m[1])
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z_]+\.go)`).FindAllStringSubmatch(block, -1) {
		if _, err := os.Stat(filepath.Join("workflows", m[1])); err != nil {
			t.Errorf("the README's map names workflows/%s, which is not in the tree", m[1])
		}
	}
}
