// gdbench: graph driver layer creation timed through the drivers' own Go code (moby 20.10's
// vfs and overlay2 from Debian's golang-github-docker-docker-dev, dockerd-free) and through
// the plugin HTTP API for buse, so all three are measured the same way:
//
//	gdbench snapshot DRIVER HOME MIB RUNS
//
// DRIVER is vfs, overlay2 (data root HOME, the driver uses HOME/DRIVER) or unix:SOCKET (a
// graphdriver plugin, Init with Home HOME and the options in $GDBENCH_OPTS, comma-separated).  A
// parent layer gets a MIB MiB file written through Get (then Put: not mounted), and then
// RUNS times a child of it is created (timed: Create only) and removed (untimed).  Prints one
// "create_ms X" line per run.  Debian's moby source lacks quota and plugin/v2: stub/ has
// two tiny stand-ins (no project quota on this kernel; no managed plugins used).
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/daemon/graphdriver"
	_ "github.com/docker/docker/daemon/graphdriver/overlay2"
	_ "github.com/docker/docker/daemon/graphdriver/vfs"
)

// layerDriver is the part of a graph driver the benchmark uses.
type layerDriver interface {
	Create(id, parent string) error
	Remove(id string) error
	Get(id string) (string, error)
	Put(id string) error
}

type builtin struct{ d graphdriver.Driver }

func (b builtin) Create(id, parent string) error { return b.d.Create(id, parent, nil) }
func (b builtin) Remove(id string) error         { return b.d.Remove(id) }
func (b builtin) Put(id string) error            { return b.d.Put(id) }
func (b builtin) Get(id string) (string, error) {
	fs, err := b.d.Get(id, "")
	if err != nil {
		return "", err
	}
	return fs.Path(), nil
}

// plugin speaks the graphdriver plugin protocol, as dockerd's plugin client does (one
// keep-alive HTTP connection over the unix socket).
type plugin struct{ c *http.Client }

func newPlugin(sock, home string) (*plugin, error) {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}
	p := &plugin{&http.Client{Transport: tr}}
	opts := []string{}
	if o := os.Getenv("GDBENCH_OPTS"); o != "" {
		opts = strings.Split(o, ",")
	}
	_, err := p.call("Init", map[string]interface{}{"Home": home, "Opts": opts,
		"UIDMaps": nil, "GIDMaps": nil})
	return p, err
}

func (p *plugin) call(method string, req interface{}) (map[string]interface{}, error) {
	body, _ := json.Marshal(req)
	r, err := http.NewRequest("POST", "http://plugin/GraphDriver."+method, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Accept", "application/vnd.docker.plugins.v1.2+json")
	resp, err := p.c.Do(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]interface{}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s: %s", method, data)
	}
	if e, ok := out["Err"].(string); ok && e != "" {
		return nil, fmt.Errorf("%s: %s", method, e)
	}
	return out, nil
}

func (p *plugin) Create(id, parent string) error {
	_, err := p.call("Create", map[string]interface{}{"ID": id, "Parent": parent,
		"MountLabel": "", "StorageOpt": nil})
	return err
}
func (p *plugin) Remove(id string) error {
	_, err := p.call("Remove", map[string]string{"ID": id})
	return err
}
func (p *plugin) Put(id string) error {
	_, err := p.call("Put", map[string]string{"ID": id})
	return err
}
func (p *plugin) Get(id string) (string, error) {
	out, err := p.call("Get", map[string]string{"ID": id, "MountLabel": ""})
	if err != nil {
		return "", err
	}
	dir, _ := out["Dir"].(string)
	return dir, nil
}

func open(driver, home string) (layerDriver, error) {
	if strings.HasPrefix(driver, "unix:") {
		return newPlugin(strings.TrimPrefix(driver, "unix:"), home)
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	d, err := graphdriver.GetDriver(driver, nil, graphdriver.Options{Root: home})
	if err != nil {
		return nil, err
	}
	return builtin{d}, nil
}

// fill writes mib MiB of random-looking data (one random MiB repeated with a counter).
func fill(path string, mib int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	if _, err := rand.Read(buf); err != nil {
		return err
	}
	for i := 0; i < mib; i++ {
		copy(buf, strconv.Itoa(i))
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func snapshot(d layerDriver, mib, runs int) error {
	if err := d.Create("parent", ""); err != nil {
		return err
	}
	dir, err := d.Get("parent")
	if err != nil {
		return err
	}
	if err := fill(filepath.Join(dir, "big"), mib); err != nil {
		return err
	}
	if err := d.Put("parent"); err != nil {
		return err
	}
	for i := 0; i < runs; i++ {
		id := fmt.Sprintf("child%d", i)
		t := time.Now()
		if err := d.Create(id, "parent"); err != nil {
			return err
		}
		fmt.Printf("create_ms %.3f\n", float64(time.Since(t).Microseconds())/1000)
		if err := d.Remove(id); err != nil {
			return err
		}
	}
	return d.Remove("parent")
}

func main() {
	if len(os.Args) != 6 || os.Args[1] != "snapshot" {
		fmt.Fprintln(os.Stderr, "usage: gdbench snapshot vfs|overlay2|unix:SOCKET HOME MIB RUNS")
		os.Exit(2)
	}
	mib, _ := strconv.Atoi(os.Args[4])
	runs, _ := strconv.Atoi(os.Args[5])
	d, err := open(os.Args[2], os.Args[3])
	if err == nil {
		err = snapshot(d, mib, runs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gdbench:", err)
		os.Exit(1)
	}
}
