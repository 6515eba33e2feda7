// Package v2 is a stand-in for moby's plugin/v2 (managed plugins), which Debian's
// golang-github-docker-docker-dev does not ship although daemon/graphdriver/plugin.go imports
// it to read a managed plugin's PropagatedMount.  graphtest only reaches v1 (legacy) plugins,
// so this type is never instantiated; it only has to satisfy plugingetter.CompatPlugin.
package v2 // import "github.com/docker/docker/plugin/v2"

import (
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/pkg/plugins"
)

// Plugin is a managed (v2) plugin.
type Plugin struct {
	PluginObj types.Plugin
}

// Name is the plugin's name.
func (p *Plugin) Name() string { return p.PluginObj.Name }

// ScopedPath is path inside the plugin's rootfs.
func (p *Plugin) ScopedPath(s string) string { return s }

// IsV1 is false: this is a managed plugin.
func (p *Plugin) IsV1() bool { return false }

// Client is nil: managed plugins are not supported by this stand-in.
func (p *Plugin) Client() *plugins.Client { return nil }
