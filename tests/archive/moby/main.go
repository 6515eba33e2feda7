// moby-archive: moby 20.10's own pkg/archive (Debian's golang-github-docker-docker-dev), as
// an independent reference for tests/archive/test-moby.sh.
//   moby-archive changes NEW OLD   "C /path" lines, sorted (ChangesDirs)
//   moby-archive size NEW OLD      ChangesSize
//   moby-archive export NEW OLD    ExportChanges tar on stdout
//   moby-archive apply DIR         ApplyUncompressedLayer from stdin, prints the size
package main

import (
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/docker/docker/pkg/archive"
)

func changes(newDir, oldDir string) []archive.Change {
	c, err := archive.ChangesDirs(newDir, oldDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sort.Slice(c, func(i, j int) bool { return c[i].Path < c[j].Path })
	return c
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: moby-archive changes|size|export|apply DIR [OLD]")
		os.Exit(2)
	}
	old := ""
	if len(os.Args) > 3 {
		old = os.Args[3]
	}
	switch os.Args[1] {
	case "changes":
		for _, c := range changes(os.Args[2], old) {
			fmt.Printf("%s %s\n", c.Kind, c.Path)
		}
	case "size":
		fmt.Println(archive.ChangesSize(os.Args[2], changes(os.Args[2], old)))
	case "export":
		r, err := archive.ExportChanges(os.Args[2], changes(os.Args[2], old), nil, nil)
		if err == nil {
			_, err = io.Copy(os.Stdout, r)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "apply":
		size, err := archive.ApplyUncompressedLayer(os.Args[2], os.Stdin, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(size)
	}
}
